//! The wire: the serialised bodies of a fresh deploy and of each full-config update,
//! captured by the SDK interceptor and held to rules AWS enforces and the emulator does not.

use std::collections::BTreeSet;

use aws_sdk_cognitoidentityprovider::operation::update_user_pool::UpdateUserPoolInput;
use aws_sdk_cognitoidentityprovider::operation::update_user_pool_client::UpdateUserPoolClientInput;
use provisioner::aws::{ConnectOptions, Exchange};
use provisioner::resources::{app_client, user_pool};
use provisioner::session::Session;
use serde_json::Value;

use crate::common::{TestStack, UNPROTECTED, env};

async fn capturing(stack: &TestStack) -> Session {
    let options = ConnectOptions {
        capture_bodies: true,
        ..ConnectOptions::default()
    };
    Session::open_with(&stack.path, options).await.unwrap()
}

fn sent<'e>(exchanges: &'e [Exchange], operation: &str) -> Vec<&'e Exchange> {
    exchanges
        .iter()
        .filter(|e| e.operation == operation)
        .collect()
}

fn json_of(exchanges: &[Exchange], operation: &str) -> Value {
    let exchange = sent(exchanges, operation)
        .pop()
        .unwrap_or_else(|| panic!("no {operation} was sent"));
    serde_json::from_str(&exchange.request).unwrap()
}

