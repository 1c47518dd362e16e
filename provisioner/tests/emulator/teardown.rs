//! Teardown: protection refused without --force, everything of ours gone with it, a
//! bystander spared, a second run a no-op.

use crate::common::{TestStack, env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_removes_the_stack_and_spares_a_bystander() {
    let env = env();
    let stack = TestStack::new(&env, "");
    stack.deploy(&env).await;
    let session = stack.open().await;
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

    let refused = session
        .teardown(provisioner::session::TeardownOptions::default(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("--force"), "{refused}");
    assert!(stack.open().await.observation.user_pool.is_some());

    stack.tear_down().await;
    let after = stack.assert_all_gone().await;
    assert!(after.observation.user_pool.is_none());
    after
        .teardown(provisioner::session::FORCE, &|_, _| {})
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

/// Resources with exactly the stack's names but without its ownership tag (someone else's,
/// or made by hand) are left alone: teardown goes by the tag, never by the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_leaves_same_named_resources_without_the_tag_alone() {
    let env = env();
    let stack = TestStack::new(&env, "");
    let session = stack.open().await;
    let names = &session.observation.names;
    let clients = &session.clients;
    clients
        .iam
        .create_role()
        .role_name(names.role())
        .assume_role_policy_document(provisioner::resources::role::trust_policy().to_string())
        .send()
        .await
        .unwrap();
    let pool = clients
        .cognito
        .create_user_pool()
        .pool_name(names.user_pool())
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
        .id
        .unwrap();
    let observed = stack.open().await;
    for kind in [
        provisioner::resources::ResourceKind::Role,
        provisioner::resources::ResourceKind::UserPool,
    ] {
        let id = provisioner::resources::ResourceId {
            kind,
            name: match kind {
                provisioner::resources::ResourceKind::Role => names.role(),
                _ => names.user_pool(),
            },
        };
        assert_eq!(
            observed.observation.state.get(&id),
            &provisioner::resources::Observed::Unowned,
            "{id}"
        );
    }
    let torn = observed
        .teardown(provisioner::session::FORCE, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(torn.deleted, 0);
    clients
        .iam
        .get_role()
        .role_name(names.role())
        .send()
        .await
        .expect("the same-named role without our tag must survive");
    clients
        .cognito
        .describe_user_pool()
        .user_pool_id(&pool)
        .send()
        .await
        .expect("the same-named pool without our tag must survive");
}
