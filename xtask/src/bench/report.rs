//! Figures, the targets they are judged against, and the two result files.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use super::deploys::{
    CDK_DEPLOY_FROM_NOTHING, CDK_DEPLOY_UNCHANGED, PLAIN_SCRIPT_FROM_NOTHING,
    WHOLE_DEPLOY_FROM_NOTHING, WHOLE_DEPLOY_UNCHANGED,
};
use super::sign_in::Variant;
use crate::project_root;

#[derive(Debug, Serialize)]
pub(super) struct Figure {
    pub(super) name: String,
    pub(super) unit: &'static str,
    pub(super) samples: usize,
    pub(super) min: f64,
    pub(super) median: f64,
    pub(super) p95: f64,
    pub(super) max: f64,
}

impl Figure {
    pub(super) fn new(name: impl Into<String>, unit: &'static str, mut values: Vec<f64>) -> Self {
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

    pub(super) fn millis(name: impl Into<String>, durations: &[Duration]) -> Self {
        Self::new(
            name,
            "ms",
            durations.iter().map(|d| d.as_secs_f64() * 1000.0).collect(),
        )
    }
}

/// Requests of one run, per service: (reads, writes).
pub(super) type Calls = BTreeMap<String, (usize, usize)>;

#[derive(Debug, Default, Serialize)]
pub(super) struct Results {
    pub(super) machine: BTreeMap<&'static str, String>,
    pub(super) date: String,
    pub(super) commit: String,
    pub(super) emulator: &'static str,
    pub(super) figures: Vec<Figure>,
    pub(super) calls: BTreeMap<String, Calls>,
    pub(super) targets: Vec<Target>,
    /// Ratios between figures of this run, each named by what it compares.
    pub(super) ratios: Vec<(String, f64)>,
    /// What could not be measured in this run, and why; such figures are absent, never
    /// taken from elsewhere.
    pub(super) missing: Vec<String>,
}

/// One of the targets against the figure that measures it. Reported, never enforced.
#[derive(Debug, Serialize)]
pub(super) struct Target {
    pub(super) what: String,
    pub(super) target: String,
    pub(super) measured: String,
    pub(super) met: bool,
}

/// MiniStack 1.5.33 keeps a new or updated function Pending or InProgress this long, and
/// deploy reports the stack ready only once every function is Active: the targets for
/// deploys that create or update functions are stated beyond this window.
pub(super) const PENDING_WINDOW_MS: f64 = 500.0;

/// Ratios of this run's medians: how many times faster than CDK, how close to the floor.
pub(super) fn ratios(results: &Results) -> Vec<(String, f64)> {
    let median = |name: &str| {
        results
            .figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.median)
    };
    let mut ratios = Vec::new();
    for (what, numerator, denominator) in [
        (
            "whole `cdk deploy` / whole `cargo xtask deploy`, from nothing",
            CDK_DEPLOY_FROM_NOTHING,
            WHOLE_DEPLOY_FROM_NOTHING,
        ),
        (
            "whole `cdk deploy` / whole `cargo xtask deploy`, unchanged",
            CDK_DEPLOY_UNCHANGED,
            WHOLE_DEPLOY_UNCHANGED,
        ),
        (
            "whole `cargo xtask deploy` / plain script, from nothing",
            WHOLE_DEPLOY_FROM_NOTHING,
            PLAIN_SCRIPT_FROM_NOTHING,
        ),
        (
            "the provisioner's deploy (in-process) / plain script, from nothing",
            "deploy from nothing",
            PLAIN_SCRIPT_FROM_NOTHING,
        ),
    ] {
        if let (Some(a), Some(b)) = (median(numerator), median(denominator)) {
            ratios.push((what.to_owned(), a / b));
        }
    }
    ratios
}

