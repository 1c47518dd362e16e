//! What the bench reads off the host: trigger processes' peak memory in `/proc`, the
//! criterion figures, clean build times, the machine and the commit.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::report::Figure;
use crate::{cargo, project_root};

/// VmHWM of each running trigger process of `stack`, found by its function name.
pub(super) fn peak_memory(stack: &str) -> Vec<(String, f64)> {
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

pub(super) fn criterion_figures() -> Result<Vec<Figure>> {
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

pub(super) fn clean_build(name: &str, args: &[&str]) -> Result<Figure> {
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

pub(super) fn machine() -> BTreeMap<&'static str, String> {
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

pub(super) fn commit() -> Result<String> {
    let hash = command_output("git", &["rev-parse", "--short", "HEAD"])?;
    let dirty = !command_output("git", &["status", "--porcelain"])?.is_empty();
    Ok(if dirty {
        format!("{hash} (with uncommitted changes)")
    } else {
        hash
    })
}

pub(super) fn command_output(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(project_root())
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
