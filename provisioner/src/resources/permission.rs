//! A trigger function's resource policy: exactly one statement, letting Cognito invoke it
//! on behalf of our pool in our account.

use serde_json::{Value, json};

use super::{ApplyCx, Handover, ReadCx};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{FieldChange, Fields, KNOWN_AFTER_APPLY, UpdateCall, canonical_json};
use crate::naming::TriggerKind;

pub const STATEMENT_ID: &str = "cognito-idp-invoke";
pub const COGNITO_PRINCIPAL: &str = "cognito-idp.amazonaws.com";
const ACTION: &str = "lambda:InvokeFunction";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub kind: TriggerKind,
    pub function: String,
    /// The pool's ARN; `None` until the pool exists, then apply takes it from the pool step.
    pub source_arn: Option<String>,
    pub source_account: String,
}

pub const UPDATES: &[UpdateCall] = &[UpdateCall {
    operation: "lambda:RemovePermission + lambda:AddPermission",
    fields: &["statements"],
}];
pub const REPLACE_ON: &[&str] = &[];

impl Desired {
    pub fn fields(&self) -> Fields {
        let statement = statement(
            STATEMENT_ID,
            COGNITO_PRINCIPAL,
            ACTION,
            self.source_arn.as_deref().unwrap_or(KNOWN_AFTER_APPLY),
            &self.source_account,
        );
        Fields::from([("statements", canonical_json(&json!([statement])))])
    }
}

fn statement(sid: &str, principal: &str, action: &str, arn: &str, account: &str) -> Value {
    json!({
        "sid": sid,
        "principal": principal,
        "action": action,
        "source_arn": arn,
        "source_account": account,
    })
}

/// The resource policy reduced to the fields we manage per statement; `None` without one.
pub fn fields_of(policy: &str) -> Option<Fields> {
    let document: Value = serde_json::from_str(policy).unwrap_or_default();
    let statements: Vec<Value> = document["Statement"]
        .as_array()
        .map(|statements| statements.iter().map(summarize).collect())
        .unwrap_or_default();
    (!statements.is_empty())
        .then(|| Fields::from([("statements", canonical_json(&Value::Array(statements)))]))
}

fn summarize(found: &Value) -> Value {
    let principal = &found["Principal"];
    let condition = &found["Condition"];
    statement(
        found["Sid"].as_str().unwrap_or_default(),
        principal["Service"]
            .as_str()
            .or_else(|| principal.as_str())
            .unwrap_or("(other)"),
        found["Action"].as_str().unwrap_or("(other)"),
        condition["ArnLike"]["AWS:SourceArn"]
            .as_str()
            .unwrap_or("(none)"),
        condition["StringEquals"]["AWS:SourceAccount"]
            .as_str()
            .unwrap_or("(none)"),
    )
}

/// The statements' fields, or `None` when the function has no resource policy.
pub async fn read(cx: &ReadCx<'_>, kind: TriggerKind) -> Result<Option<Fields>, ProvisionError> {
    let name = cx.names.function(kind);
    match cx
        .clients
        .lambda
        .get_policy()
        .function_name(&name)
        .send()
        .await
    {
        Ok(output) => Ok(fields_of(output.policy().unwrap_or_default())),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            format!("invoke permission {name}"),
            "lambda:GetPolicy",
            e,
        )),
    }
}

/// Leaves exactly one statement: removes every statement the old policy had, then adds ours.
pub async fn put(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
    handover: &Handover,
) -> Result<(), ProvisionError> {
    let name = &desired.function;
    let resource = format!("invoke permission {name}");
    let source_arn = match &desired.source_arn {
        Some(arn) => arn.clone(),
        None => handover.pool(&resource)?.arn.clone(),
    };
    let old: Vec<Value> = changes
        .iter()
        .find(|c| c.field == "statements")
        .and_then(|c| c.old.as_deref())
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    for sid in old
        .iter()
        .filter_map(|s| s["sid"].as_str())
        .filter(|sid| !sid.is_empty())
    {
        already_gone_is_done(
            cx.clients
                .lambda
                .remove_permission()
                .function_name(name)
                .statement_id(sid)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            &resource,
            "lambda:RemovePermission",
        )?;
    }
    let request = cx
        .clients
        .lambda
        .add_permission()
        .function_name(name)
        .statement_id(STATEMENT_ID)
        .action(ACTION)
        .principal(COGNITO_PRINCIPAL)
        .source_arn(source_arn)
        .source_account(&desired.source_account);
    super::function::retry_while(
        cx,
        super::function::Transient::Conflict,
        || request.clone().send(),
        |e| aws_error(&resource, "lambda:AddPermission", e),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::assert_kind_is_consistent;

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update() {
        let pool = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x";
        let desired = Desired {
            kind: TriggerKind::Define,
            function: "acme-define-auth-challenge".into(),
            source_arn: Some(pool.into()),
            source_account: "123456789012".into(),
        };
        // The policy document as Lambda returns it after AddPermission.
        let policy = json!({
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": [{
                "Sid": STATEMENT_ID,
                "Effect": "Allow",
                "Principal": { "Service": COGNITO_PRINCIPAL },
                "Action": ACTION,
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:acme-define-auth-challenge",
                "Condition": {
                    "StringEquals": { "AWS:SourceAccount": "123456789012" },
                    "ArnLike": { "AWS:SourceArn": pool }
                }
            }]
        });
        let read = fields_of(&policy.to_string()).unwrap();
        assert_eq!(read, desired.fields());
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
        assert_eq!(fields_of(r#"{"Statement":[]}"#), None);
    }
}
