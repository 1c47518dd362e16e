//! One module per resource kind, each with the same parts: its typed `Desired` value built
//! from the spec, `fields()` for the diff, `UPDATES` (the fields each update call carries)
//! and `REPLACE_ON` beside them, `fields_of` (the pure half of its read), `read`, and its
//! create, update and delete. This file holds the vocabulary they share and the one
//! dispatch from a plan step to a kind.

/// The stack's tags as one SDK's `Tag` values: every tagging SDK builds them the same way,
/// each with its own type.
macro_rules! sdk_tags {
    ($tag:ty, $tags:expr) => {
        $tags
            .iter()
            .map(|(key, value)| {
                <$tag>::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .expect("key and value are set")
            })
            .collect::<Vec<$tag>>()
    };
}

pub mod alarm;
pub mod app_client;
pub mod client_locator;
pub mod configuration_set;
pub mod function;
pub mod identity;
pub mod log_group;
pub mod permission;
pub mod role;
pub mod table;
pub mod topic;
pub mod user_pool;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::artifacts::Artifacts;
use crate::aws::Clients;
use crate::error::ProvisionError;
use crate::fields::{FieldChange, Fields, Tags, map_field};
use crate::naming::{Names, OWNER_TAG, TriggerKind};
use crate::spec::StackSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    Role,
    EmailIdentity,
    LogGroup(TriggerKind),
    ConfigurationSet,
    AlarmTopic,
    Function(TriggerKind),
    Table,
    Alarm(alarm::AlarmKind),
    UserPool,
    Permission(TriggerKind),
    AppClient,
    ClientLocator,
}

impl ResourceKind {
    /// Resources of one stage depend only on earlier stages, so a stage runs concurrently.
    pub fn stage(self) -> u8 {
        match self {
            // The functions need nothing but their role to be created, and a new function
            // is Pending for a while (seconds on AWS): they start as early as they can, so
            // that wait overlaps the rest.
            Self::Role => 0,
            // A function's log group exists before its first invocation (the pool, which
            // alone invokes it, comes after), so Lambda never makes an untagged one without
            // a retention.
            // The table is needed by nobody's creation, only by the triggers' invocations.
            // The lock step creates it on a first deploy, leaving TTL to the plan: its two
            // calls (see ACTIVE, turn TTL on) match the log groups' and the topic's two here.
            Self::Function(_)
            | Self::EmailIdentity
            | Self::LogGroup(_)
            | Self::ConfigurationSet
            | Self::AlarmTopic
            | Self::Table => 1,
            // An alarm needs its topic, nothing else: it may watch a function not made yet.
            // Cognito's throttle alarm names the pool and client, so it waits for both.
            Self::Alarm(alarm::AlarmKind::SignInThrottles) | Self::ClientLocator => 4,
            Self::UserPool | Self::Alarm(_) => 2,
            Self::Permission(_) | Self::AppClient => 3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Role => "iam role",
            Self::EmailIdentity => "ses identity",
            Self::LogGroup(_) => "log group",
            Self::AlarmTopic => "sns topic",
            Self::ConfigurationSet => "ses configuration set",
            Self::Alarm(_) => "alarm",
            Self::Function(_) => "lambda function",
            Self::Table => "dynamodb table",
            Self::UserPool => "user pool",
            Self::Permission(_) => "invoke permission",
            Self::AppClient => "app client",
            Self::ClientLocator => "app client locator on",
        }
    }

    /// The function this kind lives on, if any: its steps must wait until that function
    /// has settled from its own creation or update.
    pub fn on_function(self) -> Option<TriggerKind> {
        match self {
            Self::Function(kind) | Self::Permission(kind) => Some(kind),
            Self::ClientLocator => Some(TriggerKind::Define),
            Self::Role
            | Self::EmailIdentity
            | Self::LogGroup(_)
            | Self::AlarmTopic
            | Self::ConfigurationSet
            | Self::Alarm(_)
            | Self::Table
            | Self::UserPool
            | Self::AppClient => None,
        }
    }
}

/// A resource as the user sees it: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    pub kind: ResourceKind,
    pub name: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.label(), self.name)
    }
}

