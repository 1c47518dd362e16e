//! Python virtualenvs the project installs for itself into ignored folders, from pinned
//! requirement files: the emulator, and the arm64 cross-build tools.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::progress;

pub struct PythonEnv {
    /// Holds `venv/` and a copy of the requirements last installed.
    pub dir: PathBuf,
    pub requirements: PathBuf,
    /// What the packages are for, for progress and error messages.
    pub purpose: &'static str,
}

impl PythonEnv {
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("venv").join("bin")
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.bin_dir().join(name)
    }

    /// Creates the venv and installs the pinned packages, unless the same pins are installed.
    pub fn ensure_installed(&self) -> Result<()> {
        let wanted = std::fs::read_to_string(&self.requirements)
            .with_context(|| format!("reading {}", self.requirements.display()))?;
        let stamp = self.dir.join("installed-requirements.txt");
        if self.program("python").is_file()
            && std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted)
        {
            return Ok(());
        }
        progress::step(&format!(
            "installing {} into {}",
            self.purpose,
            self.dir.join("venv").display()
        ));
        std::fs::create_dir_all(&self.dir)?;
        let python3 = which("python3").ok_or_else(|| {
            anyhow::anyhow!(
                "python3 was not found on PATH; {} needs Python 3.10 or newer (Debian/Ubuntu: `sudo apt install python3 python3-venv`)",
                self.purpose
            )
        })?;
        run_checked(
            Command::new(python3)
                .args(["-m", "venv", "--clear"])
                .arg(self.dir.join("venv")),
            "creating a Python virtualenv failed; on Debian/Ubuntu install python3-venv",
        )?;
        run_checked(
            Command::new(self.program("python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-r",
                ])
                .arg(&self.requirements),
            &format!(
                "installing {} with pip failed (its output is above); check that PyPI is reachable",
                self.purpose
            ),
        )?;
        std::fs::write(&stamp, wanted)?;
        Ok(())
    }
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

pub fn run_checked(command: &mut Command, failure: &str) -> Result<()> {
    progress::detail(&format!("running {command:?}"));
    let status = command
        .status()
        .with_context(|| format!("could not run {command:?}"))?;
    if !status.success() {
        bail!("{failure}");
    }
    Ok(())
}
