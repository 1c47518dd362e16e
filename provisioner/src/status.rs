//! `status`: the last hour and the last day of a deployed stack at a glance, from its
//! metrics (the triggers' own, in namespace `emailcode`, and the account's SES reputation)
//! and its alarms. Reads only.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use serde::Serialize;

use crate::error::{ProvisionError, aws_error};
use crate::session::Session;
use triggers::telemetry::{self, Metric as Counter};

/// What one window (the last hour, the last day) counted; `None` where no data came in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub label: &'static str,
    pub codes_sent: Option<f64>,
    pub send_failures: Option<f64>,
    pub budget_refusals: Option<f64>,
    pub ceiling_refusals: Option<f64>,
    pub lockouts: Option<f64>,
    pub wrong_answers: Option<f64>,
    pub sign_ins_completed: Option<f64>,
    /// The account's SES rates (a fraction), the highest in the window.
    pub bounce_rate: Option<f64>,
    pub complaint_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Firing {
    pub alarm: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub stack: String,
    pub windows: Vec<Window>,
    /// The stack's alarms in ALARM now.
    pub alarms: Vec<Firing>,
}

const WINDOWS: [(&str, u64); 2] = [("last hour", 3600), ("last day", 86_400)];
const SES_RATES: [&str; 2] = ["Reputation.BounceRate", "Reputation.ComplaintRate"];

/// The account's SES bounce and complaint rates over the last `seconds`, at their highest;
/// `None` where SES has published none (a new account, or one that sent nothing).
pub async fn ses_rates(
    clients: &crate::aws::Clients,
    seconds: u64,
) -> Result<(Option<f64>, Option<f64>), ProvisionError> {
    let now = SystemTime::now();
    let queries: Vec<MetricDataQuery> = queries("", seconds)
        .into_iter()
        .skip(Counter::ALL.len())
        .collect();
    let answer = clients
        .cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from(now - Duration::from_secs(seconds)))
        .end_time(DateTime::from(now))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                "the account's SES reputation",
                "cloudwatch:GetMetricData",
                e,
            )
        })?;
    let values: Vec<(String, Vec<f64>)> = answer
        .metric_data_results()
        .iter()
        .map(|r| (r.id().unwrap_or_default().to_owned(), r.values().to_vec()))
        .collect();
    let rates = window("", &values);
    Ok((rates.bounce_rate, rates.complaint_rate))
}

/// The queries of one window: each counter's sum and each SES rate's maximum, one data point
/// for the whole window. Ids are `m<index>`, the rates last.
fn queries(stack: &str, period: u64) -> Vec<MetricDataQuery> {
    let period = i32::try_from(period).unwrap_or(i32::MAX);
    let counters = Counter::ALL.iter().map(|counter| {
        let dimension = Dimension::builder()
            .name(telemetry::STACK_DIMENSION)
            .value(stack)
            .build();
        (telemetry::NAMESPACE, counter.name(), Some(dimension), "Sum")
    });
    let rates = SES_RATES
        .iter()
        .map(|name| ("AWS/SES", *name, None, "Maximum"));
    counters
        .chain(rates)
        .enumerate()
        .map(|(index, (namespace, name, dimension, stat))| {
            let metric = Metric::builder()
                .namespace(namespace)
                .metric_name(name)
                .set_dimensions(dimension.map(|d| vec![d]))
                .build();
            MetricDataQuery::builder()
                .id(format!("m{index}"))
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(period)
                        .stat(stat)
                        .build(),
                )
                .return_data(true)
                .build()
        })
        .collect()
}

/// One window from the answers, by query id: counters summed over the points returned, rates
/// at their highest.
fn window(label: &'static str, values: &[(String, Vec<f64>)]) -> Window {
    let of = |index: usize, combine: fn(&[f64]) -> f64| {
        values
            .iter()
            .find(|(id, _)| *id == format!("m{index}"))
            .map(|(_, v)| v.as_slice())
            .filter(|v| !v.is_empty())
            .map(combine)
    };
    let sum = |v: &[f64]| v.iter().sum();
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    let counter = |wanted: Counter| {
        let index = Counter::ALL
            .iter()
            .position(|c| *c == wanted)
            .unwrap_or(usize::MAX);
        of(index, sum)
    };
    Window {
        label,
        codes_sent: counter(Counter::CodesSent),
        send_failures: counter(Counter::SendFailures),
        budget_refusals: counter(Counter::BudgetRefusals),
        ceiling_refusals: counter(Counter::CeilingRefusals),
        lockouts: counter(Counter::Lockouts),
        wrong_answers: counter(Counter::WrongAnswers),
        sign_ins_completed: counter(Counter::SignInsCompleted),
        bounce_rate: of(Counter::ALL.len(), max),
        complaint_rate: of(Counter::ALL.len() + 1, max),
    }
}

