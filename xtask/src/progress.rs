//! Progress lines on stderr, so stdout stays clean for JSON output.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

pub fn step(message: &str) {
    eprintln!("==> {message}");
}

pub fn note(message: &str) {
    eprintln!("    {message}");
}

pub fn detail(message: &str) {
    if verbose() {
        eprintln!("    {message}");
    }
}

/// A spinner on a terminal while something slow and silent runs; a plain line otherwise.
/// It disappears when dropped.
pub struct Spinner(Option<indicatif::ProgressBar>);

pub fn spinner(message: &str) -> Spinner {
    if !std::io::stderr().is_terminal() {
        step(message);
        return Spinner(None);
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    Spinner(Some(bar))
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
