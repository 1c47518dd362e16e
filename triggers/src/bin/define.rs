//! DefineAuthChallenge Lambda: a thin shell around `triggers::define`. On the first round it
//! asks the limits table whether the account may be sent another code; after a wrong answer,
//! whether the account is locked.

#[path = "shared/http.rs"]
mod http;
#[path = "shared/log.rs"]
mod log;
#[path = "shared/store.rs"]
mod store;

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsDefineAuthChallenge as Event;
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::config::{self, DefineConfig, process_env};
use triggers::define::Decision;
use triggers::limits::{self, Admission, SendAdmission};
use triggers::telemetry::Metric;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = config::or_exit(DefineConfig::from_lookup(process_env));
    let (limits, store) = store::from_env().await;
    let log = Arc::new(log::Log::from_env("define", "define-auth-challenge"));
    lambda_runtime::run(service_fn(
        move |LambdaEvent {
                  mut payload,
                  context,
              }: LambdaEvent<Event>| {
            let (limits, store) = (Arc::clone(&limits), Arc::clone(&store));
            let log = Arc::clone(&log);
            async move {
                let started = Instant::now();
                let header = &payload.cognito_event_user_pools_header;
                let key = || {
                    limits::event_key(
                        header.user_pool_id.as_deref(),
                        &payload.request.user_attributes,
                        header.user_name.as_deref(),
                    )
                };
                let now = triggers::unix_now();
                let account = key();
                let said = |outcome, metrics: &[Metric]| {
                    log.invocation(
                        outcome,
                        &context.request_id,
                        started,
                        Some(&account),
                        None,
                        metrics,
                    );
                };
                let admission = if triggers::define::needs_admission(&payload) {
                    let admitted = store.admit_send(&limits, &account, now);
                    let sent =
                        store::within(context.deadline, SendAdmission::Refused, admitted).await;
                    match sent {
                        SendAdmission::BudgetSpent => {
                            said("refused_budget", &[Metric::BudgetRefusals]);
                            return Err(TriggerError::SendBudgetUsedUp {
                                retry_after_seconds: limits::window_ends_in(&limits, now),
                            });
                        }
                        // To the client the same answer as a spent budget: try again later.
                        SendAdmission::CeilingReached => {
                            said("refused_ceiling", &[Metric::CeilingRefusals]);
                            return Err(TriggerError::SendBudgetUsedUp {
                                retry_after_seconds: limits::hour_ends_in(now),
                            });
                        }
                        SendAdmission::Admitted | SendAdmission::Refused => {}
                    }
                    Some(sent.admission())
                } else if triggers::define::needs_lock_check(&payload) {
                    let lock = store.lock_admission(&account, now);
                    Some(store::within(context.deadline, Admission::Refused, lock).await)
                } else {
                    None
                };
                let decision = triggers::define::decide(&config, &payload, admission);
                // What was decided, never who or what was typed.
                match (decision, payload.request.session.is_empty()) {
                    (Decision::Present, true) => said("started", &[]),
                    (Decision::Fail, true) => said("refused", &[]),
                    (Decision::Present, false) => said("next_round", &[]),
                    (Decision::IssueTokens, _) => said("signed_in", &[Metric::SignInsCompleted]),
                    (Decision::Fail, false) => said("failed", &[]),
                }
                payload.response = triggers::define::response_for(decision);
                Ok::<_, TriggerError>(payload)
            }
        },
    ))
    .await
}
