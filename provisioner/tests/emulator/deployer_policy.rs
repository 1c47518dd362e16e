//! The deployer's policy covers every call deploy, drift, updates, `stacks list` and teardown
//! by name make: the emulator does not enforce IAM, so each recorded call is evaluated
//! against the policy, with the condition keys AWS would take from that very request and
//! from the stack's own resources (its tag, the role's boundary). The same calls go through
//! the policy for a name pattern, and the read-only policy allows the reads and no write.

use provisioner::aws::{ConnectOptions, Exchange};
use provisioner::deployer_policy::{Access, Request, allows, decide, deployer_policy, policy};
use provisioner::naming::Names;
use provisioner::report::DriftReport;
use provisioner::session::Session;
use serde_json::Value;

use crate::common::{TestStack, UNPROTECTED, env};

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The IAM action and resource ARN of one recorded call; `None` for calls that need no
/// permission (sts:GetCallerIdentity).
fn action_and_resource(names: &Names, exchange: &Exchange) -> Option<(String, String)> {
    let path = exchange
        .uri
        .split_once("://")
        .map_or(exchange.uri.as_str(), |(_, rest)| rest);
    let path = path.split_once('/').map_or("", |(_, p)| p);
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<String> = path.split('/').map(decode).collect();
    let body: Value = serde_json::from_str(&exchange.request).unwrap_or_default();
    let operation = &exchange.operation;
    let (prefix, resource) = match exchange.service.as_str() {
        "STS" => return None,
        "IAM" => {
            let parameter = |name: &str| {
                exchange
                    .request
                    .split('&')
                    .find_map(|pair| pair.strip_prefix(name))
                    .map(decode)
            };
            let resource = match (parameter("RoleName="), parameter("PolicyArn=")) {
                (Some(role), _) => format!("arn:aws:iam::{}:role/{role}", names.account),
                (None, Some(policy)) => policy,
                (None, None) if operation == "ListRoles" => "*".to_owned(),
                (None, None) => panic!("an IAM call without a role or policy: {operation}"),
            };
            ("iam", resource)
        }
        "Lambda" => {
            let resource = match segments.as_slice() {
                [_, kind, arn, ..] if kind == "tags" => arn.clone(),
                [_, kind, name, ..] if kind == "functions" => format!(
                    "arn:aws:lambda:{}:{}:function:{name}",
                    names.region, names.account
                ),
                [_, kind] if kind == "functions" && operation == "ListFunctions" => "*".to_owned(),
                [_, kind] if kind == "functions" => format!(
                    "arn:aws:lambda:{}:{}:function:{}",
                    names.region,
                    names.account,
                    body["FunctionName"]
                        .as_str()
                        .expect("CreateFunction names the function")
                ),
                other => panic!("unexpected Lambda path {other:?}"),
            };
            ("lambda", resource)
        }
        "Cognito Identity Provider" => {
            let resource = match (body["ResourceArn"].as_str(), body["UserPoolId"].as_str()) {
                (Some(arn), _) => arn.to_owned(),
                (None, Some(pool)) => format!(
                    "arn:aws:cognito-idp:{}:{}:userpool/{pool}",
                    names.region, names.account
                ),
                (None, None) => "*".to_owned(),
            };
            ("cognito-idp", resource)
        }
        "SESv2" => {
            // UntagResource and ListTagsForResource name the resource in the query.
            let in_query = exchange
                .uri
                .split_once('?')
                .into_iter()
                .flat_map(|(_, query)| query.split('&'))
                .find_map(|pair| pair.strip_prefix("ResourceArn="))
                .map(decode);
            let resource = match (
                segments.as_slice(),
                body["ResourceArn"].as_str().map(str::to_owned).or(in_query),
            ) {
                (_, Some(arn)) => arn,
                ([_, _, kind, identity, ..], None) if kind == "identities" => {
                    names.identity_arn(identity)
                }
                ([_, _, kind, set, ..], None) if kind == "configuration-sets" => {
                    names.configuration_set_arn(set)
                }
                ([_, _, kind], None) if kind == "configuration-sets" => names
                    .configuration_set_arn(
                        body["ConfigurationSetName"]
                            .as_str()
                            .expect("CreateConfigurationSet names the set"),
                    ),
                ([_, _, kind], None) if kind == "identities" => names.identity_arn(
                    body["EmailIdentity"]
                        .as_str()
                        .expect("CreateEmailIdentity names the identity"),
                ),
                _ => "*".to_owned(),
            };
            ("ses", resource)
        }
        "CloudWatch" | "SNS" => {
            // Query or JSON bodies, depending on the SDK's protocol: look for the names.
            let form = |name: &str| {
                exchange
                    .request
                    .split('&')
                    .find_map(|pair| pair.strip_prefix(name))
                    .map(decode)
            };
            let field = |name: &str| {
                body[name]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| form(&format!("{name}=")))
            };
            let alarm = |name: String| {
                format!(
                    "arn:aws:cloudwatch:{}:{}:alarm:{name}",
                    names.region, names.account
                )
            };
            let resource = if exchange.service == "SNS" {
                match (field("TopicArn").or(field("ResourceArn")), field("Name")) {
                    (Some(arn), _) => arn,
                    (None, Some(name)) => {
                        format!("arn:aws:sns:{}:{}:{name}", names.region, names.account)
                    }
                    (None, None) => "*".to_owned(),
                }
            } else if operation == "DescribeAlarms" {
                alarm("*".to_owned())
            } else {
                // CloudWatch speaks CBOR, whose strings are plain UTF-8 within the bytes: the
                // alarm is named by its ARN (tag calls; listing the account reads other
                // stacks' alarms too) or is the one word that starts with the stack's name.
                let word_from = |start: usize| -> String {
                    exchange.request[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect()
                };
                let arn_prefix = alarm(String::new());
                match exchange.request.find(&arn_prefix) {
                    Some(start) => alarm(word_from(start + arn_prefix.len())),
                    None => alarm(word_from(
                        exchange
                            .request
                            .find(&format!("{}-", names.stack))
                            .unwrap_or_else(|| {
                                panic!("CloudWatch {operation} names no alarm of the stack")
                            }),
                    )),
                }
            };
            let prefix = if exchange.service == "SNS" {
                "sns"
            } else {
                "cloudwatch"
            };
            (prefix, resource)
        }
        "CloudWatch Logs" => {
            let arn = |name: &str| {
                format!(
                    "arn:aws:logs:{}:{}:log-group:{name}",
                    names.region, names.account
                )
            };
            let resource = match (body["resourceArn"].as_str(), body["logGroupName"].as_str()) {
                (Some(resource), _) => resource.to_owned(),
                (None, Some(group)) => arn(group),
                (None, None) if operation == "DescribeLogGroups" => "*".to_owned(),
                (None, None) => panic!("a Logs call naming no group: {operation}"),
            };
            ("logs", resource)
        }
        "DynamoDB" => {
            let resource = match (body["ResourceArn"].as_str(), body["TableName"].as_str()) {
                (Some(arn), _) => arn.to_owned(),
                (None, Some(table)) => format!(
                    "arn:aws:dynamodb:{}:{}:table/{table}",
                    names.region, names.account
                ),
                (None, None) if operation == "ListTables" => "*".to_owned(),
                (None, None) => panic!("a DynamoDB call naming no table: {operation}"),
            };
            ("dynamodb", resource)
        }
        other => panic!("a call to an unexpected service {other}: {operation}"),
    };
    Some((format!("{prefix}:{operation}"), resource))
}

