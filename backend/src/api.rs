//! The four endpoints. Each talks to Cognito once at most, and answers an unknown address
//! exactly as a known one: same status, same shape, about the same time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use triggers::create::{PUBLIC_CODE_LENGTH, PUBLIC_DESTINATION, PUBLIC_EXPIRES_AT};
use triggers::email::{looks_like_address, mask_address};

use crate::envelope::SignInState;
use crate::web::{ErrorCode, json_body, log_event};
use crate::{COGNITO_TIMEOUT, Service};

/// The cookie that carries the refresh token: only to `/auth/*`, never to scripts.
pub const REFRESH_COOKIE: &str = "refresh_token";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    email: String,
    session: String,
    code: String,
}

/// `Alice@Example.com ` and `alice@example.com` are one account (the pool ignores case).
fn normalise(email: &str) -> String {
    email.trim().to_lowercase()
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Waits about as long as the last real call of its kind took, so a stand-in is not faster.
async fn mirror(latency_ms: &std::sync::atomic::AtomicU64) {
    tokio::time::sleep(Duration::from_millis(latency_ms.load(Ordering::Relaxed))).await;
}

pub async fn start(State(service): State<Arc<Service>>, body: Body) -> Response {
    let body: StartBody = match json_body(body).await {
        Ok(body) => body,
        Err(code) => return code.into_response(),
    };
    let email = normalise(&body.email);
    if !looks_like_address(&email) {
        return ErrorCode::InvalidEmail.into_response();
    }
    let config = &service.config;
    let started = Instant::now();
    let call = service
        .cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::CustomAuth)
        .client_id(&config.pool.app_client_id)
        .auth_parameters("USERNAME", &email)
        .send();
    let answer = match tokio::time::timeout(COGNITO_TIMEOUT, call).await {
        Ok(answer) => answer,
        Err(_) => return ErrorCode::Unavailable.into_response(),
    };
    let now = triggers::unix_now();
    let state = match answer {
        Ok(output) if output.challenge_name == Some(ChallengeNameType::CustomChallenge) => {
            service
                .start_latency_ms
                .store(elapsed_ms(started), Ordering::Relaxed);
            let cognito = output.session.unwrap_or_default();
            service
                .session_length
                .store(cognito.len() as u64, Ordering::Relaxed);
            let parameters = output.challenge_parameters.unwrap_or_default();
            let number = |name: &str| parameters.get(name).and_then(|v| v.parse::<u64>().ok());
            return started_response(
                &service,
                SignInState {
                    cognito,
                    stand_in: false,
                    email,
                    attempts_left: config.sign_in.max_attempts,
                    expires_at: number(PUBLIC_EXPIRES_AT)
                        .unwrap_or(now + config.sign_in.code_ttl_seconds),
                },
                parameters.get(PUBLIC_DESTINATION).cloned(),
                number(PUBLIC_CODE_LENGTH),
            );
        }
        Ok(_) => {
            log_event(
                "cognito_failed",
                &[
                    ("call", "InitiateAuth"),
                    ("error", "another challenge than ours"),
                ],
            );
            return ErrorCode::Unavailable.into_response();
        }
        // Cognito with PreventUserExistenceErrors runs unknown users through the triggers; an
        // emulator (or a pool set to LEGACY) says so instead, and a stand-in answers for them.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_user_not_found_exception()) =>
        {
            mirror(&service.start_latency_ms).await;
            let length = service.session_length.load(Ordering::Relaxed) as usize;
            SignInState {
                cognito: service.sealer.random_text(length),
                stand_in: true,
                email,
                attempts_left: config.sign_in.max_attempts,
                expires_at: now + config.sign_in.code_ttl_seconds,
            }
        }
        // The send budget refused: its own answer, with when to try again; the same for every
        // address, since the budget counts names without an account too.
        Err(e) if let Some(retry_after) = send_budget_used_up(&e) => {
            return crate::web::retry_later(ErrorCode::SendBudgetUsedUp, retry_after);
        }
        // A lock refused: the same answer for every address.
        Err(e) if is_refusal(e.code()) => return ErrorCode::TryLater.into_response(),
        Err(e) => {
            cognito_failed("InitiateAuth", &e);
            return ErrorCode::Unavailable.into_response();
        }
    };
    started_response(&service, state, None, None)
}

/// The seconds until the send budget is whole again, when Define refused the sign-in for
/// it: Cognito relays the trigger's error with its message, as UserLambdaValidationException
/// (AWS) or InvalidLambdaResponseException (MiniStack).
fn send_budget_used_up<E: ProvideErrorMetadata>(error: &E) -> Option<u64> {
    if ![
        "UserLambdaValidationException",
        "InvalidLambdaResponseException",
    ]
    .contains(&error.code().unwrap_or_default())
    {
        return None;
    }
    let message = error.message()?;
    if !message.contains(triggers::error::SEND_BUDGET_USED_UP) {
        return None;
    }
    Some(
        message
            .split("retry_after=")
            .nth(1)
            .and_then(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .ok()
            })
            .unwrap_or(60),
    )
}