/// What observation found under a resource's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Absent,
    /// It exists and carries this stack's ownership tag.
    Owned(Fields),
    /// It exists without this stack's ownership tag: not ours to change.
    Unowned,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedState {
    pub resources: BTreeMap<ResourceId, Observed>,
}

impl ObservedState {
    pub fn get(&self, id: &ResourceId) -> &Observed {
        self.resources.get(id).unwrap_or(&Observed::Absent)
    }
}

/// What deploy wants one resource to be, typed per kind. Apply sends exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    Role(role::Desired),
    EmailIdentity(identity::Desired),
    LogGroup(log_group::Desired),
    ConfigurationSet(configuration_set::Desired),
    AlarmTopic(topic::Desired),
    Alarm(alarm::Desired),
    Function(function::Desired),
    Table(table::Desired),
    UserPool(user_pool::Desired),
    Permission(permission::Desired),
    AppClient(app_client::Desired),
    ClientLocator(client_locator::Desired),
}

impl Desired {
    pub fn id(&self) -> ResourceId {
        let (kind, name) = match self {
            Self::Role(d) => (ResourceKind::Role, &d.name),
            Self::EmailIdentity(d) => (ResourceKind::EmailIdentity, &d.identity),
            Self::LogGroup(d) => (ResourceKind::LogGroup(d.kind), &d.name),
            Self::AlarmTopic(d) => (ResourceKind::AlarmTopic, &d.name),
            Self::ConfigurationSet(d) => (ResourceKind::ConfigurationSet, &d.name),
            Self::Alarm(d) => (ResourceKind::Alarm(d.kind), &d.name),
            Self::Function(d) => (ResourceKind::Function(d.kind), &d.name),
            Self::Table(d) => (ResourceKind::Table, &d.name),
            Self::UserPool(d) => (ResourceKind::UserPool, &d.name),
            Self::Permission(d) => (ResourceKind::Permission(d.kind), &d.function),
            Self::AppClient(d) => (ResourceKind::AppClient, &d.name),
            Self::ClientLocator(d) => (ResourceKind::ClientLocator, &d.function),
        };
        ResourceId {
            kind,
            name: name.clone(),
        }
    }

    pub fn fields(&self) -> Fields {
        match self {
            Self::Role(d) => d.fields(),
            Self::EmailIdentity(d) => d.fields(),
            Self::LogGroup(d) => d.fields(),
            Self::AlarmTopic(d) => d.fields(),
            Self::ConfigurationSet(d) => d.fields(),
            Self::Alarm(d) => d.fields(),
            Self::Function(d) => d.fields(),
            Self::Table(d) => d.fields(),
            Self::UserPool(d) => d.fields(),
            Self::Permission(d) => d.fields(),
            Self::AppClient(d) => d.fields(),
            Self::ClientLocator(d) => d.fields(),
        }
    }

    /// Fields AWS cannot change in place: a difference there means delete and re-create.
    pub fn replace_on(&self) -> &'static [&'static str] {
        match self {
            Self::Role(_) => role::REPLACE_ON,
            Self::EmailIdentity(_) => identity::REPLACE_ON,
            Self::LogGroup(_) => log_group::REPLACE_ON,
            Self::AlarmTopic(_) => topic::REPLACE_ON,
            Self::ConfigurationSet(_) => configuration_set::REPLACE_ON,
            Self::Alarm(_) => alarm::REPLACE_ON,
            Self::Function(_) => function::REPLACE_ON,
            Self::Table(_) => table::REPLACE_ON,
            Self::UserPool(_) => user_pool::REPLACE_ON,
            Self::Permission(_) => permission::REPLACE_ON,
            Self::AppClient(_) => app_client::REPLACE_ON,
            Self::ClientLocator(_) => client_locator::REPLACE_ON,
        }
    }

    /// Fields deploy reports but never changes.
    pub fn watched(&self) -> &'static [crate::fields::Watched] {
        match self {
            Self::UserPool(_) => user_pool::WATCHED,
            Self::AppClient(_) => app_client::WATCHED,
            Self::Role(_)
            | Self::EmailIdentity(_)
            | Self::LogGroup(_)
            | Self::AlarmTopic(_)
            | Self::ConfigurationSet(_)
            | Self::Alarm(_)
            | Self::Function(_)
            | Self::Table(_)
            | Self::Permission(_)
            | Self::ClientLocator(_) => &[],
        }
    }

    /// Whether a same-named resource without our ownership tag may be used as it is (never
    /// changed and never deleted). Only the SES identity: a verified domain is often shared.
    pub fn may_use_unowned(&self) -> bool {
        matches!(self, Self::EmailIdentity(_))
    }
}