/// The condition keys AWS evaluates for this call: the tags a create request carries, the
/// principal an invoke permission names, the boundary a CreateRole sets; and, for calls on
/// existing resources, what they carry (the stack's tag on its pool, the boundary on its
/// role, which deploy set and drift watches).
fn context(names: &Names, exchange: &Exchange) -> Vec<(String, String)> {
    let owner = provisioner::naming::OWNER_TAG;
    let body: Value = serde_json::from_str(&exchange.request).unwrap_or_default();
    let mut keys = Vec::new();
    match exchange.service.as_str() {
        "IAM" => {
            let sent = exchange
                .request
                .split('&')
                .find_map(|pair| pair.strip_prefix("PermissionsBoundary="))
                .map(decode);
            let boundary = match exchange.operation.as_str() {
                "CreateRole" | "PutRolePermissionsBoundary" => sent,
                _ => Some(names.boundary_policy_arn()),
            };
            keys.extend(boundary.map(|b| ("iam:PermissionsBoundary".to_owned(), b)));
        }
        "Lambda" if exchange.operation == "AddPermission" => {
            if let Some(principal) = body["Principal"].as_str() {
                keys.push(("lambda:Principal".to_owned(), principal.to_owned()));
            }
        }
        "Cognito Identity Provider" => {
            if let Some(tag) = body["UserPoolTags"][owner].as_str() {
                keys.push((format!("aws:RequestTag/{owner}"), tag.to_owned()));
            }
            keys.push((format!("aws:ResourceTag/{owner}"), names.stack.clone()));
        }
        "SESv2" => {
            let tags = body["Tags"].as_array().into_iter().flatten();
            for tag in tags.filter(|t| t["Key"] == owner) {
                keys.push((
                    format!("aws:RequestTag/{owner}"),
                    tag["Value"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        _ => {}
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployer_policy_covers_every_call_of_deploy_drift_update_and_teardown() {
    let env = env();
    let stack = TestStack::new(
        &env,
        &format!("{UNPROTECTED}alarms:\n  email: ops@example.com\n"),
    );
    let options = ConnectOptions {
        capture_bodies: true,
        ..ConnectOptions::default()
    };
    let mut exchanges = Vec::new();
    let deployed = Session::open_with(&stack.path, options.clone())
        .await
        .unwrap();
    deployed.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    exchanges.extend(deployed.clients.requests.exchanges());

    stack.write("user_pool:\n  deletion_protection: true\napp_client:\n  id_token_minutes: 30\n");
    let with_memory = std::fs::read_to_string(&stack.path).unwrap().replace(
        "  architecture: x86_64\n",
        "  architecture: x86_64\n  memory_mb: 256\n",
    );
    std::fs::write(&stack.path, with_memory).unwrap();
    let updated = Session::open_with(&stack.path, options.clone())
        .await
        .unwrap();
    let report = DriftReport::new(&stack.name, &updated.plan(&env.artifacts).unwrap());
    assert!(!report.in_sync, "the changed spec must show as drift first");
    let drift_calls = updated.clients.requests.exchanges();
    updated.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    exchanges.extend(updated.clients.requests.exchanges());

    // `stacks list`, then teardown by name: the spec-less path, which reads the whole account.
    let target = provisioner::aws::Target {
        region: Some("us-east-1".to_owned()),
        endpoint: Some(env.endpoint.clone()),
    };
    let lister = provisioner::aws::connect_to(&target, options.clone()).await;
    let inventory = provisioner::inventory::discover(&lister).await.unwrap();
    let listing_calls = lister.requests.exchanges();
    let found = &inventory.stacks[&stack.name];
    let torn = Session::open_found_with(found, &target, options.clone())
        .await
        .unwrap();
    torn.teardown(provisioner::session::FORCE, &|_, _| {})
        .await
        .unwrap();
    exchanges.extend(torn.clients.requests.exchanges());

    let names = &torn.observation.names;
    let identity = torn.spec.ses_identity();
    let policy_for_one = deployer_policy(names, identity);
    let pattern = Names {
        stack: format!("t{}-*", std::process::id()),
        ..names.clone()
    };
    let policy_for_many = policy(&pattern, identity, Access::Deploy);
    let read_only = policy(&pattern, identity, Access::ReadOnly);
    // Listing reads every resource of the account; only the stack's own must be allowed
    // (other stacks' answer AccessDenied, which the inventory counts and skips).
    let own_listing = listing_calls.iter().filter(|exchange| {
        action_and_resource(names, exchange)
            .is_some_and(|(_, resource)| resource == "*" || resource.contains(&stack.name))
    });
    let mut checked = std::collections::BTreeSet::new();
    for exchange in exchanges.iter().chain(own_listing.clone()) {
        let Some((action, resource)) = action_and_resource(names, exchange) else {
            continue;
        };
        let request = Request::new(&action, &resource).with(context(names, exchange));
        for (which, policy) in [
            ("one stack's", &policy_for_one),
            ("the pattern's", &policy_for_many),
        ] {
            assert!(
                allows(policy, &action, &resource),
                "{which} policy does not allow {action} on {resource}:\n{policy:#}"
            );
            assert!(
                decide(policy, &request),
                "{which} policy refuses {request:?} (a condition or a denial):\n{policy:#}"
            );
        }
        let operation = action.split_once(':').map_or("", |(_, o)| o);
        assert_eq!(
            decide(&read_only, &request),
            provisioner::aws::is_read_only(operation),
            "the read-only policy and {request:?} disagree:\n{read_only:#}"
        );
        checked.insert(action);
    }
    for exchange in drift_calls.iter().chain(own_listing) {
        let Some((action, resource)) = action_and_resource(names, exchange) else {
            continue;
        };
        let request = Request::new(&action, &resource).with(context(names, exchange));
        assert!(
            decide(&read_only, &request),
            "the read-only policy refuses a call of drift or stacks list: {request:?}\n{read_only:#}"
        );
    }
    // Another stack outside the pattern is out of reach.
    let outsider = Names {
        stack: "someone-else".to_owned(),
        ..names.clone()
    };
    assert!(!allows(
        &policy_for_many,
        "lambda:UpdateFunctionCode",
        &outsider.function_arn(provisioner::naming::TriggerKind::Create)
    ));
    for expected in [
        "ses:CreateConfigurationSet",
        "ses:CreateConfigurationSetEventDestination",
        "ses:DeleteConfigurationSet",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "sns:CreateTopic",
        "sns:Subscribe",
        "sns:DeleteTopic",
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DeleteLogGroup",
        "iam:ListRoles",
        "lambda:ListFunctions",
        "ses:ListTagsForResource",
        "dynamodb:GetItem",
        "cognito-idp:UpdateUserPool",
        "cognito-idp:UpdateUserPoolClient",
        "cognito-idp:DeleteUserPool",
        "lambda:CreateFunction",
        "lambda:AddPermission",
        "lambda:UpdateFunctionConfiguration",
        "iam:PutRolePolicy",
        "iam:DeleteRole",
        "ses:CreateEmailIdentity",
        "dynamodb:CreateTable",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:DeleteTable",
    ] {
        assert!(
            checked.contains(expected),
            "no {expected} was made: {checked:?}"
        );
    }
}
