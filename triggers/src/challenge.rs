//! The state one challenge round hands to the next: the code's salted hash and the time
//! it was issued. It travels in two places Cognito never shows the client:
//! `challengeMetadata` (read by the next CreateAuthChallenge round, which must reuse the
//! code) and `privateChallengeParameters` (read by VerifyAuthChallengeResponse).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;

use crate::code::{CodeDigest, HASH_LEN, SALT_LEN};

/// Marks a session round as ours; DefineAuthChallenge fails any session holding other rounds.
pub const METADATA_PREFIX: &str = "EMAIL_CODE:v1:";

const ISSUED_AT: &str = "issued_at";
const SALT: &str = "salt";
const HASH: &str = "hash";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeState {
    /// Seconds since the Unix epoch.
    pub issued_at: u64,
    pub digest: CodeDigest,
}

impl ChallengeState {
    /// `EMAIL_CODE:v1:<issued_at>:<salt>:<hash>`, salt and hash in unpadded base64.
    pub fn to_metadata(&self) -> String {
        format!(
            "{METADATA_PREFIX}{}:{}:{}",
            self.issued_at,
            B64.encode(self.digest.salt),
            B64.encode(self.digest.hash)
        )
    }

    pub fn from_metadata(metadata: &str) -> Option<Self> {
        let mut parts = metadata.strip_prefix(METADATA_PREFIX)?.split(':');
        let state = Self::from_parts(parts.next()?, parts.next()?, parts.next()?)?;
        parts.next().is_none().then_some(state)
    }

    pub fn to_private_parameters(&self) -> HashMap<String, String> {
        HashMap::from([
            (ISSUED_AT.to_owned(), self.issued_at.to_string()),
            (SALT.to_owned(), B64.encode(self.digest.salt)),
            (HASH.to_owned(), B64.encode(self.digest.hash)),
        ])
    }

    pub fn from_private_parameters(parameters: &HashMap<String, String>) -> Option<Self> {
        Self::from_parts(
            parameters.get(ISSUED_AT)?,
            parameters.get(SALT)?,
            parameters.get(HASH)?,
        )
    }

    fn from_parts(issued_at: &str, salt: &str, hash: &str) -> Option<Self> {
        Some(Self {
            issued_at: issued_at.parse().ok()?,
            digest: CodeDigest {
                salt: decode_exact::<SALT_LEN>(salt)?,
                hash: decode_exact::<HASH_LEN>(hash)?,
            },
        })
    }

    pub fn expires_at(&self, ttl_seconds: u64) -> u64 {
        self.issued_at.saturating_add(ttl_seconds)
    }
}

fn decode_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    B64.decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ChallengeState {
        ChallengeState {
            issued_at: 1_764_000_000,
            digest: CodeDigest {
                salt: [3; SALT_LEN],
                hash: [9; HASH_LEN],
            },
        }
    }

    #[test]
    fn metadata_round_trips() {
        let metadata = state().to_metadata();
        assert!(metadata.starts_with(METADATA_PREFIX));
        assert_eq!(ChallengeState::from_metadata(&metadata), Some(state()));
    }

    #[test]
    fn private_parameters_round_trip_and_are_non_empty_strings() {
        let parameters = state().to_private_parameters();
        assert!(parameters.values().all(|v| !v.is_empty()));
        assert_eq!(
            ChallengeState::from_private_parameters(&parameters),
            Some(state())
        );
    }

    #[test]
    fn foreign_or_truncated_metadata_is_not_ours() {
        assert_eq!(ChallengeState::from_metadata("MAGIC_LINK"), None);
        let metadata = state().to_metadata();
        assert_eq!(
            ChallengeState::from_metadata(&metadata[..metadata.len() - 4]),
            None
        );
        assert_eq!(
            ChallengeState::from_metadata(&format!("{metadata}:extra")),
            None
        );
    }
}