fn is_refusal(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("NotAuthorizedException" | "TooManyRequestsException" | "LimitExceededException")
    )
}

fn started_response(
    service: &Service,
    state: SignInState,
    destination: Option<String>,
    code_length: Option<u64>,
) -> Response {
    let body = json!({
        "destination": destination.unwrap_or_else(|| mask_address(&state.email)),
        "code_length": code_length.unwrap_or(u64::from(service.config.sign_in.code_length)),
        "expires_at": state.expires_at,
        "attempts_left": state.attempts_left,
        "session": service.sealer.seal(&state),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

pub async fn verify(State(service): State<Arc<Service>>, body: Body) -> Response {
    let body: VerifyBody = match json_body(body).await {
        Ok(body) => body,
        Err(code) => return code.into_response(),
    };
    let Some(state) = service.sealer.open(&body.session) else {
        return ErrorCode::InvalidSession.into_response();
    };
    if state.email != normalise(&body.email) {
        return ErrorCode::InvalidSession.into_response();
    }
    if triggers::unix_now() >= state.expires_at {
        return ErrorCode::Expired.into_response();
    }
    if state.stand_in {
        mirror(&service.verify_latency_ms).await;
        let cognito = service.sealer.random_text(state.cognito.len());
        return wrong_code(&service, state, cognito);
    }
    let started = Instant::now();
    let call = service
        .cognito
        .respond_to_auth_challenge()
        .client_id(&service.config.pool.app_client_id)
        .challenge_name(ChallengeNameType::CustomChallenge)
        .session(&state.cognito)
        .challenge_responses("USERNAME", &state.email)
        .challenge_responses("ANSWER", body.code)
        .send();
    let answer = match tokio::time::timeout(COGNITO_TIMEOUT, call).await {
        Ok(answer) => answer,
        Err(_) => return ErrorCode::Unavailable.into_response(),
    };
    service
        .verify_latency_ms
        .store(elapsed_ms(started), Ordering::Relaxed);
    match answer {
        Ok(output) => match output.authentication_result {
            Some(tokens) => signed_in(service.config.sign_in.refresh_token_days, tokens),
            None => wrong_code(&service, state, output.session.unwrap_or_default()),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_authorized_exception()) =>
        {
            // Cognito ended the sign-in. The session's own state says why, as far as this
            // service may tell: a lock shows as an end with attempts still left.
            if triggers::unix_now() >= state.expires_at {
                ErrorCode::Expired
            } else if state.attempts_left <= 1 {
                ErrorCode::AttemptsUsedUp
            } else {
                ErrorCode::Locked
            }
            .into_response()
        }
        Err(e) => {
            cognito_failed("RespondToAuthChallenge", &e);
            ErrorCode::Unavailable.into_response()
        }
    }
}

/// A wrong code with attempts left: the next session, and how many attempts remain. On the
/// last attempt the sign-in is over, as Cognito ends it.
fn wrong_code(service: &Service, state: SignInState, next_cognito: String) -> Response {
    let attempts_left = state.attempts_left.saturating_sub(1);
    if attempts_left == 0 {
        return ErrorCode::AttemptsUsedUp.into_response();
    }
    let next = SignInState {
        cognito: next_cognito,
        attempts_left,
        ..state
    };
    let body = json!({
        "error": ErrorCode::WrongCode.as_str(),
        "attempts_left": attempts_left,
        "expires_at": next.expires_at,
        "session": service.sealer.seal(&next),
    });
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// The tokens for the page; a refresh token (at sign-in, or a rotated one at refresh) goes
/// only into the cookie, which lives as long as the app client's refresh tokens.
fn signed_in(
    refresh_token_days: u32,
    tokens: aws_sdk_cognitoidentityprovider::types::AuthenticationResultType,
) -> Response {
    let body = json!({
        "id_token": tokens.id_token.unwrap_or_default(),
        "access_token": tokens.access_token.unwrap_or_default(),
        "expires_in": tokens.expires_in,
    });
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    if let Some(refresh) = tokens.refresh_token {
        let max_age = u64::from(refresh_token_days) * 86_400;
        set_cookie(&mut response, &refresh, max_age);
    }
    response
}

fn set_cookie(response: &mut Response, value: &str, max_age: u64) {
    let cookie = format!(
        "{REFRESH_COOKIE}={value}; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age={max_age}"
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
}

pub async fn me(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return ErrorCode::InvalidToken.into_response();
    };
    match service
        .keys
        .claims(&service.config.pool, token.trim())
        .await
    {
        Ok(claims) => (StatusCode::OK, axum::Json(json!({ "claims": claims }))).into_response(),
        Err(refusal) => {
            // The reason, for whoever runs the service; the client learns only that it failed.
            log_event("token_refused", &[("reason", &refusal_kind(&refusal))]);
            ErrorCode::InvalidToken.into_response()
        }
    }
}

fn refusal_kind(refusal: &crate::keys::Refusal) -> String {
    use provisioner::login::TokenProblem;
    match refusal {
        crate::keys::Refusal::KeysUnavailable(reason) => {
            format!("the pool's keys could not be fetched: {reason}")
        }
        crate::keys::Refusal::Token(problem) => match problem {
            TokenProblem::Malformed(_) => "not a JWT",
            TokenProblem::NoKeyId => "no key id",
            TokenProblem::UnknownKey(_) => "unknown key id",
            TokenProblem::UnusableKey { .. } => "unusable key",
            TokenProblem::Invalid(_) => "signature, issuer, audience or expiry",
            TokenProblem::NotAnIdToken => "not an ID token",
        }
        .to_owned(),
    }
}

/// A failed Cognito call, by its error code alone (its message may name the user).
fn cognito_failed<E: ProvideErrorMetadata>(call: &str, error: &E) {
    log_event(
        "cognito_failed",
        &[
            ("call", call),
            ("error", error.code().unwrap_or("unreachable")),
        ],
    );
}

/// The refresh token the browser's cookie holds, if any.
fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == REFRESH_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// Fresh ID and access tokens from the cookie's refresh token, so a page reload costs no
/// new code. GetTokensFromRefreshToken works with and without refresh token rotation; with
/// rotation on, Cognito answers a new refresh token, which replaces the cookie. A token
/// Cognito refuses (revoked, expired, from another client) answers 401 and clears the cookie.
pub async fn refresh(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let Some(token) = refresh_cookie(&headers) else {
        return ErrorCode::InvalidToken.into_response();
    };
    let call = service
        .cognito
        .get_tokens_from_refresh_token()
        .client_id(&service.config.pool.app_client_id)
        .refresh_token(token)
        .send();
    let answer = match tokio::time::timeout(COGNITO_TIMEOUT, call).await {
        Ok(answer) => answer,
        Err(_) => return ErrorCode::Unavailable.into_response(),
    };
    match answer {
        Ok(output) => match output.authentication_result {
            Some(tokens) => signed_in(service.config.sign_in.refresh_token_days, tokens),
            None => ErrorCode::Unavailable.into_response(),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_authorized_exception()) =>
        {
            let mut response = ErrorCode::InvalidToken.into_response();
            set_cookie(&mut response, "", 0);
            response
        }
        Err(e) => {
            cognito_failed("GetTokensFromRefreshToken", &e);
            ErrorCode::Unavailable.into_response()
        }
    }
}

/// Revokes the refresh token (and with it the tokens it issued) and clears the cookie.
/// Signing out twice, or without a cookie, is not an error.
pub async fn sign_out(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    if let Some(token) = refresh_cookie(&headers) {
        let call = service
            .cognito
            .revoke_token()
            .client_id(&service.config.pool.app_client_id)
            .token(token)
            .send();
        match tokio::time::timeout(COGNITO_TIMEOUT, call).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                cognito_failed("RevokeToken", &e);
                return ErrorCode::Unavailable.into_response();
            }
            Err(_) => return ErrorCode::Unavailable.into_response(),
        }
    }
    let mut response = (StatusCode::OK, axum::Json(json!({ "signed_out": true }))).into_response();
    set_cookie(&mut response, "", 0);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cognitoidentityprovider::types::AuthenticationResultType;

    fn cookies(response: &Response) -> Vec<String> {
        response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_rotated_refresh_token_replaces_the_cookie_and_none_leaves_it() {
        let tokens = |refresh: Option<&str>| {
            AuthenticationResultType::builder()
                .id_token("id")
                .access_token("access")
                .expires_in(3600)
                .set_refresh_token(refresh.map(str::to_owned))
                .build()
        };
        let rotated = signed_in(30, tokens(Some("next-refresh")));
        assert_eq!(
            cookies(&rotated),
            [
                "refresh_token=next-refresh; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=2592000"
            ]
        );
        // Without rotation Cognito returns no refresh token: the cookie stays as it is.
        assert!(cookies(&signed_in(30, tokens(None))).is_empty());
    }

    #[test]
    fn only_the_refresh_cookie_is_read_and_an_empty_one_is_none() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, HeaderValue::from_static(value));
            refresh_cookie(&headers)
        };
        assert_eq!(with("a=1; refresh_token=abc; b=2").as_deref(), Some("abc"));
        assert_eq!(with("refresh_token="), None);
        assert_eq!(with("other_refresh_token=abc"), None);
        assert_eq!(refresh_cookie(&HeaderMap::new()), None);
    }
}
