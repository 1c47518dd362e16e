//! Observed state: read-only calls that find what exists under the stack's names and
//! turn it into the same fields desired state uses.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_cognitoidentityprovider::types::{TimeUnitsType, UserPoolClientType, UserPoolType};
use futures_util::future::try_join_all;

use crate::artifacts::TriggerKind;
use crate::aws::Clients;
use crate::desired::{
    CLIENT_LOCATOR_FIELD, CLIENT_LOCATOR_TAG, Names, OWNER_TAG, canonical_json,
    lambda_triggers_field, list_field, map_field, parse_client_locator,
};
use crate::error::{ProvisionError, aws_error};
use crate::model::{Fields, Observed, ObservedState, ResourceId, ResourceKind};
use crate::spec::StackSpec;

/// What observation found, plus the identifiers later phases need.
#[derive(Debug, Clone)]
pub struct Observation {
    pub names: Names,
    pub state: ObservedState,
    /// Whether SES will send from the identity; `None` while it does not exist.
    pub identity_verified: Option<bool>,
    pub user_pool: Option<PoolRef>,
    pub app_client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRef {
    pub id: String,
    pub arn: String,
}

/// Every lookup starts in the first round. The longest chain is the pool's: list pools, then
/// describe the pool, list its clients and describe the client the locator names, all in
/// the second round. Only without a valid locator does describing the client take a third.
pub async fn observe(clients: &Clients, spec: &StackSpec) -> Result<Observation, ProvisionError> {
    // Resource names do not depend on the account; only ARNs do, and those are built after.
    let lookup = Names::new(spec, "");
    let tagging = &Tagging::for_spec(spec);
    let identity_id = ResourceId {
        kind: ResourceKind::EmailIdentity,
        name: spec.ses_identity().to_owned(),
    };
    // Boxed: SDK futures are large, and joined on the stack they overflow a test thread's.
    let (account, role, identity, (functions, pool)) = tokio::try_join!(
        Box::pin(account_id(clients)),
        Box::pin(observe_role(clients, &lookup, tagging)),
        Box::pin(observe_identity(clients, &identity_id.name, tagging)),
        Box::pin(observe_functions_and_pool(clients, &lookup, tagging)),
    )?;
    let names = Names::new(spec, &account);
    let (identity, identity_verified) = identity;
    let mut state = ObservedState::default();
    state.resources.insert(names.id(ResourceKind::Role), role);
    state.resources.insert(identity_id, identity);
    state
        .resources
        .insert(names.id(ResourceKind::ClientLocator), functions.locator);
    for (kind, function, permission) in functions.triggers {
        state
            .resources
            .insert(names.id(ResourceKind::Function(kind)), function);
        state
            .resources
            .insert(names.id(ResourceKind::Permission(kind)), permission);
    }
    let (pool_observed, user_pool, client_observed, app_client_id) = pool;
    state
        .resources
        .insert(names.id(ResourceKind::UserPool), pool_observed);
    state
        .resources
        .insert(names.id(ResourceKind::AppClient), client_observed);
    Ok(Observation {
        names,
        state,
        identity_verified,
        user_pool,
        app_client_id,
    })
}

pub async fn account_id(clients: &Clients) -> Result<String, ProvisionError> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error("the caller's account", "sts:GetCallerIdentity", e))?;
    identity
        .account()
        .map(str::to_owned)
        .ok_or_else(|| ProvisionError::state("the caller's account", "STS returned no account id"))
}

/// Which tags are ours: the ownership tag tells whether a resource is this stack's, and
/// only the keys the spec sets are compared. Tags others add (cost allocation, tag
/// policies) are not this stack's configuration, so they are neither drift nor removed.
pub struct Tagging {
    owner: String,
    managed: std::collections::BTreeSet<String>,
}

impl Tagging {
    pub fn for_spec(spec: &StackSpec) -> Self {
        Self {
            owner: spec.name.as_str().to_owned(),
            managed: crate::desired::resource_tags(spec).into_keys().collect(),
        }
    }

    fn owns(&self, owner_tag: Option<&str>) -> bool {
        owner_tag == Some(self.owner.as_str())
    }

