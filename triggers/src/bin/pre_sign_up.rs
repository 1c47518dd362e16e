//! PreSignUp Lambda: a thin shell around `triggers::sign_up`. It records a self sign-up as
//! pending in the limits table before Cognito creates the account, so the first code can
//! reach the not yet verified address.

#[path = "shared/store.rs"]
mod store;

use std::sync::Arc;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsPreSignup as Event;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use triggers::limits;
use triggers::sign_up::{self, Outcome};

/// What Cognito relays to the client when the sign-up cannot be recorded: nothing about
/// the address, and the same for every address.
const UNAVAILABLE: &str = "sign-up is not available right now; try again later";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let store = store::table_from_env().await;
    lambda_runtime::run(service_fn(
        move |LambdaEvent { mut payload, .. }: LambdaEvent<Event>| {
            let store = Arc::clone(&store);
            async move {
                let outcome = sign_up::decide(&payload);
                match &outcome {
                    Outcome::Refuse(reason) => {
                        eprintln!("sign-up refused: {reason}");
                        return Err(refusal(reason));
                    }
                    Outcome::AdminCreate => eprintln!("administrator creates a user"),
                    Outcome::Confirm { email } => {
                        let header = &payload.cognito_event_user_pools_header;
                        let key = limits::sign_up_key(
                            header.user_pool_id.as_deref().unwrap_or(""),
                            email,
                        );
                        let record = limits::record_sign_up(&key, triggers::unix_now());
                        // Without the record the account could never get its first code, so
                        // the sign-up fails rather than leave an account nobody can use.
                        if let Err(code) = store.apply(&record).await {
                            eprintln!("sign-up refused: limits table unavailable ({code})");
                            return Err(refusal(UNAVAILABLE));
                        }
                        eprintln!("sign-up confirmed, address pending its first code");
                    }
                }
                payload.response = sign_up::respond(&outcome);
                Ok(payload)
            }
        },
    ))
    .await
}

fn refusal(reason: &str) -> Diagnostic {
    Diagnostic {
        error_type: "SignUpRefused".to_owned(),
        error_message: reason.to_owned(),
    }
}
