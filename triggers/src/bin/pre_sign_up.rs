//! PreSignUp Lambda: a thin shell around `triggers::sign_up`. It records a self sign-up as
//! pending in the limits table before Cognito creates the account, so the first code can
//! reach the not yet verified address; never for a name that has an account already.

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

use aws_lambda_events::event::cognito::CognitoEventUserPoolsPreSignup as Event;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use triggers::limits;
use triggers::sign_up::{self, Outcome};

/// What Cognito relays to the client when the sign-up cannot be recorded: nothing about
/// the address, and the same for every address.
const UNAVAILABLE: &str = "sign-up is not available right now; try again later";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = triggers::config::or_exit(triggers::config::SignUpConfig::from_lookup(
        triggers::config::process_env,
    ));
    let store = store::table_from_env().await;
    let cognito = Arc::new(cognito::client().await);
    let log = Arc::new(log::Log::from_env("pre-sign-up", "pre-sign-up"));
    lambda_runtime::run(service_fn(
        move |LambdaEvent {
                  mut payload,
                  context,
              }: LambdaEvent<Event>| {
            let store = Arc::clone(&store);
            let pending = config.pending_seconds;
            let (cognito, log) = (Arc::clone(&cognito), Arc::clone(&log));
            async move {
                let started = Instant::now();
                let said = |outcome, detail: Option<&str>| {
                    log.invocation(outcome, &context.request_id, started, None, detail, &[]);
                };
                let outcome = sign_up::decide(&payload);
                match &outcome {
                    Outcome::Refuse(reason) => {
                        said("refused", None);
                        return Err(refusal(reason));
                    }
                    Outcome::AdminCreate => said("admin_create", None),
                    Outcome::Confirm { email } => {
                        let header = &payload.cognito_event_user_pools_header;
                        let pool = header.user_pool_id.as_deref().unwrap_or("");
                        // Cognito may run PreSignUp before it finds the name taken: a record
                        // for an existing account would let codes reach its unverified
                        // address. Cognito then answers UsernameExistsException as always.
                        match account_exists(&cognito, pool, email).await {
                            Ok(false) => {}
                            Ok(true) => {
                                said("account_exists", None);
                                payload.response = sign_up::respond(&outcome);
                                return Ok(payload);
                            }
                            Err(code) => {
                                said("unavailable", Some(&code));
                                return Err(refusal(UNAVAILABLE));
                            }
                        }
                        let key = limits::sign_up_key(pool, email);
                        let record = limits::record_sign_up(&key, triggers::unix_now(), pending);
                        // Without the record the account could never get its first code, so
                        // the sign-up fails rather than leave an account nobody can use.
                        if let Err(code) = store.apply(&record).await {
                            said("unavailable", Some(&code));
                            return Err(refusal(UNAVAILABLE));
                        }
                        said("pending", None);
                    }
                }
                payload.response = sign_up::respond(&outcome);
                Ok(payload)
            }
        },
    ))
    .await
}

/// Whether the pool has an account under this address already.
async fn account_exists(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    email: &str,
) -> Result<bool, String> {
    use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
    match cognito
        .admin_get_user()
        .user_pool_id(pool)
        .username(email)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_user_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.code().unwrap_or("unreachable").to_owned()),
    }
}

fn refusal(reason: &str) -> Diagnostic {
    Diagnostic {
        error_type: "SignUpRefused".to_owned(),
        error_message: reason.to_owned(),
    }
}
