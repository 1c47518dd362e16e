//! The IAM role the triggers run as: trust policy, one inline policy of ours, no managed
//! policies, the stack's tags.

use std::collections::BTreeMap;

use aws_sdk_iam::types::{AttachedPolicy, Role, Tag};
use serde_json::{Value, json};

use super::{ApplyCx, Observed, Produced, ReadCx, SesScope, Tagging};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{FieldChange, Fields, Tags, UpdateCall, canonical_json, list_field};
use crate::naming::{Names, OWNER_TAG, TriggerKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub description: String,
    /// The managed policy that caps the role (see `crate::bootstrap`).
    pub permissions_boundary: String,
    pub trust_policy: Value,
    pub policy_name: String,
    pub policy: Value,
    pub tags: Tags,
}

pub const UPDATES: &[UpdateCall] = &[
    // First: the deployer may change the role's policies only while it carries the boundary.
    UpdateCall {
        operation: "iam:PutRolePermissionsBoundary",
        fields: &["permissions_boundary"],
    },
    UpdateCall {
        operation: "iam:UpdateAssumeRolePolicy",
        fields: &["trust_policy"],
    },
    UpdateCall {
        operation: "iam:PutRolePolicy",
        fields: &["inline_policies"],
    },
    UpdateCall {
        operation: "iam:DetachRolePolicy",
        fields: &["managed_policies"],
    },
    UpdateCall {
        operation: "iam:TagRole",
        fields: &["tags"],
    },
];
pub const REPLACE_ON: &[&str] = &[];

impl Desired {
    pub fn new(
        names: &Names,
        from_address: &str,
        ses: &SesScope,
        sign_up: bool,
        tags: &Tags,
    ) -> Self {
        Self {
            name: names.role(),
            description: format!("Runs the sign-in triggers of stack {}", names.stack),
            permissions_boundary: names.boundary_policy_arn(),
            trust_policy: trust_policy(),
            policy_name: names.role_policy(),
            policy: trigger_policy(names, from_address, ses, sign_up),
            tags: tags.clone(),
        }
    }

    pub fn fields(&self) -> Fields {
        Fields::from([
            ("permissions_boundary", self.permissions_boundary.clone()),
            ("trust_policy", canonical_json(&self.trust_policy)),
            (
                "inline_policies",
                canonical_json(&json!({ &self.policy_name: self.policy })),
            ),
            ("managed_policies", String::new()),
            ("tags", super::tags_field(&self.tags)),
        ])
    }
}

pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// Least privilege: send as our sender only, write our own log groups only.
///
/// SES authorises `ses:SendEmail` against every identity a message involves: the sender's,
/// and in the sandbox the recipients' too (each recipient there must be a verified
/// identity), and the configuration set's (the stack's own, and the identity's default when
/// it has one). So the grant names exactly those ARNs, and the `ses:FromAddress` condition keeps the wider sandbox grant to our
/// sender address.
///
/// With self sign-up (`sign_up`), PreSignUp records pending sign-ups and Verify marks a
/// proven address verified in the stack's own pool (found by its ownership tag, since the
/// role exists before the pool) and forgets the pending record, and Create may look pending
/// sign-ups up. All three go together: with sign-up off, Create is not told the table, so
/// no pending record is honoured that Verify could not then mark and forget.
pub fn trigger_policy(names: &Names, from_address: &str, ses: &SesScope, sign_up: bool) -> Value {
    let log_groups: Vec<String> = TriggerKind::ALL
        .into_iter()
        .map(|kind| names.log_group_arn(kind))
        .collect();
    let mut send_resources = vec![
        names.identity_arn(&ses.identity),
        names.configuration_set_arn(&names.configuration_set()),
    ];
    if ses.sandbox {
        send_resources.push(names.identity_arn("*"));
    }
    if let Some(set) = &ses.configuration_set {
        send_resources.push(names.configuration_set_arn(set));
    }
    let mut writers = vec![TriggerKind::Define, TriggerKind::Verify];
    let mut readers = vec![TriggerKind::Define];
    if sign_up {
        writers.push(TriggerKind::PreSignUp);
        readers.push(TriggerKind::Create);
    }
    let mut policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SendSignInEmail",
                "Effect": "Allow",
                "Action": "ses:SendEmail",
                "Resource": send_resources,
                "Condition": {
                    "StringEquals": { "ses:FromAddress": from_address },
                    // The three triggers share this role; only Create sends.
                    "ArnEquals": { "lambda:SourceFunctionArn": names.function_arn(TriggerKind::Create) }
                }
            },
            {
                // Define and Verify count sends and failures with conditional writes;
                // PreSignUp records pending sign-ups. No trigger scans.
                "Sid": "CountAbuseLimits",
                "Effect": "Allow",
                "Action": "dynamodb:UpdateItem",
                "Resource": names.limits_table_arn(),
                "Condition": {
                    "ArnEquals": { "lambda:SourceFunctionArn": function_arns(names, &writers) }
                }
            },
            {
                // Define, after a wrong answer, reads the lock; Create, with sign-up on,
                // looks up pending sign-ups.
                "Sid": "ReadLimits",
                "Effect": "Allow",
                "Action": "dynamodb:GetItem",
                "Resource": names.limits_table_arn(),
                "Condition": {
                    "ArnEquals": { "lambda:SourceFunctionArn": function_arns(names, &readers) }
                }
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": log_groups
            }
        ]
    });
    if sign_up {
        let verify = names.function_arn(TriggerKind::Verify);
        let statements = policy["Statement"]
            .as_array_mut()
            .expect("statements are a list");
        statements.push(json!({
            "Sid": "MarkProvenAddressVerified",
            "Effect": "Allow",
            "Action": "cognito-idp:AdminUpdateUserAttributes",
            "Resource": names.user_pools_arn(),
            "Condition": {
                "StringEquals": { format!("aws:ResourceTag/{OWNER_TAG}"): names.stack },
                "ArnEquals": { "lambda:SourceFunctionArn": verify }
            }
        }));
        statements.push(json!({
            // PreSignUp records a pending sign-up only for a name without an account.
            "Sid": "LookUpSignUpNames",
            "Effect": "Allow",
            "Action": "cognito-idp:AdminGetUser",
            "Resource": names.user_pools_arn(),
            "Condition": {
                "StringEquals": { format!("aws:ResourceTag/{OWNER_TAG}"): names.stack },
                "ArnEquals": { "lambda:SourceFunctionArn": names.function_arn(TriggerKind::PreSignUp) }
            }
        }));
        statements.push(json!({
            "Sid": "ForgetProvenSignUps",
            "Effect": "Allow",
            "Action": "dynamodb:DeleteItem",
            "Resource": names.limits_table_arn(),
            "Condition": {
                "ArnEquals": { "lambda:SourceFunctionArn": verify }
            }
        }));
    }
    policy
}

fn function_arns(names: &Names, kinds: &[TriggerKind]) -> Vec<String> {
    kinds.iter().map(|&kind| names.function_arn(kind)).collect()
}

/// The fields of a role as read: its description, its inline documents by name, its
/// attached policies and its tags.
pub fn fields_of(
    role: &Role,
    inline: &BTreeMap<String, String>,
    attached: &[AttachedPolicy],
    tagging: &Tagging,
) -> Fields {
    let tags = role.tags().iter().map(|t| (t.key(), t.value()));
    let inline_policies: serde_json::Map<String, Value> = inline
        .iter()
        .map(|(name, document)| {
            let parsed = serde_json::from_str(&decode_policy(document))
                .unwrap_or_else(|_| Value::String(document.clone()));
            (name.clone(), parsed)
        })
        .collect();
    Fields::from([
        (
            "permissions_boundary",
            role.permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .unwrap_or_default()
                .to_owned(),
        ),
        (
            "trust_policy",
            role.assume_role_policy_document()
                .map(decode_policy)
                .unwrap_or_default(),
        ),
        (
            "inline_policies",
            canonical_json(&Value::Object(inline_policies)),
        ),
        (
            "managed_policies",
            list_field(attached.iter().filter_map(|p| p.policy_arn())),
        ),
        ("tags", tagging.field(tags)),
    ])
}

/// IAM returns policy documents URL-encoded.
fn decode_policy(encoded: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    serde_json::from_str::<Value>(&decoded)
        .map_or_else(|_| decoded.into_owned(), |v| canonical_json(&v))
}

