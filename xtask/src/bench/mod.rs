//! `cargo xtask bench`: the product's speed on the local emulator, written to
//! `bench/results.json` and `bench/RESULTS.md`. A benchmark, not a test: it reports
//! figures and never fails on one. One file per concern: `deploys` (the provisioner's
//! scenarios and whole commands), `sign_in` (Rust and Node.js triggers through Cognito),
//! `service` (the sign-in service, alone and under load),
//! `host` (the machine, builds, criterion, `/proc`), `report` (figures, targets, files).

mod cdk;
mod deploys;
mod fresh_copy;
mod host;
mod plain;
mod report;
mod service;
mod sign_in;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use provisioner::artifacts::Artifacts;
use provisioner::aws::ConnectOptions;
use provisioner::naming::TriggerKind;
use provisioner::spec::Architecture;

use crate::build;
use crate::emulator::{Emulator, Started};
use crate::progress;
use deploys::{
    CDK_DEPLOY_FROM_NOTHING, CDK_DEPLOY_UNCHANGED, PLAIN_SCRIPT_FROM_NOTHING, StackFiles,
    WHOLE_DEPLOY_FROM_NOTHING, WHOLE_DEPLOY_UNCHANGED, provisioner_scenarios,
    whole_deploy_commands,
};
use host::{clean_build, command_output, commit, criterion_figures, machine};
use report::{Figure, Results, ratios, targets, write_results};
use sign_in::{NodeTriggers, Variant, sign_in_figures};

/// Added to every request for the critical-path runs: wall time / delay = sequential rounds.
pub(super) const ADDED_LATENCY: Duration = Duration::from_millis(100);
pub(super) const BENCH_USER: &str = "bench@example.com";

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Repetitions of each provisioner scenario.
    #[arg(long, default_value_t = 5)]
    pub(super) runs: usize,
    /// Warm sign-ins per trigger variant (p95 wants at least 50).
    #[arg(long, default_value_t = 50)]
    pub(super) sign_ins: usize,
    /// Cold sign-ins (each on fresh function environments) per trigger variant.
    #[arg(long, default_value_t = 50)]
    pub(super) cold_sign_ins: usize,
    /// Skip the clean builds (several minutes on two cores).
    #[arg(long)]
    pub(super) skip_clean_builds: bool,
    /// Concurrent sign-ins through the sign-in service, each as its own user.
    #[arg(long, default_value_t = 50)]
    pub(super) load_concurrency: usize,
    /// How long the service is kept under that load.
    #[arg(long, default_value_t = 20)]
    pub(super) load_seconds: u64,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let artifacts = build::build(Architecture::X86_64, false)?;
    let emulator = Emulator::from_env();
    let started = emulator.start()?;
    let outcome = measure(args, &artifacts, &emulator);
    if matches!(started, Started::Now) {
        emulator.stop()?;
    }
    let mut results = outcome?;
    results.targets = targets(&results)?;
    results.ratios = ratios(&results);
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

    progress::step("preparing CDK on the emulator (npm packages, bootstrap)");
    let account = runtime
        .block_on(provisioner::session::Session::open(&stacks.fresh(128)?))?
        .observation
        .names
        .account;
    let cdk = match cdk::Cdk::prepare(&emulator.endpoint(), &account, &artifacts.dir) {
        Ok(cdk) => Some(cdk),
        Err(error) => {
            eprintln!("CDK cannot run here, so its figures are reported missing: {error:#}");
            results.missing.push(format!("CDK: {error:#}"));
            None
        }
    };
    progress::step(&format!(
        "whole deploy commands side by side (ours, CDK, a plain script), {} runs",
        args.runs
    ));
    let whole = runtime.block_on(whole_deploy_commands(
        &stacks,
        args.runs,
        artifacts,
        cdk.as_ref(),
    ))?;
    results.figures.push(Figure::millis(
        WHOLE_DEPLOY_FROM_NOTHING,
        &whole.ours_from_nothing,
    ));
    results.figures.push(Figure::millis(
        WHOLE_DEPLOY_UNCHANGED,
        &whole.ours_unchanged,
    ));
    if let Some((from_nothing, unchanged)) = &whole.cdk {
        results
            .figures
            .push(Figure::millis(CDK_DEPLOY_FROM_NOTHING, from_nothing));
        results
            .figures
            .push(Figure::millis(CDK_DEPLOY_UNCHANGED, unchanged));
    }
    results
        .figures
        .push(Figure::millis(PLAIN_SCRIPT_FROM_NOTHING, &whole.plain));
    for (label, runs) in [
        ("from nothing", &whole.phases_from_nothing),
        ("unchanged", &whole.phases_unchanged),
    ] {
        results.figures.extend(phase_figures(label, runs));
    }

    progress::step("whole drift commands on a fresh copy of the checkout");
    let stack = stacks.fresh(128)?;
    let session = runtime.block_on(provisioner::session::Session::open(&stack))?;
    runtime.block_on(session.deploy(artifacts, &deploys::silent))?;
    let build_runs = if args.skip_clean_builds { 0 } else { 1 };
    let (without_build, with_build) =
        fresh_copy::whole_drift_on_fresh_copy(&stack, args.runs, build_runs)?;
    runtime.block_on(async {
        provisioner::session::Session::open(&stack)
            .await?
            .teardown(provisioner::session::FORCE, &deploys::silent)
            .await
    })?;
    results.figures.push(Figure::millis(
        fresh_copy::WHOLE_DRIFT_FRESH_COPY,
        &without_build,
    ));
    if with_build.is_empty() {
        results.missing.push(format!(
            "{}: skipped with --skip-clean-builds",
            fresh_copy::WHOLE_DRIFT_BUILD_FRESH_COPY
        ));
    } else {
        results.figures.push(Figure::millis(
            fresh_copy::WHOLE_DRIFT_BUILD_FRESH_COPY,
            &with_build,
        ));
    }

    progress::step(&format!(
        "critical path: {} ms added to every request",
        ADDED_LATENCY.as_millis()
    ));
    let delayed = ConnectOptions {
        added_latency: Some(ADDED_LATENCY),
        ..ConnectOptions::default()
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

    progress::step(&format!(
        "the sign-in service: one at a time, then {} at once for {} s",
        args.load_concurrency, args.load_seconds
    ));
    results
        .figures
        .extend(runtime.block_on(service::service_figures(&stacks, artifacts, &node, args))?);

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

/// One figure per phase of the whole deploy, in the order the command runs them.
fn phase_figures(label: &str, runs: &[Vec<(String, f64)>]) -> Vec<Figure> {
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in runs.iter().flatten() {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let values = runs
                .iter()
                .map(|run| {
                    run.iter()
                        .filter(|(n, _)| n == name)
                        .map(|(_, ms)| ms)
                        .sum()
                })
                .collect();
            Figure::new(
                format!("whole `cargo xtask deploy` {label}, phase: {name}"),
                "ms",
                values,
            )
        })
        .collect()
}
