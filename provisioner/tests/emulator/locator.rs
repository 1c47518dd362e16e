//! The client locator: the client is described alongside the pool, and a stale locator
//! neither hides the real client nor survives the next deploy.

use provisioner::plan::Action;
use provisioner::report::plan_text;
use provisioner::session::Session;

use crate::common::{TestStack, UNPROTECTED, env};

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
    let located = stack.open().await;
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
        .function_arn(provisioner::naming::TriggerKind::Define);
    let stale = format!("{}/{}", outputs.user_pool_id, "0000000000000000000000000a");
    located
        .clients
        .lambda
        .tag_resource()
        .resource(&define_arn)
        .tags(provisioner::naming::CLIENT_LOCATOR_TAG, &stale)
        .send()
        .await
        .unwrap();
    let misled = stack.open().await;
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
    assert_eq!(changed.len(), 1, "{}", plan_text(&plan));
    assert_eq!(
        changed[0].action,
        Action::Update(vec![provisioner::fields::FieldChange {
            field: provisioner::resources::client_locator::FIELD,
            old: Some(stale),
            new: Some(format!(
                "{}/{}",
                outputs.user_pool_id, outputs.app_client_id
            )),
        }])
    );

    stack.deploy(&env).await;
    let repaired = stack.open().await;
    assert_eq!(describes(&repaired), 1);
    assert!(!repaired.plan(&env.artifacts).unwrap().has_changes());
}
