//! The client locator: the client is described alongside the pool, and a stale locator
//! neither hides the real client nor survives the next deploy.

use provisioner::plan::Action;
use provisioner::report::plan_text;
use provisioner::session::Session;

use crate::common::{TestStack, UNPROTECTED, env};

/// How many `operation` requests the session has sent.
fn calls(session: &Session, operation: &str) -> usize {
    session
        .clients
        .requests
        .entries()
        .iter()
        .filter(|(_, sent)| sent == operation)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_locator_spares_a_lookup_and_a_stale_one_is_repaired() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let outputs = stack.deploy(&env).await;
    let describes = |session: &Session| calls(session, "DescribeUserPoolClient");
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

/// An account with more pools than one page of ListUserPools (60) is paged through only
/// when the locator cannot name the stack's pool: a stack per pull request soon makes such
/// an account, and every plan would otherwise take a round per 60 pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_account_is_paged_through_only_when_the_locator_cannot_name_the_pool() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let cognito = stack.open().await.clients.cognito.clone();
    // Made before the stack's pool, so that pool comes after the first page when listed.
    let mut fillers = Vec::new();
    for index in 0..61 {
        let created = cognito
            .create_user_pool()
            .pool_name(format!("{}-filler-{index}", stack.name))
            .send()
            .await
            .unwrap();
        fillers.push(created.user_pool.unwrap().id.unwrap());
    }
    let outputs = stack.deploy(&env).await;
    let listings = |session: &Session| calls(session, "ListUserPools");

    let located = stack.open().await;
    assert_eq!(
        located
            .observation
            .user_pool
            .as_ref()
            .map(|p| p.id.as_str()),
        Some(outputs.user_pool_id.as_str())
    );
    assert_eq!(
        listings(&located),
        1,
        "the locator named the pool: one page only"
    );
    assert!(!located.plan(&env.artifacts).unwrap().has_changes());

    let define_arn = located
        .observation
        .names
        .function_arn(provisioner::naming::TriggerKind::Define);
    located
        .clients
        .lambda
        .untag_resource()
        .resource(&define_arn)
        .tag_keys(provisioner::naming::CLIENT_LOCATOR_TAG)
        .send()
        .await
        .unwrap();
    let unlocated = stack.open().await;
    assert!(
        listings(&unlocated) >= 2,
        "without the locator every page is read"
    );
    assert_eq!(
        unlocated
            .observation
            .user_pool
            .as_ref()
            .map(|p| p.id.as_str()),
        Some(outputs.user_pool_id.as_str()),
        "the pool past the first page is found by paging"
    );
    assert_eq!(
        unlocated.observation.app_client_id.as_deref(),
        Some(outputs.app_client_id.as_str())
    );

    for id in fillers {
        cognito
            .delete_user_pool()
            .user_pool_id(id)
            .send()
            .await
            .unwrap();
    }
    stack.tear_down().await;
}
