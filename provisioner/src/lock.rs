//! The stack lock: deploy and teardown hold it while they write, so two of them never change
//! one stack at once. A conditional write of one item in the stack's limits table, with a
//! lease that expires should its holder die; `force-unlock` breaks one by hand.

use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::aws::Clients;
use crate::error::{ProvisionError, aws_error};
use crate::naming::Names;

/// The lock's key in the limits table; no account record can take it (those are hashes).
const LOCK_KEY: &str = "lock#stack";
/// Long enough for the slowest deploy AWS allows (role propagation and function readiness
/// have their own deadlines well inside it); a holder that died is waited out this long.
const LEASE: Duration = Duration::from_secs(30 * 60);

/// Who holds, or wants, the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `user@host`.
    pub who: String,
    pub command: String,
    pub pid: u32,
    /// Unix seconds.
    pub since: u64,
}

impl Holder {
    /// This process, running `command`.
    pub fn current(command: &str) -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "someone".to_owned());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "an unknown host".to_owned());
        Self {
            who: format!("{user}@{host}"),
            command: command.to_owned(),
            pid: std::process::id(),
            since: triggers::unix_now(),
        }
    }

    fn describe(&self) -> String {
        let minutes = triggers::unix_now().saturating_sub(self.since) / 60;
        format!(
            "{} ({}, process {}) for the last {minutes} min",
            self.who, self.command, self.pid
        )
    }
}

/// A held lock; release it when done (a lock not released expires with its lease).
pub struct Lease<'a> {
    clients: &'a Clients,
    table: String,
    token: String,
    /// Whether taking the lock created the table: then nobody can have held the lock, nor
    /// changed the stack through this tool, since the caller observed it.
    pub created_table: bool,
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

/// Takes the lock, or fails at once naming who holds it. `ensure_table` creates the limits
/// table when it does not exist yet (the very first deploy), saying whether it did; it runs
/// first when the caller saw no table, else only if the table turns out to be missing.
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
    let table = names.limits_table();
    let resource = format!("stack {}", names.stack);
    let token = random_token()?;
    let mut ensure_table = Some(ensure_table);
    let mut created_table = false;
    if !table_seen && let Some(ensure) = ensure_table.take() {
        created_table = ensure().await?;
    }
    loop {
        let now = triggers::unix_now();
        let put = clients
            .dynamodb
            .put_item()
            .table_name(&table)
            .item(
                triggers::limits::KEY,
                AttributeValue::S(LOCK_KEY.to_owned()),
            )
            .item("token", AttributeValue::S(token.clone()))
            .item("who", AttributeValue::S(holder.who.clone()))
            .item("command", AttributeValue::S(holder.command.clone()))
            .item("pid", number(holder.pid.into()))
            .item("since", number(holder.since))
            .item(
                triggers::limits::TTL_ATTRIBUTE,
                number(now + LEASE.as_secs()),
            )
            .condition_expression("attribute_not_exists(#key) OR expires_at < :now")
            .expression_attribute_names("#key", triggers::limits::KEY)
            .expression_attribute_values(":now", number(now))
            // The holder comes back with the refusal: no second read, and no window in
            // which the holder could change between the two.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => {
                return Ok(Lease {
                    clients,
                    table,
                    token,
                    created_table,
                });
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let held_by = match e.into_service_error() {
                    PutItemError::ConditionalCheckFailedException(failed) => {
                        failed.item.as_ref().and_then(holder_of)
                    }
                    _ => None,
                };
                return Err(ProvisionError::state(
                    resource,
                    format!(
                        "is being changed by {}; wait for it to finish, or if that process died, run `cargo xtask force-unlock --stack <spec>`",
                        held_by.map_or_else(|| "another run".to_owned(), |h| h.describe())
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

impl Lease<'_> {
    /// Gives the lock back, if it is still ours (someone may have broken it by hand) and its
    /// table still exists (teardown deletes it).
    pub async fn release(self) -> Result<(), ProvisionError> {
        let deleted = self
            .clients
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .key(
                triggers::limits::KEY,
                AttributeValue::S(LOCK_KEY.to_owned()),
            )
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", AttributeValue::S(self.token))
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
}

fn holder_of(item: &std::collections::HashMap<String, AttributeValue>) -> Option<Holder> {
    let text = |key: &str| item.get(key)?.as_s().ok().cloned();
    let num = |key: &str| item.get(key)?.as_n().ok()?.parse::<u64>().ok();
    Some(Holder {
        who: text("who")?,
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
        .key(
            triggers::limits::KEY,
            AttributeValue::S(LOCK_KEY.to_owned()),
        )
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
