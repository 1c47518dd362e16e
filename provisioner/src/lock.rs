//! The stack lock: deploy and teardown hold it while they write, so two of them never change
//! one stack at once. A conditional write of one item in the stack's limits table, with a
//! short lease its holder renews while it runs (a heartbeat): a holder that died blocks for
//! [`LEASE`] at most, one on this host whose process is gone is taken over at once, and
//! `force-unlock` breaks a lease by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::aws::Clients;
use crate::error::{ProvisionError, aws_error};
use crate::naming::Names;

/// The lock's key in the limits table; no account record can take it (those are hashes).
const LOCK_KEY: &str = "lock#stack";

/// How long a lease lasts past its last renewal, and how often a holder renews it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTerms {
    pub lease: Duration,
    pub heartbeat: Duration,
}

/// Two minutes, renewed every 20 s: a renewal may fail a few times in a row (throttling,
/// a network blip) before the lease ends under a live holder.
pub const LEASE: LeaseTerms = LeaseTerms {
    lease: Duration::from_secs(120),
    heartbeat: Duration::from_secs(20),
};

/// Who holds, or wants, the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The CI run (`acme/identity run 1234 by @octocat`), else `user@host`.
    pub who: String,
    /// The run's page, when a CI system says where it is.
    pub url: Option<String>,
    pub host: String,
    pub command: String,
    pub pid: u32,
    /// Unix seconds.
    pub since: u64,
}

impl Holder {
    /// This process, running `command`, named from the process environment.
    pub fn current(command: &str) -> Self {
        Self::named(command, &|name| std::env::var(name).ok(), this_host())
    }

    /// This process as `environment` names it: the CI run when a CI system says so
    /// (GitHub Actions, GitLab CI), else `user@host`.
    pub fn named(
        command: &str,
        environment: &dyn Fn(&str) -> Option<String>,
        host: String,
    ) -> Self {
        let (who, url) = ci_run(environment).unwrap_or_else(|| {
            let user = environment("USER").unwrap_or_else(|| "someone".to_owned());
            (format!("{user}@{host}"), None)
        });
        Self {
            who,
            url,
            host,
            command: command.to_owned(),
            pid: std::process::id(),
            since: triggers::unix_now(),
        }
    }

    pub fn describe(&self) -> String {
        let minutes = triggers::unix_now().saturating_sub(self.since) / 60;
        let url = self
            .url
            .as_deref()
            .map(|u| format!(", {u}"))
            .unwrap_or_default();
        format!(
            "{} ({}, process {} on {}{url}) for the last {minutes} min",
            self.who, self.command, self.pid, self.host
        )
    }
}

/// The CI run this process belongs to, and its page.
fn ci_run(environment: &dyn Fn(&str) -> Option<String>) -> Option<(String, Option<String>)> {
    let set = |name: &str| environment(name).filter(|v| !v.is_empty());
    if set("GITHUB_ACTIONS").as_deref() == Some("true") {
        let repository = set("GITHUB_REPOSITORY")?;
        let run = set("GITHUB_RUN_ID")?;
        let attempt = set("GITHUB_RUN_ATTEMPT")
            .filter(|a| a != "1")
            .map(|a| format!(" attempt {a}"))
            .unwrap_or_default();
        let actor = set("GITHUB_ACTOR")
            .map(|a| format!(" by @{a}"))
            .unwrap_or_default();
        let server = set("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
        return Some((
            format!("{repository} run {run}{attempt}{actor}"),
            Some(format!("{server}/{repository}/actions/runs/{run}")),
        ));
    }
    if set("GITLAB_CI").as_deref() == Some("true") {
        let project = set("CI_PROJECT_PATH")?;
        let job = set("CI_JOB_ID")?;
        let user = set("GITLAB_USER_LOGIN")
            .map(|u| format!(" by @{u}"))
            .unwrap_or_default();
        return Some((format!("{project} job {job}{user}"), set("CI_JOB_URL")));
    }
    None
}

/// This machine's name, to tell whether a holder ran here.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "an unknown host".to_owned())
}

/// Whether process `pid` of this host still runs (a process of another user counts).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks for the process without touching it.
    // SAFETY: kill with signal 0 has no effect beyond the check.
    let sent = unsafe { libc::kill(pid, 0) };
    sent == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A held lock, renewed in the background until released (a lock not released expires
/// one lease after its last renewal).
pub struct Lease<'a> {
    clients: &'a Clients,
    table: String,
    token: String,
    heartbeat: tokio::task::JoinHandle<()>,
    /// Set when a renewal found the lock no longer ours (broken by hand, or expired).
    lost: Arc<AtomicBool>,
    /// Whether taking the lock created the table: then nobody can have held the lock, nor
    /// changed the stack through this tool, since the caller observed it.
    pub created_table: bool,
    /// The holder this run took the lock from: a process on this host that is gone.
    pub taken_over: Option<Holder>,
}