/// The form parameter `name` of an IAM (query protocol) request body.
fn form_parameter(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn member_names(schema: &aws_smithy_schema::Schema<'_>) -> BTreeSet<String> {
    schema
        .members()
        .iter()
        .filter_map(|m| m.member_name())
        .map(str::to_owned)
        .collect()
}

/// Every member of an update input is either sent or deliberately not; and every member
/// the update sends is in the body whenever the described resource has it.
fn assert_full_config(
    schema: &aws_smithy_schema::Schema<'_>,
    sent_members: &[&str],
    not_sent: &[(&str, &str)],
    body: &Value,
    described: &Value,
    ours: &[&str],
    described_as: impl Fn(&str) -> String,
) {
    let declared: BTreeSet<String> = sent_members
        .iter()
        .map(|m| m.to_string())
        .chain(not_sent.iter().map(|(m, _)| m.to_string()))
        .collect();
    assert_eq!(
        member_names(schema),
        declared,
        "the SDK's input members and the update's SENT and NOT_SENT lists differ: decide for each new member"
    );
    for member in sent_members {
        let expected = ours.contains(member) || described.get(described_as(member)).is_some();
        assert_eq!(
            body.get(*member).is_some(),
            expected,
            "{member}: sent {}, but the described resource {} it",
            body.get(*member).is_some(),
            if described.get(described_as(member)).is_some() {
                "has"
            } else {
                "lacks"
            }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_deploy_and_each_full_config_update_follow_aws_rules_on_the_wire() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let session = capturing(&stack).await;
    let outputs = session
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap()
        .outputs;
    let exchanges = session.clients.requests.exchanges();

    let pool = json_of(&exchanges, "CreateUserPool");
    assert_eq!(pool["UsernameConfiguration"]["CaseSensitive"], false);
    assert_eq!(pool["UserPoolTier"], "LITE");
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"],
        true
    );

    let client = json_of(&exchanges, "CreateUserPoolClient");
    assert_eq!(client["PreventUserExistenceErrors"], "ENABLED");
    assert_eq!(client["GenerateSecret"], false);
    assert_eq!(
        client["ExplicitAuthFlows"],
        serde_json::json!(["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    );

    let permissions = sent(&exchanges, "AddPermission");
    assert_eq!(permissions.len(), 3);
    for exchange in permissions {
        let body: Value = serde_json::from_str(&exchange.request).unwrap();
        assert_eq!(body["Principal"], "cognito-idp.amazonaws.com");
        assert_eq!(body["SourceArn"], outputs.user_pool_arn.as_str());
        assert_eq!(
            body["SourceAccount"],
            session.observation.names.account.as_str()
        );
    }

    let names = &session.observation.names;
    let create_role = sent(&exchanges, "CreateRole").pop().expect("CreateRole");
    assert_eq!(
        form_parameter(&create_role.request, "PermissionsBoundary").as_deref(),
        Some(names.boundary_policy_arn().as_str()),
        "the role must be created within its boundary"
    );

    let functions = sent(&exchanges, "CreateFunction");
    assert_eq!(functions.len(), 3);
    for exchange in functions {
        let body: Value = serde_json::from_str(&exchange.request).unwrap();
        let name = body["FunctionName"].as_str().unwrap();
        let kind = provisioner::naming::TriggerKind::ALL
            .into_iter()
            .find(|kind| names.function(*kind) == name)
            .expect("a function of the stack");
        assert_eq!(body["Runtime"], "provided.al2023");
        assert_eq!(body["Handler"], "bootstrap");
        assert_eq!(body["Role"], names.role_arn());
        assert_eq!(body["Architectures"], serde_json::json!(["x86_64"]));
        assert_eq!(body["Tags"][provisioner::naming::OWNER_TAG], stack.name);
        let packages = env
            .artifacts
            .for_stack(&session.spec.email_templates)
            .unwrap();
        assert_eq!(
            body["Tags"][provisioner::naming::CODE_TAG],
            packages.code_sha256(kind),
            "the recorded CodeSha256 is the uploaded package's"
        );
        let zip = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            body["Code"]["ZipFile"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(
            zip,
            packages.zip(kind),
            "{name} got another package than planned"
        );
    }

    let table = json_of(&exchanges, "CreateTable");
    assert_eq!(table["TableName"], names.limits_table());
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        serde_json::json!([{ "AttributeName": triggers::limits::KEY, "KeyType": "HASH" }])
    );
    assert!(
        table["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["Key"] == provisioner::naming::OWNER_TAG && t["Value"] == stack.name),
        "{table}"
    );
    let ttl = json_of(&exchanges, "UpdateTimeToLive");
    assert_eq!(
        ttl["TimeToLiveSpecification"],
        serde_json::json!({ "AttributeName": triggers::limits::TTL_ATTRIBUTE, "Enabled": true })
    );
    let located = sent(&exchanges, "TagResource")
        .into_iter()
        .filter(|e| e.service == "Lambda")
        .map(|e| serde_json::from_str::<Value>(&e.request).unwrap())
        .find(|body| {
            body["Tags"]
                .get(provisioner::naming::CLIENT_LOCATOR_TAG)
                .is_some()
        })
        .expect("the client locator is written with TagResource");
    assert_eq!(
        located["Tags"][provisioner::naming::CLIENT_LOCATOR_TAG],
        format!("{}/{}", outputs.user_pool_id, outputs.app_client_id)
    );

    let put_policy = sent(&exchanges, "PutRolePolicy")
        .pop()
        .expect("PutRolePolicy");
    let document: Value =
        serde_json::from_str(&form_parameter(&put_policy.request, "PolicyDocument").unwrap())
            .unwrap();
    let send = &document["Statement"][0];
    assert_eq!(send["Action"], "ses:SendEmail");
    assert_eq!(
        send["Condition"]["StringEquals"]["ses:FromAddress"],
        format!("no-reply@{}.example", stack.name)
    );

    // Each full-config update: the pool (tier) and the client (a token lifetime).
    stack.write(
        "user_pool:\n  deletion_protection: false\n  tier: essentials\napp_client:\n  access_token_minutes: 30\n",
    );
    let session = capturing(&stack).await;
    session.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    let exchanges = session.clients.requests.exchanges();

    let update = json_of(&exchanges, "UpdateUserPool");
    assert!(
        !sent(&exchanges, "UpdateUserPool")[0]
            .request
            .contains("UnusedAccountValidityDays"),
        "AWS rejects UpdateUserPool carrying UnusedAccountValidityDays beside TemporaryPasswordValidityDays"
    );
    assert_eq!(update["UserPoolTier"], "ESSENTIALS");
    let described: Value = serde_json::from_str(
        sent(&exchanges, "DescribeUserPool")[0]
            .response
            .as_deref()
            .expect("the describe response was captured"),
    )
    .unwrap();
    assert!(
        described["UserPool"]["AdminCreateUserConfig"]
            .get("UnusedAccountValidityDays")
            .is_some(),
        "the emulator no longer reports the legacy member, so this test no longer exercises its removal"
    );
    assert_full_config(
        UpdateUserPoolInput::SCHEMA,
        user_pool::SENT,
        user_pool::NOT_SENT,
        &update,
        &described["UserPool"],
        &[
            "UserPoolId",
            "DeletionProtection",
            "LambdaConfig",
            "UserPoolTags",
            "UserPoolTier",
            "AutoVerifiedAttributes",
            "UserAttributeUpdateSettings",
            "AdminCreateUserConfig",
            "AccountRecoverySetting",
        ],
        |member| match member {
            "UserPoolId" => "Id".to_owned(),
            "PoolName" => "Name".to_owned(),
            other => other.to_owned(),
        },
    );

    let update = json_of(&exchanges, "UpdateUserPoolClient");
    assert_eq!(update["AccessTokenValidity"], 30);
    assert_eq!(update["PreventUserExistenceErrors"], "ENABLED");
    let described: Value = serde_json::from_str(
        sent(&exchanges, "DescribeUserPoolClient")
            .last()
            .and_then(|e| e.response.as_deref())
            .expect("the describe response was captured"),
    )
    .unwrap();
    assert_full_config(
        UpdateUserPoolClientInput::SCHEMA,
        app_client::SENT,
        app_client::NOT_SENT,
        &update,
        &described["UserPoolClient"],
        &[
            "UserPoolId",
            "ClientId",
            "AccessTokenValidity",
            "IdTokenValidity",
            "RefreshTokenValidity",
            "TokenValidityUnits",
            "ExplicitAuthFlows",
            "PreventUserExistenceErrors",
            "EnableTokenRevocation",
            "AuthSessionValidity",
            "ReadAttributes",
            "WriteAttributes",
            "CallbackURLs",
            "LogoutURLs",
            "AllowedOAuthFlows",
            "AllowedOAuthScopes",
            "AllowedOAuthFlowsUserPoolClient",
        ],
        str::to_owned,
    );
}
