//! What the deployed triggers log: one JSON object per invocation with its outcome, request
//! id, latency, account key and metrics (CloudWatch's embedded metric format), and never a
//! code or an address. Read from Lambda's own log tail of each invocation.

use aws_sdk_lambda::types::LogType;
use base64::Engine;
use provisioner::login::{answer_challenge, start_custom_auth, wait_for_code};
use provisioner::naming::TriggerKind;
use provisioner::session::{Outputs, Session};
use serde_json::{Value, json};

use crate::common::{TestStack, UNPROTECTED, add_user, env};

/// Invokes a deployed trigger with `event`; its response and the JSON lines it logged.
async fn invoke_logged(session: &Session, kind: TriggerKind, event: &Value) -> (Value, Vec<Value>) {
    let output = session
        .clients
        .lambda
        .invoke()
        .function_name(session.observation.names.function(kind))
        .log_type(LogType::Tail)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    let tail = output
        .log_result()
        .expect("Lambda returns the log tail when asked");
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(tail)
            .unwrap(),
    )
    .unwrap();
    let lines = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(Value::is_object)
        .collect();
    let payload: Value = serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap();
    (payload, lines)
}

fn event(outputs: &Outputs, trigger: &str, email: &str, request: Value) -> Value {
    let mut request = request;
    request["userAttributes"] = json!({ "email": email, "email_verified": "true" });
    request["userNotFound"] = json!(false);
    json!({
        "version": "1",
        "region": "us-east-1",
        "userPoolId": outputs.user_pool_id,
        "userName": "7d0c1f9e-telemetry-user",
        "callerContext": { "awsSdkVersion": "test", "clientId": outputs.app_client_id },
        "triggerSource": trigger,
        "request": request,
        "response": {}
    })
}

/// The one invocation line among `lines`, checked for what every line carries.
fn the_line<'a>(lines: &'a [Value], trigger: &str, secrets: &[&str]) -> &'a Value {
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("outcome").is_some())
        .collect();
    assert_eq!(ours.len(), 1, "one line per invocation: {lines:#?}");
    let line = ours[0];
    assert_eq!(line["trigger"], trigger, "{line}");
    assert!(
        line["requestId"].as_str().is_some_and(|r| !r.is_empty()),
        "{line}"
    );
    assert!(line["latencyMs"].is_u64(), "{line}");
    assert!(
        line["account"]
            .as_str()
            .is_some_and(|a| a.starts_with("acct#")),
        "{line}"
    );
    let text = line.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} logged: {text}");
    }
    line
}

fn metric(line: &Value, name: &str) -> bool {
    line[name] == 1
        && line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .is_some_and(|m| m.iter().any(|d| d["Name"] == name))
        && line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "emailcode"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invocation_logs_one_json_line_with_its_outcome_and_no_secret() {
    let env = env();
    let stack = TestStack::new(&env, &format!("{UNPROTECTED}limits:\n  max_sends: 1\n"));
    let outputs = stack.deploy(&env).await;
    let email = format!("lena@{}.example", stack.name);
    add_user(&stack, &email).await;
    let session = stack.open().await;

    // A real sign-in, so a code exists to look for in the logs.
    let cognito = &session.clients.cognito;
    let started = start_custom_auth(cognito, &outputs, &email).await.unwrap();
    let account = &session.observation.names.account;
    let code = wait_for_code(&env.endpoint, account, &email, &[]).unwrap();
    answer_challenge(cognito, &outputs, started.session, &email, code.clone())
        .await
        .unwrap();
    let secrets = [email.as_str(), code.as_str()];

    let first = event(
        &outputs,
        "DefineAuthChallenge_Authentication",
        &email,
        json!({ "session": [] }),
    );
    let (_, lines) = invoke_logged(&session, TriggerKind::Define, &first).await;
    let refused = the_line(&lines, "define", &secrets);
    assert_eq!(refused["outcome"], "refused_budget", "{refused}");
    assert!(metric(refused, "BudgetRefusals"), "{refused}");
    assert_eq!(refused["Stack"], stack.name.as_str());

    let create = event(
        &outputs,
        "CreateAuthChallenge_Authentication",
        &email,
        json!({ "challengeName": "CUSTOM_CHALLENGE", "session": [] }),
    );
    let (created, lines) = invoke_logged(&session, TriggerKind::Create, &create).await;
    let sent = the_line(&lines, "create", &secrets);
    assert_eq!(sent["outcome"], "sent", "{sent}");
    assert!(metric(sent, "CodesSent"), "{sent}");

    let answer = event(
        &outputs,
        "VerifyAuthChallengeResponse_Authentication",
        &email,
        json!({
            "privateChallengeParameters": created["response"]["privateChallengeParameters"],
            "challengeAnswer": "not the code",
        }),
    );
    let (_, lines) = invoke_logged(&session, TriggerKind::Verify, &answer).await;
    let wrong = the_line(&lines, "verify", &secrets);
    assert_eq!(wrong["outcome"], "wrong", "{wrong}");
    assert!(metric(wrong, "WrongAnswers"), "{wrong}");
    assert!(!lines.iter().any(|l| l.to_string().contains("not the code")));
}

/// The retention of each of the stack's log groups, by group name, and whether it carries
/// the stack's tag.
async fn log_groups(session: &Session) -> Vec<(String, Option<i32>, bool)> {
    let mut groups = Vec::new();
    for kind in TriggerKind::CUSTOM_AUTH {
        let name = session.observation.names.log_group(kind);
        let listed = session
            .clients
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&name)
            .send()
            .await
            .unwrap();
        let Some(group) = listed
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name.as_str()))
        else {
            continue;
        };
        let tags = session
            .clients
            .logs
            .list_tags_for_resource()
            .resource_arn(session.observation.names.log_group_resource_arn(kind))
            .send()
            .await
            .unwrap();
        let tagged = tags
            .tags()
            .is_some_and(|t| t.contains_key(provisioner::naming::OWNER_TAG));
        groups.push((name, group.retention_in_days(), tagged));
    }
    groups
}

