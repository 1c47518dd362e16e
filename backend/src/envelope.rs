//! The session the browser holds between `/auth/start` and `/auth/verify`: Cognito's
//! session with what the service must remember (the address, attempts left, expiry), sealed
//! with AES-256-GCM under the service's session key. Every replica holds the same key, so a
//! verify may land on any of them; a previous key still opens what it sealed, so the key can
//! be rotated without failing the sign-ins in progress.
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

/// A session key's length: AES-256.
pub const KEY_BYTES: usize = 32;

/// The key sessions are sealed with, and the one before it, still accepted for opening.
#[derive(Clone)]
pub struct SessionKeys {
    pub current: [u8; KEY_BYTES],
    pub previous: Option<[u8; KEY_BYTES]>,
}

/// Why a key file cannot be used. Never holds the key itself.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the session key file {path}: {error}; {HOW_TO_MAKE_A_KEY}")]
    Unreadable { path: String, error: std::io::Error },
    #[error(
        "the session key file {path} does not hold base64 text (a key is {KEY_BYTES} random bytes, base64-encoded); {HOW_TO_MAKE_A_KEY}"
    )]
    NotBase64 { path: String },
    #[error(
        "the session key in {path} is {found} bytes long; it must be {KEY_BYTES} random bytes; {HOW_TO_MAKE_A_KEY}"
    )]
    WrongLength { path: String, found: usize },
}

const HOW_TO_MAKE_A_KEY: &str = "make one with `emailcode-serve generate-key > session.key` (readable by the service only) and give every replica the same file";

impl SessionKeys {
    /// A fresh random key and no previous one: sessions do not survive a restart, which costs
    /// a person at most one new code. For one process on a developer's machine.
    pub fn random() -> Result<Self, &'static str> {
        Ok(Self {
            current: random_key()?,
            previous: None,
        })
    }

    /// A key as [`generate_key`] writes it: base64 (standard or URL-safe, padded or not) of
    /// [`KEY_BYTES`] bytes, with surrounding whitespace ignored.
    pub fn read_key(path: &std::path::Path) -> Result<[u8; KEY_BYTES], KeyFileError> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| KeyFileError::Unreadable {
            path: shown.clone(),
            error,
        })?;
        let text = text.trim();
        let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .into_iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| KeyFileError::NotBase64 {
                path: shown.clone(),
            })?;
        <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| KeyFileError::WrongLength {
            path: shown,
            found: bytes.len(),
        })
    }
}

fn random_key() -> Result<[u8; KEY_BYTES], &'static str> {
    let mut key = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| "the operating system's random source failed")?;
    Ok(key)
}

/// A new random session key as the text a key file holds.
pub fn generate_key() -> Result<String, &'static str> {
    Ok(URL_SAFE_NO_PAD.encode(random_key()?))
}

/// Seals and opens [`SignInState`]s.
pub struct Sealer {
    key: LessSafeKey,
    previous: Option<LessSafeKey>,
    random: SystemRandom,
}

fn aead_key(bytes: &[u8; KEY_BYTES]) -> Result<LessSafeKey, &'static str> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| "AES-256-GCM is unavailable")
}

impl Sealer {
    pub fn new(keys: &SessionKeys) -> Result<Self, &'static str> {
        let random = SystemRandom::new();
        let mut probe = [0u8; 1];
        random
            .fill(&mut probe)
            .map_err(|_| "the operating system's random source failed")?;
        Ok(Self {
            key: aead_key(&keys.current)?,
            previous: keys.previous.as_ref().map(aead_key).transpose()?,
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

    /// The state, or `None` for anything not sealed unaltered under the current or the
    /// previous key.
    pub fn open(&self, token: &str) -> Option<SignInState> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        std::iter::once(&self.key)
            .chain(&self.previous)
            .find_map(|key| {
                let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
                let mut sealed = sealed.to_vec();
                let opened = key.open_in_place(nonce, Aad::empty(), &mut sealed).ok()?;
                serde_json::from_slice(opened).ok()
            })
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

    fn sealer() -> Sealer {
        Sealer::new(&SessionKeys::random().unwrap()).unwrap()
    }

    #[test]
    fn a_sealed_state_opens_to_itself_and_hides_its_contents() {
        let sealer = sealer();
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
        let sealer = sealer();
        let token = sealer.seal(&state());
        let mut altered = token.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(sealer.open(std::str::from_utf8(&altered).unwrap()), None);
        assert_eq!(self::sealer().open(&token), None);
        assert_eq!(sealer.open("not a token"), None);
        assert_eq!(sealer.open(""), None);
    }

    #[test]
    fn a_stand_in_seals_to_the_same_length_as_a_real_session() {
        let sealer = sealer();
        let real = state();
        let stand_in = SignInState {
            cognito: sealer.random_text(real.cognito.len()),
            stand_in: true,
            ..real.clone()
        };
        assert_eq!(sealer.seal(&real).len(), sealer.seal(&stand_in).len());
    }

    #[test]
    fn replicas_with_one_key_open_each_others_sessions_and_a_rotated_key_still_opens_old_ones() {
        let old = SessionKeys::random().unwrap();
        let new = SessionKeys::random().unwrap().current;
        let token = Sealer::new(&old).unwrap().seal(&state());
        assert_eq!(Sealer::new(&old).unwrap().open(&token), Some(state()));
        let rotated = Sealer::new(&SessionKeys {
            current: new,
            previous: Some(old.current),
        })
        .unwrap();
        assert_eq!(rotated.open(&token), Some(state()));
        let only_new = SessionKeys {
            current: new,
            previous: None,
        };
        assert_eq!(Sealer::new(&only_new).unwrap().open(&token), None);
        // What the rotated service seals, the old one cannot open: it seals with the new key.
        let sealed_new = rotated.seal(&state());
        assert_eq!(Sealer::new(&old).unwrap().open(&sealed_new), None);
        assert_eq!(
            Sealer::new(&only_new).unwrap().open(&sealed_new),
            Some(state())
        );
    }

    #[test]
    fn a_key_file_holds_32_bytes_of_base64_and_errors_never_show_it() {
        let dir = std::env::temp_dir().join(format!("keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let generated = generate_key().unwrap();
        let key = SessionKeys::read_key(&file("good", &format!("{generated}\n"))).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(key), generated);
        let short = URL_SAFE_NO_PAD.encode([7u8; 16]);
        let error = SessionKeys::read_key(&file("short", &short))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("16 bytes") && error.contains("generate-key"),
            "{error}"
        );
        assert!(!error.contains(&short), "{error}");
        let error = SessionKeys::read_key(&file("text", "hunter2 is my key!"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("base64") && !error.contains("hunter2"),
            "{error}"
        );
        let error = SessionKeys::read_key(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("missing") && error.contains("generate-key"),
            "{error}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
