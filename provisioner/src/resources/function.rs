//! A trigger's Lambda function: `provided.al2023`, a `bootstrap` binary zipped by
//! `cargo xtask build`, its environment from the spec, the stack's tags.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    ApplicationLogLevel, Architecture, Environment, FunctionCode, FunctionConfiguration,
    LastUpdateStatus, LogFormat, LoggingConfig, Runtime, State, SystemLogLevel,
};

use super::{ApplyCx, Observed, ReadCx, Tagging};
use crate::aws::Clients;
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{FieldChange, Fields, Tags, UpdateCall, list_field, map_field};
use crate::naming::{CODE_TAG, OWNER_TAG, SOURCE_TAG, TriggerKind};

pub const RUNTIME: &str = "provided.al2023";
pub const HANDLER: &str = "bootstrap";

/// The readiness poll starts early and stays frequent for the first second, since a function
/// is often ready within it, then backs off so a slow transition costs few requests (Lambda's
/// control plane allows an account only a few reads a second).
const FIRST_POLL: Duration = Duration::from_millis(25);
const EARLY: Duration = Duration::from_secs(1);
const EARLY_POLL_CAP: Duration = Duration::from_millis(100);
const POLL_CAP: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub kind: TriggerKind,
    pub name: String,
    pub arn: String,
    pub architecture: String,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    pub role_arn: String,
    pub environment: BTreeMap<String, String>,
    /// The package's expected CodeSha256: the build's, which apply uploads (exactly that
    /// zip), or, for a drift check without a build, the one deploy recorded.
    pub code_sha256: String,
    /// The source fingerprint of that package (see [`crate::source`]).
    pub source: String,
    /// The log group the function writes to (the stack's, with its retention).
    pub log_group: String,
    pub tags: Tags,
}

/// The live package's CodeSha256.
pub const CODE_FIELD: &str = "code_sha256";
/// The CodeSha256 deploy recorded having uploaded (a tag): drift without a build expects it.
pub const RECORDED_CODE_FIELD: &str = "recorded_code_sha256";
/// The source fingerprint the package came from (a tag).
pub const SOURCE_FIELD: &str = "source";

const CODE: UpdateCall = UpdateCall {
    operation: "lambda:UpdateFunctionCode",
    fields: &[CODE_FIELD, "architecture"],
};
const CONFIGURATION: UpdateCall = UpdateCall {
    operation: "lambda:UpdateFunctionConfiguration",
    fields: &[
        "runtime",
        "handler",
        "memory_mb",
        "timeout_seconds",
        "role",
        "environment",
        "logging",
    ],
};
/// The record of what deploy uploaded travels in tags beside the stack's own.
const TAGS: UpdateCall = UpdateCall {
    operation: "lambda:TagResource",
    fields: &["tags", RECORDED_CODE_FIELD, SOURCE_FIELD],
};
pub const UPDATES: &[UpdateCall] = &[CODE, CONFIGURATION, TAGS];
pub const REPLACE_ON: &[&str] = &[];

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([
            ("runtime", RUNTIME.to_owned()),
            ("handler", HANDLER.to_owned()),
            ("architecture", self.architecture.clone()),
            ("memory_mb", self.memory_mb.to_string()),
            ("timeout_seconds", self.timeout_seconds.to_string()),
            ("role", self.role_arn.clone()),
            ("environment", map_field(&self.environment)),
            (
                "logging",
                logging_field("JSON", "INFO", "WARN", &self.log_group),
            ),
            (CODE_FIELD, self.code_sha256.clone()),
            (RECORDED_CODE_FIELD, self.code_sha256.clone()),
            (SOURCE_FIELD, self.source.clone()),
            ("tags", super::tags_field(&self.tags)),
        ])
    }

    /// The stack's tags and the record of the package: what create and TagResource send.
    fn all_tags(&self) -> Tags {
        let mut tags = self.tags.clone();
        tags.insert(CODE_TAG.to_owned(), self.code_sha256.clone());
        tags.insert(SOURCE_TAG.to_owned(), self.source.clone());
        tags
    }

    /// JSON logs (the triggers write one JSON object per invocation, which Lambda's log-level
    /// filter reads), INFO and up from the trigger, WARN and up from Lambda itself.
    fn logging(&self) -> LoggingConfig {
        LoggingConfig::builder()
            .log_format(LogFormat::Json)
            .application_log_level(ApplicationLogLevel::Info)
            .system_log_level(SystemLogLevel::Warn)
            .log_group(&self.log_group)
            .build()
    }

    fn environment(&self) -> Environment {
        Environment::builder()
            .set_variables(Some(self.environment.clone().into_iter().collect()))
            .build()
    }
}

