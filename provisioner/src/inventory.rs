//! Every stack of this tool in an account and region, found without a spec: each resource
//! kind is listed and the ones carrying the ownership tag are grouped by its value. Reads
//! only. A resource that vanishes between the list and the read of its tags (another run
//! tearing down) is skipped, not an error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use futures_util::StreamExt;
use serde::Serialize;

use crate::aws::Clients;
use crate::deploy_record::DeployRecord;
use crate::error::{ProvisionError, aws_error};
use crate::naming::{Names, OWNER_TAG, Partition, TriggerKind};
use crate::resources::ResourceKind;

/// One resource found with a stack's ownership tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The kind's label, as plans print it (`user pool`, `function`).
    pub kind: &'static str,
    pub name: String,
    #[serde(skip)]
    pub resource_kind: ResourceKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackFound {
    pub name: String,
    pub resources: Vec<Found>,
    /// What a deployed stack always has and this one lacks (a half-built or half-removed stack).
    pub missing: Vec<String>,
    /// The earliest creation time among its resources that record one (unix seconds).
    pub created: Option<u64>,
    pub last_deploy: Option<DeployRecord>,
    /// The address its Create trigger sends from, when that function exists.
    pub sender: Option<String>,
}

impl StackFound {
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// When it last changed: its last deploy, else its creation.
    pub fn last_active(&self) -> Option<u64> {
        self.last_deploy.as_ref().map(|d| d.at).or(self.created)
    }

    /// The SES identity this stack owns, if any.
    pub fn identity(&self) -> Option<&str> {
        self.resources
            .iter()
            .find(|r| r.resource_kind == ResourceKind::EmailIdentity)
            .map(|r| r.name.as_str())
    }
}

/// What every deployed stack has, by kind and name; the identity may be another stack's and
/// PreSignUp exists only with self sign-up.
fn expected(stack: &str) -> Vec<(ResourceKind, String)> {
    let names = Names::new(stack, "", "", Partition::default());
    let mut expected = vec![
        (ResourceKind::Role, names.role()),
        (ResourceKind::Table, names.limits_table()),
        (ResourceKind::UserPool, names.user_pool()),
        (ResourceKind::AppClient, names.app_client()),
    ];
    expected.extend(
        TriggerKind::CUSTOM_AUTH.map(|kind| (ResourceKind::Function(kind), names.function(kind))),
    );
    expected
}

#[derive(Default)]
struct Collected {
    found: Vec<(String, Found, Option<u64>)>,
    senders: BTreeMap<String, String>,
    /// Resources whose tags the caller may not read: a role scoped to some stacks
    /// (`deployer-policy --name-pattern`) sees only theirs.
    unreadable: usize,
    /// Every Create trigger's function name and sender, tagged or not.
    create_senders: Vec<(String, String)>,
}

/// Every stack found, and how many resources could not be looked at.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub stacks: BTreeMap<String, StackFound>,
    pub unreadable: usize,
    /// Every function named as a Create trigger, with the address it sends from, whether or
    /// not its tags could be read: who still sends from an identity.
    pub create_senders: Vec<(String, String)>,
}

impl Inventory {
    /// The Create functions other than `own_function` that send from `identity`.
    pub fn senders_from(&self, identity: &str, own_function: &str) -> Vec<String> {
        self.create_senders
            .iter()
            .filter(|(function, from)| {
                function != own_function
                    && (from == identity
                        || from
                            .split_once('@')
                            .is_some_and(|(_, domain)| domain == identity))
            })
            .map(|(function, _)| function.clone())
            .collect()
    }
}

/// Reads one resource each, a few at a time: AWS rate-limits these reads per account (and
/// an emulator holding many stacks runs out of connections), so they are never all at once.
async fn each<T, F: Future<Output = T>>(reads: impl IntoIterator<Item = F>) -> Vec<T> {
    const AT_ONCE: usize = 8;
    futures_util::stream::iter(reads)
        .buffered(AT_ONCE)
        .collect()
        .await
}

/// One resource's read within a listing: its answer, or `None` when the resource went away
/// since the listing (`gone`), or when IAM refused it, which `unreadable` counts: a role
/// scoped to some stacks sees only theirs.
fn tolerated<T, E, R>(
    answer: Result<T, SdkError<E, R>>,
    gone: impl FnOnce(&E) -> bool,
    unreadable: &AtomicUsize,
    resource: impl Into<String>,
    operation: &'static str,
) -> Result<Option<T>, ProvisionError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match answer {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.as_service_error().is_some_and(gone) => Ok(None),
        Err(e) if denied(&e) => {
            unreadable.fetch_add(1, Ordering::Relaxed);
            Ok(None)
        }
        Err(e) => Err(aws_error(resource, operation, e)),
    }
}

