//! The stack's CloudWatch alarms: each trigger's errors, throttles and duration near its
//! timeout; the triggers' own metrics (any send failure or ceiling refusal, lockouts and
//! budget refusals above the spec's thresholds); and the account's SES bounce and complaint
//! rates before AWS's review thresholds; and Cognito throttling the pool's sign-ins. Each
//! notifies the alarm topic.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};

use super::{ApplyCx, Handover, Observed, ReadCx, Tagging};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{
    FieldChange, Fields, KNOWN_AFTER_APPLY, Tags, UpdateCall, list_field, map_field,
};
use crate::naming::{OWNER_TAG, TriggerKind};
use crate::spec::{AlarmsSpec, StackSpec};

/// Which alarm: the name's suffix says it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlarmKind {
    TriggerErrors(TriggerKind),
    TriggerThrottles(TriggerKind),
    TriggerDuration(TriggerKind),
    SendFailures,
    CeilingRefusals,
    Lockouts,
    BudgetRefusals,
    BounceRate,
    ComplaintRate,
    SignInThrottles,
}

impl AlarmKind {
    /// The suffix of the alarm's name, after the stack's.
    pub fn suffix(self) -> String {
        match self {
            Self::TriggerErrors(kind) => format!("{kind}-errors"),
            Self::TriggerThrottles(kind) => format!("{kind}-throttles"),
            Self::TriggerDuration(kind) => format!("{kind}-duration"),
            Self::SendFailures => "send-failures".to_owned(),
            Self::CeilingRefusals => "ceiling-refusals".to_owned(),
            Self::Lockouts => "lockouts".to_owned(),
            Self::BudgetRefusals => "budget-refusals".to_owned(),
            Self::BounceRate => "ses-bounce-rate".to_owned(),
            Self::ComplaintRate => "ses-complaint-rate".to_owned(),
            Self::SignInThrottles => "sign-in-throttles".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub kind: AlarmKind,
    pub name: String,
    pub arn: String,
    pub description: &'static str,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub dimensions: BTreeMap<String, String>,
    pub statistic: &'static str,
    pub period_seconds: u32,
    pub threshold: f64,
    pub comparison: &'static str,
    /// The topic each change of state notifies.
    pub actions: Vec<String>,
    pub tags: Tags,
}

impl Eq for Desired {}

const ALARM: UpdateCall = UpdateCall {
    operation: "cloudwatch:PutMetricAlarm",
    fields: &[
        "description",
        "metric",
        "dimensions",
        "condition",
        "actions",
    ],
};
const TAGS: UpdateCall = UpdateCall {
    operation: "cloudwatch:TagResource",
    fields: &["tags"],
};
pub const UPDATES: &[UpdateCall] = &[ALARM, TAGS];
pub const REPLACE_ON: &[&str] = &[];

/// No data is no trouble: a quiet stack is not an alarm.
const TREAT_MISSING: &str = "notBreaching";
/// AWS reviews an account at 5 % bounces and 0.1 % complaints, and pauses it at 10 % and 0.5 %;
/// the alarms (and `doctor`) speak up before that.
pub const BOUNCE_RATE: f64 = 0.04;
pub const COMPLAINT_RATE: f64 = 0.0008;

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([
            ("description", self.description.to_owned()),
            (
                "metric",
                format!(
                    "{}/{} {} over {} s",
                    self.namespace, self.metric, self.statistic, self.period_seconds
                ),
            ),
            ("dimensions", map_field(&self.dimensions)),
            (
                "condition",
                condition(self.comparison, self.threshold, TREAT_MISSING),
            ),
            ("actions", list_field(&self.actions)),
            ("tags", super::tags_field(&self.tags)),
        ])
    }
}

fn condition(comparison: &str, threshold: f64, missing: &str) -> String {
    format!("{comparison} {threshold} (missing data: {missing})")
}

