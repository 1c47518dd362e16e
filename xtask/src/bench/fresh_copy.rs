//! The whole `cargo xtask drift` command as a nightly CI job runs it: on a fresh copy of the
//! checkout whose xtask is compiled (a cached target directory) but whose triggers were never
//! built there. Without a build it only fingerprints the sources and reads the stack; with
//! `--build`, what drift did before, it first compiles the triggers from nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, progress, project_root};

pub(super) const WHOLE_DRIFT_FRESH_COPY: &str =
    "whole `cargo xtask drift` on a fresh copy (xtask compiled, triggers not)";
pub(super) const WHOLE_DRIFT_BUILD_FRESH_COPY: &str =
    "whole `cargo xtask drift --build` on a fresh copy (triggers compiled from nothing)";

/// A copy of the checkout with a target directory of its own, kept between bench runs so
/// that only the first pays for compiling xtask.
struct FreshCopy {
    root: PathBuf,
    target_dir: PathBuf,
}

impl FreshCopy {
    fn new() -> Result<Self> {
        let bench = project_root().join("target").join("bench-fresh-copy");
        let root = bench.join("checkout");
        if root.exists() {
            std::fs::remove_dir_all(&root)
                .with_context(|| format!("removing {}", root.display()))?;
        }
        crate::reproducible::copy_checkout(&project_root(), &root)?;
        Ok(Self {
            root,
            target_dir: bench.join("target"),
        })
    }

    fn drift(&self, stack: &Path, extra: &[&str]) -> Result<Duration> {
        let started = Instant::now();
        let output = cargo()
            .current_dir(&self.root)
            .args(["xtask", "drift", "--stack"])
            .arg(stack)
            .args(extra)
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .output()
            .context("running cargo xtask drift in the copy")?;
        let took = started.elapsed();
        if output.status.code() != Some(0) {
            bail!(
                "cargo xtask drift {} in {} did not find the stack in sync:\n{}{}",
                extra.join(" "),
                self.root.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(took)
    }

    /// Forgets any trigger build of the copy, so `--build` starts from nothing.
    fn forget_trigger_builds(&self) -> Result<()> {
        for dir in [
            self.target_dir.join("x86_64-unknown-linux-gnu"),
            self.root.join("target"),
        ] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
        }
        Ok(())
    }
}

/// `runs` timed drift checks without a build, and `build_runs` with `--build` from nothing,
/// against `stack` (deployed and in sync).
pub(super) fn whole_drift_on_fresh_copy(
    stack: &Path,
    runs: usize,
    build_runs: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let copy = FreshCopy::new()?;
    progress::step("compiling xtask in the fresh copy (untimed, as a cached CI target directory)");
    let status = cargo()
        .current_dir(&copy.root)
        .args(["build", "--package", "xtask"])
        .env("CARGO_TARGET_DIR", &copy.target_dir)
        .status()?;
    if !status.success() {
        bail!("compiling xtask in {} failed", copy.root.display());
    }
    let mut without_build = Vec::new();
    for _ in 0..runs {
        copy.forget_trigger_builds()?;
        without_build.push(copy.drift(stack, &[])?);
    }
    let mut with_build = Vec::new();
    for _ in 0..build_runs {
        copy.forget_trigger_builds()?;
        with_build.push(copy.drift(stack, &["--build"])?);
    }
    copy.forget_trigger_builds()?;
    Ok((without_build, with_build))
}
