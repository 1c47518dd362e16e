//! Apply: executes a plan's steps and nothing else. Steps of one stage run concurrently;
//! stages run in dependency order. The only decisions made here are *how* to carry out a
//! step the plan already chose (which API calls an update needs), never *whether*.

use std::time::{Duration, Instant};

use aws_sdk_cognitoidentityprovider::types as cognito;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types as lambda;
use futures_util::future::try_join_all;

use crate::artifacts::{Artifacts, TriggerKind};
use crate::aws::Clients;
use crate::desired::{
    AUTH_FLOWS, CLIENT_LOCATOR_TAG, COGNITO_PRINCIPAL, HANDLER, Names, PERMISSION_STATEMENT_ID,
    client_locator, function_environment, resource_tags, role_policy, trust_policy,
};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::model::ResourceKind;
use crate::observe::{Observation, PoolRef};
use crate::plan::{Action, FieldChange, Plan, Step};
use crate::spec::StackSpec;

/// How long a new role may take to become assumable by Lambda before we give up. IAM is
/// eventually consistent; AWS documents seconds, and rarely more than ten.
const ROLE_PROPAGATION_DEADLINE: Duration = Duration::from_secs(60);
/// How long a function may stay in Pending or InProgress before an update gives up.
const FUNCTION_READY_DEADLINE: Duration = Duration::from_secs(120);

/// What one step did, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    UsedAsIs,
    Deleted,
}

impl Outcome {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::UsedAsIs => "exists, not managed by this stack; used as is",
            Self::Deleted => "deleted",
        }
    }
}

pub struct Applier<'a> {
    pub clients: &'a Clients,
    pub spec: &'a StackSpec,
    pub names: &'a Names,
    /// Needed only when a function is created or its code updated.
    pub artifacts: Option<&'a Artifacts>,
    pub report: &'a (dyn Fn(&Step, Outcome) + Sync),
}

/// Identifiers known once apply is done; the pool's ARN may be new.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub user_pool: Option<PoolRef>,
    pub app_client_id: Option<String>,
}

