//! `cargo xtask doctor`: read-only checks before the first real deploy, each failure with
//! what to do. Exit 1 when a check fails; warnings alone exit 0.

use std::process::ExitCode;

use anyhow::Result;
use provisioner::doctor::{Status, doctor};
use provisioner::spec::StackSpec;

use crate::flags::StackArgs;
use crate::stack::runtime;

pub fn run(args: &StackArgs) -> Result<ExitCode> {
    let spec = StackSpec::load(&args.stack)?;
    let checks = runtime()?.block_on(async {
        let clients = provisioner::aws::connect(&spec).await;
        doctor(&spec, &clients, provisioner::mail_dns::system_nameserver()).await
    });
    for check in &checks {
        println!("{:<4} {}: {}", check.status, check.name, check.detail);
        if let Some(fix) = &check.fix {
            println!("     do: {fix}");
        }
    }
    Ok(if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
