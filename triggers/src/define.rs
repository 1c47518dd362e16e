//! DefineAuthChallenge: decides, from the rounds so far, whether to present a challenge,
//! issue tokens or fail.

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsChallengeResult as Round,
    CognitoEventUserPoolsDefineAuthChallenge as Event,
    CognitoEventUserPoolsDefineAuthChallengeResponse as Response,
};

use crate::CUSTOM_CHALLENGE;
use crate::challenge::METADATA_PREFIX;
use crate::config::DefineConfig;
use crate::limits::Admission;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Present,
    IssueTokens,
    Fail,
}

/// Whether this call starts a sign-in, the one moment a code is about to be sent: only then
/// does the send budget need asking.
pub fn needs_admission(event: &Event) -> bool {
    event.request.session.is_empty()
}

/// Whether this call follows a wrong answer: then the account's lock is asked, so a session
/// ends as soon as its account is locked instead of taking guesses that count for nothing.
pub fn needs_lock_check(event: &Event) -> bool {
    event
        .request
        .session
        .last()
        .and_then(Option::as_ref)
        .is_some_and(|round| !round.challenge_result)
}

/// `admission` is the limits table's answer: for a first round the send budget's, after a
/// wrong answer whether the account is free of a lock (`Refused` while locked); otherwise
/// `None`. A first round without an admission (the budget could not be asked) fails:
/// closed, never open.
pub fn decide(config: &DefineConfig, event: &Event, admission: Option<Admission>) -> Decision {
    let request = &event.request;
    let Some(rounds) = request
        .session
        .iter()
        .map(Option::as_ref)
        .collect::<Option<Vec<&Round>>>()
    else {
        return Decision::Fail;
    };
    // A password or SRP round means someone started another flow on this session; never
    // let it count towards ours.
    if !rounds.iter().all(|round| is_ours(round)) {
        return Decision::Fail;
    }
    match rounds.last() {
        None if admission == Some(Admission::Admitted) => Decision::Present,
        None => Decision::Fail,
        Some(last) if last.challenge_result => {
            if request.user_not_found {
                Decision::Fail
            } else {
                Decision::IssueTokens
            }
        }
        Some(_) if rounds.len() >= usize::from(config.max_attempts) => Decision::Fail,
        Some(_) if admission == Some(Admission::Refused) => Decision::Fail,
        Some(_) => Decision::Present,
    }
}

/// A round this stack created: a CUSTOM_CHALLENGE carrying our metadata. Cognito fills in
/// the metadata only after CreateAuthChallenge ran, so a round is ours from that point on.
fn is_ours(round: &Round) -> bool {
    round.challenge_name.as_deref() == Some(CUSTOM_CHALLENGE)
        && round
            .challenge_metadata
            .as_deref()
            .is_some_and(|metadata| metadata.starts_with(METADATA_PREFIX))
}

pub fn respond(config: &DefineConfig, event: &Event, admission: Option<Admission>) -> Response {
    response_for(decide(config, event, admission))
}

pub fn response_for(decision: Decision) -> Response {
    let mut response = Response::default();
    match decision {
        Decision::Present => response.challenge_name = Some(CUSTOM_CHALLENGE.to_owned()),
        Decision::IssueTokens => response.issue_tokens = true,
        Decision::Fail => response.fail_authentication = true,
    }
    response
}
