//! The app's side of the email-code sign-in, as a small service a team runs as it is or
//! copies: `POST /auth/start`, `POST /auth/verify`, `POST /auth/refresh`, `GET /me`,
//! `POST /auth/sign-out`, a sign-in page at `/`, and `GET /healthz` and `/readyz` for the
//! load balancer. Shipped as the `emailcode-serve` binary; `cargo xtask serve` runs it
//! against a stack from its spec.
//!
//! What it gets right that hand-written endpoints often do not: the refresh token lives only
//! in an `HttpOnly; Secure; SameSite=Strict` cookie, unknown addresses answer exactly like
//! known ones, ID tokens are checked against a cached JWKS (refreshed when a new key id
//! appears), POSTs are JSON-only and same-origin, bodies are small and bounded, and no code,
//! token or full address reaches the log. It holds no AWS credentials: Cognito's sign-in
//! calls are public, made with the app client's id alone.

mod api;
mod clients;
pub mod envelope;
mod keys;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use provisioner::session::{Outputs, SignInSettings};

pub use envelope::{KeyFileError, SessionKeys, generate_key};
pub use web::ErrorCode;

/// The pool the service signs people in to, and how to check the tokens it issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub region: String,
    pub app_client_id: String,
    pub issuer: String,
    pub jwks_uri: String,
    /// An emulator standing in for Cognito; `None` on AWS.
    pub endpoint: Option<String>,
}

impl Pool {
    pub fn of(outputs: &Outputs) -> Self {
        Self {
            region: outputs.region.clone(),
            app_client_id: outputs.app_client_id.clone(),
            issuer: outputs.issuer.clone(),
            jwks_uri: outputs.jwks_uri.clone(),
            endpoint: outputs.endpoint.clone(),
        }
    }

    /// The pool from its ids alone, as Cognito names its issuer in `region`'s partition.
    pub fn from_ids(
        region: &str,
        user_pool_id: &str,
        app_client_id: &str,
        endpoint: Option<String>,
    ) -> Self {
        let partition = provisioner::naming::Partition::of_region(region);
        let issuer = provisioner::naming::issuer(region, &partition, user_pool_id);
        Self {
            region: region.to_owned(),
            app_client_id: app_client_id.to_owned(),
            jwks_uri: provisioner::session::jwks_uri(&issuer, user_pool_id, endpoint.as_deref()),
            issuer,
            endpoint,
        }
    }
}

/// What the service needs to run.
#[derive(Clone)]
pub struct Config {
    pub pool: Pool,
    /// The spec's code length, lifetime and attempts, which a stand-in session reports and
    /// allows, and the refresh token's lifetime, which the cookie gets.
    pub sign_in: SignInSettings,
    /// The origin the page is served from (`https://app.example.com`); a POST whose `Origin`
    /// header names another origin is refused.
    pub public_origin: String,
    /// Requests per client address per minute to the routes that call Cognito (start,
    /// verify, refresh, sign-out); `None` for no limit (a load test from one address).
    pub client_limit: Option<u32>,
    /// Proxies whose `X-Forwarded-For` names the client; any other peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// What sign-in sessions are sealed with: the same on every replica.
    pub session_keys: SessionKeys,
}

/// A Cognito client for the pool's sign-in calls, with no credentials at all: those calls
/// are public, so the service needs no IAM identity and signs nothing.
pub async fn cognito_client(pool: &Pool) -> aws_sdk_cognitoidentityprovider::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(pool.region.clone()))
        .no_credentials();
    if let Some(endpoint) = &pool.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    aws_sdk_cognitoidentityprovider::Client::new(&loader.load().await)
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
        keys: keys::KeyCache::new(config.pool.jwks_uri.clone()),
        sealer: envelope::Sealer::new(&config.session_keys).map_err(anyhow::Error::msg)?,
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

/// Serves until SIGTERM or Ctrl-C, then stops taking connections and finishes the requests
/// in flight (each bounded by [`REQUEST_TIMEOUT`]) before returning.
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> anyhow::Result<()> {
    web::log_event(
        "listening",
        &[("address", &format!("http://{}", listener.local_addr()?))],
    );
    // The peer's address reaches the per-client limit as a request extension.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop_requested())
    .await?;
    web::log_event("stopped", &[]);
    Ok(())
}

async fn stop_requested() {
    let interrupted = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a process can always listen for SIGTERM");
        tokio::select! {
            _ = interrupted => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupted.await;
    web::log_event(
        "stopping",
        &[("reason", "signal: finishing the requests in flight")],
    );
}
