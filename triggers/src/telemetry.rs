//! What the triggers say about themselves: one JSON object per invocation (the trigger, its
//! outcome, the request id, how long it took, the account's key), with the invocation's
//! metrics in CloudWatch's embedded metric format, so CloudWatch Logs turns the same line
//! into metrics without a call on the hot path. Never a code, an address or a token: the
//! account is its limits key (a hash of pool and name), and a failure is its error code.

use serde_json::{Map, Value, json};

/// The metric namespace; every metric has the one dimension [`STACK_DIMENSION`].
pub const NAMESPACE: &str = "emailcode";
pub const STACK_DIMENSION: &str = "Stack";

/// The counters the triggers emit, each 1 on the invocation it happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    CodesSent,
    SendFailures,
    BudgetRefusals,
    CeilingRefusals,
    Lockouts,
    WrongAnswers,
    SignInsCompleted,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Self::CodesSent,
        Self::SendFailures,
        Self::BudgetRefusals,
        Self::CeilingRefusals,
        Self::Lockouts,
        Self::WrongAnswers,
        Self::SignInsCompleted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::CodesSent => "CodesSent",
            Self::SendFailures => "SendFailures",
            Self::BudgetRefusals => "BudgetRefusals",
            Self::CeilingRefusals => "CeilingRefusals",
            Self::Lockouts => "Lockouts",
            Self::WrongAnswers => "WrongAnswers",
            Self::SignInsCompleted => "SignInsCompleted",
        }
    }
}

/// One invocation, as its log line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation<'a> {
    /// `define`, `create`, `verify` or `pre-sign-up`.
    pub trigger: &'static str,
    /// What happened, one of a few words per trigger (`sent`, `refused_budget`, `wrong`, ...).
    pub outcome: &'static str,
    pub request_id: &'a str,
    pub latency_ms: u64,
    /// The account's limits key, when the invocation concerns one.
    pub account: Option<&'a str>,
    /// An error code that explains a failure (`Throttling`, `timeout`), never a message.
    pub detail: Option<&'a str>,
    /// Reads made whatever the account (`pending_sign_up`), so their timing tells nothing.
    pub lookups: &'a [&'static str],
    pub metrics: &'a [Metric],
}

/// The stack a function belongs to, from its name (`<stack>-<binary>`), which Lambda sets
/// as `AWS_LAMBDA_FUNCTION_NAME`: the dimension needs no variable of its own.
pub fn stack_of(function_name: &str, binary: &str) -> String {
    function_name
        .strip_suffix(binary)
        .and_then(|s| s.strip_suffix('-'))
        .unwrap_or(function_name)
        .to_owned()
}

/// The invocation's line: its fields, and `_aws` declaring its metrics (each present as 1).
pub fn line(invocation: &Invocation<'_>, stack: &str, now_ms: u64) -> String {
    let mut fields = Map::new();
    fields.insert(
        "level".into(),
        json!(if invocation.metrics.contains(&Metric::SendFailures) {
            "ERROR"
        } else {
            "INFO"
        }),
    );
    fields.insert("trigger".into(), json!(invocation.trigger));
    fields.insert("outcome".into(), json!(invocation.outcome));
    fields.insert("requestId".into(), json!(invocation.request_id));
    fields.insert("latencyMs".into(), json!(invocation.latency_ms));
    if let Some(account) = invocation.account {
        fields.insert("account".into(), json!(account));
    }
    if let Some(detail) = invocation.detail {
        fields.insert("detail".into(), json!(detail));
    }
    if !invocation.lookups.is_empty() {
        fields.insert("lookups".into(), json!(invocation.lookups));
    }
    fields.insert(STACK_DIMENSION.into(), json!(stack));
    if !invocation.metrics.is_empty() {
        for metric in invocation.metrics {
            fields.insert(metric.name().into(), json!(1));
        }
        let declared: Vec<Value> = invocation
            .metrics
            .iter()
            .map(|m| json!({ "Name": m.name(), "Unit": "Count" }))
            .collect();
        fields.insert(
            "_aws".into(),
            json!({
                "Timestamp": now_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[STACK_DIMENSION]],
                    "Metrics": declared,
                }],
            }),
        );
    }
    Value::Object(fields).to_string()
}

/// A line about a fault outside any one outcome (the limits table unreachable): its level,
/// what happened, and an error code.
pub fn warning(message: &'static str, detail: &str) -> String {
    json!({ "level": "WARN", "message": message, "detail": detail }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation<'a>(metrics: &'a [Metric]) -> Invocation<'a> {
        Invocation {
            trigger: "create",
            outcome: "sent",
            request_id: "5f1c-req",
            latency_ms: 42,
            account: Some("acct#9f2b"),
            detail: None,
            lookups: &["pending_sign_up"],
            metrics,
        }
    }

    #[test]
    fn a_line_is_one_json_object_with_its_metrics_declared_in_emf() {
        let text = line(
            &invocation(&[Metric::CodesSent]),
            "acme-dev",
            1_800_000_000_000,
        );
        assert!(!text.contains('\n'));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["outcome"], "sent");
        assert_eq!(value["requestId"], "5f1c-req");
        assert_eq!(value["account"], "acct#9f2b");
        assert_eq!(value["lookups"], json!(["pending_sign_up"]));
        assert_eq!(value["Stack"], "acme-dev");
        assert_eq!(value["CodesSent"], 1);
        let declared = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Dimensions"], json!([["Stack"]]));
        assert_eq!(
            declared["Metrics"],
            json!([{ "Name": "CodesSent", "Unit": "Count" }])
        );
        assert_eq!(value["_aws"]["Timestamp"], 1_800_000_000_000u64);
    }

    #[test]
    fn a_line_without_metrics_declares_none() {
        let value: Value = serde_json::from_str(&line(&invocation(&[]), "s", 0)).unwrap();
        assert!(value.get("_aws").is_none());
        assert_eq!(value["level"], "INFO");
        let failed = line(&invocation(&[Metric::SendFailures]), "s", 0);
        assert!(failed.contains("\"level\":\"ERROR\""));
    }

    #[test]
    fn the_stack_comes_from_the_function_name() {
        assert_eq!(
            stack_of("acme-pr-17-create-auth-challenge", "create-auth-challenge"),
            "acme-pr-17"
        );
        assert_eq!(stack_of("odd", "create-auth-challenge"), "odd");
    }
}
