//! Drift: every kind of out-of-band change is named, the check writes nothing, and the
//! next deploy repairs it.

use aws_sdk_cognitoidentityprovider::types::{
    DeletionProtectionType, ExplicitAuthFlowsType, LambdaConfigType, PreventUserExistenceErrorTypes,
};
use provisioner::naming::TriggerKind;

use crate::common::{TestStack, UNPROTECTED, assert_reports, env, out_of_band};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_out_of_band_changes_and_deploy_repairs_them() {
    let env = env();
    let (stack, outputs, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let names = &session.observation.names;
    let (define, create, verify) = (
        names.function(TriggerKind::Define),
        names.function(TriggerKind::Create),
        names.function(TriggerKind::Verify),
    );
    out_of_band::allow_password_sign_in(&session, &outputs).await;
    out_of_band::set_memory(&session, &define, 512).await;
    out_of_band::remove_invoke_permission(&session, &verify).await;
    out_of_band::delete_function(&session, &create).await;

    let (drifted, report) = stack.drift(&env.artifacts).await;
    assert!(!report.in_sync);
    assert_reports(
        &report,
        &[
            (
                &format!("app client {}", names.app_client()),
                "explicit_auth_flows",
            ),
            (&format!("lambda function {define}"), "memory_mb"),
            (&format!("invoke permission {verify}"), "(resource)"),
            (&format!("lambda function {create}"), "(resource)"),
        ],
    );
    let flows = report
        .differences
        .iter()
        .find(|d| d.field == "explicit_auth_flows")
        .unwrap();
    assert!(
        flows.actual.contains("ALLOW_USER_PASSWORD_AUTH"),
        "{flows:?}"
    );
    assert_eq!(
        drifted.clients.requests.mutating(),
        Vec::<String>::new(),
        "the drift check wrote something"
    );

    stack.assert_deploy_repairs(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_catches_every_kind_of_out_of_band_change() {
    let env = env();
    let (stack, outputs, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let names = &session.observation.names;
    let (cognito, lambda, iam, ses) = (
        &session.clients.cognito,
        &session.clients.lambda,
        &session.clients.iam,
        &session.clients.ses,
    );
    let (define, create, verify) = (
        names.function(TriggerKind::Define),
        names.function(TriggerKind::Create),
        names.function(TriggerKind::Verify),
    );
    out_of_band::loosen_client(
        &session,
        &outputs,
        &[
            ExplicitAuthFlowsType::AllowCustomAuth,
            ExplicitAuthFlowsType::AllowRefreshTokenAuth,
        ],
        PreventUserExistenceErrorTypes::Legacy,
        120,
        10,
    )
    .await;
    cognito
        .update_user_pool()
        .user_pool_id(&outputs.user_pool_id)
        .deletion_protection(DeletionProtectionType::Active)
        .lambda_config(
            LambdaConfigType::builder()
                .define_auth_challenge(names.function_arn(TriggerKind::Define))
                .create_auth_challenge(names.function_arn(TriggerKind::Create))
                .build(),
        )
        .user_pool_tags(provisioner::naming::OWNER_TAG, stack.name.as_str())
        .send()
        .await
        .unwrap();
    lambda
        .update_function_configuration()
        .function_name(&create)
        .timeout(3)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("OTP_CODE_LENGTH", "4")
                .build(),
        )
        .send()
        .await
        .unwrap();
    lambda
        .update_function_configuration()
        .function_name(&define)
        .runtime(aws_sdk_lambda::types::Runtime::Nodejs20x)
        .send()
        .await
        .unwrap();
    out_of_band::remove_invoke_permission(&session, &verify).await;
    lambda
        .add_permission()
        .function_name(&verify)
        .statement_id(provisioner::resources::permission::STATEMENT_ID)
        .action("lambda:InvokeFunction")
        .principal("cognito-idp.amazonaws.com")
        .source_arn("arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_someoneElse")
        .source_account(&names.account)
        .send()
        .await
        .unwrap();
    let mut trust = provisioner::resources::role::trust_policy();
    trust["Statement"][0]["Principal"]["Service"] = serde_json::json!("ec2.amazonaws.com");
    iam.update_assume_role_policy()
        .role_name(names.role())
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let mut widened = provisioner::resources::role::trigger_policy(
        names,
        &format!("no-reply@{}.example", stack.name),
        &session.ses_scope(),
        false,
    );
    widened["Statement"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"
        }));
    iam.put_role_policy()
        .role_name(names.role())
        .policy_name(names.role_policy())
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    ses.delete_email_identity()
        .email_identity(session.spec.ses_identity())
        .send()
        .await
        .unwrap();

    let (drifted, report) = stack.drift(&env.artifacts).await;
    let client = format!("app client {}", names.app_client());
    let pool = format!("user pool {}", names.user_pool());
    let role = format!("iam role {}", names.role());
    assert_reports(
        &report,
        &[
            (&client, "prevent_user_existence_errors"),
            (&client, "access_token_validity"),
            (&client, "auth_session_validity_minutes"),
            (&pool, "deletion_protection"),
            (&pool, "lambda_triggers"),
            (&format!("lambda function {create}"), "timeout_seconds"),
            (&format!("lambda function {create}"), "environment"),
            (&format!("lambda function {define}"), "runtime"),
            (&format!("invoke permission {verify}"), "statements"),
            (&role, "trust_policy"),
            (&role, "inline_policies"),
            (
                &format!("ses identity {}", session.spec.ses_identity()),
                "(resource)",
            ),
        ],
    );
    let policy = report
        .differences
        .iter()
        .find(|d| d.field == "inline_policies")
        .unwrap();
    assert!(policy.actual.contains("s3:GetObject") && !policy.expected.contains("s3:GetObject"));

    let mut verify_zip = env.artifacts.zip(TriggerKind::Verify).to_vec();
    verify_zip.extend_from_slice(b"a different build");
    let rebuilt = env.artifacts.with_package(
        TriggerKind::Verify,
        verify_zip,
        env.artifacts.source(TriggerKind::Verify).to_owned(),
    );
    let report =
        provisioner::report::DriftReport::new(&stack.name, &drifted.plan(&rebuilt).unwrap());
    assert_reports(
        &report,
        &[(&format!("lambda function {verify}"), "code_sha256")],
    );

    stack.assert_deploy_repairs(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_pool_and_role_show_as_missing_and_deploy_restores_them() {
    let env = env();
    let (stack, outputs, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let names = &session.observation.names;
    session
        .clients
        .cognito
        .delete_user_pool()
        .user_pool_id(&outputs.user_pool_id)
        .send()
        .await
        .unwrap();
    let iam = &session.clients.iam;
    iam.delete_role_policy()
        .role_name(names.role())
        .policy_name(names.role_policy())
        .send()
        .await
        .unwrap();
    iam.delete_role()
        .role_name(names.role())
        .send()
        .await
        .unwrap();

    let (_, report) = stack.drift(&env.artifacts).await;
    for resource in [
        format!("user pool {}", names.user_pool()),
        format!("app client {}", names.app_client()),
        format!("iam role {}", names.role()),
    ] {
        assert!(
            report
                .differences
                .iter()
                .any(|d| d.resource == resource && d.kind == "missing"),
            "{resource} not reported missing: {report:#?}"
        );
    }

    let repaired = stack.assert_deploy_repairs(&env).await;
    repaired
        .teardown(provisioner::session::FORCE, &|_, _| {})
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_others_add_are_left_alone_and_changed_ones_are_repaired() {
    let env = env();
    let (stack, outputs, session) =
        TestStack::deployed(&env, &format!("{UNPROTECTED}tags:\n  team: identity\n")).await;
    let define = session.observation.names.function_arn(TriggerKind::Define);
    out_of_band::tag_function(&session, &define, "cost-center", "42").await;
    session
        .clients
        .cognito
        .tag_resource()
        .resource_arn(&outputs.user_pool_arn)
        .tags("team", "someone-else")
        .send()
        .await
        .unwrap();

    let (_, report) = stack.drift(&env.artifacts).await;
    let fields: Vec<(&str, &str)> = report
        .differences
        .iter()
        .map(|d| (d.resource.as_str(), d.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![(format!("user pool {}", stack.name).as_str(), "tags")],
        "{report:#?}"
    );

    let repaired = stack.assert_deploy_repairs(&env).await;
    let tags = repaired
        .clients
        .lambda
        .list_tags()
        .resource(&define)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags()
            .and_then(|t| t.get("cost-center"))
            .map(String::as_str),
        Some("42")
    );
}