/// Reads the role, its policies and its attachments in one round; the role's absence or
/// ownership decides what the rest mean.
pub async fn read(cx: &ReadCx<'_>) -> Result<Observed, ProvisionError> {
    let role_name = cx.names.role();
    let our_policy = cx.names.role_policy();
    let resource = format!("iam role {role_name}");
    let iam = &cx.clients.iam;
    let (role, inline, attached, ours) = tokio::join!(
        iam.get_role().role_name(&role_name).send(),
        list_inline(cx.clients, &role_name),
        list_attached(cx.clients, &role_name),
        iam.get_role_policy()
            .role_name(&role_name)
            .policy_name(&our_policy)
            .send(),
    );
    let role = match role {
        Ok(output) => output
            .role
            .ok_or_else(|| ProvisionError::state(&resource, "GetRole returned no role"))?,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(Observed::Absent);
        }
        Err(e) => return Err(aws_error(resource, "iam:GetRole", e)),
    };
    let owner = role.tags().iter().find(|t| t.key() == OWNER_TAG);
    if !cx.tagging.owns(owner.map(|t| t.value())) {
        return Ok(Observed::Unowned);
    }
    let inline = inline?;
    let attached = attached?;
    let mut documents = BTreeMap::new();
    match ours {
        Ok(policy) if inline.contains(&our_policy) => {
            documents.insert(our_policy.clone(), policy.policy_document);
        }
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) => {}
        Err(e) => return Err(aws_error(&resource, "iam:GetRolePolicy", e)),
    }
    // Policies someone else added: read only when there are any.
    let others: Vec<&String> = inline
        .iter()
        .filter(|name| !documents.contains_key(*name))
        .collect();
    for policy_name in others {
        let document = iam
            .get_role_policy()
            .role_name(&role_name)
            .policy_name(policy_name)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "iam:GetRolePolicy", e))?;
        documents.insert(policy_name.clone(), document.policy_document);
    }
    Ok(Observed::Owned(fields_of(
        &role, &documents, &attached, cx.tagging,
    )))
}

/// Every inline policy name, across pages.
async fn list_inline(
    clients: &crate::aws::Clients,
    role: &str,
) -> Result<Vec<String>, ProvisionError> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = clients
            .iam
            .list_role_policies()
            .role_name(role)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error(format!("iam role {role}"), "iam:ListRolePolicies", e))?;
        names.extend(page.policy_names);
        marker = page.marker.filter(|_| page.is_truncated);
        if marker.is_none() {
            return Ok(names);
        }
    }
}

/// Every attached managed policy, across pages.
async fn list_attached(
    clients: &crate::aws::Clients,
    role: &str,
) -> Result<Vec<AttachedPolicy>, ProvisionError> {
    let mut policies = Vec::new();
    let mut marker = None;
    loop {
        let page = clients
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("iam role {role}"),
                    "iam:ListAttachedRolePolicies",
                    e,
                )
            })?;
        policies.extend(page.attached_policies.unwrap_or_default());
        marker = page.marker.filter(|_| page.is_truncated);
        if marker.is_none() {
            return Ok(policies);
        }
    }
}

fn iam_tags(tags: &Tags) -> Vec<Tag> {
    sdk_tags!(Tag, tags)
}

/// Creates the role without its policy: creating the functions needs only the role, and
/// the policy only their invocations, so apply puts it alongside the next stage.
pub async fn create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<Produced, ProvisionError> {
    cx.clients
        .iam
        .create_role()
        .role_name(&desired.name)
        .assume_role_policy_document(desired.trust_policy.to_string())
        .description(&desired.description)
        .permissions_boundary(&desired.permissions_boundary)
        .set_tags(Some(iam_tags(&desired.tags)))
        .send()
        .await
        .map_err(|e| aws_error(format!("iam role {}", desired.name), "iam:CreateRole", e))?;
    Ok(Produced::RoleWithoutPolicy)
}

pub async fn put_policy(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    cx.clients
        .iam
        .put_role_policy()
        .role_name(&desired.name)
        .policy_name(&desired.policy_name)
        .policy_document(desired.policy.to_string())
        .send()
        .await
        .map_err(|e| aws_error(format!("iam role {}", desired.name), "iam:PutRolePolicy", e))?;
    Ok(())
}

pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
) -> Result<(), ProvisionError> {
    let name = &desired.name;
    let resource = format!("iam role {name}");
    let iam = &cx.clients.iam;
    let [boundary, trust, inline, managed, tags] = UPDATES else {
        unreachable!("five update calls")
    };
    if boundary.needed_for(changes) {
        iam.put_role_permissions_boundary()
            .role_name(name)
            .permissions_boundary(&desired.permissions_boundary)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "iam:PutRolePermissionsBoundary", e))?;
    }
    if trust.needed_for(changes) {
        iam.update_assume_role_policy()
            .role_name(name)
            .policy_document(desired.trust_policy.to_string())
            .send()
            .await
            .map_err(|e| aws_error(&resource, "iam:UpdateAssumeRolePolicy", e))?;
    }
    if inline.needed_for(changes) {
        put_policy(cx, desired).await?;
        // Inline policies someone else added go: the role's permissions are the stack's.
        for extra in list_inline(cx.clients, name)
            .await?
            .into_iter()
            .filter(|p| *p != desired.policy_name)
        {
            delete_inline(cx, name, &extra).await?;
        }
    }
    if managed.needed_for(changes) {
        detach_managed(cx, name).await?;
    }
    if tags.needed_for(changes) {
        iam.tag_role()
            .role_name(name)
            .set_tags(Some(iam_tags(&desired.tags)))
            .send()
            .await
            .map_err(|e| aws_error(&resource, "iam:TagRole", e))?;
    }
    Ok(())
}

async fn delete_inline(cx: &ApplyCx<'_>, role: &str, policy: &str) -> Result<(), ProvisionError> {
    already_gone_is_done(
        cx.clients
            .iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await,
        |e| e.is_no_such_entity_exception(),
        format!("iam role {role}"),
        "iam:DeleteRolePolicy",
    )
}

async fn detach_managed(cx: &ApplyCx<'_>, role: &str) -> Result<(), ProvisionError> {
    for policy in list_attached(cx.clients, role).await? {
        let Some(arn) = policy.policy_arn() else {
            continue;
        };
        already_gone_is_done(
            cx.clients
                .iam
                .detach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await,
            |e| e.is_no_such_entity_exception(),
            format!("iam role {role}"),
            "iam:DetachRolePolicy",
        )?;
    }
    Ok(())
}

