//! The account-wide abuse limits, end to end on MiniStack: the send budget, the lockout
//! across sessions, its reset by a right answer, support's unlock, both limits under
//! concurrency, unknown users treated exactly like known ones, and failing closed.

use std::collections::HashMap;

use aws_sdk_cognitoidentityprovider::error::SdkError;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::join_all;
use provisioner::login::{answer_challenge, start_custom_auth, wait_for_code};
use provisioner::naming::TriggerKind;
use provisioner::session::{Outputs, Session};
use provisioner::users::{self, Change};
use serde_json::{Value, json};

use crate::common::{Env, TestStack, UNPROTECTED, add_user, assert_reports, env, sent_to};

/// A deployed stack with these limits (and `otp` settings), one user, and a session on it.
async fn limited(env: &Env, limits: &str, otp: &str) -> (TestStack, Outputs, Session, String) {
    let stack = TestStack::new(env, &format!("{UNPROTECTED}limits:\n{limits}otp:\n{otp}"));
    let outputs = stack.deploy(env).await;
    let email = format!("dana@{}.example", stack.name);
    add_user(&stack, &email).await;
    let session = stack.open().await;
    (stack, outputs, session, email)
}

fn refused_generically<T: std::fmt::Debug>(
    result: &Result<T, SdkError<InitiateAuthError, aws_smithy_runtime_api::http::Response>>,
) -> bool {
    result.as_ref().err().is_some_and(|e| {
        e.as_service_error()
            .is_some_and(|e| e.is_not_authorized_exception())
    })
}

/// Refused for the send budget: Define's own error, which Cognito relays with its message
/// (AWS as UserLambdaValidationException, MiniStack as InvalidLambdaResponseException).
fn refused_for_budget<T: std::fmt::Debug>(
    result: &Result<T, SdkError<InitiateAuthError, aws_smithy_runtime_api::http::Response>>,
) -> bool {
    use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
    result.as_ref().err().is_some_and(|e| {
        [
            "UserLambdaValidationException",
            "InvalidLambdaResponseException",
        ]
        .contains(&e.code().unwrap_or_default())
            && e.message()
                .is_some_and(|m| m.contains(triggers::error::SEND_BUDGET_USED_UP))
    })
}

fn outbox(env: &Env, session: &Session, email: &str) -> usize {
    sent_to(&env.endpoint, &session.observation.names.account, email).len()
}

/// The newest code sent to `email` that is not among the messages already `seen`.
fn next_code(env: &Env, session: &Session, email: &str, seen: &[String]) -> String {
    wait_for_code(
        &env.endpoint,
        &session.observation.names.account,
        email,
        seen,
    )
    .unwrap()
}

fn seen(env: &Env, session: &Session) -> Vec<String> {
    provisioner::mailbox::messages(&env.endpoint, &session.observation.names.account)
        .unwrap()
        .into_iter()
        .map(|m| m.message_id)
        .collect()
}

