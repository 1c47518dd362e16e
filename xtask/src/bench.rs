//! `cargo xtask bench`: the product's speed on the local emulator, written to
//! `bench/results.json` and `bench/RESULTS.md`. A benchmark, not a test: it reports
//! figures and never fails on one.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use provisioner::artifacts::{Artifacts, TriggerKind};
use provisioner::aws::{ConnectOptions, connect_with};
use provisioner::commands::{self, Outputs, Session, StackArgs};
use provisioner::plan::render_text;
use provisioner::spec::{Architecture, StackSpec};
use serde::Serialize;

use crate::build::{self, BuildArgs};
use crate::emulator::{Emulator, Started};
use crate::{cargo, progress, project_root};

/// Added to every request for the critical-path runs: wall time / delay = sequential rounds.
const ADDED_LATENCY: Duration = Duration::from_millis(100);
const BENCH_USER: &str = "bench@example.com";

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Repetitions of each provisioner scenario.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Warm sign-ins per trigger variant (p95 wants at least 50).
    #[arg(long, default_value_t = 50)]
    sign_ins: usize,
    /// Cold sign-ins (each on fresh function environments) per trigger variant.
    #[arg(long, default_value_t = 50)]
    cold_sign_ins: usize,
    /// Skip the clean builds (several minutes on two cores).
    #[arg(long)]
    skip_clean_builds: bool,
}

#[derive(Debug, Serialize)]
struct Figure {
    name: String,
    unit: &'static str,
    samples: usize,
    min: f64,
    median: f64,
    p95: f64,
    max: f64,
}

impl Figure {
    fn new(name: impl Into<String>, unit: &'static str, mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Self {
            name: name.into(),
            unit,
            samples: values.len(),
            min: values[0],
            median: pick(0.5),
            p95: pick(0.95),
            max: values[values.len() - 1],
        }
    }

    fn millis(name: impl Into<String>, durations: &[Duration]) -> Self {
        Self::new(
            name,
            "ms",
            durations.iter().map(|d| d.as_secs_f64() * 1000.0).collect(),
        )
    }
}

/// Requests of one run, per service: (reads, writes).
type Calls = BTreeMap<String, (usize, usize)>;

#[derive(Debug, Default, Serialize)]
struct Results {
    machine: BTreeMap<&'static str, String>,
    date: String,
    commit: String,
    emulator: &'static str,
    figures: Vec<Figure>,
    calls: BTreeMap<String, Calls>,
    targets: Vec<Target>,
}

/// One of the targets against the figure that measures it. Reported, never enforced.
#[derive(Debug, Serialize)]
struct Target {
    what: String,
    target: String,
    measured: String,
    met: bool,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let artifacts = build::run(&BuildArgs {
        arch: Architecture::X86_64,
        musl: false,
    })?;
    let emulator = Emulator::from_env();
    let started = emulator.start()?;
    let outcome = measure(args, &artifacts, &emulator);
    if matches!(started, Started::Now) {
        emulator.stop()?;
    }
    let mut results = outcome?;
    results.targets = targets(&results)?;
    write_results(&results)?;
    Ok(ExitCode::SUCCESS)
}