/// Whether IAM refused the call: the resource is outside the caller's reach, not absent.
fn denied<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| {
            [
                "AccessDenied",
                "AccessDeniedException",
                "NotAuthorizedException",
            ]
            .contains(&code)
        })
}

impl Collected {
    fn add(&mut self, stack: String, kind: ResourceKind, name: String, created: Option<u64>) {
        self.found.push((
            stack,
            Found {
                kind: kind.label(),
                name,
                resource_kind: kind,
            },
            created,
        ));
    }
}

/// Every stack found in the clients' account and region, by name.
pub async fn discover(clients: &Clients) -> Result<Inventory, ProvisionError> {
    let caller = crate::observe::caller(clients).await?;
    let (roles, functions, pools, tables, identities, logs, alerting, mail) = tokio::try_join!(
        Box::pin(roles(clients)),
        Box::pin(functions(clients)),
        Box::pin(pools(clients)),
        Box::pin(tables(clients)),
        Box::pin(identities(
            clients,
            &caller.account,
            caller.partition.clone()
        )),
        Box::pin(log_groups(clients)),
        Box::pin(alarms_and_topics(clients)),
        Box::pin(configuration_sets(clients)),
    )?;
    let mut all = Collected::default();
    for part in [
        roles, functions, pools, tables, identities, logs, alerting, mail,
    ] {
        all.found.extend(part.found);
        all.senders.extend(part.senders);
        all.unreadable += part.unreadable;
        all.create_senders.extend(part.create_senders);
    }
    let mut stacks: BTreeMap<String, StackFound> = BTreeMap::new();
    for (stack, found, created) in all.found {
        let entry = stacks.entry(stack.clone()).or_insert_with(|| StackFound {
            name: stack.clone(),
            resources: Vec::new(),
            missing: Vec::new(),
            created: None,
            last_deploy: None,
            sender: all.senders.get(&stack).cloned(),
        });
        entry.resources.push(found);
        entry.created = match (entry.created, created) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let records = each(stacks.values().map(|stack| async move {
        let has_table = stack
            .resources
            .iter()
            .any(|r| r.resource_kind == ResourceKind::Table);
        if !has_table {
            return Ok(None);
        }
        let table = Names::new(&stack.name, "", "", Partition::default()).limits_table();
        crate::deploy_record::read(clients, &table).await
    }))
    .await;
    for (stack, record) in stacks.values_mut().zip(records) {
        stack.last_deploy = record?;
        stack
            .resources
            .sort_by_key(|r| (r.resource_kind, r.name.clone()));
        stack.missing = expected(&stack.name)
            .into_iter()
            .filter(|(kind, name)| {
                !stack
                    .resources
                    .iter()
                    .any(|r| r.resource_kind == *kind && r.name == *name)
            })
            .map(|(kind, name)| format!("{} {name}", kind.label()))
            .collect();
    }
    Ok(Inventory {
        stacks,
        unreadable: all.unreadable,
        create_senders: all.create_senders,
    })
}

/// The stack `owner` names, when it names one of ours.
fn owner_of<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    tags.into_iter()
        .find(|(key, _)| *key == OWNER_TAG)
        .map(|(_, value)| value.to_owned())
}

fn seconds(time: Option<&aws_smithy_types::DateTime>) -> Option<u64> {
    time.and_then(|t| u64::try_from(t.secs()).ok())
}

async fn roles(clients: &Clients) -> Result<Collected, ProvisionError> {
    let unreadable = &AtomicUsize::new(0);
    let mut candidates = Vec::new();
    let mut pages = clients.iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("the account's roles", "iam:ListRoles", e))?;
        candidates.extend(
            page.roles()
                .iter()
                .filter(|r| r.role_name().ends_with("-triggers"))
                .map(|r| (r.role_name().to_owned(), seconds(Some(r.create_date())))),
        );
    }
    let tagged = each(candidates.into_iter().map(|(name, created)| async move {
        let tags = tolerated(
            clients.iam.list_role_tags().role_name(&name).send().await,
            |e| e.is_no_such_entity_exception(),
            unreadable,
            format!("iam role {name}"),
            "iam:ListRoleTags",
        )?;
        Ok::<_, ProvisionError>(tags.and_then(|tags| {
            owner_of(tags.tags().iter().map(|t| (t.key(), t.value())))
                .map(|stack| (stack, name, created))
        }))
    }))
    .await;
    let mut collected = Collected {
        unreadable: unreadable.load(Ordering::Relaxed),
        ..Collected::default()
    };
    for found in tagged {
        if let Some((stack, name, created)) = found? {
            collected.add(stack, ResourceKind::Role, name, created);
        }
    }
    Ok(collected)
}

