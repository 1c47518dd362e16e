mod common;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsPreSignup as Event;
use common::fixture;
use triggers::sign_up::{Outcome, REFUSED_ADDRESS, REFUSED_FEDERATION, decide, respond};

fn with_source(source: &str) -> Event {
    let mut json: serde_json::Value =
        serde_json::to_value(fixture::<Event>("pre_sign_up")).unwrap();
    json["triggerSource"] = source.into();
    serde_json::from_value(json).unwrap()
}

#[test]
fn a_self_sign_up_is_confirmed_but_its_address_is_not_verified() {
    let event: Event = fixture("pre_sign_up");
    let outcome = decide(&event);
    assert_eq!(
        outcome,
        Outcome::Confirm {
            email: "new.person@example.com".to_owned()
        }
    );
    let response = respond(&outcome);
    assert!(response.auto_confirm_user);
    assert!(
        !response.auto_verify_email,
        "an address was verified unread"
    );
    assert!(!response.auto_verify_phone);
}

#[test]
fn an_administrators_user_keeps_cognitos_defaults() {
    let outcome = decide(&with_source("PreSignUp_AdminCreateUser"));
    assert_eq!(outcome, Outcome::AdminCreate);
    let response = respond(&outcome);
    assert!(!response.auto_confirm_user && !response.auto_verify_email);
}

#[test]
fn federation_and_addresses_that_are_not_addresses_are_refused() {
    assert_eq!(
        decide(&with_source("PreSignUp_ExternalProvider")),
        Outcome::Refuse(REFUSED_FEDERATION)
    );
    let mut event: Event = fixture("pre_sign_up");
    event
        .request
        .user_attributes
        .insert("email".to_owned(), "not an address".to_owned());
    assert_eq!(decide(&event), Outcome::Refuse(REFUSED_ADDRESS));
    event.request.user_attributes.clear();
    assert_eq!(decide(&event), Outcome::Refuse(REFUSED_ADDRESS));
}