/// How widely the Create trigger may send, and why: decided from the SES account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesScope {
    pub identity: String,
    /// In the SES sandbox, sends are authorised against the recipients' identities too.
    pub sandbox: bool,
    /// The identity's default configuration set, which SES authorises sends against too.
    pub configuration_set: Option<String>,
    /// Why the SES account could not be read, when the sandbox was assumed for that reason.
    pub unread: Option<String>,
}

/// The package a function should run: what deploy uploads, or, for a drift check without a
/// build, what the last deploy recorded on the function.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpectedCode {
    /// Lambda's CodeSha256 of the package.
    pub code_sha256: String,
    /// The source fingerprint it was made from (see [`crate::source`]).
    pub source: String,
}

/// What desired state needs beyond the spec: facts only AWS or the build know.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub names: &'a Names,
    /// The package of each trigger.
    pub code: &'a BTreeMap<TriggerKind, ExpectedCode>,
    /// The pool's ARN when it exists already; permissions name it.
    pub user_pool_arn: Option<&'a str>,
    /// The pool and app client ids when both exist already; the client locator names them.
    pub app_client: Option<(&'a str, &'a str)>,
    pub ses: &'a SesScope,
}

/// Everything deploy wants, in dependency order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    pub names: Names,
    pub resources: Vec<Desired>,
    /// Resources of ours the spec no longer wants (a trigger switched off), dependants
    /// first: deleted when they exist.
    pub retired: Vec<ResourceId>,
    /// Choices made from the account rather than the spec, shown with the plan.
    pub notes: Vec<String>,
}

