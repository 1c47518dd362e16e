//! The session the browser holds between `/auth/start` and `/auth/verify`: Cognito's
//! session with what the service must remember (the address, attempts left, expiry), sealed
//! with AES-256-GCM under a key that lives only in this process.
//!
//! Sealing keeps the state tamper-proof without a store, and hides whether a session is a
//! real Cognito one or the stand-in the service makes when Cognito names an unknown user:
//! both are the same kind of opaque token.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// What a sign-in session carries from one request to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInState {
    /// Cognito's session; random text of the same length for a stand-in.
    pub cognito: String,
    /// True for a stand-in: Cognito said the user does not exist. Sealed as 0 or 1, so
    /// both kinds seal to the same length.
    #[serde(with = "digit")]
    pub stand_in: bool,
    /// The address as typed at start, lower-cased: a session answers for that address only.
    pub email: String,
    pub attempts_left: u8,
    /// Unix seconds after which the code no longer works.
    pub expires_at: u64,
}

mod digit {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(u8::from(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        Ok(u8::deserialize(deserializer)? == 1)
    }
}

/// Seals and opens [`SignInState`]s.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl Sealer {
    /// A sealer with a fresh random key: sessions do not survive a restart, which costs a
    /// person at most one new code (sign-in sessions last minutes).
    pub fn new() -> Result<Self, &'static str> {
        let random = SystemRandom::new();
        let mut key = [0u8; 32];
        random
            .fill(&mut key)
            .map_err(|_| "the operating system's random source failed")?;
        let key = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| "AES-256-GCM is unavailable")?;
        Ok(Self {
            key: LessSafeKey::new(key),
            random,
        })
    }

    pub fn seal(&self, state: &SignInState) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .expect("the random source worked at start-up");
        let mut sealed = serde_json::to_vec(state).expect("the state is plain data");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .expect("a sealed session is far below AES-GCM's limits");
        let mut token = nonce.to_vec();
        token.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The state, or `None` for anything this process did not seal unaltered.
    pub fn open(&self, token: &str) -> Option<SignInState> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let opened = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut sealed)
            .ok()?;
        serde_json::from_slice(opened).ok()
    }

    /// Random text for a stand-in session, as long as a real one so length tells nothing.
    pub fn random_text(&self, length: usize) -> String {
        let mut bytes = vec![0u8; length.div_ceil(4) * 3];
        self.random
            .fill(&mut bytes)
            .expect("the random source worked at start-up");
        let mut text = URL_SAFE_NO_PAD.encode(bytes);
        text.truncate(length);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SignInState {
        SignInState {
            cognito: "AYABeC...".to_owned(),
            stand_in: false,
            email: "a@b.example".to_owned(),
            attempts_left: 3,
            expires_at: 1_800_000_000,
        }
    }

    #[test]
    fn a_sealed_state_opens_to_itself_and_hides_its_contents() {
        let sealer = Sealer::new().unwrap();
        let token = sealer.seal(&state());
        assert_eq!(sealer.open(&token), Some(state()));
        assert!(!token.contains("a@b") && !token.contains("stand_in"));
        assert_ne!(
            token,
            sealer.seal(&state()),
            "each seal takes a fresh nonce"
        );
    }

    #[test]
    fn altered_or_foreign_tokens_do_not_open() {
        let sealer = Sealer::new().unwrap();
        let token = sealer.seal(&state());
        let mut altered = token.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(sealer.open(std::str::from_utf8(&altered).unwrap()), None);
        assert_eq!(Sealer::new().unwrap().open(&token), None);
        assert_eq!(sealer.open("not a token"), None);
        assert_eq!(sealer.open(""), None);
    }

    #[test]
    fn a_stand_in_seals_to_the_same_length_as_a_real_session() {
        let sealer = Sealer::new().unwrap();
        let real = state();
        let stand_in = SignInState {
            cognito: sealer.random_text(real.cognito.len()),
            stand_in: true,
            ..real.clone()
        };
        assert_eq!(sealer.seal(&real).len(), sealer.seal(&stand_in).len());
    }
}
