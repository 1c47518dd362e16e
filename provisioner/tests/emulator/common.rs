//! What every emulator test shares: the emulator and trigger build it needs, a throwaway
//! stack per test, and helpers for out-of-band changes and for reading a drift report.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use provisioner::artifacts::Artifacts;
use provisioner::mailbox;
use provisioner::report::DriftReport;
use provisioner::session::{Outputs, Session};

pub struct Env {
    pub endpoint: String,
    pub artifacts: Artifacts,
}

/// The emulator's endpoint and a trigger build, or a panic saying how to provide them.
pub fn env() -> Env {
    let how = "these tests need the local emulator and a trigger build: run `cargo xtask test`, \
               or `cargo xtask emulator start` and `cargo xtask build`, then set \
               EMULATOR_ENDPOINT=http://127.0.0.1:4566 TRIGGER_ZIPS=$PWD/target/trigger-zips/x86_64-unknown-linux-gnu (an absolute path: tests run in provisioner/)";
    let endpoint = std::env::var("EMULATOR_ENDPOINT")
        .unwrap_or_else(|_| panic!("EMULATOR_ENDPOINT is not set; {how}"));
    let zips =
        std::env::var("TRIGGER_ZIPS").unwrap_or_else(|_| panic!("TRIGGER_ZIPS is not set; {how}"));
    let artifacts = Artifacts::load(Path::new(&zips)).unwrap_or_else(|e| panic!("{e}; {how}"));
    Env {
        endpoint,
        artifacts,
    }
}

static STACKS: AtomicUsize = AtomicUsize::new(0);

pub const UNPROTECTED: &str = "user_pool:\n  deletion_protection: false\n";

/// A spec file for a stack no other test uses.
pub struct TestStack {
    pub path: PathBuf,
    pub name: String,
    endpoint: String,
}

impl TestStack {
    pub fn new(env: &Env, extra: &str) -> Self {
        Self::on(&env.endpoint, extra)
    }

