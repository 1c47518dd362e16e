//! VerifyAuthChallengeResponse Lambda: a thin shell around `triggers::verify`. Every answer
//! is counted against the account's failure limit, a right one only while it is not locked.

#[path = "shared/store.rs"]
mod store;

use std::sync::Arc;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallenge as Event;
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::config::{self, VerifyConfig, process_env};
use triggers::limits::{self, Admission};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = config::or_exit(VerifyConfig::from_lookup(process_env));
    let (limits, store) = store::from_env().await;
    lambda_runtime::run(service_fn(
        move |LambdaEvent { mut payload, .. }: LambdaEvent<Event>| {
            let (limits, store) = (Arc::clone(&limits), Arc::clone(&store));
            async move {
                let now = triggers::unix_now();
                let correct = triggers::verify::is_correct(&config, &payload, now);
                let header = &payload.cognito_event_user_pools_header;
                let key = limits::event_key(
                    header.user_pool_id.as_deref(),
                    &payload.request.user_attributes,
                    header.user_name.as_deref(),
                );
                let update = if correct {
                    limits::record_success(&limits, &key, now)
                } else {
                    limits::record_failure(&limits, &key, now)
                };
                let (admission, failures) = store.admit(&update).await;
                if limits::lock_due(&limits, admission, failures) {
                    store.admit(&limits::lock(&limits, &key, now)).await;
                }
                let accepted = triggers::verify::accepted(correct, admission);
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
