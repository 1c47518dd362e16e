//! `cargo xtask status --stack F`: the last hour and day of a deployed stack from its
//! metrics and alarms. Only the status goes to stdout.

use std::process::ExitCode;

use anyhow::Result;
use provisioner::session::Session;

use crate::flags::{ListFormat, StatusArgs};
use crate::stack::runtime;

pub fn run(args: &StatusArgs) -> Result<ExitCode> {
    let status = runtime()?.block_on(async {
        let session = Session::open(&args.stack.stack).await?;
        anyhow::Ok(provisioner::status::status(&session).await?)
    })?;
    match args.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        ListFormat::Text => print!("{}", provisioner::status::text(&status)),
    }
    Ok(ExitCode::SUCCESS)
}
