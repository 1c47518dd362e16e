//! The source fingerprint: one hash of exactly what goes into the trigger zips, computed
//! from file contents and relative paths only, so two checkouts of the same commit agree
//! whatever their paths, clocks or build state. Deploy records it on each function; drift
//! compares it with the checkout's without building anything.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::naming::TriggerKind;

/// What the trigger binaries are built from, besides everything under `triggers/`: the
/// workspace manifest (profiles), the lock file, the toolchain pin and cargo's configuration.
pub const BUILD_INPUTS: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "rust-toolchain.toml",
    ".cargo/config.toml",
];

/// The triggers' own folder, every file of which is an input.
pub const TRIGGERS_DIR: &str = "triggers";

/// Changes whenever the way inputs are combined changes, so old and new never compare equal.
const SCHEME: &str = "emailcode-source-v1";

/// The fingerprint of a build of the triggers for `target` with cargo profile `profile`, from
/// the checkout at `root`. Reads every input file; takes a few milliseconds.
pub fn build_fingerprint(root: &Path, target: &str, profile: &str) -> io::Result<String> {
    let mut files = Vec::new();
    let mut pending = vec![root.join(TRIGGERS_DIR)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", dir.display())))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.extend(
        BUILD_INPUTS
            .iter()
            .map(|file| root.join(file))
            .filter(|path| path.is_file()),
    );
    let mut relative: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|path| (portable_relative(root, &path), path))
        .collect();
    relative.sort();
    let mut hasher = Sha256::new();
    for part in [SCHEME, target, profile] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for (name, path) in &relative {
        let contents = std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(Sha256::digest(&contents));
    }
    Ok(hex(&hasher.finalize()))
}

/// A function's own fingerprint: the build's, and for Create the stack's email templates,
/// which travel in its zip. The other triggers' packages are the build's as they are.
pub fn function_source(build: &str, kind: TriggerKind, templates_json: &[u8]) -> String {
    if kind != TriggerKind::Create {
        return build.to_owned();
    }
    let mut hasher = Sha256::new();
    hasher.update(build.as_bytes());
    hasher.update([0]);
    hasher.update(Sha256::digest(templates_json));
    hex(&hasher.finalize())
}

/// `root`-relative, with `/` separators whatever the platform.
fn portable_relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "x86_64-unknown-linux-gnu";

    /// A minimal checkout at a fresh temporary path.
    fn checkout(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("fingerprint-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("triggers/src/bin")).unwrap();
        std::fs::create_dir_all(root.join(".cargo")).unwrap();
        std::fs::write(root.join("triggers/src/lib.rs"), "pub fn a() {}").unwrap();
        std::fs::write(root.join("triggers/src/bin/define.rs"), "fn main() {}").unwrap();
        std::fs::write(root.join("triggers/Cargo.toml"), "[package]").unwrap();
        for (file, text) in [
            ("Cargo.toml", "[workspace]"),
            ("Cargo.lock", "v1"),
            ("rust-toolchain.toml", "1.95.0"),
            (".cargo/config.toml", "[alias]"),
        ] {
            std::fs::write(root.join(file), text).unwrap();
        }
        root
    }

    fn fingerprint(root: &Path) -> String {
        build_fingerprint(root, TARGET, "lambda").unwrap()
    }

    #[test]
    fn the_same_sources_at_another_path_with_other_times_give_the_same_fingerprint() {
        let first = checkout("a");
        let second = checkout("b");
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Rewritten with the same bytes: a new modification time, as a fresh clone has.
        std::fs::write(second.join("triggers/src/lib.rs"), "pub fn a() {}").unwrap();
        assert_eq!(fingerprint(&first), fingerprint(&second));
        for root in [first, second] {
            std::fs::remove_dir_all(root).unwrap();
        }
    }

    #[test]
    fn every_input_changes_the_fingerprint() {
        let root = checkout("inputs");
        let mut seen = vec![fingerprint(&root)];
        let changed = |what: &str, seen: &mut Vec<String>| {
            let now = fingerprint(&root);
            assert!(!seen.contains(&now), "{what} went unseen");
            seen.push(now);
        };
        for file in [
            "triggers/src/lib.rs",
            "triggers/src/bin/define.rs",
            "triggers/Cargo.toml",
        ]
        .iter()
        .chain(BUILD_INPUTS)
        {
            let path = root.join(file);
            let mut text = std::fs::read(&path).unwrap();
            text.push(b' ');
            std::fs::write(&path, text).unwrap();
            changed(file, &mut seen);
        }
        std::fs::write(root.join("triggers/src/new.rs"), "").unwrap();
        changed("a new file", &mut seen);
        std::fs::rename(
            root.join("triggers/src/new.rs"),
            root.join("triggers/src/renamed.rs"),
        )
        .unwrap();
        changed("a renamed file", &mut seen);
        let base = fingerprint(&root);
        for other in [
            build_fingerprint(&root, "aarch64-unknown-linux-gnu", "lambda").unwrap(),
            build_fingerprint(&root, TARGET, "release").unwrap(),
        ] {
            assert_ne!(base, other, "target or profile went unseen");
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn only_the_create_trigger_carries_the_templates() {
        let build = "b".repeat(64);
        assert_eq!(
            function_source(&build, TriggerKind::Define, b"{\"a\":1}"),
            build
        );
        let create = function_source(&build, TriggerKind::Create, b"{\"a\":1}");
        assert_ne!(create, build);
        assert_ne!(
            create,
            function_source(&build, TriggerKind::Create, b"{\"a\":2}")
        );
        assert_eq!(
            create,
            function_source(&build, TriggerKind::Create, b"{\"a\":1}")
        );
    }
}
