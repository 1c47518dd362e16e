//! Sign-ins through the emulator's Cognito, cold and warm, with our Rust triggers and with
//! Node.js 20 triggers written the way tutorials write them (and a do-nothing floor).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use provisioner::artifacts::Artifacts;
use provisioner::naming::TriggerKind;
use provisioner::session::{Outputs, Session};

use super::deploys::{StackFiles, silent};
use super::host::peak_memory;
use super::{BENCH_USER, BenchArgs};
use crate::emulator::Emulator;
use crate::project_root;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variant {
    Rust,
    NodeTutorial,
    NodeNoop,
}

impl Variant {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Rust => "Rust triggers",
            Self::NodeTutorial => "Node.js 20 tutorial triggers (bundled SES client)",
            Self::NodeNoop => "Node.js 20 do-nothing triggers that still send the email (floor)",
        }
    }

    /// Where the code comes from: the mailbox, or the do-nothing triggers' fixed code.
    fn fixed_code(self) -> Option<&'static str> {
        (self == Self::NodeNoop).then_some("000000")
    }
}

/// The Node.js triggers, bundled by esbuild into one zip per trigger and variant.
pub(super) struct NodeTriggers {
    dir: PathBuf,
}

impl NodeTriggers {
    pub(super) fn build() -> Result<Self> {
        let dir = project_root().join("bench").join("node-triggers");
        let npm = |args: &[&str]| -> Result<()> {
            let status = Command::new("npm")
                .args(args)
                .current_dir(&dir)
                .status()
                .context("running npm (is Node.js installed?)")?;
            if !status.success() {
                bail!("npm {} failed in {}", args.join(" "), dir.display());
            }
            Ok(())
        };
        npm(&["ci", "--no-audit", "--no-fund", "--silent"])?;
        npm(&["run", "--silent", "build"])?;
        Ok(Self { dir })
    }

    fn zip(&self, variant: Variant, kind: TriggerKind) -> Result<Vec<u8>> {
        let folder = if variant == Variant::NodeNoop {
            "noop"
        } else {
            "tutorial"
        };
        let trigger = match kind {
            TriggerKind::Define => "define",
            TriggerKind::Create => "create",
            TriggerKind::Verify => "verify",
            TriggerKind::PreSignUp => {
                anyhow::bail!("the bench's Node.js triggers have no PreSignUp")
            }
        };
        let source = std::fs::read(
            self.dir
                .join("dist")
                .join(folder)
                .join(trigger)
                .join("index.js"),
        )?;
        Ok(provisioner::artifacts::zip_executable("index.js", &source)?)
    }
}

pub(super) type SignInSample = [Duration; 3];

pub(super) async fn sign_in_figures(
    stacks: &StackFiles,
    artifacts: &Artifacts,
    node: &NodeTriggers,
    variant: Variant,
    args: &BenchArgs,
    emulator: &Emulator,
) -> Result<(Vec<SignInSample>, Vec<SignInSample>, Vec<(String, f64)>)> {
    let stack = stacks.fresh(128)?;
    let session = Session::open(&stack).await?;
    let outputs = session.deploy(artifacts, &silent).await?.outputs;
    let session = Session::open(&stack).await?;
    if variant != Variant::Rust {
        swap_to_node(&session, node, variant).await?;
    }
    provisioner::users::add(&session, BENCH_USER).await?;
    // The first sign-in of a pool also makes the pool's signing key; that is the
    // emulator's cost, not the triggers', so it is left out.
    sign_in(&session, &outputs, variant, emulator).await?;
    let mut cold = Vec::new();
    for nonce in 0..args.cold_sign_ins {
        start_fresh_environments(&session, nonce).await?;
        cold.push(sign_in(&session, &outputs, variant, emulator).await?);
    }
    let mut warm = Vec::new();
    for _ in 0..args.sign_ins {
        warm.push(sign_in(&session, &outputs, variant, emulator).await?);
    }
    let peaks = if variant == Variant::Rust {
        peak_memory(&session.observation.names.stack)
    } else {
        Vec::new()
    };
    session
        .teardown(provisioner::session::FORCE, &silent)
        .await?;
    Ok((cold, warm, peaks))
}

/// A configuration change retires a function's warm environments, so the next call starts
/// a fresh one: a cold start, with the pool and user already in place.
pub(super) async fn start_fresh_environments(session: &Session, nonce: usize) -> Result<()> {
    let lambda = &session.clients.lambda;
    for kind in TriggerKind::CUSTOM_AUTH {
        let name = session.observation.names.function(kind);
        let current = lambda
            .get_function_configuration()
            .function_name(&name)
            .send()
            .await?;
        let mut variables = current
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        variables.insert("BENCH_FRESH_START".to_owned(), nonce.to_string());
        lambda
            .update_function_configuration()
            .function_name(&name)
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .set_variables(Some(variables))
                    .build(),
            )
            .send()
            .await?;
    }
    Ok(())
}

/// Replaces the three sign-in functions' code and runtime with the Node.js variant.
pub(super) async fn swap_to_node(
    session: &Session,
    node: &NodeTriggers,
    variant: Variant,
) -> Result<()> {
    let lambda = &session.clients.lambda;
    for kind in TriggerKind::CUSTOM_AUTH {
        let name = session.observation.names.function(kind);
        lambda
            .update_function_configuration()
            .function_name(&name)
            .runtime(aws_sdk_lambda::types::Runtime::Nodejs20x)
            .handler("index.handler")
            .send()
            .await?;
        lambda
            .update_function_code()
            .function_name(&name)
            .zip_file(aws_sdk_lambda::primitives::Blob::new(
                node.zip(variant, kind)?,
            ))
            .send()
            .await?;
    }
    Ok(())
}

/// One sign-in: InitiateAuth, the code (from the outbox, untimed), RespondToAuthChallenge.
pub(super) async fn sign_in(
    session: &Session,
    outputs: &Outputs,
    variant: Variant,
    emulator: &Emulator,
) -> Result<SignInSample> {
    let cognito = &session.clients.cognito;
    let account = &session.observation.names.account;
    let seen: Vec<String> = provisioner::mailbox::messages(&emulator.endpoint(), account)?
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    // The bench signs in far more often than the send budget allows a person; clearing the
    // account's counters first (untimed) keeps every sign-in within it.
    provisioner::users::unlock(session, BENCH_USER).await?;
    let started = Instant::now();
    let challenge = provisioner::login::start_custom_auth(cognito, outputs, BENCH_USER).await?;
    let initiate = started.elapsed();
    let code = match variant.fixed_code() {
        Some(code) => code.to_owned(),
        None => {
            provisioner::login::wait_for_code(&emulator.endpoint(), account, BENCH_USER, &seen)?
        }
    };
    let started = Instant::now();
    let answered =
        provisioner::login::answer_challenge(cognito, outputs, challenge.session, BENCH_USER, code)
            .await?;
    let respond = started.elapsed();
    if answered.authentication_result.is_none() {
        bail!("{}: the sign-in did not end in tokens", variant.label());
    }
    Ok([initiate, respond, initiate + respond])
}
