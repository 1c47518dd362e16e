//! The least-privilege IAM policy for whoever runs deploy, plan, drift and teardown of one
//! stack: every action those commands call, on the stack's own resources wherever the
//! service allows naming them, and never a way past the trigger role's permissions boundary.
//! Also a small evaluator of such policies (`decide`), for the tests. Pure.

use serde_json::{Value, json};

use crate::naming::{Names, OWNER_TAG, TriggerKind};

/// Actions that name no resource, or whose resource does not exist yet, so `"*"` is the
/// narrowest IAM allows (creating a pool is further held to the stack's tag).
/// Listing every resource of a kind (`stacks list`, `teardown --name`, `prune`) is among them.
const UNSCOPED: &[&str] = &[
    "cognito-idp:ListUserPools",
    "ses:GetAccount",
    "iam:ListRoles",
    "lambda:ListFunctions",
    "dynamodb:ListTables",
    "ses:ListEmailIdentities",
    // Finding a log group by its name takes a listing by prefix, which IAM does not scope.
    "logs:DescribeLogGroups",
    // Likewise the topics and configuration sets, to find the stack's own.
    "sns:ListTopics",
    "ses:ListConfigurationSets",
    // `status` reads the stack's metrics; IAM scopes no metric.
    "cloudwatch:GetMetricData",
];

/// The only principal the triggers' resource policies may let in.
pub const COGNITO_PRINCIPAL: &str = "cognito-idp.amazonaws.com";

/// Every write to the boundary policy: whoever could make one could widen what the trigger
/// role may do, and the boundary would protect nothing.
const BOUNDARY_WRITES: &[&str] = &[
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
];

/// What the policy lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything deploy, plan, drift, teardown and `stacks` need.
    Deploy,
    /// Only the reads plan, drift and `stacks list` make: for jobs that must not change a stack.
    ReadOnly,
}

/// The policy for one stack (`names.stack` a name) or for every stack a pattern matches
/// (`names.stack` such as `acme-pr-*`, IAM's wildcard): each name-based ARN and each tag
/// condition takes the pattern as it is.
pub fn policy(names: &Names, identity: &str, access: Access) -> Value {
    let full = deployer_policy(names, identity);
    match access {
        Access::Deploy => full,
        Access::ReadOnly => read_only(&full),
    }
}

/// The reads of `policy`: its `Allow` statements cut down to Get, List and Describe actions,
/// with their resources and conditions. Denials guard writes and go with them.
fn read_only(policy: &Value) -> Value {
    let kept: Vec<Value> = statements(policy)
        .filter(|statement| statement["Effect"] == "Allow")
        .filter_map(|statement| {
            let reads: Vec<String> = strings(&statement["Action"])
                .into_iter()
                .filter(|action| {
                    let operation = action.split_once(':').map_or("", |(_, o)| o);
                    crate::aws::is_read_only(operation)
                })
                .collect();
            if reads.is_empty() {
                return None;
            }
            let mut statement = statement.clone();
            statement["Action"] = json!(reads);
            if let Some(sid) = statement["Sid"].as_str() {
                statement["Sid"] = json!(format!("{sid}Read"));
            }
            Some(statement)
        })
        .collect();
    json!({ "Version": "2012-10-17", "Statement": kept })
}

