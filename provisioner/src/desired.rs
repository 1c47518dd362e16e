//! Desired state: what the spec, the local trigger build and the account say every
//! resource should be. Pure: no AWS call, no clock.

use std::collections::BTreeMap;

use serde_json::json;

use crate::artifacts::TriggerKind;
use crate::model::{DesiredResource, Fields, KNOWN_AFTER_APPLY, ResourceId, ResourceKind};
use crate::spec::StackSpec;

/// The tag that marks a resource as this stack's; its value is the stack name.
pub const OWNER_TAG: &str = "emailcode:stack";
/// Tag keys under this prefix are the provisioner's own; a spec may not set them.
pub const RESERVED_TAG_PREFIX: &str = "emailcode:";
/// The Define function's tag that holds the client locator, `<pool id>/<client id>`.
pub const CLIENT_LOCATOR_TAG: &str = "emailcode:app-client";
/// The locator resource's one field; observation reads it back to find the client.
pub const CLIENT_LOCATOR_FIELD: &str = "app_client";
pub const RUNTIME: &str = "provided.al2023";
pub const HANDLER: &str = "bootstrap";
pub const PERMISSION_STATEMENT_ID: &str = "cognito-idp-invoke";
pub const COGNITO_PRINCIPAL: &str = "cognito-idp.amazonaws.com";
/// Cognito's defaults, made explicit so drift notices when someone changes them.
pub const DEFAULT_ACCESS_TOKEN_MINUTES: u32 = 60;
pub const DEFAULT_ID_TOKEN_MINUTES: u32 = 60;
pub const DEFAULT_REFRESH_TOKEN_DAYS: u32 = 30;
pub const AUTH_FLOWS: [&str; 2] = ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"];

/// Names and ARNs derived from the spec and the account; shared by every phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub stack: String,
    pub region: String,
    pub account: String,
    pub partition: &'static str,
}

impl Names {
    pub fn new(spec: &StackSpec, account: &str) -> Self {
        let region = spec.region.as_str().to_owned();
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        Self {
            stack: spec.name.as_str().to_owned(),
            region,
            account: account.to_owned(),
            partition,
        }
    }

    pub fn role(&self) -> String {
        format!("{}-triggers", self.stack)
    }

    pub fn role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition,
            self.account,
            self.role()
        )
    }

    pub fn role_policy(&self) -> String {
        format!("{}-triggers", self.stack)
    }

    pub fn function(&self, kind: TriggerKind) -> String {
        format!("{}-{}", self.stack, kind.binary_name())
    }

    pub fn function_arn(&self, kind: TriggerKind) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition,
            self.region,
            self.account,
            self.function(kind)
        )
    }

    pub fn user_pool(&self) -> String {
        self.stack.clone()
    }

    pub fn app_client(&self) -> String {
        format!("{}-app", self.stack)
    }

    pub fn identity_arn(&self, identity: &str) -> String {
        format!(
            "arn:{}:ses:{}:{}:identity/{identity}",
            self.partition, self.region, self.account
        )
    }

    pub fn log_group_arn(&self, kind: TriggerKind) -> String {
        format!(
            "arn:{}:logs:{}:{}:log-group:/aws/lambda/{}:*",
            self.partition,
            self.region,
            self.account,
            self.function(kind)
        )
    }

    pub fn id(&self, kind: ResourceKind) -> ResourceId {
        let name = match kind {
            ResourceKind::Role => self.role(),
            ResourceKind::EmailIdentity => unreachable!("the identity's name comes from the spec"),
            ResourceKind::Function(trigger) | ResourceKind::Permission(trigger) => {
                self.function(trigger)
            }
            ResourceKind::ClientLocator => self.function(TriggerKind::Define),
            ResourceKind::UserPool => self.user_pool(),
            ResourceKind::AppClient => self.app_client(),
        };
        ResourceId { kind, name }
    }
}

/// Everything deploy wants, in dependency order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    pub names: Names,
    pub resources: Vec<DesiredResource>,
}

/// What desired state needs beyond the spec: facts only AWS or the build know.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub account: &'a str,
    /// Lambda's CodeSha256 of each local trigger build.
    pub code_sha256: &'a BTreeMap<TriggerKind, String>,
    /// The pool's ARN when it exists already; permissions name it.
    pub user_pool_arn: Option<&'a str>,
    /// The pool and app client ids when both exist already; the client locator names them.
    pub app_client: Option<(&'a str, &'a str)>,
}

