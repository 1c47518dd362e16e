//! The stack's alarm topic (SNS), `<stack>-alarms`, with the spec's `alarms.email`
//! subscribed: every alarm notifies it. Only with `alarms.email`; a spec naming `topic_arn`
//! uses that topic and the stack owns none. SNS mails the address a confirmation first;
//! until it is confirmed the subscription reads as pending, which is not drift.

use std::collections::BTreeMap;

use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::Tag;

use super::{ApplyCx, Observed, ReadCx, Tagging};
use crate::error::{ProvisionError, aws_error};
use crate::fields::{FieldChange, Fields, Tags, UpdateCall};
use crate::naming::OWNER_TAG;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub arn: String,
    pub email: String,
    pub tags: Tags,
}

const SUBSCRIBE: UpdateCall = UpdateCall {
    operation: "sns:Subscribe",
    fields: &["email"],
};
const TAGS: UpdateCall = UpdateCall {
    operation: "sns:TagResource",
    fields: &["tags"],
};
pub const UPDATES: &[UpdateCall] = &[SUBSCRIBE, TAGS];
pub const REPLACE_ON: &[&str] = &[];

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([
            ("email", self.email.clone()),
            ("tags", super::tags_field(&self.tags)),
        ])
    }
}

/// `email` is the wanted address when one of the topic's email subscriptions is to it
/// (confirmed or not), else the subscriptions there are: the others are someone else's.
pub fn fields_of(
    wanted: &str,
    subscribed: &[String],
    tags: &BTreeMap<String, String>,
    tagging: &Tagging,
) -> Fields {
    let email = if subscribed.iter().any(|s| s.eq_ignore_ascii_case(wanted)) {
        wanted.to_owned()
    } else {
        subscribed.join(", ")
    };
    Fields::from([("email", email), ("tags", tagging.field(tags))])
}

/// The stack's topic at `arn` (the account's: observation reads it once STS has answered),
/// its tags and subscriptions in one round. Found by its ARN rather than by listing the
/// account's topics, which takes a page per hundred topics: many a stack per pull request.
pub async fn read(
    cx: &ReadCx<'_>,
    arn: &str,
    wanted_email: &str,
) -> Result<Observed, ProvisionError> {
    let resource = format!("sns topic {}", cx.names.alarm_topic());
    let (tags, subscriptions) = tokio::join!(
        cx.clients
            .sns
            .list_tags_for_resource()
            .resource_arn(arn)
            .send(),
        cx.clients
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(arn)
            .send(),
    );
    let subscriptions = match subscriptions {
        Ok(subscriptions) => subscriptions,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            return Ok(Observed::Absent);
        }
        Err(e) => return Err(aws_error(&resource, "sns:ListSubscriptionsByTopic", e)),
    };
    let tags = match tags {
        Ok(tags) => tags,
        // Deleted between the two calls. (SNS names this error ResourceNotFound; some
        // emulators add "Exception".)
        Err(e)
            if e.as_service_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code.starts_with("ResourceNotFound")) =>
        {
            return Ok(Observed::Absent);
        }
        Err(e) => return Err(aws_error(&resource, "sns:ListTagsForResource", e)),
    };
    let tags: BTreeMap<String, String> = tags
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    if !cx.tagging.owns(tags.get(OWNER_TAG).map(String::as_str)) {
        return Ok(Observed::Unowned);
    }
    let subscribed: Vec<String> = subscriptions
        .subscriptions()
        .iter()
        .filter(|s| s.protocol() == Some("email"))
        .filter_map(|s| s.endpoint().map(str::to_owned))
        .collect();
    Ok(Observed::Owned(fields_of(
        wanted_email,
        &subscribed,
        &tags,
        cx.tagging,
    )))
}

/// CreateTopic is idempotent for a name with the same tags; then the address is subscribed.
pub async fn create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    cx.clients
        .sns
        .create_topic()
        .name(&desired.name)
        .set_tags(Some(sdk_tags!(Tag, desired.tags)))
        .send()
        .await
        .map_err(|e| aws_error(format!("sns topic {}", desired.name), "sns:CreateTopic", e))?;
    subscribe(cx, desired).await
}

async fn subscribe(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    cx.clients
        .sns
        .subscribe()
        .topic_arn(&desired.arn)
        .protocol("email")
        .endpoint(&desired.email)
        .send()
        .await
        .map_err(|e| aws_error(format!("sns topic {}", desired.name), "sns:Subscribe", e))?;
    Ok(())
}

pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
) -> Result<(), ProvisionError> {
    if SUBSCRIBE.needed_for(changes) {
        subscribe(cx, desired).await?;
    }
    if TAGS.needed_for(changes) {
        cx.clients
            .sns
            .tag_resource()
            .resource_arn(&desired.arn)
            .set_tags(Some(sdk_tags!(Tag, desired.tags)))
            .send()
            .await
            .map_err(|e| aws_error(format!("sns topic {}", desired.name), "sns:TagResource", e))?;
    }
    Ok(())
}

/// DeleteTopic of a topic that is gone succeeds: nothing to look for first.
pub async fn delete(cx: &ApplyCx<'_>, name: &str) -> Result<(), ProvisionError> {
    let arn = cx.names.alarm_topic_arn();
    cx.clients
        .sns
        .delete_topic()
        .topic_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error(format!("sns topic {name}"), "sns:DeleteTopic", e))?;
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
            name: names.alarm_topic(),
            arn: names.alarm_topic_arn(),
            email: "ops@acme.example".into(),
            tags: tags.clone(),
        };
        let read = fields_of(
            "ops@acme.example",
            &["someone@else.example".into(), "Ops@acme.example".into()],
            &tags,
            &tagging,
        );
        assert_eq!(read, desired.fields());
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
        let unsubscribed = fields_of("ops@acme.example", &[], &tags, &tagging);
        assert_eq!(unsubscribed["email"], "");
    }
}