pub fn desired_state(spec: &StackSpec, context: Context<'_>) -> DesiredState {
    let names = context.names;
    let tags = resource_tags(spec);
    let mut resources = vec![
        Desired::Role(role::Desired::new(
            names,
            spec.email.from.as_str(),
            context.ses,
            spec.sign_up.enabled,
            &tags,
        )),
        Desired::EmailIdentity(identity::Desired {
            identity: spec.ses_identity().to_owned(),
            arn: names.identity_arn(spec.ses_identity()),
            tags: tags.clone(),
        }),
        Desired::ConfigurationSet(configuration_set::Desired {
            name: names.configuration_set(),
            arn: names.configuration_set_arn(&names.configuration_set()),
            stack: names.stack.clone(),
            tags: tags.clone(),
        }),
    ];
    let deployed = deployed_triggers(spec);
    for &kind in &deployed {
        resources.push(Desired::LogGroup(log_group::Desired {
            kind,
            name: names.log_group(kind),
            arn: names.log_group_resource_arn(kind),
            retention_days: spec.logs.retention_days.get(),
            tags: tags.clone(),
        }));
    }
    resources.push(Desired::Table(table_desired(spec, names)));
    let mut alarm_topic_arn = None;
    let mut stack_alarms = Vec::new();
    if let Some(alarms) = &spec.alarms {
        let topic_arn = match (&alarms.email, &alarms.topic_arn) {
            (Some(email), _) => {
                resources.push(Desired::AlarmTopic(topic::Desired {
                    name: names.alarm_topic(),
                    arn: names.alarm_topic_arn(),
                    email: email.as_str().to_owned(),
                    tags: tags.clone(),
                }));
                names.alarm_topic_arn()
            }
            (None, arn) => arn.clone().unwrap_or_default(),
        };
        stack_alarms = alarm::desired(spec, alarms, names, &deployed, &topic_arn, &tags);
        alarm_topic_arn = Some(topic_arn);
    }
    for &kind in &deployed {
        let code = context.code.get(&kind).cloned().unwrap_or_default();
        resources.push(Desired::Function(function::Desired {
            kind,
            name: names.function(kind),
            arn: names.function_arn(kind),
            architecture: spec.triggers.architecture.as_lambda().to_owned(),
            memory_mb: spec.triggers.memory_mb.get(),
            timeout_seconds: spec.triggers.timeout_seconds.get(),
            role_arn: names.role_arn(),
            environment: function_environment(spec, names, kind),
            code_sha256: code.code_sha256,
            source: code.source,
            log_group: names.log_group(kind),
            tags: tags.clone(),
        }));
    }
    resources.push(Desired::UserPool(user_pool_desired(spec, names)));
    resources.extend(stack_alarms.into_iter().map(Desired::Alarm));
    for &kind in &deployed {
        resources.push(Desired::Permission(permission::Desired {
            kind,
            function: names.function(kind),
            source_arn: context.user_pool_arn.map(str::to_owned),
            source_account: names.account.clone(),
        }));
    }
    let client = &spec.app_client;
    resources.push(Desired::AppClient(app_client::Desired {
        name: names.app_client(),
        auth_session_minutes: client.auth_session_minutes.get(),
        access_token_minutes: client
            .access_token_minutes
            .map_or(app_client::DEFAULT_ACCESS_TOKEN_MINUTES, |m| m.get()),
        id_token_minutes: client
            .id_token_minutes
            .map_or(app_client::DEFAULT_ID_TOKEN_MINUTES, |m| m.get()),
        refresh_token_days: client
            .refresh_token_days
            .map_or(app_client::DEFAULT_REFRESH_TOKEN_DAYS, |d| d.get()),
    }));
    resources.push(Desired::ClientLocator(client_locator::Desired {
        function: names.function(TriggerKind::Define),
        function_arn: names.function_arn(TriggerKind::Define),
        value: context
            .app_client
            .map(|(pool, client)| client_locator::locator(pool, client)),
    }));
    if let Some(topic_arn) = &alarm_topic_arn {
        resources.push(Desired::Alarm(alarm::sign_in_throttles(
            names,
            context.app_client,
            topic_arn,
            &tags,
        )));
    }
    let mut notes: Vec<String> = context
        .ses
        .unread
        .iter()
        .map(|why| format!("{why}; assuming the SES sandbox"))
        .collect();
    notes.push(if context.ses.sandbox {
        "the SES account is in the sandbox, so the Create trigger may send to any verified identity of the account \
         (SES authorises recipients there too), from the stack's sender address only"
            .to_owned()
    } else {
        "the SES account has production access, so the Create trigger may send from the stack's identity only"
            .to_owned()
    });
    // A trigger the spec no longer wants goes: its permission first, then the function,
    // then its logs.
    let retired = TriggerKind::ALL
        .into_iter()
        .filter(|kind| !deployed.contains(kind))
        .flat_map(|kind| {
            [
                ResourceId {
                    kind: ResourceKind::Permission(kind),
                    name: names.function(kind),
                },
                ResourceId {
                    kind: ResourceKind::Function(kind),
                    name: names.function(kind),
                },
                ResourceId {
                    kind: ResourceKind::LogGroup(kind),
                    name: names.log_group(kind),
                },
            ]
        })
        .collect();
    let mut retired: Vec<ResourceId> = retired;
    // Alarms the spec no longer asks for (a trigger switched off, or no `alarms` at all), and
    // the topic when the stack no longer owns one.
    let wanted: BTreeSet<ResourceId> = resources.iter().map(Desired::id).collect();
    retired.extend(
        all_alarm_kinds()
            .map(|kind| ResourceId {
                kind: ResourceKind::Alarm(kind),
                name: names.alarm(&kind.suffix()),
            })
            .chain([ResourceId {
                kind: ResourceKind::AlarmTopic,
                name: names.alarm_topic(),
            }])
            .filter(|id| !wanted.contains(id)),
    );
    DesiredState {
        names: names.clone(),
        resources,
        retired,
        notes,
    }
}

/// Every alarm a stack can have, whichever triggers it deploys.
pub fn all_alarm_kinds() -> impl Iterator<Item = alarm::AlarmKind> {
    use alarm::AlarmKind;
    TriggerKind::ALL
        .into_iter()
        .flat_map(|kind| {
            [
                AlarmKind::TriggerErrors(kind),
                AlarmKind::TriggerThrottles(kind),
                AlarmKind::TriggerDuration(kind),
            ]
        })
        .chain([
            AlarmKind::SendFailures,
            AlarmKind::CeilingRefusals,
            AlarmKind::Lockouts,
            AlarmKind::BudgetRefusals,
            AlarmKind::BounceRate,
            AlarmKind::ComplaintRate,
            AlarmKind::SignInThrottles,
        ])
}