/// Every alarm the spec's `alarms` section asks for, notifying `topic_arn`.
pub fn desired(
    spec: &StackSpec,
    alarms: &AlarmsSpec,
    names: &crate::naming::Names,
    triggers: &[TriggerKind],
    topic_arn: &str,
    tags: &Tags,
) -> Vec<Desired> {
    let timeout_ms = f64::from(spec.triggers.timeout_seconds.get()) * 1000.0;
    let stack = BTreeMap::from([(
        triggers::telemetry::STACK_DIMENSION.to_owned(),
        names.stack.clone(),
    )]);
    let mut all = Vec::new();
    let mut add = |kind: AlarmKind,
                   description: &'static str,
                   (namespace, metric): (&'static str, &'static str),
                   dimensions: BTreeMap<String, String>,
                   statistic: &'static str,
                   period_seconds: u32,
                   (comparison, threshold): (&'static str, f64)| {
        let name = names.alarm(&kind.suffix());
        all.push(Desired {
            kind,
            arn: names.alarm_arn(&name),
            name,
            description,
            namespace,
            metric,
            dimensions,
            statistic,
            period_seconds,
            threshold,
            comparison,
            actions: vec![topic_arn.to_owned()],
            tags: tags.clone(),
        });
    };
    for &kind in triggers {
        let function = BTreeMap::from([("FunctionName".to_owned(), names.function(kind))]);
        add(
            AlarmKind::TriggerErrors(kind),
            "The trigger failed (it crashed, or timed out): sign-ins fail. Look at its log group.",
            ("AWS/Lambda", "Errors"),
            function.clone(),
            "Sum",
            300,
            ("GreaterThanOrEqualToThreshold", 1.0),
        );
        add(
            AlarmKind::TriggerThrottles(kind),
            "Lambda throttled the trigger: the account's concurrency is used up, sign-ins fail. Raise the account's concurrency or reserve some for the stack.",
            ("AWS/Lambda", "Throttles"),
            function.clone(),
            "Sum",
            300,
            ("GreaterThanOrEqualToThreshold", 1.0),
        );
        add(
            AlarmKind::TriggerDuration(kind),
            "The trigger ran for over 80 % of its timeout: a slow table or SES; past the timeout Cognito fails the sign-in.",
            ("AWS/Lambda", "Duration"),
            function,
            "Maximum",
            300,
            ("GreaterThanOrEqualToThreshold", timeout_ms * 0.8),
        );
    }
    add(
        AlarmKind::SendFailures,
        "SES refused or did not answer a send: that person got no code. The log line's detail says why.",
        (triggers::telemetry::NAMESPACE, "SendFailures"),
        stack.clone(),
        "Sum",
        300,
        ("GreaterThanOrEqualToThreshold", 1.0),
    );
    add(
        AlarmKind::CeilingRefusals,
        "The stack-wide ceiling on sign-ins an hour is reached: every account is refused until the hour ends.",
        (triggers::telemetry::NAMESPACE, "CeilingRefusals"),
        stack.clone(),
        "Sum",
        300,
        ("GreaterThanOrEqualToThreshold", 1.0),
    );
    add(
        AlarmKind::Lockouts,
        "Many accounts locked by wrong codes within an hour: someone is guessing.",
        (triggers::telemetry::NAMESPACE, "Lockouts"),
        stack.clone(),
        "Sum",
        3600,
        (
            "GreaterThanThreshold",
            f64::from(alarms.lockouts_per_hour.get()),
        ),
    );
    add(
        AlarmKind::BudgetRefusals,
        "Many sign-ins refused for a spent send budget within an hour: someone floods addresses.",
        (triggers::telemetry::NAMESPACE, "BudgetRefusals"),
        stack,
        "Sum",
        3600,
        (
            "GreaterThanThreshold",
            f64::from(alarms.budget_refusals_per_hour.get()),
        ),
    );
    add(
        AlarmKind::BounceRate,
        "The account's SES bounce rate nears 5 %, where AWS reviews it (and pauses sending, for every stack of the account, at 10 %).",
        ("AWS/SES", "Reputation.BounceRate"),
        BTreeMap::new(),
        "Maximum",
        3600,
        ("GreaterThanOrEqualToThreshold", BOUNCE_RATE),
    );
    add(
        AlarmKind::ComplaintRate,
        "The account's SES complaint rate nears 0.1 %, where AWS reviews it (and pauses sending at 0.5 %).",
        ("AWS/SES", "Reputation.ComplaintRate"),
        BTreeMap::new(),
        "Maximum",
        3600,
        ("GreaterThanOrEqualToThreshold", COMPLAINT_RATE),
    );
    all
}