    /// The `tags` field: the managed keys only.
    fn field<K: AsRef<str>, V: AsRef<str>>(
        &self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> String {
        map_field(
            tags.into_iter()
                .filter(|(key, _)| self.managed.contains(key.as_ref())),
        )
    }
}

fn owned_or_not(
    tags: Option<&str>,
    tagging: &Tagging,
    fields: impl FnOnce() -> Fields,
) -> Observed {
    if tagging.owns(tags) {
        Observed::Owned(fields())
    } else {
        Observed::Unowned
    }
}

fn decode_policy(encoded: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    serde_json::from_str::<serde_json::Value>(&decoded)
        .map_or_else(|_| decoded.into_owned(), |v| canonical_json(&v))
}

async fn observe_role(
    clients: &Clients,
    names: &Names,
    tagging: &Tagging,
) -> Result<Observed, ProvisionError> {
    let role_name = names.role();
    let our_policy = names.role_policy();
    let resource = format!("iam role {role_name}");
    let iam = &clients.iam;
    // All four in one round; the role's absence or ownership decides what the rest mean.
    let (role, inline, attached, ours) = tokio::join!(
        iam.get_role().role_name(&role_name).send(),
        iam.list_role_policies().role_name(&role_name).send(),
        iam.list_attached_role_policies()
            .role_name(&role_name)
            .send(),
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
    let tags: BTreeMap<String, String> = role
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    if !tagging.owns(tags.get(OWNER_TAG).map(String::as_str)) {
        return Ok(Observed::Unowned);
    }
    let inline = inline.map_err(|e| aws_error(&resource, "iam:ListRolePolicies", e))?;
    let attached = attached.map_err(|e| aws_error(&resource, "iam:ListAttachedRolePolicies", e))?;
    let mut documents = BTreeMap::new();
    match ours {
        Ok(policy) => {
            documents.insert(our_policy.clone(), policy.policy_document);
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) => {}
        Err(e) => return Err(aws_error(&resource, "iam:GetRolePolicy", e)),
    }
    // Policies someone else added: read only when there are any.
    let others: Vec<&String> = inline
        .policy_names()
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
    let inline_policies: serde_json::Map<String, serde_json::Value> = documents
        .into_iter()
        .filter(|(name, _)| inline.policy_names().contains(name))
        .map(|(name, document)| {
            let parsed = serde_json::from_str(&decode_policy(&document))
                .unwrap_or(serde_json::Value::String(document));
            (name, parsed)
        })
        .collect();
    Ok(Observed::Owned(Fields::from([
        (
            "trust_policy",
            role.assume_role_policy_document()
                .map(decode_policy)
                .unwrap_or_default(),
        ),
        (
            "inline_policies",
            canonical_json(&serde_json::Value::Object(inline_policies)),
        ),
        (
            "managed_policies",
            list_field(
                attached
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn()),
            ),
        ),
        ("tags", tagging.field(&tags)),
    ])))
}

/// The identity as observed, and whether SES will send from it (when it exists).
async fn observe_identity(
    clients: &Clients,
    identity: &str,
    tagging: &Tagging,
) -> Result<(Observed, Option<bool>), ProvisionError> {
    match clients
        .ses
        .get_email_identity()
        .email_identity(identity)
        .send()
        .await
    {
        Ok(output) => {
            let tags: BTreeMap<&str, &str> =
                output.tags().iter().map(|t| (t.key(), t.value())).collect();
            let observed = owned_or_not(tags.get(OWNER_TAG).copied(), tagging, || {
                Fields::from([("tags", tagging.field(&tags))])
            });
            Ok((observed, Some(output.verified_for_sending_status())))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            Ok((Observed::Absent, None))
        }
        Err(e) => Err(aws_error(
            format!("ses identity {identity}"),
            "ses:GetEmailIdentity",
            e,
        )),
    }
}

/// The functions in the first round, alongside the pool list; the Define function's
/// locator tag then lets the pool's second round describe the client too.
async fn observe_functions_and_pool(
    clients: &Clients,
    names: &Names,
    tagging: &Tagging,
) -> Result<(FunctionsObserved, PoolObservation), ProvisionError> {
    let (functions, candidates) = tokio::try_join!(
        observe_functions(clients, names, tagging),
        list_pool_candidates(clients, names),
    )?;
    let locator = match &functions.locator {
        Observed::Owned(fields) => fields.get(CLIENT_LOCATOR_FIELD).map(String::as_str),
        Observed::Absent | Observed::Unowned => None,
    };
    let pool = observe_pool(
        clients,
        names,
        tagging,
        &candidates,
        locator.and_then(parse_client_locator),
    )
    .await?;
    Ok((functions, pool))
}

struct FunctionsObserved {
    /// Each trigger's function and its invoke permission.
    triggers: Vec<(TriggerKind, Observed, Observed)>,
    locator: Observed,
}

async fn observe_functions(
    clients: &Clients,
    names: &Names,
    tagging: &Tagging,
) -> Result<FunctionsObserved, ProvisionError> {
    let lookups = TriggerKind::ALL.map(|kind| async move {
        let ((function, locator), permission) = tokio::try_join!(
            observe_function(clients, names, kind, tagging),
            observe_permission(clients, names, kind),
        )?;
        let permission = part_of(&function, permission);
        let locator = part_of(
            &function,
            locator.map(|value| Fields::from([(CLIENT_LOCATOR_FIELD, value)])),
        );
        Ok::<_, ProvisionError>(((kind, function, permission), locator))
    });
    let [define, create, verify] = lookups;
    let ((define, locator), (create, _), (verify, _)) = tokio::try_join!(define, create, verify)?;
    Ok(FunctionsObserved {
        triggers: vec![define, create, verify],
        locator,
    })
}

/// A function's permission and its locator tag are ours exactly when the function is.
fn part_of(function: &Observed, part: Option<Fields>) -> Observed {
    match (function, part) {
        (Observed::Owned(_), Some(fields)) => Observed::Owned(fields),
        (Observed::Owned(_), None) | (Observed::Absent, _) => Observed::Absent,
        (Observed::Unowned, _) => Observed::Unowned,
    }
}

async fn observe_function(
    clients: &Clients,
    names: &Names,
    kind: TriggerKind,
    tagging: &Tagging,
) -> Result<(Observed, Option<String>), ProvisionError> {
    let name = names.function(kind);
    let output = match clients
        .lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
    {
        Ok(output) => output,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok((Observed::Absent, None));
        }
        Err(e) => {
            return Err(aws_error(
                format!("lambda function {name}"),
                "lambda:GetFunction",
                e,
            ));
        }
    };
    let tags: BTreeMap<String, String> = output
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let Some(config) = output.configuration() else {
        return Ok((Observed::Absent, None));
    };
    let locator = tags.get(CLIENT_LOCATOR_TAG).cloned();
    let function = owned_or_not(tags.get(OWNER_TAG).map(String::as_str), tagging, || {
        let environment: BTreeMap<String, String> = config
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        Fields::from([
            (
                "runtime",
                config
                    .runtime()
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            ("handler", config.handler().unwrap_or_default().to_owned()),
            (
                "architecture",
                list_field(config.architectures().iter().map(|a| a.as_str())),
            ),
            (
                "memory_mb",
                config
                    .memory_size()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            ),
            (
                "timeout_seconds",
                config.timeout().map(|t| t.to_string()).unwrap_or_default(),
            ),
            ("role", config.role().unwrap_or_default().to_owned()),
            ("environment", map_field(&environment)),
            (
                "code_sha256",
                config.code_sha256().unwrap_or_default().to_owned(),
            ),
            ("tags", tagging.field(&tags)),
        ])
    });
    Ok((function, locator))
}

/// The function's resource policy, reduced to the fields we manage per statement.
async fn observe_permission(
    clients: &Clients,
    names: &Names,
    kind: TriggerKind,
) -> Result<Option<Fields>, ProvisionError> {
    let name = names.function(kind);
    let policy = match clients
        .lambda
        .get_policy()
        .function_name(&name)
        .send()
        .await
    {
        Ok(output) => output.policy.unwrap_or_default(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(aws_error(
                format!("invoke permission {name}"),
                "lambda:GetPolicy",
                e,
            ));
        }
    };
    let document: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
    let statements: Vec<serde_json::Value> = document["Statement"]
        .as_array()
        .map(|statements| statements.iter().map(summarize_statement).collect())
        .unwrap_or_default();
    if statements.is_empty() {
        return Ok(None);
    }
    Ok(Some(Fields::from([(
        "statements",
        canonical_json(&serde_json::Value::Array(statements)),
    )])))
}

fn summarize_statement(statement: &serde_json::Value) -> serde_json::Value {
    let principal = &statement["Principal"];
    let principal = principal["Service"]
        .as_str()
        .or_else(|| principal.as_str())
        .unwrap_or("(other)");
    let action = statement["Action"].as_str().unwrap_or("(other)");
    let condition = &statement["Condition"];
    serde_json::json!({
        "sid": statement["Sid"].as_str().unwrap_or_default(),
        "principal": principal,
        "action": action,
        "source_arn": condition["ArnLike"]["AWS:SourceArn"].as_str().unwrap_or("(none)"),
        "source_account": condition["StringEquals"]["AWS:SourceAccount"].as_str().unwrap_or("(none)"),
    })
}

type PoolObservation = (Observed, Option<PoolRef>, Observed, Option<String>);

/// The ids of every pool with the stack's pool name; ownership is decided once described.
async fn list_pool_candidates(
    clients: &Clients,
    names: &Names,
) -> Result<Vec<String>, ProvisionError> {
    let pool_name = names.user_pool();
    let resource = format!("user pool {pool_name}");
    let mut candidates = Vec::new();
    let mut next_token = None;
    loop {
        let page = clients
            .cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| aws_error(&resource, "cognito-idp:ListUserPools", e))?;
        candidates.extend(
            page.user_pools()
                .iter()
                .filter(|p| p.name() == Some(pool_name.as_str()))
                .filter_map(|p| p.id().map(str::to_owned)),
        );
        next_token = page.next_token;
        if next_token.is_none() {
            break;
        }
    }
    Ok(candidates)
}

