//! Drift without a build: deploy records on each function the CodeSha256 it uploaded and the
//! source fingerprint it came from, so a checkout at another path (another machine) compares
//! fingerprints instead of compiling, and still catches code changed out of band.

use std::path::{Path, PathBuf};

use provisioner::naming::{CODE_TAG, SOURCE_TAG, TriggerKind};
use provisioner::report::DriftReport;
use provisioner::source::{BUILD_INPUTS, TRIGGERS_DIR, build_fingerprint};

use crate::common::{TestStack, UNPROTECTED, assert_reports, env};

/// This repository's checkout, the one the trigger build under test came from.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The fingerprint inputs of this checkout, copied to a path of their own: what a clone on
/// another machine holds.
fn copy_of_checkout(tag: &str) -> PathBuf {
    let to = std::env::temp_dir().join(format!("clone-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    let mut pending = vec![PathBuf::from(TRIGGERS_DIR)];
    let mut files: Vec<PathBuf> = BUILD_INPUTS.iter().map(PathBuf::from).collect();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(checkout().join(&dir)).unwrap() {
            let entry = entry.unwrap();
            let relative = dir.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                pending.push(relative);
            } else {
                files.push(relative);
            }
        }
    }
    for file in files {
        let from = checkout().join(&file);
        if from.is_file() {
            std::fs::create_dir_all(to.join(&file).parent().unwrap()).unwrap();
            std::fs::copy(&from, to.join(&file)).unwrap();
        }
    }
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_checkout_sees_no_drift_and_still_catches_code_changed_out_of_band() {
    let env = env();
    let manifest = &env.artifacts.manifest;
    let (stack, _, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let names = &session.observation.names;

    let clone = copy_of_checkout("same");
    let fingerprint = build_fingerprint(&clone, &manifest.target, &manifest.profile).unwrap();
    assert_eq!(
        fingerprint, manifest.source_fingerprint,
        "a copy at another path fingerprints differently (or the checkout changed since `cargo xtask build`)"
    );
    let report = DriftReport::new(
        &stack.name,
        &session.plan_without_build(&fingerprint).unwrap(),
    );
    assert!(report.in_sync, "{report:#?}");

    // The record is on the function: the uploaded package and where it came from.
    let define = names.function(TriggerKind::Define);
    let live = session
        .clients
        .lambda
        .get_function()
        .function_name(&define)
        .send()
        .await
        .unwrap();
    let tags = live.tags().unwrap();
    assert_eq!(
        tags.get(CODE_TAG).map(String::as_str),
        live.configuration().unwrap().code_sha256()
    );
    assert_eq!(tags.get(SOURCE_TAG), Some(&manifest.source_fingerprint));

    // Someone uploads other code to Verify: caught without a build.
    let verify = names.function(TriggerKind::Verify);
    let other =
        provisioner::artifacts::zip_executable("bootstrap", b"someone else's code").unwrap();
    session
        .clients
        .lambda
        .update_function_code()
        .function_name(&verify)
        .zip_file(aws_sdk_lambda::primitives::Blob::new(other))
        .send()
        .await
        .unwrap();
    let changed = stack.open().await;
    let report = DriftReport::new(
        &stack.name,
        &changed.plan_without_build(&fingerprint).unwrap(),
    );
    assert_reports(
        &report,
        &[(&format!("lambda function {verify}"), "code_sha256")],
    );
    assert_eq!(report.differences.len(), 1, "{report:#?}");
    assert!(
        report.differences[0]
            .advice
            .unwrap()
            .contains("out of band")
    );

    // A trigger source edited in the checkout and not deployed yet.
    let edited = copy_of_checkout("edited");
    let lib = edited.join(TRIGGERS_DIR).join("src").join("lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str("\n// an edit not deployed yet\n");
    std::fs::write(&lib, source).unwrap();
    let newer = build_fingerprint(&edited, &manifest.target, &manifest.profile).unwrap();
    assert_ne!(newer, fingerprint);
    stack.assert_deploy_repairs(&env).await;
    let repaired = stack.open().await;
    let report = DriftReport::new(&stack.name, &repaired.plan_without_build(&newer).unwrap());
    for kind in [
        TriggerKind::Define,
        TriggerKind::Create,
        TriggerKind::Verify,
    ] {
        let function = format!("lambda function {}", names.function(kind));
        assert_reports(&report, &[(&function, "source")]);
        assert!(!report.has(&function, "code_sha256"), "{report:#?}");
    }
    assert!(
        report
            .differences
            .iter()
            .all(|d| d.field == "source" && d.advice.unwrap().contains("not yet deployed"))
    );

    for dir in [clone, edited] {
        std::fs::remove_dir_all(dir).unwrap();
    }
    stack.tear_down().await;
}