pub fn deployer_policy(names: &Names, identity: &str) -> Value {
    let functions: Vec<String> = TriggerKind::ALL
        .into_iter()
        .map(|kind| names.function_arn(kind))
        .collect();
    // Logs' actions name a group with or without the `:*` of its streams.
    let log_groups: Vec<String> = TriggerKind::ALL
        .into_iter()
        .flat_map(|kind| {
            let arn = names.log_group_resource_arn(kind);
            [format!("{arn}:*"), arn]
        })
        .collect();

    let pools = format!(
        "arn:{}:cognito-idp:{}:{}:userpool/*",
        names.partition.name, names.region, names.account
    );
    let role = names.role_arn();
    let boundary = names.boundary_policy_arn();
    let with_boundary = json!({ "ArnEquals": { "iam:PermissionsBoundary": boundary } });
    // StringLike, so a stack-name pattern (`acme-pr-*`) holds every stack it matches.
    let tagged = json!({ "StringLike": { format!("aws:ResourceTag/{OWNER_TAG}"): names.stack } });
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                // UpdateAssumeRolePolicy has no boundary condition key in IAM; whomever a
                // changed trust policy lets in gets no more than the boundary allows.
                "Sid": "TriggerRole",
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole", "iam:ListRoleTags", "iam:DeleteRole", "iam:TagRole", "iam:UpdateAssumeRolePolicy",
                    "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
                    "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy"
                ],
                "Resource": role
            },
            {
                "Sid": "TriggerRoleOnlyWithinTheBoundary",
                "Effect": "Allow",
                "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"],
                "Resource": role,
                "Condition": with_boundary
            },
            {
                "Sid": "ReadTheBoundary",
                "Effect": "Allow",
                "Action": ["iam:GetPolicy", "iam:GetPolicyVersion"],
                "Resource": boundary
            },
            {
                // Explicit, so that no other policy of the deployer's can open these either.
                "Sid": "NeverWithoutTheBoundary",
                "Effect": "Deny",
                "Action": [
                    "iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary",
                    "iam:AttachRolePolicy"
                ],
                "Resource": role,
                "Condition": { "ArnNotEquals": { "iam:PermissionsBoundary": boundary } }
            },
            {
                "Sid": "NeverRemoveTheBoundary",
                "Effect": "Deny",
                "Action": "iam:DeleteRolePermissionsBoundary",
                "Resource": role
            },
            {
                "Sid": "NeverChangeTheBoundary",
                "Effect": "Deny",
                "Action": BOUNDARY_WRITES,
                "Resource": boundary
            },
            {
                "Sid": "PassTriggerRoleToLambda",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": role,
                "Condition": { "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } }
            },
            {
                "Sid": "TriggerFunctions",
                "Effect": "Allow",
                "Action": [
                    "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:ListTags",
                    "lambda:GetPolicy", "lambda:CreateFunction", "lambda:DeleteFunction",
                    "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                    "lambda:RemovePermission", "lambda:TagResource"
                ],
                "Resource": functions
            },
            {
                // Verify trusts its event: anyone else allowed to invoke it could mark any
                // user's address verified.
                "Sid": "OnlyCognitoInvokes",
                "Effect": "Allow",
                "Action": "lambda:AddPermission",
                "Resource": functions,
                "Condition": { "StringEquals": { "lambda:Principal": COGNITO_PRINCIPAL } }
            },
            {
                "Sid": "TriggerLogGroups",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource",
                    "logs:ListTagsForResource", "logs:DeleteLogGroup"
                ],
                "Resource": log_groups
            },
            {
                // Like an identity, a configuration set's creation has no resource type in
                // IAM's action table: only the tag it must carry scopes it.
                "Sid": "CreateOnlyTaggedConfigurationSet",
                "Effect": "Allow",
                "Action": "ses:CreateConfigurationSet",
                "Resource": "*",
                "Condition": { "StringLike": { format!("aws:RequestTag/{OWNER_TAG}"): names.stack } }
            },
            {
                "Sid": "StackConfigurationSet",
                "Effect": "Allow",
                "Action": [
                    "ses:GetConfigurationSet",
                    "ses:DeleteConfigurationSet", "ses:GetConfigurationSetEventDestinations",
                    "ses:CreateConfigurationSetEventDestination",
                    "ses:UpdateConfigurationSetEventDestination",
                    "ses:PutConfigurationSetReputationOptions",
                    "ses:PutConfigurationSetSuppressionOptions",
                    "ses:PutConfigurationSetSendingOptions", "ses:TagResource",
                    "ses:ListTagsForResource"
                ],
                "Resource": names.configuration_set_arn(&names.configuration_set())
            },
            {
                "Sid": "StackAlarms",
                "Effect": "Allow",
                "Action": [
                    "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms",
                    "cloudwatch:TagResource", "cloudwatch:ListTagsForResource"
                ],
                "Resource": names.alarm_arn(&names.alarm("*"))
            },
            {
                // Alarms are found by the stack's prefix, which IAM checks as any alarm.
                "Sid": "FindAlarms",
                "Effect": "Allow",
                "Action": "cloudwatch:DescribeAlarms",
                "Resource": names.alarm_arn("*")
            },
            {
                "Sid": "AlarmTopic",
                "Effect": "Allow",
                "Action": [
                    "sns:CreateTopic", "sns:Subscribe", "sns:TagResource",
                    "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic", "sns:DeleteTopic"
                ],
                "Resource": names.alarm_topic_arn()
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
                "Condition": { "StringLike": { format!("aws:RequestTag/{OWNER_TAG}"): names.stack } }
            },
            {
                // Describing same-named pools is how ownership is decided, so that read is
                // not held to the tag. A pool's configuration holds no secret.
                "Sid": "ReadPools",
                "Effect": "Allow",
                "Action": "cognito-idp:DescribeUserPool",
                "Resource": pools
            },
            {
                // Client descriptions hold client secrets: only the stack's own pool's.
                "Sid": "OwnPool",
                "Effect": "Allow",
                "Action": [
                    "cognito-idp:ListUserPoolClients", "cognito-idp:DescribeUserPoolClient",
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
                "Condition": { "StringLike": { format!("aws:RequestTag/{OWNER_TAG}"): names.stack } }
            },
            {
                "Sid": "SenderIdentity",
                "Effect": "Allow",
                "Action": [
                    "ses:GetEmailIdentity", "ses:ListTagsForResource", "ses:DeleteEmailIdentity",
                    "ses:TagResource", "ses:UntagResource"
                ],
                "Resource": names.identity_arn(identity)
            },
            {
                // doctor reads the sender domain's DKIM and MAIL FROM settings.
                "Sid": "SenderDomainRead",
                "Effect": "Allow",
                "Action": "ses:GetEmailIdentity",
                "Resource": names.identity_arn(crate::spec::sender_domain(identity))
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

/// Whether an `Allow` statement of `policy` matches `action` on `resource`, by action and
/// resource patterns only (conditions and denials are not evaluated): what the recorded-call
/// test needs to find a missing grant.
pub fn allows(policy: &Value, action: &str, resource: &str) -> bool {
    statements(policy).any(|statement| {
        statement["Effect"] == "Allow" && matches_target(statement, action, resource)
    })
}

/// One request to authorise: the action, the resource and the condition keys it carries.
#[derive(Debug, Clone)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: Vec<(String, String)>,
}

impl Request {
    pub fn new(action: &str, resource: &str) -> Self {
        Self {
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: Vec::new(),
        }
    }

    /// The request with these condition keys and values.
    pub fn with(mut self, context: Vec<(String, String)>) -> Self {
        self.context.extend(context);
        self
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// IAM's decision for one identity policy: an explicit deny wins, else an allow is needed.
/// Conditions use the operators these policies use (`StringEquals`, `StringNotEquals`,
/// `StringLike`, `ArnEquals`, `ArnNotEquals`, `ArnLike`, `Null`); an unknown operator never matches, so a
/// statement this evaluator cannot read denies nothing and allows nothing.
pub fn decide(policy: &Value, request: &Request) -> bool {
    let applies = |statement: &Value| {
        matches_target(statement, &request.action, &request.resource)
            && conditions_hold(&statement["Condition"], request)
    };
    let denied = statements(policy).any(|s| s["Effect"] == "Deny" && applies(s));
    let allowed = statements(policy).any(|s| s["Effect"] == "Allow" && applies(s));
    allowed && !denied
}

fn statements(policy: &Value) -> impl Iterator<Item = &Value> {
    policy["Statement"].as_array().into_iter().flatten()
}

fn matches_target(statement: &Value, action: &str, resource: &str) -> bool {
    strings(&statement["Action"])
        .iter()
        .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
        && strings(&statement["Resource"])
            .iter()
            .any(|r| glob(r, resource))
}

fn conditions_hold(condition: &Value, request: &Request) -> bool {
    let Some(operators) = condition.as_object() else {
        return true;
    };
    operators.iter().all(|(operator, keys)| {
        keys.as_object().is_some_and(|keys| {
            keys.iter().all(|(key, expected)| {
                let expected = strings(expected);
                let actual = request.value(key);
                // IAM's ArnEquals takes wildcards just as ArnLike does.
                match operator.as_str() {
                    "StringEquals" => actual.is_some_and(|a| expected.iter().any(|e| e == a)),
                    "StringLike" | "ArnLike" | "ArnEquals" => {
                        actual.is_some_and(|a| expected.iter().any(|e| glob(e, a)))
                    }
                    // A negated operator matches when the key is absent, as in IAM.
                    "StringNotEquals" => actual.is_none_or(|a| expected.iter().all(|e| e != a)),
                    "ArnNotEquals" | "ArnNotLike" => {
                        actual.is_none_or(|a| expected.iter().all(|e| !glob(e, a)))
                    }
                    "Null" => expected.iter().all(|e| (e == "true") == actual.is_none()),
                    _ => false,
                }
            })
        })
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

    fn acme() -> (Names, Value) {
        let names = Names::new("acme", "us-east-1", "123456789012", Partition::default());
        let policy = deployer_policy(&names, "acme.example");
        (names, policy)
    }

    fn key(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.to_owned(), value.to_owned())]
    }

    #[test]
    fn the_policy_names_the_stacks_own_resources() {
        let (names, policy) = acme();
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

    /// Each way the deployer's policy used to lead to account admin, tried and denied; the
    /// legitimate form of each call still allowed.
    #[test]
    fn no_escalation_path_is_open_to_the_deployer() {
        let (names, policy) = acme();
        let role = names.role_arn();
        let boundary = names.boundary_policy_arn();
        let ours = || key("iam:PermissionsBoundary", &boundary);
        let other = || {
            key(
                "iam:PermissionsBoundary",
                "arn:aws:iam::123456789012:policy/wide",
            )
        };
        let pool = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x";
        let verify = names.function_arn(TriggerKind::Verify);
        let cases: Vec<(&str, Request, bool)> = vec![
            (
                "create the role within the boundary",
                Request::new("iam:CreateRole", &role).with(ours()),
                true,
            ),
            (
                "create the role without a boundary",
                Request::new("iam:CreateRole", &role),
                false,
            ),
            (
                "create the role under another boundary",
                Request::new("iam:CreateRole", &role).with(other()),
                false,
            ),
            (
                "write the inline policy of the bounded role",
                Request::new("iam:PutRolePolicy", &role).with(ours()),
                true,
            ),
            (
                "write Action * into a role without the boundary",
                Request::new("iam:PutRolePolicy", &role),
                false,
            ),
            (
                "remove the boundary",
                Request::new("iam:DeleteRolePermissionsBoundary", &role).with(ours()),
                false,
            ),
            (
                "swap the boundary",
                Request::new("iam:PutRolePermissionsBoundary", &role).with(other()),
                false,
            ),
            (
                "attach AdministratorAccess",
                Request::new("iam:AttachRolePolicy", &role).with(ours()),
                false,
            ),
            (
                "widen the boundary",
                Request::new("iam:CreatePolicyVersion", &boundary),
                false,
            ),
            (
                "make another version the default",
                Request::new("iam:SetDefaultPolicyVersion", &boundary),
                false,
            ),
            (
                "delete the boundary",
                Request::new("iam:DeletePolicy", &boundary),
                false,
            ),
            (
                "read the boundary",
                Request::new("iam:GetPolicy", &boundary),
                true,
            ),
            (
                "create another role",
                Request::new("iam:CreateRole", "arn:aws:iam::123456789012:role/admin").with(ours()),
                false,
            ),
            (
                "pass another role to Lambda",
                Request::new("iam:PassRole", "arn:aws:iam::123456789012:role/admin")
                    .with(key("iam:PassedToService", "lambda.amazonaws.com")),
                false,
            ),
            (
                "let Cognito invoke Verify",
                Request::new("lambda:AddPermission", &verify)
                    .with(key("lambda:Principal", COGNITO_PRINCIPAL)),
                true,
            ),
            (
                "let anyone invoke Verify",
                Request::new("lambda:AddPermission", &verify).with(key("lambda:Principal", "*")),
                false,
            ),
            (
                "let another account invoke Verify",
                Request::new("lambda:AddPermission", &verify)
                    .with(key("lambda:Principal", "210987654321")),
                false,
            ),
            (
                "read the own pool's client secrets",
                Request::new("cognito-idp:DescribeUserPoolClient", pool)
                    .with(key(&format!("aws:ResourceTag/{OWNER_TAG}"), "acme")),
                true,
            ),
            (
                "read another team's client secrets",
                Request::new("cognito-idp:DescribeUserPoolClient", pool)
                    .with(key(&format!("aws:ResourceTag/{OWNER_TAG}"), "payments")),
                false,
            ),
            (
                "read an untagged pool's client secrets",
                Request::new("cognito-idp:DescribeUserPoolClient", pool),
                false,
            ),
            (
                "list an untagged pool's clients",
                Request::new("cognito-idp:ListUserPoolClients", pool),
                false,
            ),
        ];
        for (what, request, expected) in cases {
            assert_eq!(decide(&policy, &request), expected, "{what}: {request:?}");
        }
    }

    #[test]
    fn the_evaluator_reads_conditions_as_iam_does() {
        let policy = json!({ "Statement": [
            { "Effect": "Allow", "Action": "s3:Get*", "Resource": "*",
              "Condition": { "StringLike": { "aws:PrincipalTag/team": "id*" } } },
            { "Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*",
              "Condition": { "Null": { "aws:MultiFactorAuthAge": "true" } } }
        ]});
        let team = || key("aws:PrincipalTag/team", "identity");
        assert!(decide(
            &policy,
            &Request::new("S3:GetBucketTagging", "x").with(team())
        ));
        assert!(!decide(&policy, &Request::new("s3:GetBucketTagging", "x")));
        assert!(!decide(
            &policy,
            &Request::new("s3:GetObject", "arn:aws:s3:::secret/a").with(team())
        ));
        assert!(decide(
            &policy,
            &Request::new("s3:GetObject", "arn:aws:s3:::secret/a")
                .with(team())
                .with(key("aws:MultiFactorAuthAge", "30"))
        ));
        assert!(!decide(
            &json!({ "Statement": [
                { "Effect": "Allow", "Action": "*", "Resource": "*", "Condition": { "Bogus": { "k": "v" } } }
            ]}),
            &Request::new("s3:GetObject", "x").with(key("k", "v"))
        ));
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("arn:*:x/*", "arn:aws:x/abc"));
        assert!(!glob("arn:aws:x/a*", "arn:aws:x/b"));
        assert!(glob("*", "anything"));
    }
}