fn random_token() -> Result<String, ProvisionError> {
    let bytes = triggers::code::random_salt().map_err(|e| {
        ProvisionError::state("stack lock", format!("the OS random source failed: {e}"))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// Takes the lock with the standard [`LEASE`], or fails at once naming who holds it.
/// `ensure_table` creates the limits table when it does not exist yet (the very first
/// deploy), saying whether it did; it runs first when the caller saw no table, else only if
/// the table turns out to be missing.
pub async fn acquire<'a, F, Fut>(
    clients: &'a Clients,
    names: &Names,
    holder: &Holder,
    table_seen: bool,
    ensure_table: F,
) -> Result<Lease<'a>, ProvisionError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<bool, ProvisionError>>,
{
    acquire_with(clients, names, holder, LEASE, table_seen, ensure_table).await
}

/// [`acquire`] with other lease terms (tests shorten them).
pub async fn acquire_with<'a, F, Fut>(
    clients: &'a Clients,
    names: &Names,
    holder: &Holder,
    terms: LeaseTerms,
    table_seen: bool,
    ensure_table: F,
) -> Result<Lease<'a>, ProvisionError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<bool, ProvisionError>>,
{
    let table = names.limits_table();
    let resource = format!("stack {}", names.stack);
    let token = random_token()?;
    let mut ensure_table = Some(ensure_table);
    let mut created_table = false;
    let mut taken_over = None;
    // The token of a dead holder on this host, once seen: the next write replaces exactly it.
    let mut replacing: Option<String> = None;
    if !table_seen && let Some(ensure) = ensure_table.take() {
        created_table = ensure().await?;
    }
    loop {
        let now = triggers::unix_now();
        let mut put = clients
            .dynamodb
            .put_item()
            .table_name(&table)
            .item(triggers::limits::KEY, text(LOCK_KEY))
            .item("token", text(&token))
            .item("who", text(&holder.who))
            .item("host", text(&holder.host))
            .item("command", text(&holder.command))
            .item("pid", number(holder.pid.into()))
            .item("since", number(holder.since))
            .item(
                triggers::limits::TTL_ATTRIBUTE,
                number(now + terms.lease.as_secs()),
            )
            .expression_attribute_names("#key", triggers::limits::KEY)
            .expression_attribute_values(":now", number(now))
            // The holder comes back with the refusal: no second read, and no window in
            // which the holder could change between the two.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(url) = &holder.url {
            put = put.item("url", text(url));
        }
        put = match &replacing {
            Some(theirs) => put
                .condition_expression(
                    "attribute_not_exists(#key) OR expires_at < :now OR #token = :theirs",
                )
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":theirs", text(theirs)),
            None => put.condition_expression("attribute_not_exists(#key) OR expires_at < :now"),
        };
        match put.send().await {
            Ok(_) => {
                let lost = Arc::new(AtomicBool::new(false));
                let heartbeat = tokio::spawn(renew(
                    clients.clone(),
                    table.clone(),
                    token.clone(),
                    terms,
                    lost.clone(),
                ));
                return Ok(Lease {
                    clients,
                    table,
                    token,
                    heartbeat,
                    lost,
                    created_table,
                    taken_over,
                });
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let held = match e.into_service_error() {
                    PutItemError::ConditionalCheckFailedException(failed) => failed.item,
                    _ => None,
                };
                let held_by = held.as_ref().and_then(holder_of);
                let their_token = held
                    .as_ref()
                    .and_then(|item| item.get("token")?.as_s().ok().cloned());
                if let (Some(dead), Some(theirs), None) = (&held_by, their_token, &replacing)
                    && dead.host == holder.host
                    && dead.pid != holder.pid
                    && !process_alive(dead.pid)
                {
                    taken_over = Some(dead.clone());
                    replacing = Some(theirs);
                    continue;
                }
                return Err(ProvisionError::state(
                    resource,
                    format!(
                        "is being changed by {}; wait for it to finish (a holder that died stops blocking {} s after its last renewal), or break the lock with `cargo xtask force-unlock --stack <spec>`",
                        held_by.map_or_else(|| "another run".to_owned(), |h| h.describe()),
                        terms.lease.as_secs()
                    ),
                ));
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                let Some(ensure) = ensure_table.take() else {
                    return Err(aws_error(&resource, "dynamodb:PutItem", e));
                };
                created_table = ensure().await?;
            }
            Err(e) => return Err(aws_error(&resource, "dynamodb:PutItem", e)),
        }
    }
}

