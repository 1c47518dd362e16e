//! The client locator: a tag on the Define function naming the pool and app client ids, so
//! observation can describe the client in the same round as the pool. A hint, not a source
//! of truth: the client the pool lists under the stack's client name decides.

use std::collections::BTreeMap;

use super::{ApplyCx, Handover};
use crate::error::ProvisionError;
use crate::fields::{Fields, KNOWN_AFTER_APPLY, UpdateCall};
use crate::naming::CLIENT_LOCATOR_TAG;

/// The locator's one field.
pub const FIELD: &str = "app_client";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub function: String,
    pub function_arn: String,
    /// `<pool id>/<client id>`; `None` until both exist, then apply takes them from the
    /// pool and client steps.
    pub value: Option<String>,
}

pub const UPDATES: &[UpdateCall] = &[UpdateCall {
    operation: "lambda:TagResource",
    fields: &[FIELD],
}];
pub const REPLACE_ON: &[&str] = &[];

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([(
            FIELD,
            self.value
                .clone()
                .unwrap_or_else(|| KNOWN_AFTER_APPLY.to_owned()),
        )])
    }
}

/// The locator tag's value. Both ids are made of characters tag values allow.
pub fn locator(pool_id: &str, client_id: &str) -> String {
    format!("{pool_id}/{client_id}")
}

/// The pool and client ids a locator names, if it is well formed.
pub fn parse(locator: &str) -> Option<(&str, &str)> {
    locator
        .split_once('/')
        .filter(|(pool, client)| !pool.is_empty() && !client.is_empty())
}

/// The locator as read from the Define function's tags.
pub fn fields_of(tags: &BTreeMap<String, String>) -> Option<Fields> {
    tags.get(CLIENT_LOCATOR_TAG)
        .map(|value| Fields::from([(FIELD, value.clone())]))
}

/// Writes the tag once the function can take it (it may still be settling from its own
/// creation or update).
pub async fn put(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    handover: &Handover,
) -> Result<(), ProvisionError> {
    let value = match &desired.value {
        Some(value) => value.clone(),
        None => {
            let (pool, client) =
                handover.app_client(&format!("app client locator on {}", desired.function))?;
            locator(pool, client)
        }
    };
    super::function::tag(
        cx,
        &desired.function,
        &desired.function_arn,
        BTreeMap::from([(CLIENT_LOCATOR_TAG.to_owned(), value)]),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::assert_kind_is_consistent;

    #[test]
    fn a_locator_reads_back_as_written_and_a_malformed_one_as_nothing() {
        let written = locator("us-east-1_AbC", "3nx8q");
        assert_eq!(parse(&written), Some(("us-east-1_AbC", "3nx8q")));
        for malformed in ["", "us-east-1_AbC", "/3nx8q", "us-east-1_AbC/"] {
            assert_eq!(parse(malformed), None, "{malformed:?}");
        }
    }

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update() {
        let desired = Desired {
            function: "acme-define-auth-challenge".into(),
            function_arn: "arn:aws:lambda:us-east-1:1:function:acme-define-auth-challenge".into(),
            value: Some(locator("us-east-1_AbC", "3nx8q")),
        };
        let tags = BTreeMap::from([
            (
                CLIENT_LOCATOR_TAG.to_owned(),
                locator("us-east-1_AbC", "3nx8q"),
            ),
            ("team".to_owned(), "identity".to_owned()),
        ]);
        let read = fields_of(&tags).unwrap();
        assert_eq!(read, desired.fields());
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
        let unknown = Desired {
            value: None,
            ..desired
        };
        assert_eq!(unknown.fields()[FIELD], KNOWN_AFTER_APPLY);
    }
}
