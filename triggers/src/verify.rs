//! VerifyAuthChallengeResponse: checks the answer against the session's salted hash.

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsVerifyAuthChallenge as Event,
    CognitoEventUserPoolsVerifyAuthChallengeResponse as Response,
};

use crate::challenge::ChallengeState;
use crate::config::{CODE_LENGTH_RANGE, VerifyConfig};
use crate::limits::Admission;

/// Answers longer than this are refused before any other work: no code is anywhere near it.
const LONGEST_ANSWER_CONSIDERED: usize = 64;

pub fn is_correct(config: &VerifyConfig, event: &Event, now: u64) -> bool {
    let request = &event.request;
    let Some(state) =
        ChallengeState::from_private_parameters(&request.private_challenge_parameters)
    else {
        return false;
    };
    let Some(answer) = request
        .challenge_answer
        .as_ref()
        .and_then(|answer| answer.as_str())
    else {
        return false;
    };
    let Some(candidate) = plausible_code(answer) else {
        return false;
    };
    let fresh = now <= state.expires_at(config.ttl_seconds);
    // Hash even when the outcome is already known, so timing does not tell an expired or
    // unknown-user round from a wrong code.
    let matches = state.digest.matches(candidate);
    matches && fresh && !request.user_not_found
}

/// The trimmed answer when it has the shape of any code we issue: ASCII digits only, of an
/// allowed length. The hash comparison decides the rest.
fn plausible_code(answer: &str) -> Option<&str> {
    if answer.len() > LONGEST_ANSWER_CONSIDERED {
        return None;
    }
    let trimmed = answer.trim();
    let length_allowed =
        u8::try_from(trimmed.len()).is_ok_and(|len| CODE_LENGTH_RANGE.contains(&len));
    (length_allowed && trimmed.bytes().all(|b| b.is_ascii_digit())).then_some(trimmed)
}

/// The answer Cognito gets: right, and accepted by the limits (not locked, not at the
/// failure limit). A wrong answer is wrong whatever the limits said.
pub fn accepted(correct: bool, limits: Admission) -> bool {
    correct && limits == Admission::Admitted
}

/// The address an accepted answer proves: the user's email when it is not verified yet.
/// Only a pending sign-up's address gets codes while unverified, so a right code for it
/// means its owner read the mail.
pub fn proven_address(event: &Event, accepted: bool) -> Option<&str> {
    let attributes = &event.request.user_attributes;
    let verified = attributes.get("email_verified").map(String::as_str) == Some("true");
    (accepted && !verified && !event.request.user_not_found)
        .then(|| attributes.get("email").map(String::as_str))
        .flatten()
        .filter(|address| !address.is_empty())
}

/// Names one guess: this answer to this code (the session's salted hash, salt and issue
/// time). Cognito retrying an invocation repeats it; a new guess, or the same digits for
/// another code, differs. A hash, so the answer itself is never stored.
pub fn guess_id(event: &Event) -> String {
    use sha2::{Digest, Sha256};
    let request = &event.request;
    let mut hasher = Sha256::new();
    hasher.update(b"emailcode-guess\0");
    let mut parameters: Vec<_> = request.private_challenge_parameters.iter().collect();
    parameters.sort();
    for (name, value) in parameters {
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.as_bytes());
        hasher.update(b"\0");
    }
    let answer = request
        .challenge_answer
        .as_ref()
        .map(|answer| answer.to_string())
        .unwrap_or_default();
    hasher.update(answer.as_bytes());
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn respond(answer_correct: bool) -> Response {
    let mut response = Response::default();
    response.answer_correct = answer_correct;
    response
}