/// Log groups are the stack's: created with its retention before their functions (which
/// log JSON into them), drift sees one deleted or changed, deploy repairs it, a group Lambda
/// made itself is taken over, and teardown removes them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_groups_have_the_stacks_retention_drift_and_go_with_teardown() {
    let env = env();
    let (stack, _, session) =
        TestStack::deployed(&env, &format!("{UNPROTECTED}logs:\n  retention_days: 7\n")).await;
    let names = &session.observation.names;
    let groups = log_groups(&session).await;
    assert_eq!(groups.len(), 3, "{groups:?}");
    assert!(
        groups
            .iter()
            .all(|(_, days, tagged)| *days == Some(7) && *tagged),
        "{groups:?}"
    );
    let logging = session
        .clients
        .lambda
        .get_function_configuration()
        .function_name(names.function(TriggerKind::Verify))
        .send()
        .await
        .unwrap()
        .logging_config()
        .cloned()
        .unwrap();
    assert_eq!(logging.log_format().map(|f| f.as_str()), Some("JSON"));
    assert_eq!(
        logging.log_group(),
        Some(names.log_group(TriggerKind::Verify).as_str())
    );

    // Out of band: one group deleted, another's retention changed.
    let logs = &session.clients.logs;
    logs.delete_log_group()
        .log_group_name(names.log_group(TriggerKind::Verify))
        .send()
        .await
        .unwrap();
    logs.put_retention_policy()
        .log_group_name(names.log_group(TriggerKind::Define))
        .retention_in_days(90)
        .send()
        .await
        .unwrap();
    let (_, report) = stack.drift(&env.artifacts).await;
    let verify = format!("log group {}", names.log_group(TriggerKind::Verify));
    let define = format!("log group {}", names.log_group(TriggerKind::Define));
    crate::common::assert_reports(
        &report,
        &[(&verify, "(resource)"), (&define, "retention_days")],
    );
    let repaired = stack.assert_deploy_repairs(&env).await;
    assert!(
        log_groups(&repaired)
            .await
            .iter()
            .all(|(_, days, tagged)| *days == Some(7) && *tagged)
    );

    // Lambda makes an untagged group, with no retention, when a function logs without one.
    logs.delete_log_group()
        .log_group_name(names.log_group(TriggerKind::Create))
        .send()
        .await
        .unwrap();
    let outputs = repaired.outputs().unwrap();
    let create = event(
        &outputs,
        "CreateAuthChallenge_Authentication",
        &format!("nobody@{}.example", stack.name),
        json!({ "challengeName": "CUSTOM_CHALLENGE", "session": [] }),
    );
    invoke_logged(&repaired, TriggerKind::Create, &create).await;
    let made = log_groups(&stack.open().await).await;
    let created_by_lambda = made
        .iter()
        .find(|(name, ..)| *name == names.log_group(TriggerKind::Create))
        .expect("the function's invocation made its group");
    assert_eq!((created_by_lambda.1, created_by_lambda.2), (None, false));
    let taken_over = stack.assert_deploy_repairs(&env).await;
    assert!(
        log_groups(&taken_over)
            .await
            .iter()
            .all(|(_, days, tagged)| *days == Some(7) && *tagged)
    );

    taken_over
        .teardown(provisioner::session::FORCE, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(log_groups(&stack.open().await).await, Vec::new());
}

