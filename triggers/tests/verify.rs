mod common;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallenge as Event;
use common::fixture;
use serde_json::{Value, json};
use triggers::config::VerifyConfig;
use triggers::limits::Admission;
use triggers::verify::{accepted, is_correct, proven_address, respond};

/// The fixtures' code was issued at this instant.
const ISSUED_AT: u64 = 1_764_000_000;
const CONFIG: VerifyConfig = VerifyConfig { ttl_seconds: 180 };

fn correct(name: &str) -> bool {
    is_correct(&CONFIG, &fixture::<Event>(name), ISSUED_AT + 10)
}

fn correct_with_answer(answer: Value) -> bool {
    let mut event: Event = fixture("verify_right_answer");
    event.request.challenge_answer = Some(answer);
    is_correct(&CONFIG, &event, ISSUED_AT + 10)
}

#[test]
fn the_right_code_is_accepted() {
    assert!(correct("verify_right_answer"));
    assert!(respond(accepted(true, Admission::Admitted)).answer_correct);
}

#[test]
fn a_wrong_code_is_rejected() {
    assert!(!correct("verify_wrong_answer"));
}

#[test]
fn surrounding_whitespace_is_trimmed() {
    assert!(correct("verify_padded_answer"));
}

#[test]
fn the_code_is_valid_up_to_its_ttl_and_not_after() {
    let event: Event = fixture("verify_right_answer");
    assert!(is_correct(&CONFIG, &event, ISSUED_AT + 180));
    assert!(!is_correct(&CONFIG, &event, ISSUED_AT + 181));
    assert!(!is_correct(
        &VerifyConfig { ttl_seconds: 60 },
        &event,
        ISSUED_AT + 61
    ));
}

#[test]
fn an_unknown_user_is_never_verified() {
    assert!(!correct("verify_user_not_found"));
}

#[test]
fn a_round_without_our_state_is_rejected() {
    assert!(!correct("verify_missing_state"));
}

#[test]
fn odd_answers_are_rejected_without_a_panic() {
    let odd = [
        json!(""),
        json!("   "),
        json!("48291"),
        json!("4829100"),
        json!("48291a"),
        json!("４８２９１０"),
        json!("٤٨٢٩١٠"),
        json!("482 910"),
        json!("+482910"),
        json!("9".repeat(1_000_000)),
        json!(482910),
        json!(null),
        json!(["482910"]),
    ];
    for answer in odd {
        let shown: String = answer.to_string().chars().take(20).collect();
        assert!(!correct_with_answer(answer), "accepted {shown}");
    }
}

#[test]
fn a_missing_answer_is_rejected() {
    let mut event: Event = fixture("verify_right_answer");
    event.request.challenge_answer = None;
    assert!(!is_correct(&CONFIG, &event, ISSUED_AT));
}

#[test]
fn a_right_answer_is_refused_while_the_account_is_locked() {
    assert!(!accepted(true, Admission::Refused));
    assert!(!respond(accepted(true, Admission::Refused)).answer_correct);
}

#[test]
fn a_wrong_answer_stays_wrong_whatever_the_limits_say() {
    assert!(!accepted(false, Admission::Admitted));
    assert!(!accepted(false, Admission::Refused));
}

#[test]
fn only_an_accepted_answer_proves_an_unverified_address() {
    let mut event: Event = fixture("verify_right_answer");
    assert_eq!(proven_address(&event, true), None, "already verified");
    event
        .request
        .user_attributes
        .insert("email_verified".to_owned(), "false".to_owned());
    let address = event.request.user_attributes["email"].clone();
    assert_eq!(proven_address(&event, true), Some(address.as_str()));
    assert_eq!(proven_address(&event, false), None);
    event.request.user_not_found = true;
    assert_eq!(proven_address(&event, true), None);
}

/// A guess is this answer to this code: Cognito retrying the same invocation repeats it,
/// while another answer, or the same digits for another code, is a new guess. The id never
/// holds the answer.
#[test]
fn a_guess_is_named_by_its_answer_and_its_code() {
    let event: Event = fixture("verify_right_answer");
    let id = triggers::verify::guess_id(&event);
    assert_eq!(id, triggers::verify::guess_id(&event.clone()));
    let mut other_answer = event.clone();
    other_answer.request.challenge_answer = Some(json!("000002"));
    assert_ne!(id, triggers::verify::guess_id(&other_answer));
    let mut other_code = event.clone();
    other_code
        .request
        .private_challenge_parameters
        .insert("issued_at".to_owned(), "1764000999".to_owned());
    assert_ne!(id, triggers::verify::guess_id(&other_code));
    let answer = event.request.challenge_answer.as_ref().unwrap().to_string();
    assert!(!id.contains(answer.trim_matches('"')), "{id}");
    assert_eq!(id.len(), 32);
}
