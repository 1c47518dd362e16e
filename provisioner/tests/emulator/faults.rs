//! Faults injected into the HTTP client: a create whose response is lost is never made twice.

use provisioner::aws::{ConnectOptions, Fault, FaultKind, Faults};
use provisioner::session::Session;

use crate::common::{TestStack, UNPROTECTED, env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_responses_to_the_pool_and_client_creates_leave_one_of_each() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let faults = Faults::default();
    for operation in ["CreateUserPool", "CreateUserPoolClient"] {
        faults.inject(Fault {
            operation,
            kind: FaultKind::LostResponse,
            times: 1,
        });
    }
    let options = ConnectOptions {
        faults: Some(faults.clone()),
        ..ConnectOptions::default()
    };
    let session = Session::open_with(&stack.path, options).await.unwrap();
    let outputs = session
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap()
        .outputs;
    assert_eq!(faults.remaining(), 0, "the faults were not injected");

    let cognito = &session.clients.cognito;
    let pools = cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .unwrap()
        .user_pools
        .unwrap_or_default();
    let ours = pools
        .iter()
        .filter(|p| p.name() == Some(stack.name.as_str()))
        .count();
    assert_eq!(ours, 1, "a lost CreateUserPool response made a second pool");
    let clients = cognito
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
