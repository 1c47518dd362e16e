//! The pool's signing keys, fetched once and kept. A token naming a key id the cache lacks
//! (Cognito rotated its keys) fetches them again, at most once per [`REFETCH_AFTER`], so a
//! flood of forged key ids cannot turn into a flood of fetches.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use provisioner::login::{TokenProblem, check_id_token, fetch_jwks};
use tokio::sync::RwLock;

use crate::Pool;

pub const REFETCH_AFTER: Duration = Duration::from_secs(30);

pub struct KeyCache {
    jwks_uri: String,
    keys: RwLock<Option<(JwkSet, Instant)>>,
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
            keys: RwLock::new(None),
        }
    }

    /// The ID token's claims, after checking it against the pool's keys.
    pub async fn claims(&self, pool: &Pool, token: &str) -> Result<serde_json::Value, Refusal> {
        if let Some((keys, _)) = &*self.keys.read().await {
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

    /// Fetches the keys unless they were fetched within [`REFETCH_AFTER`].
    async fn refetch(&self) -> Result<JwkSet, String> {
        let mut cached = self.keys.write().await;
        if let Some((keys, fetched)) = &*cached
            && fetched.elapsed() < REFETCH_AFTER
        {
            return Ok(keys.clone());
        }
        let uri = self.jwks_uri.clone();
        let keys = tokio::task::spawn_blocking(move || fetch_jwks(&uri))
            .await
            .map_err(|e| e.to_string())??;
        *cached = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }
}
