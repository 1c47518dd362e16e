//! What the last deploy that changed the stack leaves behind: when, by whom (the CI run or
//! `user@host`) and from which commit. One item in the stack's limits table beside the lock,
//! read by `stacks list` and `stacks prune`. It is written as the lock is released, in the
//! same round; a record never replaces a later one, so a deploy that took the lock in that
//! moment cannot be overwritten by the one before it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::Clients;
use crate::error::{ProvisionError, aws_error, ok_if_already_done};
use crate::lock::Holder;

/// The record's key in the limits table; no account record can take it (those are hashes).
const RECORD_KEY: &str = "deploy#last";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeployRecord {
    /// Unix seconds.
    pub at: u64,
    pub by: String,
    /// The CI run's page, when known.
    pub url: Option<String>,
    /// The commit the trigger packages were built from, when known.
    pub commit: Option<String>,
}

impl DeployRecord {
    pub fn now(holder: &Holder, commit: Option<String>) -> Self {
        Self {
            at: triggers::unix_now(),
            by: holder.who.clone(),
            url: holder.url.clone(),
            commit,
        }
    }
}

fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub async fn write(
    clients: &Clients,
    table: &str,
    record: &DeployRecord,
) -> Result<(), ProvisionError> {
    let mut put = clients
        .dynamodb
        .put_item()
        .table_name(table)
        .item(triggers::limits::KEY, text(RECORD_KEY))
        .item("at", AttributeValue::N(record.at.to_string()))
        .item("by", text(&record.by));
    if let Some(url) = &record.url {
        put = put.item("url", text(url));
    }
    if let Some(commit) = &record.commit {
        put = put.item("commit", text(commit));
    }
    let written = put
        .condition_expression("attribute_not_exists(#at) OR #at <= :at")
        .expression_attribute_names("#at", "at")
        .expression_attribute_values(":at", AttributeValue::N(record.at.to_string()))
        .send()
        .await;
    // Refused: a later deploy's record is there already, and it is the one that tells.
    ok_if_already_done(
        written,
        |e| e.is_conditional_check_failed_exception(),
        format!("dynamodb table {table}"),
        "dynamodb:PutItem",
    )
}

/// The record in `table`, if a deploy wrote one; a table that is gone has none.
pub async fn read(clients: &Clients, table: &str) -> Result<Option<DeployRecord>, ProvisionError> {
    let got = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key(triggers::limits::KEY, text(RECORD_KEY))
        .consistent_read(true)
        .send()
        .await;
    match got {
        Ok(output) => Ok(output.item.as_ref().and_then(record_of)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            format!("dynamodb table {table}"),
            "dynamodb:GetItem",
            e,
        )),
    }
}

fn record_of(item: &HashMap<String, AttributeValue>) -> Option<DeployRecord> {
    let text = |key: &str| item.get(key)?.as_s().ok().cloned();
    Some(DeployRecord {
        at: item.get("at")?.as_n().ok()?.parse().ok()?,
        by: text("by")?,
        url: text("url"),
        commit: text("commit"),
    })
}
