//! Against the real local emulator (MiniStack): deploy, sign in, redeploy, change, drift,
//! teardown. `cargo xtask test` starts the emulator and builds the triggers first.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_cognitoidentityprovider::types::{ChallengeNameType, ExplicitAuthFlowsType};
use provisioner::artifacts::Artifacts;
use provisioner::commands::{self, Outputs, Session, StackArgs};
use provisioner::login::{answer_challenge, start_custom_auth};
use provisioner::mailbox;
use provisioner::plan::{Action, render_text};
use provisioner::spec::StackSpec;

struct Env {
    endpoint: String,
    artifacts: Artifacts,
}

fn env() -> Env {
    let how = "these tests need the local emulator and a trigger build: run `cargo xtask test`, \
               or `cargo xtask emulator start` and `cargo xtask build`, then set \
               EMULATOR_ENDPOINT=http://127.0.0.1:4566 TRIGGER_ZIPS=target/trigger-zips/x86_64-unknown-linux-gnu";
    let endpoint = std::env::var("EMULATOR_ENDPOINT")
        .unwrap_or_else(|_| panic!("EMULATOR_ENDPOINT is not set; {how}"));
    let zips =
        std::env::var("TRIGGER_ZIPS").unwrap_or_else(|_| panic!("TRIGGER_ZIPS is not set; {how}"));
    let artifacts = Artifacts::load(Path::new(&zips)).unwrap_or_else(|e| panic!("{e}; {how}"));
    Env {
        endpoint,
        artifacts,
    }
}

static STACKS: AtomicUsize = AtomicUsize::new(0);

/// A spec file for a stack no other test uses.
struct TestStack {
    path: PathBuf,
    name: String,
    endpoint: String,
}

