//! `cargo xtask newcomer`: what a new user does, checked. Clones the committed repository
//! into a temporary folder and runs the README's two commands there, exactly as written,
//! with nothing carried over from this checkout (own target folder, own emulator install).

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::emulator::Emulator;
use crate::{cargo, progress, project_root};

/// The README's commands, in its order.
const README_COMMANDS: [&[&str]; 2] = [&["xtask", "demo"], &["xtask", "test"]];

pub fn run() -> Result<ExitCode> {
    for emulator in [Emulator::from_env(), Emulator::moto_from_env()] {
        if emulator.healthy() {
            bail!(
                "an emulator already answers on port {}; a newcomer's machine has none. Stop it (`cargo xtask emulator stop`) and run again",
                emulator.port
            );
        }
    }
    let workdir = std::env::temp_dir().join(format!("emailcode-newcomer-{}", std::process::id()));
    let clone = workdir.join("emailcode");
    std::fs::create_dir_all(&workdir)?;
    progress::step(&format!(
        "cloning the committed repository into {}",
        clone.display()
    ));
    run_in(
        &workdir,
        Command::new("git"),
        &[
            "clone",
            "--quiet",
            &project_root().to_string_lossy(),
            "emailcode",
        ],
    )?;
    let mut timings = Vec::new();
    let mut outcome = Ok(());
    for args in README_COMMANDS {
        let shown = format!("cargo {}", args.join(" "));
        progress::step(&format!("running `{shown}` in the clone"));
        let started = Instant::now();
        let result = run_in(&clone, cargo(), args);
        timings.push((shown, started.elapsed()));
        if result.is_err() {
            outcome = result;
            break;
        }
    }
    // The demo leaves the emulator running, as the README says; this clone started it.
    let _ = run_in(&clone, cargo(), &["xtask", "emulator", "stop"]);
    for (command, elapsed) in &timings {
        println!("{command}: {:.0} s", elapsed.as_secs_f64());
    }
    outcome?;
    std::fs::remove_dir_all(&workdir).ok();
    println!("Both README commands succeeded on a fresh clone.");
    Ok(ExitCode::SUCCESS)
}

fn run_in(dir: &Path, mut command: Command, args: &[&str]) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command
        .args(args)
        .current_dir(dir)
        // A newcomer's shell carries no settings of ours.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("EMULATOR_PORT")
        .env_remove("EMULATOR_ENDPOINT")
        .env_remove("TRIGGER_ZIPS")
        .status()
        .with_context(|| format!("could not run {program}"))?;
    if !status.success() {
        bail!(
            "`{program} {}` failed in {} ({status})",
            args.join(" "),
            dir.display()
        );
    }
    Ok(())
}
