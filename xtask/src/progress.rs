//! Progress lines on stderr, so stdout stays clean for JSON output.

use std::sync::atomic::{AtomicBool, Ordering};

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
