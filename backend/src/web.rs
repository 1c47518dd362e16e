//! The HTTP edge: routes, the JSON error shape with stable codes, body limits, the
//! same-origin rule for POSTs, security headers, the request timeout, the health routes and
//! the log: one JSON line per request, and events that carry the request's id.

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
        .route(
            "/auth/verify",
            post(crate::api::verify).layer(per_client.clone()),
        )
        .route(
            "/auth/refresh",
            post(crate::api::refresh).layer(per_client.clone()),
        )
        .route(
            "/auth/sign-out",
            post(crate::api::sign_out).layer(per_client),
        )
        .route("/me", get(crate::api::me))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async { ErrorCode::NotFound })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            same_origin_json,
        ))
        .layer(middleware::from_fn(guard))
        .with_state(service)
}

/// The per-client limit on every route that calls Cognito with what a client sent: start and
/// verify spend an account's budget or guesses; refresh and sign-out would otherwise let one
/// client spend the pool's request quota, which every sign-in shares.
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

tokio::task_local! {
    /// The id of the request being served, for every log line written while serving it.
    static REQUEST_ID: String;
}

/// The request timeout, security headers on every response, a request id (in the
/// `X-Request-Id` header and on every log line), and one access-log line per request:
/// method, route, status and time; never a body, a header value, a query or an address.
async fn guard(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = new_request_id();
    let served = REQUEST_ID.scope(request_id.clone(), async {
        match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ErrorCode::Unavailable.into_response(),
        }
    });
    let mut response = served.await;
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
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    eprintln!(
        "{}",
        access_line(
            &request_id,
            &method,
            &path,
            response.status(),
            started.elapsed()
        )
    );
    response
}

/// 16 random hex digits: enough to find one request among a day's.
fn new_request_id() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the random source worked at start-up");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The access log's line: the request id, method, route (ours only), status and time.
fn access_line(
    request_id: &str,
    method: &Method,
    path: &str,
    status: StatusCode,
    took: std::time::Duration,
) -> String {
    json!({
        "event": "request",
        "requestId": request_id,
        "method": method.as_str(),
        "route": if known_path(path) { path } else { "(other)" },
        "status": status.as_u16(),
        "latencyMs": u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
    })
    .to_string()
}

/// One JSON line on stderr: `event`, the id of the request being served if any, and
/// `fields`. Callers pass error codes and reasons, never what a person sent.
pub fn log_event(event: &str, fields: &[(&str, &str)]) {
    let mut line = serde_json::Map::new();
    line.insert("event".to_owned(), event.into());
    if let Ok(id) = REQUEST_ID.try_with(Clone::clone) {
        line.insert("requestId".to_owned(), id.into());
    }
    for (name, value) in fields {
        line.insert((*name).to_owned(), (*value).into());
    }
    eprintln!("{}", serde_json::Value::Object(line));
}

/// Only our own paths are logged as they are; anything else could carry what a person typed.
fn known_path(path: &str) -> bool {
    [
        "/",
        "/app.js",
        "/app.css",
        "/auth/start",
        "/auth/verify",
        "/auth/refresh",
        "/auth/sign-out",
        "/me",
        "/healthz",
        "/readyz",
    ]
    .contains(&path)
}

/// The process is up and serving.
async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// Ready for sign-ins: the pool's signing keys can be had (fetched recently, or now).
async fn readyz(axum::extract::State(service): axum::extract::State<Arc<Service>>) -> Response {
    match service.keys.reachable().await {
        Ok(()) => axum::Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => {
            log_event("not_ready", &[("reason", &reason)]);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "error": "keys_unreachable" })),
            )
                .into_response()
        }
    }
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
    fn the_access_log_is_one_json_object_naming_our_routes_only() {
        let took = std::time::Duration::from_millis(12);
        let line: serde_json::Value = serde_json::from_str(&access_line(
            "0a1b",
            &Method::POST,
            "/auth/verify",
            StatusCode::UNAUTHORIZED,
            took,
        ))
        .unwrap();
        assert_eq!(
            line,
            json!({"event": "request", "requestId": "0a1b", "method": "POST",
                   "route": "/auth/verify", "status": 401, "latencyMs": 12})
        );
        // Whatever else someone requests may carry an address or a token: never logged.
        let line = access_line(
            "0a1b",
            &Method::GET,
            "/alice@example.com/eyJhbGciOi",
            StatusCode::NOT_FOUND,
            took,
        );
        assert!(line.contains(r#""route":"(other)""#), "{line}");
        assert!(!line.contains("alice") && !line.contains("eyJ"), "{line}");
        assert_ne!(new_request_id(), new_request_id());
        assert_eq!(new_request_id().len(), 16);
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
