//! The stack's SES configuration set, which the Create trigger sends every code with:
//! reputation metrics on, bounces and complaints suppressed (SES stops sending to an address
//! that bounced or complained, so retries cannot push the account's rates up), and an event
//! destination that counts sends, rejects, bounces, complaints and delivery delays in
//! CloudWatch under the stack's name.

use aws_sdk_sesv2::operation::get_configuration_set::GetConfigurationSetOutput;
use aws_sdk_sesv2::types::{
    CloudWatchDestination, CloudWatchDimensionConfiguration, DimensionValueSource,
    EventDestination, EventDestinationDefinition, EventType, ReputationOptions, SendingOptions,
    SuppressionListReason, SuppressionOptions, Tag,
};

use super::{ApplyCx, Observed, ReadCx, Tagging};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{FieldChange, Fields, Tags, UpdateCall, list_field};
use crate::naming::OWNER_TAG;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub arn: String,
    /// The stack's name, the value of the events' `Stack` dimension.
    pub stack: String,
    pub tags: Tags,
}

/// The events counted: what tells whether codes arrive.
const EVENTS: [EventType; 5] = [
    EventType::Send,
    EventType::Reject,
    EventType::Bounce,
    EventType::Complaint,
    EventType::DeliveryDelay,
];

const REPUTATION: UpdateCall = UpdateCall {
    operation: "ses:PutConfigurationSetReputationOptions",
    fields: &["reputation_metrics"],
};
const SUPPRESSION: UpdateCall = UpdateCall {
    operation: "ses:PutConfigurationSetSuppressionOptions",
    fields: &["suppressed"],
};
const SENDING: UpdateCall = UpdateCall {
    operation: "ses:PutConfigurationSetSendingOptions",
    fields: &["sending"],
};
const DESTINATION: UpdateCall = UpdateCall {
    operation: "ses:UpdateConfigurationSetEventDestination",
    fields: &["events"],
};
const TAGS: UpdateCall = UpdateCall {
    operation: "ses:TagResource",
    fields: &["tags"],
};
pub const UPDATES: &[UpdateCall] = &[REPUTATION, SUPPRESSION, SENDING, DESTINATION, TAGS];
pub const REPLACE_ON: &[&str] = &[];

impl Desired {
    /// The event destination's name within the set.
    fn destination(&self) -> String {
        format!("{}-cloudwatch", self.name)
    }

    pub fn fields(&self) -> Fields {
        Fields::from([
            ("reputation_metrics", "true".to_owned()),
            ("suppressed", "BOUNCE, COMPLAINT".to_owned()),
            ("sending", "true".to_owned()),
            (
                "events",
                events_field(true, EVENTS.iter().map(|e| e.as_str()), &self.stack),
            ),
            ("tags", super::tags_field(&self.tags)),
        ])
    }

    fn definition(&self) -> EventDestinationDefinition {
        let dimension = CloudWatchDimensionConfiguration::builder()
            .dimension_name(triggers::telemetry::STACK_DIMENSION)
            .dimension_value_source(DimensionValueSource::MessageTag)
            .default_dimension_value(&self.stack)
            .build()
            .expect("every member is set");
        EventDestinationDefinition::builder()
            .enabled(true)
            .set_matching_event_types(Some(EVENTS.to_vec()))
            .cloud_watch_destination(
                CloudWatchDestination::builder()
                    .dimension_configurations(dimension)
                    .build()
                    .expect("a dimension is set"),
            )
            .build()
    }
}

fn events_field<'a>(
    enabled: bool,
    events: impl IntoIterator<Item = &'a str>,
    stack: &str,
) -> String {
    format!(
        "{} to CloudWatch, Stack={stack}: {}",
        if enabled { "on" } else { "off" },
        list_field(events)
    )
}

pub fn fields_of(
    set: &GetConfigurationSetOutput,
    destination: Option<&EventDestination>,
    tagging: &Tagging,
) -> Fields {
    let tags = set.tags().iter().map(|t| (t.key(), t.value()));
    let events = destination.map_or_else(String::new, |d| {
        let stack = d
            .cloud_watch_destination()
            .and_then(|c| c.dimension_configurations().first())
            .map_or("", |c| c.default_dimension_value());
        events_field(
            d.enabled(),
            d.matching_event_types().iter().map(|e| e.as_str()),
            stack,
        )
    });
    Fields::from([
        (
            "reputation_metrics",
            set.reputation_options()
                .is_some_and(|r| r.reputation_metrics_enabled())
                .to_string(),
        ),
        (
            "suppressed",
            list_field(
                set.suppression_options()
                    .map(|s| s.suppressed_reasons())
                    .unwrap_or_default()
                    .iter()
                    .map(|r| r.as_str()),
            ),
        ),
        (
            "sending",
            set.sending_options()
                .is_none_or(|s| s.sending_enabled())
                .to_string(),
        ),
        ("events", events),
        ("tags", tagging.field(tags)),
    ])
}

