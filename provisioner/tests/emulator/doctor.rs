//! `doctor` on the emulator: green for the emulator's root caller, and IAM's policy
//! simulator tells a role with the deployer policy from one missing part of it.

use provisioner::aws::ConnectOptions;
use provisioner::deployer_policy::{deployer_policy, strings};
use provisioner::doctor::{Status, doctor, permissions};
use provisioner::session::Session;

use crate::common::{TestStack, UNPROTECTED, env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_runs_green_on_the_emulator() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let session = stack.open().await;
    let domain = session
        .spec
        .email
        .from
        .as_str()
        .rsplit_once('@')
        .unwrap()
        .1
        .to_owned();
    let dns = provisioner::mail_dns::test_server::serve(vec![(
        format!("_dmarc.{domain}"),
        vec!["v=DMARC1; p=reject".to_owned()],
    )]);
    let checks = doctor(&session.spec, &session.clients, Some(dns)).await;
    let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "credentials",
            "region",
            "ses account",
            "ses sending",
            "ses reputation",
            "ses identity",
            "mail dkim",
            "mail spf",
            "mail dmarc",
            "deployer permissions",
            "lambda concurrency"
        ]
    );
    assert!(
        checks.iter().all(|c| c.status != Status::Fail),
        "{checks:#?}"
    );
    let dmarc = checks.iter().find(|c| c.name == "mail dmarc").unwrap();
    assert_eq!(
        (dmarc.status, dmarc.detail.as_str()),
        (
            Status::Ok,
            format!("_dmarc.{domain}: v=DMARC1; p=reject").as_str()
        )
    );
    // The test's sender is an address identity: its domain has no DKIM of its own.
    let dkim = checks.iter().find(|c| c.name == "mail dkim").unwrap();
    assert_eq!(dkim.status, Status::Warn, "{dkim:?}");
    assert!(
        checks
            .iter()
            .all(|c| c.status == Status::Ok || c.fix.is_some()),
        "every check that is not ok says what to do: {checks:#?}"
    );
    assert_eq!(
        session.clients.requests.mutating(),
        Vec::<String>::new(),
        "doctor is read-only"
    );
}

/// The first request doctor made to IAM's policy simulator, as sent.
fn first_simulation(session: &Session) -> provisioner::aws::Exchange {
    session
        .clients
        .requests
        .exchanges()
        .into_iter()
        .find(|e| e.operation == "SimulatePrincipalPolicy")
        .expect("doctor asked the simulator")
}

/// A stack never deployed, and a session on it that keeps every request's body.
async fn capturing() -> (TestStack, Session) {
    let stack = TestStack::new(&env(), UNPROTECTED);
    let options = ConnectOptions {
        capture_bodies: true,
        ..ConnectOptions::default()
    };
    let session = Session::open_with(&stack.path, options).await.unwrap();
    (stack, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_what_a_role_may_not_do() {
    let (stack, session) = capturing().await;
    let names = &session.observation.names;
    let iam = &session.clients.iam;
    let trust = provisioner::resources::role::trust_policy().to_string();
    let full = deployer_policy(names, session.spec.ses_identity());
    let mut partial = full.clone();
    partial["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Sid"] != "TriggerFunctions");
    for (role, policy) in [("full", &full), ("partial", &partial)] {
        let role_name = format!("{}-doctor-{role}", stack.name);
        iam.create_role()
            .role_name(&role_name)
            .assume_role_policy_document(&trust)
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(&role_name)
            .policy_name("deployer")
            .policy_document(policy.to_string())
            .send()
            .await
            .unwrap();
    }
    let session_of = |role: &str| {
        format!(
            "arn:aws:sts::{}:assumed-role/{}-doctor-{role}/ci",
            names.account, stack.name
        )
    };
    let denied = |check: &provisioner::doctor::Check| -> Vec<String> {
        check
            .detail
            .split_once("may not: ")
            .map(|(_, list)| list.split(", ").map(str::to_owned).collect())
            .unwrap_or_default()
    };
    // MiniStack's simulator ignores ContextEntries, so statements held by a condition (the
    // stack's tag, PassedToService) evaluate as denied there; AWS evaluates them with the
    // values doctor sends, which the wire shows below. Everything unconditioned must pass.
    let conditional: Vec<String> = full["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("Condition").is_some())
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    let allowed = permissions(&session.clients, names, &session_of("full"), &session.spec).await;
    let unexplained: Vec<String> = denied(&allowed)
        .into_iter()
        .filter(|action| !conditional.contains(action))
        .collect();
    assert!(unexplained.is_empty(), "{allowed:#?}");
    let refused = permissions(
        &session.clients,
        names,
        &session_of("partial"),
        &session.spec,
    )
    .await;
    assert_eq!(refused.status, Status::Fail, "{refused:#?}");
    let refused = denied(&refused);
    assert!(
        refused.contains(&"lambda:CreateFunction".to_owned())
            && !refused.contains(&"iam:GetRole".to_owned()),
        "{refused:#?}"
    );
    let simulated = first_simulation(&session);
    let owner_tag = provisioner::naming::OWNER_TAG.replace(':', "%3A");
    for key in [
        format!("aws%3ARequestTag%2F{owner_tag}"),
        format!("aws%3AResourceTag%2F{owner_tag}"),
        "iam%3APassedToService".to_owned(),
        "iam%3APermissionsBoundary".to_owned(),
        "lambda%3APrincipal".to_owned(),
    ] {
        assert!(
            simulated.request.contains(&key),
            "the simulation does not carry the context key {key}: {}",
            simulated.request
        );
    }
}

/// An `aws sso login` session names its role without the role's path; doctor reads the
/// role's real ARN, so the simulation asks about the role that exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_simulates_an_sso_role_under_its_path() {
    let (stack, session) = capturing().await;
    let names = &session.observation.names;
    let role = format!("AWSReservedSSO_{}_0123abcd", stack.name);
    session
        .clients
        .iam
        .create_role()
        .role_name(&role)
        .path("/aws-reserved/sso.amazonaws.com/")
        .assume_role_policy_document(provisioner::resources::role::trust_policy().to_string())
        .send()
        .await
        .unwrap();
    let caller = format!(
        "arn:aws:sts::{}:assumed-role/{role}/alice@acme.example",
        names.account
    );
    let check = permissions(&session.clients, names, &caller, &session.spec).await;
    assert!(
        !check.detail.contains("could not"),
        "the check degraded: {check:#?}"
    );
    let simulated = first_simulation(&session);
    let with_path = format!("role%2Faws-reserved%2Fsso.amazonaws.com%2F{role}");
    assert!(
        simulated.request.contains(&with_path),
        "simulated without the role's path: {}",
        simulated.request
    );
}
