//! Every command-line type of `cargo xtask`: clap derive, `--help` from the doc comments.
//! The provisioner library knows none of them.

use std::path::PathBuf;

use provisioner::report::DriftFormat;
use provisioner::spec::Architecture;

#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// The stack spec (YAML), e.g. stacks/local.yaml.
    #[arg(long, value_name = "FILE")]
    pub stack: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchArg {
    /// Graviton: the cheaper default on AWS.
    #[value(name = "arm64")]
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

impl From<ArchArg> for Architecture {
    fn from(arch: ArchArg) -> Self {
        match arch {
            ArchArg::Arm64 => Self::Arm64,
            ArchArg::X86_64 => Self::X86_64,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// CPU architecture of the functions.
    #[arg(long, value_enum, default_value_t = ArchArg::X86_64)]
    pub arch: ArchArg,
    /// Link statically against musl, so the binary runs on any Linux, AWS Lambda included.
    /// Without it, x86_64 builds for this machine's glibc, which is what the local emulator runs.
    #[arg(long)]
    pub musl: bool,
    /// Also copy the zips and their manifest (CodeSha256, architecture, source fingerprint,
    /// compiler, commit) to this folder, for `deploy --artifacts` here or on another machine.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReleaseServeArgs {
    /// CPU architecture of the machines the service runs on.
    #[arg(long, value_enum, default_value_t = ArchArg::X86_64)]
    pub arch: ArchArg,
}

#[derive(Debug, clap::Args)]
pub struct ReproducibleArgs {
    /// CPU architecture of the functions.
    #[arg(long, value_enum, default_value_t = ArchArg::X86_64)]
    pub arch: ArchArg,
    /// Link statically against musl, as for AWS.
    #[arg(long)]
    pub musl: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Use the zips `cargo xtask build --out DIR` wrote (here or on another machine) instead
    /// of building; refused when they were built from other sources than this checkout's.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DeployerPolicyArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Cover every stack whose name matches this pattern, such as `acme-pr-*` for previews,
    /// instead of the spec's one stack (IAM's `*` wildcard; the spec gives region and sender).
    #[arg(long, value_name = "PATTERN", value_parser = parse_name_pattern)]
    pub name_pattern: Option<String>,
    /// Only the reads plan, drift and `stacks list` make: for jobs that must never change a stack.
    #[arg(long)]
    pub read_only: bool,
}

/// A stack name with `*` wildcards, starting with a letter: `acme-pr-*`.
fn parse_name_pattern(pattern: &str) -> Result<String, String> {
    let well_formed = pattern.starts_with(|c: char| c.is_ascii_lowercase())
        && pattern
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '*');
    if well_formed {
        Ok(pattern.to_owned())
    } else {
        Err(format!(
            "{pattern:?} is not a stack name pattern: lowercase letters, digits, '-' and '*', starting with a letter (such as acme-pr-*)"
        ))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Apply exactly the plan `cargo xtask plan --out FILE` saved; refused, with nothing
    /// changed, when the spec, the trigger packages or the live stack differ from what that
    /// plan was made against.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Output format: text for people, json for programs (schema emailcode-plan/1, in the
    /// README), markdown for a pull-request comment.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Also write the plan as JSON to FILE, for `cargo xtask deploy --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FormatArg {
    #[default]
    Text,
    Json,
    Markdown,
}

impl From<FormatArg> for DriftFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Text => Self::Text,
            FormatArg::Json => Self::Json,
            FormatArg::Markdown => Self::Markdown,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format; json follows the schema in the README, markdown suits a CI job summary.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Build the triggers and compare the live code with that build byte for byte. Without
    /// it, nothing is built: the live code is compared with what deploy recorded, and the
    /// checkout's source fingerprint with the one deployed.
    #[arg(long, conflicts_with = "artifacts")]
    pub build: bool,
    /// Compare the live code with the zips `cargo xtask build --out DIR` wrote.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TeardownArgs {
    /// The stack spec (YAML), e.g. stacks/local.yaml.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "name",
        conflicts_with = "name"
    )]
    pub stack: Option<PathBuf>,
    /// Instead of a spec: the stack's name, found by its ownership tag (a preview whose spec
    /// is gone). Region and endpoint come from --region, AWS_REGION, AWS_ENDPOINT_URL.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// With --name: the region to look in (default: the SDK's, from AWS_REGION or the profile).
    #[arg(long, requires = "name")]
    pub region: Option<String>,
    #[command(flatten)]
    pub how: TeardownHow,
}

