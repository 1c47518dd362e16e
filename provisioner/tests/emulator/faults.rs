//! Faults injected into the HTTP client: transient ones are retried, a lost create response
//! never makes a second resource, a deadline ends in a clean error, and a deploy stopped at any
//! request converges when run again.

use std::time::{Duration, Instant};

use provisioner::aws::{ConnectOptions, Deadlines, Fault, FaultKind, Faults};
use provisioner::login::{answer_challenge, start_custom_auth, wait_for_code};
use provisioner::session::Session;

use crate::common::{TestStack, UNPROTECTED, add_user, env, pools_named};

const ROLE_NOT_ASSUMABLE: FaultKind = FaultKind::Error {
    status: 400,
    code: "InvalidParameterValueException",
    message: "The role defined for the function cannot be assumed by Lambda.",
};

fn fault(operation: &'static str, kind: FaultKind, times: usize) -> Fault {
    Fault {
        operation,
        kind,
        skip: 0,
        times,
    }
}

fn with_faults(faults: &Faults) -> ConnectOptions {
    ConnectOptions {
        faults: Some(faults.clone()),
        ..ConnectOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_responses_to_the_pool_and_client_creates_leave_one_of_each() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let faults = Faults::default();
    for operation in ["CreateUserPool", "CreateUserPoolClient"] {
        faults.inject(fault(operation, FaultKind::LostResponse, 1));
    }
    let session = Session::open_with(&stack.path, with_faults(&faults))
        .await
        .unwrap();
    let outputs = session
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap()
        .outputs;
    assert_eq!(faults.remaining(), 0, "the faults were not injected");
    assert_eq!(
        pools_named(&session, &stack.name).await,
        1,
        "a lost CreateUserPool response made a second pool"
    );
    let clients = session
        .clients
        .cognito
        .list_user_pool_clients()
        .user_pool_id(&outputs.user_pool_id)
        .send()
        .await
        .unwrap()
        .user_pool_clients
        .unwrap_or_default();
    assert_eq!(
        clients.len(),
        1,
        "a lost CreateUserPoolClient response made a second client"
    );
    let (_, report) = stack.drift(&env.artifacts).await;
    assert!(report.in_sync, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_the_deploy_succeeds() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let faults = Faults::default();
    let throttled = |code| FaultKind::Error {
        status: 400,
        code,
        message: "Rate exceeded",
    };
    faults.inject(fault("CreateFunction", ROLE_NOT_ASSUMABLE, 2));
    faults.inject(fault(
        "CreateUserPool",
        throttled("TooManyRequestsException"),
        2,
    ));
    faults.inject(fault(
        "ListUserPools",
        throttled("TooManyRequestsException"),
        1,
    ));
    faults.inject(fault("PutRolePolicy", throttled("Throttling"), 1));
    faults.inject(fault(
        "GetRole",
        FaultKind::Error {
            status: 503,
            code: "ServiceUnavailable",
            message: "Service is unavailable",
        },
        1,
    ));
    faults.inject(fault("GetFunction", FaultKind::Reset, 1));
    faults.inject(fault(
        "DescribeTable",
        FaultKind::Stall(Duration::from_secs(3)),
        1,
    ));
    let options = ConnectOptions {
        attempt_timeout: Some(Duration::from_secs(1)),
        ..with_faults(&faults)
    };
    let session = Session::open_with(&stack.path, options).await.unwrap();
    session.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    assert_eq!(faults.remaining(), 0, "some faults were never injected");
    assert_eq!(pools_named(&session, &stack.name).await, 1);
    let (_, report) = stack.drift(&env.artifacts).await;
    assert!(report.in_sync, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_never_becomes_assumable_ends_in_a_clean_error_at_the_deadline() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let faults = Faults::default();
    faults.inject(fault("CreateFunction", ROLE_NOT_ASSUMABLE, usize::MAX));
    let options = ConnectOptions {
        deadlines: Some(Deadlines {
            role_propagation: Duration::from_secs(2),
            ..Deadlines::default()
        }),
        ..with_faults(&faults)
    };
    let session = Session::open_with(&stack.path, options).await.unwrap();
    let started = Instant::now();
    let error = session
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let role = session.observation.names.role_arn();
    for expected in ["cannot be assumed", role.as_str(), "trust policy"] {
        assert!(
            error.contains(expected),
            "{expected:?} missing from: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_stopped_at_any_request_converges_when_run_again() {
    let env = env();
    for stop_after in (3..=51).step_by(6) {
        let stack = TestStack::new(&env, UNPROTECTED);
        let faults = Faults::default();
        // From this request on, nothing reaches AWS: the process as good as died.
        faults.inject(Fault {
            operation: "*",
            kind: FaultKind::Reset,
            skip: stop_after,
            times: usize::MAX,
        });
        // Early stops end during the observation, later ones somewhere in apply.
        if let Ok(session) = Session::open_with(&stack.path, with_faults(&faults)).await {
            let _ = session.deploy(&env.artifacts, &|_, _| {}).await;
        }
        // A stopped deploy may still hold the stack lock; its operator breaks it, as the
        // error of the next deploy says (its lease would end it in 2 minutes anyway).
        let operator = stack.open().await;
        let _ =
            provisioner::lock::force_unlock(&operator.clients, &operator.observation.names).await;

        let outputs = stack.deploy(&env).await;
        let (repaired, report) = stack.drift(&env.artifacts).await;
        assert!(report.in_sync, "stopped after {stop_after}: {report:#?}");
        assert_eq!(
            pools_named(&repaired, &stack.name).await,
            1,
            "stopped after {stop_after}"
        );
        let email = format!("hana@{}.example", stack.name);
        add_user(&stack, &email).await;
        let cognito = &repaired.clients.cognito;
        let started = start_custom_auth(cognito, &outputs, &email).await.unwrap();
        let account = &repaired.observation.names.account;
        let code = wait_for_code(&env.endpoint, account, &email, &[]).unwrap();
        let done = answer_challenge(cognito, &outputs, started.session, &email, code)
            .await
            .unwrap();
        assert!(
            done.authentication_result.is_some(),
            "stopped after {stop_after}"
        );
    }
}

/// The loser of two first deploys: its lock write finds no table, its CreateTable finds the
/// table the winner made, and DescribeTable does not see that table yet (AWS's metadata is
/// eventually consistent). That is "not ready yet", never a raw CreateTable error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_describe_cannot_see_yet_is_waited_for() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    stack.deploy(&env).await;
    stack.write(&format!("{UNPROTECTED}otp:\n  length: 8\n"));
    let faults = Faults::default();
    let session = Session::open_with(&stack.path, with_faults(&faults))
        .await
        .unwrap();
    let not_found = FaultKind::Error {
        status: 400,
        code: "ResourceNotFoundException",
        message: "Requested resource not found",
    };
    faults.inject(fault("PutItem", not_found, 1));
    faults.inject(fault("DescribeTable", not_found, 2));
    session.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    assert_eq!(faults.remaining(), 0, "the faults were not injected");
    let (_, report) = stack.drift(&env.artifacts).await;
    assert!(report.in_sync, "{report:#?}");
}
