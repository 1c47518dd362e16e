//! Writes the invocation's line (`triggers::telemetry`) to stdout, where Lambda hands it to
//! CloudWatch Logs. The stack's name, for the metrics' dimension, is read once.

// Each binary includes this file and uses its own part of it.
#![allow(dead_code)]

use std::time::Instant;

use triggers::telemetry::{self, Invocation, Metric};

pub struct Log {
    trigger: &'static str,
    stack: String,
}

impl Log {
    /// `binary` is the function name's suffix (`create-auth-challenge`).
    pub fn from_env(trigger: &'static str, binary: &str) -> Self {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
        Self {
            trigger,
            stack: telemetry::stack_of(&function, binary),
        }
    }

    /// One line for the invocation that started at `started`.
    pub fn invocation(
        &self,
        outcome: &'static str,
        request_id: &str,
        started: Instant,
        account: Option<&str>,
        detail: Option<&str>,
        metrics: &[Metric],
    ) {
        self.invocation_after(outcome, request_id, started, account, detail, &[], metrics);
    }

    /// [`Log::invocation`], naming the `lookups` it made whatever the account.
    #[allow(clippy::too_many_arguments)]
    pub fn invocation_after(
        &self,
        outcome: &'static str,
        request_id: &str,
        started: Instant,
        account: Option<&str>,
        detail: Option<&str>,
        lookups: &[&'static str],
        metrics: &[Metric],
    ) {
        let line = telemetry::line(
            &Invocation {
                trigger: self.trigger,
                outcome,
                request_id,
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                account,
                detail,
                lookups,
                metrics,
            },
            &self.stack,
            triggers::deadline::now_ms(),
        );
        println!("{line}");
    }
}

/// A fault that is not an invocation's outcome (a table that did not answer).
pub fn warning(message: &'static str, detail: &str) {
    println!("{}", telemetry::warning(message, detail));
}