fn measure(args: &BenchArgs, artifacts: &Artifacts, emulator: &Emulator) -> Result<Results> {
    let mut results = Results {
        machine: machine(),
        date: command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])?,
        commit: commit()?,
        emulator: "MiniStack 1.5.33 (Nagle off)",
        ..Results::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let stacks = StackFiles::new(&emulator.endpoint())?;

    // The emulator sets up each service on first use; one untimed run keeps that out.
    progress::step("warm-up run");
    runtime.block_on(provisioner_scenarios(
        &stacks,
        artifacts,
        1,
        ConnectOptions::default(),
    ))?;
    progress::step(&format!("provisioner scenarios, {} runs", args.runs));
    let scenarios = runtime.block_on(provisioner_scenarios(
        &stacks,
        artifacts,
        args.runs,
        ConnectOptions::default(),
    ))?;
    let mut undelayed = BTreeMap::new();
    for (name, (times, calls)) in scenarios {
        let figure = Figure::millis(name.clone(), &times);
        undelayed.insert(name.clone(), figure.median / 1000.0);
        results.figures.push(figure);
        results.calls.insert(name, calls);
    }

    progress::step(&format!(
        "whole `cargo xtask deploy` commands, {} runs",
        args.runs
    ));
    let (from_nothing, unchanged) = runtime.block_on(whole_deploy_commands(&stacks, args.runs))?;
    results
        .figures
        .push(Figure::millis(WHOLE_DEPLOY_FROM_NOTHING, &from_nothing));
    results
        .figures
        .push(Figure::millis(WHOLE_DEPLOY_UNCHANGED, &unchanged));

    progress::step(&format!(
        "critical path: {} ms added to every request",
        ADDED_LATENCY.as_millis()
    ));
    let delayed = ConnectOptions {
        added_latency: Some(ADDED_LATENCY),
    };
    let scenarios = runtime.block_on(provisioner_scenarios(&stacks, artifacts, 3, delayed))?;
    for (name, (times, _)) in scenarios {
        if ["deploy from nothing", "no-op deploy", "drift"].contains(&name.as_str()) {
            let delay = ADDED_LATENCY.as_secs_f64();
            let raw: Vec<f64> = times.iter().map(|t| t.as_secs_f64() / delay).collect();
            // Every run also contains the emulator's own time; taking out the undelayed
            // median leaves only the delays, that is the sequential round trips.
            let net: Vec<f64> = times
                .iter()
                .map(|t| (t.as_secs_f64() - undelayed[&name]) / delay)
                .collect();
            results.figures.push(Figure::new(
                format!("{name}: wall time / delay"),
                "rounds",
                raw,
            ));
            results.figures.push(Figure::new(
                format!("{name}: sequential round trips"),
                "rounds",
                net,
            ));
        }
    }

    progress::step("sign-in through the emulator");
    let node = NodeTriggers::build()?;
    for variant in [Variant::Rust, Variant::NodeTutorial, Variant::NodeNoop] {
        let (cold, warm, peaks) = runtime.block_on(sign_in_figures(
            &stacks, artifacts, &node, variant, args, emulator,
        ))?;
        for (phase, samples) in [("cold", cold), ("warm", warm)] {
            for (step, index) in [
                ("InitiateAuth", 0),
                ("RespondToAuthChallenge", 1),
                ("whole sign-in", 2),
            ] {
                let durations: Vec<Duration> = samples.iter().map(|s| s[index]).collect();
                if !durations.is_empty() {
                    results.figures.push(Figure::millis(
                        format!("sign-in {phase}, {}: {step}", variant.label()),
                        &durations,
                    ));
                }
            }
        }
        for (function, kib) in peaks {
            results.figures.push(Figure::new(
                format!("peak memory (VmHWM), {function}"),
                "KiB",
                vec![kib],
            ));
        }
    }

    progress::step("trigger handlers in-process (criterion)");
    results.figures.extend(criterion_figures()?);

    for kind in TriggerKind::ALL {
        let size = artifacts.zip(kind).len() as f64 / 1024.0;
        results.figures.push(Figure::new(
            format!("zip size, {}", kind.zip_name()),
            "KiB",
            vec![size],
        ));
    }

    if !args.skip_clean_builds {
        progress::step("clean builds (fresh target directories)");
        results.figures.push(clean_build(
            "clean build: workspace (dev, tests included)",
            &["build", "--workspace", "--tests"],
        )?);
        results.figures.push(clean_build(
            "clean build: triggers (release, lambda profile)",
            &[
                "build",
                "--profile",
                "lambda",
                "--package",
                "triggers",
                "--bins",
            ],
        )?);
    }
    Ok(results)
}

/// Spec files for throwaway stacks on the emulator.
struct StackFiles {
    dir: PathBuf,
    endpoint: String,
    next: std::cell::Cell<usize>,
}

