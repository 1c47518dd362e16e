//! The trigger role's permissions boundary: a managed policy that caps whatever the role can
//! ever be granted, to what the stack's triggers may do. An administrator creates it once per
//! stack (`cargo xtask bootstrap`), as CDK's bootstrap does; the deployer may create and
//! change the role only with this boundary attached and may never change the boundary, so a
//! deployer who writes `Action: *` into the role, or makes the role trust itself and assumes
//! it, still gets no more than the triggers have.

use serde_json::{Value, json};

use crate::aws::Clients;
use crate::error::{ProvisionError, aws_error};
use crate::fields::canonical_json;
use crate::naming::{Names, OWNER_TAG, TriggerKind};

/// Where the boundaries live, apart from everything a deployer may write.
pub const BOUNDARY_PATH: &str = "/emailcode/";

/// IAM keeps at most five versions of a managed policy.
const MAX_VERSIONS: usize = 5;

/// The most any trigger of the stack may ever do: its table's items, its own log groups,
/// sending email from the account's identities (the sandbox authorises recipients too), and
/// looking users up and marking them verified in a pool carrying the stack's tag. The role's inline policy is
/// narrower still (each grant held to the functions that use it, the sender address).
pub fn boundary_document(names: &Names) -> Value {
    let log_groups: Vec<String> = TriggerKind::ALL
        .into_iter()
        .map(|kind| names.log_group_arn(kind))
        .collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SendEmail",
                "Effect": "Allow",
                "Action": "ses:SendEmail",
                "Resource": [names.identity_arn("*"), names.configuration_set_arn("*")]
            },
            {
                "Sid": "LimitsTableItems",
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DeleteItem"],
                "Resource": names.limits_table_arn()
            },
            {
                "Sid": "OwnPoolUsers",
                "Effect": "Allow",
                "Action": ["cognito-idp:AdminUpdateUserAttributes", "cognito-idp:AdminGetUser"],
                "Resource": names.user_pools_arn(),
                "Condition": { "StringEquals": { format!("aws:ResourceTag/{OWNER_TAG}"): names.stack } }
            },
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": log_groups
            }
        ]
    })
}

/// What a look at the boundary found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boundary {
    Missing,
    /// It exists with this document (canonical JSON) as its default version.
    Present(String),
}

impl Boundary {
    /// Whether it exists with exactly the document this version of the tool writes.
    pub fn is_current(&self, names: &Names) -> bool {
        *self == Self::Present(canonical_json(&boundary_document(names)))
    }
}

/// Whether the boundary exists: one read, what deploy checks before it writes to the role.
pub async fn exists(clients: &Clients, names: &Names) -> Result<bool, ProvisionError> {
    Ok(get_policy(clients, names).await?.is_some())
}

/// GetPolicy on the boundary; `None` when there is none.
async fn get_policy(
    clients: &Clients,
    names: &Names,
) -> Result<Option<aws_sdk_iam::operation::get_policy::GetPolicyOutput>, ProvisionError> {
    let arn = names.boundary_policy_arn();
    match clients.iam.get_policy().policy_arn(&arn).send().await {
        Ok(output) => Ok(Some(output)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            format!("permissions boundary {arn}"),
            "iam:GetPolicy",
            e,
        )),
    }
}

/// Reads the boundary and its document, for bootstrap's comparison.
pub async fn read(clients: &Clients, names: &Names) -> Result<Boundary, ProvisionError> {
    let arn = names.boundary_policy_arn();
    let resource = format!("permissions boundary {arn}");
    let Some(found) = get_policy(clients, names).await? else {
        return Ok(Boundary::Missing);
    };
    let Some(version) = found.policy.and_then(|p| p.default_version_id) else {
        return Ok(Boundary::Present(String::new()));
    };
    let document = clients
        .iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "iam:GetPolicyVersion", e))?
        .policy_version
        .and_then(|v| v.document)
        .unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(&document).decode_utf8_lossy();
    Ok(Boundary::Present(
        serde_json::from_str::<Value>(&decoded)
            .map_or_else(|_| decoded.into_owned(), |v| canonical_json(&v)),
    ))
}

