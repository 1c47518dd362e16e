//! `cargo xtask test`: every test, the emulator ones included. Installs and starts the
//! emulator when needed, builds the triggers it runs, and stops what it started.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::build;
use crate::emulator::{Emulator, Started};
use crate::{cargo, progress, project_root};

pub fn run() -> Result<ExitCode> {
    let artifacts = build::build(provisioner::spec::Architecture::X86_64, false)?;
    let emulator = Emulator::from_env();
    progress::step("starting the local emulator");
    let started = emulator.start()?;
    progress::step("running the tests");
    let status = cargo()
        .current_dir(project_root())
        .args(["test", "--workspace", "--no-fail-fast"])
        .env("EMULATOR_ENDPOINT", emulator.endpoint())
        .env("TRIGGER_ZIPS", &artifacts.dir)
        .status()
        .context("could not run cargo test");
    if matches!(started, Started::Now) {
        emulator.stop()?;
    }
    Ok(if status?.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