impl StackFiles {
    fn new(endpoint: &str) -> Result<Self> {
        let dir = project_root().join("target").join("bench-stacks");
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            endpoint: endpoint.to_owned(),
            next: std::cell::Cell::new(0),
        })
    }

    fn fresh(&self, memory_mb: u32) -> Result<StackArgs> {
        let n = self.next.get();
        self.next.set(n + 1);
        let name = format!("bench{}-{n}", std::process::id());
        let path = self.dir.join(format!("{name}.yaml"));
        self.write(&path, &name, memory_mb)?;
        Ok(StackArgs { stack: path })
    }

    fn write(&self, path: &Path, name: &str, memory_mb: u32) -> Result<()> {
        let yaml = format!(
            "name: {name}\nregion: us-east-1\nendpoint: {}\nemail:\n  from: no-reply@example.com\nuser_pool:\n  deletion_protection: false\ntriggers:\n  architecture: x86_64\n  memory_mb: {memory_mb}\n",
            self.endpoint
        );
        std::fs::write(path, yaml)?;
        Ok(())
    }

    fn rewrite(&self, args: &StackArgs, memory_mb: u32) -> Result<()> {
        let spec = StackSpec::load(&args.stack)?;
        self.write(&args.stack, spec.name.as_str(), memory_mb)
    }
}

type Scenarios = Vec<(String, (Vec<Duration>, Calls))>;

/// Deploy's and teardown's per-resource progress, unwanted while timing.
fn silent(_: &provisioner::plan::Step, _: provisioner::apply::Outcome) {}

const WHOLE_DEPLOY_FROM_NOTHING: &str = "whole `cargo xtask deploy`, from nothing";
const WHOLE_DEPLOY_UNCHANGED: &str = "whole `cargo xtask deploy`, unchanged";

/// The command a user types, as a child process: cargo's freshness check, the trigger build
/// check, the zips and the deploy. Each run from nothing, then unchanged.
async fn whole_deploy_commands(
    stacks: &StackFiles,
    runs: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let deploy = |args: &StackArgs| -> Result<Duration> {
        let started = Instant::now();
        let output = cargo()
            .current_dir(project_root())
            .args(["xtask", "deploy", "--stack"])
            .arg(&args.stack)
            .output()
            .context("running cargo xtask deploy")?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            bail!(
                "cargo xtask deploy --stack {} failed:\n{}",
                args.stack.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(elapsed)
    };
    let (mut from_nothing, mut unchanged) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let args = stacks.fresh(128)?;
        from_nothing.push(deploy(&args)?);
        unchanged.push(deploy(&args)?);
        let spec = StackSpec::load(&args.stack)?;
        commands::teardown_with(
            &spec,
            &provisioner::aws::connect(&spec).await,
            true,
            &silent,
        )
        .await?;
    }
    Ok((from_nothing, unchanged))
}

/// Each run: deploy from nothing, no-op deploy, one-field update, plan, drift, teardown.
async fn provisioner_scenarios(
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
        let args = stacks.fresh(128)?;
        let mut record = |index: usize, elapsed: Duration, calls: Calls| {
            collected[index].0.push(elapsed);
            collected[index].1 = calls;
        };
        for index in 0..3 {
            if index == 2 {
                stacks.rewrite(&args, 256)?;
            }
            let started = Instant::now();
            let session = Session::open_with(&args, options).await?;
            commands::deploy_in(&session, artifacts, &silent).await?;
            record(index, started.elapsed(), session.clients.requests.counts());
        }
        let started = Instant::now();
        let session = Session::open_with(&args, options).await?;
        let plan = session.plan(artifacts)?;
        std::hint::black_box(render_text(&plan));
        record(3, started.elapsed(), session.clients.requests.counts());

        let started = Instant::now();
        let session = Session::open_with(&args, options).await?;
        let report = commands::drift_report(session.spec.name.as_str(), &session.plan(artifacts)?);
        if !report.in_sync {
            bail!("the bench stack drifted right after deploy: {report:?}");
        }
        record(4, started.elapsed(), session.clients.requests.counts());

        let started = Instant::now();
        let spec = StackSpec::load(&args.stack)?;
        let clients = connect_with(&spec, options).await;
        commands::teardown_with(&spec, &clients, true, &silent).await?;
        record(5, started.elapsed(), clients.requests.counts());
    }
    Ok(names.iter().map(|n| n.to_string()).zip(collected).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Rust,
    NodeTutorial,
    NodeNoop,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Self::Rust => "Rust triggers",
            Self::NodeTutorial => "Node.js 20 tutorial triggers (bundled SES client)",
            Self::NodeNoop => "Node.js 20 do-nothing triggers (emulator floor)",
        }
    }

    /// Where the code comes from: the mailbox, or the do-nothing triggers' fixed code.
    fn fixed_code(self) -> Option<&'static str> {
        (self == Self::NodeNoop).then_some("000000")
    }
}

