//! Build once, deploy many, drift without a build: the `cargo xtask` commands as CI runs
//! them, against the local emulator. Cargo is pointed at a program that always fails, so any
//! attempt to build the triggers fails the command.

mod common;

use std::path::{Path, PathBuf};

use common::{live_function_field, need, scratch, spec, text, xtask};
use provisioner::artifacts::{Artifacts, MANIFEST, Manifest};
use provisioner::naming::TriggerKind;

/// The build `cargo xtask test` made, copied as `cargo xtask build --out DIR` leaves it.
fn promoted_artifacts(dir: &Path) -> PathBuf {
    let built = Artifacts::load(Path::new(&need("TRIGGER_ZIPS"))).unwrap();
    let out = dir.join("artifacts");
    std::fs::create_dir_all(&out).unwrap();
    for kind in TriggerKind::ALL {
        std::fs::write(out.join(kind.zip_name()), built.zip(kind)).unwrap();
    }
    built.manifest.write(&out).unwrap();
    out
}

/// Each function's live CodeSha256, by trigger.
fn live_code(stack: &Path) -> Vec<String> {
    live_function_field(stack, "code_sha256")
}

#[test]
fn zips_built_once_deploy_to_two_stacks_without_a_build_and_drift_needs_none() {
    let dir = scratch("two-stacks");
    let artifacts = promoted_artifacts(&dir);
    let artifacts_arg = artifacts.to_str().unwrap();
    let run = std::process::id();
    let staging = spec(&dir, &format!("a{run}-staging"));
    let production = spec(&dir, &format!("a{run}-production"));

    for stack in [&staging, &production] {
        let bootstrapped = xtask(&["bootstrap", "--stack", stack.to_str().unwrap()]);
        assert!(bootstrapped.status.success(), "{}", text(&bootstrapped));
        let deployed = xtask(&[
            "deploy",
            "--stack",
            stack.to_str().unwrap(),
            "--artifacts",
            artifacts_arg,
        ]);
        assert!(deployed.status.success(), "{}", text(&deployed));
        let outputs: serde_json::Value = serde_json::from_slice(&deployed.stdout).unwrap();
        assert!(outputs["user_pool_id"].is_string(), "{}", text(&deployed));
        assert!(
            String::from_utf8_lossy(&deployed.stderr).contains("using the triggers built in"),
            "{}",
            text(&deployed)
        );
        let drift = xtask(&[
            "drift",
            "--stack",
            stack.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(drift.status.code(), Some(0), "{}", text(&drift));
        let again = xtask(&[
            "plan",
            "--stack",
            stack.to_str().unwrap(),
            "--artifacts",
            artifacts_arg,
        ]);
        assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    }
    // Each stack runs exactly the promoted zips (Create's with that stack's email added).
    let built = Artifacts::load(&artifacts).unwrap();
    for stack in [&staging, &production] {
        let spec = provisioner::spec::StackSpec::load(stack).unwrap();
        let packages = built.for_stack(&spec.email_templates).unwrap();
        let expected: Vec<String> = TriggerKind::CUSTOM_AUTH
            .into_iter()
            .map(|kind| packages.code_sha256(kind).to_owned())
            .collect();
        assert_eq!(live_code(stack), expected, "{}", stack.display());
    }

    // Other code uploaded out of band: drift exits 2 without building.
    let session = tokio::runtime::Runtime::new().unwrap();
    session.block_on(async {
        let opened = provisioner::session::Session::open(&staging).await.unwrap();
        opened
            .clients
            .lambda
            .update_function_code()
            .function_name(opened.observation.names.function(TriggerKind::Define))
            .zip_file(aws_sdk_lambda::primitives::Blob::new(
                provisioner::artifacts::zip_executable("bootstrap", b"not ours").unwrap(),
            ))
            .send()
            .await
            .unwrap();
    });
    let drift = xtask(&["drift", "--stack", staging.to_str().unwrap()]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    assert!(
        String::from_utf8_lossy(&drift.stdout).contains("code_sha256"),
        "{}",
        text(&drift)
    );

    for stack in [&staging, &production] {
        let torn = xtask(&[
            "teardown",
            "--stack",
            stack.to_str().unwrap(),
            "--yes",
            "--force",
        ]);
        assert!(torn.status.success(), "{}", text(&torn));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn artifacts_from_other_sources_or_changed_after_the_build_are_refused_before_any_call() {
    let dir = scratch("refused");
    let artifacts = promoted_artifacts(&dir);
    // No emulator is needed for this: the refusal comes before anything is read or written.
    let stack = dir.join("stack.yaml");
    std::fs::write(
        &stack,
        "name: refused\nregion: us-east-1\nendpoint: http://127.0.0.1:9\nemail:\n  from: no-reply@refused.example\ntriggers:\n  architecture: x86_64\n",
    )
    .unwrap();
    let stack_arg = stack.to_str().unwrap();

    let mut manifest = Manifest::read(&artifacts).unwrap();
    let ours = manifest.source_fingerprint.clone();
    manifest.source_fingerprint = "0".repeat(64);
    manifest.commit = Some("0123abc".to_owned());
    manifest.write(&artifacts).unwrap();
    let refused = |command: &str| {
        let output = xtask(&[
            command,
            "--stack",
            stack_arg,
            "--artifacts",
            artifacts.to_str().unwrap(),
        ]);
        let said = text(&output);
        assert_eq!(output.status.code(), Some(1), "{said}");
        said
    };
    let said = refused("deploy");
    for expected in [
        &"0".repeat(64),
        &ours,
        "0123abc",
        "cargo xtask build --out DIR",
    ] {
        assert!(said.contains(expected), "missing {expected}: {said}");
    }

    manifest.source_fingerprint = ours;
    manifest.write(&artifacts).unwrap();
    let mut zip = std::fs::read(artifacts.join(TriggerKind::Verify.zip_name())).unwrap();
    zip.push(0);
    std::fs::write(artifacts.join(TriggerKind::Verify.zip_name()), zip).unwrap();
    let said = refused("plan");
    assert!(said.contains("changed after they were built"), "{said}");
    assert!(
        said.contains(MANIFEST) || said.contains("verify-auth-challenge.zip"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
