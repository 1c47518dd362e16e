//! VerifyAuthChallengeResponse Lambda: a thin shell around `triggers::verify`. Every answer
//! is counted against the account's failure limit, a right one only while it is not locked.
//! The first right answer of a self sign-up marks its address verified.

#[path = "shared/cognito.rs"]
mod cognito;
#[path = "shared/http.rs"]
mod http;
#[path = "shared/log.rs"]
mod log;
#[path = "shared/store.rs"]
mod store;

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_cognitoidentityprovider::types::AttributeType;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallenge as Event;
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::config::{self, VerifyConfig, process_env};
use triggers::limits::{self, Admission};
use triggers::telemetry::Metric;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = config::or_exit(VerifyConfig::from_lookup(process_env));
    let (limits, store) = store::from_env().await;
    let cognito = Arc::new(cognito::client().await);
    let log = Arc::new(log::Log::from_env("verify", "verify-auth-challenge"));
    lambda_runtime::run(service_fn(
        move |LambdaEvent {
                  mut payload,
                  context,
              }: LambdaEvent<Event>| {
            let (limits, store) = (Arc::clone(&limits), Arc::clone(&store));
            let (cognito, log) = (Arc::clone(&cognito), Arc::clone(&log));
            async move {
                let started = Instant::now();
                let now = triggers::unix_now();
                let correct = triggers::verify::is_correct(&config, &payload, now);
                let header = &payload.cognito_event_user_pools_header;
                let key = limits::event_key(
                    header.user_pool_id.as_deref(),
                    &payload.request.user_attributes,
                    header.user_name.as_deref(),
                );
                // Each call gets what remains of the invocation: the answer, a lock and the
                // address's verification together could outlast a short function timeout.
                let deadline = context.deadline;
                let refused = (Admission::Refused, None);
                let (admission, failures) = if correct {
                    let update = limits::record_success(&limits, &key, now);
                    store::within(deadline, refused, store.admit(&update)).await
                } else {
                    // The same guess again (Cognito retrying) is refused by the write's own
                    // condition, so it never counts twice.
                    let guess = triggers::verify::guess_id(&payload);
                    let update = limits::record_failure(&limits, &key, now, &guess);
                    store::within(deadline, refused, store.admit(&update)).await
                };
                let locking = limits::lock_due(&limits, admission, failures);
                let mut locked_now = false;
                if locking {
                    let lock = limits::lock(&limits, &key, now);
                    let (written, _) = store::within(deadline, refused, store.admit(&lock)).await;
                    locked_now = written == Admission::Admitted;
                }
                let accepted = triggers::verify::accepted(correct, admission);
                if let Some(address) = triggers::verify::proven_address(&payload, accepted) {
                    let marked = mark_verified(&cognito, &store, &payload, address);
                    store::within(deadline, (), marked).await;
                }
                payload.response = triggers::verify::respond(accepted);
                // The outcome, never the answer or who gave it.
                let (outcome, mut metrics) = match (accepted, correct, admission) {
                    (true, ..) => ("right", vec![]),
                    (false, _, Admission::Refused) => ("refused_locked", vec![]),
                    (false, ..) => ("wrong", vec![Metric::WrongAnswers]),
                };
                if locked_now {
                    metrics.push(Metric::Lockouts);
                }
                log.invocation(
                    outcome,
                    &context.request_id,
                    started,
                    Some(&key),
                    None,
                    &metrics,
                );
                Ok::<_, TriggerError>(payload)
            }
        },
    ))
    .await
}

/// Marks the address verified, then forgets the pending sign-up. A failure leaves both as
/// they were, so the next sign-in's right code tries again; this sign-in goes ahead.
async fn mark_verified(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    store: &store::Store,
    event: &Event,
    address: &str,
) {
    let header = &event.cognito_event_user_pools_header;
    let pool = header.user_pool_id.as_deref().unwrap_or_default();
    let verified = AttributeType::builder()
        .name("email_verified")
        .value("true")
        .build()
        .expect("name is set");
    let marked = cognito
        .admin_update_user_attributes()
        .user_pool_id(pool)
        .username(header.user_name.as_deref().unwrap_or_default())
        .user_attributes(verified)
        .send()
        .await;
    if let Err(error) = marked {
        use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
        log::warning(
            "address proven but not marked verified; the next right code tries again",
            error.code().unwrap_or("unreachable"),
        );
        return;
    }
    if let Err(code) = store.delete(&limits::sign_up_key(pool, address)).await {
        log::warning(
            "address marked verified; pending sign-up left in the table",
            &code,
        );
    }
}
