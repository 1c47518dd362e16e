//! The trigger zips `cargo xtask build` produces, the Create zip with a stack's email
//! templates added, and their Lambda CodeSha256.

use std::io::Write;
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

    /// The packages for one stack: the Create zip gains the stack's email templates beside
    /// `bootstrap`, so a template change is a code change that plan and drift show, and an
    /// unchanged one gives the same bytes (nothing to update).
    pub fn for_stack(&self, templates: &triggers::template::Bundle) -> Result<Self, ArtifactError> {
        let mut stack = self.clone();
        let create = stack
            .packages
            .iter_mut()
            .find(|(kind, ..)| *kind == TriggerKind::Create)
            .expect("every trigger is loaded");
        let zip = with_file(
            &create.1,
            triggers::template::BUNDLE_FILE,
            &templates.to_json(),
        )
        .map_err(|error| ArtifactError {
            path: self.dir.join(TriggerKind::Create.zip_name()),
            error,
        })?;
        create.2 = code_sha256(&zip);
        create.1 = zip;
        Ok(stack)
    }
}

/// Options that make a zip entry a pure function of its name and contents.
fn deterministic(mode: u32) -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(zip::DateTime::DEFAULT)
        .unix_permissions(mode)
}

/// A deterministic zip of one executable file: the same binary always gives the same
/// bytes, hence the same CodeSha256, hence no update.
pub fn zip_executable(name: &str, contents: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(name, deterministic(0o755))
        .map_err(std::io::Error::other)?;
    writer.write_all(contents)?;
    Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
}

/// `zip` with one more read-only file; the existing entries are copied as they are
/// (compressed bytes included), which is both fast and deterministic.
fn with_file(zip: &[u8], name: &str, contents: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(std::io::Error::other)?;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(
        zip.len() + contents.len(),
    )));
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(std::io::Error::other)?;
        if entry.name().ok().as_deref() != Some(name) {
            writer.raw_copy_file(entry).map_err(std::io::Error::other)?;
        }
    }
    writer
        .start_file(name, deterministic(0o644))
        .map_err(std::io::Error::other)?;
    writer.write_all(contents)?;
    Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn adding_a_file_keeps_the_executable_and_is_deterministic() {
        let zip = zip_executable("bootstrap", b"\x7fELF pretend").unwrap();
        let first = with_file(&zip, "email-templates.json", b"{}").unwrap();
        assert_eq!(
            first,
            with_file(&zip, "email-templates.json", b"{}").unwrap()
        );
        assert_ne!(
            first,
            with_file(&zip, "email-templates.json", b"[]").unwrap()
        );
        // Adding again replaces rather than duplicates.
        assert_eq!(
            with_file(&first, "email-templates.json", b"{}").unwrap(),
            first
        );
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(first)).unwrap();
        assert_eq!(archive.len(), 2);
        let mut bootstrap = archive.by_name("bootstrap").unwrap();
        assert_eq!(bootstrap.unix_mode(), Some(0o100755));
        let mut contents = Vec::new();
        bootstrap.read_to_end(&mut contents).unwrap();
        assert_eq!(contents, b"\x7fELF pretend");
    }
}