/// Starts a sign-in and returns it with the code it emailed.
async fn begin_with_code(
    env: &Env,
    session: &Session,
    outputs: &Outputs,
    email: &str,
) -> (
    aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthOutput,
    String,
) {
    let before = seen(env, session);
    let started = start_custom_auth(&session.clients.cognito, outputs, email)
        .await
        .unwrap();
    (started, next_code(env, session, email, &before))
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

/// Another wrong answer than [`wrong`]'s: the same answer again to the same code is not a
/// new guess, and counts once.
fn wrong_again(code: &str) -> &'static str {
    if code == "222222" { "333333" } else { "222222" }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_budget_refuses_the_next_sign_in_and_sends_nothing() {
    let env = env();
    let (_stack, outputs, session, email) =
        limited(&env, "  max_sends: 3\n", "  length: 6\n").await;
    let cognito = &session.clients.cognito;
    for sent in 1..=3 {
        start_custom_auth(cognito, &outputs, &email).await.unwrap();
        assert_eq!(outbox(&env, &session, &email), sent);
    }
    let fourth = start_custom_auth(cognito, &outputs, &email).await;
    assert!(refused_for_budget(&fourth), "{fourth:?}");
    // Another case of the same address shares the budget.
    // (MiniStack matches usernames case-sensitively and answers UserNotFoundException here;
    // on AWS the pool's case-insensitive usernames make it this account, refused for budget.)
    let shouted = start_custom_auth(cognito, &outputs, &email.to_uppercase()).await;
    assert!(shouted.is_err(), "{shouted:?}");
    assert_eq!(
        outbox(&env, &session, &email),
        3,
        "a refused sign-in sent a code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_answers_across_sessions_lock_the_account_even_against_a_right_code() {
    let env = env();
    let (stack, outputs, session, email) = limited(
        &env,
        "  max_sends: 10\n  max_failures: 3\n",
        "  max_attempts: 3\n",
    )
    .await;
    let cognito = &session.clients.cognito;
    // A session opened before the lock, whose right code must be refused after it.
    let (kept, kept_code) = begin_with_code(&env, &session, &outputs, &email).await;

    let first = start_custom_auth(cognito, &outputs, &email).await.unwrap();
    let guess = wrong(&kept_code);
    let after_one = answer_challenge(cognito, &outputs, first.session, &email, guess)
        .await
        .unwrap();
    let another = wrong_again(&kept_code);
    answer_challenge(cognito, &outputs, after_one.session, &email, another)
        .await
        .unwrap();
    let second = start_custom_auth(cognito, &outputs, &email).await.unwrap();
    // The third failure locks the account, and the session ends there rather than taking
    // guesses that can no longer count.
    let locking = answer_challenge(cognito, &outputs, second.session, &email, guess).await;
    assert!(
        locking.as_ref().is_err_and(|e| e
            .as_service_error()
            .is_some_and(|e| e.is_not_authorized_exception())),
        "the session went on after its account locked: {locking:?}"
    );

    let late = answer_challenge(cognito, &outputs, kept.session, &email, &kept_code).await;
    assert!(
        late.as_ref()
            .map_or(true, |r| r.authentication_result.is_none()),
        "a right code signed in while the account is locked: {late:?}"
    );
    let sent_before = outbox(&env, &session, &email);
    let locked = start_custom_auth(cognito, &outputs, &email).await;
    assert!(refused_generically(&locked), "{locked:?}");
    assert_eq!(outbox(&env, &session, &email), sent_before);

    let listed = users::list(&session).await.unwrap();
    assert!(
        listed[0].lock_minutes_left().is_some_and(|m| m >= 1),
        "users list does not show the lock: {listed:?}"
    );
    assert_eq!(users::unlock(&session, &email).await.unwrap(), Change::Done);
    assert_eq!(
        users::unlock(&session, &email).await.unwrap(),
        Change::AlreadySo
    );
    let (again, code) = begin_with_code(&env, &session, &outputs, &email).await;
    let signed_in = answer_challenge(cognito, &outputs, again.session, &email, code)
        .await
        .unwrap();
    assert!(signed_in.authentication_result.is_some());
    assert!(
        users::list(&stack.open().await).await.unwrap()[0]
            .locked_until
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_answer_starts_the_failure_count_afresh() {
    let env = env();
    let (_stack, outputs, session, email) = limited(
        &env,
        "  max_sends: 10\n  max_failures: 3\n",
        "  max_attempts: 3\n",
    )
    .await;
    let cognito = &session.clients.cognito;
    // Two wrong, one right, twice: without the reset the fourth failure would lock.
    for round in 0..2 {
        let (started, code) = begin_with_code(&env, &session, &outputs, &email).await;
        let once = answer_challenge(cognito, &outputs, started.session, &email, wrong(&code))
            .await
            .unwrap();
        let twice = answer_challenge(cognito, &outputs, once.session, &email, wrong(&code))
            .await
            .unwrap();
        let done = answer_challenge(cognito, &outputs, twice.session, &email, code)
            .await
            .unwrap();
        assert!(
            done.authentication_result.is_some(),
            "round {round}: the right code was refused"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_sign_ins_send_no_more_than_the_budget() {
    let env = env();
    let (_stack, outputs, session, email) =
        limited(&env, "  max_sends: 5\n", "  length: 6\n").await;
    let cognito = &session.clients.cognito;
    let results = join_all((0..20).map(|_| start_custom_auth(cognito, &outputs, &email))).await;
    let started = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        results.iter().all(|r| r.is_ok() || refused_for_budget(r)),
        "{results:?}"
    );
    assert_eq!(started, 5, "the budget is 5 sign-ins");
    assert_eq!(outbox(&env, &session, &email), 5, "the budget is 5 emails");
}

/// The stack-wide ceiling under concurrency: of 12 first rounds for 12 different accounts
/// at once, exactly the ceiling's 4 are admitted, in one transaction with each account's own
/// budget; then any account, a real user's sign-in too, is refused for the rest of the hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_ceiling_admits_exactly_its_limit_under_concurrency_then_refuses_every_account() {
    let env = env();
    let (stack, outputs, session, email) = limited(
        &env,
        "  max_sends: 5\n  max_sends_per_hour: 4\n",
        "  length: 6\n",
    )
    .await;
    let names: Vec<String> = (0..12)
        .map(|i| format!("caller{i}@{}.example", stack.name))
        .collect();
    let results = join_all(names.iter().map(|name| {
        let event = first_round(&outputs, name, false);
        let session = &session;
        async move { invoke_raw(session, TriggerKind::Define, &event).await }
    }))
    .await;
    let admitted = results
        .iter()
        .filter(|(failed, payload)| {
            !failed && payload["response"]["challengeName"] == "CUSTOM_CHALLENGE"
        })
        .count();
    let refused = results
        .iter()
        .filter(|(failed, payload)| {
            *failed
                && payload["errorMessage"]
                    .as_str()
                    .is_some_and(|m| m.contains(triggers::error::SEND_BUDGET_USED_UP))
        })
        .count();
    assert_eq!((admitted, refused), (4, 8), "{results:#?}");
    let started = record_at(&session, triggers::limits::STACK_KEY.to_owned()).await;
    assert_eq!(started.get("sends"), Some(&4), "{started:?}");
    let cognito = &session.clients.cognito;
    let refused = start_custom_auth(cognito, &outputs, &email).await;
    assert!(refused_for_budget(&refused), "{refused:?}");
    assert_eq!(
        outbox(&env, &session, &email),
        0,
        "a refused start sent a code"
    );
}

/// Invokes a deployed trigger with `event` and returns its response object.
async fn invoke(session: &Session, kind: TriggerKind, event: &Value) -> Value {
    let (failed, payload) = invoke_raw(session, kind, event).await;
    assert!(!failed, "{payload}");
    payload["response"].clone()
}

/// Invokes a deployed trigger: whether it failed, and what it returned (its response, or
/// its error with `errorType` and `errorMessage`).
async fn invoke_raw(session: &Session, kind: TriggerKind, event: &Value) -> (bool, Value) {
    let output = session
        .clients
        .lambda
        .invoke()
        .function_name(session.observation.names.function(kind))
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    let payload: Value = serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap();
    (output.function_error().is_some(), payload)
}

/// Cognito's event for a first round or an answer, for a known user (with their email
/// attribute) or an unknown one (the typed name, `userNotFound`).
fn event(outputs: &Outputs, trigger: &str, name: &str, known: bool, request: Value) -> Value {
    let mut request = request;
    request["userAttributes"] = if known {
        json!({ "email": name, "email_verified": "true" })
    } else {
        json!({})
    };
    request["userNotFound"] = json!(!known);
    json!({
        "version": "1",
        "region": "us-east-1",
        "userPoolId": outputs.user_pool_id,
        "userName": if known { "3b1e7c2a-known-user" } else { name },
        "callerContext": { "awsSdkVersion": "test", "clientId": outputs.app_client_id },
        "triggerSource": trigger,
        "request": request,
        "response": {}
    })
}

fn first_round(outputs: &Outputs, name: &str, known: bool) -> Value {
    event(
        outputs,
        "DefineAuthChallenge_Authentication",
        name,
        known,
        json!({ "session": [] }),
    )
}

/// An answer to the fixed code below (which is not `answer`).
fn guess(outputs: &Outputs, name: &str, known: bool, answer: &str) -> Value {
    event(
        outputs,
        "VerifyAuthChallengeResponse_Authentication",
        name,
        known,
        json!({
            "privateChallengeParameters": {
                "issued_at": "1764000000",
                "salt": "AAECAwQFBgcICQoLDA0ODw",
                "hash": "3pHOpC0w2D1kHD3irz12OoPqHNazt5rqJHUVGFPGROA"
            },
            "challengeAnswer": answer
        }),
    )
}

/// The account's record in the limits table, numbers as numbers.
async fn record(session: &Session, outputs: &Outputs, name: &str) -> HashMap<String, u64> {
    record_at(
        session,
        triggers::limits::account_key(&outputs.user_pool_id, name),
    )
    .await
}

/// The numbers of the limits table's item at `key`.
async fn record_at(session: &Session, key: String) -> HashMap<String, u64> {
    let item = session
        .clients
        .dynamodb
        .get_item()
        .table_name(session.observation.names.limits_table())
        .key(triggers::limits::KEY, AttributeValue::S(key))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    item.into_iter()
        .filter_map(|(k, v)| Some((k, v.as_n().ok()?.parse().ok()?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_is_counted_and_refused_exactly_like_a_known_one() {
    let env = env();
    let (stack, outputs, session, _) =
        limited(&env, "  max_sends: 2\n  max_failures: 2\n", "  length: 6\n").await;
    let known = format!("erin@{}.example", stack.name);
    let unknown = format!("nobody@{}.example", stack.name);
    // Define's answer, or its error with the seconds to wait taken out (they tick).
    let define = |name: String, is_known: bool| {
        let session = &session;
        let outputs = &outputs;
        async move {
            let (failed, payload) = invoke_raw(
                session,
                TriggerKind::Define,
                &first_round(outputs, &name, is_known),
            )
            .await;
            if !failed {
                return payload["response"].clone();
            }
            let message = payload["errorMessage"].as_str().unwrap_or_default();
            json!({
                "errorType": payload["errorType"],
                "errorMessage": message.split("retry_after=").next().unwrap_or_default(),
            })
        }
    };
    let mut replies: Vec<Vec<Value>> = Vec::new();
    for (name, is_known) in [(&known, true), (&unknown, false)] {
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(define(name.clone(), is_known).await);
        }
        for n in 0..3 {
            seen.push(
                invoke(
                    &session,
                    TriggerKind::Verify,
                    &guess(&outputs, name, is_known, &format!("00020{n}")),
                )
                .await,
            );
        }
        seen.push(define(name.clone(), is_known).await);
        replies.push(seen);
    }
    assert_eq!(replies[0], replies[1], "an unknown user is told apart");
    assert_eq!(replies[0][0]["challengeName"], "CUSTOM_CHALLENGE");
    assert_eq!(
        replies[0][2]["errorType"], "SendBudgetUsedUp",
        "the third send is over budget, and says so: {}",
        replies[0][2]
    );
    assert!(
        !replies[0][2].to_string().contains("erin"),
        "the refusal names the address"
    );
    assert_eq!(
        replies[0][6]["failAuthentication"], true,
        "two failures lock"
    );
    let (known_record, unknown_record) = (
        record(&session, &outputs, &known).await,
        record(&session, &outputs, &unknown).await,
    );
    let shape = |r: &HashMap<String, u64>| {
        let mut keys: Vec<String> = r.keys().cloned().collect();
        keys.sort();
        (keys, r.get("failures").copied())
    };
    assert_eq!(shape(&known_record), shape(&unknown_record));
    assert!(known_record.contains_key(triggers::limits::LOCKED_UNTIL));
    assert!(sent_to(&env.endpoint, &session.observation.names.account, &unknown).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_answers_are_all_counted_and_none_after_the_lock() {
    let env = env();
    let (stack, outputs, session, _) = limited(&env, "  max_failures: 25\n", "  length: 6\n").await;
    let name = format!("frank@{}.example", stack.name);
    let guesses: Vec<Value> = (0..40)
        .map(|n| guess(&outputs, &name, true, &format!("{:06}", 100 + n)))
        .collect();
    join_all(
        guesses[..20]
            .iter()
            .map(|g| invoke(&session, TriggerKind::Verify, g)),
    )
    .await;
    assert_eq!(
        record(&session, &outputs, &name).await.get("failures"),
        Some(&20),
        "concurrent failures were lost"
    );
    join_all(
        guesses[20..]
            .iter()
            .map(|g| invoke(&session, TriggerKind::Verify, g)),
    )
    .await;
    let locked = record(&session, &outputs, &name).await;
    assert_eq!(
        locked.get("failures"),
        Some(&0),
        "guesses were counted after the lock: {locked:?}"
    );
    assert!(locked[triggers::limits::LOCKED_UNTIL] > triggers::unix_now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_table_sign_in_fails_closed_and_deploy_repairs_it() {
    let env = env();
    let (stack, outputs, session, email) = limited(&env, "  max_sends: 5\n", "  length: 6\n").await;
    session
        .clients
        .dynamodb
        .delete_table()
        .table_name(session.observation.names.limits_table())
        .send()
        .await
        .unwrap();
    let refused = start_custom_auth(&session.clients.cognito, &outputs, &email).await;
    assert!(refused_generically(&refused), "{refused:?}");
    assert_eq!(
        outbox(&env, &session, &email),
        0,
        "a code went out without limits"
    );
    let (_, report) = stack.drift(&env.artifacts).await;
    assert_reports(
        &report,
        &[(
            &format!(
                "dynamodb table {}",
                session.observation.names.limits_table()
            ),
            "(resource)",
        )],
    );
    let repaired = stack.assert_deploy_repairs(&env).await;
    start_custom_auth(&repaired.clients.cognito, &outputs, &email)
        .await
        .expect("sign-in works again once the table is back");
}

/// An account whose budget was spent in an old window (used every other window, say) gets a
/// fresh budget, and nothing of the old window stays on its record; the new window's budget
/// still holds, and a locked account starts no window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_window_replaces_an_old_ones_count_and_keeps_its_budget() {
    let env = env();
    let (stack, outputs, session, _) = limited(
        &env,
        "  max_sends: 2\n  window_minutes: 1440\n",
        "  length: 6\n",
    )
    .await;
    let name = format!("frank@{}.example", stack.name);
    let key = triggers::limits::account_key(&outputs.user_pool_id, &name);
    let now = triggers::unix_now();
    let current_window = now / 86_400;
    let seed = |extra: Vec<(&'static str, u64)>| {
        let mut put = session
            .clients
            .dynamodb
            .put_item()
            .table_name(session.observation.names.limits_table())
            .item(triggers::limits::KEY, AttributeValue::S(key.clone()))
            .item(
                triggers::limits::SEND_WINDOW,
                AttributeValue::N((current_window - 2).to_string()),
            )
            .item(triggers::limits::SENDS, AttributeValue::N("2".into()))
            .item(
                triggers::limits::TTL_ATTRIBUTE,
                AttributeValue::N((now + 90_000).to_string()),
            );
        for (attribute, value) in extra {
            put = put.item(attribute, AttributeValue::N(value.to_string()));
        }
        put.send()
    };
    seed(Vec::new()).await.unwrap();
    let event = first_round(&outputs, &name, true);
    let define = |_: ()| invoke(&session, TriggerKind::Define, &event);
    assert_eq!(
        define(()).await["challengeName"],
        "CUSTOM_CHALLENGE",
        "an old window's count refused"
    );
    let after = record(&session, &outputs, &name).await;
    assert_eq!(
        after.get(triggers::limits::SEND_WINDOW),
        Some(&current_window)
    );
    assert_eq!(after.get(triggers::limits::SENDS), Some(&1));
    let mut attributes: Vec<&String> = after.keys().collect();
    attributes.sort();
    assert_eq!(
        attributes,
        [
            triggers::limits::TTL_ATTRIBUTE,
            triggers::limits::SEND_WINDOW,
            triggers::limits::SENDS
        ],
        "{after:?}"
    );
    assert_eq!(define(()).await["challengeName"], "CUSTOM_CHALLENGE");
    let (failed, over) = invoke_raw(&session, TriggerKind::Define, &event).await;
    assert!(failed, "the new window's budget is 2: {over}");
    assert_eq!(over["errorType"], "SendBudgetUsedUp");

    seed(vec![(triggers::limits::LOCKED_UNTIL, now + 600)])
        .await
        .unwrap();
    assert_eq!(
        define(()).await["failAuthentication"],
        true,
        "a locked account got a send"
    );
    let locked = record(&session, &outputs, &name).await;
    assert_eq!(
        locked.get(triggers::limits::SEND_WINDOW),
        Some(&(current_window - 2))
    );
}

/// Cognito may invoke Verify again with the same event (after a timeout): the same guess is
/// counted once, and its repeat answers exactly as the first did. A new guess still counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_guess_repeated_is_counted_once() {
    let env = env();
    let (stack, outputs, session, _) = limited(&env, "  max_failures: 3\n", "  length: 6\n").await;
    let name = format!("gina@{}.example", stack.name);
    let first = guess(&outputs, &name, true, "000101");
    let replies = [
        invoke(&session, TriggerKind::Verify, &first).await,
        invoke(&session, TriggerKind::Verify, &first).await,
    ];
    assert_eq!(replies[0], replies[1]);
    assert_eq!(replies[0]["answerCorrect"], false);
    let failures = |r: HashMap<String, u64>| r.get("failures").copied();
    assert_eq!(failures(record(&session, &outputs, &name).await), Some(1));
    invoke(
        &session,
        TriggerKind::Verify,
        &guess(&outputs, &name, true, "000102"),
    )
    .await;
    assert_eq!(failures(record(&session, &outputs, &name).await), Some(2));
    let after = record(&session, &outputs, &name).await;
    assert!(
        !after.contains_key(triggers::limits::LOCKED_UNTIL),
        "a repeated guess locked the account: {after:?}"
    );
}

/// Accepts connections and never answers: a table or SES that hangs.
struct Tarpit {
    endpoint: String,
}

impl Tarpit {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Self { endpoint }
    }
}

/// With a one-second function timeout and a table and SES that never answer, every trigger
/// still answers Cognito itself (failing closed) instead of timing out: each call gets what
/// remains of the invocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_answer_within_their_timeout_when_the_table_and_ses_hang() {
    let env = env();
    let (stack, outputs, session, email) = limited(&env, "  max_sends: 5\n", "  length: 6\n").await;
    let spec = std::fs::read_to_string(&stack.path).unwrap().replace(
        "  architecture: x86_64\n",
        "  architecture: x86_64\n  timeout_seconds: 1\n",
    );
    std::fs::write(&stack.path, spec).unwrap();
    stack.deploy(&env).await;
    let tarpit = Tarpit::start();
    let lambda = &session.clients.lambda;
    for kind in TriggerKind::CUSTOM_AUTH {
        let name = session.observation.names.function(kind);
        let mut variables = lambda
            .get_function_configuration()
            .function_name(&name)
            .send()
            .await
            .unwrap()
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default();
        variables.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), tarpit.endpoint.clone());
        variables.insert("AWS_ENDPOINT_URL_SESV2".into(), tarpit.endpoint.clone());
        lambda
            .update_function_configuration()
            .function_name(&name)
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .set_variables(Some(variables))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // Let the updates settle (MiniStack holds an updated function for 0.5 s).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let started = std::time::Instant::now();
    let define = invoke(
        &session,
        TriggerKind::Define,
        &first_round(&outputs, &email, true),
    )
    .await;
    assert_eq!(
        define["failAuthentication"], true,
        "a hung table admitted a send: {define}"
    );
    let verify = invoke(
        &session,
        TriggerKind::Verify,
        &guess(&outputs, &email, true, "000301"),
    )
    .await;
    assert_eq!(verify["answerCorrect"], false, "{verify}");
    let create = event(
        &outputs,
        "CreateAuthChallenge_Authentication",
        &email,
        true,
        json!({ "challengeName": "CUSTOM_CHALLENGE", "session": [] }),
    );
    let created = invoke(&session, TriggerKind::Create, &create).await;
    assert!(
        created["publicChallengeParameters"]["destination"].is_string(),
        "Create did not answer while SES hung: {created}"
    );
    eprintln!("three hung invocations answered in {:?}", started.elapsed());
}

/// One limit write as the triggers send it (`triggers::limits::Update`), sent from here.
async fn send_update(session: &Session, update: &triggers::limits::Update) -> bool {
    let value = |v: &triggers::limits::Value| match v {
        triggers::limits::Value::N(n) => AttributeValue::N(n.to_string()),
        triggers::limits::Value::S(s) => AttributeValue::S(s.clone()),
    };
    session
        .clients
        .dynamodb
        .update_item()
        .table_name(session.observation.names.limits_table())
        .key(triggers::limits::KEY, AttributeValue::S(update.key.clone()))
        .update_expression(&update.expression)
        .condition_expression(&update.condition)
        .set_expression_attribute_names(
            (!update.names.is_empty()).then(|| update.names.clone().into_iter().collect()),
        )
        .set_expression_attribute_values(Some(
            update
                .values
                .iter()
                .map(|(k, v)| (k.clone(), value(v)))
                .collect(),
        ))
        .send()
        .await
        .is_ok()
}

/// The conditions themselves, raced on the real table: of 20 concurrent wrong answers at
/// most `max_failures` are counted, and of 20 concurrent sends in one window at most
/// `max_sends`; without the `< :max` guards every one would pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_count_passes_its_limit_under_concurrency() {
    let env = env();
    let (stack, outputs, session, _) =
        limited(&env, "  max_sends: 4\n  max_failures: 5\n", "  length: 6\n").await;
    let config = triggers::config::LimitsConfig {
        table: session.observation.names.limits_table(),
        max_sends: 4,
        window_seconds: 3600,
        max_failures: 5,
        lockout_seconds: 900,
        max_sends_per_hour: None,
    };
    let now = triggers::unix_now();
    let key = triggers::limits::account_key(
        &outputs.user_pool_id,
        &format!("hal@{}.example", stack.name),
    );
    let guesses: Vec<_> = (0..20)
        .map(|n| triggers::limits::record_failure(&config, &key, now, &format!("guess-{n}")))
        .collect();
    let counted = join_all(guesses.iter().map(|u| send_update(&session, u)))
        .await
        .into_iter()
        .filter(|passed| *passed)
        .count();
    assert_eq!(
        counted, 5,
        "{counted} wrong answers were counted against a limit of 5"
    );
    assert_eq!(
        record(&session, &outputs, &format!("hal@{}.example", stack.name)).await["failures"],
        5
    );

    assert!(
        send_update(
            &session,
            &triggers::limits::open_send_window(&config, &key, now)
        )
        .await
    );
    let sends: Vec<_> = (0..20)
        .map(|_| triggers::limits::count_send(&config, &key, now))
        .collect();
    let admitted = join_all(sends.iter().map(|u| send_update(&session, u)))
        .await
        .into_iter()
        .filter(|passed| *passed)
        .count();
    assert_eq!(
        admitted, 3,
        "the window's first send plus {admitted} more against a budget of 4"
    );
}