pub async fn read(cx: &ReadCx<'_>) -> Result<Observed, ProvisionError> {
    let name = cx.names.configuration_set();
    let resource = format!("ses configuration set {name}");
    let set = match cx
        .clients
        .ses
        .get_configuration_set()
        .configuration_set_name(&name)
        .send()
        .await
    {
        Ok(set) => set,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            return Ok(Observed::Absent);
        }
        Err(e) => return Err(aws_error(&resource, "ses:GetConfigurationSet", e)),
    };
    let owner = set.tags().iter().find(|t| t.key() == OWNER_TAG);
    if !cx.tagging.owns(owner.map(|t| t.value())) {
        return Ok(Observed::Unowned);
    }
    let destinations = cx
        .clients
        .ses
        .get_configuration_set_event_destinations()
        .configuration_set_name(&name)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "ses:GetConfigurationSetEventDestinations", e))?;
    let wanted = format!("{name}-cloudwatch");
    let destination = destinations
        .event_destinations()
        .iter()
        .find(|d| d.name() == wanted);
    Ok(Observed::Owned(fields_of(&set, destination, cx.tagging)))
}

pub async fn create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    let resource = format!("ses configuration set {}", desired.name);
    let ses = &cx.clients.ses;
    ses.create_configuration_set()
        .configuration_set_name(&desired.name)
        .reputation_options(
            ReputationOptions::builder()
                .reputation_metrics_enabled(true)
                .build(),
        )
        .suppression_options(suppression())
        .sending_options(SendingOptions::builder().sending_enabled(true).build())
        .set_tags(Some(sdk_tags!(Tag, desired.tags)))
        .send()
        .await
        .map_err(|e| aws_error(&resource, "ses:CreateConfigurationSet", e))?;
    ses.create_configuration_set_event_destination()
        .configuration_set_name(&desired.name)
        .event_destination_name(desired.destination())
        .event_destination(desired.definition())
        .send()
        .await
        .map_err(|e| aws_error(&resource, "ses:CreateConfigurationSetEventDestination", e))?;
    Ok(())
}

fn suppression() -> SuppressionOptions {
    SuppressionOptions::builder()
        .suppressed_reasons(SuppressionListReason::Bounce)
        .suppressed_reasons(SuppressionListReason::Complaint)
        .build()
}

pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
) -> Result<(), ProvisionError> {
    let resource = format!("ses configuration set {}", desired.name);
    let ses = &cx.clients.ses;
    if REPUTATION.needed_for(changes) {
        ses.put_configuration_set_reputation_options()
            .configuration_set_name(&desired.name)
            .reputation_metrics_enabled(true)
            .send()
            .await
            .map_err(|e| aws_error(&resource, REPUTATION.operation, e))?;
    }
    if SUPPRESSION.needed_for(changes) {
        ses.put_configuration_set_suppression_options()
            .configuration_set_name(&desired.name)
            .suppressed_reasons(SuppressionListReason::Bounce)
            .suppressed_reasons(SuppressionListReason::Complaint)
            .send()
            .await
            .map_err(|e| aws_error(&resource, SUPPRESSION.operation, e))?;
    }
    if SENDING.needed_for(changes) {
        ses.put_configuration_set_sending_options()
            .configuration_set_name(&desired.name)
            .sending_enabled(true)
            .send()
            .await
            .map_err(|e| aws_error(&resource, SENDING.operation, e))?;
    }
    if DESTINATION.needed_for(changes) {
        let missing = changes
            .iter()
            .any(|c| c.field == "events" && c.old.as_deref().is_none_or(str::is_empty));
        if missing {
            ses.create_configuration_set_event_destination()
                .configuration_set_name(&desired.name)
                .event_destination_name(desired.destination())
                .event_destination(desired.definition())
                .send()
                .await
                .map_err(|e| {
                    aws_error(&resource, "ses:CreateConfigurationSetEventDestination", e)
                })?;
        } else {
            ses.update_configuration_set_event_destination()
                .configuration_set_name(&desired.name)
                .event_destination_name(desired.destination())
                .event_destination(desired.definition())
                .send()
                .await
                .map_err(|e| aws_error(&resource, DESTINATION.operation, e))?;
        }
    }
    if TAGS.needed_for(changes) {
        ses.tag_resource()
            .resource_arn(&desired.arn)
            .set_tags(Some(sdk_tags!(Tag, desired.tags)))
            .send()
            .await
            .map_err(|e| aws_error(&resource, "ses:TagResource", e))?;
    }
    Ok(())
}

pub async fn delete(cx: &ApplyCx<'_>, name: &str) -> Result<(), ProvisionError> {
    already_gone_is_done(
        cx.clients
            .ses
            .delete_configuration_set()
            .configuration_set_name(name)
            .send()
            .await,
        |e| e.is_not_found_exception(),
        format!("ses configuration set {name}"),
        "ses:DeleteConfigurationSet",
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
            name: names.configuration_set(),
            arn: names.configuration_set_arn(&names.configuration_set()),
            stack: names.stack.clone(),
            tags: tags.clone(),
        };
        let set = GetConfigurationSetOutput::builder()
            .reputation_options(
                ReputationOptions::builder()
                    .reputation_metrics_enabled(true)
                    .build(),
            )
            .suppression_options(suppression())
            .sending_options(SendingOptions::builder().sending_enabled(true).build())
            .set_tags(Some(sdk_tags!(Tag, tags)))
            .build();
        let definition = desired.definition();
        let destination = EventDestination::builder()
            .name(desired.destination())
            .enabled(true)
            .set_matching_event_types(Some(definition.matching_event_types().to_vec()))
            .set_cloud_watch_destination(definition.cloud_watch_destination().cloned())
            .build()
            .unwrap();
        let read = fields_of(&set, Some(&destination), &tagging);
        assert_eq!(read, desired.fields());
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
        assert_eq!(desired.name, "acme-mail");
    }
}
