//! The SES identity the codes are sent from: an address or a domain. The one kind that may
//! be used as it is when it exists without our tag: a verified domain is usually shared.

use aws_sdk_sesv2::operation::get_email_identity::GetEmailIdentityOutput;
use aws_sdk_sesv2::types::Tag;

use super::{ApplyCx, Observed, ReadCx, Tagging};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{FieldChange, Fields, Tags, UpdateCall};
use crate::naming::OWNER_TAG;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub identity: String,
    /// ARN for tagging; SES's tag calls take ARNs, its identity calls names.
    pub arn: String,
    pub tags: Tags,
}

pub const UPDATES: &[UpdateCall] = &[UpdateCall {
    operation: "ses:TagResource",
    fields: &["tags"],
}];
pub const REPLACE_ON: &[&str] = &[];

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([("tags", super::tags_field(&self.tags))])
    }
}

/// What the identity tells beyond its fields: whether SES will send from it, its default
/// configuration set (which SES authorises sends against too) and, for a domain, the DKIM
/// records to publish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityStatus {
    pub verified: bool,
    pub configuration_set: Option<String>,
    pub dkim_tokens: Vec<String>,
}

pub fn fields_of(output: &GetEmailIdentityOutput, tagging: &Tagging) -> Fields {
    let tags = output.tags().iter().map(|t| (t.key(), t.value()));
    Fields::from([("tags", tagging.field(tags))])
}

pub async fn read(
    cx: &ReadCx<'_>,
    identity: &str,
) -> Result<(Observed, Option<IdentityStatus>), ProvisionError> {
    match cx
        .clients
        .ses
        .get_email_identity()
        .email_identity(identity)
        .send()
        .await
    {
        Ok(output) => {
            let owner = output.tags().iter().find(|t| t.key() == OWNER_TAG);
            let observed = if cx.tagging.owns(owner.map(|t| t.value())) {
                Observed::Owned(fields_of(&output, cx.tagging))
            } else {
                Observed::Unowned
            };
            let status = IdentityStatus {
                verified: output.verified_for_sending_status(),
                configuration_set: output.configuration_set_name().map(str::to_owned),
                dkim_tokens: output
                    .dkim_attributes()
                    .map(|d| d.tokens().to_vec())
                    .unwrap_or_default(),
            };
            Ok((observed, Some(status)))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            Ok((Observed::Absent, None))
        }
        Err(e) => Err(aws_error(
            format!("ses identity {identity}"),
            "ses:GetEmailIdentity",
            e,
        )),
    }
}

fn ses_tags(tags: &Tags) -> Vec<Tag> {
    sdk_tags!(Tag, tags)
}

pub async fn create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    cx.clients
        .ses
        .create_email_identity()
        .email_identity(&desired.identity)
        .set_tags(Some(ses_tags(&desired.tags)))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("ses identity {}", desired.identity),
                "ses:CreateEmailIdentity",
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
    if UPDATES[0].needed_for(changes) {
        cx.clients
            .ses
            .tag_resource()
            .resource_arn(&desired.arn)
            .set_tags(Some(ses_tags(&desired.tags)))
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("ses identity {}", desired.identity),
                    "ses:TagResource",
                    e,
                )
            })?;
    }
    Ok(())
}

pub async fn delete(cx: &ApplyCx<'_>, identity: &str) -> Result<(), ProvisionError> {
    already_gone_is_done(
        cx.clients
            .ses
            .delete_email_identity()
            .email_identity(identity)
            .send()
            .await,
        |e| e.is_not_found_exception(),
        format!("ses identity {identity}"),
        "ses:DeleteEmailIdentity",
    )
}

/// Keeps the identity for whoever sends from it next: without this stack's ownership tag,
/// nothing of the stack is left, and another stack may use it as it is.
pub async fn hand_over(cx: &ApplyCx<'_>, identity: &str) -> Result<(), ProvisionError> {
    cx.clients
        .ses
        .untag_resource()
        .resource_arn(cx.names.identity_arn(identity))
        .tag_keys(OWNER_TAG)
        .send()
        .await
        .map_err(|e| aws_error(format!("ses identity {identity}"), "ses:UntagResource", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::{assert_kind_is_consistent, fixture_context};

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update() {
        let (names, tagging, tags, _) = fixture_context();
        let desired = Desired {
            identity: "acme.example".into(),
            arn: names.identity_arn("acme.example"),
            tags: tags.clone(),
        };
        let output = GetEmailIdentityOutput::builder()
            .set_tags(Some(ses_tags(&tags)))
            .build();
        let read = fields_of(&output, &tagging);
        assert_eq!(read, desired.fields());
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
    }
}
