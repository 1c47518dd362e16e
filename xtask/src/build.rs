//! `cargo xtask build`: the trigger binaries, each zipped as a Lambda `bootstrap`, with a
//! manifest of what they were built from. The build is reproducible across machines: the
//! toolchain is pinned (`rust-toolchain.toml`), the lock file is honoured, and every
//! machine-specific path prefix (the checkout, `CARGO_HOME`, the toolchain) is remapped in
//! what rustc and the C compiler embed. Deploy, plan and drift build through
//! [`build_unless_unchanged`], which skips the nested cargo run when the source fingerprint
//! matches the last build's.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use provisioner::artifacts::{Artifacts, MANIFEST, Manifest, ManifestFunction};
use provisioner::naming::TriggerKind;
use provisioner::spec::Architecture;

use crate::flags::BuildArgs;

use crate::python::{PythonEnv, run_checked, which};
use crate::{cargo, project_root};

const HOST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The cargo profile the triggers ship with (see the workspace manifest).
pub const PROFILE: &str = "lambda";

/// Lambda's provided.al2023 runtime ships glibc 2.34; a binary needing more fails to start.
const AL2023_GLIBC_MINOR: u32 = 34;

/// What path prefixes become in the binaries: the same on every machine.
const ROOT_AS: &str = "/emailcode";
const CARGO_HOME_AS: &str = "/cargo";
const SYSROOT_AS: &str = "/rust";

/// Where a build reads its sources and crates and writes its output.
pub struct Workspace {
    pub root: PathBuf,
    pub cargo_home: PathBuf,
    /// Build from the crates already in `cargo_home`, without the network.
    pub offline: bool,
}

impl Workspace {
    pub fn here() -> Self {
        Self {
            root: project_root(),
            cargo_home: cargo_home(),
            offline: false,
        }
    }

    /// Where one build's zips land: separate per target so switching never mixes them.
    pub fn zip_dir(&self, target: &str) -> PathBuf {
        self.root.join("target").join("trigger-zips").join(target)
    }
}

/// Cargo's home as cargo itself finds it.
pub fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

pub fn run(args: &BuildArgs) -> Result<Artifacts> {
    let artifacts = build(args.arch.into(), args.musl)?;
    if let Some(out) = &args.out {
        copy_artifacts(&artifacts, out)?;
        eprintln!("wrote the zips and {MANIFEST} to {}", out.display());
    }
    Ok(artifacts)
}

/// The zips and their manifest, copied to `out` for another machine or a later deploy.
fn copy_artifacts(artifacts: &Artifacts, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for kind in TriggerKind::ALL {
        let to = out.join(kind.zip_name());
        std::fs::write(&to, artifacts.zip(kind))
            .with_context(|| format!("writing {}", to.display()))?;
    }
    artifacts
        .manifest
        .write(out)
        .with_context(|| format!("writing {}", out.join(MANIFEST).display()))?;
    Artifacts::load(out)?;
    Ok(())
}

/// The source fingerprint of this checkout's trigger build for `target` (see
/// `provisioner::source`).
pub fn fingerprint(root: &Path, target: &str) -> Result<String> {
    provisioner::source::build_fingerprint(root, target, PROFILE)
        .context("reading the trigger sources for their fingerprint")
}

/// The triggers for `arch`, built only when their source fingerprint differs from the last
/// build's. A no-op nested `cargo build` costs about 150 ms of every deploy and plan (see
/// `bench/RESULTS.md`); the fingerprint takes a few milliseconds.
pub fn build_unless_unchanged(arch: Architecture, musl: bool) -> Result<Artifacts> {
    let here = Workspace::here();
    let target = target_triple(arch, musl)?;
    let out_dir = here.zip_dir(&target);
    let fingerprint = crate::phases::time("trigger source fingerprint", || {
        fingerprint(&here.root, &target)
    })?;
    let last = Manifest::read(&out_dir).ok();
    if last.is_some_and(|last| last.source_fingerprint == fingerprint) {
        let loaded = crate::phases::time("zip (when rebuilt), read and hash", || {
            Artifacts::load(&out_dir)
        });
        if let Ok(artifacts) = loaded {
            crate::progress::step(&format!(
                "triggers for {target} unchanged since the last build"
            ));
            print_packages(&artifacts);
            return Ok(artifacts);
        }
    }
    build(arch, musl)
}

