//! CreateAuthChallenge: issues a code on the first round and reuses it on later rounds.
//!
//! The decisions are pure; the binary supplies the code, salt and clock and sends the
//! email this module asks for.

use std::collections::HashMap;

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsCreateAuthChallenge as Event,
    CognitoEventUserPoolsCreateAuthChallengeResponse as Response,
};

use crate::challenge::ChallengeState;
use crate::code::{CodeDigest, OneTimeCode, SALT_LEN};
use crate::config::CreateConfig;
use crate::email::{Message, mask_address};
use crate::template::Templates;
use crate::{CUSTOM_CHALLENGE, TriggerError};

pub const PUBLIC_DESTINATION: &str = "destination";
pub const PUBLIC_CODE_LENGTH: &str = "code_length";
pub const PUBLIC_EXPIRES_AT: &str = "expires_at";

/// What this round must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// No code was issued in this session yet.
    First,
    /// A code was issued and emailed earlier in this session: present it again, send nothing.
    Later(ChallengeState),
}

pub fn classify(event: &Event) -> Result<Round, TriggerError> {
    if event.request.challenge_name.as_deref() != Some(CUSTOM_CHALLENGE) {
        return Err(TriggerError::UnexpectedEvent(
            "only CUSTOM_CHALLENGE is supported",
        ));
    }
    let earlier = event
        .request
        .session
        .iter()
        .rev()
        .flatten()
        .find_map(|round| {
            round
                .challenge_metadata
                .as_deref()
                .and_then(ChallengeState::from_metadata)
        });
    Ok(earlier.map_or(Round::First, Round::Later))
}

/// An email to send: the address and the rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub recipient: String,
    pub message: Message,
}

/// The address a code may go to: a known user's email, once it is verified. An address
/// someone put there without proving they read it (an attribute update, an import) gets
/// nothing, so a stolen token cannot redirect the codes. The one exception is an account
/// created by sign-up (`pending_sign_up`, from the limits table): its first code is how
/// its owner proves the address.
pub fn recipient(event: &Event, pending_sign_up: bool) -> Option<&str> {
    let attributes = &event.request.user_attributes;
    (!event.request.user_not_found && (email_verified(event) || pending_sign_up))
        .then(|| attributes.get("email").map(String::as_str))
        .flatten()
        .filter(|address| !address.is_empty())
}

fn email_verified(event: &Event) -> bool {
    event
        .request
        .user_attributes
        .get("email_verified")
        .map(String::as_str)
        == Some("true")
}

/// Whether the limits table must be asked for a pending sign-up before the first round:
/// only for a known user whose address is not verified, so a usual sign-in asks nothing.
pub fn needs_sign_up_check(event: &Event) -> bool {
    !event.request.user_not_found
        && !email_verified(event)
        && event
            .request
            .user_attributes
            .get("email")
            .is_some_and(|address| !address.is_empty())
}

/// The first round's outcome. `delivery` is `None` for an unknown user or an address that
/// may not get codes: the response looks the same, but nobody receives a code.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstRound {
    pub response: Response,
    pub delivery: Option<Delivery>,
}

/// The sign-in mail for this round: chosen by the user's `locale` attribute.
pub struct Mail<'a> {
    pub templates: &'a Templates,
    /// The limits table's answer for an unverified address; `false` when not asked.
    pub pending_sign_up: bool,
}

pub fn first_round(
    config: &CreateConfig,
    mail: &Mail<'_>,
    event: &Event,
    code: &OneTimeCode,
    salt: [u8; SALT_LEN],
    now: u64,
) -> Result<FirstRound, TriggerError> {
    let state = ChallengeState {
        issued_at: now,
        digest: CodeDigest::new(code, salt),
    };
    let locale = event
        .request
        .user_attributes
        .get("locale")
        .map(String::as_str);
    let delivery = recipient(event, mail.pending_sign_up).map(|recipient| Delivery {
        recipient: recipient.to_owned(),
        message: mail
            .templates
            .render(locale, code.digits(), config.ttl_seconds, recipient),
    });
    Ok(FirstRound {
        response: respond(config, event, &state),
        delivery,
    })
}

/// The response for a round presenting `state`, first or later.
pub fn respond(config: &CreateConfig, event: &Event, state: &ChallengeState) -> Response {
    let mut response = Response::default();
    response.public_challenge_parameters = HashMap::from([
        (
            PUBLIC_DESTINATION.to_owned(),
            mask_address(&destination(event)),
        ),
        (
            PUBLIC_CODE_LENGTH.to_owned(),
            config.code_length.to_string(),
        ),
        (
            PUBLIC_EXPIRES_AT.to_owned(),
            state.expires_at(config.ttl_seconds).to_string(),
        ),
    ]);
    response.private_challenge_parameters = state.to_private_parameters();
    response.challenge_metadata = Some(state.to_metadata());
    response
}

/// The address to show, before masking. An unknown user has no attributes, so the name
/// they typed stands in for it and the response keeps the same shape. Both are lower-cased,
/// as the pool matches usernames in any case: otherwise `ALICE@EXAMPLE.COM` would be masked
/// as typed for nobody and as stored for an account, telling the two apart.
fn destination(event: &Event) -> String {
    event
        .request
        .user_attributes
        .get("email")
        .cloned()
        .or_else(|| event.cognito_event_user_pools_header.user_name.clone())
        .unwrap_or_default()
        .to_lowercase()
}
