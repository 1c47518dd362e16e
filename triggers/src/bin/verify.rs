//! VerifyAuthChallengeResponse Lambda: a thin shell around `triggers::verify`. Every answer
//! is counted against the account's failure limit, a right one only while it is not locked.
//! The first right answer of a self sign-up marks its address verified.

#[path = "shared/cognito.rs"]
mod cognito;
#[path = "shared/store.rs"]
mod store;

use std::sync::Arc;

use aws_sdk_cognitoidentityprovider::types::AttributeType;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallenge as Event;
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::config::{self, VerifyConfig, process_env};
use triggers::limits::{self, Admission};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = config::or_exit(VerifyConfig::from_lookup(process_env));
    let (limits, store) = store::from_env().await;
    let cognito = Arc::new(cognito::client().await);
    lambda_runtime::run(service_fn(
        move |LambdaEvent {
                  mut payload,
                  context,
              }: LambdaEvent<Event>| {
            let (limits, store) = (Arc::clone(&limits), Arc::clone(&store));
            let cognito = Arc::clone(&cognito);
            async move {
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
                if limits::lock_due(&limits, admission, failures) {
                    let lock = limits::lock(&limits, &key, now);
                    store::within(deadline, refused, store.admit(&lock)).await;
                }
                let accepted = triggers::verify::accepted(correct, admission);
                if let Some(address) = triggers::verify::proven_address(&payload, accepted) {
                    let marked = mark_verified(&cognito, &store, &payload, address);
                    store::within(deadline, (), marked).await;
                }
                payload.response = triggers::verify::respond(accepted);
                // One line per invocation: the outcome, never the answer or who gave it.
                let outcome = match (accepted, correct, admission) {
                    (true, ..) => "correct",
                    (false, true, Admission::Refused) => "refused: locked",
                    (false, ..) => "rejected",
                };
                eprintln!("answer {outcome}");
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
        eprintln!(
            "address proven but not marked verified ({}); the next right code tries again",
            error.code().unwrap_or("unreachable")
        );
        return;
    }
    match store.delete(&limits::sign_up_key(pool, address)).await {
        Ok(()) => eprintln!("address proven by its first code: marked verified"),
        Err(code) => {
            eprintln!("address marked verified; pending sign-up left in the table ({code})")
        }
    }
}
