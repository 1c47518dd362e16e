mod common;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsDefineAuthChallenge as Event;
use common::fixture;
use triggers::config::DefineConfig;
use triggers::define::{Decision, decide, needs_admission, needs_lock_check, respond};
use triggers::limits::Admission;

const THREE_ATTEMPTS: DefineConfig = DefineConfig { max_attempts: 3 };

/// Decides as the binary does: the limits are asked only when the event needs it, and here
/// they admit.
fn decision(name: &str, config: &DefineConfig) -> Decision {
    let event = fixture::<Event>(name);
    let asked = needs_admission(&event) || needs_lock_check(&event);
    decide(config, &event, asked.then_some(Admission::Admitted))
}

#[test]
fn after_a_wrong_answer_a_locked_account_ends_the_session() {
    let event: Event = fixture("define_after_one_wrong_answer");
    assert!(needs_lock_check(&event));
    assert_eq!(
        decide(&THREE_ATTEMPTS, &event, Some(Admission::Admitted)),
        Decision::Present
    );
    assert_eq!(
        decide(&THREE_ATTEMPTS, &event, Some(Admission::Refused)),
        Decision::Fail
    );
    assert!(!needs_lock_check(&fixture("define_after_correct_answer")));
    assert!(!needs_lock_check(&fixture("define_first_round")));
}

#[test]
fn an_empty_session_presents_the_custom_challenge() {
    let response = respond(
        &THREE_ATTEMPTS,
        &fixture("define_first_round"),
        Some(Admission::Admitted),
    );
    assert_eq!(response.challenge_name.as_deref(), Some("CUSTOM_CHALLENGE"));
    assert!(!response.issue_tokens && !response.fail_authentication);
}

#[test]
fn a_first_round_over_the_send_budget_or_locked_fails_without_a_challenge() {
    let response = respond(
        &THREE_ATTEMPTS,
        &fixture("define_first_round"),
        Some(Admission::Refused),
    );
    assert!(response.fail_authentication);
    assert_eq!(response.challenge_name, None);
}

#[test]
fn a_first_round_whose_budget_could_not_be_asked_fails_closed() {
    assert_eq!(
        decide(&THREE_ATTEMPTS, &fixture("define_first_round"), None),
        Decision::Fail
    );
}

#[test]
fn only_the_first_round_asks_the_send_budget() {
    assert!(needs_admission(&fixture("define_first_round")));
    assert!(needs_admission(&fixture(
        "define_user_not_found_first_round"
    )));
    assert!(!needs_admission(&fixture("define_after_one_wrong_answer")));
}

#[test]
fn an_unknown_user_is_refused_by_the_budget_exactly_like_a_known_one() {
    for name in ["define_first_round", "define_user_not_found_first_round"] {
        let event: Event = fixture(name);
        for admission in [Admission::Admitted, Admission::Refused] {
            let known = respond(
                &THREE_ATTEMPTS,
                &fixture("define_first_round"),
                Some(admission),
            );
            assert_eq!(
                respond(&THREE_ATTEMPTS, &event, Some(admission)),
                known,
                "{name} with {admission:?}"
            );
        }
    }
}

#[test]
fn a_wrong_answer_with_attempts_left_presents_the_challenge_again() {
    assert_eq!(
        decision("define_after_one_wrong_answer", &THREE_ATTEMPTS),
        Decision::Present
    );
}

#[test]
fn the_last_wrong_answer_fails_the_sign_in() {
    let response = respond(
        &THREE_ATTEMPTS,
        &fixture("define_after_last_wrong_answer"),
        None,
    );
    assert!(response.fail_authentication);
    assert!(!response.issue_tokens);
    assert_eq!(response.challenge_name, None);
}

#[test]
fn max_attempts_comes_from_the_configuration() {
    assert_eq!(
        decision(
            "define_after_one_wrong_answer",
            &DefineConfig { max_attempts: 1 }
        ),
        Decision::Fail
    );
    assert_eq!(
        decision(
            "define_after_last_wrong_answer",
            &DefineConfig { max_attempts: 4 }
        ),
        Decision::Present
    );
}

#[test]
fn a_correct_answer_issues_tokens() {
    let response = respond(
        &THREE_ATTEMPTS,
        &fixture("define_after_correct_answer"),
        None,
    );
    assert!(response.issue_tokens);
    assert!(!response.fail_authentication);
}

#[test]
fn a_session_with_password_or_srp_rounds_fails() {
    assert_eq!(
        decision("define_srp_in_session", &THREE_ATTEMPTS),
        Decision::Fail
    );
}

#[test]
fn a_custom_round_not_created_by_this_stack_fails() {
    assert_eq!(
        decision("define_foreign_custom_round", &THREE_ATTEMPTS),
        Decision::Fail
    );
}

#[test]
fn an_unknown_user_is_challenged_like_anyone_else() {
    assert_eq!(
        decision("define_user_not_found_first_round", &THREE_ATTEMPTS),
        Decision::Present
    );
}

#[test]
fn an_unknown_user_never_gets_tokens_even_on_a_correct_round() {
    assert_eq!(
        decision("define_user_not_found_correct_answer", &THREE_ATTEMPTS),
        Decision::Fail
    );
}

#[test]
fn a_null_round_in_the_session_fails() {
    let mut event: Event = fixture("define_after_one_wrong_answer");
    event.request.session.push(None);
    assert_eq!(decide(&THREE_ATTEMPTS, &event, None), Decision::Fail);
}