/// Cognito's dimensions for one app client of one pool.
const POOL_DIMENSION: &str = "UserPool";
const CLIENT_DIMENSION: &str = "UserPoolClient";

/// Cognito throttling the app client's sign-ins: the pool's request quota is used up. Its
/// dimensions name the pool and client ids, known after apply for a new stack.
pub fn sign_in_throttles(
    names: &crate::naming::Names,
    app_client: Option<(&str, &str)>,
    topic_arn: &str,
    tags: &Tags,
) -> Desired {
    let (pool, client) = app_client.unwrap_or((KNOWN_AFTER_APPLY, KNOWN_AFTER_APPLY));
    let name = names.alarm(&AlarmKind::SignInThrottles.suffix());
    Desired {
        kind: AlarmKind::SignInThrottles,
        arn: names.alarm_arn(&name),
        name,
        description: "Cognito throttled sign-ins: the pool's request rate quota is used up and people cannot sign in. Look for a flood in the triggers' logs, or ask AWS for a higher quota.",
        namespace: "AWS/Cognito",
        metric: "SignInThrottles",
        dimensions: BTreeMap::from([
            (POOL_DIMENSION.to_owned(), pool.to_owned()),
            (CLIENT_DIMENSION.to_owned(), client.to_owned()),
        ]),
        statistic: "Sum",
        period_seconds: 300,
        threshold: 1.0,
        comparison: "GreaterThanOrEqualToThreshold",
        actions: vec![topic_arn.to_owned()],
        tags: tags.clone(),
    }
}

pub fn fields_of(
    alarm: &MetricAlarm,
    tags: &BTreeMap<String, String>,
    tagging: &Tagging,
) -> Fields {
    let dimensions: BTreeMap<&str, &str> = alarm
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap_or_default(), d.value().unwrap_or_default()))
        .collect();
    Fields::from([
        (
            "description",
            alarm.alarm_description().unwrap_or_default().to_owned(),
        ),
        (
            "metric",
            format!(
                "{}/{} {} over {} s",
                alarm.namespace().unwrap_or_default(),
                alarm.metric_name().unwrap_or_default(),
                alarm.statistic().map_or("", |s| s.as_str()),
                alarm.period().unwrap_or_default()
            ),
        ),
        ("dimensions", map_field(dimensions)),
        (
            "condition",
            condition(
                alarm.comparison_operator().map_or("", |c| c.as_str()),
                alarm.threshold().unwrap_or_default(),
                alarm.treat_missing_data().unwrap_or_default(),
            ),
        ),
        ("actions", list_field(alarm.alarm_actions())),
        ("tags", tagging.field(tags)),
    ])
}

/// The stack's alarms as they are, by name: one listing by the stack's prefix, then each
/// alarm's tags.
pub async fn read_all(
    cx: &ReadCx<'_>,
    wanted: &[String],
) -> Result<BTreeMap<String, Observed>, ProvisionError> {
    let prefix = format!("{}-", cx.names.stack);
    let mut found = Vec::new();
    let mut pages = cx
        .clients
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            aws_error(
                format!("the alarms of stack {}", cx.names.stack),
                "cloudwatch:DescribeAlarms",
                e,
            )
        })?;
        found.extend(
            page.metric_alarms()
                .iter()
                .filter(|a| {
                    a.alarm_name()
                        .is_some_and(|n| wanted.iter().any(|w| w == n))
                })
                .cloned(),
        );
    }
    let tagged = futures_util::future::try_join_all(found.into_iter().map(|alarm| async move {
        let name = alarm.alarm_name().unwrap_or_default().to_owned();
        let tags: BTreeMap<String, String> = cx
            .clients
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(alarm.alarm_arn().unwrap_or_default())
            .send()
            .await
            .map_err(|e| aws_error(format!("alarm {name}"), "cloudwatch:ListTagsForResource", e))?
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect();
        let observed = if cx.tagging.owns(tags.get(OWNER_TAG).map(String::as_str)) {
            Observed::Owned(fields_of(&alarm, &tags, cx.tagging))
        } else {
            Observed::Unowned
        };
        Ok::<_, ProvisionError>((name, observed))
    }))
    .await?;
    Ok(tagged.into_iter().collect())
}