pub fn fields_of(
    config: &FunctionConfiguration,
    tags: &BTreeMap<String, String>,
    tagging: &Tagging,
) -> Fields {
    let environment: BTreeMap<&String, &String> = config
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().collect())
        .unwrap_or_default();
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
        ("environment", map_field(environment)),
        (
            "logging",
            config.logging_config().map_or_else(String::new, |l| {
                logging_field(
                    l.log_format().map_or("", |f| f.as_str()),
                    l.application_log_level().map_or("", |a| a.as_str()),
                    l.system_log_level().map_or("", |a| a.as_str()),
                    l.log_group().unwrap_or_default(),
                )
            }),
        ),
        (
            CODE_FIELD,
            config.code_sha256().unwrap_or_default().to_owned(),
        ),
        (RECORDED_CODE_FIELD, recorded(tags, CODE_TAG)),
        (SOURCE_FIELD, recorded(tags, SOURCE_TAG)),
        ("tags", tagging.field(tags)),
    ])
}

fn logging_field(format: &str, application: &str, system: &str, group: &str) -> String {
    map_field([
        ("format", format),
        ("application", application),
        ("system", system),
        ("group", group),
    ])
}

fn recorded(tags: &BTreeMap<String, String>, key: &str) -> String {
    tags.get(key).cloned().unwrap_or_default()
}

/// A function as read, with all its tags: the client locator is one of them.
pub struct FunctionRead {
    pub observed: Observed,
    pub tags: BTreeMap<String, String>,
}

pub async fn read(cx: &ReadCx<'_>, kind: TriggerKind) -> Result<FunctionRead, ProvisionError> {
    let name = cx.names.function(kind);
    let resource = format!("lambda function {name}");
    let absent = FunctionRead {
        observed: Observed::Absent,
        tags: BTreeMap::new(),
    };
    let output = match cx
        .clients
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
            return Ok(absent);
        }
        Err(e) => return Err(aws_error(resource, "lambda:GetFunction", e)),
    };
    let tags = readable_tags(&output, &resource)?;
    let Some(config) = output.configuration() else {
        return Ok(absent);
    };
    let observed = if cx.tagging.owns(tags.get(OWNER_TAG).map(String::as_str)) {
        Observed::Owned(fields_of(config, &tags, cx.tagging))
    } else {
        Observed::Unowned
    };
    Ok(FunctionRead { observed, tags })
}

