//! Where a whole `cargo xtask deploy` spends its time, for `cargo xtask bench`: with
//! `XTASK_PHASE_TIMES=<file>` set, deploy writes each phase's milliseconds there as JSON.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The variable that asks for the file.
pub const VARIABLE: &str = "XTASK_PHASE_TIMES";

static STARTED: OnceLock<Instant> = OnceLock::new();
static RECORDED: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());

/// Called first thing in `main`: the phases' clock starts with the process's own code.
pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

pub fn record(name: &str, took: Duration) {
    if let Ok(mut recorded) = RECORDED.lock() {
        recorded.push((name.to_owned(), took.as_secs_f64() * 1000.0));
    }
}

/// Runs `work` and records how long it took.
pub fn time<T>(name: &str, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    record(name, started.elapsed());
    result
}

/// Writes the phases, and the time since [`mark_start`], when the variable asks for it.
pub fn write_if_asked() -> anyhow::Result<()> {
    let Some(path) = std::env::var_os(VARIABLE) else {
        return Ok(());
    };
    let total = STARTED
        .get()
        .map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0);
    let phases = RECORDED.lock().map(|r| r.clone()).unwrap_or_default();
    let json = serde_json::json!({ "phases": phases, "xtask_ms": total });
    std::fs::write(path, json.to_string())?;
    Ok(())
}
