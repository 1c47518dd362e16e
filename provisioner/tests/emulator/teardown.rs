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

    stack
        .open()
        .await
        .teardown(provisioner::session::FORCE, &|_, _| {})
        .await
        .unwrap();
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
