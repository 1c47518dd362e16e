mod common;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsCreateAuthChallenge as Event;
use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallenge as VerifyEvent;
use common::{fixture, shipped_templates};
use triggers::challenge::ChallengeState;
use triggers::code::OneTimeCode;
use triggers::config::{CreateConfig, VerifyConfig};
use triggers::create::{
    FirstRound, Mail, PUBLIC_CODE_LENGTH, PUBLIC_DESTINATION, PUBLIC_EXPIRES_AT, Round, classify,
    first_round, needs_sign_up_check, respond,
};
use triggers::template::Templates;

const NOW: u64 = 1_764_000_500;

fn config() -> CreateConfig {
    CreateConfig {
        code_length: 6,
        ttl_seconds: 180,
        sender: "no-reply@acme.example".to_owned(),
        configuration_set: None,
    }
}

fn mail(templates: &Templates, pending_sign_up: bool) -> Mail<'_> {
    Mail {
        templates,
        pending_sign_up,
    }
}

/// The first round for `event` with the shipped templates, a fixed code and a fixed salt.
fn first(event: &Event, pending_sign_up: bool) -> FirstRound {
    let templates = shipped_templates();
    first_round(
        &config(),
        &mail(&templates, pending_sign_up),
        event,
        &code(),
        [3; 16],
        NOW,
    )
    .unwrap()
}

/// The known user's first round, with one user attribute set.
fn with_attribute(name: &str, value: &str) -> Event {
    let mut event: Event = fixture("create_first_round");
    event
        .request
        .user_attributes
        .insert(name.to_owned(), value.to_owned());
    event
}

fn code() -> OneTimeCode {
    OneTimeCode::from_digits("731904").unwrap()
}

#[test]
fn the_first_round_emails_a_new_code_and_keeps_only_its_hash() {
    let event: Event = fixture("create_first_round");
    assert_eq!(classify(&event).unwrap(), Round::First);
    let round = first(&event, false);

    let delivery = round.delivery.expect("a known user gets an email");
    assert_eq!(delivery.recipient, "alice@example.com");
    assert_eq!(delivery.message.subject, "Your Acme <Staging> sign-in code");
    assert!(
        delivery.message.text.contains("731904") && delivery.message.text.contains("3 minutes")
    );
    assert!(delivery.message.html.contains(">731904<"));
    assert!(delivery.message.html.contains("Acme &lt;Staging&gt;"));

    let response = &round.response;
    assert_eq!(
        response.public_challenge_parameters[PUBLIC_DESTINATION],
        "a***@example.com"
    );
    assert_eq!(
        response.public_challenge_parameters[PUBLIC_CODE_LENGTH],
        "6"
    );
    assert_eq!(
        response.public_challenge_parameters[PUBLIC_EXPIRES_AT],
        (NOW + 180).to_string()
    );
    assert!(!response.private_challenge_parameters.is_empty());
    assert!(
        response
            .private_challenge_parameters
            .values()
            .all(|v| !v.is_empty())
    );
    let state =
        ChallengeState::from_metadata(response.challenge_metadata.as_deref().unwrap()).unwrap();
    assert_eq!(state.issued_at, NOW);
    assert!(state.digest.matches("731904"));
}

#[test]
fn the_code_never_appears_in_the_serialized_response() {
    let templates = shipped_templates();
    let event: Event = fixture("create_first_round");
    for _ in 0..200 {
        let code = OneTimeCode::generate(6).unwrap();
        let first = first_round(
            &config(),
            &mail(&templates, false),
            &event,
            &code,
            triggers::code::random_salt().unwrap(),
            NOW,
        )
        .unwrap();
        let mut returned = event.clone();
        returned.response = first.response;
        let serialized = serde_json::to_string(&returned).unwrap();
        assert!(
            !serialized.contains(code.digits()),
            "code leaked into {serialized}"
        );
        assert!(first.delivery.unwrap().message.text.contains(code.digits()));
    }
}

#[test]
fn a_later_round_reuses_the_code_and_sends_nothing() {
    let event: Event = fixture("create_retry_round");
    let Round::Later(state) = classify(&event).unwrap() else {
        panic!("a session with our round must reuse its code");
    };
    assert_eq!(state.issued_at, 1_764_000_000);
    let response = respond(&config(), &event, &state);
    assert_eq!(
        response.challenge_metadata.as_deref(),
        Some(state.to_metadata().as_str())
    );
    assert_eq!(
        response.private_challenge_parameters,
        state.to_private_parameters()
    );
    assert_eq!(
        response.public_challenge_parameters[PUBLIC_EXPIRES_AT],
        "1764000180"
    );
}

#[test]
fn an_unknown_user_gets_the_same_shape_and_no_email() {
    let known = first(&fixture("create_first_round"), false);
    let unknown = first(&fixture("create_user_not_found"), false);
    assert!(unknown.delivery.is_none());
    let keys = |r: &triggers::create::FirstRound| {
        let mut public: Vec<_> = r
            .response
            .public_challenge_parameters
            .keys()
            .cloned()
            .collect();
        let mut private: Vec<_> = r
            .response
            .private_challenge_parameters
            .keys()
            .cloned()
            .collect();
        public.sort();
        private.sort();
        (public, private, r.response.challenge_metadata.is_some())
    };
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(
        unknown.response.public_challenge_parameters[PUBLIC_DESTINATION],
        "m***@example.com"
    );
}

