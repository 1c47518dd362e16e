//! The floor for any deployer: a plain script that only sends the create calls, each stage
//! at once, with no reading, no planning and no checks, and then waits for the functions to
//! be Active, as CDK and our deploy do. It deploys the same resources as our deploy, with the
//! same values the spec gives them, tagged as the stack's so our teardown removes them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime, State};
use provisioner::artifacts::Artifacts;
use provisioner::naming::{Names, TriggerKind};
use provisioner::session::Session;
use provisioner::spec::StackSpec;

/// Times the script for the stack spec at `stack`, which must not exist yet. The names come
/// from the spec and the emulator's account, as a script would have them written in.
pub(super) async fn deploy_from_nothing(
    stack: &Path,
    artifacts: &Artifacts,
    names: &Names,
) -> Result<Duration> {
    let spec = StackSpec::load(stack)?;
    let packages = artifacts.for_stack(&spec.email_templates)?;
    let owner = (
        provisioner::naming::OWNER_TAG.to_owned(),
        spec.name.as_str().to_owned(),
    );
    let started = Instant::now();
    let clients = provisioner::aws::connect(&spec).await;
    let role = clients
        .iam
        .create_role()
        .role_name(names.role())
        .assume_role_policy_document(provisioner::resources::role::trust_policy().to_string())
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key(&owner.0)
                .value(&owner.1)
                .build()?,
        )
        .send()
        .await?;
    let role_arn = role
        .role
        .map(|r| r.arn)
        .context("CreateRole returned no role")?;
    let policy = clients
        .iam
        .put_role_policy()
        .role_name(names.role())
        .policy_name(names.role_policy())
        .policy_document(
            provisioner::resources::role::trigger_policy(
                names,
                spec.email.from.as_str(),
                &sandbox(&spec),
                false,
            )
            .to_string(),
        )
        .send();
    let identity = clients
        .ses
        .create_email_identity()
        .email_identity(spec.ses_identity())
        .tags(
            aws_sdk_sesv2::types::Tag::builder()
                .key(&owner.0)
                .value(&owner.1)
                .build()?,
        )
        .send();
    let table = clients
        .dynamodb
        .create_table()
        .table_name(names.limits_table())
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()?,
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()?,
        )
        .tags(
            aws_sdk_dynamodb::types::Tag::builder()
                .key(&owner.0)
                .value(&owner.1)
                .build()?,
        )
        .send();
    let functions = futures_util::future::try_join_all(TriggerKind::CUSTOM_AUTH.map(|kind| {
        let (clients, role_arn, spec, packages, owner) =
            (&clients, &role_arn, &spec, &packages, &owner);
        async move {
            clients
                .lambda
                .create_function()
                .function_name(names.function(kind))
                .runtime(Runtime::Providedal2023)
                .handler("bootstrap")
                .role(role_arn)
                .memory_size(128)
                .timeout(5)
                .environment(
                    Environment::builder()
                        .set_variables(Some(
                            provisioner::resources::function_environment(spec, names, kind)
                                .into_iter()
                                .collect(),
                        ))
                        .build(),
                )
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(packages.zip(kind)))
                        .build(),
                )
                .tags(&owner.0, &owner.1)
                .send()
                .await
        }
    }));
    let (_, _, _, _) = tokio::try_join!(
        async { policy.await.map_err(anyhow::Error::from) },
        async { identity.await.map_err(anyhow::Error::from) },
        async { table.await.map_err(anyhow::Error::from) },
        async { functions.await.map_err(anyhow::Error::from) },
    )?;
    let pool = clients
        .cognito
        .create_user_pool()
        .pool_name(names.user_pool())
        .user_pool_tags(&owner.0, &owner.1)
        .username_attributes(aws_sdk_cognitoidentityprovider::types::UsernameAttributeType::Email)
        .lambda_config(
            aws_sdk_cognitoidentityprovider::types::LambdaConfigType::builder()
                .define_auth_challenge(names.function_arn(TriggerKind::Define))
                .create_auth_challenge(names.function_arn(TriggerKind::Create))
                .verify_auth_challenge_response(names.function_arn(TriggerKind::Verify))
                .build(),
        )
        .send()
        .await?
        .user_pool
        .context("CreateUserPool returned no pool")?;
    let (pool_id, pool_arn) = (pool.id.unwrap_or_default(), pool.arn.unwrap_or_default());
    let permissions = futures_util::future::try_join_all(TriggerKind::CUSTOM_AUTH.map(|kind| {
        clients
            .lambda
            .add_permission()
            .function_name(names.function(kind))
            .statement_id("cognito")
            .action("lambda:InvokeFunction")
            .principal("cognito-idp.amazonaws.com")
            .source_arn(&pool_arn)
            .send()
    }));
    let client = clients
        .cognito
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name(names.app_client())
        .explicit_auth_flows(
            aws_sdk_cognitoidentityprovider::types::ExplicitAuthFlowsType::AllowCustomAuth,
        )
        .explicit_auth_flows(
            aws_sdk_cognitoidentityprovider::types::ExplicitAuthFlowsType::AllowRefreshTokenAuth,
        )
        .send();
    let (permissions, client) = tokio::join!(permissions, client);
    permissions?;
    client?;
    for kind in TriggerKind::CUSTOM_AUTH {
        wait_until_active(&clients.lambda, &names.function(kind)).await?;
    }
    Ok(started.elapsed())
}

fn sandbox(spec: &StackSpec) -> provisioner::resources::SesScope {
    provisioner::resources::SesScope {
        identity: spec.ses_identity().to_owned(),
        sandbox: true,
        configuration_set: None,
        unread: None,
    }
}

async fn wait_until_active(lambda: &aws_sdk_lambda::Client, name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await?
            .state;
        if state == Some(State::Active) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{name} was not Active after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The names a script for `stack` would have written in: those our deploy uses.
pub(super) async fn names(stack: &Path) -> Result<Names> {
    Ok(Session::open(stack).await?.observation.names)
}
