//! VerifyAuthChallengeResponse Lambda: a thin shell around `triggers::verify`.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallenge as Event;
use lambda_runtime::{LambdaEvent, service_fn};
use triggers::TriggerError;
use triggers::config::{self, VerifyConfig, process_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = config::or_exit(VerifyConfig::from_lookup(process_env));
    lambda_runtime::run(service_fn(
        move |LambdaEvent { mut payload, .. }: LambdaEvent<Event>| async move {
            payload.response = triggers::verify::respond(&config, &payload, triggers::unix_now());
            // One line per invocation: the outcome, never the answer.
            let outcome = if payload.response.answer_correct {
                "correct"
            } else {
                "rejected"
            };
            eprintln!("answer {outcome}");
            Ok::<_, TriggerError>(payload)
        },
    ))
    .await
}
