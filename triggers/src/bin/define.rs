//! DefineAuthChallenge Lambda: a thin shell around `triggers::define`. On the first round it
//! asks the limits table whether the account may be sent another code; after a wrong answer,
//! whether the account is locked.

#[path = "shared/store.rs"]
mod store;

use std::sync::Arc;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsDefineAuthChallenge as Event;
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::config::{self, DefineConfig, process_env};
use triggers::limits::{self, Admission, SendAdmission};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = config::or_exit(DefineConfig::from_lookup(process_env));
    let (limits, store) = store::from_env().await;
    lambda_runtime::run(service_fn(
        move |LambdaEvent {
                  mut payload,
                  context,
              }: LambdaEvent<Event>| {
            let (limits, store) = (Arc::clone(&limits), Arc::clone(&store));
            async move {
                let header = &payload.cognito_event_user_pools_header;
                let key = || {
                    limits::event_key(
                        header.user_pool_id.as_deref(),
                        &payload.request.user_attributes,
                        header.user_name.as_deref(),
                    )
                };
                let now = triggers::unix_now();
                let admission = if triggers::define::needs_admission(&payload) {
                    let key = key();
                    let admitted = store.admit_send(&limits, &key, now);
                    let sent =
                        store::within(context.deadline, SendAdmission::Refused, admitted).await;
                    if sent == SendAdmission::BudgetSpent {
                        eprintln!(
                            "first round refused: the send budget is used up for this window"
                        );
                        return Err(TriggerError::SendBudgetUsedUp {
                            retry_after_seconds: limits::window_ends_in(&limits, now),
                        });
                    }
                    // To the client the same answer as a spent budget: try again later.
                    if sent == SendAdmission::CeilingReached {
                        eprintln!(
                            "first round refused: the stack's ceiling for this hour is reached"
                        );
                        return Err(TriggerError::SendBudgetUsedUp {
                            retry_after_seconds: limits::hour_ends_in(now),
                        });
                    }
                    Some(sent.admission())
                } else if triggers::define::needs_lock_check(&payload) {
                    let key = key();
                    let lock = store.lock_admission(&key, now);
                    Some(store::within(context.deadline, Admission::Refused, lock).await)
                } else {
                    None
                };
                let decision = triggers::define::decide(&config, &payload, admission);
                // One line per invocation: what was decided, never who or what was typed.
                eprintln!(
                    "{decision:?} after {} round(s){}",
                    payload.request.session.len(),
                    admission.map_or(String::new(), |a| format!(", limits {a:?}"))
                );
                payload.response = triggers::define::response_for(decision);
                Ok::<_, TriggerError>(payload)
            }
        },
    ))
    .await
}
