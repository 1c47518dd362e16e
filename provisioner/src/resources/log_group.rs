//! A trigger's CloudWatch Logs group, `/aws/lambda/<function>`: created before its function
//! with the stack's retention and tags, so logs expire and teardown removes them. Lambda
//! creates the group itself on a function's first invocation when none exists, untagged:
//! such a group, named for this stack's own function, is taken over (tagged and given the
//! retention) rather than refused.

use std::collections::BTreeMap;

use super::{ApplyCx, Observed, ReadCx, Tagging};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{FieldChange, Fields, Tags, UpdateCall};
use crate::naming::{OWNER_TAG, TriggerKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub kind: TriggerKind,
    pub name: String,
    /// The group's ARN as tagging takes it (without the `:*` that DescribeLogGroups adds).
    pub arn: String,
    pub retention_days: u32,
    pub tags: Tags,
}

const RETENTION: UpdateCall = UpdateCall {
    operation: "logs:PutRetentionPolicy",
    fields: &["retention_days"],
};
const TAGS: UpdateCall = UpdateCall {
    operation: "logs:TagResource",
    fields: &["tags"],
};
pub const UPDATES: &[UpdateCall] = &[RETENTION, TAGS];
pub const REPLACE_ON: &[&str] = &[];

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([
            ("retention_days", self.retention_days.to_string()),
            ("tags", super::tags_field(&self.tags)),
        ])
    }
}

/// `never` when the group keeps its events forever (no retention policy).
pub fn fields_of(
    retention_days: Option<i32>,
    tags: &BTreeMap<String, String>,
    tagging: &Tagging,
) -> Fields {
    Fields::from([
        (
            "retention_days",
            retention_days.map_or("never".to_owned(), |d| d.to_string()),
        ),
        ("tags", tagging.field(tags)),
    ])
}

pub async fn read(cx: &ReadCx<'_>, kind: TriggerKind) -> Result<Observed, ProvisionError> {
    let name = cx.names.log_group(kind);
    let resource = format!("log group {name}");
    let listed = cx
        .clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&name)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "logs:DescribeLogGroups", e))?;
    let Some(group) = listed
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name.as_str()))
    else {
        return Ok(Observed::Absent);
    };
    let arn = group
        .arn()
        .map(|a| a.trim_end_matches(":*").to_owned())
        .unwrap_or_default();
    let tags: BTreeMap<String, String> = match cx
        .clients
        .logs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
    {
        Ok(output) => output
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(Observed::Absent);
        }
        Err(e) => return Err(aws_error(&resource, "logs:ListTagsForResource", e)),
    };
    let owner = tags.get(OWNER_TAG).map(String::as_str);
    // Untagged: Lambda made it for this stack's function (the name says whose it is).
    Ok(if owner.is_none() || cx.tagging.owns(owner) {
        Observed::Owned(fields_of(group.retention_in_days(), &tags, cx.tagging))
    } else {
        Observed::Unowned
    })
}

pub async fn create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    let resource = format!("log group {}", desired.name);
    let created = cx
        .clients
        .logs
        .create_log_group()
        .log_group_name(&desired.name)
        .set_tags(Some(desired.tags.clone().into_iter().collect()))
        .send()
        .await;
    match created {
        Ok(_) => {}
        // The function's first invocation got there first: take the group over.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            tag(cx, desired).await?;
        }
        Err(e) => return Err(aws_error(&resource, "logs:CreateLogGroup", e)),
    }
    put_retention(cx, desired).await
}

pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
) -> Result<(), ProvisionError> {
    if RETENTION.needed_for(changes) {
        put_retention(cx, desired).await?;
    }
    if TAGS.needed_for(changes) {
        tag(cx, desired).await?;
    }
    Ok(())
}

async fn put_retention(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    cx.clients
        .logs
        .put_retention_policy()
        .log_group_name(&desired.name)
        .retention_in_days(i32::try_from(desired.retention_days).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("log group {}", desired.name),
                "logs:PutRetentionPolicy",
                e,
            )
        })?;
    Ok(())
}

async fn tag(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    cx.clients
        .logs
        .tag_resource()
        .resource_arn(&desired.arn)
        .set_tags(Some(desired.tags.clone().into_iter().collect()))
        .send()
        .await
        .map_err(|e| aws_error(format!("log group {}", desired.name), "logs:TagResource", e))?;
    Ok(())
}

pub async fn delete(cx: &ApplyCx<'_>, name: &str) -> Result<(), ProvisionError> {
    already_gone_is_done(
        cx.clients
            .logs
            .delete_log_group()
            .log_group_name(name)
            .send()
            .await,
        |e| e.is_resource_not_found_exception(),
        format!("log group {name}"),
        "logs:DeleteLogGroup",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::{assert_kind_is_consistent, fixture_context};

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update() {
        let (names, tagging, tags, _) = fixture_context();
        let desired = Desired {
            kind: TriggerKind::Create,
            name: names.log_group(TriggerKind::Create),
            arn: names.log_group_resource_arn(TriggerKind::Create),
            retention_days: 30,
            tags: tags.clone(),
        };
        let read = fields_of(Some(30), &tags, &tagging);
        assert_eq!(read, desired.fields());
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
        assert_eq!(desired.name, "/aws/lambda/acme-create-auth-challenge");
        assert_eq!(
            fields_of(None, &tags, &tagging)["retention_days"],
            "never",
            "a group Lambda made keeps its logs forever until deploy sets a retention"
        );
    }
}
