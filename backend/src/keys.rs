//! The pool's signing keys, fetched once and kept. A token naming a key id the cache lacks
//! (Cognito rotated its keys) fetches them again, at most once per [`REFETCH_AFTER`], so a
//! flood of forged key ids cannot turn into a flood of fetches.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use provisioner::login::{TokenProblem, check_id_token, fetch_jwks};
use provisioner::session::Outputs;
use tokio::sync::RwLock;

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
    pub async fn claims(
        &self,
        outputs: &Outputs,
        token: &str,
    ) -> Result<serde_json::Value, Refusal> {
        if let Some((keys, _)) = &*self.keys.read().await {
            match check_id_token(keys, outputs, token) {
                Err(TokenProblem::UnknownKey(_)) => {}
                checked => return checked.map_err(Refusal::Token),
            }
        }
        let keys = self.refetch().await?;
        check_id_token(&keys, outputs, token).map_err(Refusal::Token)
    }

    /// Fetches the keys unless they were fetched within [`REFETCH_AFTER`].
    async fn refetch(&self) -> Result<JwkSet, Refusal> {
        let mut cached = self.keys.write().await;
        if let Some((keys, fetched)) = &*cached
            && fetched.elapsed() < REFETCH_AFTER
        {
            return Ok(keys.clone());
        }
        let uri = self.jwks_uri.clone();
        let keys = tokio::task::spawn_blocking(move || fetch_jwks(&uri))
            .await
            .map_err(|e| Refusal::KeysUnavailable(e.to_string()))?
            .map_err(Refusal::KeysUnavailable)?;
        *cached = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }
}