pub async fn status(session: &Session) -> Result<Status, ProvisionError> {
    let stack = session.spec.name.as_str();
    let resource = format!("the metrics of stack {stack}");
    let cloudwatch = &session.clients.cloudwatch;
    let now = SystemTime::now();
    let mut windows = Vec::new();
    for (label, seconds) in WINDOWS {
        let start = now - Duration::from_secs(seconds);
        let mut values: Vec<(String, Vec<f64>)> = Vec::new();
        let mut pages = cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries(stack, seconds)))
            .start_time(DateTime::from(start))
            .end_time(DateTime::from(now))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error(&resource, "cloudwatch:GetMetricData", e))?;
            for result in page.metric_data_results() {
                let id = result.id().unwrap_or_default().to_owned();
                match values.iter_mut().find(|(known, _)| *known == id) {
                    Some((_, points)) => points.extend(result.values()),
                    None => values.push((id, result.values().to_vec())),
                }
            }
        }
        windows.push(window(label, &values));
    }
    let firing = cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{stack}-"))
        .state_value(StateValue::Alarm)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("the alarms of stack {stack}"),
                "cloudwatch:DescribeAlarms",
                e,
            )
        })?;
    let alarms = firing
        .metric_alarms()
        .iter()
        .map(|a| Firing {
            alarm: a.alarm_name().unwrap_or_default().to_owned(),
            reason: a.state_reason().unwrap_or_default().to_owned(),
        })
        .collect();
    Ok(Status {
        stack: stack.to_owned(),
        windows,
        alarms,
    })
}

/// The status as a person reads it.
pub fn text(status: &Status) -> String {
    let count = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let rate = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.2} %", v * 100.0));
    let mut out = format!("stack {}\n", status.stack);
    out.push_str(&format!("{:<20}", ""));
    for window in &status.windows {
        out.push_str(&format!("{:>12}", window.label));
    }
    out.push('\n');
    type Row = (&'static str, fn(&Window) -> Option<f64>, bool);
    let rows: [Row; 9] = [
        ("codes sent", |w| w.codes_sent, false),
        ("sign-ins completed", |w| w.sign_ins_completed, false),
        ("send failures", |w| w.send_failures, false),
        ("budget refusals", |w| w.budget_refusals, false),
        ("ceiling refusals", |w| w.ceiling_refusals, false),
        ("wrong answers", |w| w.wrong_answers, false),
        ("lockouts", |w| w.lockouts, false),
        ("SES bounce rate", |w| w.bounce_rate, true),
        ("SES complaint rate", |w| w.complaint_rate, true),
    ];
    for (name, value, is_rate) in rows {
        out.push_str(&format!("{name:<20}"));
        for window in &status.windows {
            let shown = if is_rate {
                rate(value(window))
            } else {
                count(value(window))
            };
            out.push_str(&format!("{shown:>12}"));
        }
        out.push('\n');
    }
    if status.alarms.is_empty() {
        out.push_str("alarms in ALARM: none\n");
    } else {
        out.push_str("alarms in ALARM:\n");
        for firing in &status.alarms {
            out.push_str(&format!("  {}: {}\n", firing.alarm, firing.reason));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_and_rates_take_their_highest_point() {
        let values = vec![
            ("m0".to_owned(), vec![3.0, 4.0]),
            ("m4".to_owned(), vec![1.0]),
            (format!("m{}", Counter::ALL.len()), vec![0.01, 0.03]),
        ];
        let window = window("last hour", &values);
        assert_eq!(window.codes_sent, Some(7.0));
        assert_eq!(window.lockouts, Some(1.0));
        assert_eq!(window.send_failures, None, "no data is not zero");
        assert_eq!(window.bounce_rate, Some(0.03));
        assert_eq!(window.complaint_rate, None);
        let queries = queries("acme", 3600);
        assert_eq!(queries.len(), Counter::ALL.len() + 2);
        let first = queries[0].metric_stat().unwrap();
        assert_eq!(first.metric().unwrap().metric_name(), Some("CodesSent"));
        assert_eq!(first.stat(), Some("Sum"));
    }

    #[test]
    fn the_text_shows_both_windows_and_what_is_firing() {
        let status = Status {
            stack: "acme".into(),
            windows: vec![
                window("last hour", &[("m0".into(), vec![5.0])]),
                window("last day", &[("m0".into(), vec![120.0])]),
            ],
            alarms: vec![Firing {
                alarm: "acme-send-failures".into(),
                reason: "Threshold Crossed".into(),
            }],
        };
        let text = text(&status);
        assert!(
            text.contains("codes sent                     5         120"),
            "{text}"
        );
        assert!(
            text.contains("  acme-send-failures: Threshold Crossed"),
            "{text}"
        );
    }
}