/// CloudWatch's tags (this SDK's `Tag` builds without checking its fields).
fn cloudwatch_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// The dimensions to send: any the plan could not know yet (a new pool or client) come
/// from what the earlier stages made.
fn resolved_dimensions(
    desired: &Desired,
    handover: &Handover,
) -> Result<Vec<Dimension>, ProvisionError> {
    desired
        .dimensions
        .iter()
        .map(|(name, value)| {
            let value = if value == KNOWN_AFTER_APPLY {
                let (pool, client) = handover.app_client(&format!("alarm {}", desired.name))?;
                if name == POOL_DIMENSION { pool } else { client }
            } else {
                value
            };
            Ok(Dimension::builder().name(name).value(value).build())
        })
        .collect()
}

/// PutMetricAlarm creates and updates alike, with the whole alarm.
pub async fn put(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    handover: &Handover,
) -> Result<(), ProvisionError> {
    let dimensions = resolved_dimensions(desired, handover)?;
    cx.clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&desired.name)
        .alarm_description(desired.description)
        .namespace(desired.namespace)
        .metric_name(desired.metric)
        .set_dimensions(Some(dimensions))
        .statistic(Statistic::from(desired.statistic))
        .period(i32::try_from(desired.period_seconds).unwrap_or(i32::MAX))
        .evaluation_periods(1)
        .threshold(desired.threshold)
        .comparison_operator(ComparisonOperator::from(desired.comparison))
        .treat_missing_data(TREAT_MISSING)
        .set_alarm_actions(Some(desired.actions.clone()))
        .set_ok_actions(Some(desired.actions.clone()))
        .set_tags(Some(cloudwatch_tags(&desired.tags)))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("alarm {}", desired.name),
                "cloudwatch:PutMetricAlarm",
                e,
            )
        })?;
    Ok(())
}

pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
    handover: &Handover,
) -> Result<(), ProvisionError> {
    if ALARM.needed_for(changes) {
        put(cx, desired, handover).await?;
    }
    if TAGS.needed_for(changes) {
        cx.clients
            .cloudwatch
            .tag_resource()
            .resource_arn(&desired.arn)
            .set_tags(Some(cloudwatch_tags(&desired.tags)))
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("alarm {}", desired.name),
                    "cloudwatch:TagResource",
                    e,
                )
            })?;
    }
    Ok(())
}