async fn functions(clients: &Clients) -> Result<Collected, ProvisionError> {
    let unreadable = &AtomicUsize::new(0);
    let mut create_senders = Vec::new();
    let mut candidates = Vec::new();
    let mut pages = clients.lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| aws_error("the account's functions", "lambda:ListFunctions", e))?;
        for function in page.functions() {
            let name = function.function_name().unwrap_or_default();
            let Some(kind) = TriggerKind::ALL
                .into_iter()
                .find(|kind| name.ends_with(&format!("-{}", kind.binary_name())))
            else {
                continue;
            };
            let sender = function
                .environment()
                .and_then(|e| e.variables())
                .and_then(|v| v.get(triggers::config::EMAIL_FROM))
                .cloned();
            if kind == TriggerKind::Create
                && let Some(sender) = &sender
            {
                create_senders.push((name.to_owned(), sender.clone()));
            }
            candidates.push((
                kind,
                name.to_owned(),
                function.function_arn().unwrap_or_default().to_owned(),
                sender,
            ));
        }
    }
    let tagged = each(
        candidates
            .into_iter()
            .map(|(kind, name, arn, sender)| async move {
                let tags = tolerated(
                    clients.lambda.list_tags().resource(&arn).send().await,
                    |e| e.is_resource_not_found_exception(),
                    unreadable,
                    format!("function {name}"),
                    "lambda:ListTags",
                )?;
                Ok::<_, ProvisionError>(tags.and_then(|tags| {
                    tags.tags()
                        .and_then(|t| t.get(OWNER_TAG))
                        .map(|stack| (stack.clone(), kind, name, sender))
                }))
            }),
    )
    .await;
    let mut collected = Collected {
        unreadable: unreadable.load(Ordering::Relaxed),
        create_senders,
        ..Collected::default()
    };
    for found in tagged {
        if let Some((stack, kind, name, sender)) = found? {
            if kind == TriggerKind::Create
                && let Some(sender) = sender
            {
                collected.senders.insert(stack.clone(), sender);
            }
            collected.add(stack, ResourceKind::Function(kind), name, None);
        }
    }
    Ok(collected)
}

async fn pools(clients: &Clients) -> Result<Collected, ProvisionError> {
    let unreadable = &AtomicUsize::new(0);
    let mut ids = Vec::new();
    let mut next = None;
    loop {
        let page = clients
            .cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| aws_error("the account's user pools", "cognito-idp:ListUserPools", e))?;
        ids.extend(
            page.user_pools()
                .iter()
                .filter_map(|p| p.id().map(str::to_owned)),
        );
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let described = each(ids.into_iter().map(|id| async move {
        let described = tolerated(
            clients
                .cognito
                .describe_user_pool()
                .user_pool_id(&id)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            unreadable,
            format!("user pool {id}"),
            "cognito-idp:DescribeUserPool",
        )?;
        let Some(pool) = described.and_then(|output| output.user_pool) else {
            return Ok(None);
        };
        let Some(stack) = pool
            .user_pool_tags()
            .and_then(|t| t.get(OWNER_TAG))
            .cloned()
        else {
            return Ok(None);
        };
        let client_name = Names::new(&stack, "", "", Partition::default()).app_client();
        let listed = tolerated(
            clients
                .cognito
                .list_user_pool_clients()
                .user_pool_id(&id)
                .max_results(60)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            unreadable,
            format!("user pool {id}"),
            "cognito-idp:ListUserPoolClients",
        )?;
        let client = listed.and_then(|listed| {
            listed
                .user_pool_clients()
                .iter()
                .any(|c| c.client_name() == Some(client_name.as_str()))
                .then_some(client_name)
        });
        let name = pool.name().unwrap_or_default().to_owned();
        Ok::<_, ProvisionError>(Some((stack, name, seconds(pool.creation_date()), client)))
    }))
    .await;
    let mut collected = Collected {
        unreadable: unreadable.load(Ordering::Relaxed),
        ..Collected::default()
    };
    for found in described {
        if let Some((stack, name, created, client)) = found? {
            if let Some(client) = client {
                collected.add(stack.clone(), ResourceKind::AppClient, client, None);
            }
            collected.add(stack, ResourceKind::UserPool, name, created);
        }
    }
    Ok(collected)
}

