//! PreSignUp: lets a person create their account with only an email address.
//!
//! A self sign-up is confirmed at once, so it needs no password and no Cognito mail, but its
//! address stays unverified: it is verified only when the first code sent to it is entered
//! correctly (Verify marks it). Until then the account is a pending sign-up, recorded in the
//! limits table, and that record is the only thing that lets Create send to an unverified
//! address. Sign-up itself sends nothing; every code still goes through sign-in and its
//! account-wide limits.

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPreSignup as Event, CognitoEventUserPoolsPreSignupResponse as Response,
    CognitoEventUserPoolsPreSignupTriggerSource as Source,
};

use crate::email::looks_like_address;

/// What the PreSignUp trigger answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A person signed up: confirm the account, leave the address unverified, and record
    /// the pending sign-up for this address.
    Confirm { email: String },
    /// An administrator creates the user (`cargo xtask users add`): Cognito's defaults.
    AdminCreate,
    /// Refused with a message Cognito shows the client: it names no address.
    Refuse(&'static str),
}

pub const REFUSED_FEDERATION: &str = "this user pool signs in by email code only";
pub const REFUSED_ADDRESS: &str = "sign-up needs a valid email address";

pub fn decide(event: &Event) -> Outcome {
    match event.cognito_event_user_pools_header.trigger_source {
        Some(Source::AdminCreateUser) => Outcome::AdminCreate,
        Some(Source::ExternalProvider) => Outcome::Refuse(REFUSED_FEDERATION),
        Some(Source::SignUp) | None => match event.request.user_attributes.get("email") {
            Some(email) if looks_like_address(email) => Outcome::Confirm {
                email: email.clone(),
            },
            _ => Outcome::Refuse(REFUSED_ADDRESS),
        },
        // `Source` is non-exhaustive: a sign-up path added later is refused until reviewed.
        Some(_) => Outcome::Refuse(REFUSED_FEDERATION),
    }
}

/// The response for an outcome that is not a refusal.
pub fn respond(outcome: &Outcome) -> Response {
    let mut response = Response::default();
    response.auto_confirm_user = matches!(outcome, Outcome::Confirm { .. });
    // Never: the address counts as verified only once its first code came back.
    response.auto_verify_email = false;
    response.auto_verify_phone = false;
    response
}