pub fn desired_state(spec: &StackSpec, context: Context<'_>) -> DesiredState {
    let names = Names::new(spec, context.account);
    let tags = tags_field(spec);
    let mut resources = vec![
        DesiredResource {
            id: names.id(ResourceKind::Role),
            fields: Fields::from([
                ("trust_policy", canonical_json(&trust_policy())),
                (
                    "inline_policies",
                    canonical_json(&json!({ names.role_policy(): role_policy(spec, &names) })),
                ),
                ("managed_policies", String::new()),
                ("tags", tags.clone()),
            ]),
            replace_on: &[],
            may_use_unowned: false,
        },
        DesiredResource {
            id: ResourceId {
                kind: ResourceKind::EmailIdentity,
                name: spec.ses_identity().to_owned(),
            },
            fields: Fields::from([("tags", tags.clone())]),
            replace_on: &[],
            may_use_unowned: true,
        },
    ];
    for kind in TriggerKind::ALL {
        resources.push(DesiredResource {
            id: names.id(ResourceKind::Function(kind)),
            fields: Fields::from([
                ("runtime", RUNTIME.to_owned()),
                ("handler", HANDLER.to_owned()),
                (
                    "architecture",
                    spec.triggers.architecture.as_lambda().to_owned(),
                ),
                ("memory_mb", spec.triggers.memory_mb.get().to_string()),
                (
                    "timeout_seconds",
                    spec.triggers.timeout_seconds.get().to_string(),
                ),
                ("role", names.role_arn()),
                ("environment", map_field(&function_environment(spec, kind))),
                (
                    "code_sha256",
                    context.code_sha256.get(&kind).cloned().unwrap_or_default(),
                ),
                ("tags", tags.clone()),
            ]),
            replace_on: &[],
            may_use_unowned: false,
        });
    }
    resources.push(DesiredResource {
        id: names.id(ResourceKind::UserPool),
        fields: Fields::from([
            ("username_attributes", "email".to_owned()),
            (
                "lambda_triggers",
                lambda_triggers_field(|kind| names.function_arn(kind)),
            ),
            (
                "deletion_protection",
                if spec.user_pool.deletion_protection {
                    "ACTIVE"
                } else {
                    "INACTIVE"
                }
                .to_owned(),
            ),
            ("tags", tags.clone()),
        ]),
        replace_on: &["username_attributes"],
        may_use_unowned: false,
    });
    let pool_arn = context.user_pool_arn.unwrap_or(KNOWN_AFTER_APPLY);
    for kind in TriggerKind::ALL {
        resources.push(DesiredResource {
            id: names.id(ResourceKind::Permission(kind)),
            fields: Fields::from([(
                "statements",
                canonical_json(&json!([permission_statement(&names, pool_arn)])),
            )]),
            replace_on: &[],
            may_use_unowned: false,
        });
    }
    let client = &spec.app_client;
    resources.push(DesiredResource {
        id: names.id(ResourceKind::AppClient),
        fields: Fields::from([
            ("explicit_auth_flows", list_field(AUTH_FLOWS)),
            ("generate_secret", "false".to_owned()),
            ("prevent_user_existence_errors", "ENABLED".to_owned()),
            (
                "auth_session_validity_minutes",
                client.auth_session_minutes.get().to_string(),
            ),
            (
                "access_token_validity",
                format!(
                    "{} minutes",
                    client
                        .access_token_minutes
                        .map_or(DEFAULT_ACCESS_TOKEN_MINUTES, |m| m.get())
                ),
            ),
            (
                "id_token_validity",
                format!(
                    "{} minutes",
                    client
                        .id_token_minutes
                        .map_or(DEFAULT_ID_TOKEN_MINUTES, |m| m.get())
                ),
            ),
            (
                "refresh_token_validity",
                format!(
                    "{} days",
                    client
                        .refresh_token_days
                        .map_or(DEFAULT_REFRESH_TOKEN_DAYS, |d| d.get())
                ),
            ),
            ("enable_token_revocation", "true".to_owned()),
        ]),
        replace_on: &[],
        may_use_unowned: false,
    });
    resources.push(DesiredResource {
        id: names.id(ResourceKind::ClientLocator),
        fields: Fields::from([(
            CLIENT_LOCATOR_FIELD,
            context.app_client.map_or_else(
                || KNOWN_AFTER_APPLY.to_owned(),
                |(pool, client)| client_locator(pool, client),
            ),
        )]),
        replace_on: &[],
        may_use_unowned: false,
    });
    DesiredState { names, resources }
}

/// The locator tag's value. Both ids are made of characters tag values allow.
pub fn client_locator(pool_id: &str, client_id: &str) -> String {
    format!("{pool_id}/{client_id}")
}