/// The triggers the spec deploys: the sign-in's three, and PreSignUp with self sign-up.
pub fn deployed_triggers(spec: &StackSpec) -> Vec<TriggerKind> {
    let mut kinds = TriggerKind::CUSTOM_AUTH.to_vec();
    if spec.sign_up.enabled {
        kinds.push(TriggerKind::PreSignUp);
    }
    kinds
}

/// The limits table as the spec wants it; the stack lock creates it on a first deploy.
pub fn table_desired(spec: &StackSpec, names: &Names) -> table::Desired {
    table::Desired {
        name: names.limits_table(),
        arn: names.limits_table_arn(),
        tags: resource_tags(spec),
    }
}

/// The pool as the spec wants it; teardown `--force` sends it with protection off.
pub fn user_pool_desired(spec: &StackSpec, names: &Names) -> user_pool::Desired {
    user_pool::Desired {
        name: names.user_pool(),
        triggers: TriggerKind::CUSTOM_AUTH.map(|kind| names.function_arn(kind)),
        pre_sign_up: spec
            .sign_up
            .enabled
            .then(|| names.function_arn(TriggerKind::PreSignUp)),
        deletion_protection: spec.user_pool.deletion_protection,
        tier: spec.user_pool.tier.as_cognito().to_owned(),
        tags: resource_tags(spec),
    }
}

