//! Debian's Chromium and its WebDriver for the browser test: found where installed, else
//! installed with apt-get (as root, or through sudo when it needs no password), else a
//! message saying how.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::progress;

const PACKAGES: [&str; 2] = ["chromium", "chromium-driver"];

/// Set for the tests when the browser could not be had: why, and how to install it. The
/// browser test fails with it.
pub const UNAVAILABLE_VARIABLE: &str = "BROWSER_UNAVAILABLE";

pub struct Browser {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

pub fn ensure_installed() -> Result<Browser> {
    // The paths may be given, for a browser installed elsewhere.
    let at = |variable: &str, debian: &str| {
        std::env::var_os(variable).map_or_else(|| PathBuf::from(debian), PathBuf::from)
    };
    let browser = Browser {
        chromium: at("CHROMIUM", "/usr/bin/chromium"),
        chromedriver: at("CHROMEDRIVER", "/usr/bin/chromedriver"),
    };
    if present(&browser) {
        return Ok(browser);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let sudo = !root
        && Command::new("sudo")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|status| status.success());
    if !root && !sudo {
        bail!(
            "the browser test needs Debian's {} packages, and this user can install neither as root nor through password-less sudo; install them (`sudo apt-get install {}`) and run the tests again",
            PACKAGES.join(" and "),
            PACKAGES.join(" ")
        );
    }
    progress::step("installing Chromium and its WebDriver (Debian packages)");
    for args in [
        vec!["update", "-qq"],
        [
            &["install", "-y", "-qq", "--no-install-recommends"][..],
            &PACKAGES[..],
        ]
        .concat(),
    ] {
        let mut apt = if sudo {
            let mut apt = Command::new("sudo");
            apt.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            apt
        } else {
            Command::new("apt-get")
        };
        let status = apt
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed; install {} yourself and run the tests again",
                args.join(" "),
                PACKAGES.join(" and ")
            );
        }
    }
    if !present(&browser) {
        bail!(
            "{} and {} are still missing after installing {}",
            browser.chromium.display(),
            browser.chromedriver.display(),
            PACKAGES.join(" and ")
        );
    }
    Ok(browser)
}

fn present(browser: &Browser) -> bool {
    [&browser.chromium, &browser.chromedriver]
        .iter()
        .all(|path| Path::new(path).is_file())
}