/// The alarms named with one of the stack's alarm suffixes and the topics named
/// `<stack>-alarms`, by their ownership tag.
async fn alarms_and_topics(clients: &Clients) -> Result<Collected, ProvisionError> {
    let unreadable = &AtomicUsize::new(0);
    let mut alarms = Vec::new();
    let mut pages = clients.cloudwatch.describe_alarms().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| aws_error("the account's alarms", "cloudwatch:DescribeAlarms", e))?;
        for alarm in page.metric_alarms() {
            let (Some(name), Some(arn)) = (alarm.alarm_name(), alarm.alarm_arn()) else {
                continue;
            };
            let kind = crate::resources::all_alarm_kinds()
                .find(|kind| name.ends_with(&format!("-{}", kind.suffix())));
            if let Some(kind) = kind {
                alarms.push((kind, name.to_owned(), arn.to_owned()));
            }
        }
    }
    let mut topics = Vec::new();
    let mut pages = clients.sns.list_topics().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("the account's topics", "sns:ListTopics", e))?;
        topics.extend(
            page.topics()
                .iter()
                .filter_map(|t| t.topic_arn())
                .filter(|arn| arn.ends_with("-alarms"))
                .map(str::to_owned),
        );
    }
    let tagged_alarms = each(alarms.into_iter().map(|(kind, name, arn)| async move {
        let tags = tolerated(
            clients
                .cloudwatch
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            unreadable,
            format!("alarm {name}"),
            "cloudwatch:ListTagsForResource",
        )?;
        Ok::<_, ProvisionError>(tags.and_then(|tags| {
            tags.tags()
                .iter()
                .find(|t| t.key() == Some(OWNER_TAG))
                .and_then(|t| t.value())
                .map(|stack| (stack.to_owned(), ResourceKind::Alarm(kind), name))
        }))
    }))
    .await;
    let tagged_topics = each(topics.into_iter().map(|arn| async move {
        let name = arn.rsplit(':').next().unwrap_or_default().to_owned();
        let tags = tolerated(
            clients
                .sns
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            unreadable,
            format!("sns topic {name}"),
            "sns:ListTagsForResource",
        )?;
        Ok::<_, ProvisionError>(tags.and_then(|tags| {
            owner_of(tags.tags().iter().map(|t| (t.key(), t.value())))
                .map(|stack| (stack, ResourceKind::AlarmTopic, name))
        }))
    }))
    .await;
    let mut collected = Collected {
        unreadable: unreadable.load(Ordering::Relaxed),
        ..Collected::default()
    };
    for found in tagged_alarms.into_iter().chain(tagged_topics) {
        if let Some((stack, kind, name)) = found? {
            collected.add(stack, kind, name, None);
        }
    }
    Ok(collected)
}

/// The SES configuration sets named `<stack>-mail`, by their ownership tag.
async fn configuration_sets(clients: &Clients) -> Result<Collected, ProvisionError> {
    let unreadable = &AtomicUsize::new(0);
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let page = clients
            .ses
            .list_configuration_sets()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    "the account's SES configuration sets",
                    "ses:ListConfigurationSets",
                    e,
                )
            })?;
        names.extend(
            page.configuration_sets()
                .iter()
                .filter(|n| n.ends_with("-mail"))
                .cloned(),
        );
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let tagged = each(names.into_iter().map(|name| async move {
        let set = tolerated(
            clients
                .ses
                .get_configuration_set()
                .configuration_set_name(&name)
                .send()
                .await,
            |e| e.is_not_found_exception(),
            unreadable,
            format!("ses configuration set {name}"),
            "ses:GetConfigurationSet",
        )?;
        Ok::<_, ProvisionError>(set.and_then(|set| {
            owner_of(set.tags().iter().map(|t| (t.key(), t.value()))).map(|stack| (stack, name))
        }))
    }))
    .await;
    let mut collected = Collected {
        unreadable: unreadable.load(Ordering::Relaxed),
        ..Collected::default()
    };
    for found in tagged {
        if let Some((stack, name)) = found? {
            collected.add(stack, ResourceKind::ConfigurationSet, name, None);
        }
    }
    Ok(collected)
}

