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
    pub(super) dir: PathBuf,
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
        provisioner::bootstrap::ensure_for_spec_blocking(&path)?;
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
pub(super) const CDK_DEPLOY_FROM_NOTHING: &str = "whole `cdk deploy`, from nothing";
pub(super) const CDK_DEPLOY_UNCHANGED: &str = "whole `cdk deploy`, unchanged";
pub(super) const PLAIN_SCRIPT_FROM_NOTHING: &str =
    "plain script (create calls, wait for Active), from nothing";

/// The command a user types, as a child process: cargo's freshness check, the trigger build
/// check, the zips and the deploy. Each run from nothing, then unchanged.
/// The whole commands, run after run in turn on the same emulator: ours (`cargo xtask
/// deploy`, from nothing and unchanged), CDK's (`cdk deploy`, the same two; `None` when CDK
/// could not be prepared) and the plain script's floor (from nothing).
pub(super) struct WholeDeploys {
    pub(super) ours_from_nothing: Vec<Duration>,
    pub(super) ours_unchanged: Vec<Duration>,
    /// Each run's phases of our command, from nothing then unchanged: (phase, ms).
    pub(super) phases_from_nothing: Vec<Vec<(String, f64)>>,
    pub(super) phases_unchanged: Vec<Vec<(String, f64)>>,
    pub(super) cdk: Option<(Vec<Duration>, Vec<Duration>)>,
    pub(super) plain: Vec<Duration>,
}

/// The phases `cargo xtask deploy` wrote (see `crate::phases`), with the time before and
/// after its own code (cargo, process start and exit) as the first phase.
fn phases_of(file: &Path, wall: Duration) -> Result<Vec<(String, f64)>> {
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
    let xtask_ms = written["xtask_ms"].as_f64().unwrap_or(0.0);
    let mut phases = vec![(
        "cargo start-up, xtask launch and exit".to_owned(),
        wall.as_secs_f64() * 1000.0 - xtask_ms,
    )];
    for phase in written["phases"].as_array().into_iter().flatten() {
        phases.push((
            phase[0].as_str().unwrap_or_default().to_owned(),
            phase[1].as_f64().unwrap_or(0.0),
        ));
    }
    Ok(phases)
}

pub(super) async fn whole_deploy_commands(
    stacks: &StackFiles,
    runs: usize,
    artifacts: &Artifacts,
    cdk: Option<&super::cdk::Cdk>,
) -> Result<WholeDeploys> {
    let times = stacks.dir.join("phases.json");
    let deploy = |stack: &Path| -> Result<(Duration, Vec<(String, f64)>)> {
        let started = Instant::now();
        let output = cargo()
            .current_dir(project_root())
            .args(["xtask", "deploy", "--stack"])
            .arg(stack)
            .env(crate::phases::VARIABLE, &times)
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
        Ok((elapsed, phases_of(&times, elapsed)?))
    };
    let mut whole = WholeDeploys {
        ours_from_nothing: Vec::new(),
        ours_unchanged: Vec::new(),
        phases_from_nothing: Vec::new(),
        phases_unchanged: Vec::new(),
        cdk: cdk.map(|_| (Vec::new(), Vec::new())),
        plain: Vec::new(),
    };
    for run in 0..runs {
        let stack = stacks.fresh(128)?;
        let (took, phases) = deploy(&stack)?;
        whole.ours_from_nothing.push(took);
        whole.phases_from_nothing.push(phases);
        let (took, phases) = deploy(&stack)?;
        whole.ours_unchanged.push(took);
        whole.phases_unchanged.push(phases);
        Session::open(&stack)
            .await?
            .teardown(provisioner::session::FORCE, &silent)
            .await?;

        if let (Some(cdk), Some((from_nothing, unchanged))) = (cdk, whole.cdk.as_mut()) {
            let name = format!("cdk{}-{run}", std::process::id());
            from_nothing.push(cdk.deploy(&name)?);
            unchanged.push(cdk.deploy(&name)?);
            cdk.destroy(&name)?;
        }

        let stack = stacks.fresh(128)?;
        let names = super::plain::names(&stack).await?;
        whole
            .plain
            .push(super::plain::deploy_from_nothing(&stack, artifacts, &names).await?);
        Session::open(&stack)
            .await?
            .teardown(provisioner::session::FORCE, &silent)
            .await?;
    }
    Ok(whole)
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
        let report = DriftReport::new(
            session.spec.name.as_str(),
            &session.plan_without_build(&artifacts.manifest.source_fingerprint)?,
        );
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
