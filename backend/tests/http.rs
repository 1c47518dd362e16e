//! The service's endpoints over HTTP, against a stack on the emulator: every path a sign-in
//! can take, and every kind of bad request.

mod common;

use std::collections::BTreeSet;

use common::{another_wrong, served, served_with, wrong};
use serde_json::{Value, json};

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn a_wrong_code_then_the_right_one_signs_in_and_sign_out_revokes() {
    let email = "alice@service.example";
    let service = served("", &[email]);

    let start = service.post("/auth/start", &json!({ "email": "Alice@Service.example " }));
    assert_eq!(start.status, 200, "{start:?}");
    assert_eq!(
        keys(&start.body),
        [
            "attempts_left",
            "code_length",
            "destination",
            "expires_at",
            "session"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(start.body["destination"], "a***@service.example");
    assert_eq!(start.body["code_length"], 6);
    assert_eq!(start.body["attempts_left"], 3);
    let code = service.code_for(email, &[]);

    let retry = service.post(
        "/auth/verify",
        &json!({ "email": email, "session": start.body["session"], "code": wrong(&code) }),
    );
    assert_eq!(retry.status, 401, "{retry:?}");
    assert_eq!(retry.body["error"], "wrong_code");
    assert_eq!(retry.body["attempts_left"], 2);
    assert_ne!(retry.body["session"], start.body["session"]);
    assert_eq!(service.mails_to(email), 1, "a retry sent another email");

    let done = service.post(
        "/auth/verify",
        &json!({ "email": email, "session": retry.body["session"], "code": code }),
    );
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(
        keys(&done.body),
        ["access_token", "expires_in", "id_token"]
            .map(String::from)
            .into(),
        "the refresh token must never be in the body"
    );
    let cookie = done
        .cookies
        .iter()
        .find(|c| c.starts_with("refresh_token="))
        .expect("the refresh token comes as a cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/auth"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let refresh = cookie
        .trim_start_matches("refresh_token=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(!refresh.is_empty());

    let me = service.get("/me", done.body["id_token"].as_str());
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["claims"]["email"], email);
    assert_eq!(me.body["claims"]["token_use"], "id");
    // An access token is not an ID token.
    assert_eq!(
        service.get("/me", done.body["access_token"].as_str()).body["error"],
        "invalid_token"
    );

    let out = service.post_with_cookie("/auth/sign-out", Some(&format!("refresh_token={refresh}")));
    assert_eq!(out.status, 200, "{out:?}");
    assert!(
        out.cookies
            .iter()
            .any(|c| c.starts_with("refresh_token=;") && c.contains("Max-Age=0"))
    );
    let refreshed = service.runtime.block_on(
        service
            .session
            .clients
            .cognito
            .initiate_auth()
            .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::RefreshTokenAuth)
            .client_id(&service.outputs.app_client_id)
            .auth_parameters("REFRESH_TOKEN", &refresh)
            .send(),
    );
    assert!(
        refreshed.is_err(),
        "the refresh token still works after sign-out"
    );
    // The documented window: /me checks signature and expiry, not revocation, so the ID
    // token answers until it expires, exactly the app client's ID token lifetime after it
    // was issued (60 minutes by default).
    let after = service.get("/me", done.body["id_token"].as_str());
    assert_eq!(after.status, 200, "{after:?}");
    let claims = &after.body["claims"];
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(
        lifetime,
        60 * 60,
        "the window after sign-out is the ID token's lifetime: {claims}"
    );
}

#[test]
fn an_unknown_address_gets_the_same_answers_as_a_known_one_and_no_email() {
    let known = "known@service.example";
    let unknown = "nobody@service.example";
    let service = served("otp:\n  max_attempts: 2\n", &[known]);

    let known_start = service.post("/auth/start", &json!({ "email": known }));
    let unknown_start = service.post("/auth/start", &json!({ "email": unknown }));
    assert_eq!(known_start.status, unknown_start.status);
    assert_eq!(keys(&known_start.body), keys(&unknown_start.body));
    assert_eq!(unknown_start.body["destination"], "n***@service.example");
    assert_eq!(
        known_start.body["code_length"],
        unknown_start.body["code_length"]
    );
    let length = |reply: &common::Reply| reply.body["session"].as_str().unwrap().len();
    assert!(
        length(&known_start).abs_diff(length(&unknown_start)) <= 4,
        "session lengths tell the two apart: {} vs {}",
        length(&known_start),
        length(&unknown_start)
    );
    let code = service.code_for(known, &[]);

    for (email, start) in [(known, &known_start), (unknown, &unknown_start)] {
        let first = service.post(
            "/auth/verify",
            &json!({ "email": email, "session": start.body["session"], "code": wrong(&code) }),
        );
        assert_eq!(
            (first.status, &first.body["error"]),
            (401, &json!("wrong_code"))
        );
        assert_eq!(first.body["attempts_left"], 1);
        let last = service.post(
            "/auth/verify",
            &json!({ "email": email, "session": first.body["session"], "code": wrong(&code) }),
        );
        assert_eq!(
            (last.status, &last.body),
            (401, &json!({ "error": "attempts_used_up" })),
            "{email}"
        );
    }
    assert_eq!(service.mails_to(unknown), 0);
}

#[test]
fn expiry_and_a_lock_have_their_own_codes_and_a_locked_account_is_refused_generically() {
    let (late, guesser) = ("late@service.example", "guesser@service.example");
    let service = served(
        "otp:\n  ttl_seconds: 2\n  max_attempts: 3\nlimits:\n  max_failures: 2\n",
        &[late, guesser],
    );

    let start = service.post("/auth/start", &json!({ "email": late }));
    let code = service.code_for(late, &[]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let expired = service.post(
        "/auth/verify",
        &json!({ "email": late, "session": start.body["session"], "code": code }),
    );
    assert_eq!(
        (expired.status, &expired.body),
        (401, &json!({ "error": "expired" }))
    );

    let start = service.post("/auth/start", &json!({ "email": guesser }));
    let code = service.code_for(guesser, &[]);
    let first = service.post(
        "/auth/verify",
        &json!({ "email": guesser, "session": start.body["session"], "code": wrong(&code) }),
    );
    assert_eq!(first.body["error"], "wrong_code");
    let locking = service.post(
        "/auth/verify",
        &json!({ "email": guesser, "session": first.body["session"], "code": another_wrong(&code) }),
    );
    assert_eq!(
        (locking.status, &locking.body),
        (401, &json!({ "error": "locked" }))
    );

    let again = service.post("/auth/start", &json!({ "email": guesser }));
    assert_eq!(
        (again.status, &again.body),
        (429, &json!({ "error": "try_later" }))
    );
}

/// Waits out the last seconds of a minute, so a run of requests falls within one window.
fn within_one_minute() {
    let second = triggers::unix_now() % 60;
    if second > 50 {
        std::thread::sleep(std::time::Duration::from_secs(61 - second));
    }
}

/// One client may start or verify a few times a minute, whatever addresses it tries; behind
/// a proxy the client is the address the trusted proxy names, never one the client wrote.
#[test]
fn one_client_is_limited_per_minute_and_only_a_trusted_proxy_names_it() {
    let start = |service: &common::Served, n: usize, forwarded_for: &str| {
        service.post_forwarded(
            "/auth/start",
            &json!({ "email": format!("visitor{n}@service.example") }),
            forwarded_for,
        )
    };
    let direct = served_with("", &[], Some(3), &[]);
    within_one_minute();
    for n in 0..3 {
        // Without a trusted proxy the header is the client's own words, and ignored.
        assert_eq!(start(&direct, n, &format!("203.0.113.{n}")).status, 200);
    }
    let limited = start(&direct, 3, "203.0.113.99");
    assert_eq!(limited.status, 429, "{limited:?}");
    assert_eq!(limited.body["error"], "too_many_requests");
    let retry_after = limited.body["retry_after"].as_u64().unwrap();
    assert!((1..=60).contains(&retry_after), "{limited:?}");
    assert_eq!(
        limited.header("retry-after"),
        Some(retry_after.to_string().as_str())
    );

    let proxied = served_with("", &[], Some(3), &["127.0.0.1".parse().unwrap()]);
    within_one_minute();
    for n in 0..3 {
        assert_eq!(start(&proxied, n, "203.0.113.1").status, 200);
    }
    assert_eq!(start(&proxied, 3, "203.0.113.1").status, 429);
    // Another client behind the same proxy has its own count.
    assert_eq!(start(&proxied, 4, "203.0.113.2").status, 200);
    // Writing another address first does not make the limited client someone else.
    assert_eq!(
        start(&proxied, 5, "198.51.100.7, 203.0.113.1").status,
        429,
        "a client chose its own address"
    );
}

/// A spent send budget has its own answer, with when to try again, so the page can say so;
/// a lock stays the generic `try_later`.
#[test]
fn a_spent_send_budget_says_when_to_try_again() {
    let email = "busy@service.example";
    let service = served("limits:\n  max_sends: 1\n  window_minutes: 60\n", &[email]);
    let first = service.post("/auth/start", &json!({ "email": email }));
    assert_eq!(first.status, 200, "{first:?}");
    let second = service.post("/auth/start", &json!({ "email": email }));
    assert_eq!(second.status, 429, "{second:?}");
    assert_eq!(second.body["error"], "send_budget_used_up");
    let retry_after = second.body["retry_after"].as_u64().unwrap();
    assert!((1..=3600).contains(&retry_after), "{second:?}");
    assert_eq!(
        second.header("retry-after"),
        Some(retry_after.to_string().as_str())
    );
    assert_eq!(service.mails_to(email), 1, "a refused start sent a code");
}

#[test]
fn bad_requests_get_json_errors_with_stable_codes() {
    let email = "carol@service.example";
    let service = served("", &[email]);
    let error = |reply: common::Reply| {
        (
            reply.status,
            reply.body["error"].as_str().unwrap_or("").to_owned(),
        )
    };
    let base = service.base.clone();

    let oversized = format!("{{\"email\": \"{}@x.example\"}}", "a".repeat(5000));
    assert_eq!(
        error(service.post_raw(
            "/auth/start",
            "application/json",
            Some(&base),
            &oversized,
            None
        )),
        (413, "too_large".into())
    );
    assert_eq!(
        error(service.post_raw(
            "/auth/start",
            "application/json",
            Some(&base),
            "{\"email\":",
            None
        )),
        (400, "malformed".into())
    );
    assert_eq!(
        error(service.post_raw(
            "/auth/start",
            "application/json",
            Some(&base),
            "{\"mail\": \"a@b.c\"}",
            None
        )),
        (400, "malformed".into())
    );
    assert_eq!(
        error(service.post_raw(
            "/auth/start",
            "text/plain",
            Some(&base),
            "{\"email\": \"a@b.example\"}",
            None
        )),
        (415, "json_only".into())
    );
    assert_eq!(
        error(service.post_raw(
            "/auth/start",
            "application/json",
            Some("https://evil.example"),
            &json!({ "email": email }).to_string(),
            None
        )),
        (403, "cross_origin".into())
    );
    assert_eq!(service.mails_to(email), 0, "a refused request sent a code");
    assert_eq!(
        error(service.post("/auth/start", &json!({ "email": "not an address" }))),
        (400, "invalid_email".into())
    );

    let start = service.post("/auth/start", &json!({ "email": email }));
    let code = service.code_for(email, &[]);
    let mut forged = start.body["session"].as_str().unwrap().to_owned();
    forged.replace_range(20..24, "AAAA");
    assert_eq!(
        error(service.post(
            "/auth/verify",
            &json!({ "email": email, "session": forged, "code": code })
        )),
        (400, "invalid_session".into())
    );
    assert_eq!(
        error(service.post(
            "/auth/verify",
            &json!({ "email": "mallory@service.example", "session": start.body["session"], "code": code })
        )),
        (400, "invalid_session".into()),
        "a session answered for another address"
    );

    let done = service.post(
        "/auth/verify",
        &json!({ "email": email, "session": start.body["session"], "code": code }),
    );
    assert_eq!(done.status, 200, "{done:?}");
    let token = done.body["id_token"].as_str().unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
        claims["email"] = json!("mallory@service.example");
        engine.encode(claims.to_string())
    };
    for bad in [Some(parts.join(".")), Some("not.a.jwt".to_owned()), None] {
        let reply = service.get("/me", bad.as_deref());
        assert_eq!(error(reply), (401, "invalid_token".into()), "{bad:?}");
    }

    let me = service.get("/me", Some(token));
    assert_eq!(
        me.header("access-control-allow-origin"),
        None,
        "no CORS unless configured"
    );
    assert_eq!(me.header("cache-control"), Some("no-store"));
    assert_eq!(me.header("x-content-type-options"), Some("nosniff"));
    let page = service.get("/", None);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(
        error(service.get("/nowhere", None)),
        (404, "not_found".into())
    );
}
