//! VerifyAuthChallengeResponse Lambda: a thin shell around `triggers::verify`.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallenge as Event;
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::config::{VerifyConfig, process_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = VerifyConfig::from_lookup(process_env).unwrap_or_else(|error| {
        eprintln!("configuration error: {error}");
        std::process::exit(1)
    });
    lambda_runtime::run(service_fn(
        move |LambdaEvent { mut payload, .. }: LambdaEvent<Event>| async move {
            payload.response = triggers::verify::respond(&config, &payload, triggers::unix_now());
            Ok::<_, TriggerError>(payload)
        },
    ))
    .await
}