async fn observe_pool(
    clients: &Clients,
    names: &Names,
    tagging: &Tagging,
    candidates: &[String],
    locator: Option<(&str, &str)>,
) -> Result<PoolObservation, ProvisionError> {
    let resource = &format!("user pool {}", names.user_pool());
    let client_name = names.app_client();
    // Listing a candidate's clients, and describing the client the locator names, alongside
    // describing the pool saves rounds for our pool, at the price of one wasted list for a
    // same-named pool that is not ours.
    let looked_up = try_join_all(candidates.iter().map(|id| async move {
        let located = locator
            .filter(|(pool, _)| pool == id)
            .map(|(_, client)| client);
        let (described, listed, located) = tokio::join!(
            clients.cognito.describe_user_pool().user_pool_id(id).send(),
            clients
                .cognito
                .list_user_pool_clients()
                .user_pool_id(id)
                .max_results(60)
                .send(),
            describe_located_client(clients, id, located),
        );
        let pool = described
            .map_err(|e| aws_error(resource, "cognito-idp:DescribeUserPool", e))?
            .user_pool;
        Ok::<_, ProvisionError>((pool, listed, located))
    }))
    .await?;
    let mut ours = Vec::new();
    let mut foreign = false;
    for (pool, listed, located) in looked_up.into_iter() {
        let Some(pool) = pool else { continue };
        let tag = pool.user_pool_tags().and_then(|tags| tags.get(OWNER_TAG));
        if tagging.owns(tag.map(String::as_str)) {
            ours.push((pool, listed, located));
        } else {
            foreign = true;
        }
    }
    let (pool, listed, located) = match ours.len() {
        0 if foreign => return Ok((Observed::Unowned, None, Observed::Absent, None)),
        0 => return Ok((Observed::Absent, None, Observed::Absent, None)),
        1 => ours.remove(0),
        n => {
            return Err(ProvisionError::state(
                resource,
                format!(
                    "{n} pools carry this stack's ownership tag; delete the extra ones so exactly one remains"
                ),
            ));
        }
    };
    let pool_ref = PoolRef {
        id: pool.id().unwrap_or_default().to_owned(),
        arn: pool.arn().unwrap_or_default().to_owned(),
    };
    let client_resource = format!("app client {client_name}");
    let listed =
        listed.map_err(|e| aws_error(&client_resource, "cognito-idp:ListUserPoolClients", e))?;
    let client_id = listed
        .user_pool_clients()
        .iter()
        .find(|c| c.client_name() == Some(client_name.as_str()))
        .and_then(|c| c.client_id())
        .map(str::to_owned);
    // The list decides which client is ours; the located one saves a round when it agrees.
    let (client, client_id) = match client_id {
        Some(id) => match located.filter(|c| c.client_id() == Some(id.as_str())) {
            Some(client) => (Observed::Owned(client_fields(&client)), Some(id)),
            None => observe_client(clients, &client_resource, &pool_ref.id, id).await?,
        },
        None => (Observed::Absent, None),
    };
    Ok((
        Observed::Owned(pool_fields(&pool, tagging)),
        Some(pool_ref),
        client,
        client_id,
    ))
}

