//! Many environments from one spec, as CI runs them against the local emulator: saved plans
//! applied exactly or refused once stale, stacks found and removed without their spec, and a
//! sender identity shared between stacks.

mod common;

use std::path::Path;

use common::{need, scratch, spec, text, xtask};
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
    let session = open(stack);
    TriggerKind::CUSTOM_AUTH
        .into_iter()
        .map(|kind| {
            let id = provisioner::resources::ResourceId {
                kind: provisioner::resources::ResourceKind::Function(kind),
                name: session.observation.names.function(kind),
            };
            match session.observation.state.get(&id) {
                provisioner::resources::Observed::Owned(fields) => fields["memory_mb"].clone(),
                other => panic!("{id} is {other:?}"),
            }
        })
        .collect()
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