impl Applier<'_> {
    pub async fn apply(
        &self,
        plan: &Plan,
        observation: &Observation,
    ) -> Result<Live, ProvisionError> {
        let mut live = Live {
            user_pool: observation.user_pool.clone(),
            app_client_id: observation.app_client_id.clone(),
        };
        let mut stages: Vec<u8> = plan.steps.iter().map(|s| s.id.kind.stage()).collect();
        stages.sort_unstable();
        stages.dedup();
        if plan
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Delete))
        {
            stages.reverse();
        }
        let mut role_policy_due = false;
        for stage in stages {
            let steps = plan.steps.iter().filter(|s| s.id.kind.stage() == stage);
            let (results, ()) = tokio::try_join!(
                try_join_all(steps.map(|step| self.run(step, &live))),
                self.put_role_policy_if(std::mem::take(&mut role_policy_due)),
            )?;
            for produced in results.into_iter().flatten() {
                match produced {
                    Produced::Pool(pool) => live.user_pool = Some(pool),
                    Produced::Client(id) => live.app_client_id = Some(id),
                    Produced::PoolGone => live.user_pool = None,
                    Produced::RoleWithoutPolicy => role_policy_due = true,
                }
            }
        }
        self.put_role_policy_if(role_policy_due).await?;
        Ok(live)
    }

    async fn run(&self, step: &Step, live: &Live) -> Result<Option<Produced>, ProvisionError> {
        let (produced, outcome) = match &step.action {
            Action::NoOp => (None, Outcome::Unchanged),
            Action::UseUnowned => (None, Outcome::UsedAsIs),
            Action::Create => (self.create(step, live).await?, Outcome::Created),
            Action::Update(changes) => (self.update(step, changes, live).await?, Outcome::Updated),
            Action::Replace(_) => {
                return Err(ProvisionError::state(
                    step.id.to_string(),
                    "must be replaced (a setting AWS cannot change in place differs), which would delete its users; \
                     run `cargo xtask teardown` and deploy again if that is what you want",
                ));
            }
            Action::Delete => (self.delete(step, live).await?, Outcome::Deleted),
        };
        (self.report)(step, outcome);
        Ok(produced)
    }

    async fn create(&self, step: &Step, live: &Live) -> Result<Option<Produced>, ProvisionError> {
        match step.id.kind {
            ResourceKind::Role => self
                .create_role()
                .await
                .map(|()| Some(Produced::RoleWithoutPolicy)),
            ResourceKind::EmailIdentity => self.create_identity(&step.id.name).await.map(|()| None),
            ResourceKind::Function(kind) => self.create_function(kind).await.map(|()| None),
            ResourceKind::UserPool => self
                .create_pool()
                .await
                .map(|pool| Some(Produced::Pool(pool))),
            ResourceKind::Permission(kind) => {
                self.grant_invoke(kind, None, live).await.map(|()| None)
            }
            ResourceKind::AppClient => self
                .create_client(live)
                .await
                .map(|id| Some(Produced::Client(id))),
            ResourceKind::ClientLocator => self.tag_client_locator(live).await.map(|()| None),
        }
    }

    async fn update(
        &self,
        step: &Step,
        changes: &[FieldChange],
        live: &Live,
    ) -> Result<Option<Produced>, ProvisionError> {
        let changed = |field: &str| changes.iter().any(|c| c.field == field);
        match step.id.kind {
            ResourceKind::Role => self.update_role(changes).await?,
            ResourceKind::EmailIdentity => self.tag_identity(&step.id.name).await?,
            ResourceKind::Function(kind) => {
                let code = changed("code_sha256") || changed("architecture");
                let configuration = [
                    "runtime",
                    "handler",
                    "memory_mb",
                    "timeout_seconds",
                    "role",
                    "environment",
                ]
                .iter()
                .any(|f| changed(f));
                self.update_function(kind, code, configuration, changed("tags"))
                    .await?;
            }
            ResourceKind::UserPool => self.update_pool(live).await?,
            ResourceKind::Permission(kind) => {
                let old = changes
                    .iter()
                    .find(|c| c.field == "statements")
                    .and_then(|c| c.old.as_deref());
                self.grant_invoke(kind, old, live).await?;
            }
            ResourceKind::AppClient => self.update_client(live).await?,
            ResourceKind::ClientLocator => self.tag_client_locator(live).await?,
        }
        Ok(None)
    }

    async fn delete(&self, step: &Step, live: &Live) -> Result<Option<Produced>, ProvisionError> {
        match step.id.kind {
            ResourceKind::Role => self.delete_role().await?,
            ResourceKind::EmailIdentity => self.delete_identity(&step.id.name).await?,
            ResourceKind::Function(kind) => self.delete_function(kind).await?,
            // Deleting the function deletes its resource policy and its tags with it.
            ResourceKind::Permission(_) | ResourceKind::ClientLocator => {}
            ResourceKind::UserPool => {
                self.delete_pool(live).await?;
                return Ok(Some(Produced::PoolGone));
            }
            ResourceKind::AppClient => self.delete_client(live).await?,
        }
        Ok(None)
    }
}

enum Produced {
    Pool(PoolRef),
    Client(String),
    PoolGone,
    /// The role exists, its inline policy is still to be put. Creating the functions needs
    /// only the role, and the policy only their invocations, so the policy goes alongside the
    /// next stage instead of delaying it by a round.
    RoleWithoutPolicy,
}

fn pool_of<'l>(live: &'l Live, what: &str) -> Result<&'l PoolRef, ProvisionError> {
    live.user_pool.as_ref().ok_or_else(|| {
        ProvisionError::state(
            what.to_owned(),
            "the user pool does not exist yet; deploy the whole stack",
        )
    })
}