/// The Node.js triggers, bundled by esbuild into one zip per trigger and variant.
struct NodeTriggers {
    dir: PathBuf,
}

impl NodeTriggers {
    fn build() -> Result<Self> {
        let dir = project_root().join("bench").join("node-triggers");
        let npm = |args: &[&str]| -> Result<()> {
            let status = Command::new("npm")
                .args(args)
                .current_dir(&dir)
                .status()
                .context("running npm (is Node.js installed?)")?;
            if !status.success() {
                bail!("npm {} failed in {}", args.join(" "), dir.display());
            }
            Ok(())
        };
        npm(&["ci", "--no-audit", "--no-fund", "--silent"])?;
        npm(&["run", "--silent", "build"])?;
        Ok(Self { dir })
    }

    fn zip(&self, variant: Variant, kind: TriggerKind) -> Result<Vec<u8>> {
        let folder = if variant == Variant::NodeNoop {
            "noop"
        } else {
            "tutorial"
        };
        let trigger = match kind {
            TriggerKind::Define => "define",
            TriggerKind::Create => "create",
            TriggerKind::Verify => "verify",
        };
        let source = std::fs::read(
            self.dir
                .join("dist")
                .join(folder)
                .join(trigger)
                .join("index.js"),
        )?;
        build::zip_entry("index.js", &source)
    }
}

type SignInSample = [Duration; 3];

async fn sign_in_figures(
    stacks: &StackFiles,
    artifacts: &Artifacts,
    node: &NodeTriggers,
    variant: Variant,
    args: &BenchArgs,
    emulator: &Emulator,
) -> Result<(Vec<SignInSample>, Vec<SignInSample>, Vec<(String, f64)>)> {
    let stack = stacks.fresh(128)?;
    let session = Session::open(&stack).await?;
    let outputs = commands::deploy_in(&session, artifacts, &silent).await?;
    let session = Session::open(&stack).await?;
    if variant != Variant::Rust {
        swap_to_node(&session, node, variant).await?;
    }
    provisioner::users::add(&session, BENCH_USER).await?;
    // The first sign-in of a pool also makes the pool's signing key; that is the
    // emulator's cost, not the triggers', so it is left out.
    sign_in(&session, &outputs, variant, emulator).await?;
    let mut cold = Vec::new();
    for nonce in 0..args.cold_sign_ins {
        start_fresh_environments(&session, nonce).await?;
        cold.push(sign_in(&session, &outputs, variant, emulator).await?);
    }
    let mut warm = Vec::new();
    for _ in 0..args.sign_ins {
        warm.push(sign_in(&session, &outputs, variant, emulator).await?);
    }
    let peaks = if variant == Variant::Rust {
        peak_memory(&session.observation.names.stack)
    } else {
        Vec::new()
    };
    commands::teardown_with(&session.spec, &session.clients, true, &silent).await?;
    Ok((cold, warm, peaks))
}

/// A configuration change retires a function's warm environments, so the next call starts
/// a fresh one: a cold start, with the pool and user already in place.
async fn start_fresh_environments(session: &Session, nonce: usize) -> Result<()> {
    let lambda = &session.clients.lambda;
    for kind in TriggerKind::ALL {
        let name = session.observation.names.function(kind);
        let current = lambda
            .get_function_configuration()
            .function_name(&name)
            .send()
            .await?;
        let mut variables = current
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        variables.insert("BENCH_FRESH_START".to_owned(), nonce.to_string());
        lambda
            .update_function_configuration()
            .function_name(&name)
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .set_variables(Some(variables))
                    .build(),
            )
            .send()
            .await?;
    }
    Ok(())
}

