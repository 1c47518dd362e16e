//! The trigger zips `cargo xtask build` produces, and their Lambda CodeSha256.

use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::naming::TriggerKind;

/// Lambda's CodeSha256: the base64 of the SHA-256 of the deployment package.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

#[derive(Debug, thiserror::Error)]
#[error("trigger package {} is missing or unreadable ({error}); run `cargo xtask build` first", path.display())]
pub struct ArtifactError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// One zip per trigger, read once.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub dir: PathBuf,
    packages: Vec<(TriggerKind, Vec<u8>, String)>,
}

impl Artifacts {
    pub fn load(dir: &Path) -> Result<Self, ArtifactError> {
        let packages = TriggerKind::ALL
            .into_iter()
            .map(|kind| {
                let path = dir.join(kind.zip_name());
                let bytes = std::fs::read(&path).map_err(|error| ArtifactError { path, error })?;
                let sha = code_sha256(&bytes);
                Ok((kind, bytes, sha))
            })
            .collect::<Result<_, ArtifactError>>()?;
        Ok(Self {
            dir: dir.to_owned(),
            packages,
        })
    }

    fn entry(&self, kind: TriggerKind) -> &(TriggerKind, Vec<u8>, String) {
        self.packages
            .iter()
            .find(|(k, ..)| *k == kind)
            .expect("every trigger is loaded")
    }

    pub fn zip(&self, kind: TriggerKind) -> &[u8] {
        &self.entry(kind).1
    }

    pub fn code_sha256(&self, kind: TriggerKind) -> &str {
        &self.entry(kind).2
    }
}
