//! `cargo xtask serve`: the sign-in service and page against a deployed stack, from its
//! spec: the local shortcut for `emailcode-serve`.

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
/// `public_origin`, with no per-client limit (the caller sets one) and a session key of this
/// process alone: one replica on a developer's machine (`emailcode-serve` takes a key file).
pub fn backend_config(session: &Session, public_origin: String) -> Result<backend::Config> {
    let outputs = session
        .outputs()
        .context("the stack must be deployed first: run `cargo xtask deploy`")?;
    Ok(backend::Config {
        pool: backend::Pool::of(&outputs),
        sign_in: outputs.sign_in,
        public_origin,
        client_limit: None,
        trusted_proxies: Vec::new(),
        session_keys: backend::SessionKeys::random().map_err(anyhow::Error::msg)?,
    })
}