#[test]
fn what_create_stores_is_what_verify_accepts() {
    let round = first(&fixture("create_first_round"), false);
    let mut verify: VerifyEvent = fixture("verify_right_answer");
    verify.request.private_challenge_parameters = round.response.private_challenge_parameters;
    verify.request.challenge_answer = Some("731904".into());
    let config = VerifyConfig { ttl_seconds: 180 };
    assert!(triggers::verify::is_correct(&config, &verify, NOW + 1));
    verify.request.challenge_answer = Some("731905".into());
    assert!(!triggers::verify::is_correct(&config, &verify, NOW + 1));
}

#[test]
fn any_challenge_but_custom_is_refused() {
    let mut event: Event = fixture("create_first_round");
    event.request.challenge_name = Some("SMS_MFA".to_owned());
    let error = classify(&event).unwrap_err();
    assert_eq!(error.kind(), "UnexpectedEvent");
}

#[test]
fn an_unverified_address_gets_nothing_and_answers_as_an_unknown_user() {
    let mut event = with_attribute("email_verified", "false");
    let unverified = first(&event, false);
    assert!(
        unverified.delivery.is_none(),
        "a code went to an unverified address"
    );
    event.request.user_attributes.remove("email_verified");
    assert!(first(&event, false).delivery.is_none());
}

/// The binary settles the response before it sends, and returns it whether SES accepted the
/// email or failed; so a known user whose email fails and an unknown user who typed the same
/// address get identical responses. (Compared as JSON values: the event types hold the
/// parameters in `HashMap`s, whose key order is drawn at random for every response, so the
/// order of keys carries nothing about the user either.)
#[test]
fn a_failed_send_and_an_unknown_user_give_identical_responses() {
    let known: Event = fixture("create_first_round");
    let mut unknown: Event = fixture("create_user_not_found");
    unknown.cognito_event_user_pools_header.user_name = Some("alice@example.com".to_owned());
    let response = |event: &Event| serde_json::to_value(first(event, false).response).unwrap();
    assert_eq!(response(&known), response(&unknown));
}

/// Whatever case the address is typed or stored in, an account and nobody mask to the same
/// text: the mask must not tell who has an account.
#[test]
fn mixed_case_masks_the_same_for_an_account_and_for_nobody() {
    for (typed, stored) in [
        ("ALICE@EXAMPLE.COM", "alice@example.com"),
        ("alice@example.com", "Alice@Example.COM"),
        ("Alice@EXAMPLE.com", "ALICE@example.COM"),
    ] {
        let known = with_attribute("email", stored);
        let mut unknown: Event = fixture("create_user_not_found");
        unknown.cognito_event_user_pools_header.user_name = Some(typed.to_owned());
        let mask = |event: &Event| {
            first(event, false).response.public_challenge_parameters[PUBLIC_DESTINATION].clone()
        };
        assert_eq!(mask(&known), "a***@example.com", "stored {stored}");
        assert_eq!(mask(&unknown), "a***@example.com", "typed {typed}");
    }
}

#[test]
fn a_pending_sign_up_gets_its_first_code_at_the_unverified_address() {
    let event = with_attribute("email_verified", "false");
    assert!(needs_sign_up_check(&event));
    let pending = first(&event, true);
    assert_eq!(pending.delivery.unwrap().recipient, "alice@example.com");
    let unknown: Event = fixture("create_user_not_found");
    assert!(!needs_sign_up_check(&unknown));
    let unknown = first(&unknown, true);
    assert!(unknown.delivery.is_none(), "an unknown user got a code");
    let verified: Event = fixture("create_first_round");
    assert!(
        !needs_sign_up_check(&verified),
        "a usual sign-in asks the table"
    );
}

#[test]
fn the_users_locale_chooses_the_language() {
    let message = first(&with_attribute("locale", "de-DE"), false)
        .delivery
        .unwrap()
        .message;
    assert_eq!(message.subject, "Ihr Anmeldecode für Acme <Staging>");
    assert!(message.text.contains("731904") && message.text.contains("3 Minuten"));
    assert!(message.html.contains("lang=\"de\""));
}

/// Whoever types an address gets the same first-round answer, to the byte: an account with a
/// verified address (mailed), one whose address is not verified (not mailed), one whose mail
/// would fail, and nobody at all.
#[test]
fn every_kind_of_account_and_nobody_answer_alike() {
    let address = "alice@example.com";
    let verified: Event = fixture("create_first_round");
    let unverified = with_attribute("email_verified", "false");
    let mut nobody: Event = fixture("create_user_not_found");
    nobody.cognito_event_user_pools_header.user_name = Some(address.to_uppercase());
    let answers: Vec<serde_json::Value> = [&verified, &unverified, &nobody]
        .into_iter()
        .map(|event| serde_json::to_value(first(event, false).response).unwrap())
        .collect();
    assert_eq!(
        answers[0], answers[1],
        "an unverified address is told apart"
    );
    assert_eq!(answers[0], answers[2], "nobody is told apart");
    assert_eq!(
        answers[0]["publicChallengeParameters"][PUBLIC_DESTINATION],
        "a***@example.com"
    );
}
