//! The limits table: where the triggers count sends, failures and locks per account.
//! On-demand, one string key, a TTL so every record expires by itself, the stack's tags.
//! DynamoDB encrypts every table at rest (with an AWS owned key unless told otherwise).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription, TableStatus, Tag, TimeToLiveDescription, TimeToLiveSpecification,
    TimeToLiveStatus,
};

use super::{ApplyCx, Observed, ReadCx, Tagging};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{FieldChange, Fields, Tags, UpdateCall, list_field};
use crate::naming::OWNER_TAG;

/// How long a new table may take to become ACTIVE before deploy gives up.
const ACTIVE_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub arn: String,
    pub tags: Tags,
}

const BILLING: UpdateCall = UpdateCall {
    operation: "dynamodb:UpdateTable",
    fields: &["billing_mode"],
};
const TTL: UpdateCall = UpdateCall {
    operation: "dynamodb:UpdateTimeToLive",
    fields: &["ttl"],
};
const TAGS: UpdateCall = UpdateCall {
    operation: "dynamodb:TagResource",
    fields: &["tags"],
};
pub const UPDATES: &[UpdateCall] = &[BILLING, TTL, TAGS];
/// A table's key is fixed at creation.
pub const REPLACE_ON: &[&str] = &["key_schema"];

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([
            ("key_schema", format!("{} S HASH", triggers::limits::KEY)),
            ("billing_mode", "PAY_PER_REQUEST".to_owned()),
            (
                "ttl",
                format!("{} ENABLED", triggers::limits::TTL_ATTRIBUTE),
            ),
            ("tags", super::tags_field(&self.tags)),
        ])
    }
}

pub fn fields_of(
    table: &TableDescription,
    ttl: Option<&TimeToLiveDescription>,
    tags: &BTreeMap<String, String>,
    tagging: &Tagging,
) -> Fields {
    let types: BTreeMap<&str, &str> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let key_schema = list_field(table.key_schema().iter().map(|k| {
        format!(
            "{} {} {}",
            k.attribute_name(),
            types.get(k.attribute_name()).unwrap_or(&"?"),
            k.key_type().as_str()
        )
    }));
    // A table created with provisioned capacity may report no billing summary at all.
    let billing = table
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map_or("PROVISIONED", |b| b.as_str());
    // ENABLING counts as on: AWS takes up to an hour to finish it, and nothing else is due.
    let ttl = match ttl.and_then(|t| Some((t.time_to_live_status()?, t.attribute_name()?))) {
        Some((TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling, attribute)) => {
            format!("{attribute} ENABLED")
        }
        _ => "DISABLED".to_owned(),
    };
    Fields::from([
        ("key_schema", key_schema),
        ("billing_mode", billing.to_owned()),
        ("ttl", ttl),
        ("tags", tagging.field(tags)),
    ])
}

/// DescribeTable and DescribeTimeToLive in one round; the tags, which need the table's ARN,
/// in the next (alongside the pool's second round).
pub async fn read(cx: &ReadCx<'_>) -> Result<Observed, ProvisionError> {
    let name = cx.names.limits_table();
    let resource = format!("dynamodb table {name}");
    let dynamodb = &cx.clients.dynamodb;
    let (described, ttl) = tokio::join!(
        dynamodb.describe_table().table_name(&name).send(),
        dynamodb.describe_time_to_live().table_name(&name).send(),
    );
    let table = match described {
        Ok(output) => match output.table {
            Some(table) => table,
            None => return Ok(Observed::Absent),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(Observed::Absent);
        }
        Err(e) => return Err(aws_error(resource, "dynamodb:DescribeTable", e)),
    };
    let ttl = ttl.map_err(|e| aws_error(&resource, "dynamodb:DescribeTimeToLive", e))?;
    let arn = table.table_arn().unwrap_or_default();
    let mut tags = BTreeMap::new();
    let mut next_token = None;
    loop {
        let page = dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "dynamodb:ListTagsOfResource", e))?;
        tags.extend(
            page.tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned())),
        );
        next_token = page.next_token;
        if next_token.is_none() {
            break;
        }
    }
    if !cx.tagging.owns(tags.get(OWNER_TAG).map(String::as_str)) {
        return Ok(Observed::Unowned);
    }
    Ok(Observed::Owned(fields_of(
        &table,
        ttl.time_to_live_description(),
        &tags,
        cx.tagging,
    )))
}

fn dynamodb_tags(tags: &Tags) -> Vec<Tag> {
    sdk_tags!(Tag, tags)
}

/// Creates the table, waits until it is ACTIVE (TTL cannot be set before), then turns TTL on.
pub async fn create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    send_create(cx, desired)
        .await
        .map_err(|e| aws_error(resource(desired), "dynamodb:CreateTable", e))?;
    wait_until_active(cx, desired).await?;
    enable_ttl(cx, desired).await
}

fn resource(desired: &Desired) -> String {
    format!("dynamodb table {}", desired.name)
}

type CreateTableError = aws_sdk_dynamodb::error::SdkError<
    aws_sdk_dynamodb::operation::create_table::CreateTableError,
    aws_smithy_runtime_api::http::Response,
