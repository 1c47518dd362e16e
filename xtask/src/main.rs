//! `cargo xtask`: builds the triggers, runs the emulator, and drives the provisioner.
//! Each task lives in its own file; this one only parses arguments and dispatches.

mod actionlint;
mod bench;
mod browser;
mod build;
mod demo;
mod disk;
mod doctor;
mod email;
mod emulator;
mod flags;
mod newcomer;
mod phases;
mod prerequisites;
mod progress;
mod python;
mod release_serve;
mod reproducible;
mod serve;
mod stack;
mod stacks;
mod status;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flags::{
    ApplyArgs, BuildArgs, DriftArgs, LoginArgs, PlanArgs, ReproducibleArgs, ServeArgs, StackArgs,
    TeardownArgs, UsersArgs,
};

/// Passwordless email sign-in on AWS Cognito, deployed from a YAML stack spec.
///
/// Exit codes: 0 nothing to do or success, 2 changes or drift found, 1 error.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    /// Print more detail (each command run).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build the trigger binaries and zip each as a Lambda `bootstrap`, with a manifest.
    Build(BuildArgs),
    /// Build the triggers a second time from a copy of the checkout at another path with
    /// another CARGO_HOME, and compare every zip's CodeSha256 with this checkout's build.
    CheckReproducible(ReproducibleArgs),
    /// Build the triggers (or take `--artifacts`), then create or update every resource of the
    /// stack, or apply exactly a saved plan (`--plan FILE`).
    Deploy(ApplyArgs),
    /// Show what deploy would change, without changing anything (exit 2 when it would); save
    /// it with `--out FILE` for review and `deploy --plan FILE`.
    Plan(PlanArgs),
    /// Compare the live stack with the spec and what deploy recorded, without building
    /// (exit 2 on drift).
    Drift(DriftArgs),
    /// Delete every resource of the stack that carries its ownership tag (by spec, or by
    /// `--name` when the spec is gone).
    Teardown(TeardownArgs),
    /// List the stacks of this tool in an account, or prune old ones, without any spec.
    Stacks {
        #[command(subcommand)]
        action: flags::StacksAction,
    },
    /// For an administrator, once per stack: create the permissions boundary that caps the
    /// trigger role. Deploy refuses without it, and the deployer may never change it.
    Bootstrap(StackArgs),
    /// Print the least-privilege IAM policy that running deploy, plan, drift, teardown and
    /// `stacks` needs: for the stack, for every stack a name pattern matches, or read-only.
    DeployerPolicy(flags::DeployerPolicyArgs),
    /// Read-only checks before the first real deploy: credentials, region, SES, permissions,
    /// Lambda concurrency; each failure says what to do (exit 1 when one fails).
    Doctor(StackArgs),
    /// Break the stack lock that a deploy or teardown which died left behind, and say whose it was.
    ForceUnlock(StackArgs),
    /// Print the deployed stack's identifiers as JSON.
    Outputs(StackArgs),
    /// The last hour and day of a deployed stack: codes sent, refusals, lockouts, send
    /// failures, SES bounce and complaint rates, and the alarms in ALARM.
    Status(flags::StatusArgs),
    /// Add, list or remove users of a deployed stack.
    Users(UsersArgs),
    /// Sign in by email code through Cognito and print the verified ID token's claims.
    Login(LoginArgs),
    /// Run the sign-in service (start, verify, me, sign-out) and its page against a deployed stack.
    Serve(ServeArgs),
    /// Build `emailcode-serve` as a static musl binary for x86_64 or arm64 Linux, through zig,
    /// into target/emailcode-serve/.
    ReleaseServe(flags::ReleaseServeArgs),
    /// Look at the stack's sign-in email before deploying it.
    Email {
        #[command(subcommand)]
        action: flags::EmailAction,
    },
    /// Install, start or stop the local AWS emulator (MiniStack).
    Emulator {
        #[command(subcommand)]
        action: emulator::Action,
    },
    /// The whole first-run tour on the local emulator: deploy, add a user, sign in.
    Demo,
    /// Run every test, the emulator and browser ones included (installs and starts what they need).
    Test,
    /// Measure deploy, drift, teardown and sign-in on the local emulator; writes bench/.
    Bench(bench::BenchArgs),
    /// Clone the committed repository to a temporary folder and run the README's two commands there.
    Newcomer,
}

fn main() -> ExitCode {
    phases::mark_start();
    let cli = Cli::parse();
    progress::set_verbose(cli.verbose);
    match run(cli.task) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> anyhow::Result<ExitCode> {
    match task {
        Task::Build(args) => build::run(&args).map(|_| ExitCode::SUCCESS),
        Task::CheckReproducible(args) => reproducible::run(&args),
        Task::Deploy(args) => stack::deploy(&args),
        Task::Plan(args) => stack::plan(&args),
        Task::Drift(args) => stack::drift(&args),
        Task::Teardown(args) => stack::teardown(&args),
        Task::Stacks { action } => stacks::run(&action),
        Task::Bootstrap(args) => stack::bootstrap(&args),
        Task::DeployerPolicy(args) => stack::deployer_policy(&args),
        Task::Doctor(args) => doctor::run(&args),
        Task::ForceUnlock(args) => stack::force_unlock(&args),
        Task::Outputs(args) => stack::outputs(&args),
        Task::Status(args) => status::run(&args),
        Task::Users(args) => stack::users(&args),
        Task::Login(args) => stack::login(&args),
        Task::Email { action } => email::run(&action),
        Task::Serve(args) => serve::run(&args),
        Task::ReleaseServe(args) => release_serve::run(&args),
        Task::Emulator { action } => emulator::run(action),
        Task::Demo => demo::run(),
        Task::Test => test::run(),
        Task::Bench(args) => bench::run(&args),
        Task::Newcomer => newcomer::run(),
    }
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_owned()
}

/// A command for the cargo that runs us, so toolchain overrides carry over, without the
/// variables `cargo run` set for xtask itself. Build scripts such as ring's declare
/// `rerun-if-env-changed` on `CARGO_MANIFEST_DIR` and `CARGO_PKG_*`; inherited, they would
/// make every nested build recompile the TLS stack and the AWS SDK that a plain `cargo`
/// invocation had compiled already, and the other way round.
pub fn cargo() -> std::process::Command {
    let mut command =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_MANIFEST_LINKS",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
    command
}
