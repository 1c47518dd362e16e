//! The stack commands: build what they need, hand over to the provisioner, print. Only
//! machine-readable output goes to stdout; progress, build lines and notes go to stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use provisioner::apply::Outcome;
use provisioner::artifacts::Artifacts;
use provisioner::aws::Target;
use provisioner::deployer_policy::Access;
use provisioner::login::{Ask, CodeSource};
use provisioner::plan::Step;
use provisioner::plan_file::PlanFile;
use provisioner::report::{DriftReport, plan_text};
use provisioner::session::{Session, TeardownOptions};
use provisioner::spec::{Architecture, StackSpec};
use provisioner::users::Change;

use crate::build;
use crate::flags::{
    ApplyArgs, DeployerPolicyArgs, DriftArgs, FormatArg, LoginArgs, PlanArgs, StackArgs,
    TeardownArgs, TeardownHow, UsersAction, UsersArgs,
};
use crate::progress;

/// Exit code for "changes to make" (plan) and "drift found" (drift).
const EXIT_CHANGES: u8 = 2;

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The target the stack's triggers run on: this machine when the stack targets an emulator,
/// statically linked for AWS.
fn target_for(stack: &Path) -> Result<(Architecture, bool)> {
    let spec = StackSpec::load(stack)?;
    let local = spec.endpoint.is_some();
    let arch = spec.triggers.architecture;
    if local && arch != Architecture::X86_64 {
        bail!(
            "{}: the local emulator runs the triggers on this x86_64 machine; set triggers.architecture: x86_64",
            stack.display()
        );
    }
    Ok((arch, !local && arch == Architecture::X86_64))
}

/// The stack's trigger packages: the ones in `artifacts` when given (built elsewhere, checked
/// against this checkout), else this checkout's build.
fn packages_for(stack: &Path, artifacts: Option<&Path>) -> Result<Artifacts> {
    let (arch, musl) = target_for(stack)?;
    match artifacts {
        Some(dir) => promoted(dir, arch, musl),
        None => build::build_unless_unchanged(arch, musl),
    }
}

/// Zips built once, maybe on another machine: used only for the target the stack needs and
/// for the sources this checkout holds, so what deploys is what was reviewed here.
fn promoted(dir: &Path, arch: Architecture, musl: bool) -> Result<Artifacts> {
    let artifacts = Artifacts::load(dir)?;
    let manifest = &artifacts.manifest;
    let target = build::target_triple(arch, musl)?;
    if manifest.target != target {
        bail!(
            "the artifacts in {} are for {}, but this stack's triggers run on {target}; build them with `cargo xtask build --arch {}{} --out DIR`",
            dir.display(),
            manifest.target,
            arch.as_lambda(),
            if musl { " --musl" } else { "" }
        );
    }
    let here = build::fingerprint(&crate::project_root(), &target)?;
    if manifest.source_fingerprint != here {
        bail!(
            "the artifacts in {} were built from trigger sources with fingerprint {} (commit {}), but this checkout's have {here}; check out that commit, or build again here with `cargo xtask build --out DIR`",
            dir.display(),
            manifest.source_fingerprint,
            manifest.commit.as_deref().unwrap_or("unknown"),
        );
    }
    progress::step(&format!(
        "using the triggers built in {} (commit {}, {})",
        dir.display(),
        manifest.commit.as_deref().unwrap_or("unknown"),
        manifest.rustc
    ));
    Ok(artifacts)
}

/// Reads the live stack under a spinner; nothing else prints meanwhile.
fn open_quietly(args: &StackArgs) -> Result<Session> {
    let _spinner = progress::spinner("reading the live stack");
    Ok(runtime()?.block_on(Session::open(&args.stack))?)
}

/// The progress line deploy and teardown print for every resource.
pub fn print_outcome(step: &Step, outcome: Outcome) {
    eprintln!("  {:<9} {}", outcome.verb(), step.id);
}

