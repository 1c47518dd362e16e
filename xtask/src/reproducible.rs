//! `cargo xtask check-reproducible`: the same commit must build the same zips on every
//! machine, or a drift check on a CI runner would see code changes nobody made. Builds here,
//! then again from a copy of the checkout at another path with another `CARGO_HOME` (holding
//! a copy of this one's downloaded crates, so it builds offline), and compares each zip's
//! CodeSha256 and the source fingerprints.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail, ensure};
use provisioner::naming::TriggerKind;

use crate::build::{Workspace, build, build_in, cargo_home};
use crate::flags::ReproducibleArgs;
use crate::{progress, project_root};

pub fn run(args: &ReproducibleArgs) -> Result<ExitCode> {
    let arch = args.arch.into();
    let first = build(arch, args.musl)?;
    let mut scratch = Scratch::new(
        std::env::temp_dir().join(format!("emailcode-reproduce-{}", std::process::id())),
    );
    let elsewhere = Workspace {
        root: scratch.path.join("elsewhere").join("checkout"),
        cargo_home: scratch.path.join("another-cargo-home"),
        offline: true,
    };
    progress::step(&format!(
        "copying the checkout to {} and the downloaded crates to {}",
        elsewhere.root.display(),
        elsewhere.cargo_home.display()
    ));
    copy_checkout(&project_root(), &elsewhere.root)?;
    copy_crates(&cargo_home(), &elsewhere.cargo_home)?;
    let second = build_in(&elsewhere, arch, args.musl)?;

    eprintln!(
        "\n{:<30} {:<46} {:<46}",
        "zip",
        project_root().display(),
        elsewhere.root.display()
    );
    let mut differing = Vec::new();
    for kind in TriggerKind::ALL {
        let (here, there) = (first.code_sha256(kind), second.code_sha256(kind));
        eprintln!("{:<30} {here:<46} {there:<46}", kind.zip_name());
        if here != there {
            differing.push(kind.zip_name());
        }
    }
    eprintln!(
        "{:<30} {:<46} {:<46}",
        "source fingerprint",
        &first.manifest.source_fingerprint[..16],
        &second.manifest.source_fingerprint[..16]
    );
    if !differing.is_empty() {
        scratch.keep();
        bail!(
            "{} differ between the two builds; the second build is kept in {} (compare the binaries under target/ with `diffoscope` or `cmp -l`, and look for a path or time that got in)",
            differing.join(", "),
            scratch.path.display()
        );
    }
    if first.manifest.source_fingerprint != second.manifest.source_fingerprint {
        scratch.keep();
        bail!(
            "the zips agree but the source fingerprints do not ({} against {}); the second checkout is kept in {}",
            first.manifest.source_fingerprint,
            second.manifest.source_fingerprint,
            scratch.path.display()
        );
    }
    eprintln!("reproducible: both builds gave the same bytes for every zip");
    Ok(ExitCode::SUCCESS)
}

/// The second build's folder (a checkout, a cargo home and a target: several hundred MiB),
/// removed however the check ends, unless kept to compare builds that differ.
struct Scratch {
    path: PathBuf,
    kept: bool,
}

impl Scratch {
    fn new(path: PathBuf) -> Self {
        Self { path, kept: false }
    }

    fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.kept
            && let Err(error) = std::fs::remove_dir_all(&self.path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("warning: could not remove {}: {error}", self.path.display());
        }
    }
}

/// The files git tracks, and the untracked ones it does not ignore: what a clone with the
/// same changes would hold.
pub fn copy_checkout(root: &Path, to: &Path) -> Result<()> {
    let output = Command::new("git")
        .current_dir(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .context("could not run git")?;
    ensure!(
        output.status.success(),
        "`git ls-files` failed in {}: the check copies a git checkout",
        root.display()
    );
    for name in output.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = PathBuf::from(String::from_utf8_lossy(name).into_owned());
        let from = root.join(&name);
        // A file deleted but not yet staged is listed and absent: a clone would lack it too.
        if !from.is_file() {
            continue;
        }
        let dest = to.join(&name);
        std::fs::create_dir_all(dest.parent().expect("a file has a parent"))?;
        std::fs::copy(&from, &dest)
            .with_context(|| format!("copying {} to {}", from.display(), dest.display()))?;
    }
    Ok(())
}

/// The registry's index and downloaded `.crate` files; cargo unpacks the sources itself, so
/// every source path in the second build lies under the other home.
fn copy_crates(from_home: &Path, to_home: &Path) -> Result<()> {
    for part in ["index", "cache"] {
        let from = from_home.join("registry").join(part);
        if !from.is_dir() {
            bail!(
                "{} is missing: build once here first, so that cargo has downloaded the crates",
                from.display()
            );
        }
        let to = to_home.join("registry");
        std::fs::create_dir_all(&to)?;
        crate::python::run_checked(
            Command::new("cp").arg("-R").arg(&from).arg(&to),
            &format!("copying {} to {}", from.display(), to.display()),
        )?;
    }
    Ok(())
}