/// The stack's alarms by name: their actions and threshold.
async fn alarms(session: &Session) -> Vec<(String, Vec<String>, f64)> {
    let prefix = format!("{}-", session.observation.names.stack);
    let described = session
        .clients
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut alarms: Vec<_> = described
        .metric_alarms()
        .iter()
        .map(|a| {
            (
                a.alarm_name().unwrap_or_default().to_owned(),
                a.alarm_actions().to_vec(),
                a.threshold().unwrap_or_default(),
            )
        })
        .collect();
    alarms.sort_by(|a, b| a.0.cmp(&b.0));
    alarms
}

/// Alarms and their topic are the stack's: deployed with the address subscribed, each
/// notifying the topic; one deleted and one changed out of band show as drift and deploy
/// repairs them; without the `alarms` section they go, and teardown removes the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_and_their_topic_are_deployed_drift_and_go() {
    let env = env();
    let with_alarms =
        format!("{UNPROTECTED}alarms:\n  email: ops@example.com\n  lockouts_per_hour: 9\n");
    let (stack, _, session) = TestStack::deployed(&env, &with_alarms).await;
    let names = &session.observation.names;
    let topic = names.alarm_topic_arn();
    let deployed = alarms(&session).await;
    assert_eq!(deployed.len(), 16, "{deployed:#?}");
    assert!(
        deployed
            .iter()
            .all(|(_, actions, _)| *actions == [topic.clone()]),
        "{deployed:#?}"
    );
    let lockouts = names.alarm("lockouts");
    assert_eq!(deployed.iter().find(|a| a.0 == lockouts).unwrap().2, 9.0);
    // Made in the same deploy as the pool and client, the throttle alarm names both.
    let outputs = session.outputs().unwrap();
    let throttles = session
        .clients
        .cloudwatch
        .describe_alarms()
        .alarm_names(names.alarm("sign-in-throttles"))
        .send()
        .await
        .unwrap();
    let dimensions: Vec<(&str, &str)> = throttles.metric_alarms()[0]
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap(), d.value().unwrap()))
        .collect();
    assert_eq!(
        dimensions,
        [
            ("UserPool", outputs.user_pool_id.as_str()),
            ("UserPoolClient", outputs.app_client_id.as_str())
        ]
    );
    let subscriptions = session
        .clients
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert!(
        subscriptions
            .subscriptions()
            .iter()
            .any(|s| s.protocol() == Some("email") && s.endpoint() == Some("ops@example.com")),
        "{subscriptions:?}"
    );

    let errors = names.alarm("verify-auth-challenge-errors");
    session
        .clients
        .cloudwatch
        .delete_alarms()
        .alarm_names(&errors)
        .send()
        .await
        .unwrap();
    session
        .clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&lockouts)
        .namespace("emailcode")
        .metric_name("Lockouts")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(3600)
        .evaluation_periods(1)
        .threshold(1000.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let (_, report) = stack.drift(&env.artifacts).await;
    crate::common::assert_reports(
        &report,
        &[
            (&format!("alarm {errors}"), "(resource)"),
            (&format!("alarm {lockouts}"), "condition"),
        ],
    );
    let repaired = stack.assert_deploy_repairs(&env).await;
    assert_eq!(alarms(&repaired).await, deployed);

    // Without the section, the alarms and the topic are retired.
    stack.write(UNPROTECTED);
    let plan = stack.open().await.plan(&env.artifacts).unwrap();
    let deletes = plan
        .steps
        .iter()
        .filter(|s| s.action == provisioner::plan::Action::Delete)
        .count();
    assert_eq!(deletes, 17, "16 alarms and the topic: {plan:#?}");
    stack.write(&with_alarms);
    stack.tear_down().await;
    assert_eq!(alarms(&stack.open().await).await, Vec::new());
}

