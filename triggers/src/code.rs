//! One-time codes: generation from the operating system's CSPRNG, salted hashing, and
//! constant-time comparison.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const SALT_LEN: usize = 16;
pub const HASH_LEN: usize = 32;

/// A freshly generated code. Its `Debug` hides the digits so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OneTimeCode(<{} digits>)", self.0.len())
    }
}

impl OneTimeCode {
    /// Draws `length` decimal digits from the operating system's CSPRNG.
    pub fn generate(length: u8) -> Result<Self, getrandom::Error> {
        let mut digits = String::with_capacity(length.into());
        let mut pool = [0u8; 32];
        while digits.len() < usize::from(length) {
            getrandom::fill(&mut pool)?;
            push_unbiased_digits(&pool, &mut digits, length.into());
        }
        Ok(Self(digits))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }

    /// Wraps digits generated elsewhere (tests, fixtures).
    pub fn from_digits(digits: &str) -> Option<Self> {
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(digits.to_owned()))
    }
}

/// Turns random bytes into digits by rejection sampling: a byte of 250 or more is dropped,
/// so each of the 250 accepted values maps onto each digit exactly 25 times.
fn push_unbiased_digits(bytes: &[u8], digits: &mut String, length: usize) {
    const ACCEPTED_BELOW: u8 = 250;
    for &byte in bytes {
        if digits.len() == length {
            return;
        }
        if byte < ACCEPTED_BELOW {
            digits.push(char::from(b'0' + byte % 10));
        }
    }
}

/// What the session keeps of a code: a random salt and SHA-256(salt || code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeDigest {
    pub salt: [u8; SALT_LEN],
    pub hash: [u8; HASH_LEN],
}

impl CodeDigest {
    pub fn new(code: &OneTimeCode, salt: [u8; SALT_LEN]) -> Self {
        Self {
            salt,
            hash: salted_hash(&salt, code.digits()),
        }
    }

    /// Whether `candidate` hashes to this digest, compared in constant time.
    pub fn matches(&self, candidate: &str) -> bool {
        same_digest(&salted_hash(&self.salt, candidate), &self.hash)
    }
}

/// Compares two digests with no early exit: how many leading bytes of a guess's hash match
/// must not show in the time the answer takes.
fn same_digest(a: &[u8; HASH_LEN], b: &[u8; HASH_LEN]) -> bool {
    #[cfg(test)]
    tests::CONSTANT_TIME_COMPARISONS.with(|count| count.set(count.get() + 1));
    a.ct_eq(b).into()
}

pub fn random_salt() -> Result<[u8; SALT_LEN], getrandom::Error> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt)?;
    Ok(salt)
}

fn salted_hash(salt: &[u8], code: &str) -> [u8; HASH_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(code.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// How often this thread compared digests through [`same_digest`].
        pub(super) static CONSTANT_TIME_COMPARISONS: std::cell::Cell<usize> =
            const { std::cell::Cell::new(0) };
    }

    #[test]
    fn every_answer_is_compared_through_the_constant_time_comparison() {
        let digest = CodeDigest::new(&OneTimeCode::from_digits("731904").unwrap(), [7; SALT_LEN]);
        let before = CONSTANT_TIME_COMPARISONS.with(std::cell::Cell::get);
        assert!(digest.matches("731904"));
        assert!(!digest.matches("731905"));
        assert!(!digest.matches("000000"));
        let after = CONSTANT_TIME_COMPARISONS.with(std::cell::Cell::get);
        assert_eq!(after - before, 3, "an answer was compared another way");
    }

    #[test]
    fn bytes_from_250_up_are_rejected_and_the_rest_map_to_their_last_digit() {
        let mut digits = String::new();
        push_unbiased_digits(&[250, 255, 0, 9, 249, 123, 251], &mut digits, 10);
        assert_eq!(digits, "0993");
    }

    #[test]
    fn sampling_stops_at_the_requested_length() {
        let mut digits = String::new();
        push_unbiased_digits(&[1, 2, 3, 4, 5], &mut digits, 3);
        assert_eq!(digits, "123");
    }

    #[test]
    fn generated_codes_have_the_requested_length_and_only_ascii_digits() {
        for length in 6..=10 {
            let code = OneTimeCode::generate(length).unwrap();
            assert_eq!(code.digits().len(), usize::from(length));
            assert!(code.digits().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn debug_output_never_shows_the_digits() {
        let code = OneTimeCode::from_digits("123456").unwrap();
        assert_eq!(format!("{code:?}"), "OneTimeCode(<6 digits>)");
    }

    #[test]
    fn digest_matches_only_the_same_code() {
        let digest = CodeDigest::new(&OneTimeCode::from_digits("042817").unwrap(), [7; SALT_LEN]);
        assert!(digest.matches("042817"));
        assert!(!digest.matches("042818"));
        assert!(!digest.matches("42817"));
        let other_salt =
            CodeDigest::new(&OneTimeCode::from_digits("042817").unwrap(), [8; SALT_LEN]);
        assert_ne!(digest.hash, other_salt.hash);
    }
}