// IAM role and SES identity.
impl Applier<'_> {
    fn iam_tags(&self) -> Vec<aws_sdk_iam::types::Tag> {
        resource_tags(self.spec)
            .into_iter()
            .map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value are set")
            })
            .collect()
    }

    async fn create_role(&self) -> Result<(), ProvisionError> {
        let name = self.names.role();
        let resource = format!("iam role {name}");
        self.clients
            .iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(trust_policy().to_string())
            .description(format!(
                "Runs the sign-in triggers of stack {}",
                self.names.stack
            ))
            .set_tags(Some(self.iam_tags()))
            .send()
            .await
            .map_err(|e| aws_error(&resource, "iam:CreateRole", e))?;
        Ok(())
    }

    async fn put_role_policy_if(&self, due: bool) -> Result<(), ProvisionError> {
        if due {
            self.put_role_policy().await?;
        }
        Ok(())
    }

    async fn put_role_policy(&self) -> Result<(), ProvisionError> {
        let name = self.names.role();
        self.clients
            .iam
            .put_role_policy()
            .role_name(&name)
            .policy_name(self.names.role_policy())
            .policy_document(role_policy(self.spec, self.names).to_string())
            .send()
            .await
            .map_err(|e| aws_error(format!("iam role {name}"), "iam:PutRolePolicy", e))?;
        Ok(())
    }

    async fn update_role(&self, changes: &[FieldChange]) -> Result<(), ProvisionError> {
        let name = self.names.role();
        let resource = format!("iam role {name}");
        let iam = &self.clients.iam;
        for change in changes {
            match change.field {
                "trust_policy" => {
                    iam.update_assume_role_policy()
                        .role_name(&name)
                        .policy_document(trust_policy().to_string())
                        .send()
                        .await
                        .map_err(|e| aws_error(&resource, "iam:UpdateAssumeRolePolicy", e))?;
                }
                "inline_policies" => {
                    self.put_role_policy().await?;
                    for extra in json_keys(change.old.as_deref())
                        .into_iter()
                        .filter(|p| *p != self.names.role_policy())
                    {
                        iam.delete_role_policy()
                            .role_name(&name)
                            .policy_name(extra)
                            .send()
                            .await
                            .map_err(|e| aws_error(&resource, "iam:DeleteRolePolicy", e))?;
                    }
                }
                "managed_policies" => self.detach_managed(&name).await?,
                "tags" => {
                    iam.tag_role()
                        .role_name(&name)
                        .set_tags(Some(self.iam_tags()))
                        .send()
                        .await
                        .map_err(|e| aws_error(&resource, "iam:TagRole", e))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn detach_managed(&self, role: &str) -> Result<(), ProvisionError> {
        let resource = format!("iam role {role}");
        let attached = self
            .clients
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "iam:ListAttachedRolePolicies", e))?;
        for arn in attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
        {
            self.clients
                .iam
                .detach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| aws_error(&resource, "iam:DetachRolePolicy", e))?;
        }
        Ok(())
    }

    async fn delete_role(&self) -> Result<(), ProvisionError> {
        let name = self.names.role();
        let resource = format!("iam role {name}");
        let iam = &self.clients.iam;
        let inline = iam
            .list_role_policies()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "iam:ListRolePolicies", e))?;
        for policy in inline.policy_names() {
            iam.delete_role_policy()
                .role_name(&name)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| aws_error(&resource, "iam:DeleteRolePolicy", e))?;
        }
        self.detach_managed(&name).await?;
        already_gone_is_done(
            iam.delete_role().role_name(&name).send().await,
            |e| e.is_no_such_entity_exception(),
            resource,
            "iam:DeleteRole",
        )
    }

    fn ses_tags(&self) -> Vec<aws_sdk_sesv2::types::Tag> {
        resource_tags(self.spec)
            .into_iter()
            .map(|(k, v)| {
                aws_sdk_sesv2::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value are set")
            })
            .collect()
    }

    async fn create_identity(&self, identity: &str) -> Result<(), ProvisionError> {
        self.clients
            .ses
            .create_email_identity()
            .email_identity(identity)
            .set_tags(Some(self.ses_tags()))
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("ses identity {identity}"),
                    "ses:CreateEmailIdentity",
                    e,
                )
            })?;
        Ok(())
    }

    async fn tag_identity(&self, identity: &str) -> Result<(), ProvisionError> {
        self.clients
            .ses
            .tag_resource()
            .resource_arn(self.names.identity_arn(identity))
            .set_tags(Some(self.ses_tags()))
            .send()
            .await
            .map_err(|e| aws_error(format!("ses identity {identity}"), "ses:TagResource", e))?;
        Ok(())
    }

    async fn delete_identity(&self, identity: &str) -> Result<(), ProvisionError> {
        already_gone_is_done(
            self.clients
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
}

// Lambda functions and their invoke permissions.
impl Applier<'_> {
    fn package(&self, kind: TriggerKind) -> Result<Blob, ProvisionError> {
        self.artifacts
            .map(|a| Blob::new(a.zip(kind)))
            .ok_or_else(|| {
                ProvisionError::state(
                    self.names.function(kind),
                    "no trigger build given; run `cargo xtask build`",
                )
            })
    }

    fn environment(&self, kind: TriggerKind) -> lambda::Environment {
        lambda::Environment::builder()
            .set_variables(Some(
                function_environment(self.spec, kind).into_iter().collect(),
            ))
            .build()
    }

    fn architecture(&self) -> lambda::Architecture {
        lambda::Architecture::from(self.spec.triggers.architecture.as_lambda())
    }

    async fn create_function(&self, kind: TriggerKind) -> Result<(), ProvisionError> {
        let name = self.names.function(kind);
        let code = lambda::FunctionCode::builder()
            .zip_file(self.package(kind)?)
            .build();
        let request = self
            .clients
            .lambda
            .create_function()
            .function_name(&name)
            .runtime(lambda::Runtime::from(crate::desired::RUNTIME))
            .handler(HANDLER)
            .role(self.names.role_arn())
            .architectures(self.architecture())
            .memory_size(self.spec.triggers.memory_mb.get() as i32)
            .timeout(self.spec.triggers.timeout_seconds.get() as i32)
            .environment(self.environment(kind))
            .set_tags(Some(resource_tags(self.spec).into_iter().collect()))
            .code(code);
        retry_while_role_propagates(
            || request.clone().send(),
            |e| {
                aws_error(
                    format!("lambda function {name}"),
                    "lambda:CreateFunction",
                    e,
                )
            },
        )
        .await?;
        Ok(())
    }

    async fn update_function(
        &self,
        kind: TriggerKind,
        code: bool,
        configuration: bool,
        tags: bool,
    ) -> Result<(), ProvisionError> {
        let name = self.names.function(kind);
        let resource = format!("lambda function {name}");
        if code {
            self.wait_until_ready(&name).await?;
            self.clients
                .lambda
                .update_function_code()
                .function_name(&name)
                .zip_file(self.package(kind)?)
                .architectures(self.architecture())
                .send()
                .await
                .map_err(|e| aws_error(&resource, "lambda:UpdateFunctionCode", e))?;
        }
        if configuration {
            self.wait_until_ready(&name).await?;
            let request = self
                .clients
                .lambda
                .update_function_configuration()
                .function_name(&name)
                .runtime(lambda::Runtime::from(crate::desired::RUNTIME))
                .handler(HANDLER)
                .role(self.names.role_arn())
                .memory_size(self.spec.triggers.memory_mb.get() as i32)
                .timeout(self.spec.triggers.timeout_seconds.get() as i32)
                .environment(self.environment(kind));
            retry_while_role_propagates(
                || request.clone().send(),
                |e| aws_error(&resource, "lambda:UpdateFunctionConfiguration", e),
            )
            .await?;
        }
        if tags {
            self.clients
                .lambda
                .tag_resource()
                .resource(self.names.function_arn(kind))
                .set_tags(Some(resource_tags(self.spec).into_iter().collect()))
                .send()
                .await
                .map_err(|e| aws_error(&resource, "lambda:TagResource", e))?;
        }
        Ok(())
    }

    /// Lambda rejects an update while the function is Pending or another update runs.
    async fn wait_until_ready(&self, name: &str) -> Result<(), ProvisionError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            let config = self
                .clients
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(|e| {
                    aws_error(
                        format!("lambda function {name}"),
                        "lambda:GetFunctionConfiguration",
                        e,
                    )
                })?;
            let active = config.state().is_none_or(|s| *s == lambda::State::Active);
            let settled = config
                .last_update_status()
                .is_none_or(|s| *s != lambda::LastUpdateStatus::InProgress);
            if active && settled {
                return Ok(());
            }
            if started.elapsed() > FUNCTION_READY_DEADLINE {
                return Err(ProvisionError::state(
                    format!("lambda function {name}"),
                    format!(
                        "still not ready after {} s (state {:?}, last update {:?}); look at the function in the console and deploy again",
                        FUNCTION_READY_DEADLINE.as_secs(),
                        config.state(),
                        config.last_update_status()
                    ),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    async fn delete_function(&self, kind: TriggerKind) -> Result<(), ProvisionError> {
        let name = self.names.function(kind);
        already_gone_is_done(
            self.clients
                .lambda
                .delete_function()
                .function_name(&name)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            format!("lambda function {name}"),
            "lambda:DeleteFunction",
        )
    }

    /// Leaves exactly one statement: Cognito, from our pool, in our account.
    async fn grant_invoke(
        &self,
        kind: TriggerKind,
        old_statements: Option<&str>,
        live: &Live,
    ) -> Result<(), ProvisionError> {
        let name = self.names.function(kind);
        let resource = format!("invoke permission {name}");
        let pool = pool_of(live, &resource)?;
        let old: Vec<serde_json::Value> = old_statements
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        for sid in old
            .iter()
            .filter_map(|s| s["sid"].as_str())
            .filter(|sid| !sid.is_empty())
        {
            already_gone_is_done(
                self.clients
                    .lambda
                    .remove_permission()
                    .function_name(&name)
                    .statement_id(sid)
                    .send()
                    .await,
                |e| e.is_resource_not_found_exception(),
                &resource,
                "lambda:RemovePermission",
            )?;
        }
        self.clients
            .lambda
            .add_permission()
            .function_name(&name)
            .statement_id(PERMISSION_STATEMENT_ID)
            .action("lambda:InvokeFunction")
            .principal(COGNITO_PRINCIPAL)
            .source_arn(&pool.arn)
            .source_account(&self.names.account)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "lambda:AddPermission", e))?;
        Ok(())
    }
}

/// Retries a call Lambda refuses because IAM has not yet propagated a new role.
async fn retry_while_role_propagates<T, E, F, Fut>(
    mut call: F,
    on_error: impl Fn(
        aws_sdk_lambda::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> ProvisionError,
) -> Result<T, ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: Future<
        Output = Result<
            T,
            aws_sdk_lambda::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
        >,
    >,
    E: aws_sdk_lambda::error::ProvideErrorMetadata,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) => {
                let propagating = error.as_service_error().is_some_and(|e| {
                    e.code() == Some("InvalidParameterValueException")
                        && e.message().is_some_and(|m| m.contains("cannot be assumed"))
                });
                if !propagating || started.elapsed() + pause > ROLE_PROPAGATION_DEADLINE {
                    return Err(on_error(error));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
        }
    }
}

