//! Many environments from one spec, as CI runs them against the local emulator: saved plans
//! applied exactly or refused once stale, stacks found and removed without their spec, and a
//! sender identity shared between stacks.

mod common;

use std::path::Path;

use common::{live_function_field, need, scratch, spec, text, xtask};
use provisioner::naming::TriggerKind;
use provisioner::session::Session;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn open(stack: &Path) -> Session {
    runtime().block_on(Session::open(stack)).unwrap()
}

/// The live memory of each CUSTOM_AUTH function.
fn memory(stack: &Path) -> Vec<String> {
    live_function_field(stack, "memory_mb")
}

fn set_memory(stack: &Path, memory_mb: u32) {
    let text = std::fs::read_to_string(stack).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("memory_mb"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        stack,
        text.replace(
            "  architecture: x86_64\n",
            &format!("  architecture: x86_64\n  memory_mb: {memory_mb}\n"),
        ),
    )
    .unwrap();
}

#[test]
fn a_saved_plan_is_applied_exactly_and_refused_once_stale() {
    let dir = scratch("saved-plan");
    let artifacts = need("TRIGGER_ZIPS");
    let stack = spec(&dir, &format!("p{}-plan", std::process::id()));
    let stack_arg = stack.to_str().unwrap();
    let plan_path = dir.join("plan.json");
    let plan_arg = plan_path.to_str().unwrap();
    assert!(xtask(&["bootstrap", "--stack", stack_arg]).status.success());
    let first = xtask(&["deploy", "--stack", stack_arg, "--artifacts", &artifacts]);
    assert!(first.status.success(), "{}", text(&first));

    // Reviewed and applied: the markdown a pull request shows, then exactly that plan.
    set_memory(&stack, 256);
    let planned = xtask(&[
        "plan",
        "--stack",
        stack_arg,
        "--artifacts",
        &artifacts,
        "--format",
        "markdown",
        "--out",
        plan_arg,
    ]);
    assert_eq!(planned.status.code(), Some(2), "{}", text(&planned));
    let markdown = String::from_utf8_lossy(&planned.stdout);
    assert!(
        markdown.contains("| `memory_mb` | `128` | `256` |"),
        "{markdown}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    assert_eq!(saved["format"], "emailcode-plan/1");
    assert_eq!(saved["summary"]["update"], 3, "{saved:#}");
    let json = xtask(&[
        "plan",
        "--stack",
        stack_arg,
        "--artifacts",
        &artifacts,
        "--format",
        "json",
    ]);
    let printed: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("stdout is only the JSON");
    assert_eq!(
        printed["basis"], saved["basis"],
        "the same plan printed and saved"
    );
    let applied = xtask(&[
        "deploy",
        "--stack",
        stack_arg,
        "--artifacts",
        &artifacts,
        "--plan",
        plan_arg,
    ]);
    assert!(applied.status.success(), "{}", text(&applied));
    assert_eq!(memory(&stack), ["256", "256", "256"]);

    // Stale by an out-of-band change: refused, nothing written.
    set_memory(&stack, 512);
    let planned = xtask(&[
        "plan",
        "--stack",
        stack_arg,
        "--artifacts",
        &artifacts,
        "--out",
        plan_arg,
    ]);
    assert_eq!(planned.status.code(), Some(2), "{}", text(&planned));
    runtime().block_on(async {
        let session = Session::open(&stack).await.unwrap();
        session
            .clients
            .lambda
            .update_function_configuration()
            .function_name(session.observation.names.function(TriggerKind::Verify))
            .memory_size(192)
            .send()
            .await
            .unwrap();
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let refused = xtask(&[
        "deploy",
        "--stack",
        stack_arg,
        "--artifacts",
        &artifacts,
        "--plan",
        plan_arg,
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("live stack changed")
            && said.contains("verify-auth-challenge")
            && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!(
        memory(&stack),
        ["256", "256", "192"],
        "a refused plan wrote something"
    );

    // Stale by a spec edit after the plan: refused too.
    let planned = xtask(&[
        "plan",
        "--stack",
        stack_arg,
        "--artifacts",
        &artifacts,
        "--out",
        plan_arg,
    ]);
    assert_eq!(planned.status.code(), Some(2), "{}", text(&planned));
    set_memory(&stack, 1024);
    let refused = xtask(&[
        "deploy",
        "--stack",
        stack_arg,
        "--artifacts",
        &artifacts,
        "--plan",
        plan_arg,
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("spec now wants other settings"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        memory(&stack),
        ["256", "256", "192"],
        "a refused plan wrote something"
    );

    let torn = xtask(&["teardown", "--stack", stack_arg, "--yes", "--force"]);
    assert!(torn.status.success(), "{}", text(&torn));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cargo xtask ARGS` without a spec: region and endpoint from the SDK's standard variables.
fn xtask_in_account(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("CARGO", "/bin/false")
        .env("AWS_ENDPOINT_URL", need("EMULATOR_ENDPOINT"))
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap()
}

fn listed(prefix: &str) -> Vec<serde_json::Value> {
    let list = xtask_in_account(&["stacks", "list", "--format", "json"]);
    assert!(list.status.success(), "{}", text(&list));
    let stacks: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    stacks
        .into_iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with(prefix))
        .collect()
}

fn deploy(stack: &Path) {
    let stack = stack.to_str().unwrap();
    let bootstrapped = xtask(&["bootstrap", "--stack", stack]);
    assert!(bootstrapped.status.success(), "{}", text(&bootstrapped));
    let deployed = xtask(&[
        "deploy",
        "--stack",
        stack,
        "--artifacts",
        &need("TRIGGER_ZIPS"),
    ]);
    assert!(deployed.status.success(), "{}", text(&deployed));
}

fn identity_exists(session: &Session, identity: &str) -> bool {
    runtime()
        .block_on(
            session
                .clients
                .ses
                .get_email_identity()
                .email_identity(identity)
                .send(),
        )
        .is_ok()
}

/// Two stacks from specs extending one base, sending as one address: listed with their
/// details, each surviving the other's teardown, the second removed by name after its spec
/// is gone.
#[test]
fn stacks_from_one_base_share_a_sender_are_listed_and_removed_without_their_spec() {
    let dir = scratch("two-from-base");
    let run = std::process::id();
    let prefix = format!("e{run}-");
    let sender = format!("no-reply@shared-{run}.example");
    std::fs::write(
        dir.join("base.yaml"),
        format!(
            "region: us-east-1\nendpoint: {}\nemail:\n  from: {sender}\ntriggers:\n  architecture: x86_64\nuser_pool:\n  deletion_protection: false\ntags:\n  team: identity\n",
            need("EMULATOR_ENDPOINT")
        ),
    )
    .unwrap();
    let one = dir.join("one.yaml");
    let two = dir.join("two.yaml");
    std::fs::write(&one, format!("extends: base.yaml\nname: {prefix}one\n")).unwrap();
    std::fs::write(
        &two,
        format!("extends: base.yaml\nname: {prefix}two\ntags:\n  environment: preview\n"),
    )
    .unwrap();
    deploy(&one);
    deploy(&two);

    let stacks = listed(&prefix);
    assert_eq!(stacks.len(), 2, "{stacks:#?}");
    for (stack, name) in stacks.iter().zip(["one", "two"]) {
        assert_eq!(stack["name"], format!("{prefix}{name}"));
        assert_eq!(stack["missing"], serde_json::json!([]), "{stack:#}");
        assert!(stack["created"].is_u64(), "{stack:#}");
        assert!(stack["last_deploy"]["at"].is_u64(), "{stack:#}");
        assert!(
            stack["last_deploy"]["by"].as_str().unwrap().contains('@'),
            "{stack:#}"
        );
        assert!(stack["last_deploy"]["commit"].is_string(), "{stack:#}");
        assert_eq!(stack["sender"], sender.as_str());
    }
    assert_eq!(
        stacks[0]["resources"].as_array().unwrap().len(),
        12,
        "the first owns the identity too: {:#}",
        stacks[0]
    );
    assert_eq!(
        stacks[1]["resources"].as_array().unwrap().len(),
        11,
        "{:#}",
        stacks[1]
    );
    let text_list = xtask_in_account(&["stacks", "list"]);
    let said = String::from_utf8_lossy(&text_list.stdout);
    assert!(
        said.contains(&format!("{prefix}one\n  resources    12 (complete)")),
        "{said}"
    );

    // The identity's owner may not delete it while the other stack sends from it.
    let refused = xtask(&[
        "teardown",
        "--stack",
        one.to_str().unwrap(),
        "--yes",
        "--force",
        "--delete-identity",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&format!(
            "still the sender of {prefix}two-create-auth-challenge"
        )),
        "{}",
        text(&refused)
    );
    assert_eq!(
        listed(&prefix).len(),
        2,
        "a refused teardown deleted something"
    );

    // Torn down without it, the first keeps the identity for the second, which still signs in.
    let torn = xtask(&[
        "teardown",
        "--stack",
        one.to_str().unwrap(),
        "--yes",
        "--force",
    ]);
    assert!(torn.status.success(), "{}", text(&torn));
    assert!(
        String::from_utf8_lossy(&torn.stderr).contains("kept the SES identity"),
        "{}",
        text(&torn)
    );
    let second = open(&two);
    assert!(identity_exists(&second, &sender));
    let user = format!("mia@{prefix}two.example");
    runtime().block_on(async {
        provisioner::users::add(&second, &user).await.unwrap();
        let endpoint = need("EMULATOR_ENDPOINT");
        provisioner::login::sign_in(
            &second,
            &user,
            provisioner::login::CodeSource::Mailbox { endpoint },
        )
        .await
        .expect("the second stack signs in after the first's teardown");
    });

    // Its spec deleted, the second is found by name and removed, identity and all.
    std::fs::remove_file(&two).unwrap();
    let gone = xtask_in_account(&[
        "teardown",
        "--name",
        &format!("{prefix}two"),
        "--yes",
        "--force",
        "--delete-identity",
    ]);
    assert!(gone.status.success(), "{}", text(&gone));
    assert_eq!(listed(&prefix), Vec::<serde_json::Value>::new());
    let missing = xtask_in_account(&["teardown", "--name", &format!("{prefix}two"), "--yes"]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no stack named"),
        "{}",
        text(&missing)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prune_removes_only_old_stacks_with_the_prefix() {
    let dir = scratch("prune");
    let run = std::process::id();
    let preview = spec(&dir, &format!("pr{run}-7"));
    let kept = spec(&dir, &format!("keep{run}-main"));
    deploy(&preview);
    deploy(&kept);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let prefix = format!("pr{run}-");

    let dry = xtask_in_account(&["stacks", "prune", "--prefix", &prefix, "--older-than", "1h"]);
    assert_eq!(
        dry.status.code(),
        Some(0),
        "nothing is an hour old: {}",
        text(&dry)
    );
    assert!(dry.stdout.is_empty(), "{}", text(&dry));
    let dry = xtask_in_account(&["stacks", "prune", "--prefix", &prefix, "--older-than", "1s"]);
    assert_eq!(dry.status.code(), Some(2), "{}", text(&dry));
    assert_eq!(String::from_utf8_lossy(&dry.stdout), format!("{prefix}7\n"));
    assert_eq!(
        listed(&prefix).len(),
        1,
        "prune without --yes removed something"
    );

    let pruned = xtask_in_account(&[
        "stacks",
        "prune",
        "--prefix",
        &prefix,
        "--older-than",
        "1s",
        "--yes",
    ]);
    assert!(pruned.status.success(), "{}", text(&pruned));
    assert_eq!(listed(&prefix), Vec::<serde_json::Value>::new());
    assert_eq!(
        listed(&format!("keep{run}-")).len(),
        1,
        "prune removed a stack without the prefix"
    );

    let torn = xtask(&[
        "teardown",
        "--stack",
        kept.to_str().unwrap(),
        "--yes",
        "--force",
        "--delete-identity",
    ]);
    assert!(torn.status.success(), "{}", text(&torn));
    std::fs::remove_dir_all(&dir).unwrap();
}