/// `status` reads the stack's metrics and its alarms. MiniStack does not turn the triggers'
/// embedded metrics into metrics as CloudWatch Logs does, so the test puts the data points
/// CloudWatch would have made, and sets an alarm's state as CloudWatch would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_stacks_metrics_and_its_alarms_in_alarm() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StateValue};
    let env = env();
    let (stack, _, session) = TestStack::deployed(
        &env,
        &format!("{UNPROTECTED}alarms:\n  email: ops@example.com\n"),
    )
    .await;
    let cloudwatch = &session.clients.cloudwatch;
    let datum = |metric: &str, value: f64| {
        MetricDatum::builder()
            .metric_name(metric)
            .dimensions(
                Dimension::builder()
                    .name("Stack")
                    .value(&stack.name)
                    .build(),
            )
            .value(value)
            .build()
    };
    cloudwatch
        .put_metric_data()
        .namespace("emailcode")
        .metric_data(datum("CodesSent", 3.0))
        .metric_data(datum("CodesSent", 2.0))
        .metric_data(datum("SendFailures", 1.0))
        .send()
        .await
        .unwrap();
    let failing = session.observation.names.alarm("send-failures");
    cloudwatch
        .set_alarm_state()
        .alarm_name(&failing)
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: 1 datapoint [1.0] >= 1.0")
        .send()
        .await
        .unwrap();
    let status = provisioner::status::status(&stack.open().await)
        .await
        .unwrap();
    let hour = &status.windows[0];
    assert_eq!(hour.label, "last hour");
    assert_eq!(hour.codes_sent, Some(5.0), "{status:#?}");
    assert_eq!(hour.send_failures, Some(1.0), "{status:#?}");
    assert_eq!(hour.lockouts, None, "{status:#?}");
    assert_eq!(status.windows[1].codes_sent, Some(5.0), "{status:#?}");
    // Whatever else MiniStack's own evaluation put in ALARM, the one set is there with its
    // reason, and no other stack's alarm is.
    let firing = status
        .alarms
        .iter()
        .find(|a| a.alarm == failing)
        .expect("the alarm in ALARM");
    assert!(firing.reason.starts_with("Threshold Crossed"), "{firing:?}");
    assert!(
        status
            .alarms
            .iter()
            .all(|a| a.alarm.starts_with(&format!("{}-", stack.name))),
        "{status:#?}"
    );
    let text = provisioner::status::text(&status);
    assert!(
        text.contains("codes sent                     5           5"),
        "{text}"
    );
}

/// The stack's configuration set: reputation metrics on, bounces and complaints suppressed,
/// events counted in CloudWatch under the stack; Create sends with it; suppression turned
/// off out of band is drift that deploy repairs; teardown deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_set_suppresses_bounces_counts_events_and_create_sends_with_it() {
    let env = env();
    let (stack, outputs, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let names = &session.observation.names;
    let ses = &session.clients.ses;
    let set = names.configuration_set();
    let got = ses
        .get_configuration_set()
        .configuration_set_name(&set)
        .send()
        .await
        .unwrap();
    assert!(
        got.reputation_options()
            .unwrap()
            .reputation_metrics_enabled()
    );
    let suppressed: Vec<&str> = got
        .suppression_options()
        .unwrap()
        .suppressed_reasons()
        .iter()
        .map(|r| r.as_str())
        .collect();
    assert_eq!(suppressed, ["BOUNCE", "COMPLAINT"]);
    let destinations = ses
        .get_configuration_set_event_destinations()
        .configuration_set_name(&set)
        .send()
        .await
        .unwrap();
    let destination = &destinations.event_destinations()[0];
    assert!(destination.cloud_watch_destination().is_some());
    assert_eq!(destination.matching_event_types().len(), 5);
    let environment = session
        .clients
        .lambda
        .get_function_configuration()
        .function_name(names.function(TriggerKind::Create))
        .send()
        .await
        .unwrap();
    assert_eq!(
        environment.environment().unwrap().variables().unwrap()["SES_CONFIGURATION_SET"],
        set
    );
    // A code still goes out, sent with the set.
    let email = format!("ray@{}.example", stack.name);
    add_user(&stack, &email).await;
    start_custom_auth(&session.clients.cognito, &outputs, &email)
        .await
        .unwrap();
    wait_for_code(&env.endpoint, &names.account, &email, &[]).unwrap();

    ses.put_configuration_set_suppression_options()
        .configuration_set_name(&set)
        .send()
        .await
        .unwrap();
    let (_, report) = stack.drift(&env.artifacts).await;
    crate::common::assert_reports(
        &report,
        &[(&format!("ses configuration set {set}"), "suppressed")],
    );
    let repaired = stack.assert_deploy_repairs(&env).await;
    repaired
        .teardown(provisioner::session::FORCE, &|_, _| {})
        .await
        .unwrap();
    assert!(
        ses.get_configuration_set()
            .configuration_set_name(&set)
            .send()
            .await
            .is_err(),
        "teardown left the configuration set"
    );
}