fn exit_for(changes: bool) -> ExitCode {
    if changes {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn deploy(args: &ApplyArgs) -> Result<ExitCode> {
    let stack = &args.deploy.stack.stack;
    let saved = args.plan.as_deref().map(read_plan).transpose()?;
    let artifacts = packages_for(stack, args.deploy.artifacts.as_deref())?;
    progress::step(&format!("deploying {}", stack.display()));
    let deployed = runtime()?.block_on(async {
        let started = std::time::Instant::now();
        let session = Session::open(stack).await?;
        crate::phases::record("observe", started.elapsed());
        match &saved {
            Some(saved) => {
                session
                    .deploy_saved(&artifacts, saved, &print_outcome)
                    .await
            }
            None => session.deploy(&artifacts, &print_outcome).await,
        }
    })?;
    for (phase, took) in &deployed.phases {
        crate::phases::record(phase, *took);
    }
    for note in &deployed.notes {
        eprintln!("note: {note}");
    }
    println!("{}", serde_json::to_string_pretty(&deployed.outputs)?);
    crate::phases::write_if_asked()?;
    Ok(ExitCode::SUCCESS)
}

fn read_plan(path: &Path) -> Result<PlanFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the plan file {} ({e}); write one with `cargo xtask plan --stack <spec> --out FILE`",
            path.display()
        )
    })?;
    PlanFile::parse(&text).map_err(|problem| anyhow::anyhow!("{}: {problem}", path.display()))
}

pub fn plan(args: &PlanArgs) -> Result<ExitCode> {
    let stack = &args.deploy.stack;
    let artifacts = packages_for(&stack.stack, args.deploy.artifacts.as_deref())?;
    let session = open_quietly(stack)?;
    let (plan, file) = session.plan_with_file(&artifacts)?;
    if let Some(out) = &args.out {
        std::fs::write(out, file.to_json() + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write the plan file {} ({e})", out.display()))?;
        progress::step(&format!("plan saved to {}", out.display()));
    }
    match args.format {
        FormatArg::Text => print!("{}", plan_text(&plan)),
        FormatArg::Json => println!("{}", file.to_json()),
        FormatArg::Markdown => print!(
            "{}",
            provisioner::plan_file::markdown(&file, &stack.stack.display().to_string())
        ),
    }
    Ok(exit_for(plan.has_changes()))
}

/// Without `--build` or `--artifacts` nothing is compiled: the checkout's source
/// fingerprint and what deploy recorded on each function are enough.
pub fn drift(args: &DriftArgs) -> Result<ExitCode> {
    let stack = &args.stack.stack;
    let plan = if args.build || args.artifacts.is_some() {
        let artifacts = packages_for(stack, args.artifacts.as_deref())?;
        let session = open_quietly(&args.stack)?;
        (session.spec.name.clone(), session.plan(&artifacts)?)
    } else {
        let (arch, musl) = target_for(stack)?;
        let target = build::target_triple(arch, musl)?;
        let fingerprint = build::fingerprint(&crate::project_root(), &target)?;
        let session = open_quietly(&args.stack)?;
        (
            session.spec.name.clone(),
            session.plan_without_build(&fingerprint)?,
        )
    };
    let (name, plan) = plan;
    let report = DriftReport::new(name.as_str(), &plan);
    print!("{}", report.render(args.format.into()));
    Ok(exit_for(!report.in_sync))
}

pub fn teardown(args: &TeardownArgs) -> Result<ExitCode> {
    let runtime = runtime()?;
    let session = match (&args.stack, &args.name) {
        (Some(stack), _) => {
            let name = StackSpec::load(stack)?.name.to_string();
            confirm_teardown(&name, args.how.yes)?;
            runtime.block_on(Session::open(stack))?
        }
        (None, Some(name)) => {
            confirm_teardown(name, args.how.yes)?;
            let target = Target::from_environment(args.region.as_deref());
            let found = runtime.block_on(crate::stacks::find(&target, name))?;
            runtime.block_on(Session::open_found(&found, &target))?
        }
        (None, None) => bail!("teardown needs --stack FILE or --name NAME"),
    };
    let torn = runtime.block_on(session.teardown(options(&args.how), &print_outcome))?;
    report_torn(session.spec.name.as_str(), &torn);
    Ok(ExitCode::SUCCESS)
}

pub fn options(how: &TeardownHow) -> TeardownOptions {
    TeardownOptions {
        force: how.force,
        delete_identity: how.delete_identity,
    }
}

pub fn report_torn(name: &str, torn: &provisioner::session::TornDown) {
    for note in &torn.notes {
        eprintln!("note: {note}");
    }
    eprintln!("Deleted {} resource(s) of stack {name}.", torn.deleted);
}

/// Asks for the stack's name on the terminal, unless `--yes` said so already.
pub fn confirm_teardown(name: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "stack {name}: teardown needs confirmation and there is no terminal to ask on; pass --yes to confirm"
        );
    }
    eprint!("This deletes stack {name} and all its users. Type the stack name to confirm: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() != name {
        bail!("stack {name}: confirmation did not match; nothing was deleted");
    }
    Ok(())
}

