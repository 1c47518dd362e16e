//! `cargo xtask serve`: the sign-in service and page against a deployed stack.

use std::process::ExitCode;

use anyhow::{Context, Result};
use provisioner::session::Session;

use crate::flags::ServeArgs;

pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let session = Session::open(&args.stack.stack).await?;
            let origin = args
                .public_origin
                .clone()
                .unwrap_or_else(|| format!("http://{}", args.listen));
            let mut config = backend_config(&session, origin)?;
            config.client_limit = (args.client_limit > 0).then_some(args.client_limit);
            config.trusted_proxies = args.trusted_proxies.clone();
            let router = backend::router(config, session.clients.cognito.clone())?;
            backend::serve(backend::bind(args.listen).await?, router).await?;
            Ok(ExitCode::SUCCESS)
        })
}

/// The service's settings from the deployed stack and its spec, for a page served from
/// `public_origin`, with no per-client limit (the caller sets one).
pub fn backend_config(session: &Session, public_origin: String) -> Result<backend::Config> {
    let spec = &session.spec;
    let outputs = session
        .outputs()
        .context("the stack must be deployed first: run `cargo xtask deploy`")?;
    Ok(backend::Config {
        outputs,
        code_length: u8::try_from(spec.otp.length.get()).unwrap_or(u8::MAX),
        ttl_seconds: u64::from(spec.otp.ttl_seconds.get()),
        max_attempts: u8::try_from(spec.otp.max_attempts.get()).unwrap_or(u8::MAX),
        refresh_token_days: spec.app_client.refresh_token_days.map_or(
            provisioner::resources::app_client::DEFAULT_REFRESH_TOKEN_DAYS,
            |d| d.get(),
        ),
        public_origin,
        client_limit: None,
        trusted_proxies: Vec::new(),
    })
}
