//! Every IAM policy the stack creates, and the deployer's, passes parliament (the IAM
//! linter, installed pinned by `cargo xtask test`) with no findings beyond the listed ones.

use std::process::Command;

use provisioner::deployer_policy::deployer_policy;
use provisioner::naming::{Names, Partition};
use provisioner::resources::SesScope;
use provisioner::resources::role::{trigger_policy, trust_policy};
use serde_json::Value;

/// Findings that are expected, each with why: (policy, issue, text in the finding, why).
const EXCEPTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "trust policy",
        "MALFORMED",
        "",
        "a role's trust policy names a Principal and no Resource; parliament audits identity policies only",
    ),
    (
        "trigger policy",
        "UNKNOWN_CONDITION_FOR_ACTION",
        "lambda:SourceFunctionArn",
        "Lambda adds the calling function's ARN to every request made with an execution role's \
         credentials (Lambda guide: \"Using source function ARN to control function access \
         behavior\"); parliament's per-action table does not list that key",
    ),
];

fn parliament() -> String {
    std::env::var("PARLIAMENT").unwrap_or_else(|_| {
        panic!(
            "PARLIAMENT is not set; run `cargo xtask test`, which installs the pinned linter into \
             .tools/parliament and writes its launcher, or set PARLIAMENT=$PWD/.tools/parliament/parliament \
             after one such run"
        )
    })
}

/// parliament's findings for `policy`, one JSON object per line.
fn findings(linter: &str, policy: &Value) -> Vec<Value> {
    let output = Command::new(linter)
        .args(["--json", "--string", &policy.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {linter}: {e}"));
    // parliament exits 1 for findings, and for a crash too: a traceback tells them apart.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code().is_some_and(|c| c <= 1) && !stderr.contains("Traceback"),
        "parliament failed: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_policy_passes_the_linter_with_no_unlisted_finding() {
    let linter = parliament();
    let names = Names::new("acme", "us-east-1", "123456789012", Partition::default());
    let scope = |sandbox, configuration_set: Option<&str>| SesScope {
        identity: "acme.example".into(),
        sandbox,
        configuration_set: configuration_set.map(str::to_owned),
        unread: None,
    };
    let policies = [
        (
            "trigger policy, production",
            trigger_policy(&names, "no-reply@acme.example", &scope(false, None), false),
        ),
        (
            "trigger policy, sandbox with a configuration set",
            trigger_policy(
                &names,
                "no-reply@acme.example",
                &scope(true, Some("tracked")),
                false,
            ),
        ),
        (
            "trigger policy with self sign-up",
            trigger_policy(&names, "no-reply@acme.example", &scope(false, None), true),
        ),
        ("deployer policy", deployer_policy(&names, "acme.example")),
        (
            "permissions boundary",
            provisioner::bootstrap::boundary_document(&names),
        ),
        ("trust policy", trust_policy()),
    ];
    for (name, policy) in policies {
        for finding in findings(&linter, &policy) {
            let issue = finding["issue"].as_str().unwrap_or_default();
            assert!(
                EXCEPTIONS.iter().any(|(p, i, text, _)| {
                    name.starts_with(p) && *i == issue && finding.to_string().contains(text)
                }),
                "parliament finds {issue} in the {name}: {finding}\n{policy:#}"
            );
        }
    }
    // The linter is really looking: a policy with a mismatched resource is flagged.
    let wrong = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": "ses:SendEmail", "Resource": "arn:aws:s3:::bucket" }]
    });
    assert!(
        !findings(&linter, &wrong).is_empty(),
        "parliament flagged nothing in a wrong policy"
    );
}
