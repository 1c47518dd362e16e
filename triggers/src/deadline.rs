//! What is left of an invocation's time. Cognito waits 5 s for a trigger, the function's own
//! timeout may be shorter (the spec allows 3 s), and Lambda hands each invocation its
//! deadline: every call a trigger makes gets at most what remains of it, so a slow table or
//! SES ends in the trigger's own answer (failing closed) rather than in a timeout.

use std::time::Duration;

/// Room left for answering Cognito after the trigger's own work.
pub const MARGIN: Duration = Duration::from_millis(300);

/// The time left before `deadline_ms` at `now_ms` (both milliseconds since the epoch), less
/// [`MARGIN`], and at most `cap`; zero when the deadline is that close or past.
pub fn budget(deadline_ms: u64, now_ms: u64, cap: Duration) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        .saturating_sub(MARGIN)
        .min(cap)
}

/// Milliseconds since the epoch, as Lambda states deadlines.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_what_remains_less_the_margin_and_at_most_the_cap() {
        let cap = Duration::from_millis(1500);
        assert_eq!(budget(10_000, 7_000, cap), cap);
        assert_eq!(budget(10_000, 9_000, cap), Duration::from_millis(700));
        assert_eq!(budget(10_000, 9_800, cap), Duration::ZERO);
        assert_eq!(budget(10_000, 11_000, cap), Duration::ZERO);
    }
}
