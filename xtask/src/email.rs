//! `cargo xtask email preview`: the stack's sign-in email rendered with a sample code, as
//! files a person opens before deploying. Reads the spec only; touches no AWS.

use std::process::ExitCode;

use anyhow::{Context, Result};
use provisioner::spec::StackSpec;

use crate::flags::{EmailAction, PreviewArgs};

/// Stands in for a real code; never a code anyone was sent.
const SAMPLE_CODE: &str = "428193";
const SAMPLE_ADDRESS: &str = "someone@example.com";

pub fn run(action: &EmailAction) -> Result<ExitCode> {
    match action {
        EmailAction::Preview(args) => preview(args),
    }
}

fn preview(args: &PreviewArgs) -> Result<ExitCode> {
    let spec = StackSpec::load(&args.stack.stack)?;
    let templates = spec
        .email_templates
        .check()
        .context("the stack's email templates")?;
    let message = templates.render(
        args.locale.as_deref(),
        SAMPLE_CODE,
        u64::from(spec.otp.ttl_seconds.get()),
        SAMPLE_ADDRESS,
    );
    let dir = crate::project_root().join("target").join("email-preview");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!(
        "{}-{}",
        spec.name,
        args.locale.as_deref().unwrap_or("default")
    );
    let html = dir.join(format!("{stem}.html"));
    let text = dir.join(format!("{stem}.txt"));
    std::fs::write(&html, &message.html).with_context(|| format!("writing {}", html.display()))?;
    std::fs::write(
        &text,
        format!("Subject: {}\n\n{}", message.subject, message.text),
    )
    .with_context(|| format!("writing {}", text.display()))?;
    eprintln!("subject: {}", message.subject);
    println!("{}", html.display());
    println!("{}", text.display());
    Ok(ExitCode::SUCCESS)
}
