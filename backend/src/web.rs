//! The HTTP edge: routes, the JSON error shape with stable codes, body limits, the
//! same-origin rule for POSTs, security headers, the request timeout and the access log.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{MAX_BODY_BYTES, REQUEST_TIMEOUT, Service};

/// Every error the service answers, as `{"error": "<code>"}`. The codes are stable: clients
/// branch on them. None of them tells whether an address has an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The email is not shaped like an address.
    InvalidEmail,
    /// The body is not the JSON the endpoint takes.
    Malformed,
    /// The session is not one this service issued for this address (or it restarted).
    InvalidSession,
    TooLarge,
    JsonOnly,
    CrossOrigin,
    /// Locked, or refused otherwise: the same for every address.
    TryLater,
    /// This client sent more requests this minute than the service allows one client, with
    /// `Retry-After` and `retry_after`.
    TooManyRequests,
    /// Every code this address may get in the current window was sent: the same for every
    /// address, with `Retry-After` and `retry_after` saying when the next window starts.
    SendBudgetUsedUp,
    WrongCode,
    Expired,
    AttemptsUsedUp,
    /// The account was locked during this sign-in by too many wrong codes.
    Locked,
    InvalidToken,
    Unavailable,
    NotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidEmail => "invalid_email",
            Self::Malformed => "malformed",
            Self::InvalidSession => "invalid_session",
            Self::TooLarge => "too_large",
            Self::JsonOnly => "json_only",
            Self::CrossOrigin => "cross_origin",
            Self::TryLater => "try_later",
            Self::TooManyRequests => "too_many_requests",
            Self::SendBudgetUsedUp => "send_budget_used_up",
            Self::WrongCode => "wrong_code",
            Self::Expired => "expired",
            Self::AttemptsUsedUp => "attempts_used_up",
            Self::Locked => "locked",
            Self::InvalidToken => "invalid_token",
            Self::Unavailable => "unavailable",
            Self::NotFound => "not_found",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::InvalidEmail | Self::Malformed | Self::InvalidSession => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::JsonOnly => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::CrossOrigin => StatusCode::FORBIDDEN,
            Self::TryLater | Self::SendBudgetUsedUp | Self::TooManyRequests => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::WrongCode
            | Self::Expired
            | Self::AttemptsUsedUp
            | Self::Locked
            | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for ErrorCode {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(json!({ "error": self.as_str() }))).into_response()
    }
}

pub fn routes(service: Arc<Service>) -> axum::Router {
    let per_client = middleware::from_fn_with_state(Arc::clone(&service), per_client);
    axum::Router::new()
        .route("/", get(page))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route(
            "/auth/start",
            post(crate::api::start).layer(per_client.clone()),
        )
        .route("/auth/verify", post(crate::api::verify).layer(per_client))
        .route("/auth/sign-out", post(crate::api::sign_out))
        .route("/me", get(crate::api::me))
        .fallback(|| async { ErrorCode::NotFound })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            same_origin_json,
        ))
        .layer(middleware::from_fn(guard))
        .with_state(service)
}

/// The per-client limit on the routes that spend an account's budget or guesses.
async fn per_client(
    axum::extract::State(service): axum::extract::State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limit) = &service.clients else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let client = limit.client_of(peer, request.headers());
    match limit.admit(client, triggers::unix_now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => retry_later(ErrorCode::TooManyRequests, retry_after),
    }
}

/// A 429 that says when to try again: `retry_after` in the body and `Retry-After`.
pub fn retry_later(code: ErrorCode, retry_after: u64) -> Response {
    let body = json!({ "error": code.as_str(), "retry_after": retry_after });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A JSON body of at most [`MAX_BODY_BYTES`], parsed into `T`.
pub async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, ErrorCode> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ErrorCode::TooLarge)?;
    serde_json::from_slice(&bytes).map_err(|_| ErrorCode::Malformed)
}

/// POSTs must be JSON (a cross-site form cannot send that without a CORS preflight, which
/// this service never answers) and, when the browser names an origin, come from ours.
async fn same_origin_json(
    axum::extract::State(service): axum::extract::State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::POST {
        let headers = request.headers();
        if let Some(origin) = headers.get(header::ORIGIN)
            && origin.as_bytes() != service.config.public_origin.as_bytes()
        {
            return ErrorCode::CrossOrigin.into_response();
        }
        if !is_json(headers) {
            return ErrorCode::JsonOnly.into_response();
        }
    }
    next.run(request).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The request timeout, security headers on every response, and one log line per request:
/// method, path, status and time; never a body, a header value or a query.
async fn guard(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ErrorCode::Unavailable.into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if path != "/app.js" && path != "/app.css" {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    eprintln!(
        "{}",
        access_line(&method, &path, response.status(), started.elapsed())
    );
    response
}

/// The access log's line: method, path (ours only), status and time.
fn access_line(
    method: &Method,
    path: &str,
    status: StatusCode,
    took: std::time::Duration,
) -> String {
    let logged_path = if known_path(path) { path } else { "(other)" };
    format!(
        "{method} {logged_path} {} {} ms",
        status.as_u16(),
        took.as_millis()
    )
}

/// Only our own paths are logged as they are; anything else could carry what a person typed.
fn known_path(path: &str) -> bool {
    [
        "/",
        "/app.js",
        "/app.css",
        "/auth/start",
        "/auth/verify",
        "/auth/sign-out",
        "/me",
    ]
    .contains(&path)
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", include_str!("page/index.html"))
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("page/app.js"),
    )
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("page/app.css"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_log_names_our_paths_only() {
        let took = std::time::Duration::from_millis(12);
        assert_eq!(
            access_line(
                &Method::POST,
                "/auth/verify",
                StatusCode::UNAUTHORIZED,
                took
            ),
            "POST /auth/verify 401 12 ms"
        );
        // Whatever else someone requests may carry an address or a token: never logged.
        let line = access_line(
            &Method::GET,
            "/alice@example.com/eyJhbGciOi",
            StatusCode::NOT_FOUND,
            took,
        );
        assert_eq!(line, "GET (other) 404 12 ms");
    }

    #[test]
    fn only_json_counts_as_json() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
