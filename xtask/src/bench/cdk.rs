//! The same stack deployed by CDK (`bench/cdk-app`), measured in the same run and on the same
//! emulator as our whole `cargo xtask deploy`: the CLI's pinned npm packages are installed
//! into the app's ignored `node_modules/`, the emulator's account is bootstrapped once
//! (untimed), and each deploy is the whole `cdk deploy` command, as a person runs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::project_root;

pub(super) struct Cdk {
    dir: PathBuf,
    endpoint: String,
    account: String,
    zips: PathBuf,
}

impl Cdk {
    /// Installs the pinned CDK packages and bootstraps the emulator's account.
    pub(super) fn prepare(endpoint: &str, account: &str, zips: &Path) -> Result<Self> {
        let cdk = Self {
            dir: project_root().join("bench").join("cdk-app"),
            endpoint: endpoint.to_owned(),
            account: account.to_owned(),
            zips: zips.to_owned(),
        };
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&cdk.dir)
            .status()
            .context("running npm (is Node.js installed?)")?;
        if !status.success() {
            bail!("npm ci failed in {}", cdk.dir.display());
        }
        cdk.run(
            "bootstrap",
            &[
                "bootstrap",
                &format!("aws://{account}/us-east-1"),
                "--no-notices",
            ],
        )?;
        Ok(cdk)
    }

    fn run(&self, stack: &str, args: &[&str]) -> Result<Duration> {
        let started = Instant::now();
        let output = Command::new(self.dir.join("node_modules").join(".bin").join("cdk"))
            .args(args)
            .current_dir(&self.dir)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            // MiniStack answers GetCallerIdentity with the account an access key names, and
            // CDK refuses to deploy to an account other than the one it is signed in to.
            .env("AWS_ACCESS_KEY_ID", &self.account)
            .env("AWS_SECRET_ACCESS_KEY", &self.account)
            .env("CDK_DISABLE_VERSION_CHECK", "1")
            .env("BENCH_STACK", stack)
            .env("BENCH_ACCOUNT", &self.account)
            .env("BENCH_ZIPS", &self.zips)
            .output()
            .context("running the CDK CLI")?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            bail!(
                "cdk {} failed:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(elapsed)
    }

    /// The whole `cdk deploy` of `stack`, timed.
    pub(super) fn deploy(&self, stack: &str) -> Result<Duration> {
        self.run(
            stack,
            &["deploy", "--require-approval", "never", "--no-notices"],
        )
    }

    pub(super) fn destroy(&self, stack: &str) -> Result<()> {
        self.run(stack, &["destroy", "--force", "--no-notices"])
            .map(drop)
    }
}