/// The heartbeat: pushes the lease's end forward while the lock is still ours. A renewal
/// that fails for another reason is tried again at the next beat; the lease outlasts several.
async fn renew(
    clients: Clients,
    table: String,
    token: String,
    terms: LeaseTerms,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(terms.heartbeat).await;
        let renewed = clients
            .dynamodb
            .update_item()
            .table_name(&table)
            .key(triggers::limits::KEY, text(LOCK_KEY))
            .update_expression("SET expires_at = :until")
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", text(&token))
            .expression_attribute_values(
                ":until",
                number(triggers::unix_now() + terms.lease.as_secs()),
            )
            .send()
            .await;
        if let Err(e) = renewed
            && e.as_service_error().is_some_and(|e| {
                e.is_conditional_check_failed_exception() || e.is_resource_not_found_exception()
            })
        {
            lost.store(true, Ordering::SeqCst);
            return;
        }
    }
}

/// A lease dropped without release (its run cancelled or failed past recovery) stops
/// renewing: it then ends one lease later, as a dead holder's does.
impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl Lease<'_> {
    /// Stops the heartbeat and gives the lock back, if it is still ours (someone may have
    /// broken it by hand) and its table still exists (teardown deletes it).
    pub async fn release(self) -> Result<(), ProvisionError> {
        self.heartbeat.abort();
        let deleted = self
            .clients
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .key(triggers::limits::KEY, text(LOCK_KEY))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", text(&self.token))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_conditional_check_failed_exception() || e.is_resource_not_found_exception()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error("stack lock", "dynamodb:DeleteItem", e)),
        }
    }

    /// Whether a renewal found the lock taken from this run while it held it.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

fn holder_of(item: &std::collections::HashMap<String, AttributeValue>) -> Option<Holder> {
    let text = |key: &str| item.get(key)?.as_s().ok().cloned();
    let num = |key: &str| item.get(key)?.as_n().ok()?.parse::<u64>().ok();
    Some(Holder {
        who: text("who")?,
        url: text("url"),
        host: text("host").unwrap_or_else(|| "an unknown host".to_owned()),
        command: text("command")?,
        pid: u32::try_from(num("pid")?).ok()?,
        since: num("since")?,
    })
}

/// Breaks the lock whoever holds it, and says whose it was.
pub async fn force_unlock(
    clients: &Clients,
    names: &Names,
) -> Result<Option<Holder>, ProvisionError> {
    let deleted = clients
        .dynamodb
        .delete_item()
        .table_name(names.limits_table())
        .key(triggers::limits::KEY, text(LOCK_KEY))
        .return_values(ReturnValue::AllOld)
        .send()
        .await;
    match deleted {
        Ok(output) => Ok(output.attributes.as_ref().and_then(holder_of)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            format!("stack {}", names.stack),
            "dynamodb:DeleteItem",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn a_github_actions_run_is_named_with_its_page() {
        let holder = Holder::named(
            "deploy",
            &from(&[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_REPOSITORY", "acme/identity"),
                ("GITHUB_RUN_ID", "9001"),
                ("GITHUB_RUN_ATTEMPT", "2"),
                ("GITHUB_ACTOR", "octocat"),
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("USER", "runner"),
            ]),
            "fv-az123".to_owned(),
        );
        assert_eq!(holder.who, "acme/identity run 9001 attempt 2 by @octocat");
        assert_eq!(
            holder.url.as_deref(),
            Some("https://github.com/acme/identity/actions/runs/9001")
        );
        assert!(
            holder
                .describe()
                .contains("https://github.com/acme/identity/actions/runs/9001")
        );
    }

    #[test]
    fn a_gitlab_job_is_named_with_its_page() {
        let holder = Holder::named(
            "teardown",
            &from(&[
                ("GITLAB_CI", "true"),
                ("CI_PROJECT_PATH", "acme/identity"),
                ("CI_JOB_ID", "77"),
                (
                    "CI_JOB_URL",
                    "https://gitlab.example/acme/identity/-/jobs/77",
                ),
                ("GITLAB_USER_LOGIN", "ines"),
            ]),
            "runner-3".to_owned(),
        );
        assert_eq!(holder.who, "acme/identity job 77 by @ines");
        assert_eq!(
            holder.url.as_deref(),
            Some("https://gitlab.example/acme/identity/-/jobs/77")
        );
    }

    #[test]
    fn outside_ci_the_holder_is_user_at_host() {
        let holder = Holder::named("deploy", &from(&[("USER", "ines")]), "laptop".to_owned());
        assert_eq!((holder.who.as_str(), holder.url), ("ines@laptop", None));
        // A half-set CI environment does not pass for a run.
        let holder = Holder::named(
            "deploy",
            &from(&[("GITHUB_ACTIONS", "true"), ("USER", "runner")]),
            "fv-az1".to_owned(),
        );
        assert_eq!(holder.who, "runner@fv-az1");
    }

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }
}