pub async fn delete(cx: &ApplyCx<'_>, name: &str) -> Result<(), ProvisionError> {
    already_gone_is_done(
        cx.clients
            .cloudwatch
            .delete_alarms()
            .alarm_names(name)
            .send()
            .await,
        |e| e.is_resource_not_found(),
        format!("alarm {name}"),
        "cloudwatch:DeleteAlarms",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::{assert_kind_is_consistent, fixture_context};

    fn spec() -> StackSpec {
        StackSpec::parse(
            std::path::Path::new("stack.yaml"),
            "name: acme\nregion: us-east-1\nemail:\n  from: no-reply@acme.example\nalarms:\n  email: ops@acme.example\n  lockouts_per_hour: 7\n",
        )
        .unwrap()
    }

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update() {
        let (names, tagging, tags, _) = fixture_context();
        let spec = spec();
        let alarms = desired(
            &spec,
            spec.alarms.as_ref().unwrap(),
            &names,
            &TriggerKind::CUSTOM_AUTH,
            &names.alarm_topic_arn(),
            &tags,
        );
        assert_eq!(alarms.len(), 3 * 3 + 6);
        let throttles = sign_in_throttles(
            &names,
            Some(("us-east-1_AbC", "3nx8q")),
            &names.alarm_topic_arn(),
            &tags,
        );
        for alarm in alarms.iter().chain([&throttles]) {
            let live = MetricAlarm::builder()
                .alarm_name(&alarm.name)
                .alarm_description(alarm.description)
                .namespace(alarm.namespace)
                .metric_name(alarm.metric)
                .set_dimensions(Some(
                    alarm
                        .dimensions
                        .iter()
                        .map(|(n, v)| Dimension::builder().name(n).value(v).build())
                        .collect(),
                ))
                .statistic(Statistic::from(alarm.statistic))
                .period(alarm.period_seconds as i32)
                .threshold(alarm.threshold)
                .comparison_operator(ComparisonOperator::from(alarm.comparison))
                .treat_missing_data(TREAT_MISSING)
                .set_alarm_actions(Some(alarm.actions.clone()))
                .build();
            let read = fields_of(&live, &tags, &tagging);
            assert_eq!(read, alarm.fields(), "{}", alarm.name);
            assert_kind_is_consistent(&alarm.fields(), &read, UPDATES, REPLACE_ON);
        }
    }

    #[test]
    fn thresholds_come_from_the_spec_and_stay_below_aws_review_levels() {
        let (names, _, tags, _) = fixture_context();
        let spec = spec();
        let alarms = desired(
            &spec,
            spec.alarms.as_ref().unwrap(),
            &names,
            &[TriggerKind::Define],
            "arn:t",
            &tags,
        );
        let find = |kind| alarms.iter().find(|a| a.kind == kind).unwrap();
        assert_eq!(find(AlarmKind::Lockouts).threshold, 7.0);
        assert_eq!(find(AlarmKind::BudgetRefusals).threshold, 100.0);
        assert!(find(AlarmKind::BounceRate).threshold < 0.05);
        assert!(find(AlarmKind::ComplaintRate).threshold < 0.001);
        assert_eq!(
            find(AlarmKind::TriggerDuration(TriggerKind::Define)).threshold,
            4000.0
        );
        assert_eq!(find(AlarmKind::SendFailures).name, "acme-send-failures");
        assert_eq!(
            find(AlarmKind::TriggerErrors(TriggerKind::Define)).name,
            "acme-define-auth-challenge-errors"
        );
        assert!(alarms.iter().all(|a| a.actions == ["arn:t"]));
    }

    #[test]
    fn the_throttle_alarm_names_the_pool_and_client_made_by_the_earlier_stages() {
        let (names, _, tags, _) = fixture_context();
        let unknown = sign_in_throttles(&names, None, "arn:t", &tags);
        assert!(unknown.fields()["dimensions"].contains(KNOWN_AFTER_APPLY));
        let dimensions = |handover: &Handover| {
            resolved_dimensions(&unknown, handover).map(|all| {
                all.iter()
                    .map(|d| format!("{}={}", d.name().unwrap(), d.value().unwrap()))
                    .collect::<Vec<_>>()
            })
        };
        let made = Handover {
            user_pool: Some(super::super::PoolRef {
                id: "us-east-1_New".into(),
                arn: "arn:pool".into(),
            }),
            app_client_id: Some("7client".into()),
        };
        assert_eq!(
            dimensions(&made).unwrap(),
            ["UserPool=us-east-1_New", "UserPoolClient=7client"]
        );
        let error = dimensions(&Handover::default()).unwrap_err().to_string();
        assert!(error.contains("acme-sign-in-throttles"), "{error}");
        let known = sign_in_throttles(&names, Some(("us-east-1_Old", "9c")), "arn:t", &tags);
        assert_eq!(
            resolved_dimensions(&known, &made).unwrap()[0].value(),
            Some("us-east-1_Old"),
            "a known id is sent as planned"
        );
    }
}