/// Creates or updates the stack's permissions boundary: for an administrator, once per stack.
pub fn bootstrap(args: &StackArgs) -> Result<ExitCode> {
    let spec = StackSpec::load(&args.stack)?;
    let (names, done) = runtime()?.block_on(async {
        let clients = provisioner::aws::connect(&spec).await;
        let names = provisioner::observe::stack_names(&clients, &spec).await?;
        let done = provisioner::bootstrap::ensure(&clients, &names).await?;
        anyhow::Ok((names, done))
    })?;
    let said = match done {
        provisioner::bootstrap::Bootstrapped::Created => "created",
        provisioner::bootstrap::Bootstrapped::Updated => "updated to this version's document",
        provisioner::bootstrap::Bootstrapped::AlreadyCurrent => "already in place",
    };
    eprintln!(
        "permissions boundary {} {said}; the deployer can now create and change stack {}'s trigger role within it",
        names.boundary_policy_arn(),
        spec.name
    );
    Ok(ExitCode::SUCCESS)
}

/// Needs only the caller's account and partition, so it works before anything is deployed.
pub fn deployer_policy(args: &DeployerPolicyArgs) -> Result<ExitCode> {
    let spec = StackSpec::load(&args.stack.stack)?;
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::Deploy
    };
    let policy = runtime()?.block_on(async {
        let clients = provisioner::aws::connect(&spec).await;
        let mut names = provisioner::observe::stack_names(&clients, &spec).await?;
        if let Some(pattern) = &args.name_pattern {
            pattern.clone_into(&mut names.stack);
        }
        anyhow::Ok(provisioner::deployer_policy::policy(
            &names,
            spec.ses_identity(),
            access,
        ))
    })?;
    println!("{}", serde_json::to_string_pretty(&policy)?);
    Ok(ExitCode::SUCCESS)
}

