//! `emailcode-serve`: the sign-in service and page, as a team runs it behind a load
//! balancer. Every flag can also be given as the environment variable it names.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use backend::{Config, Pool, SessionKeys};
use clap::{Args, Parser, Subcommand};
use provisioner::session::{Outputs, SignInSettings};
use provisioner::spec::OtpSpec;

/// The email-code sign-in service: the sign-in page, `/auth/*`, `/me`, `/healthz` and
/// `/readyz`. It needs no AWS credentials: Cognito's sign-in calls are public.
#[derive(Parser)]
#[command(name = "emailcode-serve", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Print a new random session key, for `--key-file`: `emailcode-serve generate-key >
    /// session.key`. Give every replica the same key.
    GenerateKey,
}

#[derive(Args)]
struct ServeArgs {
    /// The stack's outputs: the JSON that `cargo xtask outputs --stack F` prints. Instead of
    /// `--region`, `--user-pool-id` and `--app-client-id`.
    #[arg(long, env = "EMAILCODE_OUTPUTS", value_name = "FILE")]
    outputs: Option<PathBuf>,
    /// The pool's region, without `--outputs`.
    #[arg(long, env = "EMAILCODE_REGION", conflicts_with = "outputs")]
    region: Option<String>,
    /// The user pool's id, without `--outputs`.
    #[arg(long, env = "EMAILCODE_USER_POOL_ID", conflicts_with = "outputs")]
    user_pool_id: Option<String>,
    /// The app client's id, without `--outputs`.
    #[arg(long, env = "EMAILCODE_APP_CLIENT_ID", conflicts_with = "outputs")]
    app_client_id: Option<String>,
    /// An emulator standing in for Cognito (`http://127.0.0.1:4566`), without `--outputs`.
    #[arg(long, env = "EMAILCODE_ENDPOINT", conflicts_with = "outputs")]
    endpoint: Option<String>,
    /// Without `--outputs`: the spec's `otp.length`, `otp.ttl_seconds`, `otp.max_attempts`
    /// and the app client's refresh token days, as `6,180,3,30` (the spec's defaults).
    #[arg(long, env = "EMAILCODE_SIGN_IN", value_name = "LENGTH,TTL,ATTEMPTS,DAYS", value_parser = sign_in_settings, conflicts_with = "outputs")]
    sign_in: Option<SignInSettings>,
    /// The address to listen on.
    #[arg(long, env = "EMAILCODE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The origin people reach the page at (`https://app.example.com`): a POST naming another
    /// origin is refused. Defaults to `http://` and the listen address.
    #[arg(long, env = "EMAILCODE_PUBLIC_ORIGIN")]
    public_origin: Option<String>,
    /// The session key (from `generate-key`), the same on every replica.
    #[arg(long, env = "EMAILCODE_KEY_FILE", value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The key before the current one, still accepted for sign-ins it started: set it while
    /// rotating, for at least the code lifetime.
    #[arg(long, env = "EMAILCODE_PREVIOUS_KEY_FILE", value_name = "FILE")]
    previous_key_file: Option<PathBuf>,
    /// Requests per client address per minute to `/auth/start`, `/auth/verify`,
    /// `/auth/refresh` and `/auth/sign-out` (each calls Cognito); 0 for no limit.
    #[arg(long, env = "EMAILCODE_CLIENT_LIMIT", default_value_t = 20)]
    client_limit: u32,
    /// Proxies (load balancers) whose `X-Forwarded-For` names the client, comma-separated.
    #[arg(long, env = "EMAILCODE_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<IpAddr>,
}

/// `--sign-in`: four numbers, each checked against the range the spec allows for it.
fn sign_in_settings(text: &str) -> Result<SignInSettings, String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [length, ttl, attempts, days] = parts.as_slice() else {
        return Err("give four numbers: code length, code lifetime in seconds, attempts, refresh token days (6,180,3,30)".to_owned());
    };
    fn within<T: TryFrom<i64, Error = String>>(name: &str, text: &str) -> Result<T, String> {
        let number: i64 = text
            .parse()
            .map_err(|_| format!("{name} {text:?} is not a whole number"))?;
        T::try_from(number).map_err(|why| format!("{name}: {why}"))
    }
    let otp = OtpSpec {
        length: within("the code length", length)?,
        ttl_seconds: within("the code lifetime", ttl)?,
        max_attempts: within("the attempts", attempts)?,
    };
    Ok(SignInSettings::from_spec_parts(
        &otp,
        Some(within("the refresh token days", days)?),
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Command::GenerateKey) => backend::generate_key()
            .map(|key| println!("{key}"))
            .map_err(anyhow::Error::msg),
        None => serve(cli.serve),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    // Everything is checked before the first connection is taken.
    let (pool, sign_in) = pool(&args)?;
    let session_keys = session_keys(&args)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = backend::bind(args.listen).await?;
            let public_origin = match args.public_origin {
                Some(origin) => origin,
                None => format!("http://{}", listener.local_addr()?),
            };
            let config = Config {
                public_origin,
                client_limit: (args.client_limit > 0).then_some(args.client_limit),
                trusted_proxies: args.trusted_proxies,
                session_keys,
                sign_in,
                pool,
            };
            let cognito = backend::cognito_client(&config.pool).await;
            backend::serve(listener, backend::router(config, cognito)?).await
        })
}

fn pool(args: &ServeArgs) -> Result<(Pool, SignInSettings)> {
    if let Some(path) = &args.outputs {
        let outputs = read_outputs(path)?;
        return Ok((Pool::of(&outputs), outputs.sign_in));
    }
    let (Some(region), Some(pool_id), Some(client_id)) =
        (&args.region, &args.user_pool_id, &args.app_client_id)
    else {
        bail!(
            "which pool? give --outputs FILE (what `cargo xtask outputs --stack F` prints), \
             or --region, --user-pool-id and --app-client-id"
        );
    };
    Ok((
        Pool::from_ids(region, pool_id, client_id, args.endpoint.clone()),
        args.sign_in.unwrap_or_default(),
    ))
}

fn read_outputs(path: &Path) -> Result<Outputs> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the outputs file {}; write it with `cargo xtask outputs --stack F > {}`",
            path.display(),
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not the JSON `cargo xtask outputs` prints; write it again with that command",
            path.display()
        )
    })
}

fn session_keys(args: &ServeArgs) -> Result<SessionKeys> {
    let Some(key_file) = &args.key_file else {
        bail!(
            "no session key: give --key-file FILE (or EMAILCODE_KEY_FILE). Make one with \
             `emailcode-serve generate-key > session.key` and give every replica the same file"
        );
    };
    Ok(SessionKeys {
        current: SessionKeys::read_key(key_file)?,
        previous: args
            .previous_key_file
            .as_deref()
            .map(SessionKeys::read_key)
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_settings_take_the_specs_ranges() {
        assert_eq!(
            sign_in_settings("6, 180, 3, 30"),
            Ok(SignInSettings::default())
        );
        let error = |text| sign_in_settings(text).unwrap_err();
        assert_eq!(
            error("11,180,3,30"),
            "the code length: 11 is out of range: allowed 6 to 10"
        );
        assert!(error("6,601,3,30").contains("allowed 1 to 600"));
        assert!(error("6,180,3,0").contains("allowed 1 to 3650"));
        assert!(error("6,180").starts_with("give four numbers"));
        assert!(error("six,180,3,30").contains("not a whole number"));
    }
}
