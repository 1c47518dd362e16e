//! `cargo xtask build`: the trigger binaries, each zipped as a Lambda `bootstrap`. Deploy,
//! plan and drift build through [`build_unless_unchanged`], which skips the nested cargo
//! run when nothing the binaries are built from changed since the last build.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use provisioner::artifacts::Artifacts;
use provisioner::naming::TriggerKind;
use provisioner::spec::Architecture;

use crate::flags::BuildArgs;

use crate::python::{PythonEnv, run_checked, which};
use crate::{cargo, project_root};

const HOST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Beside the zips: the fingerprint of the inputs they were built from.
const BUILT_FROM: &str = "built-from";

/// Lambda's provided.al2023 runtime ships glibc 2.34; a binary needing more fails to start.
const AL2023_GLIBC_MINOR: u32 = 34;

/// Where one build's zips land: separate per target so switching never mixes them.
pub fn zip_dir(target: &str) -> PathBuf {
    project_root()
        .join("target")
        .join("trigger-zips")
        .join(target)
}

pub fn run(args: &BuildArgs) -> Result<Artifacts> {
    build(args.arch.into(), args.musl)
}

/// What the trigger binaries are built from, as one fingerprint: every file under
/// `triggers/` (path, size, modification time), the workspace manifest and lock file, the
/// cargo configuration, and the variables that change how cargo compiles. A toolchain
/// update is not in it; `cargo xtask build` always runs cargo.
fn inputs_fingerprint(root: &Path, target: &str) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    let mut pending = vec![root.join("triggers")];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
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
        ["Cargo.toml", "Cargo.lock", ".cargo/config.toml"]
            .map(|file| root.join(file))
            .into_iter()
            .filter(|path| path.is_file()),
    );
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(target.as_bytes());
    for file in &files {
        let metadata = std::fs::metadata(file)?;
        hasher.update(format!(
            "{}\0{}\0{:?}\0",
            file.display(),
            metadata.len(),
            metadata.modified()?
        ));
    }
    for variable in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_PROFILE_LAMBDA_OPT_LEVEL",
    ] {
        hasher.update(format!("{variable}={:?}\0", std::env::var_os(variable)));
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The triggers for `arch`, built only when their inputs changed since the zips were made.
/// A no-op nested `cargo build` costs about 150 ms of every deploy, plan and drift (see
/// `bench/RESULTS.md`), a third of an unchanged deploy; the fingerprint takes well under 1 ms.
pub fn build_unless_unchanged(arch: Architecture, musl: bool) -> Result<Artifacts> {
    let target = target_triple(arch, musl)?;
    let out_dir = zip_dir(&target);
    let stamp = out_dir.join(BUILT_FROM);
    let fingerprint = crate::phases::time("trigger inputs fingerprint", || {
        inputs_fingerprint(&project_root(), &target)
    })?;
    let zips_present = TriggerKind::ALL
        .iter()
        .all(|kind| out_dir.join(kind.zip_name()).is_file());
    if zips_present && std::fs::read_to_string(&stamp).is_ok_and(|old| old == fingerprint) {
        crate::progress::step(&format!(
            "triggers for {target} unchanged since the last build"
        ));
        let artifacts = crate::phases::time("zip (when rebuilt), read and hash", || {
            Artifacts::load(&out_dir)
        })?;
        print_packages(&artifacts);
        return Ok(artifacts);
    }
    build(arch, musl)
}

/// Builds the triggers for `arch` (statically against musl with `musl`) and zips each.
pub fn build(arch: Architecture, musl: bool) -> Result<Artifacts> {
    let target = target_triple(arch, musl)?;
    // Taken before building, so an edit made meanwhile rebuilds next time.
    let fingerprint = inputs_fingerprint(&project_root(), &target)?;
    let rust_target = target_dir_name(&target);
    if rust_target != HOST_TARGET {
        ensure_rust_target(rust_target)?;
    }
    let mut build = cargo();
    build.current_dir(project_root());
    if arch == Architecture::Arm64 {
        let tools = cross_tools();
        tools.ensure_installed()?;
        // cargo finds `cargo-zigbuild` on PATH, and cargo-zigbuild finds zig through the
        // venv's `python3 -m ziglang`.
        let path = std::env::join_paths(std::iter::once(tools.bin_dir()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))?;
        build.env("PATH", path).arg("zigbuild");
    } else {
        build.arg("build");
    }
    build.args([
        "--profile",
        "lambda",
        "--package",
        "triggers",
        "--bins",
        "--target",
        &target,
    ]);
    if musl && arch == Architecture::X86_64 && which("musl-gcc").is_none() {
        // aws-lc-sys compiles C; plain gcc links fine into a static musl binary for it.
        build.env("CC_x86_64_unknown_linux_musl", "gcc");
    }
    crate::progress::step(&format!("building triggers for {target}"));
    let status = crate::phases::time("trigger build check (nested cargo build)", || {
        build.status()
    })
    .context("could not run cargo")?;
    if !status.success() {
        bail!("building the triggers failed (cargo's errors are above)");
    }
    let binary_dir = project_root()
        .join("target")
        .join(target_dir_name(&target))
        .join("lambda");
    let out_dir = zip_dir(&target);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let zipping = std::time::Instant::now();
    for kind in TriggerKind::ALL {
        let binary = binary_dir.join(kind.binary_name());
        let zip_path = out_dir.join(kind.zip_name());
        // Cargo writes a new file whenever it relinks; the same length and modification
        // time mean the same binary, whose zip (a pure function of it) is already there.
        let stamp_path = out_dir.join(format!("{}.zipped-from", kind.binary_name()));
        let metadata =
            std::fs::metadata(&binary).with_context(|| format!("reading {}", binary.display()))?;
        let stamp = format!("{} {:?}", metadata.len(), metadata.modified()?);
        if zip_path.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp)
        {
            continue;
        }
        let bytes =
            std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
        if target.contains("-gnu") {
            check_glibc(&binary, &bytes, arch)?;
        }
        let zip = zip_bootstrap(&bytes)?;
        std::fs::write(&zip_path, &zip)
            .with_context(|| format!("writing {}", zip_path.display()))?;
        std::fs::write(&stamp_path, stamp)?;
    }
    let artifacts = Artifacts::load(&out_dir)?;
    crate::phases::record("zip (when rebuilt), read and hash", zipping.elapsed());
    let stamp = out_dir.join(BUILT_FROM);
    std::fs::write(&stamp, fingerprint).with_context(|| format!("writing {}", stamp.display()))?;
    print_packages(&artifacts);
    Ok(artifacts)
}

