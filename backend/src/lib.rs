//! The app's side of the email-code sign-in, as a small service a team runs as it is or
//! copies: `POST /auth/start`, `POST /auth/verify`, `GET /me`, `POST /auth/sign-out`, and a
//! sign-in page at `/`.
//!
//! What it gets right that hand-written endpoints often do not: the refresh token lives only
//! in an `HttpOnly; Secure; SameSite=Strict` cookie, unknown addresses answer exactly like
//! known ones, ID tokens are checked against a cached JWKS (refreshed when a new key id
//! appears), POSTs are JSON-only and same-origin, bodies are small and bounded, and no code,
//! token or full address reaches the log.

mod api;
mod clients;
pub mod envelope;
mod keys;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use provisioner::session::Outputs;

pub use web::ErrorCode;

/// What the service needs from the deployed stack and its spec.
#[derive(Debug, Clone)]
pub struct Config {
    pub outputs: Outputs,
    /// From the spec's `otp`: what a stand-in session reports and allows.
    pub code_length: u8,
    pub ttl_seconds: u64,
    pub max_attempts: u8,
    /// How long the refresh-token cookie lives: the app client's refresh token validity.
    pub refresh_token_days: u32,
    /// The origin the page is served from (`https://app.example.com`); a POST whose `Origin`
    /// header names another origin is refused.
    pub public_origin: String,
    /// Requests per client address per minute to `/auth/start` and `/auth/verify`; `None`
    /// for no limit (a load test from one address).
    pub client_limit: Option<u32>,
    /// Proxies whose `X-Forwarded-For` names the client; any other peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Each Cognito call gets at most this long; the whole request a little more.
pub const COGNITO_TIMEOUT: Duration = Duration::from_secs(8);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Every body this service accepts is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

struct Service {
    config: Config,
    cognito: aws_sdk_cognitoidentityprovider::Client,
    sealer: envelope::Sealer,
    keys: keys::KeyCache,
    /// Recent Cognito latencies and session length, mirrored by stand-in sessions.
    start_latency_ms: AtomicU64,
    verify_latency_ms: AtomicU64,
    session_length: AtomicU64,
    clients: Option<clients::ClientLimit>,
}

/// The router, ready to serve; `cognito` is a client for the stack's region (and emulator).
pub fn router(
    config: Config,
    cognito: aws_sdk_cognitoidentityprovider::Client,
) -> anyhow::Result<axum::Router> {
    let service = Service {
        clients: config.client_limit.map(|per_minute| {
            clients::ClientLimit::new(per_minute, config.trusted_proxies.clone())
        }),
        keys: keys::KeyCache::new(config.outputs.jwks_uri.clone()),
        sealer: envelope::Sealer::new().map_err(anyhow::Error::msg)?,
        config,
        cognito,
        start_latency_ms: AtomicU64::new(150),
        verify_latency_ms: AtomicU64::new(150),
        session_length: AtomicU64::new(900),
    };
    Ok(web::routes(Arc::new(service)))
}

/// Binds `listen`; port 0 picks a free port.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {listen}: {e}; choose another --listen address")
    })
}

/// Serves until the process ends, logging one line per request to stderr.
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> anyhow::Result<()> {
    eprintln!(
        "serving the sign-in page on http://{}",
        listener.local_addr()?
    );
    // The peer's address reaches the per-client limit as a request extension.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
