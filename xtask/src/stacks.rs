//! `cargo xtask stacks list|prune`: the stacks of an account found by their ownership tag,
//! without any spec. Only the list (JSON or text) goes to stdout.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use provisioner::aws::{ConnectOptions, Target, connect_to};
use provisioner::inventory::{StackFound, discover};
use provisioner::session::Session;

use crate::flags::{ListFormat, StacksAction, TeardownHow};
use crate::stack::{confirm_teardown, options, print_outcome, report_torn, runtime};

/// Exit code when prune found stacks to remove but was not told `--yes`.
const EXIT_WOULD_REMOVE: u8 = 2;

pub fn run(action: &StacksAction) -> Result<ExitCode> {
    match action {
        StacksAction::List { region, format } => list(region.as_deref(), *format),
        StacksAction::Prune {
            prefix,
            older_than,
            region,
            how,
        } => prune(prefix, *older_than, region.as_deref(), how),
    }
}

async fn stacks_in(target: &Target) -> Result<Vec<StackFound>> {
    let clients = connect_to(target, ConnectOptions::from_environment()).await;
    let inventory = discover(&clients).await?;
    if inventory.unreadable > 0 {
        eprintln!(
            "note: {} resource(s) could not be read (access denied): stacks outside these credentials' reach are not listed",
            inventory.unreadable
        );
    }
    Ok(inventory.stacks.into_values().collect())
}

/// The stack named `name`, or an error listing the names there are.
pub async fn find(target: &Target, name: &str) -> Result<StackFound> {
    let stacks = stacks_in(target).await?;
    let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
    match stacks.iter().find(|s| s.name == name) {
        Some(found) => Ok(found.clone()),
        None => bail!(
            "no stack named {name} in this account and region (found: {}); check --region, AWS_REGION and the account",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2026-11-27 16:05 UTC` from unix seconds.
fn when(seconds: u64) -> String {
    let days = seconds / 86_400;
    let (hour, minute) = ((seconds % 86_400) / 3600, (seconds % 3600) / 60);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

fn list(region: Option<&str>, format: ListFormat) -> Result<ExitCode> {
    let target = Target::from_environment(region);
    let stacks = runtime()?.block_on(stacks_in(&target))?;
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&stacks)?),
        ListFormat::Text => print!("{}", text(&stacks)),
    }
    Ok(ExitCode::SUCCESS)
}

fn text(stacks: &[StackFound]) -> String {
    let mut out = String::new();
    for stack in stacks {
        let state = if stack.complete() {
            "complete".to_owned()
        } else {
            format!("incomplete, missing {}", stack.missing.join(", "))
        };
        out.push_str(&format!(
            "{}\n  resources    {} ({state})\n  created      {}\n",
            stack.name,
            stack.resources.len(),
            stack.created.map_or("unknown".to_owned(), when)
        ));
        match &stack.last_deploy {
            Some(deploy) => out.push_str(&format!(
                "  last deploy  {} by {}{}{}\n",
                when(deploy.at),
                deploy.by,
                deploy
                    .commit
                    .as_deref()
                    .map(|c| format!(", commit {c}"))
                    .unwrap_or_default(),
                deploy
                    .url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            )),
            None => out.push_str("  last deploy  none recorded\n"),
        }
        if let Some(sender) = &stack.sender {
            out.push_str(&format!("  sends as     {sender}\n"));
        }
    }
    if stacks.is_empty() {
        out.push_str("no stacks of this tool in this account and region\n");
    }
    out
}

/// Which stacks prune removes: the name starts with `prefix`, and the last deploy (or the
/// creation) is older than `older_than`. A stack with no time at all is left alone.
fn stale<'a>(
    stacks: &'a [StackFound],
    prefix: &str,
    older_than: Duration,
    now: u64,
) -> Vec<&'a StackFound> {
    stacks
        .iter()
        .filter(|s| s.name.starts_with(prefix))
        .filter(|s| {
            s.last_active()
                .is_some_and(|at| now.saturating_sub(at) > older_than.as_secs())
        })
        .collect()
}

fn prune(
    prefix: &str,
    older_than: Duration,
    region: Option<&str>,
    how: &TeardownHow,
) -> Result<ExitCode> {
    if prefix.is_empty() {
        bail!("--prefix must not be empty: prune removes only stacks named with a prefix you give");
    }
    let runtime = runtime()?;
    let target = Target::from_environment(region);
    let stacks = runtime.block_on(stacks_in(&target))?;
    let doomed = stale(&stacks, prefix, older_than, unix_now());
    for stack in &doomed {
        println!("{}", stack.name);
    }
    if doomed.is_empty() {
        eprintln!("no stack named {prefix}* is older than that");
        return Ok(ExitCode::SUCCESS);
    }
    if !how.yes {
        eprintln!(
            "{} stack(s) would be removed; run again with --yes to remove them",
            doomed.len()
        );
        return Ok(ExitCode::from(EXIT_WOULD_REMOVE));
    }
    let mut failed = Vec::new();
    for stack in doomed {
        confirm_teardown(&stack.name, how.yes)?;
        let torn = runtime.block_on(async {
            let session = Session::open_found(stack, &target).await?;
            session.teardown(options(how), &print_outcome).await
        });
        match torn {
            Ok(torn) => report_torn(&stack.name, &torn),
            Err(error) => {
                eprintln!("error: stack {}: {error}", stack.name);
                failed.push(stack.name.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "could not remove {}; see the errors above",
            failed.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisioner::deploy_record::DeployRecord;

    fn stack(name: &str, created: Option<u64>, deployed: Option<u64>) -> StackFound {
        StackFound {
            name: name.to_owned(),
            resources: Vec::new(),
            missing: Vec::new(),
            created,
            last_deploy: deployed.map(|at| DeployRecord {
                at,
                by: "ci".to_owned(),
                url: None,
                commit: None,
            }),
            sender: None,
        }
    }

    #[test]
    fn prune_takes_the_prefix_and_the_last_deploy_else_the_creation() {
        let now = 1_800_000_000;
        let day = 86_400;
        let stacks = [
            stack("acme-pr-1", Some(now - 10 * day), Some(now - 3 * day)),
            stack("acme-pr-2", Some(now - 10 * day), Some(now - 3600)),
            stack("acme-pr-3", Some(now - 3 * day), None),
            stack("acme-pr-4", None, None),
            stack("acme-prod", Some(now - 400 * day), None),
        ];
        let names: Vec<&str> = stale(&stacks, "acme-pr-", Duration::from_secs(2 * day), now)
            .into_iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["acme-pr-1", "acme-pr-3"]);
    }

    #[test]
    fn durations_take_a_unit() {
        use crate::flags::parse_duration;
        assert_eq!(
            parse_duration("36h").unwrap(),
            Duration::from_secs(36 * 3600)
        );
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert!(parse_duration("7").unwrap_err().contains("unit"));
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_795_795_200), "2026-11-27 16:00 UTC");
        assert_eq!(when(951_782_400), "2000-02-29 00:00 UTC");
    }
}