/// The pool and client ids a locator names, if it is well formed.
pub fn parse_client_locator(locator: &str) -> Option<(&str, &str)> {
    locator
        .split_once('/')
        .filter(|(pool, client)| !pool.is_empty() && !client.is_empty())
}

/// Every tag the spec asks for, plus the ownership tag.
pub fn resource_tags(spec: &StackSpec) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.insert(OWNER_TAG.to_owned(), spec.name.as_str().to_owned());
    tags
}

fn tags_field(spec: &StackSpec) -> String {
    map_field(&resource_tags(spec))
}

pub fn trust_policy() -> serde_json::Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// Least privilege: send from our identity only, write our own log groups only.
pub fn role_policy(spec: &StackSpec, names: &Names) -> serde_json::Value {
    let log_groups: Vec<String> = TriggerKind::ALL
        .into_iter()
        .map(|kind| names.log_group_arn(kind))
        .collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SendSignInEmail",
                "Effect": "Allow",
                "Action": "ses:SendEmail",
                "Resource": names.identity_arn(spec.ses_identity())
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": log_groups
            }
        ]
    })
}

pub fn permission_statement(names: &Names, pool_arn: &str) -> serde_json::Value {
    json!({
        "sid": PERMISSION_STATEMENT_ID,
        "principal": COGNITO_PRINCIPAL,
        "action": "lambda:InvokeFunction",
        "source_arn": pool_arn,
        "source_account": names.account,
    })
}

pub fn function_environment(spec: &StackSpec, kind: TriggerKind) -> BTreeMap<String, String> {
    use triggers::config as env;
    let otp = &spec.otp;
    let pairs: Vec<(&str, String)> = match kind {
        TriggerKind::Define => vec![(env::MAX_ATTEMPTS, otp.max_attempts.get().to_string())],
        TriggerKind::Create => vec![
            (env::CODE_LENGTH, otp.length.get().to_string()),
            (env::TTL_SECONDS, otp.ttl_seconds.get().to_string()),
            (env::EMAIL_FROM, spec.email.from.as_str().to_owned()),
            (
                env::EMAIL_SUBJECT,
                spec.email
                    .subject
                    .clone()
                    .unwrap_or_else(|| env::DEFAULT_SUBJECT.to_owned()),
            ),
        ],
        TriggerKind::Verify => vec![(env::TTL_SECONDS, otp.ttl_seconds.get().to_string())],
    };
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub fn lambda_triggers_field(arn: impl Fn(TriggerKind) -> String) -> String {
    format!(
        "define={}, create={}, verify={}",
        arn(TriggerKind::Define),
        arn(TriggerKind::Create),
        arn(TriggerKind::Verify)
    )
}

/// `k=v, k=v`, sorted by key.
pub fn map_field<K: AsRef<str>, V: AsRef<str>>(map: impl IntoIterator<Item = (K, V)>) -> String {
    let mut pairs: Vec<String> = map
        .into_iter()
        .map(|(k, v)| format!("{}={}", k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort();
    pairs.join(", ")
}

/// Items sorted and joined, so order never counts as a change.
pub fn list_field<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    items.sort();
    items.join(", ")
}

/// JSON with sorted keys and no whitespace, so equal documents compare equal as text.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn locator_of(app_client: Option<(&str, &str)>) -> String {
        let spec = StackSpec::parse(
            Path::new("stack.yaml"),
            "name: acme\nregion: us-east-1\nemail:\n  from: no-reply@acme.example\n",
        )
        .unwrap();
        let desired = desired_state(
            &spec,
            Context {
                account: "123456789012",
                code_sha256: &BTreeMap::new(),
                user_pool_arn: None,
                app_client,
            },
        );
        let last = desired.resources.last().unwrap();
        assert_eq!(
            last.id.kind,
            ResourceKind::ClientLocator,
            "the locator comes last"
        );
        last.fields[CLIENT_LOCATOR_FIELD].clone()
    }

    #[test]
    fn the_locator_names_an_existing_client_and_waits_for_a_new_one() {
        assert_eq!(
            locator_of(Some(("us-east-1_AbC", "3nx8q"))),
            "us-east-1_AbC/3nx8q"
        );
        assert_eq!(locator_of(None), KNOWN_AFTER_APPLY);
    }

    #[test]
    fn a_locator_reads_back_as_written_and_a_malformed_one_as_nothing() {
        let written = client_locator("us-east-1_AbC", "3nx8q");
        assert_eq!(
            parse_client_locator(&written),
            Some(("us-east-1_AbC", "3nx8q"))
        );
        for malformed in ["", "us-east-1_AbC", "/3nx8q", "us-east-1_AbC/"] {
            assert_eq!(parse_client_locator(malformed), None, "{malformed:?}");
        }
    }
}