// Cognito user pool and app client.
impl Applier<'_> {
    fn lambda_config(
        &self,
        existing: Option<&cognito::LambdaConfigType>,
    ) -> cognito::LambdaConfigType {
        // Keep any trigger we do not manage (pre sign-up, custom message, ...).
        let base = existing
            .cloned()
            .unwrap_or_else(|| cognito::LambdaConfigType::builder().build());
        let mut config = base;
        config.define_auth_challenge = Some(self.names.function_arn(TriggerKind::Define));
        config.create_auth_challenge = Some(self.names.function_arn(TriggerKind::Create));
        config.verify_auth_challenge_response = Some(self.names.function_arn(TriggerKind::Verify));
        config
    }

    fn deletion_protection(&self) -> cognito::DeletionProtectionType {
        if self.spec.user_pool.deletion_protection {
            cognito::DeletionProtectionType::Active
        } else {
            cognito::DeletionProtectionType::Inactive
        }
    }

    async fn create_pool(&self) -> Result<PoolRef, ProvisionError> {
        let name = self.names.user_pool();
        let resource = format!("user pool {name}");
        let created = self
            .clients
            .cognito
            .create_user_pool()
            .pool_name(&name)
            .username_attributes(cognito::UsernameAttributeType::Email)
            .auto_verified_attributes(cognito::VerifiedAttributeType::Email)
            // Users are added by an administrator (`cargo xtask users add`); nobody signs up alone.
            .admin_create_user_config(
                cognito::AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(true)
                    .build(),
            )
            .lambda_config(self.lambda_config(None))
            .deletion_protection(self.deletion_protection())
            .set_user_pool_tags(Some(resource_tags(self.spec).into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws_error(&resource, "cognito-idp:CreateUserPool", e))?;
        let pool = created
            .user_pool
            .ok_or_else(|| ProvisionError::state(&resource, "CreateUserPool returned no pool"))?;
        Ok(PoolRef {
            id: pool.id.unwrap_or_default(),
            arn: pool.arn.unwrap_or_default(),
        })
    }

    /// UpdateUserPool resets every field it is not given, so send all of them: what the
    /// pool has now, with our fields changed.
    async fn update_pool(&self, live: &Live) -> Result<(), ProvisionError> {
        let resource = format!("user pool {}", self.names.user_pool());
        let pool_ref = pool_of(live, &resource)?;
        let described = self
            .clients
            .cognito
            .describe_user_pool()
            .user_pool_id(&pool_ref.id)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "cognito-idp:DescribeUserPool", e))?;
        let pool = described
            .user_pool
            .ok_or_else(|| ProvisionError::state(&resource, "DescribeUserPool returned no pool"))?;
        let mut tags = pool.user_pool_tags.clone().unwrap_or_default();
        tags.extend(resource_tags(self.spec));
        self.clients
            .cognito
            .update_user_pool()
            .user_pool_id(&pool_ref.id)
            .set_policies(pool.policies)
            .deletion_protection(self.deletion_protection())
            .lambda_config(self.lambda_config(pool.lambda_config.as_ref()))
            .set_auto_verified_attributes(pool.auto_verified_attributes)
            .set_sms_verification_message(pool.sms_verification_message)
            .set_email_verification_message(pool.email_verification_message)
            .set_email_verification_subject(pool.email_verification_subject)
            .set_verification_message_template(pool.verification_message_template)
            .set_sms_authentication_message(pool.sms_authentication_message)
            .set_user_attribute_update_settings(pool.user_attribute_update_settings)
            .set_mfa_configuration(pool.mfa_configuration)
            .set_device_configuration(pool.device_configuration)
            .set_email_configuration(pool.email_configuration)
            .set_sms_configuration(pool.sms_configuration)
            .set_user_pool_tags(Some(tags))
            .set_admin_create_user_config(pool.admin_create_user_config)
            .set_user_pool_add_ons(pool.user_pool_add_ons)
            .set_account_recovery_setting(pool.account_recovery_setting)
            .set_pool_name(pool.name)
            .set_user_pool_tier(pool.user_pool_tier)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "cognito-idp:UpdateUserPool", e))?;
        Ok(())
    }

    async fn delete_pool(&self, live: &Live) -> Result<(), ProvisionError> {
        let resource = format!("user pool {}", self.names.user_pool());
        let Some(pool) = &live.user_pool else {
            return Ok(());
        };
        already_gone_is_done(
            self.clients
                .cognito
                .delete_user_pool()
                .user_pool_id(&pool.id)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            resource,
            "cognito-idp:DeleteUserPool",
        )
    }

    fn token_units() -> cognito::TokenValidityUnitsType {
        cognito::TokenValidityUnitsType::builder()
            .access_token(cognito::TimeUnitsType::Minutes)
            .id_token(cognito::TimeUnitsType::Minutes)
            .refresh_token(cognito::TimeUnitsType::Days)
            .build()
    }

    fn lifetimes(&self) -> (i32, i32, i32) {
        let client = &self.spec.app_client;
        let minutes = |m: Option<u32>, default: u32| m.unwrap_or(default) as i32;
        (
            minutes(
                client.access_token_minutes.map(|m| m.get()),
                crate::desired::DEFAULT_ACCESS_TOKEN_MINUTES,
            ),
            minutes(
                client.id_token_minutes.map(|m| m.get()),
                crate::desired::DEFAULT_ID_TOKEN_MINUTES,
            ),
            minutes(
                client.refresh_token_days.map(|d| d.get()),
                crate::desired::DEFAULT_REFRESH_TOKEN_DAYS,
            ),
        )
    }

    fn auth_flows() -> Vec<cognito::ExplicitAuthFlowsType> {
        AUTH_FLOWS
            .iter()
            .map(|f| cognito::ExplicitAuthFlowsType::from(*f))
            .collect()
    }

    async fn create_client(&self, live: &Live) -> Result<String, ProvisionError> {
        let name = self.names.app_client();
        let resource = format!("app client {name}");
        let pool = pool_of(live, &resource)?;
        let (access, id, refresh) = self.lifetimes();
        let created = self
            .clients
            .cognito
            .create_user_pool_client()
            .user_pool_id(&pool.id)
            .client_name(&name)
            .generate_secret(false)
            .set_explicit_auth_flows(Some(Self::auth_flows()))
            .prevent_user_existence_errors(cognito::PreventUserExistenceErrorTypes::Enabled)
            .auth_session_validity(self.spec.app_client.auth_session_minutes.get() as i32)
            .access_token_validity(access)
            .id_token_validity(id)
            .refresh_token_validity(refresh)
            .token_validity_units(Self::token_units())
            .enable_token_revocation(true)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "cognito-idp:CreateUserPoolClient", e))?;
        created
            .user_pool_client
            .and_then(|c| c.client_id)
            .ok_or_else(|| {
                ProvisionError::state(resource, "CreateUserPoolClient returned no client id")
            })
    }

    /// Like the pool: UpdateUserPoolClient resets what it is not given, so merge first.
    async fn update_client(&self, live: &Live) -> Result<(), ProvisionError> {
        let resource = format!("app client {}", self.names.app_client());
        let pool = pool_of(live, &resource)?;
        let client_id = live
            .app_client_id
            .as_deref()
            .ok_or_else(|| ProvisionError::state(&resource, "the app client does not exist yet"))?;
        let described = self
            .clients
            .cognito
            .describe_user_pool_client()
            .user_pool_id(&pool.id)
            .client_id(client_id)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "cognito-idp:DescribeUserPoolClient", e))?;
        let client = described.user_pool_client.ok_or_else(|| {
            ProvisionError::state(&resource, "DescribeUserPoolClient returned no client")
        })?;
        let (access, id, refresh) = self.lifetimes();
        self.clients
            .cognito
            .update_user_pool_client()
            .user_pool_id(&pool.id)
            .client_id(client_id)
            .set_client_name(client.client_name)
            .refresh_token_validity(refresh)
            .access_token_validity(access)
            .id_token_validity(id)
            .token_validity_units(Self::token_units())
            .set_read_attributes(client.read_attributes)
            .set_write_attributes(client.write_attributes)
            .set_explicit_auth_flows(Some(Self::auth_flows()))
            .set_supported_identity_providers(client.supported_identity_providers)
            .set_callback_urls(client.callback_urls)
            .set_logout_urls(client.logout_urls)
            .set_default_redirect_uri(client.default_redirect_uri)
            .set_allowed_o_auth_flows(client.allowed_o_auth_flows)
            .set_allowed_o_auth_scopes(client.allowed_o_auth_scopes)
            .set_allowed_o_auth_flows_user_pool_client(client.allowed_o_auth_flows_user_pool_client)
            .set_analytics_configuration(client.analytics_configuration)
            .prevent_user_existence_errors(cognito::PreventUserExistenceErrorTypes::Enabled)
            .enable_token_revocation(true)
            .set_enable_propagate_additional_user_context_data(
                client.enable_propagate_additional_user_context_data,
            )
            .auth_session_validity(self.spec.app_client.auth_session_minutes.get() as i32)
            .set_refresh_token_rotation(client.refresh_token_rotation)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "cognito-idp:UpdateUserPoolClient", e))?;
        Ok(())
    }

    async fn tag_client_locator(&self, live: &Live) -> Result<(), ProvisionError> {
        let resource = format!(
            "app client locator on {}",
            self.names.function(TriggerKind::Define)
        );
        let (Some(pool), Some(client_id)) = (&live.user_pool, &live.app_client_id) else {
            return Err(ProvisionError::state(
                resource,
                "the app client does not exist yet; deploy the whole stack",
            ));
        };
        self.clients
            .lambda
            .tag_resource()
            .resource(self.names.function_arn(TriggerKind::Define))
            .tags(CLIENT_LOCATOR_TAG, client_locator(&pool.id, client_id))
            .send()
            .await
            .map_err(|e| aws_error(resource, "lambda:TagResource", e))?;
        Ok(())
    }

    async fn delete_client(&self, live: &Live) -> Result<(), ProvisionError> {
        let resource = format!("app client {}", self.names.app_client());
        let (Some(pool), Some(client_id)) = (&live.user_pool, &live.app_client_id) else {
            return Ok(());
        };
        already_gone_is_done(
            self.clients
                .cognito
                .delete_user_pool_client()
                .user_pool_id(&pool.id)
                .client_id(client_id)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            resource,
            "cognito-idp:DeleteUserPoolClient",
        )
    }
}

/// Turns deletion protection off on our own pool, for `teardown --force`.
pub async fn unprotect_pool(
    clients: &Clients,
    names: &Names,
    pool: &PoolRef,
    spec: &StackSpec,
) -> Result<(), ProvisionError> {
    let mut unprotected = spec.clone();
    unprotected.user_pool.deletion_protection = false;
    let applier = Applier {
        clients,
        spec: &unprotected,
        names,
        artifacts: None,
        report: &|_, _| {},
    };
    applier
        .update_pool(&Live {
            user_pool: Some(pool.clone()),
            app_client_id: None,
        })
        .await
}

fn json_keys(text: Option<&str>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(t).ok())
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}
