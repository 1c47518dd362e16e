//! The trigger zips `cargo xtask build` produces with the manifest that describes them, the
//! Create zip with a stack's email templates added, and their Lambda CodeSha256.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::naming::TriggerKind;

/// Beside the zips: what they were built from and with.
pub const MANIFEST: &str = "manifest.json";

/// The manifest's layout; a reader refuses another.
pub const MANIFEST_FORMAT: u32 = 1;

/// Lambda's CodeSha256: the base64 of the SHA-256 of the deployment package.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("trigger package {} is missing or unreadable ({error}); run `cargo xtask build` first", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {problem}; build the artifacts again with `cargo xtask build --out DIR`", path.display())]
    BadManifest { path: PathBuf, problem: String },
    #[error(
        "trigger package {} has CodeSha256 {actual}, but its manifest says {expected}: the artifacts were changed after they were built; build them again with `cargo xtask build --out DIR`",
        path.display()
    )]
    Tampered {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// What `cargo xtask build` records beside the zips, so that a build made on one machine can
/// be deployed from another (and checked against the checkout there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The Rust target triple, as passed to cargo.
    pub target: String,
    /// Lambda's name for the architecture: `x86_64` or `arm64`.
    pub architecture: String,
    pub profile: String,
    /// `rustc --version` of the compiler that built the binaries.
    pub rustc: String,
    /// [`crate::source::build_fingerprint`] of the checkout the binaries were built from.
    pub source_fingerprint: String,
    /// The checkout's commit, when it is a git checkout; `-dirty` when it had local changes.
    pub commit: Option<String>,
    pub functions: Vec<ManifestFunction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFunction {
    pub binary: String,
    pub zip: String,
    pub code_sha256: String,
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Self, ArtifactError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|error| ArtifactError::Unreadable {
            path: path.clone(),
            error,
        })?;
        let manifest: Self =
            serde_json::from_str(&text).map_err(|error| ArtifactError::BadManifest {
                path: path.clone(),
                problem: error.to_string(),
            })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ArtifactError::BadManifest {
                path,
                problem: format!(
                    "manifest format {} is not the {MANIFEST_FORMAT} this tool reads",
                    manifest.format
                ),
            });
        }
        Ok(manifest)
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(dir.join(MANIFEST), text)
    }
}

/// One trigger's package: its zip, CodeSha256 and source fingerprint.
#[derive(Debug, Clone)]
struct Package {
    kind: TriggerKind,
    zip: Vec<u8>,
    code_sha256: String,
    source: String,
}

/// One zip per trigger, read once, with the manifest they were built with.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub dir: PathBuf,
    pub manifest: Manifest,
    packages: Vec<Package>,
}

impl Artifacts {
    /// The build in `dir`: its manifest and every zip it names, each checked against the
    /// CodeSha256 the manifest records.
    pub fn load(dir: &Path) -> Result<Self, ArtifactError> {
        let manifest = Manifest::read(dir)?;
        let packages = TriggerKind::ALL
            .into_iter()
            .map(|kind| {
                let path = dir.join(kind.zip_name());
                let zip = std::fs::read(&path).map_err(|error| ArtifactError::Unreadable {
                    path: path.clone(),
                    error,
                })?;
                let code_sha256 = code_sha256(&zip);
                let recorded = manifest
                    .functions
                    .iter()
                    .find(|f| f.zip == kind.zip_name())
                    .ok_or_else(|| ArtifactError::BadManifest {
                        path: dir.join(MANIFEST),
                        problem: format!("it does not list {}", kind.zip_name()),
                    })?;
                if recorded.code_sha256 != code_sha256 {
                    return Err(ArtifactError::Tampered {
                        path,
                        expected: recorded.code_sha256.clone(),
                        actual: code_sha256,
                    });
                }
                Ok(Package {
                    kind,
                    zip,
                    code_sha256,
                    source: manifest.source_fingerprint.clone(),
                })
            })
            .collect::<Result<_, ArtifactError>>()?;
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
            packages,
        })
    }

    fn package(&self, kind: TriggerKind) -> &Package {
        self.packages
            .iter()
            .find(|p| p.kind == kind)
            .expect("every trigger is loaded")
    }

    pub fn zip(&self, kind: TriggerKind) -> &[u8] {
        &self.package(kind).zip
    }

    pub fn code_sha256(&self, kind: TriggerKind) -> &str {
        &self.package(kind).code_sha256
    }

    /// The fingerprint of what this trigger's package was made from (see [`crate::source`]).
    pub fn source(&self, kind: TriggerKind) -> &str {
        &self.package(kind).source
    }

    /// The same packages with `zip` for `kind`, made from `source`.
    pub fn with_package(&self, kind: TriggerKind, zip: Vec<u8>, source: String) -> Self {
        let mut changed = self.clone();
        let package = changed
            .packages
            .iter_mut()
            .find(|p| p.kind == kind)
            .expect("every trigger is loaded");
        package.code_sha256 = code_sha256(&zip);
        package.zip = zip;
        package.source = source;
        changed
    }

    /// The packages for one stack: the Create zip gains the stack's email templates beside
    /// `bootstrap`, so a template change is a code change that plan and drift show, and an
    /// unchanged one gives the same bytes (nothing to update).
    pub fn for_stack(&self, templates: &triggers::template::Bundle) -> Result<Self, ArtifactError> {
        let templates = templates.to_json();
        let zip = with_file(
            self.zip(TriggerKind::Create),
            triggers::template::BUNDLE_FILE,
            &templates,
        )
        .map_err(|error| ArtifactError::Unreadable {
            path: self.dir.join(TriggerKind::Create.zip_name()),
            error,
        })?;
        let source = crate::source::function_source(
            &self.manifest.source_fingerprint,
            TriggerKind::Create,
            &templates,
        );
        Ok(self.with_package(TriggerKind::Create, zip, source))
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