/// Replaces the three functions' code and runtime with the Node.js variant.
async fn swap_to_node(session: &Session, node: &NodeTriggers, variant: Variant) -> Result<()> {
    let lambda = &session.clients.lambda;
    for kind in TriggerKind::ALL {
        let name = session.observation.names.function(kind);
        lambda
            .update_function_configuration()
            .function_name(&name)
            .runtime(aws_sdk_lambda::types::Runtime::Nodejs20x)
            .handler("index.handler")
            .send()
            .await?;
        lambda
            .update_function_code()
            .function_name(&name)
            .zip_file(aws_sdk_lambda::primitives::Blob::new(
                node.zip(variant, kind)?,
            ))
            .send()
            .await?;
    }
    Ok(())
}

/// One sign-in: InitiateAuth, the code (from the outbox, untimed), RespondToAuthChallenge.
async fn sign_in(
    session: &Session,
    outputs: &Outputs,
    variant: Variant,
    emulator: &Emulator,
) -> Result<SignInSample> {
    let cognito = &session.clients.cognito;
    let account = &session.observation.names.account;
    let seen: Vec<String> = provisioner::mailbox::messages(&emulator.endpoint(), account)?
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    let started = Instant::now();
    let challenge = provisioner::login::start_custom_auth(cognito, outputs, BENCH_USER).await?;
    let initiate = started.elapsed();
    let code = match variant.fixed_code() {
        Some(code) => code.to_owned(),
        None => {
            provisioner::login::wait_for_code(&emulator.endpoint(), account, BENCH_USER, &seen)?
        }
    };
    let started = Instant::now();
    let answered =
        provisioner::login::answer_challenge(cognito, outputs, challenge.session, BENCH_USER, code)
            .await?;
    let respond = started.elapsed();
    if answered.authentication_result.is_none() {
        bail!("{}: the sign-in did not end in tokens", variant.label());
    }
    Ok([initiate, respond, initiate + respond])
}

/// VmHWM of each running trigger process of `stack`, found by its function name.
fn peak_memory(stack: &str) -> Vec<(String, f64)> {
    let mut peaks = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return peaks;
    };
    for entry in entries.flatten() {
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let Some(function) = environ
            .split(|b| *b == 0)
            .filter_map(|var| {
                std::str::from_utf8(var)
                    .ok()?
                    .strip_prefix("AWS_LAMBDA_FUNCTION_NAME=")
            })
            .find(|name| name.starts_with(&format!("{stack}-")))
        else {
            continue;
        };
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        {
            peaks.push((
                function.trim_start_matches(&format!("{stack}-")).to_owned(),
                kib,
            ));
        }
    }
    peaks.sort_by(|a, b| a.0.cmp(&b.0));
    peaks
}

fn criterion_figures() -> Result<Vec<Figure>> {
    let status = cargo()
        .current_dir(project_root())
        .args([
            "bench",
            "--package",
            "triggers",
            "--bench",
            "handlers",
            "--",
            "--noplot",
        ])
        .status()?;
    if !status.success() {
        bail!("cargo bench failed (its output is above)");
    }
    let mut figures = Vec::new();
    for id in [
        "define_per_event",
        "verify_per_event",
        "code_generation_per_code",
    ] {
        let path = project_root()
            .join("target")
            .join("criterion")
            .join(id)
            .join("new")
            .join("sample.json");
        let sample: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?;
        let per_iteration: Vec<f64> = sample["iters"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(sample["times"].as_array().into_iter().flatten())
            .filter_map(|(iters, time)| Some(time.as_f64()? / iters.as_f64()?))
            .collect();
        figures.push(Figure::new(
            format!("in-process: {id}"),
            "ns",
            per_iteration,
        ));
    }
    Ok(figures)
}

fn clean_build(name: &str, args: &[&str]) -> Result<Figure> {
    let target = project_root().join("target").join("bench-clean-build");
    let _ = std::fs::remove_dir_all(&target);
    let started = Instant::now();
    let status = cargo()
        .current_dir(project_root())
        .args(args)
        .env("CARGO_TARGET_DIR", &target)
        .status()?;
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&target);
    if !status.success() {
        bail!("the clean build for {name:?} failed");
    }
    Ok(Figure::new(name, "s", vec![elapsed.as_secs_f64()]))
}