/// IAM refuses to delete a role that still has policies, so those go first.
pub async fn delete(cx: &ApplyCx<'_>, name: &str) -> Result<(), ProvisionError> {
    for policy in list_inline(cx.clients, name).await? {
        delete_inline(cx, name, &policy).await?;
    }
    detach_managed(cx, name).await?;
    already_gone_is_done(
        cx.clients.iam.delete_role().role_name(name).send().await,
        |e| e.is_no_such_entity_exception(),
        format!("iam role {name}"),
        "iam:DeleteRole",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::{assert_kind_is_consistent, fixture_context};

    #[test]
    fn only_lambda_assumes_the_role_and_it_writes_only_its_own_log_groups() {
        assert_eq!(
            trust_policy(),
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "lambda.amazonaws.com" },
                    "Action": "sts:AssumeRole"
                }]
            })
        );
        let (names, _, _, ses) = fixture_context();
        for sign_up in [false, true] {
            let policy = trigger_policy(&names, "no-reply@acme.example", &ses, sign_up);
            let logs: Vec<&Value> = policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["Action"].to_string().contains("logs:"))
                .collect();
            assert_eq!(logs.len(), 1, "{policy:#}");
            assert_eq!(
                logs[0]["Action"],
                json!([
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents"
                ])
            );
            let own: Vec<String> = TriggerKind::ALL
                .into_iter()
                .map(|kind| names.log_group_arn(kind))
                .collect();
            assert_eq!(logs[0]["Resource"], json!(own));
            assert!(
                own.iter()
                    .all(|arn| arn.contains(&format!("log-group:/aws/lambda/{}-", names.stack))),
                "{own:?}"
            );
            assert!(
                !policy.to_string().contains("\"Resource\":\"*\""),
                "a grant on every resource: {policy:#}"
            );
        }
    }

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update() {
        let (names, tagging, tags, ses) = fixture_context();
        let desired = Desired::new(&names, "no-reply@acme.example", &ses, false, &tags);
        let role = Role::builder()
            .path("/")
            .role_name(&desired.name)
            .role_id("AROA")
            .arn(names.role_arn())
            .create_date(aws_sdk_iam::primitives::DateTime::from_secs(0))
            .assume_role_policy_document(desired.trust_policy.to_string())
            .permissions_boundary(
                aws_sdk_iam::types::AttachedPermissionsBoundary::builder()
                    .permissions_boundary_arn(names.boundary_policy_arn())
                    .permissions_boundary_type(
                        aws_sdk_iam::types::PermissionsBoundaryAttachmentType::Policy,
                    )
                    .build(),
            )
            .set_tags(Some(iam_tags(&tags)))
            .build()
            .unwrap();
        let inline = BTreeMap::from([(desired.policy_name.clone(), desired.policy.to_string())]);
        let read = fields_of(&role, &inline, &[], &tagging);
        assert_eq!(read, desired.fields(), "a role as created reads back equal");
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
    }

    #[test]
    fn the_send_grant_widens_to_recipients_only_in_the_sandbox() {
        let (names, _, _, mut ses) = fixture_context();
        ses.sandbox = false;
        let production = trigger_policy(&names, "no-reply@acme.example", &ses, false);
        assert_eq!(
            production["Statement"][0]["Resource"],
            json!([
                names.identity_arn("acme.example"),
                names.configuration_set_arn("acme-mail")
            ])
        );
        ses.sandbox = true;
        ses.configuration_set = Some("tracked".into());
        let sandbox = trigger_policy(&names, "no-reply@acme.example", &ses, false);
        assert_eq!(
            sandbox["Statement"][0]["Resource"],
            json!([
                names.identity_arn("acme.example"),
                names.configuration_set_arn("acme-mail"),
                names.identity_arn("*"),
                names.configuration_set_arn("tracked")
            ])
        );
        assert_eq!(
            sandbox["Statement"][0]["Condition"]["StringEquals"]["ses:FromAddress"],
            "no-reply@acme.example"
        );
    }

    /// The statement granting `action`, if any.
    fn grant<'p>(policy: &'p Value, action: &str) -> Option<&'p Value> {
        policy["Statement"]
            .as_array()?
            .iter()
            .find(|s| s["Action"] == action)
    }

    #[test]
    fn each_grant_is_held_to_the_triggers_that_use_it() {
        let (names, _, _, ses) = fixture_context();
        let policy = trigger_policy(&names, "no-reply@acme.example", &ses, false);
        let source = |statement: usize| {
            policy["Statement"][statement]["Condition"]["ArnEquals"]["lambda:SourceFunctionArn"]
                .clone()
        };
        assert_eq!(policy["Statement"][0]["Action"], "ses:SendEmail");
        assert_eq!(source(0), json!(names.function_arn(TriggerKind::Create)));
        assert_eq!(policy["Statement"][1]["Action"], "dynamodb:UpdateItem");
        assert_eq!(
            source(1),
            json!([
                names.function_arn(TriggerKind::Define),
                names.function_arn(TriggerKind::Verify)
            ])
        );
        assert_eq!(policy["Statement"][2]["Action"], "dynamodb:GetItem");
        assert_eq!(
            source(2),
            json!([names.function_arn(TriggerKind::Define)]),
            "with sign-up off, Create reads no pending sign-up (Verify could not mark it)"
        );
        let actions = |policy: &Value| -> Vec<String> {
            policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["Action"].to_string())
                .collect()
        };
        assert!(!actions(&policy).iter().any(|a| a.contains("cognito-idp")));

        let with_sign_up = trigger_policy(&names, "no-reply@acme.example", &ses, true);
        let with_source = |statement: usize| {
            with_sign_up["Statement"][statement]["Condition"]["ArnEquals"]
                ["lambda:SourceFunctionArn"]
                .clone()
        };
        assert_eq!(
            with_source(1),
            json!([
                names.function_arn(TriggerKind::Define),
                names.function_arn(TriggerKind::Verify),
                names.function_arn(TriggerKind::PreSignUp)
            ])
        );
        assert_eq!(
            with_source(2),
            json!([
                names.function_arn(TriggerKind::Define),
                names.function_arn(TriggerKind::Create)
            ])
        );
        let forget = grant(&with_sign_up, "dynamodb:DeleteItem")
            .expect("Verify may forget a proven sign-up");
        assert_eq!(
            forget["Condition"]["ArnEquals"]["lambda:SourceFunctionArn"],
            json!(names.function_arn(TriggerKind::Verify))
        );
        let mark = grant(&with_sign_up, "cognito-idp:AdminUpdateUserAttributes")
            .expect("Verify may mark a proven address");
        assert_eq!(
            mark["Condition"]["ArnEquals"]["lambda:SourceFunctionArn"],
            json!(names.function_arn(TriggerKind::Verify))
        );
        assert_eq!(
            mark["Condition"]["StringEquals"][format!("aws:ResourceTag/{OWNER_TAG}")],
            json!(names.stack)
        );
        let look_up =
            grant(&with_sign_up, "cognito-idp:AdminGetUser").expect("PreSignUp may look a name up");
        assert_eq!(
            look_up["Condition"]["ArnEquals"]["lambda:SourceFunctionArn"],
            json!(names.function_arn(TriggerKind::PreSignUp))
        );
    }
}