/// Builds the triggers for `arch` (statically against musl with `musl`) in this checkout.
pub fn build(arch: Architecture, musl: bool) -> Result<Artifacts> {
    build_in(&Workspace::here(), arch, musl)
}

/// Builds the triggers in `workspace` and zips each, with the manifest beside them.
pub fn build_in(workspace: &Workspace, arch: Architecture, musl: bool) -> Result<Artifacts> {
    let root = &workspace.root;
    let target = target_triple(arch, musl)?;
    // Taken before building, so an edit made meanwhile rebuilds next time.
    let fingerprint = fingerprint(root, &target)?;
    let rustc = pinned_rustc(root)?;
    let rust_target = target_dir_name(&target);
    if rust_target != HOST_TARGET {
        ensure_rust_target(root, rust_target)?;
    }
    let mut build = cargo();
    build
        .current_dir(root)
        .env("CARGO_HOME", &workspace.cargo_home)
        .env("CARGO_TARGET_DIR", root.join("target"));
    reproducible(&mut build, workspace, &target)?;
    if arch == Architecture::Arm64 {
        zigbuild(&mut build)?;
    } else {
        build.arg("build");
    }
    build.args([
        "--locked",
        "--profile",
        PROFILE,
        "--package",
        "triggers",
        "--bins",
        "--target",
        &target,
    ]);
    if workspace.offline {
        build.arg("--offline");
    }
    if musl && arch == Architecture::X86_64 && which("musl-gcc").is_none() {
        // aws-lc-sys compiles C; plain gcc links fine into a static musl binary for it.
        build.env("CC_x86_64_unknown_linux_musl", "gcc");
    }
    crate::progress::step(&format!(
        "building triggers for {target} in {}",
        root.display()
    ));
    let status = crate::phases::time("trigger build check (nested cargo build)", || {
        build.status()
    })
    .context("could not run cargo")?;
    if !status.success() {
        bail!("building the triggers failed (cargo's errors are above)");
    }
    let binary_dir = root.join("target").join(rust_target).join(PROFILE);
    let out_dir = workspace.zip_dir(&target);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let zipping = std::time::Instant::now();
    let mut functions = Vec::new();
    for kind in TriggerKind::ALL {
        let binary = binary_dir.join(kind.binary_name());
        let zip_path = out_dir.join(kind.zip_name());
        let bytes =
            std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
        if target.contains("-gnu") {
            check_glibc(&binary, &bytes, arch)?;
        }
        let zip = zip_bootstrap(&bytes)?;
        std::fs::write(&zip_path, &zip)
            .with_context(|| format!("writing {}", zip_path.display()))?;
        functions.push(ManifestFunction {
            binary: kind.binary_name().to_owned(),
            zip: kind.zip_name().to_owned(),
            code_sha256: provisioner::artifacts::code_sha256(&zip),
        });
    }
    let manifest = Manifest {
        format: provisioner::artifacts::MANIFEST_FORMAT,
        target: target.clone(),
        architecture: arch.as_lambda().to_owned(),
        profile: PROFILE.to_owned(),
        rustc,
        source_fingerprint: fingerprint,
        commit: commit(root),
        functions,
    };
    manifest
        .write(&out_dir)
        .with_context(|| format!("writing {}", out_dir.join(MANIFEST).display()))?;
    let artifacts = Artifacts::load(&out_dir)?;
    crate::phases::record("zip (when rebuilt), read and hash", zipping.elapsed());
    print_packages(&artifacts);
    Ok(artifacts)
}

/// Makes what the compilers embed independent of where things are on this machine: rustc
/// and the C compiler (aws-lc-sys) see every machine-specific prefix remapped, and flags
/// from the environment, which differ between machines, are left out. Panic locations keep
/// source paths in a stripped binary, so without this a home directory or checkout path
/// changes the bytes.
fn reproducible(build: &mut Command, workspace: &Workspace, target: &str) -> Result<()> {
    let mut prefixes = [
        (workspace.root.clone(), ROOT_AS),
        (workspace.cargo_home.clone(), CARGO_HOME_AS),
        (sysroot(&workspace.root)?, SYSROOT_AS),
    ];
    // Where several match, rustc and gcc apply the last given: the longest goes last.
    prefixes.sort_by_key(|(path, _)| path.as_os_str().len());
    let pairs: Vec<String> = prefixes
        .iter()
        .map(|(path, to)| format!("{}={to}", path.display()))
        .collect();
    let rustflags: Vec<String> = pairs
        .iter()
        .map(|pair| format!("--remap-path-prefix={pair}"))
        .collect();
    let cflags: Vec<String> = pairs
        .iter()
        .map(|pair| format!("-ffile-prefix-map={pair}"))
        .collect();
    build
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}"))
        .env(
            format!("CFLAGS_{}", target_dir_name(target).replace('-', "_")),
            cflags.join(" "),
        );
    Ok(())
}

