//! CreateAuthChallenge Lambda: draws the code, sends it through SES in the user's language
//! from the templates deployed beside it, and otherwise defers to `triggers::create`.

#[path = "shared/http.rs"]
mod http;
#[path = "shared/log.rs"]
mod log;
#[path = "shared/store.rs"]
mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_lambda_events::event::cognito::CognitoEventUserPoolsCreateAuthChallenge as Event;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::code::{OneTimeCode, random_salt};
use triggers::config::{self, CreateConfig, process_env};
use triggers::create::{Delivery, Mail, Round};
use triggers::limits;
use triggers::telemetry::Metric;
use triggers::template::{BUNDLE_FILE, Bundle, Templates};

/// Cognito abandons a trigger after 5 s; SES gets at most this much of it.
const SES_BUDGET: Duration = Duration::from_millis(3000);
/// What an in-region SendEmail typically takes, until this process has measured its own.
const INITIAL_SES_LATENCY_MS: u64 = 120;

struct Mailer {
    ses: aws_sdk_sesv2::Client,
    sender: String,
    /// The stack's configuration set: reputation metrics, suppression, event counts.
    configuration_set: Option<String>,
    /// The latest SendEmail latency, mirrored for unknown users so they cannot be told apart.
    recent_latency_ms: AtomicU64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = config::or_exit(CreateConfig::from_lookup(process_env));
    let templates = Arc::new(load_templates());
    let store = store::LazyStore::from_env();
    let sdk_config = crate::http::sdk_defaults()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(1000))
                .operation_attempt_timeout(Duration::from_millis(1500))
                .operation_timeout(SES_BUDGET)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .load()
        .await;
    let mailer = Arc::new(Mailer {
        ses: aws_sdk_sesv2::Client::new(&sdk_config),
        sender: config.sender.clone(),
        configuration_set: config.configuration_set.clone(),
        recent_latency_ms: AtomicU64::new(INITIAL_SES_LATENCY_MS),
    });
    let config = Arc::new(config);
    let log = Arc::new(log::Log::from_env("create", "create-auth-challenge"));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let (config, mailer) = (Arc::clone(&config), Arc::clone(&mailer));
        let (templates, store, log) = (Arc::clone(&templates), store.clone(), Arc::clone(&log));
        async move { handle(&config, &mailer, &templates, store.as_deref(), &log, event).await }
    }))
    .await
}

/// The templates the provisioner put beside `bootstrap`; without them (or with a broken
/// bundle) the cold start fails, which Lambda reports as an init error.
fn load_templates() -> Templates {
    let path = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(BUNDLE_FILE)));
    let loaded = path
        .as_ref()
        .ok_or_else(|| "the executable's directory is unknown".to_owned())
        .and_then(|path| std::fs::read(path).map_err(|e| e.to_string()))
        .and_then(|bytes| Bundle::from_json(&bytes).map_err(|e| e.to_string()))
        .and_then(|bundle| bundle.check().map_err(|e| e.to_string()));
    loaded.unwrap_or_else(|problem| {
        eprintln!(
            "configuration error: the email templates ({BUNDLE_FILE} beside bootstrap) cannot be used: {problem}; redeploy the stack"
        );
        std::process::exit(1)
    })
}

/// Whether an unverified address belongs to an account created by sign-up whose pending
/// record is still open. An unreadable table counts as no: nothing is sent to an address
/// nobody vouched for. Without a table
/// (the stack does not allow sign-up) no pending sign-up counts.
///
/// With a table, every first round asks, whatever the account: a lookup made only for
/// unverified accounts would take time that tells them from verified ones and from nobody.
async fn pending_sign_up(store: Option<&store::LazyStore>, event: &Event) -> bool {
    let Some(store) = store else {
        return false;
    };
    let header = &event.cognito_event_user_pools_header;
    let pool = header.user_pool_id.as_deref().unwrap_or_default();
    let name = limits::counted_name(&event.request.user_attributes, header.user_name.as_deref());
    let found = match store
        .get()
        .await
        .pending_sign_up(&limits::sign_up_key(pool, name))
        .await
    {
        Ok(record) => record
            .is_some_and(|expires_at| limits::pending_is_open(expires_at, triggers::unix_now())),
        Err(code) => {
            log::warning(
                "limits table unavailable; treating the address as unverified",
                &code,
            );
            false
        }
    };
    found && triggers::create::needs_sign_up_check(event)
}

