//! The provisioner's scenarios (deploy from nothing, no-op, one-field update, plan, drift,
//! teardown) in-process, and the whole `cargo xtask deploy` command as a child process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use provisioner::artifacts::Artifacts;
use provisioner::aws::ConnectOptions;
use provisioner::report::{DriftReport, plan_text};
use provisioner::session::Session;
use provisioner::spec::StackSpec;

use super::report::Calls;
use crate::{cargo, project_root};

/// Spec files for throwaway stacks on the emulator.
pub(super) struct StackFiles {
    dir: PathBuf,
    endpoint: String,
    next: std::cell::Cell<usize>,
}

impl StackFiles {
    pub(super) fn new(endpoint: &str) -> Result<Self> {
        let dir = project_root().join("target").join("bench-stacks");
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            endpoint: endpoint.to_owned(),
            next: std::cell::Cell::new(0),
        })
    }

    pub(super) fn fresh(&self, memory_mb: u32) -> Result<PathBuf> {
        let n = self.next.get();
        self.next.set(n + 1);
        let name = format!("bench{}-{n}", std::process::id());
        let path = self.dir.join(format!("{name}.yaml"));
        self.write(&path, &name, memory_mb)?;
        Ok(path)
    }

    fn write(&self, path: &Path, name: &str, memory_mb: u32) -> Result<()> {
        let yaml = format!(
            "name: {name}\nregion: us-east-1\nendpoint: {}\nemail:\n  from: no-reply@example.com\nuser_pool:\n  deletion_protection: false\ntriggers:\n  architecture: x86_64\n  memory_mb: {memory_mb}\n",
            self.endpoint
        );
        std::fs::write(path, yaml)?;
        Ok(())
    }

    fn rewrite(&self, stack: &Path, memory_mb: u32) -> Result<()> {
        let spec = StackSpec::load(stack)?;
        self.write(stack, spec.name.as_str(), memory_mb)
    }
}

pub(super) type Scenarios = Vec<(String, (Vec<Duration>, Calls))>;

/// Deploy's and teardown's per-resource progress, unwanted while timing.
pub(super) fn silent(_: &provisioner::plan::Step, _: provisioner::apply::Outcome) {}

pub(super) const WHOLE_DEPLOY_FROM_NOTHING: &str = "whole `cargo xtask deploy`, from nothing";
pub(super) const WHOLE_DEPLOY_UNCHANGED: &str = "whole `cargo xtask deploy`, unchanged";

/// The command a user types, as a child process: cargo's freshness check, the trigger build
/// check, the zips and the deploy. Each run from nothing, then unchanged.
pub(super) async fn whole_deploy_commands(
    stacks: &StackFiles,
    runs: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let deploy = |stack: &Path| -> Result<Duration> {
        let started = Instant::now();
        let output = cargo()
            .current_dir(project_root())
            .args(["xtask", "deploy", "--stack"])
            .arg(stack)
            .output()
            .context("running cargo xtask deploy")?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            bail!(
                "cargo xtask deploy --stack {} failed:\n{}",
                stack.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(elapsed)
    };
    let (mut from_nothing, mut unchanged) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let stack = stacks.fresh(128)?;
        from_nothing.push(deploy(&stack)?);
        unchanged.push(deploy(&stack)?);
        Session::open(&stack)
            .await?
            .teardown(provisioner::session::FORCE, &silent)
            .await?;
    }
    Ok((from_nothing, unchanged))
}

/// Each run: deploy from nothing, no-op deploy, one-field update, plan, drift, teardown.
pub(super) async fn provisioner_scenarios(
    stacks: &StackFiles,
    artifacts: &Artifacts,
    runs: usize,
    options: ConnectOptions,
) -> Result<Scenarios> {
    let names = [
        "deploy from nothing",
        "no-op deploy",
        "one-field update",
        "plan",
        "drift",
        "teardown",
    ];
    let mut collected: Vec<(Vec<Duration>, Calls)> =
        names.iter().map(|_| (Vec::new(), Calls::new())).collect();
    for _ in 0..runs {
        let stack = stacks.fresh(128)?;
        let mut record = |index: usize, elapsed: Duration, calls: Calls| {
            collected[index].0.push(elapsed);
            collected[index].1 = calls;
        };
        for index in 0..3 {
            if index == 2 {
                stacks.rewrite(&stack, 256)?;
            }
            let started = Instant::now();
            let session = Session::open_with(&stack, options.clone()).await?;
            session.deploy(artifacts, &silent).await?;
            record(index, started.elapsed(), session.clients.requests.counts());
        }
        let started = Instant::now();
        let session = Session::open_with(&stack, options.clone()).await?;
        let plan = session.plan(artifacts)?;
        std::hint::black_box(plan_text(&plan));
        record(3, started.elapsed(), session.clients.requests.counts());

        let started = Instant::now();
        let session = Session::open_with(&stack, options.clone()).await?;
        let report = DriftReport::new(session.spec.name.as_str(), &session.plan(artifacts)?);
        if !report.in_sync {
            bail!("the bench stack drifted right after deploy: {report:?}");
        }
        record(4, started.elapsed(), session.clients.requests.counts());

        let started = Instant::now();
        let session = Session::open_with(&stack, options.clone()).await?;
        session
            .teardown(provisioner::session::FORCE, &silent)
            .await?;
        record(5, started.elapsed(), session.clients.requests.counts());
    }
    Ok(names.iter().map(|n| n.to_string()).zip(collected).collect())
}