pub(super) fn targets(results: &Results) -> Result<Vec<Target>> {
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
    // Against `cdk deploy` measured in this same run; missing when CDK could not run here.
    let speedup_over_cdk = |what: &str, ours: &str, cdk: &str| -> Result<Target> {
        let ours = median(ours)?;
        let (measured, met) = match results.figures.iter().find(|f| f.name == cdk) {
            Some(cdk) => {
                let speedup = cdk.median / ours;
                (format!("{speedup:.1} times"), speedup >= 5.0)
            }
            None => ("missing: CDK did not run".to_owned(), false),
        };
        Ok(Target {
            what: format!("{what}, against `cdk deploy` in the same run"),
            target: "≥ 5 times faster".to_owned(),
            measured,
            met,
        })
    };
    let mut zips = Vec::new();
    for zip in [
        "define-auth-challenge",
        "create-auth-challenge",
        "verify-auth-challenge",
    ] {
        zips.push(at_most(
            &format!("zip size, {zip}.zip"),
            median(&format!("zip size, {zip}.zip"))? * 1024.0 / 1e6,
            3.0,
            "MB",
        ));
    }
    Ok([
        at_most(
            "deploy from nothing (includes the emulator's Pending window)",
            median("deploy from nothing")?,
            PENDING_WINDOW_MS + 150.0,
            "ms",
        ),
        at_most(
            "one-field update (includes the emulator's InProgress window)",
            median("one-field update")?,
            PENDING_WINDOW_MS + 150.0,
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
        at_most(
            "whole `cargo xtask drift` on a fresh copy of the checkout",
            median(super::fresh_copy::WHOLE_DRIFT_FRESH_COPY)?,
            2000.0,
            "ms",
        ),
        at_most("drift, writes", writes("drift") as f64, 0.0, "calls"),
        speedup_over_cdk(
            "whole `cargo xtask deploy` from nothing",
            WHOLE_DEPLOY_FROM_NOTHING,
            CDK_DEPLOY_FROM_NOTHING,
        )?,
        speedup_over_cdk(
            "whole `cargo xtask deploy` unchanged",
            WHOLE_DEPLOY_UNCHANGED,
            CDK_DEPLOY_UNCHANGED,
        )?,
        Target {
            what: "cold sign-in, Rust against Node.js tutorial triggers".to_owned(),
            target: "≥ 5 times faster".to_owned(),
            measured: format!("{cold_speedup:.1} times"),
            met: cold_speedup >= 5.0,
        },
        Target {
            what: "warm sign-in, Rust against do-nothing triggers that still send the email"
                .to_owned(),
            target: "within 15 % (with the abuse limits' table write)".to_owned(),
            measured: format!("{warm_overhead:+.1} %"),
            met: warm_overhead <= 15.0,
        },
    ]
    .into_iter()
    .chain(zips)
    .collect())
}

pub(super) fn write_results(results: &Results) -> Result<()> {
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
    if !results.ratios.is_empty() {
        md.push_str("\n## Ratios in this run\n\n| Ratio of medians | Value |\n|---|---|\n");
        for (what, ratio) in &results.ratios {
            md.push_str(&format!("| {what} | {ratio:.2} |\n"));
        }
    }
    if !results.missing.is_empty() {
        md.push_str("\n## Not measured in this run\n\n");
        for why in &results.missing {
            md.push_str(&format!("- {why}\n"));
        }
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
            ("deploy from nothing".to_owned(), 620.0),
            ("one-field update".to_owned(), 600.0),
            (
                "deploy from nothing: sequential round trips".to_owned(),
                6.0,
            ),
            ("no-op deploy".to_owned(), 40.0),
            ("no-op deploy: sequential round trips".to_owned(), 2.4),
            ("drift".to_owned(), 40.0),
            (
                super::super::fresh_copy::WHOLE_DRIFT_FRESH_COPY.to_owned(),
                2500.0,
            ),
            (WHOLE_DEPLOY_FROM_NOTHING.to_owned(), 500.0),
            (WHOLE_DEPLOY_UNCHANGED.to_owned(), 500.0),
            (CDK_DEPLOY_FROM_NOTHING.to_owned(), 5000.0),
            (CDK_DEPLOY_UNCHANGED.to_owned(), 2000.0),
            (PLAIN_SCRIPT_FROM_NOTHING.to_owned(), 400.0),
            whole_sign_in("cold", Variant::Rust, 50.0),
            whole_sign_in("cold", Variant::NodeTutorial, 300.0),
            whole_sign_in("warm", Variant::Rust, 32.0),
            whole_sign_in("warm", Variant::NodeNoop, 30.0),
            ("zip size, define-auth-challenge.zip".to_owned(), 2000.0),
            ("zip size, create-auth-challenge.zip".to_owned(), 2100.0),
            ("zip size, verify-auth-challenge.zip".to_owned(), 3500.0),
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
                "no-op deploy, sequential round trips",
                "whole `cargo xtask drift` on a fresh copy of the checkout",
                "whole `cargo xtask deploy` unchanged, against `cdk deploy` in the same run",
                "zip size, verify-auth-challenge.zip"
            ]
        );
        assert_eq!(reported.len(), 16);
        let ratios = ratios(&results_with(&figures, 1));
        assert_eq!(ratios[0].1, 10.0, "{ratios:?}");
        assert_eq!(ratios[2].1, 1.25, "{ratios:?}");

        // Without CDK in the run, its targets read missing: never a figure from elsewhere.
        let without_cdk: Vec<_> = figures
            .iter()
            .filter(|(name, _)| !name.contains("cdk deploy"))
            .cloned()
            .collect();
        let reported = targets(&results_with(&without_cdk, 0)).unwrap();
        let cdk_targets: Vec<&Target> = reported
            .iter()
            .filter(|t| t.what.contains("cdk deploy"))
            .collect();
        assert_eq!(cdk_targets.len(), 2);
        assert!(
            cdk_targets
                .iter()
                .all(|t| !t.met && t.measured.starts_with("missing"))
        );

        let incomplete = results_with(&figures[1..], 0);
        let error = targets(&incomplete).unwrap_err().to_string();
        assert!(error.contains("\"deploy from nothing\""), "{error}");
    }
}