/// How far teardown goes, by spec, by name or by prune.
#[derive(Debug, Clone, clap::Args)]
pub struct TeardownHow {
    /// Do not ask for confirmation (for CI).
    #[arg(long)]
    pub yes: bool,
    /// Turn off the user pool's deletion protection first (our own pool only).
    #[arg(long)]
    pub force: bool,
    /// Also delete the SES identity the stack created. Without it the identity is kept,
    /// without the stack's tag (other stacks may send from it; verifying it again needs the
    /// address's owner or DNS); with it, it is still kept while another stack sends from it.
    #[arg(long)]
    pub delete_identity: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum StacksAction {
    /// Every stack of this tool in the account and region, found by its ownership tag: its
    /// resources, whether the set is complete, when it was created and last deployed.
    List {
        /// The region to look in (default: the SDK's, from AWS_REGION or the profile).
        #[arg(long)]
        region: Option<String>,
        /// text for people; json for programs (a list of stacks).
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Tear down every stack whose name starts with PREFIX and that nobody deployed for
    /// DURATION: prints them (exit 2 when there are any), removes them with --yes.
    Prune {
        /// Only stacks whose name starts with this, such as `acme-pr-`.
        #[arg(long, value_name = "PREFIX")]
        prefix: String,
        /// Last deployed (or, never deployed, created) longer ago than this: 30m, 36h, 7d, 2w.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        older_than: std::time::Duration,
        /// The region to look in (default: the SDK's, from AWS_REGION or the profile).
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        how: TeardownHow,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// text for people; json for programs.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ListFormat {
    #[default]
    Text,
    Json,
}

/// `90s`, `30m`, `36h`, `7d`, `2w`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30m, 36h, 7d or 2w"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "{text:?}: the unit is one of s, m, h, d, w (such as 7d)"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(number * seconds))
}

#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub action: UsersAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersAction {
    /// Add a user with a verified email; no invitation is sent.
    Add {
        #[command(flatten)]
        stack: StackArgs,
        email: String,
    },
    /// List the stack's users, their status, and which are locked by the failure limit.
    List {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Remove a user; a user who is not there is reported, not an error.
    Remove {
        #[command(flatten)]
        stack: StackArgs,
        email: String,
    },
    /// Self sign-ups that never proved their address within `sign_up.pending_days`: listed
    /// (exit 2 when there are any), removed with --yes.
    PrunePending {
        #[command(flatten)]
        stack: StackArgs,
        /// Remove them.
        #[arg(long)]
        yes: bool,
    },
    /// Clear an account's send budget, failure count and lock (for support staff).
    Unlock {
        #[command(flatten)]
        stack: StackArgs,
        email: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The user's email address.
    #[arg(long)]
    pub email: String,
    /// Read the code from the local emulator's outbox instead of asking (local stacks only).
    #[arg(long)]
    pub from_mailbox: bool,
    /// Sign up first, with only the email address (the stack needs `sign_up.enabled`). An
    /// address that has an account already signs in as usual.
    #[arg(long)]
    pub sign_up: bool,
    /// Also print the raw tokens, refresh token included. Treat the output as a secret.
    #[arg(long)]
    pub show_tokens: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum EmailAction {
    /// Render the sign-in email with a sample code into target/email-preview/ and print the
    /// paths of the HTML and text files.
    Preview(PreviewArgs),
}

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The user's `locale` attribute to render for, such as `de` or `pt-BR`; the default
    /// template when left out or when no template matches.
    #[arg(long)]
    pub locale: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The origin browsers load the page from, when it differs from `http://<listen>` (behind
    /// a proxy with TLS: `https://app.example.com`). POSTs naming another origin are refused.
    #[arg(long)]
    pub public_origin: Option<String>,
    /// Requests per client address per minute to /auth/start, /auth/verify, /auth/refresh and
    /// /auth/sign-out; 0 turns the limit off (only for a load test from one address).
    #[arg(long, default_value_t = 20)]
    pub client_limit: u32,
    /// Proxies (comma-separated addresses) whose X-Forwarded-For names the client; requests
    /// from any other peer count against the peer's own address.
    #[arg(long, value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}