async fn handle(
    config: &CreateConfig,
    mailer: &Mailer,
    templates: &Templates,
    store: Option<&store::LazyStore>,
    log: &log::Log,
    event: LambdaEvent<Event>,
) -> Result<Event, TriggerError> {
    let started = Instant::now();
    let LambdaEvent {
        mut payload,
        context,
    } = event;
    let header = &payload.cognito_event_user_pools_header;
    let account = limits::event_key(
        header.user_pool_id.as_deref(),
        &payload.request.user_attributes,
        header.user_name.as_deref(),
    );
    // With a table, every first round looks a pending sign-up up (see `pending_sign_up`).
    let lookups: &[&str] = if store.is_some() {
        &["pending_sign_up"]
    } else {
        &[]
    };
    let said = |outcome, detail: Option<&str>, metrics: &[Metric]| {
        let first_round = outcome != "reused";
        log.invocation_after(
            outcome,
            &context.request_id,
            started,
            Some(&account),
            detail,
            if first_round { lookups } else { &[] },
            metrics,
        );
    };
    payload.response = match triggers::create::classify(&payload)? {
        Round::Later(state) => {
            said("reused", None, &[]);
            triggers::create::respond(config, &payload, &state)
        }
        Round::First => {
            let code = OneTimeCode::generate(config.code_length)?;
            let mail = Mail {
                templates,
                pending_sign_up: pending_sign_up(store, &payload).await,
            };
            let first = triggers::create::first_round(
                config,
                &mail,
                &payload,
                &code,
                random_salt()?,
                triggers::unix_now(),
            )?;
            let budget = triggers::deadline::budget(
                context.deadline,
                triggers::deadline::now_ms(),
                SES_BUDGET,
            );
            // What happened, never the code or the address. The response was settled before
            // sending: a failed send answers exactly as a sent one and as an unknown user;
            // the failure is a metric, which an alarm watches.
            match first.delivery {
                Some(delivery) => match mailer.send(delivery, budget).await {
                    Ok(()) => said("sent", None, &[Metric::CodesSent]),
                    Err(reason) => said("send_failed", Some(&reason), &[Metric::SendFailures]),
                },
                None => {
                    mailer.imitate_send(budget).await;
                    said("not_sent", None, &[]);
                }
            }
            first.response
        }
    };
    Ok(payload)
}

impl Mailer {
    /// Sends the code; on failure, the reason (an error code, never an address or the code).
    async fn send(&self, delivery: Delivery, budget: Duration) -> Result<(), String> {
        let Delivery { recipient, message } = delivery;
        let utf8 = |data: String| Content::builder().data(data).charset("UTF-8").build();
        let content = (|| {
            Ok::<_, aws_sdk_sesv2::error::BuildError>(
                EmailContent::builder()
                    .simple(
                        Message::builder()
                            .subject(utf8(message.subject)?)
                            .body(
                                Body::builder()
                                    .text(utf8(message.text)?)
                                    .html(utf8(message.html)?)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
        })()
        .map_err(|_| "the message could not be built".to_owned())?;
        let started = Instant::now();
        let request = self
            .ses
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(recipient).build())
            .content(content)
            .set_configuration_set_name(self.configuration_set.clone())
            .send();
        match tokio::time::timeout(budget, request).await {
            Ok(Ok(_)) => {
                let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.recent_latency_ms.store(elapsed, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(error)) => {
                // The service's message can quote addresses; the error code is enough to act on.
                let reason = match &error {
                    SdkError::ServiceError(service) => {
                        service.err().code().unwrap_or("unknown service error")
                    }
                    SdkError::TimeoutError(_) => "timeout",
                    SdkError::DispatchFailure(_) => "could not reach SES",
                    _ => "unexpected response",
                };
                Err(reason.to_owned())
            }
            Err(_) => Err(format!("no answer within {} ms", budget.as_millis())),
        }
    }

    /// Waits about as long as a real send took, give or take a quarter, then sends nothing.
    async fn imitate_send(&self, budget: Duration) {
        let typical = self.recent_latency_ms.load(Ordering::Relaxed);
        let mut jitter = [0u8; 1];
        let spread =
            getrandom::fill(&mut jitter).map_or(0.0, |()| f64::from(jitter[0]) / 255.0 - 0.5);
        let delay = Duration::from_millis((typical as f64 * (1.0 + spread / 2.0)) as u64);
        tokio::time::sleep(delay.min(budget)).await;
    }
}
