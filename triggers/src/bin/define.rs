//! DefineAuthChallenge Lambda: a thin shell around `triggers::define`.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsDefineAuthChallenge as Event;
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::config::{self, DefineConfig, process_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = config::or_exit(DefineConfig::from_lookup(process_env));
    lambda_runtime::run(service_fn(
        move |LambdaEvent { mut payload, .. }: LambdaEvent<Event>| async move {
            let decision = triggers::define::decide(&config, &payload);
            // One line per invocation: what was decided, never what was typed.
            eprintln!(
                "{decision:?} after {} round(s)",
                payload.request.session.len()
            );
            payload.response = triggers::define::response_for(decision);
            Ok::<_, TriggerError>(payload)
        },
    ))
    .await
}