fn pool_fields(pool: &UserPoolType, tagging: &Tagging) -> Fields {
    let lambda = pool.lambda_config();
    let arn = |kind: TriggerKind| {
        lambda
            .and_then(|l| match kind {
                TriggerKind::Define => l.define_auth_challenge(),
                TriggerKind::Create => l.create_auth_challenge(),
                TriggerKind::Verify => l.verify_auth_challenge_response(),
            })
            .unwrap_or("(none)")
            .to_owned()
    };
    let tags: HashMap<String, String> = pool.user_pool_tags().cloned().unwrap_or_default();
    Fields::from([
        (
            "username_attributes",
            list_field(pool.username_attributes().iter().map(|a| a.as_str())),
        ),
        ("lambda_triggers", lambda_triggers_field(arn)),
        (
            "deletion_protection",
            pool.deletion_protection()
                .map_or("INACTIVE", |d| d.as_str())
                .to_owned(),
        ),
        ("tags", tagging.field(&tags)),
    ])
}

/// A read on speculation: a stale or missing locator only costs the round it would have saved.
async fn describe_located_client(
    clients: &Clients,
    pool_id: &str,
    client_id: Option<&str>,
) -> Option<UserPoolClientType> {
    clients
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(client_id?)
        .send()
        .await
        .ok()?
        .user_pool_client
}