/// The toolchain's own folder, whose path holds the rustup home.
fn sysroot(root: &Path) -> Result<PathBuf> {
    let output = Command::new("rustc")
        .current_dir(root)
        .args(["--print", "sysroot"])
        .output()
        .context("could not run rustc")?;
    ensure!(output.status.success(), "`rustc --print sysroot` failed");
    Ok(PathBuf::from(String::from_utf8(output.stdout)?.trim()))
}

/// `rustc --version` of the compiler the checkout pins, or an error when another one would
/// build (another compiler builds other bytes).
fn pinned_rustc(root: &Path) -> Result<String> {
    let pin_file = root.join("rust-toolchain.toml");
    let pin = std::fs::read_to_string(&pin_file)
        .with_context(|| format!("reading {}", pin_file.display()))?;
    let channel = pinned_channel(&pin)
        .with_context(|| format!("{} names no toolchain channel", pin_file.display()))?;
    let output = Command::new("rustc")
        .current_dir(root)
        .arg("--version")
        .output()
        .context("could not run rustc")?;
    let version = String::from_utf8(output.stdout)?.trim().to_owned();
    ensure!(
        output.status.success() && version.starts_with(&format!("rustc {channel} ")),
        "the triggers build with Rust {channel} ({}), but rustc here is `{version}`: unset RUSTUP_TOOLCHAIN and RUSTC, or install it with `rustup toolchain install {channel}`",
        pin_file.display()
    );
    Ok(version)
}

/// The `channel = "…"` of a rust-toolchain.toml.
fn pinned_channel(pin: &str) -> Option<&str> {
    pin.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("channel")?
            .trim()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"'))
    })
}

/// The checkout's commit, `-dirty` when a build input has local changes; `None` outside git.
fn commit(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let mut inputs = vec![
        "status",
        "--porcelain",
        "--",
        provisioner::source::TRIGGERS_DIR,
    ];
    inputs.extend(provisioner::source::BUILD_INPUTS);
    let changes = git(&inputs)?;
    Some(if changes.is_empty() {
        head
    } else {
        format!("{head}-dirty")
    })
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

pub fn target_triple(arch: Architecture, musl: bool) -> Result<String> {
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

/// Makes `build` a `cargo zigbuild`, installing the pinned cross tools on first use: cargo
/// finds `cargo-zigbuild` on PATH, and cargo-zigbuild finds zig through the venv's
/// `python3 -m ziglang`.
pub fn zigbuild(build: &mut Command) -> Result<()> {
    let tools = cross_tools();
    tools.ensure_installed()?;
    let path = std::env::join_paths(std::iter::once(tools.bin_dir()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    build.env("PATH", path).arg("zigbuild");
    Ok(())
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
pub fn ensure_rust_target(root: &Path, target: &str) -> Result<()> {
    let libdir = Command::new("rustc")
        .current_dir(root)
        .args(["--print", "target-libdir", "--target", target])
        .output()?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&libdir.stdout).trim());
    if std::fs::read_dir(&libdir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Ok(());
    }
    crate::progress::step(&format!("adding the Rust target {target}"));
    run_checked(
        Command::new("rustup")
            .current_dir(root)
            .args(["target", "add", target]),
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
    fn reads_the_pinned_channel() {
        assert_eq!(
            pinned_channel("[toolchain]\nchannel = \"1.95.0\"\ncomponents = []\n"),
            Some("1.95.0")
        );
        assert_eq!(pinned_channel("[toolchain]\n"), None);
    }

    #[test]
    fn the_checkout_pins_the_toolchain_the_triggers_build_with() {
        let pin = std::fs::read_to_string(project_root().join("rust-toolchain.toml")).unwrap();
        let channel = pinned_channel(&pin).unwrap();
        assert!(
            channel.split('.').count() == 3 && channel.split('.').all(|n| n.parse::<u32>().is_ok()),
            "rust-toolchain.toml must pin an exact version, not {channel}"
        );
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
