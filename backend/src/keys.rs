//! The pool's signing keys, fetched once and kept. A token naming a key id the cache lacks
//! (Cognito rotated its keys) fetches them again, at most once per [`REFETCH_AFTER`], so a
//! flood of forged key ids cannot turn into a flood of fetches; and a failed fetch is not
//! tried again for [`RETRY_FAILED_AFTER`], so neither can a flood of them, or of `/readyz`,
//! while the keys' endpoint is down.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use provisioner::login::{TokenProblem, check_id_token, fetch_jwks};
use tokio::sync::RwLock;

use crate::Pool;

pub const REFETCH_AFTER: Duration = Duration::from_secs(30);
pub const RETRY_FAILED_AFTER: Duration = Duration::from_secs(5);

pub struct KeyCache {
    jwks_uri: String,
    keys: RwLock<Fetched>,
}

#[derive(Default)]
struct Fetched {
    keys: Option<(JwkSet, Instant)>,
    failed: Option<(String, Instant)>,
}

/// Why a token was refused; only for the log, never for the client.
#[derive(Debug)]
pub enum Refusal {
    Token(TokenProblem),
    KeysUnavailable(String),
}

impl KeyCache {
    pub fn new(jwks_uri: String) -> Self {
        Self {
            jwks_uri,
            keys: RwLock::new(Fetched::default()),
        }
    }

    /// The ID token's claims, after checking it against the pool's keys.
    pub async fn claims(&self, pool: &Pool, token: &str) -> Result<serde_json::Value, Refusal> {
        if let Some((keys, _)) = &self.keys.read().await.keys {
            match check_id_token(keys, &pool.issuer, &pool.app_client_id, token) {
                Err(TokenProblem::UnknownKey(_)) => {}
                checked => return checked.map_err(Refusal::Token),
            }
        }
        let keys = self.refetch().await.map_err(Refusal::KeysUnavailable)?;
        check_id_token(&keys, &pool.issuer, &pool.app_client_id, token).map_err(Refusal::Token)
    }

    /// Whether the keys can be had: fetched within [`REFETCH_AFTER`], or fetched now. What
    /// `/readyz` answers, since without them no sign-in can be checked.
    pub async fn reachable(&self) -> Result<(), String> {
        self.refetch().await.map(|_| ())
    }

    /// Fetches the keys unless they were fetched within [`REFETCH_AFTER`], or a fetch failed
    /// within [`RETRY_FAILED_AFTER`] (then that failure again).
    async fn refetch(&self) -> Result<JwkSet, String> {
        let mut cached = self.keys.write().await;
        if let Some((keys, fetched)) = &cached.keys
            && fetched.elapsed() < REFETCH_AFTER
        {
            return Ok(keys.clone());
        }
        if let Some((why, failed)) = &cached.failed
            && failed.elapsed() < RETRY_FAILED_AFTER
        {
            return Err(why.clone());
        }
        let uri = self.jwks_uri.clone();
        let fetched = tokio::task::spawn_blocking(move || fetch_jwks(&uri))
            .await
            .map_err(|e| e.to_string())
            .and_then(|fetched| fetched);
        match fetched {
            Ok(keys) => {
                *cached = Fetched {
                    keys: Some((keys.clone(), Instant::now())),
                    failed: None,
                };
                Ok(keys)
            }
            Err(why) => {
                cached.failed = Some((why.clone(), Instant::now()));
                Err(why)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_fetch_is_not_repeated_for_a_while() {
        // An endpoint that takes each connection and closes it: every fetch fails.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        let cache = KeyCache::new(uri);
        for _ in 0..5 {
            assert!(cache.reachable().await.is_err());
        }
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
