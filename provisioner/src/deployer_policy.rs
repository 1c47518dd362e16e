//! The least-privilege IAM policy for whoever runs deploy, plan, drift and teardown of one
//! stack: every action those commands call, on the stack's own resources wherever the
//! service allows naming them. Pure.

use serde_json::{Value, json};

use crate::naming::{Names, OWNER_TAG, TriggerKind};

/// Actions that name no resource, or whose resource does not exist yet, so `"*"` is the
/// narrowest IAM allows (creating a pool is further held to the stack's tag).
const UNSCOPED: &[&str] = &["cognito-idp:ListUserPools", "ses:GetAccount"];

pub fn deployer_policy(names: &Names, identity: &str) -> Value {
    let functions: Vec<String> = TriggerKind::ALL
        .into_iter()
        .map(|kind| names.function_arn(kind))
        .collect();
    let pools = format!(
        "arn:{}:cognito-idp:{}:{}:userpool/*",
        names.partition.name, names.region, names.account
    );
    let tagged = json!({ "StringEquals": { format!("aws:ResourceTag/{OWNER_TAG}"): names.stack } });
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TriggerRole",
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole", "iam:CreateRole", "iam:DeleteRole", "iam:TagRole",
                    "iam:UpdateAssumeRolePolicy", "iam:ListRolePolicies", "iam:GetRolePolicy",
                    "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:ListAttachedRolePolicies",
                    "iam:DetachRolePolicy"
                ],
                "Resource": names.role_arn()
            },
            {
                "Sid": "PassTriggerRoleToLambda",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": names.role_arn(),
                "Condition": { "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } }
            },
            {
                "Sid": "TriggerFunctions",
                "Effect": "Allow",
                "Action": [
                    "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:ListTags",
                    "lambda:GetPolicy", "lambda:CreateFunction", "lambda:DeleteFunction",
                    "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                    "lambda:AddPermission", "lambda:RemovePermission", "lambda:TagResource"
                ],
                "Resource": functions
            },
            {
                "Sid": "LimitsTable",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive",
                    "dynamodb:ListTagsOfResource", "dynamodb:CreateTable", "dynamodb:UpdateTable",
                    "dynamodb:UpdateTimeToLive", "dynamodb:TagResource", "dynamodb:DeleteTable",
                    // The stack lock, one item of the same table.
                    "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"
                ],
                "Resource": names.limits_table_arn()
            },
            {
                "Sid": "FindAccountWideFacts",
                "Effect": "Allow",
                "Action": UNSCOPED,
                "Resource": "*"
            },
            {
                "Sid": "CreateOnlyTaggedPools",
                "Effect": "Allow",
                "Action": "cognito-idp:CreateUserPool",
                "Resource": "*",
                "Condition": { "StringEquals": { format!("aws:RequestTag/{OWNER_TAG}"): names.stack } }
            },
            {
                // Reading same-named pools is how ownership is decided, so reads are not
                // held to the tag; every write is.
                "Sid": "ReadPools",
                "Effect": "Allow",
                "Action": [
                    "cognito-idp:DescribeUserPool", "cognito-idp:ListUserPoolClients",
                    "cognito-idp:DescribeUserPoolClient"
                ],
                "Resource": pools
            },
            {
                "Sid": "WriteOwnPool",
                "Effect": "Allow",
                "Action": [
                    "cognito-idp:UpdateUserPool", "cognito-idp:DeleteUserPool",
                    "cognito-idp:CreateUserPoolClient", "cognito-idp:UpdateUserPoolClient",
                    "cognito-idp:DeleteUserPoolClient", "cognito-idp:TagResource"
                ],
                "Resource": pools,
                "Condition": tagged
            },
            {
                // IAM's action table gives CreateEmailIdentity no resource type, so only the
                // tag it must carry can scope it.
                "Sid": "CreateOnlyTaggedSenderIdentity",
                "Effect": "Allow",
                "Action": "ses:CreateEmailIdentity",
                "Resource": "*",
                "Condition": { "StringEquals": { format!("aws:RequestTag/{OWNER_TAG}"): names.stack } }
            },
            {
                "Sid": "SenderIdentity",
                "Effect": "Allow",
                "Action": ["ses:GetEmailIdentity", "ses:DeleteEmailIdentity", "ses:TagResource"],
                "Resource": names.identity_arn(identity)
            }
        ]
    })
}

/// A statement's `Action` or `Resource`: IAM takes one string or a list of them.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `policy` allows `action` on `resource`, by action and resource patterns only
/// (conditions are not evaluated). `*` matches any run of characters, as in IAM.
pub fn allows(policy: &Value, action: &str, resource: &str) -> bool {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|statement| {
            statement["Effect"] == "Allow"
                && strings(&statement["Action"])
                    .iter()
                    .any(|a| glob(a, action))
                && strings(&statement["Resource"])
                    .iter()
                    .any(|r| glob(r, resource))
        })
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((prefix, rest)) => {
            let Some(remainder) = text.strip_prefix(prefix) else {
                return false;
            };
            (0..=remainder.len())
                .filter(|i| remainder.is_char_boundary(*i))
                .any(|i| glob(rest, &remainder[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::Partition;

    #[test]
    fn the_policy_names_the_stacks_own_resources() {
        let names = Names::new("acme", "us-east-1", "123456789012", Partition::default());
        let policy = deployer_policy(&names, "acme.example");
        assert!(allows(
            &policy,
            "lambda:UpdateFunctionCode",
            &names.function_arn(TriggerKind::Create)
        ));
        assert!(!allows(
            &policy,
            "lambda:UpdateFunctionCode",
            "arn:aws:lambda:us-east-1:123456789012:function:other-define-auth-challenge"
        ));
        assert!(allows(&policy, "iam:PassRole", &names.role_arn()));
        assert!(!allows(
            &policy,
            "iam:PassRole",
            "arn:aws:iam::123456789012:role/admin"
        ));
        assert!(allows(
            &policy,
            "cognito-idp:DeleteUserPool",
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x"
        ));
        assert!(!allows(&policy, "iam:CreateUser", "*"));
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("arn:*:x/*", "arn:aws:x/abc"));
        assert!(!glob("arn:aws:x/a*", "arn:aws:x/b"));
        assert!(glob("*", "anything"));
    }
}