    /// A stack on the emulator at `endpoint`.
    pub fn on(endpoint: &str, extra: &str) -> Self {
        let name = format!(
            "t{}-{}",
            std::process::id(),
            STACKS.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(format!("{name}.yaml"));
        let stack = Self {
            path,
            name,
            endpoint: endpoint.to_owned(),
        };
        // What an administrator does once per stack, from a spec of the stack's name alone
        // (a test's own spec may be deliberately wrong).
        stack.write("");
        provisioner::bootstrap::ensure_for_spec_blocking(&stack.path)
            .expect("an administrator's bootstrap of the stack's permissions boundary");
        stack.write(extra);
        stack
    }

    pub fn write(&self, extra: &str) {
        let yaml = format!(
            "name: {}\nregion: us-east-1\nendpoint: {}\nemail:\n  from: no-reply@{}.example\ntriggers:\n  architecture: x86_64\n{extra}",
            self.name, self.endpoint, self.name
        );
        std::fs::write(&self.path, yaml).unwrap();
    }

    pub async fn open(&self) -> Session {
        Session::open(&self.path).await.unwrap()
    }

    pub async fn deploy(&self, env: &Env) -> Outputs {
        self.open()
            .await
            .deploy(&env.artifacts, &|_, _| {})
            .await
            .unwrap()
            .outputs
    }

    /// A new stack deployed, its outputs, and a session opened on it.
    pub async fn deployed(env: &Env, extra: &str) -> (Self, Outputs, Session) {
        let stack = Self::new(env, extra);
        let outputs = stack.deploy(env).await;
        let session = stack.open().await;
        (stack, outputs, session)
    }

    /// Tears the stack down, deletion protection or not.
    pub async fn tear_down(&self) {
        self.open()
            .await
            .teardown(provisioner::session::FORCE, &|_, _| {})
            .await
            .unwrap();
    }

    /// Deploys again and asserts that drift is gone; returns the repaired session.
    pub async fn assert_deploy_repairs(&self, env: &Env) -> Session {
        self.deploy(env).await;
        let (session, report) = self.drift(&env.artifacts).await;
        assert!(
            report.in_sync,
            "deploy did not repair the drift: {report:#?}"
        );
        session
    }

    /// Asserts that nothing of the stack is left, and returns a session opened on it.
    /// Everything gone but the sender identity, which teardown keeps without the stack's tag
    /// (read from the tag store: MiniStack's GetEmailIdentity still shows the tags it was
    /// created with).
    pub async fn assert_all_gone(&self) -> Session {
        let after = self.open().await;
        let identity = after.spec.ses_identity().to_owned();
        let tags = after
            .clients
            .ses
            .list_tags_for_resource()
            .resource_arn(after.observation.names.identity_arn(&identity))
            .send()
            .await
            .map(|t| {
                t.tags()
                    .iter()
                    .map(|t| t.key().to_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        assert!(
            !tags.iter().any(|k| k == provisioner::naming::OWNER_TAG),
            "{identity} still carries the stack's tag: {tags:?}"
        );
        assert!(
            after.observation.state.resources.iter().all(|(id, o)| {
                *o == provisioner::resources::Observed::Absent
                    || id.kind == provisioner::resources::ResourceKind::EmailIdentity
            }),
            "{:#?}",
            after.observation.state
        );
        after
    }

    /// The drift report of the live stack against the spec and `artifacts`.
    pub async fn drift(&self, artifacts: &Artifacts) -> (Session, DriftReport) {
        let session = self.open().await;
        let report = DriftReport::new(&self.name, &session.plan(artifacts).unwrap());
        (session, report)
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Every line a trigger of the session's stack wrote, from the emulator's CloudWatch Logs.
pub fn log_lines(
    env: &Env,
    session: &Session,
    kind: provisioner::naming::TriggerKind,
) -> Vec<String> {
    let group = format!("/aws/lambda/{}", session.observation.names.function(kind));
    let answer: serde_json::Value = ureq::post(&env.endpoint)
        .header("X-Amz-Target", "Logs_20140328.FilterLogEvents")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261127/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send(serde_json::json!({ "logGroupName": group }).to_string())
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    answer["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect()
}

pub async fn add_user(stack: &TestStack, email: &str) {
    provisioner::users::add(&stack.open().await, email)
        .await
        .unwrap();
}

pub fn sent_to(endpoint: &str, account: &str, email: &str) -> Vec<mailbox::SentMessage> {
    mailbox::messages(endpoint, account)
        .unwrap()
        .into_iter()
        .filter(|m| m.to.iter().any(|to| to == email))
        .collect()
}

/// How many pools carry the stack's name, across every page of the list.
pub async fn pools_named(session: &Session, name: &str) -> usize {
    let mut count = 0;
    let mut token = None;
    loop {
        let page = session
            .clients
            .cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        count += page
            .user_pools()
            .iter()
            .filter(|p| p.name() == Some(name))
            .count();
        token = page.next_token;
        if token.is_none() {
            return count;
        }
    }
}

/// Asserts that the report names each `(resource, field)`.
pub fn assert_reports(report: &DriftReport, expected: &[(&str, &str)]) {
    for (resource, field) in expected {
        assert!(
            report.has(resource, field),
            "drift missed {resource} {field}: {report:#?}"
        );
    }
}

/// Out-of-band changes, made the way someone in the console or another tool would.
pub mod out_of_band {
    use aws_sdk_cognitoidentityprovider::types::{
        ExplicitAuthFlowsType, PreventUserExistenceErrorTypes, TimeUnitsType,
        TokenValidityUnitsType,
    };
    use provisioner::session::{Outputs, Session};

    /// UpdateUserPoolClient as a careless caller sends it: only what it wants to change,
    /// so Cognito resets the rest.
    pub async fn loosen_client(
        session: &Session,
        outputs: &Outputs,
        flows: &[ExplicitAuthFlowsType],
        prevent: PreventUserExistenceErrorTypes,
        access_minutes: i32,
        auth_session_minutes: i32,
    ) {
        session
            .clients
            .cognito
            .update_user_pool_client()
            .user_pool_id(&outputs.user_pool_id)
            .client_id(&outputs.app_client_id)
            .client_name(session.observation.names.app_client())
            .set_explicit_auth_flows(Some(flows.to_vec()))
            .prevent_user_existence_errors(prevent)
            .access_token_validity(access_minutes)
            .id_token_validity(60)
            .refresh_token_validity(30)
            .token_validity_units(
                TokenValidityUnitsType::builder()
                    .access_token(TimeUnitsType::Minutes)
                    .id_token(TimeUnitsType::Minutes)
                    .refresh_token(TimeUnitsType::Days)
                    .build(),
            )
            .auth_session_validity(auth_session_minutes)
            .enable_token_revocation(true)
            .send()
            .await
            .unwrap();
    }

    /// The classic loosening: password sign-in enabled on the app client.
    pub async fn allow_password_sign_in(session: &Session, outputs: &Outputs) {
        loosen_client(
            session,
            outputs,
            &[
                ExplicitAuthFlowsType::AllowCustomAuth,
                ExplicitAuthFlowsType::AllowRefreshTokenAuth,
                ExplicitAuthFlowsType::AllowUserPasswordAuth,
            ],
            PreventUserExistenceErrorTypes::Enabled,
            60,
            3,
        )
        .await;
    }

    pub async fn set_memory(session: &Session, function: &str, memory_mb: i32) {
        session
            .clients
            .lambda
            .update_function_configuration()
            .function_name(function)
            .memory_size(memory_mb)
            .send()
            .await
            .unwrap();
    }

    pub async fn remove_invoke_permission(session: &Session, function: &str) {
        session
            .clients
            .lambda
            .remove_permission()
            .function_name(function)
            .statement_id(provisioner::resources::permission::STATEMENT_ID)
            .send()
            .await
            .unwrap();
    }

    pub async fn delete_function(session: &Session, function: &str) {
        session
            .clients
            .lambda
            .delete_function()
            .function_name(function)
            .send()
            .await
            .unwrap();
    }

    pub async fn tag_function(session: &Session, arn: &str, key: &str, value: &str) {
        session
            .clients
            .lambda
            .tag_resource()
            .resource(arn)
            .tags(key, value)
            .send()
            .await
            .unwrap();
    }
}