/// Build lines go to stderr: stdout carries only a command's machine-readable output.
fn print_packages(artifacts: &Artifacts) {
    for kind in TriggerKind::ALL {
        eprintln!(
            "  {:<28} {:>8.1} KiB  CodeSha256 {}",
            kind.zip_name(),
            artifacts.zip(kind).len() as f64 / 1024.0,
            artifacts.code_sha256(kind)
        );
    }
}

fn target_triple(arch: Architecture, musl: bool) -> Result<String> {
    Ok(match (arch, musl) {
        (Architecture::X86_64, false) => {
            ensure!(
                cfg!(all(target_arch = "x86_64", target_os = "linux")),
                "a host build runs only on x86_64 Linux; pass --musl to cross-build"
            );
            HOST_TARGET.to_owned()
        }
        (Architecture::X86_64, true) => "x86_64-unknown-linux-musl".to_owned(),
        // zigbuild links against exactly this glibc, the one provided.al2023 ships.
        (Architecture::Arm64, _) => format!("aarch64-unknown-linux-gnu.2.{AL2023_GLIBC_MINOR}"),
    })
}

/// cargo-zigbuild's glibc suffix is not part of the output directory's name.
fn target_dir_name(target: &str) -> &str {
    target
        .split_once(".2.")
        .map_or(target, |(triple, _)| triple)
}

/// Refuses a gnu binary that needs a newer glibc than Lambda has, unless it is for this
/// machine's emulator, where it only warns.
fn check_glibc(binary: &Path, bytes: &[u8], arch: Architecture) -> Result<()> {
    let needed = highest_glibc_minor(bytes);
    if needed > AL2023_GLIBC_MINOR {
        if arch == Architecture::Arm64 {
            bail!(
                "{} needs glibc 2.{needed}, newer than Lambda's 2.{AL2023_GLIBC_MINOR}",
                binary.display()
            );
        }
        crate::progress::note(&format!(
            "{} needs glibc 2.{needed}: fine for the local emulator, but Lambda's provided.al2023 has 2.{AL2023_GLIBC_MINOR}; deploys to AWS build with --musl",
            binary.file_name().unwrap_or_default().to_string_lossy()
        ));
    }
    Ok(())
}