>;

async fn send_create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), CreateTableError> {
    let key = triggers::limits::KEY;
    cx.clients
        .dynamodb
        .create_table()
        .table_name(&desired.name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .expect("name and type are set"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .set_tags(Some(dynamodb_tags(&desired.tags)))
        .send()
        .await?;
    Ok(())
}

/// Creates the table unless it exists or is being created (by a concurrent deploy), then
/// waits until it is ACTIVE: the stack lock lives in it, and the very first deploy needs it
/// before anything else. TTL is left to the deploy's own plan. Returns whether this call
/// created the table.
pub async fn ensure(cx: &ApplyCx<'_>, desired: &Desired) -> Result<bool, ProvisionError> {
    let created = match send_create(cx, desired).await {
        Ok(()) => true,
        // Another first deploy created it, or is creating it: DescribeTable may not see it
        // yet (its metadata is eventually consistent), so that is left to the wait.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(e) => return Err(aws_error(resource(desired), "dynamodb:CreateTable", e)),
    };
    wait_until_active(cx, desired).await?;
    Ok(created)
}

/// The fields of a table `ensure` has just created, so that the deploy it locks for need not
/// read it back.
pub fn fields_just_created(desired: &Desired) -> Fields {
    let mut fields = desired.fields();
    fields.insert("ttl", "DISABLED".to_owned());
    fields
}

/// Waits until the table is ACTIVE. Right after CreateTable, DescribeTable may still answer
/// ResourceNotFoundException (AWS documents its metadata as eventually consistent): that
/// counts as not ready yet, until the deadline.
async fn wait_until_active(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    let resource = resource(desired);
    let started = Instant::now();
    let mut pause = Duration::from_millis(25);
    loop {
        let described = cx
            .clients
            .dynamodb
            .describe_table()
            .table_name(&desired.name)
            .send()
            .await;
        let status = match described {
            Ok(output) => output.table.and_then(|t| t.table_status),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                    && started.elapsed() <= ACTIVE_DEADLINE =>
            {
                None
            }
            Err(e) => return Err(aws_error(&resource, "dynamodb:DescribeTable", e)),
        };
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > ACTIVE_DEADLINE {
            return Err(ProvisionError::state(
                resource,
                format!(
                    "still {status:?} after {} s; look at the table in the console and deploy again",
                    ACTIVE_DEADLINE.as_secs()
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

async fn enable_ttl(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    cx.clients
        .dynamodb
        .update_time_to_live()
        .table_name(&desired.name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(triggers::limits::TTL_ATTRIBUTE)
                .build()
                .expect("enabled and attribute are set"),
        )
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("dynamodb table {}", desired.name),
                "dynamodb:UpdateTimeToLive",
                e,
            )
        })?;
    Ok(())
}

pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
) -> Result<(), ProvisionError> {
    let resource = format!("dynamodb table {}", desired.name);
    if BILLING.needed_for(changes) {
        cx.clients
            .dynamodb
            .update_table()
            .table_name(&desired.name)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "dynamodb:UpdateTable", e))?;
        wait_until_active(cx, desired).await?;
    }
    if TTL.needed_for(changes) {
        // A deploy that stopped right after creating the table leaves it perhaps still
        // CREATING, when TTL cannot be set yet.
        wait_until_active(cx, desired).await?;
        enable_ttl(cx, desired).await?;
    }
    if TAGS.needed_for(changes) {
        cx.clients
            .dynamodb
            .tag_resource()
            .resource_arn(&desired.arn)
            .set_tags(Some(dynamodb_tags(&desired.tags)))
            .send()
            .await
            .map_err(|e| aws_error(&resource, "dynamodb:TagResource", e))?;
    }
    Ok(())
}

pub async fn delete(cx: &ApplyCx<'_>, name: &str) -> Result<(), ProvisionError> {
    already_gone_is_done(
        cx.clients
            .dynamodb
            .delete_table()
            .table_name(name)
            .send()
            .await,
        |e| e.is_resource_not_found_exception(),
        format!("dynamodb table {name}"),
        "dynamodb:DeleteTable",
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::BillingModeSummary;

    use super::*;
    use crate::resources::tests::{assert_kind_is_consistent, fixture_context};

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update_or_a_replace() {
        let (names, tagging, tags, _) = fixture_context();
        let desired = Desired {
            name: names.limits_table(),
            arn: names.limits_table_arn(),
            tags: tags.clone(),
        };
        let table = TableDescription::builder()
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode_summary(
                BillingModeSummary::builder()
                    .billing_mode(BillingMode::PayPerRequest)
                    .build(),
            )
            .build();
        let ttl = TimeToLiveDescription::builder()
            .time_to_live_status(TimeToLiveStatus::Enabling)
            .attribute_name("expires_at")
            .build();
        let read = fields_of(&table, Some(&ttl), &tags, &tagging);
        assert_eq!(read, desired.fields());
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
        let without_ttl = fields_of(&table, None, &tags, &tagging);
        assert_eq!(without_ttl["ttl"], "DISABLED");
    }
}