async fn observe_client(
    clients: &Clients,
    resource: &str,
    pool_id: &str,
    client_id: String,
) -> Result<(Observed, Option<String>), ProvisionError> {
    let described = clients
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(&client_id)
        .send()
        .await
        .map_err(|e| aws_error(resource, "cognito-idp:DescribeUserPoolClient", e))?;
    let Some(client) = described.user_pool_client else {
        return Ok((Observed::Absent, None));
    };
    // Clients take no tags; one inside our own pool is ours.
    Ok((Observed::Owned(client_fields(&client)), Some(client_id)))
}

pub fn client_fields(client: &UserPoolClientType) -> Fields {
    let units = client.token_validity_units();
    let access = validity(
        client.access_token_validity(),
        units.and_then(|u| u.access_token()),
        TimeUnitsType::Hours,
    );
    let id = validity(
        client.id_token_validity(),
        units.and_then(|u| u.id_token()),
        TimeUnitsType::Hours,
    );
    let refresh = validity(
        Some(client.refresh_token_validity()),
        units.and_then(|u| u.refresh_token()),
        TimeUnitsType::Days,
    );
    Fields::from([
        (
            "explicit_auth_flows",
            list_field(client.explicit_auth_flows().iter().map(|f| f.as_str())),
        ),
        (
            "generate_secret",
            client.client_secret().is_some().to_string(),
        ),
        (
            "prevent_user_existence_errors",
            client
                .prevent_user_existence_errors()
                .map_or("LEGACY", |p| p.as_str())
                .to_owned(),
        ),
        (
            "auth_session_validity_minutes",
            client
                .auth_session_validity()
                .map_or_else(|| "3".to_owned(), |m| m.to_string()),
        ),
        ("access_token_validity", as_unit(access, 60, "minutes")),
        ("id_token_validity", as_unit(id, 60, "minutes")),
        ("refresh_token_validity", as_unit(refresh, 86_400, "days")),
        (
            "enable_token_revocation",
            client
                .enable_token_revocation()
                .unwrap_or(false)
                .to_string(),
        ),
    ])
}

/// A token lifetime in seconds, from Cognito's value and unit (with Cognito's default unit).
fn validity(
    value: Option<i32>,
    unit: Option<&TimeUnitsType>,
    default_unit: TimeUnitsType,
) -> Option<i64> {
    let seconds_per = match unit.unwrap_or(&default_unit) {
        TimeUnitsType::Seconds => 1,
        TimeUnitsType::Minutes => 60,
        TimeUnitsType::Hours => 3_600,
        TimeUnitsType::Days => 86_400,
        _ => return None,
    };
    value.map(|v| i64::from(v) * seconds_per)
}

fn as_unit(seconds: Option<i64>, per: i64, unit: &str) -> String {
    match seconds {
        Some(s) if s % per == 0 => format!("{} {unit}", s / per),
        Some(s) => format!("{s} seconds"),
        None => "(none)".to_owned(),
    }
}
