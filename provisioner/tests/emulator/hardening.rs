//! The hardened pool: settings that keep codes on a verified address and close the other
//! ways in, drift that watches each of them (ours or not), deploy that repairs what it
//! manages and names what it leaves, and a teardown that spares shared identities.

use aws_sdk_cognitoidentityprovider::types::{
    AccountRecoverySettingType, AttributeType, ExplicitAuthFlowsType, LambdaConfigType,
    OAuthFlowType, RecoveryOptionNameType, RecoveryOptionType,
};
use provisioner::login::start_custom_auth;
use provisioner::naming::TriggerKind;
use provisioner::session::{FORCE, TeardownOptions};

use crate::common::{TestStack, UNPROTECTED, add_user, assert_reports, env, sent_to};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_and_the_client_hold_every_hardened_setting() {
    let env = env();
    let (_stack, outputs, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let cognito = &session.clients.cognito;
    let pool = cognito
        .describe_user_pool()
        .user_pool_id(&outputs.user_pool_id)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap();
    assert_eq!(pool.auto_verified_attributes()[0].as_str(), "email");
    assert_eq!(
        pool.user_attribute_update_settings()
            .unwrap()
            .attributes_require_verification_before_update()[0]
            .as_str(),
        "email"
    );
    let recovery = pool
        .account_recovery_setting()
        .unwrap()
        .recovery_mechanisms();
    assert_eq!(recovery.len(), 1);
    assert_eq!(recovery[0].name(), &RecoveryOptionNameType::AdminOnly);
    assert!(
        pool.admin_create_user_config()
            .unwrap()
            .allow_admin_create_user_only()
    );

    let client = cognito
        .describe_user_pool_client()
        .user_pool_id(&outputs.user_pool_id)
        .client_id(&outputs.app_client_id)
        .send()
        .await
        .unwrap()
        .user_pool_client
        .unwrap();
    // MiniStack does not enforce WriteAttributes (it lets UpdateUserAttributes change any
    // attribute), so the client's settings are what this test can hold AWS to.
    assert_eq!(client.write_attributes(), ["locale"]);
    assert!(!client.read_attributes().is_empty());
    assert!(client.allowed_o_auth_flows().is_empty());
    assert!(
        !client
            .allowed_o_auth_flows_user_pool_client()
            .unwrap_or(false)
    );
    assert!(client.callback_urls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_is_not_verified_gets_a_challenge_and_no_code() {
    let env = env();
    let (stack, outputs, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let email = format!("gina@{}.example", stack.name);
    add_user(&stack, &email).await;
    // What AWS does after an attribute update moves the address: the new one is unverified.
    let moved = format!("mallory@{}.example", stack.name);
    session
        .clients
        .cognito
        .admin_update_user_attributes()
        .user_pool_id(&outputs.user_pool_id)
        .username(&email)
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value(&moved)
                .build()
                .unwrap(),
        )
        .user_attributes(
            AttributeType::builder()
                .name("email_verified")
                .value("false")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let started = start_custom_auth(&session.clients.cognito, &outputs, &moved)
        .await
        .unwrap();
    assert!(
        started.session.is_some(),
        "an unverified address must look like any other"
    );
    let account = &session.observation.names.account;
    assert!(
        sent_to(&env.endpoint, account, &moved).is_empty(),
        "a code went to an unverified address"
    );
    assert!(sent_to(&env.endpoint, account, &email).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_reports_each_loosening_and_deploy_repairs_what_it_manages() {
    let env = env();
    let (stack, outputs, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let names = &session.observation.names;
    let cognito = &session.clients.cognito;
    let mint = "arn:aws:lambda:us-east-1:000000000000:function:someone-elses-token-minter";
    // A careless UpdateUserPool: self sign-up on, email recovery, a token trigger added, and
    // the rule that a changed address stays unverified dropped.
    cognito
        .update_user_pool()
        .user_pool_id(&outputs.user_pool_id)
        .lambda_config(
            LambdaConfigType::builder()
                .define_auth_challenge(names.function_arn(TriggerKind::Define))
                .create_auth_challenge(names.function_arn(TriggerKind::Create))
                .verify_auth_challenge_response(names.function_arn(TriggerKind::Verify))
                .pre_token_generation(mint)
                .build(),
        )
        .admin_create_user_config(
            aws_sdk_cognitoidentityprovider::types::AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(false)
                .build(),
        )
        .account_recovery_setting(
            AccountRecoverySettingType::builder()
                .recovery_mechanisms(
                    RecoveryOptionType::builder()
                        .name(RecoveryOptionNameType::VerifiedEmail)
                        .priority(1)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .user_attribute_update_settings(
            aws_sdk_cognitoidentityprovider::types::UserAttributeUpdateSettingsType::builder()
                .build(),
        )
        .user_pool_tags(provisioner::naming::OWNER_TAG, &stack.name)
        .send()
        .await
        .unwrap();
    cognito
        .update_user_pool_client()
        .user_pool_id(&outputs.user_pool_id)
        .client_id(&outputs.app_client_id)
        .client_name(names.app_client())
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowCustomAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .write_attributes("email")
        .allowed_o_auth_flows(OAuthFlowType::Code)
        .allowed_o_auth_scopes("openid")
        .allowed_o_auth_flows_user_pool_client(true)
        .callback_urls("https://phish.example/callback")
        .send()
        .await
        .unwrap();
    cognito
        .create_user_pool_client()
        .user_pool_id(&outputs.user_pool_id)
        .client_name("legacy-web")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .send()
        .await
        .unwrap();

    let (drifted, report) = stack.drift(&env.artifacts).await;
    let pool = format!("user pool {}", names.user_pool());
    let client = format!("app client {}", names.app_client());
    assert_reports(
        &report,
        &[
            (&pool, "self_sign_up"),
            (&pool, "account_recovery"),
            (&pool, "email_change_needs_verification"),
            (&pool, "other_triggers"),
            (&client, "write_attributes"),
            (&client, "oauth_flows"),
            (&client, "oauth_enabled"),
            (&client, "callback_urls"),
            (&client, "other_clients"),
        ],
    );
    let foreign: Vec<(&str, &str)> = report
        .differences
        .iter()
        .filter(|d| d.kind == "foreign")
        .map(|d| (d.field.as_str(), d.actual.as_str()))
        .collect();
    assert_eq!(foreign.len(), 2, "{report:#?}");
    assert!(
        foreign
            .iter()
            .any(|(f, a)| *f == "other_triggers" && a.contains(mint))
    );
    assert!(foreign.contains(&("other_clients", "legacy-web")));
    assert!(
        drifted.plan(&env.artifacts).unwrap().has_changes(),
        "drift must exit 2"
    );

    let deployed = drifted.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    assert!(
        deployed
            .notes
            .iter()
            .any(|n| n.contains("left alone") && n.contains("legacy-web")),
        "{:?}",
        deployed.notes
    );
    let (repaired, report) = stack.drift(&env.artifacts).await;
    let left: Vec<&str> = report
        .differences
        .iter()
        .map(|d| d.field.as_str())
        .collect();
    assert_eq!(left, ["other_triggers", "other_clients"], "{report:#?}");
    assert!(
        report
            .differences
            .iter()
            .all(|d| d.kind == "foreign" && d.advice.is_some())
    );
    let lambda = repaired
        .clients
        .cognito
        .describe_user_pool()
        .user_pool_id(&outputs.user_pool_id)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
        .lambda_config
        .unwrap();
    assert_eq!(
        lambda.pre_token_generation(),
        Some(mint),
        "deploy removed a foreign trigger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_keeps_a_domain_identity_and_heeds_live_protection() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let domain = format!("{}.example", stack.name);
    let spec = std::fs::read_to_string(&stack.path).unwrap().replace(
        &format!("  from: no-reply@{domain}\n"),
        &format!("  from: no-reply@{domain}\n  identity: {domain}\n"),
    );
    std::fs::write(&stack.path, spec).unwrap();
    let outputs = stack.deploy(&env).await;
    let session = stack.open().await;
    session
        .clients
        .cognito
        .update_user_pool()
        .user_pool_id(&outputs.user_pool_id)
        .deletion_protection(aws_sdk_cognitoidentityprovider::types::DeletionProtectionType::Active)
        .send()
        .await
        .unwrap();
    let refused = stack
        .open()
        .await
        .teardown(TeardownOptions::default(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("--force"), "{refused}");

    let torn = stack
        .open()
        .await
        .teardown(FORCE, &|_, _| {})
        .await
        .unwrap();
    assert!(
        torn.notes.iter().any(|n| n.contains("--delete-identity")),
        "{:?}",
        torn.notes
    );
    let ses = &session.clients.ses;
    ses.get_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .expect("a domain identity must survive teardown without --delete-identity");
    let everything = TeardownOptions {
        force: true,
        delete_identity: true,
    };
    stack
        .open()
        .await
        .teardown(everything, &|_, _| {})
        .await
        .unwrap();
    assert!(
        ses.get_email_identity()
            .email_identity(&domain)
            .send()
            .await
            .is_err()
    );
}
