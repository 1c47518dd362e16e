//! What `demo` and `test` need from the machine beyond Rust, checked before they start, each
//! with what to do. (A C compiler is needed too, for the TLS and crypto crates; without one
//! xtask itself does not compile, so cargo's error is the first sign: README says so.)

use std::process::Command;

use anyhow::{Result, bail};

use crate::python::which;

/// The oldest Python the pinned emulators and linters install on.
const PYTHON_AT_LEAST: (u32, u32) = (3, 10);

/// Checks the platform and Python for `task` (`demo` or `test`).
pub fn check(task: &str) -> Result<()> {
    platform(task, std::env::consts::OS, std::env::consts::ARCH)?;
    let python = which("python3").ok_or_else(|| {
        anyhow::anyhow!(
            "`cargo xtask {task}` needs python3 ({}.{} or newer, with venv) for the local emulators; \
             Debian/Ubuntu: `sudo apt install python3 python3-venv`; macOS: `brew install python`",
            PYTHON_AT_LEAST.0,
            PYTHON_AT_LEAST.1
        )
    })?;
    let output = Command::new(&python)
        .args(["-c", "import sys; print(*sys.version_info[:2])"])
        .output()?;
    python_version(task, &String::from_utf8_lossy(&output.stdout))
}

/// The local emulator runs the trigger binaries as processes of this machine, built for it:
/// x86_64 Linux.
fn platform(task: &str, os: &str, arch: &str) -> Result<()> {
    if os == "linux" && arch == "x86_64" {
        return Ok(());
    }
    bail!(
        "`cargo xtask {task}` needs x86_64 Linux: the local emulator runs the trigger binaries as \
         processes of this machine ({arch} {os}). Run it in an x86_64 Linux VM or container, or in CI. \
         Here you can still build for Lambda (`cargo xtask build --arch arm64`, through zig) and \
         plan, deploy, check drift and tear down against AWS"
    )
}

fn python_version(task: &str, printed: &str) -> Result<()> {
    let mut numbers = printed.split_whitespace().map(str::parse::<u32>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) >= PYTHON_AT_LEAST => Ok(()),
        (Some(Ok(major)), Some(Ok(minor))) => bail!(
            "`cargo xtask {task}` needs Python {}.{} or newer for the local emulators; python3 is {major}.{minor}. \
             Install a newer python3 first on PATH (Debian/Ubuntu: `sudo apt install python3 python3-venv`)",
            PYTHON_AT_LEAST.0,
            PYTHON_AT_LEAST.1
        ),
        _ => bail!(
            "python3 did not say its version ({printed:?}); check that `python3 --version` works"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_x86_64_linux_runs_the_local_emulator_and_the_message_says_what_else_works() {
        assert!(platform("demo", "linux", "x86_64").is_ok());
        for (os, arch) in [
            ("macos", "aarch64"),
            ("linux", "aarch64"),
            ("macos", "x86_64"),
        ] {
            let message = platform("demo", os, arch).unwrap_err().to_string();
            assert!(message.contains(&format!("({arch} {os})")), "{message}");
            assert!(message.contains("--arch arm64"), "{message}");
        }
    }

    #[test]
    fn python_must_be_at_least_3_10() {
        assert!(python_version("test", "3 10\n").is_ok());
        assert!(python_version("test", "3 13\n").is_ok());
        let message = python_version("test", "3 9\n").unwrap_err().to_string();
        assert!(message.contains("python3 is 3.9"), "{message}");
        assert!(python_version("test", "").is_err());
    }
}