/// The CDK anchors on this emulator, whole `cdk deploy` commands, seconds.
const CDK_DEPLOY_FROM_NOTHING_S: f64 = 3.05;
const CDK_DEPLOY_UNCHANGED_S: f64 = 2.71;

fn targets(results: &Results) -> Result<Vec<Target>> {
    let median = |name: &str| -> Result<f64> {
        results
            .figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.median)
            .with_context(|| format!("the benchmark has no figure {name:?}"))
    };
    let writes = |scenario: &str| -> usize {
        results
            .calls
            .get(scenario)
            .map_or(0, |calls| calls.values().map(|(_, writes)| writes).sum())
    };
    let at_most = |what: &str, figure: f64, limit: f64, unit: &str| Target {
        what: what.to_owned(),
        target: format!("≤ {limit} {unit}"),
        measured: format!("{figure:.1} {unit}"),
        met: figure <= limit,
    };
    let rust = Variant::Rust.label();
    let cold = |label: &str| median(&format!("sign-in cold, {label}: whole sign-in"));
    let warm = |label: &str| median(&format!("sign-in warm, {label}: whole sign-in"));
    let cold_speedup = cold(Variant::NodeTutorial.label())? / cold(rust)?;
    let warm_overhead = (warm(rust)? / warm(Variant::NodeNoop.label())? - 1.0) * 100.0;
    let speedup_over_cdk = |what: &str, figure: &str, cdk: f64| -> Result<Target> {
        let speedup = cdk * 1000.0 / median(figure)?;
        Ok(Target {
            what: format!("{what}, against CDK's {cdk} s"),
            target: "≥ 5 times faster".to_owned(),
            measured: format!("{speedup:.1} times"),
            met: speedup >= 5.0,
        })
    };
    Ok(vec![
        at_most(
            "deploy from nothing",
            median("deploy from nothing")?,
            150.0,
            "ms",
        ),
        at_most(
            "deploy from nothing, sequential round trips",
            median("deploy from nothing: sequential round trips")?,
            8.0,
            "rounds",
        ),
        at_most("no-op deploy", median("no-op deploy")?, 100.0, "ms"),
        at_most(
            "no-op deploy, writes",
            writes("no-op deploy") as f64,
            0.0,
            "calls",
        ),
        at_most(
            "no-op deploy, sequential round trips",
            median("no-op deploy: sequential round trips")?,
            2.0,
            "rounds",
        ),
        at_most("drift", median("drift")?, 100.0, "ms"),
        at_most("drift, writes", writes("drift") as f64, 0.0, "calls"),
        speedup_over_cdk(
            "whole `cargo xtask deploy` from nothing",
            WHOLE_DEPLOY_FROM_NOTHING,
            CDK_DEPLOY_FROM_NOTHING_S,
        )?,
        speedup_over_cdk(
            "whole `cargo xtask deploy` unchanged",
            WHOLE_DEPLOY_UNCHANGED,
            CDK_DEPLOY_UNCHANGED_S,
        )?,
        Target {
            what: "cold sign-in, Rust against Node.js tutorial triggers".to_owned(),
            target: "≥ 5 times faster".to_owned(),
            measured: format!("{cold_speedup:.1} times"),
            met: cold_speedup >= 5.0,
        },
        Target {
            what: "warm sign-in, Rust against do-nothing triggers".to_owned(),
            target: "within 10 %".to_owned(),
            measured: format!("{warm_overhead:+.1} %"),
            met: warm_overhead <= 10.0,
        },
    ])
}

fn machine() -> BTreeMap<&'static str, String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_default()
    };
    BTreeMap::from([
        ("cpu", field(&cpuinfo, "model name")),
        (
            "cores",
            std::thread::available_parallelism()
                .map_or(0, |n| n.get())
                .to_string(),
        ),
        ("memory", field(&meminfo, "MemTotal")),
        ("os", command_output("uname", &["-sr"]).unwrap_or_default()),
    ])
}

fn commit() -> Result<String> {
    let hash = command_output("git", &["rev-parse", "--short", "HEAD"])?;
    let dirty = !command_output("git", &["status", "--porcelain"])?.is_empty();
    Ok(if dirty {
        format!("{hash} (with uncommitted changes)")
    } else {
        hash
    })
}

