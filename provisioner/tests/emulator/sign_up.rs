//! Self sign-up and the team's own email: an account from only an address, its first code
//! verifying the address, sign-up switched off again, and templates chosen by locale.

use std::path::Path;

use aws_sdk_cognitoidentityprovider::types::AttributeType;
use provisioner::login::{answer_challenge, sign_up, start_custom_auth, wait_for_code};
use provisioner::naming::TriggerKind;
use provisioner::resources::{Observed, ResourceId, ResourceKind};
use provisioner::session::{Outputs, Session};

use crate::common::{TestStack, UNPROTECTED, add_user, env, sent_to};

const SIGN_UP_ON: &str = "sign_up:\n  enabled: true\n";

async fn attribute(
    session: &Session,
    outputs: &Outputs,
    email: &str,
    name: &str,
) -> Option<String> {
    session
        .clients
        .cognito
        .admin_get_user()
        .user_pool_id(&outputs.user_pool_id)
        .username(email)
        .send()
        .await
        .unwrap()
        .user_attributes()
        .iter()
        .find(|a| a.name() == name)
        .and_then(|a| a.value().map(str::to_owned))
}

/// Starts a sign-in and returns its challenge session.
async fn start(session: &Session, outputs: &Outputs, email: &str) -> Option<String> {
    start_custom_auth(&session.clients.cognito, outputs, email)
        .await
        .unwrap()
        .session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_sign_up_gets_its_first_code_and_that_code_verifies_the_address() {
    let env = env();
    let (stack, outputs, session) =
        TestStack::deployed(&env, &format!("{UNPROTECTED}{SIGN_UP_ON}")).await;
    let account = session.observation.names.account.clone();
    let cognito = &session.clients.cognito;
    let email = format!("new.person@{}.example", stack.name);

    sign_up(cognito, &outputs, &email).await.unwrap();
    assert_ne!(
        attribute(&session, &outputs, &email, "email_verified")
            .await
            .as_deref(),
        Some("true"),
        "the address counted as verified before anyone read a code"
    );
    assert!(
        sent_to(&env.endpoint, &account, &email).is_empty(),
        "sign-up itself must send nothing"
    );

    let challenge = start(&session, &outputs, &email).await;
    let code = wait_for_code(&env.endpoint, &account, &email, &[]).unwrap();
    let signed_in = answer_challenge(cognito, &outputs, challenge, &email, code)
        .await
        .unwrap();
    assert!(signed_in.authentication_result.is_some());
    assert_eq!(
        attribute(&session, &outputs, &email, "email_verified")
            .await
            .as_deref(),
        Some("true"),
        "the first right code did not verify the address"
    );

    // Signing up again with the same address: Cognito refuses with UsernameExistsException
    // (documented in the README), which the client treats as a new account and goes on to
    // sign in; the address gets a code exactly as for a new account.
    let again = cognito
        .sign_up()
        .client_id(&outputs.app_client_id)
        .username(&email)
        .password("Unused-Passw0rd!")
        .send()
        .await
        .unwrap_err();
    assert!(
        again
            .as_service_error()
            .is_some_and(|e| e.is_username_exists_exception())
    );
    sign_up(cognito, &outputs, &email).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_address_not_from_sign_up_still_gets_nothing() {
    let env = env();
    let (stack, outputs, session) =
        TestStack::deployed(&env, &format!("{UNPROTECTED}{SIGN_UP_ON}")).await;
    let account = session.observation.names.account.clone();
    let email = format!("imported@{}.example", stack.name);
    let unverified = [
        AttributeType::builder()
            .name("email")
            .value(&email)
            .build()
            .unwrap(),
        AttributeType::builder()
            .name("email_verified")
            .value("false")
            .build()
            .unwrap(),
    ];
    session
        .clients
        .cognito
        .admin_create_user()
        .user_pool_id(&outputs.user_pool_id)
        .username(&email)
        .set_user_attributes(Some(unverified.to_vec()))
        .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
        .send()
        .await
        .unwrap();
    start(&session, &outputs, &email).await;
    // Create answers before Cognito returns the challenge, so the outbox is final now.
    assert!(
        sent_to(&env.endpoint, &account, &email).is_empty(),
        "a code went to an unverified address that no sign-up vouched for"
    );

    // Cognito may run PreSignUp before it finds the name taken. A sign-up for this address
    // must then record nothing, or the next sign-in would send a code to the address no one
    // proved. (MiniStack checks the name first, so PreSignUp is invoked as AWS may.)
    let fresh = format!("fresh@{}.example", stack.name);
    for address in [&email, &fresh] {
        let event = serde_json::json!({
            "version": "1",
            "region": "us-east-1",
            "userPoolId": outputs.user_pool_id,
            "userName": address,
            "callerContext": { "awsSdkVersion": "test", "clientId": outputs.app_client_id },
            "triggerSource": "PreSignUp_SignUp",
            "request": { "userAttributes": { "email": address } },
            "response": { "autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false }
        });
        let invoked = session
            .clients
            .lambda
            .invoke()
            .function_name(session.observation.names.function(TriggerKind::PreSignUp))
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send()
            .await
            .unwrap();
        assert!(
            invoked.function_error().is_none(),
            "PreSignUp failed: {}",
            String::from_utf8_lossy(invoked.payload().map_or(&[][..], |p| p.as_ref()))
        );
    }
    let pending = |address: String| {
        let key = triggers::limits::sign_up_key(&outputs.user_pool_id, &address);
        session
            .clients
            .dynamodb
            .get_item()
            .table_name(session.observation.names.limits_table())
            .key(
                triggers::limits::KEY,
                aws_sdk_dynamodb::types::AttributeValue::S(key),
            )
            .consistent_read(true)
            .send()
    };
    assert!(
        pending(email.clone()).await.unwrap().item.is_none(),
        "a sign-up for an existing account recorded a pending sign-up"
    );
    assert!(
        pending(fresh).await.unwrap().item.is_some(),
        "a sign-up for a new address recorded nothing"
    );
    start(&session, &outputs, &email).await;
    assert!(sent_to(&env.endpoint, &account, &email).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_sign_up_off_shows_as_drift_and_deploy_removes_the_trigger() {
    let env = env();
    let (stack, outputs, session) =
        TestStack::deployed(&env, &format!("{UNPROTECTED}{SIGN_UP_ON}")).await;
    // Signed up, never signed in: a pending record and an unverified address.
    let waiting = format!("waiting@{}.example", stack.name);
    sign_up(&session.clients.cognito, &outputs, &waiting)
        .await
        .unwrap();
    let function = ResourceId {
        kind: ResourceKind::Function(TriggerKind::PreSignUp),
        name: session.observation.names.function(TriggerKind::PreSignUp),
    };
    assert!(matches!(
        session.observation.state.get(&function),
        Observed::Owned(_)
    ));

    stack.write(UNPROTECTED);
    let (_, report) = stack.drift(&env.artifacts).await;
    assert!(!report.in_sync);
    let pool = format!("user pool {}", session.observation.names.user_pool());
    crate::common::assert_reports(
        &report,
        &[(&pool, "pre_sign_up_trigger"), (&pool, "self_sign_up")],
    );
    let plan = stack.open().await.plan(&env.artifacts).unwrap();
    assert!(
        plan.steps
            .iter()
            .any(|s| s.id == function && s.action == provisioner::plan::Action::Delete),
        "{plan:#?}"
    );

    let after = stack.assert_deploy_repairs(&env).await;
    assert_eq!(after.observation.state.get(&function), &Observed::Absent);
    let pool = after
        .clients
        .cognito
        .describe_user_pool()
        .user_pool_id(&after.outputs().unwrap().user_pool_id)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap();
    assert_eq!(pool.lambda_config().and_then(|l| l.pre_sign_up()), None);
    assert!(
        pool.admin_create_user_config()
            .unwrap()
            .allow_admin_create_user_only()
    );
    // With sign-up off, Verify may no longer mark an address verified, so Create honours no
    // pending sign-up: the waiting account gets no code rather than one it could never
    // turn into a verified address.
    start(&after, &outputs, &waiting).await;
    assert!(
        sent_to(&env.endpoint, &after.observation.names.account, &waiting).is_empty(),
        "a pending sign-up got a code after sign-up was switched off"
    );
}

fn write_templates(folder: &Path, subject: &str, greeting: &str) {
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("subject.txt"), format!("{subject}\n")).unwrap();
    std::fs::write(
        folder.join("body.txt"),
        format!("{greeting}\n\n{{{{code}}}}\n"),
    )
    .unwrap();
    std::fs::write(
        folder.join("body.html"),
        format!("<p>{greeting} {{{{app_name}}}}</p><p>{{{{code}}}}</p>"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_locale_picks_the_template_and_a_template_change_lands_with_deploy() {
    let env = env();
    let stack = TestStack::new(&env, "");
    let emails = stack.path.with_extension("emails");
    write_templates(&emails.join("en"), "Your code", "Hello");
    write_templates(&emails.join("de"), "Ihr Code", "Hallo");
    let folder = emails.file_name().unwrap().to_str().unwrap().to_owned();
    // The test stack's spec starts the `email:` section; the templates go into it.
    let yaml = std::fs::read_to_string(&stack.path).unwrap().replace(
        "email:\n",
        &format!(
            "email:\n  app_name: <Acme & Co>\n  templates:\n    default: {folder}/en\n    de: {folder}/de\n"
        ),
    );
    std::fs::write(&stack.path, format!("{yaml}{UNPROTECTED}")).unwrap();
    let outputs = stack.deploy(&env).await;
    let session = stack.open().await;
    assert!(
        !session.plan(&env.artifacts).unwrap().has_changes(),
        "an unchanged redeploy with templates must write nothing"
    );
    let account = session.observation.names.account.clone();
    let (english, german) = (
        format!("anna@{}.example", stack.name),
        format!("jonas@{}.example", stack.name),
    );
    add_user(&stack, &english).await;
    add_user(&stack, &german).await;
    session
        .clients
        .cognito
        .admin_update_user_attributes()
        .user_pool_id(&outputs.user_pool_id)
        .username(&german)
        .user_attributes(
            AttributeType::builder()
                .name("locale")
                .value("de-AT")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for email in [&english, &german] {
        start(&session, &outputs, email).await;
        wait_for_code(&env.endpoint, &account, email, &[]).unwrap();
    }
    let english_mail = &sent_to(&env.endpoint, &account, &english)[0];
    let german_mail = &sent_to(&env.endpoint, &account, &german)[0];
    assert_eq!(english_mail.subject, "Your code");
    assert_eq!(german_mail.subject, "Ihr Code");
    let html = english_mail.body_html.as_deref().unwrap_or_default();
    assert!(html.contains("Hello &lt;Acme &amp; Co&gt;"), "{html}");

    write_templates(&emails.join("en"), "Your new code", "Hello");
    let (_, report) = stack.drift(&env.artifacts).await;
    let create = format!(
        "lambda function {}",
        session.observation.names.function(TriggerKind::Create)
    );
    crate::common::assert_reports(&report, &[(&create, "code_sha256")]);
    stack.assert_deploy_repairs(&env).await;
    let seen: Vec<String> = sent_to(&env.endpoint, &account, &english)
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    // The send budget allows this second code: well under the default five per hour.
    start(&session, &outputs, &english).await;
    wait_for_code(&env.endpoint, &account, &english, &seen).unwrap();
    let latest = sent_to(&env.endpoint, &account, &english)
        .into_iter()
        .find(|m| !seen.contains(&m.message_id))
        .unwrap();
    assert_eq!(latest.subject, "Your new code");
    std::fs::remove_dir_all(&emails).unwrap();
}

/// With sign-up on, Create asks the table for a pending sign-up on every first round, not
/// only for an unverified address: a lookup made for some accounts alone would take time
/// that tells them apart. A verified account's sign-in shows the lookup in Create's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_first_round_looks_a_pending_sign_up_up_whatever_the_account() {
    let env = env();
    let (stack, outputs, session) =
        TestStack::deployed(&env, &format!("{UNPROTECTED}{SIGN_UP_ON}")).await;
    let email = format!("verified@{}.example", stack.name);
    add_user(&stack, &email).await;
    start(&session, &outputs, &email).await;
    let create = crate::common::log_lines(&env, &session, TriggerKind::Create);
    let sent: Vec<serde_json::Value> = create
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["outcome"] == "sent")
        .collect();
    assert_eq!(sent.len(), 1, "{create:#?}");
    assert_eq!(
        sent[0]["lookups"],
        serde_json::json!(["pending_sign_up"]),
        "a verified account's first round made no lookup: {create:#?}"
    );
}

/// A sign-up waits `pending_days` for its first code: its record expires then, Create sends
/// nothing past it even before DynamoDB deletes the item, and `users prune-pending` finds
/// and removes exactly the accounts left that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_past_its_pending_days_gets_no_code_and_is_pruned() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let env = env();
    let (stack, outputs, session) = TestStack::deployed(
        &env,
        &format!("{UNPROTECTED}sign_up:\n  enabled: true\n  pending_days: 2\n"),
    )
    .await;
    let cognito = &session.clients.cognito;
    let account = session.observation.names.account.clone();
    let late = format!("late@{}.example", stack.name);
    let fresh = format!("fresh@{}.example", stack.name);
    let member = format!("member@{}.example", stack.name);
    sign_up(cognito, &outputs, &late).await.unwrap();
    sign_up(cognito, &outputs, &fresh).await.unwrap();
    add_user(&stack, &member).await;

    let table = session.observation.names.limits_table();
    let key = |email: &str| {
        AttributeValue::S(triggers::limits::sign_up_key(&outputs.user_pool_id, email))
    };
    let record = session
        .clients
        .dynamodb
        .get_item()
        .table_name(&table)
        .key(triggers::limits::KEY, key(&late))
        .send()
        .await
        .unwrap()
        .item
        .expect("PreSignUp records the sign-up");
    let expires: u64 = record["expires_at"].as_n().unwrap().parse().unwrap();
    let now = triggers::unix_now();
    assert!(
        (now + 2 * 86_400 - 60..=now + 2 * 86_400).contains(&expires),
        "expires_at {expires} is not two days from {now}"
    );
    // Its days are over; DynamoDB has not deleted the item yet.
    session
        .clients
        .dynamodb
        .update_item()
        .table_name(&table)
        .key(triggers::limits::KEY, key(&late))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N((now - 1).to_string()))
        .send()
        .await
        .unwrap();
    start(&session, &outputs, &late).await;
    start(&session, &outputs, &fresh).await;
    assert!(
        wait_for_code(&env.endpoint, &account, &fresh, &[]).is_ok(),
        "a sign-up within its days gets its code"
    );
    assert!(
        sent_to(&env.endpoint, &account, &late).is_empty(),
        "a sign-up past its days got a code"
    );

    let stale = provisioner::users::stale_sign_ups(&session).await.unwrap();
    assert_eq!(stale, std::slice::from_ref(&late));
    provisioner::users::remove_sign_up(&session, &late)
        .await
        .unwrap();
    assert!(
        provisioner::users::stale_sign_ups(&session)
            .await
            .unwrap()
            .is_empty()
    );
    let left: Vec<String> = provisioner::users::list(&session)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(left, [fresh, member]);
}
