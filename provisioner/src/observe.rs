//! Observation: the scheduler of the read-only calls. Each kind knows how to read itself
//! (`resources::<kind>::read`); this file decides what runs in which round and assembles
//! the result. Everything starts in the first round; the pool's describe, its client list
//! and the located client's describe share the second, with the alarm topic's reads at the
//! ARN the caller's account (first round, STS) gives it.

use futures_util::future::try_join_all;

use crate::aws::Clients;
use crate::error::{ProvisionError, aws_error};
use crate::naming::{Names, Partition, TriggerKind};
use crate::resources::identity::IdentityStatus;
use crate::resources::{
    Observed, ObservedState, PoolRef, ReadCx, ResourceId, ResourceKind, Tagging, alarm, app_client,
    client_locator, configuration_set, function, identity, log_group, permission, role, table,
    topic, user_pool,
};
use crate::spec::StackSpec;

/// What observation found, plus the identifiers and account facts later phases need.
#[derive(Debug, Clone)]
pub struct Observation {
    pub names: Names,
    pub state: ObservedState,
    /// The identity's sending status; `None` while it does not exist.
    pub identity: Option<IdentityStatus>,
    /// Whether the SES account is in the sandbox (no production access).
    pub ses: SesAccount,
    pub user_pool: Option<PoolRef>,
    pub app_client_id: Option<String>,
}

/// Who is calling AWS, as STS reports it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    /// The partition named in `arn`.
    pub partition: Partition,
    pub arn: String,
}

impl Caller {
    /// The stack's names in this caller's account and partition.
    pub fn names(&self, spec: &StackSpec) -> Names {
        Names::new(
            spec.name.as_str(),
            spec.region.as_str(),
            &self.account,
            self.partition.clone(),
        )
    }
}

pub async fn caller(clients: &Clients) -> Result<Caller, ProvisionError> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error("the caller's account", "sts:GetCallerIdentity", e))?;
    let account = identity.account().ok_or_else(|| {
        ProvisionError::state("the caller's account", "STS returned no account id")
    })?;
    let arn = identity.arn().unwrap_or_default().to_owned();
    Ok(Caller {
        account: account.to_owned(),
        partition: Partition::from_arn(&arn).unwrap_or_default(),
        arn,
    })
}

/// The stack's names in the caller's account and partition: all some commands need (the
/// deployer policy, force-unlock), which therefore work before anything is deployed.
pub async fn stack_names(clients: &Clients, spec: &StackSpec) -> Result<Names, ProvisionError> {
    Ok(caller(clients).await?.names(spec))
}

/// Whether SES sends only to verified identities here. When the account cannot be read
/// (no `ses:GetAccount`, or an emulator without it), the sandbox is assumed: its grant also
/// works with production access, and the reason goes to the plan's notes.
async fn ses_sandbox(clients: &Clients) -> Result<SesAccount, ProvisionError> {
    Ok(match clients.ses.get_account().send().await {
        Ok(account) => SesAccount {
            sandbox: !account.production_access_enabled(),
            unread: None,
        },
        Err(e) => SesAccount {
            sandbox: true,
            unread: Some(aws_error("the SES account", "ses:GetAccount", e).to_string()),
        },
    })
}

/// What observation learnt of the SES account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesAccount {
    pub sandbox: bool,
    /// Why the account could not be read, when it could not.
    pub unread: Option<String>,
}