async fn log_groups(clients: &Clients) -> Result<Collected, ProvisionError> {
    let unreadable = &AtomicUsize::new(0);
    let mut candidates = Vec::new();
    let mut pages = clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| aws_error("the account's log groups", "logs:DescribeLogGroups", e))?;
        for group in page.log_groups() {
            let name = group.log_group_name().unwrap_or_default();
            let ours = TriggerKind::ALL
                .into_iter()
                .find(|kind| name.ends_with(&format!("-{}", kind.binary_name())));
            if let (Some(kind), Some(arn)) = (ours, group.arn()) {
                candidates.push((
                    kind,
                    name.to_owned(),
                    arn.trim_end_matches(":*").to_owned(),
                    group
                        .creation_time()
                        .and_then(|ms| u64::try_from(ms / 1000).ok()),
                ));
            }
        }
    }
    let tagged = each(
        candidates
            .into_iter()
            .map(|(kind, name, arn, created)| async move {
                let tags = tolerated(
                    clients
                        .logs
                        .list_tags_for_resource()
                        .resource_arn(&arn)
                        .send()
                        .await,
                    |e| e.is_resource_not_found_exception(),
                    unreadable,
                    format!("log group {name}"),
                    "logs:ListTagsForResource",
                )?;
                Ok::<_, ProvisionError>(tags.and_then(|tags| {
                    tags.tags()
                        .and_then(|t| t.get(OWNER_TAG))
                        .map(|stack| (stack.clone(), kind, name, created))
                }))
            }),
    )
    .await;
    let mut collected = Collected {
        unreadable: unreadable.load(Ordering::Relaxed),
        ..Collected::default()
    };
    for found in tagged {
        if let Some((stack, kind, name, created)) = found? {
            collected.add(stack, ResourceKind::LogGroup(kind), name, created);
        }
    }
    Ok(collected)
}

async fn tables(clients: &Clients) -> Result<Collected, ProvisionError> {
    let unreadable = &AtomicUsize::new(0);
    let mut names = Vec::new();
    let mut pages = clients.dynamodb.list_tables().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("the account's tables", "dynamodb:ListTables", e))?;
        names.extend(
            page.table_names()
                .iter()
                .filter(|n| n.ends_with("-limits"))
                .cloned(),
        );
    }
    let tagged = each(names.into_iter().map(|name| async move {
        let described = tolerated(
            clients
                .dynamodb
                .describe_table()
                .table_name(&name)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            unreadable,
            format!("dynamodb table {name}"),
            "dynamodb:DescribeTable",
        )?;
        let Some(table) = described.and_then(|output| output.table) else {
            return Ok(None);
        };
        let tags = tolerated(
            clients
                .dynamodb
                .list_tags_of_resource()
                .resource_arn(table.table_arn().unwrap_or_default())
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            unreadable,
            format!("dynamodb table {name}"),
            "dynamodb:ListTagsOfResource",
        )?;
        Ok::<_, ProvisionError>(tags.and_then(|tags| {
            owner_of(tags.tags().iter().map(|t| (t.key(), t.value())))
                .map(|stack| (stack, name, seconds(table.creation_date_time())))
        }))
    }))
    .await;
    let mut collected = Collected {
        unreadable: unreadable.load(Ordering::Relaxed),
        ..Collected::default()
    };
    for found in tagged {
        if let Some((stack, name, created)) = found? {
            collected.add(stack, ResourceKind::Table, name, created);
        }
    }
    Ok(collected)
}

/// Identities are read by their tags alone (ListTagsForResource): a tag removed at teardown
/// is gone there at once, and the identity's ARN needs the account and partition.
async fn identities(
    clients: &Clients,
    account: &str,
    partition: Partition,
) -> Result<Collected, ProvisionError> {
    let unreadable = &AtomicUsize::new(0);
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let page = clients
            .ses
            .list_email_identities()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| aws_error("the account's SES identities", "ses:ListEmailIdentities", e))?;
        names.extend(
            page.email_identities()
                .iter()
                .filter_map(|i| i.identity_name().map(str::to_owned)),
        );
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let region = crate::aws::region_of(clients).unwrap_or_default();
    let names_in = Names::new("", &region, account, partition);
    let tagged = each(names.into_iter().map(|name| {
        let arn = names_in.identity_arn(&name);
        async move {
            let tags = tolerated(
                clients
                    .ses
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await,
                |e| e.is_not_found_exception(),
                unreadable,
                format!("ses identity {name}"),
                "ses:ListTagsForResource",
            )?;
            Ok::<_, ProvisionError>(tags.and_then(|tags| {
                owner_of(tags.tags().iter().map(|t| (t.key(), t.value())))
                    .map(|stack| (stack, name))
            }))
        }
    }))
    .await;
    let mut collected = Collected {
        unreadable: unreadable.load(Ordering::Relaxed),
        ..Collected::default()
    };
    for found in tagged {
        if let Some((stack, name)) = found? {
            collected.add(stack, ResourceKind::EmailIdentity, name, None);
        }
    }
    Ok(collected)
}