pub fn force_unlock(args: &StackArgs) -> Result<ExitCode> {
    let spec = StackSpec::load(&args.stack)?;
    let broken = runtime()?.block_on(async {
        let clients = provisioner::aws::connect(&spec).await;
        let names = provisioner::observe::stack_names(&clients, &spec).await?;
        anyhow::Ok(provisioner::lock::force_unlock(&clients, &names).await?)
    })?;
    match broken {
        Some(holder) => eprintln!(
            "broke the lock of stack {} held by {} ({}, process {})",
            spec.name, holder.who, holder.command, holder.pid
        ),
        None => eprintln!("stack {} was not locked", spec.name),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn outputs(args: &StackArgs) -> Result<ExitCode> {
    let outputs = runtime()?.block_on(Session::open(&args.stack))?.outputs()?;
    println!("{}", serde_json::to_string_pretty(&outputs)?);
    Ok(ExitCode::SUCCESS)
}

pub fn users(args: &UsersArgs) -> Result<ExitCode> {
    runtime()?.block_on(async {
        match &args.action {
            UsersAction::Add { stack, email } => {
                let session = Session::open(&stack.stack).await?;
                let said = match provisioner::users::add(&session, email).await? {
                    Change::Done => "added to",
                    Change::AlreadySo => "already exists in",
                };
                eprintln!("{email} {said} stack {}", session.spec.name);
            }
            UsersAction::List { stack } => {
                let session = Session::open(&stack.stack).await?;
                for user in provisioner::users::list(&session).await? {
                    let lock = user
                        .lock_minutes_left()
                        .map_or(String::new(), |left| format!("\tlocked, {left} min left"));
                    println!("{}\t{}{lock}", user.email, user.status);
                }
            }
            UsersAction::PrunePending { stack, yes } => {
                let session = Session::open(&stack.stack).await?;
                let stale = provisioner::users::stale_sign_ups(&session).await?;
                for email in &stale {
                    println!("{email}");
                }
                if stale.is_empty() {
                    eprintln!("no sign-up of stack {} is past its pending days", session.spec.name);
                } else if !yes {
                    eprintln!(
                        "{} sign-up(s) never proved their address in time; run again with --yes to remove them",
                        stale.len()
                    );
                    return Ok(ExitCode::from(EXIT_CHANGES));
                } else {
                    for email in &stale {
                        provisioner::users::remove_sign_up(&session, email).await?;
                    }
                    eprintln!("removed {} sign-up(s) from stack {}", stale.len(), session.spec.name);
                }
            }
            UsersAction::Unlock { stack, email } => {
                let session = Session::open(&stack.stack).await?;
                let said = match provisioner::users::unlock(&session, email).await? {
                    Change::Done => "cleared: its send budget, failure count and lock start afresh",
                    Change::AlreadySo => "had nothing counted; nothing to clear",
                };
                eprintln!("{email}: {said}");
            }
            UsersAction::Remove { stack, email } => {
                let session = Session::open(&stack.stack).await?;
                let said = match provisioner::users::remove(&session, email).await? {
                    Change::Done => "removed from",
                    Change::AlreadySo => "is not a user of, so nothing was removed from,",
                };
                eprintln!("{email} {said} stack {}", session.spec.name);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Asks on the terminal: what happened goes to stderr, the code comes from stdin.
fn ask_on_terminal(ask: Ask<'_>) -> Result<String, provisioner::ProvisionError> {
    match ask {
        Ask::CodeSent(destination) => eprintln!("A code was sent to {destination}."),
        Ask::TryAgain => eprintln!("That code was not right; try again."),
    }
    eprint!("Code: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        provisioner::ProvisionError::state("terminal", format!("could not read the code: {e}"))
    })?;
    Ok(line.trim().to_owned())
}

pub fn login(args: &LoginArgs) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let session = Session::open(&args.stack.stack).await?;
        let mut ask = ask_on_terminal;
        let source = match (&session.spec.endpoint, args.from_mailbox) {
            (Some(endpoint), true) => CodeSource::Mailbox {
                endpoint: endpoint.as_str().to_owned(),
            },
            (None, true) => {
                bail!("--from-mailbox works only for a stack with an emulator `endpoint`")
            }
            (_, false) => CodeSource::Person(&mut ask),
        };
        if args.sign_up {
            if !session.spec.sign_up.enabled {
                bail!(
                    "stack {} does not allow self sign-up; set `sign_up: {{ enabled: true }}` in {} and deploy",
                    session.spec.name,
                    args.stack.stack.display()
                );
            }
            provisioner::login::sign_up(&session.clients.cognito, &session.outputs()?, &args.email)
                .await?;
        }
        let signed_in = provisioner::login::sign_in(&session, &args.email, source).await?;
        eprintln!("ID token verified against the pool's JWKS. Claims:");
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