/// The variables each trigger reads at cold start; the names are the triggers' contract.
pub fn function_environment(
    spec: &StackSpec,
    names: &Names,
    kind: TriggerKind,
) -> BTreeMap<String, String> {
    use triggers::config as env;
    let otp = &spec.otp;
    let limits = &spec.limits;
    let limit_pairs = || {
        vec![
            (env::LIMITS_TABLE, names.limits_table()),
            (env::MAX_SENDS, limits.max_sends.get().to_string()),
            (
                env::WINDOW_SECONDS,
                (u64::from(limits.window_minutes.get()) * 60).to_string(),
            ),
            (env::MAX_FAILURES, limits.max_failures.get().to_string()),
            (
                env::LOCKOUT_SECONDS,
                (u64::from(limits.lockout_minutes.get()) * 60).to_string(),
            ),
        ]
        .into_iter()
        .chain(
            limits
                .max_sends_per_hour
                .map(|max| (env::MAX_SENDS_PER_HOUR, max.get().to_string())),
        )
        .collect::<Vec<_>>()
    };
    let mut pairs: Vec<(&str, String)> = match kind {
        TriggerKind::Define => vec![(env::MAX_ATTEMPTS, otp.max_attempts.get().to_string())],
        TriggerKind::Create => {
            let mut pairs = vec![
                (env::CODE_LENGTH, otp.length.get().to_string()),
                (env::TTL_SECONDS, otp.ttl_seconds.get().to_string()),
                (env::EMAIL_FROM, spec.email.from.as_str().to_owned()),
                (env::CONFIGURATION_SET, names.configuration_set()),
            ];
            // Create looks up pending sign-ups only while sign-up is on: Verify may mark an
            // address verified and forget its record only then (the role's grants follow).
            if spec.sign_up.enabled {
                pairs.push((env::LIMITS_TABLE, names.limits_table()));
            }
            pairs
        }
        TriggerKind::Verify => vec![(env::TTL_SECONDS, otp.ttl_seconds.get().to_string())],
        TriggerKind::PreSignUp => vec![
            (env::LIMITS_TABLE, names.limits_table()),
            (
                env::PENDING_SECONDS,
                (u64::from(spec.sign_up.pending_days.get()) * 86_400).to_string(),
            ),
        ],
    };
    // Define asks the send budget, Verify counts failures.
    if matches!(kind, TriggerKind::Define | TriggerKind::Verify) {
        pairs.extend(limit_pairs());
    }
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Every tag the spec asks for, plus the ownership tag.
pub fn resource_tags(spec: &StackSpec) -> Tags {
    let mut tags = spec.tags.clone();
    tags.insert(OWNER_TAG.to_owned(), spec.name.as_str().to_owned());
    tags
}

fn tags_field(tags: &Tags) -> String {
    map_field(tags)
}

/// Which tags are ours: the ownership tag tells whether a resource is this stack's, and
/// only the keys the spec sets are compared. Tags others add (cost allocation, tag
/// policies) are not this stack's configuration, so they are neither drift nor removed.
#[derive(Debug, Clone)]
pub struct Tagging {
    owner: String,
    managed: BTreeSet<String>,
}

impl Tagging {
    pub fn for_spec(spec: &StackSpec) -> Self {
        Self {
            owner: spec.name.as_str().to_owned(),
            managed: resource_tags(spec).into_keys().collect(),
        }
    }

    /// Ownership only, no managed tags: for finding a resource of the stack by its tag.
    pub fn owned_by(stack: &str) -> Self {
        Self {
            owner: stack.to_owned(),
            managed: BTreeSet::new(),
        }
    }

    pub fn owns(&self, owner_tag: Option<&str>) -> bool {
        owner_tag == Some(self.owner.as_str())
    }

    /// The `tags` field: the managed keys only.
    pub fn field<K: AsRef<str>, V: AsRef<str>>(
        &self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> String {
        map_field(
            tags.into_iter()
                .filter(|(key, _)| self.managed.contains(key.as_ref())),
        )
    }
}

/// A create AWS does not make idempotent is sent without the SDK's retries.
fn without_retries() -> aws_sdk_cognitoidentityprovider::config::Builder {
    aws_sdk_cognitoidentityprovider::config::Builder::default()
        .retry_config(aws_sdk_cognitoidentityprovider::config::retry::RetryConfig::disabled())
}

/// What a create without duplicates ended with: a new resource, or the one a lost answer had
/// made after all.
pub(crate) enum Created<T, F> {
    New(T),
    Found(F),
}

/// Sends a create AWS does not make idempotent: never blindly twice. Throttling (AWS did
/// nothing) is retried with jittered backoff; after a failure that may have been carried out,
/// `find` looks for the resource before the create goes out again.
pub(crate) async fn create_without_duplicates<T, F, E, Send, SendFut, Find, FindFut>(
    resource: &str,
    operation: &'static str,
    send: Send,
    find: Find,
) -> Result<Created<T, F>, ProvisionError>
where
    Send: Fn() -> SendFut,
    SendFut: Future<
        Output = Result<
            T,
            aws_sdk_cognitoidentityprovider::error::SdkError<
                E,
                aws_smithy_runtime_api::http::Response,
            >,
        >,
    >,
    Find: Fn() -> FindFut,
    FindFut: Future<Output = Result<Option<F>, ProvisionError>>,
    E: aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    const ATTEMPTS: u32 = 5;
    let mut pause = std::time::Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        let error = match send().await {
            Ok(created) => return Ok(Created::New(created)),
            Err(error) => error,
        };
        let throttled = error
            .as_service_error()
            .and_then(|e| e.code())
            .is_some_and(|code| {
                ["ThrottlingException", "TooManyRequestsException"].contains(&code)
            });
        if is_ambiguous(&error) {
            if let Some(found) = find().await? {
                return Ok(Created::Found(found));
            }
        } else if !throttled {
            return Err(crate::error::aws_error(resource, operation, error));
        }
        if attempt == ATTEMPTS {
            return Err(crate::error::aws_error(resource, operation, error));
        }
        tokio::time::sleep(function::jittered(pause)).await;
        pause *= 2;
    }
    unreachable!("the last attempt returns")
}

/// Whether a failed request may have been carried out all the same: it was sent (or may have
/// been), and its answer never arrived.
fn is_ambiguous<E, R>(error: &aws_sdk_cognitoidentityprovider::error::SdkError<E, R>) -> bool {
    use aws_sdk_cognitoidentityprovider::error::SdkError;
    matches!(
        error,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
    )
}

/// What every read needs.
pub struct ReadCx<'a> {
    pub clients: &'a Clients,
    /// Names only: the account is not known yet in the first round, and reads need none.
    pub names: &'a Names,
    pub tagging: &'a Tagging,
}

