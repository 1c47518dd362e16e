//! Users: added verified with no invitation, listed, removed; repeats are no errors.

use provisioner::users::{self, Change};

use crate::common::{TestStack, UNPROTECTED, env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_added_listed_and_removed_and_a_missing_one_is_no_error() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let not_deployed = users::list(&stack.open().await).await.unwrap_err();
    assert!(
        not_deployed.to_string().contains("cargo xtask deploy"),
        "{not_deployed}"
    );

    stack.deploy(&env).await;
    let session = stack.open().await;
    let email = format!("carol@{}.example", stack.name);
    assert_eq!(users::add(&session, &email).await.unwrap(), Change::Done);
    assert_eq!(
        users::add(&session, &email).await.unwrap(),
        Change::AlreadySo
    );
    assert_eq!(
        users::list(&session).await.unwrap(),
        vec![users::User {
            email: email.clone(),
            status: "CONFIRMED".to_owned(),
            locked_until: None
        }]
    );
    assert_eq!(users::remove(&session, &email).await.unwrap(), Change::Done);
    assert_eq!(
        users::remove(&session, &email).await.unwrap(),
        Change::AlreadySo
    );
    assert!(users::list(&session).await.unwrap().is_empty());
}