pub async fn observe(clients: &Clients, spec: &StackSpec) -> Result<Observation, ProvisionError> {
    // Resource names do not depend on the account; only ARNs do, and those are built after.
    let lookup = Names::new(
        spec.name.as_str(),
        spec.region.as_str(),
        "",
        Partition::default(),
    );
    let tagging = Tagging::for_spec(spec);
    let cx = &ReadCx {
        clients,
        names: &lookup,
        tagging: &tagging,
    };
    let identity_id = ResourceId {
        kind: ResourceKind::EmailIdentity,
        name: spec.ses_identity().to_owned(),
    };
    // Boxed: SDK futures are large, and joined on the stack they overflow a test thread's.
    let wanted_alarms: Vec<String> = crate::resources::all_alarm_kinds()
        .map(|kind| lookup.alarm(&kind.suffix()))
        .collect();
    let (
        (caller, topic),
        sandbox,
        role,
        table,
        (identity, identity_status),
        (functions, pool),
        log_groups,
        mut alarms,
        mail,
    ) = tokio::try_join!(
        Box::pin(caller_then_topic(cx, spec)),
        Box::pin(ses_sandbox(clients)),
        Box::pin(role::read(cx)),
        Box::pin(table::read(cx)),
        Box::pin(identity::read(cx, &identity_id.name)),
        Box::pin(functions_then_pool(cx)),
        Box::pin(read_log_groups(cx)),
        Box::pin(alarm::read_all(cx, &wanted_alarms)),
        Box::pin(configuration_set::read(cx)),
    )?;
    let names = caller.names(spec);
    let id = |kind| ResourceId {
        kind,
        name: match kind {
            ResourceKind::Role => names.role(),
            ResourceKind::Function(trigger) | ResourceKind::Permission(trigger) => {
                names.function(trigger)
            }
            ResourceKind::ClientLocator => names.function(TriggerKind::Define),
            ResourceKind::LogGroup(trigger) => names.log_group(trigger),
            ResourceKind::AlarmTopic => names.alarm_topic(),
            ResourceKind::ConfigurationSet => names.configuration_set(),
            ResourceKind::Alarm(alarm) => names.alarm(&alarm.suffix()),
            ResourceKind::UserPool => names.user_pool(),
            ResourceKind::AppClient => names.app_client(),
            ResourceKind::EmailIdentity => spec.ses_identity().to_owned(),
            ResourceKind::Table => names.limits_table(),
        },
    };
    let mut state = ObservedState::default();
    state.resources.insert(id(ResourceKind::Role), role);
    state.resources.insert(id(ResourceKind::Table), table);
    state.resources.insert(identity_id, identity);
    state
        .resources
        .insert(id(ResourceKind::ClientLocator), functions.locator);
    for (kind, logs) in log_groups {
        state
            .resources
            .insert(id(ResourceKind::LogGroup(kind)), logs);
    }
    for (kind, function, permission) in functions.triggers {
        state
            .resources
            .insert(id(ResourceKind::Function(kind)), function);
        state
            .resources
            .insert(id(ResourceKind::Permission(kind)), permission);
    }
    state
        .resources
        .insert(id(ResourceKind::ConfigurationSet), mail);
    state.resources.insert(id(ResourceKind::AlarmTopic), topic);
    for kind in crate::resources::all_alarm_kinds() {
        let name = names.alarm(&kind.suffix());
        let observed = alarms.remove(&name).unwrap_or(Observed::Absent);
        state.resources.insert(
            ResourceId {
                kind: ResourceKind::Alarm(kind),
                name,
            },
            observed,
        );
    }
    state
        .resources
        .insert(id(ResourceKind::UserPool), pool.pool);
    state
        .resources
        .insert(id(ResourceKind::AppClient), pool.client);
    Ok(Observation {
        names,
        state,
        identity: identity_status,
        ses: sandbox,
        user_pool: pool.pool_ref,
        app_client_id: pool.client_id,
    })
}

/// Who is calling, then the stack's alarm topic at the ARN that caller's account gives it:
/// the second round. A stack with no `alarms` section still looks, so a topic left from an
/// earlier spec shows and teardown finds it.
async fn caller_then_topic(
    cx: &ReadCx<'_>,
    spec: &StackSpec,
) -> Result<(Caller, Observed), ProvisionError> {
    let caller = caller(cx.clients).await?;
    let email = spec
        .alarms
        .as_ref()
        .and_then(|a| a.email.as_ref())
        .map_or("", |e| e.as_str());
    let topic = topic::read(cx, &caller.names(spec).alarm_topic_arn(), email).await?;
    Ok((caller, topic))
}

struct FunctionsObserved {
    /// Each trigger's function and its invoke permission.
    triggers: Vec<(TriggerKind, Observed, Observed)>,
    locator: Observed,
}

struct PoolObserved {
    pool: Observed,
    pool_ref: Option<PoolRef>,
    client: Observed,
    client_id: Option<String>,
}

/// The functions in the first round, alongside the first page of the account's pools; the
/// Define function's locator tag then lets the pool's second round describe the client too.
/// An account with more pools than one page (a stack per pull request soon makes one) is
/// paged through only when the locator does not name a pool of ours: otherwise every plan
/// would take a round per 60 pools. Nothing else may join this chain: whatever it waits for
/// delays the pool's round.
async fn functions_then_pool(
    cx: &ReadCx<'_>,
) -> Result<(FunctionsObserved, PoolObserved), ProvisionError> {
    let (functions, first_page) =
        tokio::try_join!(read_functions(cx), user_pool::list_page(cx, None))?;
    let located = match &functions.locator {
        Observed::Owned(fields) => fields.get(client_locator::FIELD).map(String::as_str),
        Observed::Absent | Observed::Unowned => None,
    };
    let located = located.and_then(client_locator::parse);
    if first_page.1.is_some()
        && let Some((pool_id, client_id)) = located
    {
        let pool = read_pool(cx, &[pool_id.to_owned()], Some((pool_id, client_id))).await?;
        if matches!(pool.pool, Observed::Owned(_)) {
            return Ok((functions, pool));
        }
    }
    let candidates = user_pool::list_rest(cx, first_page).await?;
    let pool = read_pool(cx, &candidates, located).await?;
    Ok((functions, pool))
}

