//! Deploy and redeploy: nothing written when nothing changed, exactly the planned change
//! when something did, nothing at all for a bad spec or a change no deploy can make.

use provisioner::plan::Action;
use provisioner::report::plan_text;
use provisioner::session::Session;

use provisioner::session::ROLE_PROPAGATION;

use crate::common::{TestStack, UNPROTECTED, env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_redeploy_plans_nothing_and_writes_nothing() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let first = stack
        .open()
        .await
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap();
    assert!(
        first.notes.iter().any(|n| n == ROLE_PROPAGATION),
        "a new role's propagation went unsaid: {:?}",
        first.notes
    );
    let again = stack.open().await;
    let plan = again.plan(&env.artifacts).unwrap();
    assert!(
        !plan.has_changes(),
        "a redeploy with nothing changed planned:\n{}",
        plan_text(&plan)
    );
    let unchanged = again.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    assert!(
        !unchanged.notes.iter().any(|n| n == ROLE_PROPAGATION),
        "{:?}",
        unchanged.notes
    );
    assert!(
        !again.clients.requests.entries().is_empty(),
        "observation must have been counted"
    );
    assert_eq!(
        again.clients.requests.mutating(),
        Vec::<String>::new(),
        "an unchanged redeploy made mutating calls"
    );
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

    let session = stack.open().await;
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
    assert_eq!(changed, expected, "{}", plan_text(&plan));

    let deployed = session.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    assert!(
        !deployed.notes.iter().any(|n| n == ROLE_PROPAGATION),
        "a change that leaves the role alone warned of propagation: {:?}",
        deployed.notes
    );
    let after = stack.open().await;
    let plan = after.plan(&env.artifacts).unwrap();
    assert!(
        !plan.has_changes(),
        "live state does not match the spec after apply:\n{}",
        plan_text(&plan)
    );
    let names = &after.observation.names;
    for kind in provisioner::naming::TriggerKind::CUSTOM_AUTH {
        let config = after
            .clients
            .lambda
            .get_function_configuration()
            .function_name(names.function(kind))
            .send()
            .await
            .unwrap();
        assert_eq!(
            config.state(),
            Some(&aws_sdk_lambda::types::State::Active),
            "deploy returned before {} was Active",
            names.function(kind)
        );
        assert_eq!(
            config.last_update_status(),
            Some(&aws_sdk_lambda::types::LastUpdateStatus::Successful),
            "deploy returned before the update of {} finished",
            names.function(kind)
        );
    }
}

#[tokio::test]
async fn a_bad_spec_fails_before_any_aws_call() {
    let env = env();
    let stack = TestStack::new(&env, "otp:\n  length: 12\n");
    let error = Session::open(&stack.path).await.err().unwrap();
    let message = error.to_string();
    assert!(
        matches!(error, provisioner::ProvisionError::Spec(_)),
        "{message}"
    );
    assert!(
        message.contains("otp.length: 12 is out of range: allowed 6 to 10"),
        "{message}"
    );
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks/local.yaml");
    let spec = provisioner::spec::StackSpec::load(&shipped).unwrap();
    assert_eq!(spec.name.as_str(), "local-dev");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_needs_a_replace_is_refused_before_any_write() {
    use aws_sdk_cognitoidentityprovider::types::UsernameAttributeType;
    let env = env();
    let (stack, outputs, session) = TestStack::deployed(&env, UNPROTECTED).await;
    // Out of band: a same-named pool of ours with phone usernames stands in for a pool whose
    // creation-time settings differ from the spec; plus a memory change deploy could make.
    session
        .clients
        .cognito
        .delete_user_pool()
        .user_pool_id(&outputs.user_pool_id)
        .send()
        .await
        .unwrap();
    session
        .clients
        .cognito
        .create_user_pool()
        .pool_name(&stack.name)
        .username_attributes(UsernameAttributeType::PhoneNumber)
        .user_pool_tags(provisioner::naming::OWNER_TAG, &stack.name)
        .send()
        .await
        .unwrap();
    let with_memory = std::fs::read_to_string(&stack.path).unwrap().replace(
        "  architecture: x86_64\n",
        "  architecture: x86_64\n  memory_mb: 256\n",
    );
    std::fs::write(&stack.path, with_memory).unwrap();
    let refused_session = stack.open().await;
    let error = refused_session
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap_err();
    assert!(error.to_string().contains("must be replaced"), "{error}");
    assert_eq!(
        refused_session.clients.requests.mutating(),
        Vec::<String>::new(),
        "a refused deploy wrote something"
    );
}
