//! The stack commands: build what they need, then hand over to the provisioner.

use std::process::ExitCode;

use anyhow::Result;
use provisioner::artifacts::Artifacts;
use provisioner::commands::{self, DriftArgs, Session, StackArgs, TeardownArgs};
use provisioner::login::CodeSource;
use provisioner::spec::{Architecture, StackSpec};

use crate::build::{self, BuildArgs};
use crate::progress;

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Builds the triggers the way the stack runs them: for this machine when the stack
/// targets an emulator, statically linked for AWS.
fn build_for(args: &StackArgs) -> Result<Artifacts> {
    let spec = StackSpec::load(&args.stack)?;
    let local = spec.endpoint.is_some();
    let arch = spec.triggers.architecture;
    if local && arch != Architecture::X86_64 {
        anyhow::bail!(
            "{}: the local emulator runs the triggers on this x86_64 machine; set triggers.architecture: x86_64",
            args.stack.display()
        );
    }
    build::run(&BuildArgs {
        arch,
        musl: !local && arch == Architecture::X86_64,
    })
}

/// Reads the live stack under a spinner; nothing else prints meanwhile.
fn open_quietly(args: &StackArgs) -> Result<Session> {
    let _spinner = progress::spinner("reading the live stack");
    Ok(runtime()?.block_on(Session::open(args))?)
}

pub fn deploy(args: &StackArgs) -> Result<ExitCode> {
    let artifacts = build_for(args)?;
    progress::step(&format!("deploying {}", args.stack.display()));
    let outputs = runtime()?.block_on(commands::deploy(args, &artifacts))?;
    println!("{}", serde_json::to_string_pretty(&outputs)?);
    Ok(ExitCode::SUCCESS)
}

pub fn plan(args: &StackArgs) -> Result<ExitCode> {
    let artifacts = build_for(args)?;
    Ok(commands::plan_in(&open_quietly(args)?, &artifacts)?)
}

pub fn drift(args: &DriftArgs) -> Result<ExitCode> {
    let artifacts = build_for(&args.stack)?;
    Ok(commands::drift_in(
        &open_quietly(&args.stack)?,
        &artifacts,
        args.format,
    )?)
}

pub fn teardown(args: &TeardownArgs) -> Result<ExitCode> {
    Ok(runtime()?.block_on(commands::teardown(args))?)
}

pub fn outputs(args: &StackArgs) -> Result<ExitCode> {
    let outputs = runtime()?.block_on(commands::outputs(args))?;
    println!("{}", serde_json::to_string_pretty(&outputs)?);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    action: UsersAction,
}

#[derive(Debug, clap::Subcommand)]
enum UsersAction {
    /// Add a user with a verified email; no invitation is sent.
    Add {
        #[command(flatten)]
        stack: StackArgs,
        email: String,
    },
    /// List the stack's users and their status.
    List {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Remove a user; a user who is not there is reported, not an error.
    Remove {
        #[command(flatten)]
        stack: StackArgs,
        email: String,
    },
}

pub fn users(args: &UsersArgs) -> Result<ExitCode> {
    runtime()?.block_on(async {
        match &args.action {
            UsersAction::Add { stack, email } => {
                provisioner::users::add(&Session::open(stack).await?, email).await?
            }
            UsersAction::List { stack } => {
                for (email, status) in
                    provisioner::users::list(&Session::open(stack).await?).await?
                {
                    println!("{email}\t{status}");
                }
            }
            UsersAction::Remove { stack, email } => {
                provisioner::users::remove(&Session::open(stack).await?, email).await?
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// The user's email address.
    #[arg(long)]
    email: String,
    /// Read the code from the local emulator's outbox instead of asking (local stacks only).
    #[arg(long)]
    from_mailbox: bool,
    /// Also print the raw tokens, refresh token included. Treat the output as a secret.
    #[arg(long)]
    show_tokens: bool,
}

pub fn login(args: &LoginArgs) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let session = Session::open(&args.stack).await?;
        let source = match (&session.spec.endpoint, args.from_mailbox) {
            (Some(endpoint), true) => CodeSource::Mailbox {
                endpoint: endpoint.as_str().to_owned(),
            },
            (None, true) => {
                anyhow::bail!("--from-mailbox works only for a stack with an emulator `endpoint`")
            }
            (_, false) => CodeSource::Prompt,
        };
        let signed_in = provisioner::login::sign_in(&session, &args.email, &source).await?;
        println!("ID token verified against the pool's JWKS. Claims:");
        println!("{}", serde_json::to_string_pretty(&signed_in.claims)?);
        if args.show_tokens {
            println!("id_token: {}", signed_in.id_token);
            println!("access_token: {}", signed_in.access_token);
            println!(
                "refresh_token: {}",
                signed_in.refresh_token.as_deref().unwrap_or("(none)")
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