async fn read_functions(cx: &ReadCx<'_>) -> Result<FunctionsObserved, ProvisionError> {
    let lookups = TriggerKind::ALL.map(|kind| async move {
        let (function, permission) =
            tokio::try_join!(function::read(cx, kind), permission::read(cx, kind))?;
        let permission = part_of(&function.observed, permission);
        let locator = part_of(
            &function.observed,
            client_locator::fields_of(&function.tags),
        );
        Ok::<_, ProvisionError>(((kind, function.observed, permission), locator))
    });
    let [define, create, verify, pre_sign_up] = lookups;
    let ((define, locator), (create, _), (verify, _), (pre_sign_up, _)) =
        tokio::try_join!(define, create, verify, pre_sign_up)?;
    Ok(FunctionsObserved {
        triggers: vec![define, create, verify, pre_sign_up],
        locator,
    })
}

/// Each trigger's log group: two rounds (list, then tags), beside the pool's chain.
async fn read_log_groups(cx: &ReadCx<'_>) -> Result<Vec<(TriggerKind, Observed)>, ProvisionError> {
    try_join_all(
        TriggerKind::ALL.map(|kind| async move { Ok((kind, log_group::read(cx, kind).await?)) }),
    )
    .await
}

/// A function's permission and its locator tag are ours exactly when the function is.
fn part_of(function: &Observed, part: Option<crate::fields::Fields>) -> Observed {
    match (function, part) {
        (Observed::Owned(_), Some(fields)) => Observed::Owned(fields),
        (Observed::Owned(_), None) | (Observed::Absent, _) => Observed::Absent,
        (Observed::Unowned, _) => Observed::Unowned,
    }
}

async fn read_pool(
    cx: &ReadCx<'_>,
    candidates: &[String],
    locator: Option<(&str, &str)>,
) -> Result<PoolObserved, ProvisionError> {
    let client_name = cx.names.app_client();
    // Listing a candidate's clients, and describing the client the locator names, alongside
    // describing the pool saves rounds for our pool, at the price of one wasted list for a
    // same-named pool that is not ours.
    let looked_up = try_join_all(candidates.iter().map(|id| async move {
        let located = locator
            .filter(|(pool, _)| pool == id)
            .map(|(_, client)| client);
        let (pool, listed, located) = tokio::join!(
            user_pool::describe(cx, id),
            app_client::list(cx, id),
            app_client::describe_located(cx, id, located),
        );
        Ok::<_, ProvisionError>((pool?, listed, located))
    }))
    .await?;
    let mut ours = Vec::new();
    let mut foreign = false;
    let pool_name = cx.names.user_pool();
    for (pool, listed, located) in looked_up {
        // A located pool is a candidate only if it has the stack's pool name, as listed ones do.
        let Some(pool) = pool.filter(|p| p.name() == Some(pool_name.as_str())) else {
            continue;
        };
        if user_pool::is_ours(&pool, cx.tagging) {
            ours.push((pool, listed, located));
        } else {
            foreign = true;
        }
    }
    let nothing = |pool| PoolObserved {
        pool,
        pool_ref: None,
        client: Observed::Absent,
        client_id: None,
    };
    let (pool, listed, located) = match ours.len() {
        0 if foreign => return Ok(nothing(Observed::Unowned)),
        0 => return Ok(nothing(Observed::Absent)),
        1 => ours.remove(0),
        n => {
            return Err(ProvisionError::state(
                format!("user pool {}", cx.names.user_pool()),
                format!(
                    "{n} pools carry this stack's ownership tag; delete the extra ones so exactly one remains"
                ),
            ));
        }
    };
    let (pool_observed, pool_ref) = user_pool::observed(&pool, cx.tagging);
    let (ours, others): (Vec<_>, Vec<_>) = listed?
        .into_iter()
        .partition(|(name, _)| *name == client_name);
    let client_id = ours.into_iter().next().map(|(_, id)| id);
    let others: Vec<String> = others.into_iter().map(|(name, _)| name).collect();
    // The list decides which client is ours; the located one saves a round when it agrees.
    let client = match &client_id {
        Some(id) => match located.filter(|c| c.client_id() == Some(id.as_str())) {
            Some(client) => Observed::Owned(app_client::fields_of(&client, &others)),
            None => app_client::read(cx, &pool_ref.id, id, &others).await?,
        },
        None => Observed::Absent,
    };
    Ok(PoolObserved {
        pool: pool_observed,
        pool_ref: Some(pool_ref),
        client,
        client_id,
    })
}