/// GetFunction returns tags only to a caller allowed `lambda:ListTags`; otherwise it
/// reports a TagsError, which must not read as "no ownership tag, so not ours".
fn readable_tags(
    output: &GetFunctionOutput,
    resource: &str,
) -> Result<BTreeMap<String, String>, ProvisionError> {
    if let Some(error) = output.tags_error() {
        return Err(ProvisionError::state(
            resource,
            format!(
                "its tags could not be read ({}: {}), so its ownership is unknown; allow the deployer lambda:ListTags (see `cargo xtask deployer-policy`)",
                error.error_code(),
                error.message()
            ),
        ));
    }
    Ok(output
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

fn package(cx: &ApplyCx<'_>, desired: &Desired) -> Result<Blob, ProvisionError> {
    let artifacts = cx.artifacts.ok_or_else(|| {
        ProvisionError::state(
            &desired.name,
            "no trigger build given; run `cargo xtask build`",
        )
    })?;
    // The plan compared this hash; uploading anything else would deploy what nobody planned.
    if artifacts.code_sha256(desired.kind) != desired.code_sha256 {
        return Err(ProvisionError::state(
            format!("lambda function {}", desired.name),
            "the trigger build changed after the plan was made; run the command again",
        ));
    }
    Ok(Blob::new(artifacts.zip(desired.kind)))
}

pub async fn create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<(), ProvisionError> {
    let request = cx
        .clients
        .lambda
        .create_function()
        .function_name(&desired.name)
        .runtime(Runtime::from(RUNTIME))
        .handler(HANDLER)
        .role(&desired.role_arn)
        .architectures(Architecture::from(desired.architecture.as_str()))
        .memory_size(desired.memory_mb as i32)
        .timeout(desired.timeout_seconds as i32)
        .environment(desired.environment())
        .logging_config(desired.logging())
        .set_tags(Some(desired.all_tags().into_iter().collect()))
        .code(
            FunctionCode::builder()
                .zip_file(package(cx, desired)?)
                .build(),
        );
    retry_while(
        cx,
        Transient::RolePropagation,
        || request.clone().send(),
        |e| {
            aws_error(
                format!(
                    "lambda function {} (role {})",
                    desired.name, desired.role_arn
                ),
                "lambda:CreateFunction",
                e,
            )
        },
    )
    .await?;
    Ok(())
}

/// Code, then configuration, then tags, each only when a field it carries changed. Lambda
/// refuses an update while the previous one runs, so each waits for the function first.
pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    changes: &[FieldChange],
) -> Result<(), ProvisionError> {
    let resource = format!("lambda function {}", desired.name);
    if CODE.needed_for(changes) {
        wait_until_ready(cx.clients, &desired.name).await?;
        cx.clients
            .lambda
            .update_function_code()
            .function_name(&desired.name)
            .zip_file(package(cx, desired)?)
            .architectures(Architecture::from(desired.architecture.as_str()))
            .send()
            .await
            .map_err(|e| aws_error(&resource, "lambda:UpdateFunctionCode", e))?;
    }
    if CONFIGURATION.needed_for(changes) {
        wait_until_ready(cx.clients, &desired.name).await?;
        let request = cx
            .clients
            .lambda
            .update_function_configuration()
            .function_name(&desired.name)
            .runtime(Runtime::from(RUNTIME))
            .handler(HANDLER)
            .role(&desired.role_arn)
            .memory_size(desired.memory_mb as i32)
            .timeout(desired.timeout_seconds as i32)
            .environment(desired.environment())
            .logging_config(desired.logging());
        retry_while(
            cx,
            Transient::RolePropagation,
            || request.clone().send(),
            |e| aws_error(&resource, "lambda:UpdateFunctionConfiguration", e),
        )
        .await?;
    }
    if TAGS.needed_for(changes) {
        tag(cx, &desired.name, &desired.arn, desired.all_tags()).await?;
    }
    Ok(())
}

/// TagResource, retried while an update of the function is still running.
pub async fn tag(
    cx: &ApplyCx<'_>,
    name: &str,
    arn: &str,
    tags: Tags,
) -> Result<(), ProvisionError> {
    let request = cx
        .clients
        .lambda
        .tag_resource()
        .resource(arn)
        .set_tags(Some(tags.into_iter().collect()));
    retry_while(
        cx,
        Transient::Conflict,
        || request.clone().send(),
        |e| aws_error(format!("lambda function {name}"), "lambda:TagResource", e),
    )
    .await?;
    Ok(())
}

pub async fn delete(cx: &ApplyCx<'_>, name: &str) -> Result<(), ProvisionError> {
    already_gone_is_done(
        cx.clients
            .lambda
            .delete_function()
            .function_name(name)
            .send()
            .await,
        |e| e.is_resource_not_found_exception(),
        format!("lambda function {name}"),
        "lambda:DeleteFunction",
    )
}

/// Waits until the function is Active and no update runs: Lambda refuses invocations of a
/// Pending function, and updates and permission changes while another update runs.
pub async fn wait_until_ready(clients: &Clients, name: &str) -> Result<(), ProvisionError> {
    let resource = format!("lambda function {name}");
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    loop {
        let polled = clients
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await;
        let config = match polled {
            Ok(config) => config,
            // Early polls of several functions can exceed Lambda's control-plane rate; that
            // only means waiting longer between polls, never that deploy failed.
            Err(e)
                if error_code(&e).is_some_and(|code| {
                    ["ThrottlingException", "TooManyRequestsException"].contains(&code)
                }) && started.elapsed() < clients.deadlines.function_ready =>
            {
                pause = (pause * 2).min(POLL_CAP);
                tokio::time::sleep(pause).await;
                continue;
            }
            Err(e) => return Err(aws_error(&resource, "lambda:GetFunctionConfiguration", e)),
        };
        match (config.state(), config.last_update_status()) {
            (Some(State::Failed), _) | (_, Some(LastUpdateStatus::Failed)) => {
                return Err(ProvisionError::state(
                    resource,
                    format!(
                        "Lambda could not make it ready: {}; fix the cause and deploy again",
                        config
                            .last_update_status_reason()
                            .or(config.state_reason())
                            .unwrap_or("no reason given")
                    ),
                ));
            }
            (None | Some(State::Active), None | Some(LastUpdateStatus::Successful)) => {
                return Ok(());
            }
            _ => {}
        }
        if started.elapsed() > clients.deadlines.function_ready {
            return Err(ProvisionError::state(
                resource,
                format!(
                    "still not ready after {} s (state {:?}, last update {:?}); look at the function in the console and deploy again",
                    clients.deadlines.function_ready.as_secs(),
                    config.state(),
                    config.last_update_status()
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        let cap = if started.elapsed() < EARLY {
            EARLY_POLL_CAP
        } else {
            POLL_CAP
        };
        pause = pause.mul_f32(1.5).min(cap);
    }
}

/// The longest pause between two tries of a transient error.
const RETRY_PAUSE_CAP: Duration = Duration::from_secs(5);

/// Doubling, up to [`RETRY_PAUSE_CAP`].
fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(RETRY_PAUSE_CAP)
}

/// Between half and all of `pause`, so that callers that failed together do not retry together.
pub fn jittered(pause: Duration) -> Duration {
    let fraction =
        triggers::code::random_salt().map_or(1.0, |random| 0.5 + f64::from(random[0]) / 510.0);
    pause.mul_f64(fraction)
}

fn error_code<E: aws_sdk_lambda::error::ProvideErrorMetadata>(
    error: &LambdaSdkError<E>,
) -> Option<&str> {
    error.as_service_error().and_then(|e| e.code())
}

type LambdaSdkError<E> = aws_sdk_lambda::error::SdkError<E, aws_smithy_runtime_api::http::Response>;

/// Lambda errors that pass by themselves, so a call that meets one is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// IAM has not yet propagated a new role to Lambda ("cannot be assumed").
    RolePropagation,
    /// ResourceConflictException: an update of the function still runs, or a just-removed
    /// permission statement lingers.
    Conflict,
}

impl Transient {
    fn matches<E: aws_sdk_lambda::error::ProvideErrorMetadata>(
        self,
        error: &LambdaSdkError<E>,
    ) -> bool {
        let Some(service) = error.as_service_error() else {
            return false;
        };
        match self {
            Self::RolePropagation => {
                service.code() == Some("InvalidParameterValueException")
                    && service
                        .message()
                        .is_some_and(|m| m.contains("cannot be assumed"))
            }
            Self::Conflict => error_code(error) == Some("ResourceConflictException"),
        }
    }

    fn deadline(self, deadlines: &crate::aws::Deadlines) -> Duration {
        match self {
            Self::RolePropagation => deadlines.role_propagation,
            Self::Conflict => deadlines.function_ready,
        }
    }
}

/// Calls `call` until it succeeds or fails otherwise than `transient`, backing off, within
/// the transient's deadline.
pub async fn retry_while<T, E, F, Fut>(
    cx: &ApplyCx<'_>,
    transient: Transient,
    mut call: F,
    on_error: impl Fn(LambdaSdkError<E>) -> ProvisionError,
) -> Result<T, ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LambdaSdkError<E>>>,
    E: aws_sdk_lambda::error::ProvideErrorMetadata,
{
    let started = Instant::now();
    let deadline = transient.deadline(&cx.clients.deadlines);
    let mut pause = Duration::from_millis(100);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if transient.matches(&error) && started.elapsed() + pause < deadline => {
                tokio::time::sleep(jittered(pause)).await;
                pause = next_pause(pause);
            }
            Err(error) => return Err(on_error(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::{assert_kind_is_consistent, fixture_context};

    #[test]
    fn retries_back_off_doubling_to_a_cap_with_jitter_within_each_pause() {
        let mut pause = Duration::from_millis(100);
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(pause);
            pause = next_pause(pause);
        }
        assert_eq!(seen[..4], [100, 200, 400, 800].map(Duration::from_millis));
        assert_eq!(*seen.last().unwrap(), RETRY_PAUSE_CAP);
        assert_eq!(RETRY_PAUSE_CAP, Duration::from_secs(5));

        let base = Duration::from_millis(1000);
        let draws: Vec<Duration> = (0..200).map(|_| jittered(base)).collect();
        assert!(
            draws.iter().all(|d| *d >= base / 2 && *d <= base),
            "{draws:?}"
        );
        let mut distinct = draws.clone();
        distinct.sort();
        distinct.dedup();
        assert!(
            distinct.len() > 20,
            "the pauses are not spread: {distinct:?}"
        );
    }

    #[test]
    fn a_new_role_gets_two_minutes_to_become_assumable() {
        // IAM documents no bound; terraform-provider-aws waits two minutes, and so do we
        // before reporting the role's trust policy.
        assert_eq!(
            crate::aws::Deadlines::default().role_propagation,
            Duration::from_secs(120)
        );
    }

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update() {
        let (names, tagging, tags, _) = fixture_context();
        let desired = Desired {
            kind: TriggerKind::Create,
            name: names.function(TriggerKind::Create),
            arn: names.function_arn(TriggerKind::Create),
            architecture: "arm64".into(),
            memory_mb: 256,
            timeout_seconds: 5,
            role_arn: names.role_arn(),
            environment: BTreeMap::from([("OTP_CODE_LENGTH".into(), "6".into())]),
            code_sha256: "c2hh".into(),
            source: "f00d".into(),
            log_group: names.log_group(TriggerKind::Create),
            tags: tags.clone(),
        };
        let config = FunctionConfiguration::builder()
            .runtime(Runtime::from(RUNTIME))
            .handler(HANDLER)
            .architectures(Architecture::Arm64)
            .memory_size(256)
            .timeout(5)
            .role(names.role_arn())
            .environment(
                aws_sdk_lambda::types::EnvironmentResponse::builder()
                    .set_variables(Some(desired.environment.clone().into_iter().collect()))
                    .build(),
            )
            .code_sha256("c2hh")
            .logging_config(desired.logging())
            .build();
        let read = fields_of(&config, &desired.all_tags(), &tagging);
        assert_eq!(read, desired.fields());
        assert_kind_is_consistent(&desired.fields(), &read, UPDATES, REPLACE_ON);
    }
}
