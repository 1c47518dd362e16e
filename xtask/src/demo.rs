//! `cargo xtask demo`: the first ten minutes in one command, on the local emulator.

use std::process::ExitCode;

use anyhow::Result;
use provisioner::login::CodeSource;
use provisioner::session::Session;

use crate::emulator::Emulator;
use crate::flags::{ApplyArgs, DeployArgs, StackArgs};
use crate::{progress, project_root, stack};

const DEMO_USER: &str = "demo@example.com";

pub fn run() -> Result<ExitCode> {
    crate::prerequisites::check("demo")?;
    let emulator = Emulator::from_env();
    progress::step("starting the local emulator (installing it on first use)");
    emulator.start()?;
    let args = StackArgs {
        stack: project_root().join("stacks").join("local.yaml"),
    };
    // On the emulator the same credentials play the administrator.
    crate::stack::bootstrap(&args)?;
    stack::deploy(&ApplyArgs {
        deploy: DeployArgs {
            stack: args.clone(),
            artifacts: None,
        },
        plan: None,
    })?;
    stack::runtime()?.block_on(async {
        let session = Session::open(&args.stack).await?;
        progress::step(&format!("adding user {DEMO_USER}"));
        provisioner::users::add(&session, DEMO_USER).await?;
        progress::step(&format!("signing in as {DEMO_USER} with the code from the emulator's outbox"));
        let endpoint = emulator.endpoint();
        let signed_in = provisioner::login::sign_in(&session, DEMO_USER, CodeSource::Mailbox { endpoint }).await?;
        println!("Signed in. The ID token's signature checks out against the pool's JWKS; its claims:");
        println!("{}", serde_json::to_string_pretty(&signed_in.claims)?);
        println!("\nThe emulator keeps running: try `cargo xtask login --stack stacks/local.yaml --email {DEMO_USER} --from-mailbox`,");
        println!("and stop it with `cargo xtask emulator stop`.");
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