/// The highest `GLIBC_2.N` symbol version the binary references.
fn highest_glibc_minor(bytes: &[u8]) -> u32 {
    const MARKER: &[u8] = b"GLIBC_2.";
    bytes
        .windows(MARKER.len())
        .enumerate()
        .filter(|(_, window)| *window == MARKER)
        .filter_map(|(at, _)| {
            let digits: Vec<u8> = bytes[at + MARKER.len()..]
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            std::str::from_utf8(&digits).ok()?.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// One entry, `bootstrap`, mode 755, with a fixed timestamp and compression level.
pub fn zip_bootstrap(binary: &[u8]) -> Result<Vec<u8>> {
    Ok(provisioner::artifacts::zip_executable("bootstrap", binary)?)
}

fn cross_tools() -> PythonEnv {
    PythonEnv {
        dir: project_root().join(".tools"),
        requirements: project_root()
            .join("xtask")
            .join("tools")
            .join("requirements.txt"),
        purpose: "the arm64 cross-build tools (cargo-zigbuild, zig)",
    }
}

/// Adds the Rust standard library for `target` through rustup when it is missing.
fn ensure_rust_target(target: &str) -> Result<()> {
    let libdir = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .output()?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&libdir.stdout).trim());
    if std::fs::read_dir(&libdir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Ok(());
    }
    crate::progress::step(&format!("adding the Rust target {target}"));
    run_checked(
        Command::new("rustup").args(["target", "add", target]),
        &format!(
            "`rustup target add {target}` failed; run it yourself (it needs to reach static.rust-lang.org)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipping_the_same_binary_twice_gives_identical_bytes() {
        let binary: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let first = zip_bootstrap(&binary).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(first, zip_bootstrap(&binary).unwrap());
        assert_ne!(first, zip_bootstrap(&binary[1..]).unwrap());
    }

    #[test]
    fn the_inputs_fingerprint_changes_with_any_trigger_file_or_the_lock_file() {
        let root = std::env::temp_dir().join(format!("fingerprint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("triggers/src")).unwrap();
        std::fs::write(root.join("triggers/src/lib.rs"), "fn a() {}").unwrap();
        std::fs::write(root.join("Cargo.lock"), "v1").unwrap();
        let first = inputs_fingerprint(&root, HOST_TARGET).unwrap();
        assert_eq!(first, inputs_fingerprint(&root, HOST_TARGET).unwrap());
        assert_ne!(
            first,
            inputs_fingerprint(&root, "x86_64-unknown-linux-musl").unwrap()
        );
        std::fs::write(root.join("triggers/src/lib.rs"), "fn ab() {}").unwrap();
        let edited = inputs_fingerprint(&root, HOST_TARGET).unwrap();
        assert_ne!(first, edited, "a trigger edit went unseen");
        std::fs::write(root.join("triggers/src/new.rs"), "").unwrap();
        let added = inputs_fingerprint(&root, HOST_TARGET).unwrap();
        assert_ne!(edited, added, "a new trigger file went unseen");
        std::fs::write(root.join("Cargo.lock"), "v2").unwrap();
        assert_ne!(added, inputs_fingerprint(&root, HOST_TARGET).unwrap());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_zip_holds_one_executable_bootstrap() {
        let zip = zip_bootstrap(b"\x7fELF pretend").unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), 1);
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|mode| mode & 0o777), Some(0o755));
    }

    #[test]
    fn finds_the_highest_glibc_version_referenced() {
        assert_eq!(
            highest_glibc_minor(b"..GLIBC_2.17\0GLIBC_2.34\0GLIBC_2.4\0"),
            34
        );
        assert_eq!(highest_glibc_minor(b"no versions"), 0);
    }

    #[test]
    fn zigbuild_glibc_suffix_is_dropped_from_the_directory() {
        assert_eq!(
            target_dir_name("aarch64-unknown-linux-gnu.2.34"),
            "aarch64-unknown-linux-gnu"
        );
        assert_eq!(
            target_dir_name("x86_64-unknown-linux-musl"),
            "x86_64-unknown-linux-musl"
        );
    }
}