fn command_output(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(project_root())
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn write_results(results: &Results) -> Result<()> {
    let dir = project_root().join("bench");
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(results)? + "\n",
    )?;
    let mut md = String::new();
    md.push_str("# Benchmark results\n\nWritten by `cargo xtask bench`; do not edit by hand.\n\n");
    md.push_str(&format!(
        "- Date: {}\n- Commit: {}\n- Emulator: {}\n- Machine: {}, {} cores, {} memory, {}\n\n",
        results.date,
        results.commit,
        results.emulator,
        results.machine["cpu"],
        results.machine["cores"],
        results.machine["memory"],
        results.machine["os"]
    ));
    md.push_str(
        "| Figure | Unit | n | min | median | p95 | max |\n|---|---|---|---|---|---|---|\n",
    );
    for f in &results.figures {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            f.name, f.unit, f.samples, f.min, f.median, f.p95, f.max
        ));
    }
    md.push_str("\n## Targets\n\n| What | Target | Measured (median) | Met |\n|---|---|---|---|\n");
    for t in &results.targets {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            t.what,
            t.target,
            t.measured,
            if t.met { "yes" } else { "no" }
        ));
    }
    md.push_str("\n## API calls per run (reads / writes)\n\n| Scenario | Service | Reads | Writes |\n|---|---|---|---|\n");
    for (scenario, calls) in &results.calls {
        for (service, (reads, writes)) in calls {
            md.push_str(&format!(
                "| {scenario} | {service} | {reads} | {writes} |\n"
            ));
        }
    }
    std::fs::File::create(dir.join("RESULTS.md"))?.write_all(md.as_bytes())?;
    println!("wrote bench/results.json and bench/RESULTS.md");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_picks_its_quantiles_from_the_sorted_samples() {
        let figure = Figure::new("f", "ms", (1..=100).rev().map(f64::from).collect());
        assert_eq!(
            (figure.min, figure.median, figure.p95, figure.max),
            (1.0, 51.0, 95.0, 100.0)
        );
    }

    fn results_with(medians: &[(String, f64)], no_op_writes: usize) -> Results {
        Results {
            figures: medians
                .iter()
                .map(|(name, median)| Figure::new(name.clone(), "ms", vec![*median]))
                .collect(),
            calls: BTreeMap::from([(
                "no-op deploy".to_owned(),
                Calls::from([("Lambda".to_owned(), (6, no_op_writes))]),
            )]),
            ..Results::default()
        }
    }

    fn whole_sign_in(phase: &str, variant: Variant, median: f64) -> (String, f64) {
        (
            format!("sign-in {phase}, {}: whole sign-in", variant.label()),
            median,
        )
    }

    #[test]
    fn targets_report_what_is_missed_without_failing() {
        let figures = vec![
            ("deploy from nothing".to_owned(), 120.0),
            (
                "deploy from nothing: sequential round trips".to_owned(),
                6.0,
            ),
            ("no-op deploy".to_owned(), 40.0),
            ("no-op deploy: sequential round trips".to_owned(), 2.4),
            ("drift".to_owned(), 40.0),
            (WHOLE_DEPLOY_FROM_NOTHING.to_owned(), 500.0),
            (WHOLE_DEPLOY_UNCHANGED.to_owned(), 500.0),
            whole_sign_in("cold", Variant::Rust, 50.0),
            whole_sign_in("cold", Variant::NodeTutorial, 300.0),
            whole_sign_in("warm", Variant::Rust, 32.0),
            whole_sign_in("warm", Variant::NodeNoop, 30.0),
        ];
        let reported = targets(&results_with(&figures, 1)).unwrap();
        let missed: Vec<&str> = reported
            .iter()
            .filter(|t| !t.met)
            .map(|t| t.what.as_str())
            .collect();
        assert_eq!(
            missed,
            [
                "no-op deploy, writes",
                "no-op deploy, sequential round trips"
            ]
        );
        assert_eq!(reported.len(), 11);

        let incomplete = results_with(&figures[1..], 0);
        let error = targets(&incomplete).unwrap_err().to_string();
        assert!(error.contains("\"deploy from nothing\""), "{error}");
    }
}