/// [`ensure`] for the stack of the spec at `spec_path`, from synchronous code (tests, the
/// bench): on a thread of its own with its own runtime, so it works inside async code too.
pub fn ensure_for_spec_blocking(
    spec_path: &std::path::Path,
) -> Result<Bootstrapped, ProvisionError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        ProvisionError::state("bootstrap", format!("no async runtime: {e}"))
                    })?;
                runtime.block_on(async {
                    let spec = crate::spec::StackSpec::load(spec_path)?;
                    let clients = crate::aws::connect(&spec).await;
                    let names = crate::observe::stack_names(&clients, &spec).await?;
                    ensure(&clients, &names).await
                })
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// What bootstrap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrapped {
    Created,
    Updated,
    AlreadyCurrent,
}

/// Creates the boundary, or gives it this version's document; run by an administrator (the
/// deployer's policy denies every write to it). Idempotent.
pub async fn ensure(clients: &Clients, names: &Names) -> Result<Bootstrapped, ProvisionError> {
    let arn = names.boundary_policy_arn();
    let resource = format!("permissions boundary {arn}");
    let document = boundary_document(names).to_string();
    let current = read(clients, names).await?;
    if current.is_current(names) {
        return Ok(Bootstrapped::AlreadyCurrent);
    }
    if current == Boundary::Missing {
        let created = clients
            .iam
            .create_policy()
            .policy_name(names.boundary_policy())
            .path(BOUNDARY_PATH)
            .description(format!(
                "The most the sign-in triggers of stack {} may ever do (emailcode permissions boundary)",
                names.stack
            ))
            .policy_document(&document)
            .send()
            .await;
        return match created {
            Ok(_) => Ok(Bootstrapped::Created),
            // Another bootstrap made it meanwhile; the next run compares its document.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_entity_already_exists_exception()) =>
            {
                Ok(Bootstrapped::AlreadyCurrent)
            }
            Err(e) => Err(aws_error(resource, "iam:CreatePolicy", e)),
        };
    }
    let versions = clients
        .iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "iam:ListPolicyVersions", e))?
        .versions
        .unwrap_or_default();
    if versions.len() >= MAX_VERSIONS {
        let oldest = versions
            .iter()
            .filter(|v| !v.is_default_version)
            .filter_map(|v| Some((v.create_date?, v.version_id.clone()?)))
            .min();
        if let Some((_, version)) = oldest {
            clients
                .iam
                .delete_policy_version()
                .policy_arn(&arn)
                .version_id(version)
                .send()
                .await
                .map_err(|e| aws_error(&resource, "iam:DeletePolicyVersion", e))?;
        }
    }
    clients
        .iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(&document)
        .set_as_default(true)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "iam:CreatePolicyVersion", e))?;
    Ok(Bootstrapped::Updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployer_policy::{Request, decide};
    use crate::naming::Partition;

    #[test]
    fn the_boundary_allows_what_the_triggers_do_and_nothing_of_other_stacks() {
        let names = Names::new("acme", "us-east-1", "123456789012", Partition::default());
        let other = Names::new("zeta", "us-east-1", "123456789012", Partition::default());
        let boundary = boundary_document(&names);
        let tagged = |stack: &str| vec![(format!("aws:ResourceTag/{OWNER_TAG}"), stack.to_owned())];
        let pool = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x";
        for (action, resource, context, allowed) in [
            (
                "dynamodb:UpdateItem",
                names.limits_table_arn(),
                vec![],
                true,
            ),
            (
                "dynamodb:UpdateItem",
                other.limits_table_arn(),
                vec![],
                false,
            ),
            ("dynamodb:Scan", names.limits_table_arn(), vec![], false),
            (
                "ses:SendEmail",
                names.identity_arn("acme.example"),
                vec![],
                true,
            ),
            (
                "cognito-idp:AdminUpdateUserAttributes",
                pool.to_owned(),
                tagged("acme"),
                true,
            ),
            (
                "cognito-idp:AdminUpdateUserAttributes",
                pool.to_owned(),
                tagged("zeta"),
                false,
            ),
            (
                "cognito-idp:AdminDeleteUser",
                pool.to_owned(),
                tagged("acme"),
                false,
            ),
            ("iam:PutRolePolicy", names.role_arn(), vec![], false),
            ("sts:AssumeRole", "*".to_owned(), vec![], false),
            (
                "logs:PutLogEvents",
                names.log_group_arn(TriggerKind::Create),
                vec![],
                true,
            ),
        ] {
            let request = Request::new(action, &resource).with(context);
            assert_eq!(
                decide(&boundary, &request),
                allowed,
                "{action} on {resource}"
            );
        }
    }
}