/// What every write needs.
pub struct ApplyCx<'a> {
    pub clients: &'a Clients,
    pub names: &'a Names,
    /// The trigger zips; needed only when a function is created or its code updated.
    pub artifacts: Option<&'a Artifacts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRef {
    pub id: String,
    pub arn: String,
}

/// Identifiers one stage hands the next: the pool and client may be new.
#[derive(Debug, Clone, Default)]
pub struct Handover {
    pub user_pool: Option<PoolRef>,
    pub app_client_id: Option<String>,
}

impl Handover {
    pub fn pool(&self, resource: &str) -> Result<&PoolRef, ProvisionError> {
        self.user_pool.as_ref().ok_or_else(|| {
            ProvisionError::state(
                resource,
                "the user pool does not exist yet; deploy the whole stack",
            )
        })
    }

    /// The pool and app client ids, for a resource that names both.
    pub fn app_client(&self, resource: &str) -> Result<(&str, &str), ProvisionError> {
        let pool = self.pool(resource)?;
        let client = self.app_client_id.as_deref().ok_or_else(|| {
            ProvisionError::state(
                resource,
                "the app client does not exist yet; deploy the whole stack",
            )
        })?;
        Ok((&pool.id, client))
    }
}

/// What a step leaves for later stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced {
    Pool(PoolRef),
    Client(String),
    PoolGone,
    /// The role exists, its inline policy is still to be put (alongside the next stage).
    RoleWithoutPolicy,
}

pub async fn create(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    handover: &Handover,
) -> Result<Option<Produced>, ProvisionError> {
    Ok(match desired {
        Desired::Role(d) => Some(role::create(cx, d).await?),
        Desired::EmailIdentity(d) => identity::create(cx, d).await.map(|()| None)?,
        Desired::LogGroup(d) => log_group::create(cx, d).await.map(|()| None)?,
        Desired::AlarmTopic(d) => topic::create(cx, d).await.map(|()| None)?,
        Desired::ConfigurationSet(d) => configuration_set::create(cx, d).await.map(|()| None)?,
        Desired::Alarm(d) => alarm::put(cx, d, handover).await.map(|()| None)?,
        Desired::Function(d) => function::create(cx, d).await.map(|()| None)?,
        Desired::Table(d) => table::create(cx, d).await.map(|()| None)?,
        Desired::UserPool(d) => Some(user_pool::create(cx, d).await?),
        Desired::Permission(d) => permission::put(cx, d, &[], handover).await.map(|()| None)?,
        Desired::AppClient(d) => Some(app_client::create(cx, d, handover).await?),
        Desired::ClientLocator(d) => client_locator::put(cx, d, handover).await.map(|()| None)?,
    })
}

pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
    handover: &Handover,
) -> Result<(), ProvisionError> {
    match desired {
        Desired::Role(d) => role::update(cx, d, changes).await,
        Desired::EmailIdentity(d) => identity::update(cx, d, changes).await,
        Desired::LogGroup(d) => log_group::update(cx, d, changes).await,
        Desired::AlarmTopic(d) => topic::update(cx, d, changes).await,
        Desired::ConfigurationSet(d) => configuration_set::update(cx, d, changes).await,
        Desired::Alarm(d) => alarm::update(cx, d, changes, handover).await,
        Desired::Function(d) => function::update(cx, d, changes).await,
        Desired::Table(d) => table::update(cx, d, changes).await,
        Desired::UserPool(d) => user_pool::update(cx, d, handover).await,
        Desired::Permission(d) => permission::put(cx, d, changes, handover).await,
        Desired::AppClient(d) => app_client::update(cx, d, handover).await,
        Desired::ClientLocator(d) => client_locator::put(cx, d, handover).await,
    }
}