impl TestStack {
    fn new(env: &Env, extra: &str) -> Self {
        let name = format!(
            "t{}-{}",
            std::process::id(),
            STACKS.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(format!("{name}.yaml"));
        let stack = Self {
            path,
            name,
            endpoint: env.endpoint.clone(),
        };
        stack.write(extra);
        stack
    }

    fn write(&self, extra: &str) {
        let yaml = format!(
            "name: {}\nregion: us-east-1\nendpoint: {}\nemail:\n  from: no-reply@{}.example\ntriggers:\n  architecture: x86_64\n{extra}",
            self.name, self.endpoint, self.name
        );
        std::fs::write(&self.path, yaml).unwrap();
    }

    fn args(&self) -> StackArgs {
        StackArgs {
            stack: self.path.clone(),
        }
    }

    async fn deploy(&self, env: &Env) -> Outputs {
        commands::deploy(&self.args(), &env.artifacts)
            .await
            .unwrap()
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

const UNPROTECTED: &str = "user_pool:\n  deletion_protection: false\n";

async fn add_user(stack: &TestStack, email: &str) {
    let session = Session::open(&stack.args()).await.unwrap();
    provisioner::users::add(&session, email).await.unwrap();
}

fn sent_to(endpoint: &str, account: &str, email: &str) -> Vec<mailbox::SentMessage> {
    mailbox::messages(endpoint, account)
        .unwrap()
        .into_iter()
        .filter(|m| m.to.iter().any(|to| to == email))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_sign_in_and_redeploy_without_changes() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let outputs = stack.deploy(&env).await;
    let email = format!("alice@{}.example", stack.name);
    add_user(&stack, &email).await;

    let session = Session::open(&stack.args()).await.unwrap();
    let account = session.observation.names.account.clone();
    let cognito = &session.clients.cognito;
    let started = start_custom_auth(cognito, &outputs, &email).await.unwrap();
    assert_eq!(
        started.challenge_name,
        Some(ChallengeNameType::CustomChallenge)
    );
    let public = started.challenge_parameters.clone().unwrap();
    assert_eq!(
        public["destination"],
        format!("a***@{}.example", stack.name)
    );
    assert_eq!(public["code_length"], "6");
    let code = provisioner::login::wait_for_code(&env.endpoint, &account, &email, &[]).unwrap();
    assert_eq!(code.len(), 6);
    let message = &sent_to(&env.endpoint, &account, &email)[0];
    assert_eq!(message.subject, "Your sign-in code");
    assert!(
        message
            .body_html
            .as_deref()
            .unwrap_or_default()
            .contains(&code)
    );
    assert!(
        !public.values().any(|v| v.contains(&code)),
        "the code leaked into public parameters"
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let retry = answer_challenge(cognito, &outputs, started.session.clone(), &email, wrong)
        .await
        .unwrap();
    assert!(retry.authentication_result.is_none());
    assert_eq!(
        retry.challenge_name,
        Some(ChallengeNameType::CustomChallenge)
    );
    assert_eq!(
        sent_to(&env.endpoint, &account, &email).len(),
        1,
        "a retry round must not send a second email"
    );

    let done = answer_challenge(
        cognito,
        &outputs,
        retry.session,
        &email,
        format!(" {code} "),
    )
    .await
    .unwrap();
    let tokens = done.authentication_result.expect("the right code signs in");
    let claims = provisioner::login::verify_id_token(&outputs, tokens.id_token().unwrap()).unwrap();
    assert_eq!(claims["email"], email.as_str());
    assert!(
        provisioner::login::verify_id_token(&outputs, &tamper(tokens.id_token().unwrap())).is_err()
    );

    let again = Session::open(&stack.args()).await.unwrap();
    let plan = again.plan(&env.artifacts).unwrap();
    assert!(
        !plan.has_changes(),
        "a redeploy with nothing changed planned:\n{}",
        render_text(&plan)
    );
    stack.deploy(&env).await;
    let counted = Session::open(&stack.args()).await.unwrap();
    let applier_log = counted.clients.requests.clone();
    let plan = counted.plan(&env.artifacts).unwrap();
    provisioner::apply::Applier {
        clients: &counted.clients,
        spec: &counted.spec,
        names: &counted.observation.names,
        artifacts: Some(&env.artifacts),
        report: &|_, _| {},
    }
    .apply(&plan, &counted.observation)
    .await
    .unwrap();
    assert!(
        !applier_log.entries().is_empty(),
        "observation must have been counted"
    );
    assert_eq!(
        applier_log.mutating(),
        Vec::<String>::new(),
        "an unchanged redeploy made mutating calls"
    );
}

/// Flips one character of the signature.
fn tamper(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let last = bytes.len() - 5;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_attempts_end_the_sign_in_and_unknown_users_get_no_email() {
    let env = env();
    let stack = TestStack::new(&env, &format!("{UNPROTECTED}otp:\n  max_attempts: 2\n"));
    let outputs = stack.deploy(&env).await;
    let email = format!("bob@{}.example", stack.name);
    add_user(&stack, &email).await;
    let session = Session::open(&stack.args()).await.unwrap();
    let cognito = &session.clients.cognito;
    let started = start_custom_auth(cognito, &outputs, &email).await.unwrap();
    let code = provisioner::login::wait_for_code(
        &env.endpoint,
        &session.observation.names.account,
        &email,
        &[],
    )
    .unwrap();
    let wrong = if code == "999999" { "888888" } else { "999999" };
    let first = answer_challenge(cognito, &outputs, started.session, &email, wrong)
        .await
        .unwrap();
    let second = answer_challenge(cognito, &outputs, first.session, &email, wrong).await;
    let error = second.expect_err("the second wrong answer of two allowed must end the sign-in");
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_not_authorized_exception()),
        "{error:?}"
    );

    // AWS answers an unknown user (PreventUserExistenceErrors ENABLED) with the same
    // challenge, running the triggers with userNotFound; MiniStack 1.5.33 answers
    // UserNotFoundException instead. Either way nothing may be sent; the trigger side of
    // userNotFound is covered by the fixture tests.
    let stranger = format!("nobody@{}.example", stack.name);
    match start_custom_auth(cognito, &outputs, &stranger).await {
        Ok(unknown) => {
            assert_eq!(
                unknown.challenge_name,
                Some(ChallengeNameType::CustomChallenge)
            );
            assert_eq!(
                unknown.challenge_parameters.unwrap()["destination"],
                format!("n***@{}.example", stack.name)
            );
        }
        Err(error) => assert!(
            error
                .as_service_error()
                .is_some_and(|e| e.is_user_not_found_exception()),
            "{error:?}"
        ),
    }
    assert!(sent_to(&env.endpoint, &session.observation.names.account, &stranger).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_change_plans_exactly_that_change_and_apply_makes_it() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    stack.deploy(&env).await;
    stack.write(&format!("{UNPROTECTED}otp:\n  length: 8\n"));
    let with_memory = std::fs::read_to_string(&stack.path).unwrap().replace(
        "  architecture: x86_64\n",
        "  architecture: x86_64\n  memory_mb: 256\n",
    );
    std::fs::write(&stack.path, with_memory).unwrap();

    let session = Session::open(&stack.args()).await.unwrap();
    let plan = session.plan(&env.artifacts).unwrap();
    let mut changed: Vec<(String, &str)> = Vec::new();
    for step in &plan.steps {
        match &step.action {
            Action::NoOp | Action::UseUnowned => {}
            Action::Update(changes) => {
                changed.extend(changes.iter().map(|c| (step.id.name.clone(), c.field)))
            }
            other => panic!("unexpected {other:?} for {}", step.id),
        }
    }
    changed.sort();
    let function = |suffix: &str| format!("{}-{suffix}", stack.name);
    let mut expected = vec![
        (function("create-auth-challenge"), "environment"),
        (function("create-auth-challenge"), "memory_mb"),
        (function("define-auth-challenge"), "memory_mb"),
        (function("verify-auth-challenge"), "memory_mb"),
    ];
    expected.sort();
    assert_eq!(changed, expected, "{}", render_text(&plan));

    stack.deploy(&env).await;
    let after = Session::open(&stack.args()).await.unwrap();
    let plan = after.plan(&env.artifacts).unwrap();
    assert!(
        !plan.has_changes(),
        "live state does not match the spec after apply:\n{}",
        render_text(&plan)
    );
}

#[tokio::test]
async fn a_bad_spec_fails_before_any_aws_call() {
    let env = env();
    let stack = TestStack::new(&env, "otp:\n  length: 12\n");
    let error = commands::deploy(&stack.args(), &env.artifacts)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, provisioner::ProvisionError::Spec(_)),
        "{message}"
    );
    assert!(
        message.contains("otp.length: 12 is out of range: allowed 6 to 10"),
        "{message}"
    );
    let spec = StackSpec::load(
        &StackArgs {
            stack: project_stack("local.yaml"),
        }
        .stack,
    )
    .unwrap();
    assert_eq!(spec.name.as_str(), "local-dev");
}

fn project_stack(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("stacks")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_out_of_band_changes_and_deploy_repairs_them() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let outputs = stack.deploy(&env).await;
    let session = Session::open(&stack.args()).await.unwrap();
    let cognito = &session.clients.cognito;
    let lambda = &session.clients.lambda;
    let define = format!("{}-define-auth-challenge", stack.name);
    let create = format!("{}-create-auth-challenge", stack.name);
    let verify = format!("{}-verify-auth-challenge", stack.name);

    let described = cognito
        .describe_user_pool_client()
        .user_pool_id(&outputs.user_pool_id)
        .client_id(&outputs.app_client_id)
        .send()
        .await
        .unwrap()
        .user_pool_client
        .unwrap();
    cognito
        .update_user_pool_client()
        .user_pool_id(&outputs.user_pool_id)
        .client_id(&outputs.app_client_id)
        .set_client_name(described.client_name)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowCustomAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .send()
        .await
        .unwrap();
    lambda
        .update_function_configuration()
        .function_name(&define)
        .memory_size(512)
        .send()
        .await
        .unwrap();
    lambda
        .remove_permission()
        .function_name(&verify)
        .statement_id("cognito-idp-invoke")
        .send()
        .await
        .unwrap();
    lambda
        .delete_function()
        .function_name(&create)
        .send()
        .await
        .unwrap();

    let drifted = Session::open(&stack.args()).await.unwrap();
    let report = commands::drift_report(&stack.name, &drifted.plan(&env.artifacts).unwrap());
    assert!(!report.in_sync);
    let has = |resource: &str, field: &str| {
        report
            .differences
            .iter()
            .any(|d| d.resource == resource && d.field == field)
    };
    assert!(
        has(
            &format!("app client {}-app", stack.name),
            "explicit_auth_flows"
        ),
        "{report:#?}"
    );
    assert!(
        has(&format!("lambda function {define}"), "memory_mb"),
        "{report:#?}"
    );
    assert!(
        has(&format!("invoke permission {verify}"), "(resource)"),
        "{report:#?}"
    );
    assert!(
        has(&format!("lambda function {create}"), "(resource)"),
        "{report:#?}"
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

    stack.deploy(&env).await;
    let repaired = Session::open(&stack.args()).await.unwrap();
    let report = commands::drift_report(&stack.name, &repaired.plan(&env.artifacts).unwrap());
    assert!(report.in_sync, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_removes_the_stack_and_spares_a_bystander() {
    let env = env();
    let stack = TestStack::new(&env, "");
    stack.deploy(&env).await;
    let session = Session::open(&stack.args()).await.unwrap();
    let bystander = session
        .clients
        .cognito
        .create_user_pool()
        .pool_name(format!("{}-bystander", stack.name))
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
        .id
        .unwrap();

    let teardown = |force| commands::TeardownArgs {
        stack: stack.args(),
        yes: true,
        force,
    };
    let refused = commands::teardown(&teardown(false)).await.unwrap_err();
    assert!(refused.to_string().contains("--force"), "{refused}");
    assert!(
        Session::open(&stack.args())
            .await
            .unwrap()
            .observation
            .user_pool
            .is_some()
    );

    commands::teardown(&teardown(true)).await.unwrap();
    let after = Session::open(&stack.args()).await.unwrap();
    assert!(after.observation.user_pool.is_none());
    assert!(
        after
            .observation
            .state
            .resources
            .values()
            .all(|o| *o == provisioner::model::Observed::Absent),
        "{:#?}",
        after.observation.state
    );
    commands::teardown(&teardown(true))
        .await
        .expect("a second teardown finds nothing and succeeds");
    after
        .clients
        .cognito
        .describe_user_pool()
        .user_pool_id(&bystander)
        .send()
        .await
        .expect("the bystander pool must survive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_catches_every_kind_of_out_of_band_change() {
    use aws_sdk_cognitoidentityprovider::types::{
        DeletionProtectionType, LambdaConfigType, PreventUserExistenceErrorTypes,
    };
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let outputs = stack.deploy(&env).await;
    let session = Session::open(&stack.args()).await.unwrap();
    let names = &session.observation.names;
    let (cognito, lambda, iam, ses) = (
        &session.clients.cognito,
        &session.clients.lambda,
        &session.clients.iam,
        &session.clients.ses,
    );
    let define = names.function(provisioner::artifacts::TriggerKind::Define);
    let create = names.function(provisioner::artifacts::TriggerKind::Create);
    let verify = names.function(provisioner::artifacts::TriggerKind::Verify);

    cognito
        .update_user_pool_client()
        .user_pool_id(&outputs.user_pool_id)
        .client_id(&outputs.app_client_id)
        .client_name(names.app_client())
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowCustomAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Legacy)
        .access_token_validity(120)
        .token_validity_units(
            aws_sdk_cognitoidentityprovider::types::TokenValidityUnitsType::builder()
                .access_token(aws_sdk_cognitoidentityprovider::types::TimeUnitsType::Minutes)
                .id_token(aws_sdk_cognitoidentityprovider::types::TimeUnitsType::Minutes)
                .refresh_token(aws_sdk_cognitoidentityprovider::types::TimeUnitsType::Days)
                .build(),
        )
        .id_token_validity(60)
        .refresh_token_validity(30)
        .auth_session_validity(10)
        .enable_token_revocation(true)
        .send()
        .await
        .unwrap();
    cognito
        .update_user_pool()
        .user_pool_id(&outputs.user_pool_id)
        .deletion_protection(DeletionProtectionType::Active)
        .lambda_config(
            LambdaConfigType::builder()
                .define_auth_challenge(
                    names.function_arn(provisioner::artifacts::TriggerKind::Define),
                )
                .create_auth_challenge(
                    names.function_arn(provisioner::artifacts::TriggerKind::Create),
                )
                .build(),
        )
        .user_pool_tags(provisioner::desired::OWNER_TAG, stack.name.as_str())
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
    lambda
        .remove_permission()
        .function_name(&verify)
        .statement_id("cognito-idp-invoke")
        .send()
        .await
        .unwrap();
    lambda
        .add_permission()
        .function_name(&verify)
        .statement_id("cognito-idp-invoke")
        .action("lambda:InvokeFunction")
        .principal("cognito-idp.amazonaws.com")
        .source_arn("arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_someoneElse")
        .source_account(&names.account)
        .send()
        .await
        .unwrap();
    let mut trust = provisioner::desired::trust_policy();
    trust["Statement"][0]["Principal"]["Service"] = serde_json::json!("ec2.amazonaws.com");
    iam.update_assume_role_policy()
        .role_name(names.role())
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let spec = StackSpec::load(&stack.path).unwrap();
    let mut widened = provisioner::desired::role_policy(&spec, names);
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
        .email_identity(spec.ses_identity())
        .send()
        .await
        .unwrap();

    let drifted = Session::open(&stack.args()).await.unwrap();
    let report = commands::drift_report(&stack.name, &drifted.plan(&env.artifacts).unwrap());
    let client = format!("app client {}", names.app_client());
    let pool = format!("user pool {}", names.user_pool());
    let role = format!("iam role {}", names.role());
    for (resource, field) in [
        (client.as_str(), "prevent_user_existence_errors"),
        (client.as_str(), "access_token_validity"),
        (client.as_str(), "auth_session_validity_minutes"),
        (pool.as_str(), "deletion_protection"),
        (pool.as_str(), "lambda_triggers"),
        (&format!("lambda function {create}"), "timeout_seconds"),
        (&format!("lambda function {create}"), "environment"),
        (&format!("lambda function {define}"), "runtime"),
        (&format!("invoke permission {verify}"), "statements"),
        (role.as_str(), "trust_policy"),
        (role.as_str(), "inline_policies"),
        (
            &format!("ses identity {}", spec.ses_identity()),
            "(resource)",
        ),
    ] {
        assert!(
            report
                .differences
                .iter()
                .any(|d| d.resource == resource && d.field == field),
            "drift missed {resource} {field}: {report:#?}"
        );
    }
    let policy = report
        .differences
        .iter()
        .find(|d| d.field == "inline_policies")
        .unwrap();
    assert!(policy.actual.contains("s3:GetObject") && !policy.expected.contains("s3:GetObject"));

    let other_build = std::env::temp_dir().join(format!("{}-zips", stack.name));
    std::fs::create_dir_all(&other_build).unwrap();
    for kind in provisioner::artifacts::TriggerKind::ALL {
        let mut zip = env.artifacts.zip(kind).to_vec();
        if kind == provisioner::artifacts::TriggerKind::Verify {
            zip.extend_from_slice(b"a different build");
        }
        std::fs::write(other_build.join(kind.zip_name()), zip).unwrap();
    }
    let rebuilt = Artifacts::load(&other_build).unwrap();
    let report = commands::drift_report(&stack.name, &drifted.plan(&rebuilt).unwrap());
    assert!(
        report
            .differences
            .iter()
            .any(|d| d.resource == format!("lambda function {verify}") && d.field == "code_sha256"),
        "{report:#?}"
    );
    std::fs::remove_dir_all(&other_build).unwrap();

    stack.deploy(&env).await;
    let repaired = Session::open(&stack.args()).await.unwrap();
    let report = commands::drift_report(&stack.name, &repaired.plan(&env.artifacts).unwrap());
    assert!(report.in_sync, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_pool_and_role_show_as_missing_and_deploy_restores_them() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let outputs = stack.deploy(&env).await;
    let session = Session::open(&stack.args()).await.unwrap();
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

    let drifted = Session::open(&stack.args()).await.unwrap();
    let args = commands::DriftArgs {
        stack: stack.args(),
        format: commands::DriftFormat::Json,
    };
    assert_eq!(
        commands::drift(&args, &env.artifacts).await.unwrap(),
        std::process::ExitCode::from(2)
    );
    let report = commands::drift_report(&stack.name, &drifted.plan(&env.artifacts).unwrap());
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

    stack.deploy(&env).await;
    assert_eq!(
        commands::drift(&args, &env.artifacts).await.unwrap(),
        std::process::ExitCode::SUCCESS
    );
    let _ = commands::teardown_with(
        &session.spec,
        &session.clients,
        true,
        &|_: &provisioner::plan::Step, _: provisioner::apply::Outcome| {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_added_listed_and_removed_and_a_missing_one_is_no_error() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let session = Session::open(&stack.args()).await.unwrap();
    let not_deployed = provisioner::users::list(&session).await.unwrap_err();
    assert!(
        not_deployed.to_string().contains("cargo xtask deploy"),
        "{not_deployed}"
    );

    stack.deploy(&env).await;
    let session = Session::open(&stack.args()).await.unwrap();
    let email = format!("carol@{}.example", stack.name);
    provisioner::users::add(&session, &email).await.unwrap();
    provisioner::users::add(&session, &email)
        .await
        .expect("adding an existing user is reported, not an error");
    assert_eq!(
        provisioner::users::list(&session).await.unwrap(),
        vec![(email.clone(), "CONFIRMED".to_owned())]
    );
    provisioner::users::remove(&session, &email).await.unwrap();
    provisioner::users::remove(&session, &email)
        .await
        .expect("removing a user who is not there is no error");
    assert!(provisioner::users::list(&session).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_others_add_are_left_alone_and_changed_ones_are_repaired() {
    let env = env();
    let stack = TestStack::new(&env, &format!("{UNPROTECTED}tags:\n  team: identity\n"));
    let outputs = stack.deploy(&env).await;
    let session = Session::open(&stack.args()).await.unwrap();
    let define = session
        .observation
        .names
        .function_arn(provisioner::artifacts::TriggerKind::Define);
    session
        .clients
        .lambda
        .tag_resource()
        .resource(&define)
        .tags("cost-center", "42")
        .send()
        .await
        .unwrap();
    session
        .clients
        .cognito
        .tag_resource()
        .resource_arn(&outputs.user_pool_arn)
        .tags("team", "someone-else")
        .send()
        .await
        .unwrap();

    let drifted = Session::open(&stack.args()).await.unwrap();
    let report = commands::drift_report(&stack.name, &drifted.plan(&env.artifacts).unwrap());
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

    stack.deploy(&env).await;
    let repaired = Session::open(&stack.args()).await.unwrap();
    assert!(commands::drift_report(&stack.name, &repaired.plan(&env.artifacts).unwrap()).in_sync);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_locator_spares_a_lookup_and_a_stale_one_is_repaired() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let outputs = stack.deploy(&env).await;
    let describes = |session: &Session| {
        session
            .clients
            .requests
            .entries()
            .iter()
            .filter(|(_, operation)| operation == "DescribeUserPoolClient")
            .count()
    };
    let located = Session::open(&stack.args()).await.unwrap();
    assert_eq!(
        describes(&located),
        1,
        "with the locator, the client is described once, alongside the pool"
    );
    assert!(
        !located.plan(&env.artifacts).unwrap().has_changes(),
        "a fresh deploy left a stale locator"
    );

    let define_arn = located
        .observation
        .names
        .function_arn(provisioner::artifacts::TriggerKind::Define);
    let stale = format!("{}/{}", outputs.user_pool_id, "0000000000000000000000000a");
    located
        .clients
        .lambda
        .tag_resource()
        .resource(&define_arn)
        .tags(provisioner::desired::CLIENT_LOCATOR_TAG, &stale)
        .send()
        .await
        .unwrap();
    let misled = Session::open(&stack.args()).await.unwrap();
    assert_eq!(
        misled.observation.app_client_id.as_deref(),
        Some(outputs.app_client_id.as_str()),
        "a stale locator must not hide the client the pool lists"
    );
    assert_eq!(
        describes(&misled),
        2,
        "the stale locator's read, then the listed client's"
    );
    let plan = misled.plan(&env.artifacts).unwrap();
    let changed: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| !matches!(s.action, Action::NoOp))
        .collect();
    assert_eq!(changed.len(), 1, "{}", render_text(&plan));
    assert_eq!(
        changed[0].action,
        Action::Update(vec![provisioner::plan::FieldChange {
            field: "app_client",
            old: Some(stale),
            new: Some(format!(
                "{}/{}",
                outputs.user_pool_id, outputs.app_client_id
            )),
        }])
    );

    stack.deploy(&env).await;
    let repaired = Session::open(&stack.args()).await.unwrap();
    assert_eq!(describes(&repaired), 1);
    assert!(!repaired.plan(&env.artifacts).unwrap().has_changes());
}
