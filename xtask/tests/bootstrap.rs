//! The permissions boundary as an administrator and a deployer meet it on the command line:
//! deploy refuses, writing nothing, until `cargo xtask bootstrap` has created the boundary;
//! then the role carries it and drift watches it.

mod common;

use common::{need, scratch, spec, text, xtask};

#[test]
fn deploy_refuses_until_the_boundary_is_bootstrapped_and_the_role_then_carries_it() {
    let dir = scratch("bootstrap");
    let name = format!("b{}-boundary", std::process::id());
    let stack = spec(&dir, &name);
    let stack_arg = stack.to_str().unwrap();
    let zips = need("TRIGGER_ZIPS");

    let refused = xtask(&["deploy", "--stack", stack_arg, "--artifacts", &zips]);
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("cargo xtask bootstrap --stack"), "{said}");
    assert!(said.contains(&format!("{name}-trigger-boundary")), "{said}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let session = runtime
        .block_on(provisioner::session::Session::open(&stack))
        .unwrap();
    assert!(
        session
            .observation
            .state
            .resources
            .values()
            .all(|o| *o == provisioner::resources::Observed::Absent),
        "a refused deploy wrote something: {:#?}",
        session.observation.state
    );

    let bootstrapped = xtask(&["bootstrap", "--stack", stack_arg]);
    assert!(bootstrapped.status.success(), "{}", text(&bootstrapped));
    assert!(
        text(&bootstrapped).contains("created"),
        "{}",
        text(&bootstrapped)
    );
    let again = xtask(&["bootstrap", "--stack", stack_arg]);
    assert!(
        text(&again).contains("already in place"),
        "{}",
        text(&again)
    );

    let deployed = xtask(&["deploy", "--stack", stack_arg, "--artifacts", &zips]);
    assert!(deployed.status.success(), "{}", text(&deployed));
    let names = session.observation.names.clone();
    let role = runtime
        .block_on(
            session
                .clients
                .iam
                .get_role()
                .role_name(names.role())
                .send(),
        )
        .unwrap()
        .role
        .unwrap();
    assert_eq!(
        role.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        Some(names.boundary_policy_arn().as_str())
    );

    // Someone removes the boundary: drift names it, deploy puts it back.
    runtime
        .block_on(
            session
                .clients
                .iam
                .delete_role_permissions_boundary()
                .role_name(names.role())
                .send(),
        )
        .unwrap();
    let drift = xtask(&["drift", "--stack", stack_arg, "--format", "json"]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    assert!(
        String::from_utf8_lossy(&drift.stdout).contains("\"permissions_boundary\""),
        "{}",
        text(&drift)
    );
    let repaired = xtask(&["deploy", "--stack", stack_arg, "--artifacts", &zips]);
    assert!(repaired.status.success(), "{}", text(&repaired));
    let drift = xtask(&["drift", "--stack", stack_arg]);
    assert_eq!(drift.status.code(), Some(0), "{}", text(&drift));

    let torn = xtask(&["teardown", "--stack", stack_arg, "--yes", "--force"]);
    assert!(torn.status.success(), "{}", text(&torn));
    std::fs::remove_dir_all(&dir).unwrap();
}