pub async fn delete(
    cx: &ApplyCx<'_>,
    id: &ResourceId,
    handover: &Handover,
) -> Result<Option<Produced>, ProvisionError> {
    match id.kind {
        ResourceKind::Role => role::delete(cx, &id.name).await?,
        ResourceKind::EmailIdentity => identity::delete(cx, &id.name).await?,
        ResourceKind::LogGroup(_) => log_group::delete(cx, &id.name).await?,
        ResourceKind::AlarmTopic => topic::delete(cx, &id.name).await?,
        ResourceKind::ConfigurationSet => configuration_set::delete(cx, &id.name).await?,
        ResourceKind::Alarm(_) => alarm::delete(cx, &id.name).await?,
        ResourceKind::Function(_) => function::delete(cx, &id.name).await?,
        ResourceKind::Table => table::delete(cx, &id.name).await?,
        // Deleting the function deletes its resource policy and its tags with it.
        ResourceKind::Permission(_) | ResourceKind::ClientLocator => {}
        ResourceKind::UserPool => return Ok(Some(user_pool::delete(cx, handover).await?)),
        ResourceKind::AppClient => app_client::delete(cx, handover).await?,
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fields::UpdateCall;
    use crate::naming::Partition;

    /// Names, tagging, tags and an SES scope for a stack `acme` with one spec tag.
    pub fn fixture_context() -> (Names, Tagging, Tags, SesScope) {
        let spec = StackSpec::parse(
            std::path::Path::new("stack.yaml"),
            "name: acme\nregion: us-east-1\ntags:\n  team: identity\nemail:\n  from: no-reply@acme.example\n  identity: acme.example\n",
        )
        .unwrap();
        let names = Names::new("acme", "us-east-1", "123456789012", Partition::default());
        let ses = SesScope {
            identity: "acme.example".into(),
            sandbox: false,
            configuration_set: None,
            unread: None,
        };
        (names, Tagging::for_spec(&spec), resource_tags(&spec), ses)
    }

    /// The contract every kind keeps: what desired renders, read renders too (so a diff can
    /// go away), and every field is carried by an update call or forces a replace (so apply
    /// can make the diff go away).
    pub fn assert_kind_is_consistent(
        desired: &Fields,
        read: &Fields,
        updates: &[UpdateCall],
        replace_on: &[&str],
    ) {
        assert_kind_watches(desired, read, updates, replace_on, &[]);
    }

    /// The same contract for a kind that also watches fields it never changes: each field is
    /// carried by exactly one of an update call, a replace, or the watch list.
    pub fn assert_kind_watches(
        desired: &Fields,
        read: &Fields,
        updates: &[UpdateCall],
        replace_on: &[&str],
        watched: &[crate::fields::Watched],
    ) {
        let desired_keys: Vec<_> = desired.keys().collect();
        let read_keys: Vec<_> = read.keys().collect();
        assert_eq!(
            desired_keys, read_keys,
            "desired and read render different fields"
        );
        for field in desired.keys() {
            let carriers = [
                updates.iter().any(|call| call.fields.contains(field)),
                replace_on.contains(field),
                watched.iter().any(|w| w.field == *field),
            ];
            assert_eq!(
                carriers.iter().filter(|c| **c).count(),
                1,
                "{field} must be carried by exactly one of an update call, a replace or the watch list"
            );
        }
        for call in updates {
            for field in call.fields {
                assert!(
                    desired.contains_key(field),
                    "{} carries unknown field {field}",
                    call.operation
                );
            }
        }
    }

    #[test]
    fn the_desired_state_lists_every_kind_in_stage_order() {
        let (names, _, _, ses) = fixture_context();
        let spec = StackSpec::parse(
            std::path::Path::new("stack.yaml"),
            "name: acme\nregion: us-east-1\nemail:\n  from: no-reply@acme.example\n",
        )
        .unwrap();
        let state = desired_state(
            &spec,
            Context {
                names: &names,
                code: &BTreeMap::new(),
                user_pool_arn: None,
                app_client: None,
                ses: &ses,
            },
        );
        let stages: Vec<u8> = state
            .resources
            .iter()
            .map(|d| d.id().kind.stage())
            .collect();
        assert!(stages.is_sorted(), "{stages:?}");
        assert_eq!(state.resources.len(), 16);
        let logs: Vec<String> = state
            .resources
            .iter()
            .filter(|d| matches!(d.id().kind, ResourceKind::LogGroup(_)))
            .map(|d| d.id().name)
            .collect();
        assert_eq!(
            logs,
            [
                "/aws/lambda/acme-define-auth-challenge",
                "/aws/lambda/acme-create-auth-challenge",
                "/aws/lambda/acme-verify-auth-challenge"
            ]
        );
        assert_eq!(
            state.resources.last().unwrap().id().kind,
            ResourceKind::ClientLocator
        );
    }
}
