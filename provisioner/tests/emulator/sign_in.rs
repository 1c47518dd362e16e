//! The sign-in itself: a code by email, a wrong answer, the right one, verified tokens.

use aws_sdk_cognitoidentityprovider::types::ChallengeNameType;
use provisioner::login::{answer_challenge, start_custom_auth, verify_id_token, wait_for_code};

use crate::common::{TestStack, UNPROTECTED, add_user, env, log_lines, sent_to};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_by_email_signs_in_and_a_wrong_one_sends_nothing_more() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let outputs = stack.deploy(&env).await;
    let email = format!("alice@{}.example", stack.name);
    add_user(&stack, &email).await;

    let session = stack.open().await;
    let account = session.observation.names.account.clone();
    let cognito = &session.clients.cognito;
    let started = start_custom_auth(cognito, &outputs, &email).await.unwrap();
    assert_eq!(
        started.challenge_name,
        Some(ChallengeNameType::CustomChallenge)
    );
    let public = started.challenge_parameters.clone().unwrap();
    assert_eq!(
        public["destination"],
        format!("a***@{}.example", stack.name)
    );
    assert_eq!(public["code_length"], "6");
    let code = wait_for_code(&env.endpoint, &account, &email, &[]).unwrap();
    assert_eq!(code.len(), 6);
    let message = &sent_to(&env.endpoint, &account, &email)[0];
    assert_eq!(message.subject, format!("Your {} sign-in code", stack.name));
    assert!(
        message
            .body_html
            .as_deref()
            .unwrap_or_default()
            .contains(&code)
    );
    assert!(
        !public.values().any(|v| v.contains(&code)),
        "the code leaked into public parameters"
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let retry = answer_challenge(cognito, &outputs, started.session.clone(), &email, wrong)
        .await
        .unwrap();
    assert!(retry.authentication_result.is_none());
    assert_eq!(
        retry.challenge_name,
        Some(ChallengeNameType::CustomChallenge)
    );
    assert_eq!(
        sent_to(&env.endpoint, &account, &email).len(),
        1,
        "a retry round must not send a second email"
    );

    let done = answer_challenge(
        cognito,
        &outputs,
        retry.session,
        &email,
        format!(" {code} "),
    )
    .await
    .unwrap();
    let tokens = done.authentication_result.expect("the right code signs in");
    let claims = verify_id_token(&outputs, tokens.id_token().unwrap()).unwrap();
    assert_eq!(claims["email"], email.as_str());
    assert!(verify_id_token(&outputs, &tamper(tokens.id_token().unwrap())).is_err());
}

/// Flips one character of the signature.
fn tamper(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let last = bytes.len() - 5;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_attempts_end_the_sign_in_and_unknown_users_get_no_email() {
    let env = env();
    let stack = TestStack::new(&env, &format!("{UNPROTECTED}otp:\n  max_attempts: 2\n"));
    let outputs = stack.deploy(&env).await;
    let email = format!("bob@{}.example", stack.name);
    add_user(&stack, &email).await;
    let session = stack.open().await;
    let cognito = &session.clients.cognito;
    let account = &session.observation.names.account;
    let started = start_custom_auth(cognito, &outputs, &email).await.unwrap();
    let code = wait_for_code(&env.endpoint, account, &email, &[]).unwrap();
    let wrong = if code == "999999" { "888888" } else { "999999" };
    let first = answer_challenge(cognito, &outputs, started.session, &email, wrong)
        .await
        .unwrap();
    let second = answer_challenge(cognito, &outputs, first.session, &email, wrong).await;
    let error = second.expect_err("the second wrong answer of two allowed must end the sign-in");
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_not_authorized_exception()),
        "{error:?}"
    );

    // AWS answers an unknown user (PreventUserExistenceErrors ENABLED) with the same
    // challenge, running the triggers with userNotFound; MiniStack 1.5.33 answers
    // UserNotFoundException instead. Either way nothing may be sent; the trigger side of
    // userNotFound is covered by the fixture tests.
    let stranger = format!("nobody@{}.example", stack.name);
    match start_custom_auth(cognito, &outputs, &stranger).await {
        Ok(unknown) => {
            assert_eq!(
                unknown.challenge_name,
                Some(ChallengeNameType::CustomChallenge)
            );
            assert_eq!(
                unknown.challenge_parameters.unwrap()["destination"],
                format!("n***@{}.example", stack.name)
            );
        }
        Err(error) => assert!(
            error
                .as_service_error()
                .is_some_and(|e| e.is_user_not_found_exception()),
            "{error:?}"
        ),
    }
    assert!(sent_to(&env.endpoint, account, &stranger).is_empty());
}

/// Every line the triggers wrote during a sign-up and a sign-in with a wrong and a right
/// code, read back from CloudWatch Logs as an operator would: none holds the code, the
/// wrong answer, the address or a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_triggers_logs_hold_no_code_no_address_and_no_token() {
    let env = env();
    let stack = TestStack::new(&env, &format!("{UNPROTECTED}sign_up:\n  enabled: true\n"));
    let outputs = stack.deploy(&env).await;
    let session = stack.open().await;
    let account = session.observation.names.account.clone();
    let cognito = &session.clients.cognito;
    let email = format!("zelda.quinn@{}.example", stack.name);
    provisioner::login::sign_up(cognito, &outputs, &email)
        .await
        .unwrap();
    let started = start_custom_auth(cognito, &outputs, &email).await.unwrap();
    let code = wait_for_code(&env.endpoint, &account, &email, &[]).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let retry = answer_challenge(cognito, &outputs, started.session, &email, wrong)
        .await
        .unwrap();
    let done = answer_challenge(cognito, &outputs, retry.session, &email, code.clone())
        .await
        .unwrap();
    let tokens = done.authentication_result.expect("the right code signs in");

    let lines: Vec<String> = provisioner::naming::TriggerKind::ALL
        .into_iter()
        .flat_map(|kind| log_lines(&env, &session, kind))
        .collect();
    let written: Vec<&String> = lines
        .iter()
        .filter(|l| !l.starts_with("START") && !l.starts_with("END") && !l.starts_with("REPORT"))
        .collect();
    assert!(
        written.len() >= 5,
        "too few trigger lines were read back to mean anything: {lines:#?}"
    );
    let secrets = [
        ("the code", code.as_str()),
        ("the wrong answer", wrong),
        ("the address", email.as_str()),
        ("the address's local part", "zelda.quinn"),
        ("the ID token", tokens.id_token().unwrap()),
        ("the access token", tokens.access_token().unwrap()),
        ("the refresh token", tokens.refresh_token().unwrap()),
    ];
    for line in &lines {
        for (what, secret) in secrets {
            assert!(
                !line.contains(secret),
                "{what} is in a trigger's log line: {line}"
            );
        }
    }
}
