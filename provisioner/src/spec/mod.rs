//! The stack spec: YAML in, a validated [`StackSpec`] out, before any AWS call.
//!
//! Single-field rules live in the field types (`TryFrom` newtypes), so deserializing reports
//! them with the field's path; rules spanning fields are checked afterwards. Either way
//! [`Document`] names the file and line that set the offending value (a spec may extend
//! a base spec, and `${NAME}` takes an environment variable).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::naming::RESERVED_TAG_PREFIX;

pub mod document;

pub use document::Document;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    // The io error is part of the message, not a `source`, so it is printed once.
    #[error("cannot read the stack spec {}: {error}; check the path passed to --stack", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    pub name: StackName,
    pub region: Region,
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub email: EmailSpec,
    #[serde(default)]
    pub otp: OtpSpec,
    #[serde(default)]
    pub user_pool: UserPoolSpec,
    #[serde(default)]
    pub app_client: AppClientSpec,
    #[serde(default)]
    pub triggers: TriggersSpec,
    #[serde(default)]
    pub limits: LimitsSpec,
    #[serde(default)]
    pub sign_up: SignUpSpec,
    #[serde(default)]
    pub logs: LogsSpec,
    /// Alarms and where they notify; none without this section.
    #[serde(default)]
    pub alarms: Option<AlarmsSpec>,
    /// The sign-in email's templates, read from `email.templates` (or the shipped ones)
    /// when the spec is parsed.
    #[serde(skip)]
    pub email_templates: triggers::template::Bundle,
}

/// CloudWatch alarms deployed with the stack, and whom they notify: an address subscribed to
/// a topic the stack owns, or a topic that exists already.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmsSpec {
    #[serde(default)]
    pub email: Option<EmailAddress>,
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// Account lockouts in an hour, across the stack, above which someone is guessing.
    #[serde(default = "Bounded::default_lockouts_per_hour")]
    pub lockouts_per_hour: Bounded<1, 100_000>,
    /// Spent-budget refusals in an hour above which someone floods addresses.
    #[serde(default = "Bounded::default_budget_refusals_per_hour")]
    pub budget_refusals_per_hour: Bounded<1, 100_000>,
}

/// The triggers' logs in CloudWatch Logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSpec {
    #[serde(default)]
    pub retention_days: RetentionDays,
}

/// How long CloudWatch Logs keeps a trigger's logs: one of the periods it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct RetentionDays(u32);

/// The retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days.
pub const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

impl Default for RetentionDays {
    /// A month: enough to look into a complaint, short enough that old sign-in records go.
    fn default() -> Self {
        Self(30)
    }
}

impl RetentionDays {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for RetentionDays {
    type Error = String;
    fn try_from(days: i64) -> Result<Self, String> {
        u32::try_from(days)
            .ok()
            .filter(|d| RETENTION_DAYS.contains(d))
            .map(Self)
            .ok_or_else(|| {
                let allowed: Vec<String> = RETENTION_DAYS.iter().map(u32::to_string).collect();
                format!(
                    "{days} is not a retention CloudWatch Logs offers: use one of {}",
                    allowed.join(", ")
                )
            })
    }
}

/// Self sign-up: a person creates their own account with only an email address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUpSpec {
    /// Off by default: only `cargo xtask users add` creates users.
    #[serde(default)]
    pub enabled: bool,
    /// Days a new account may wait for its first code; after that it gets none and
    /// `users prune-pending` removes it.
    #[serde(default = "Bounded::default_pending_days")]
    pub pending_days: Bounded<1, 30>,
}

impl Default for SignUpSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            pending_days: Bounded::default_pending_days(),
        }
    }
}

/// Account-wide abuse limits. Always on; this section only tunes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Codes emailed to one account per window.
    #[serde(default = "Bounded::default_max_sends")]
    pub max_sends: Bounded<1, 50>,
    #[serde(default = "Bounded::default_window")]
    pub window_minutes: Bounded<1, 1440>,
    /// Wrong codes in a row, across sessions, before the account is locked.
    #[serde(default = "Bounded::default_max_failures")]
    pub max_failures: Bounded<1, 100>,
    #[serde(default = "Bounded::default_lockout")]
    pub lockout_minutes: Bounded<1, 1440>,
    /// Sign-in starts of the whole stack per clock hour, across accounts; none by default.
    #[serde(default)]
    pub max_sends_per_hour: Option<Bounded<1, 1_000_000>>,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        Self {
            max_sends: Bounded::default_max_sends(),
            window_minutes: Bounded::default_window(),
            max_failures: Bounded::default_max_failures(),
            lockout_minutes: Bounded::default_lockout(),
            max_sends_per_hour: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSpec {
    pub from: EmailAddress,
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// `{{app_name}}` in the templates; the stack's name by default.
    #[serde(default)]
    pub app_name: Option<String>,
    /// Locale (`default`, `de`, `pt-BR`) to a template folder, relative to the spec file.
    #[serde(default)]
    pub templates: BTreeMap<String, PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtpSpec {
    #[serde(default = "Bounded::default_code_length")]
    pub length: Bounded<6, 10>,
    #[serde(default = "Bounded::default_ttl")]
    pub ttl_seconds: Bounded<1, 600>,
    #[serde(default = "Bounded::default_max_attempts")]
    pub max_attempts: Bounded<1, 10>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPoolSpec {
    #[serde(default = "default_true")]
    pub deletion_protection: bool,
    #[serde(default)]
    pub tier: PoolTier,
}

/// Cognito's feature plans. CUSTOM_AUTH needs nothing above Lite, and new pools would
/// otherwise default to Essentials, which costs more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolTier {
    #[default]
    Lite,
    Essentials,
    Plus,
}

impl PoolTier {
    /// The name Cognito uses.
    pub fn as_cognito(self) -> &'static str {
        match self {
            Self::Lite => "LITE",
            Self::Essentials => "ESSENTIALS",
            Self::Plus => "PLUS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppClientSpec {
    #[serde(default = "Bounded::default_auth_session")]
    pub auth_session_minutes: Bounded<3, 15>,
    #[serde(default)]
    pub access_token_minutes: Option<Bounded<5, 1440>>,
    #[serde(default)]
    pub id_token_minutes: Option<Bounded<5, 1440>>,
    #[serde(default)]
    pub refresh_token_days: Option<RefreshTokenDays>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggersSpec {
    #[serde(default)]
    pub architecture: Architecture,
    #[serde(default = "Bounded::default_memory")]
    pub memory_mb: Bounded<128, 10240>,
    #[serde(default = "Bounded::default_timeout")]
    pub timeout_seconds: Bounded<1, 5>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Architecture {
    /// Graviton: the cheaper default on AWS.
    #[default]
    #[serde(rename = "arm64")]
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Architecture {
    /// The name Lambda uses.
    pub fn as_lambda(self) -> &'static str {
        match self {
            Self::Arm64 => "arm64",
            Self::X86_64 => "x86_64",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_lambda())
    }
}

fn default_true() -> bool {
    true
}

impl Default for OtpSpec {
    fn default() -> Self {
        Self {
            length: Bounded::default_code_length(),
            ttl_seconds: Bounded::default_ttl(),
            max_attempts: Bounded::default_max_attempts(),
        }
    }
}

impl Default for UserPoolSpec {
    fn default() -> Self {
        Self {
            deletion_protection: true,
            tier: PoolTier::default(),
        }
    }
}

impl Default for AppClientSpec {
    fn default() -> Self {
        Self {
            auth_session_minutes: Bounded::default_auth_session(),
            access_token_minutes: None,
            id_token_minutes: None,
            refresh_token_days: None,
        }
    }
}

impl Default for TriggersSpec {
    fn default() -> Self {
        Self {
            architecture: Architecture::default(),
            memory_mb: Bounded::default_memory(),
            timeout_seconds: Bounded::default_timeout(),
        }
    }
}

/// A whole number from `MIN` to `MAX`; serde rejects anything else with the range in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "i64")]
pub struct Bounded<const MIN: u32, const MAX: u32>(u32);

/// `app_client.refresh_token_days`: Cognito's range for a refresh token's lifetime.
pub type RefreshTokenDays = Bounded<1, 3650>;

impl<const MIN: u32, const MAX: u32> Bounded<MIN, MAX> {
    pub fn get(self) -> u32 {
        self.0
    }

    fn new_unchecked(value: u32) -> Self {
        debug_assert!((MIN..=MAX).contains(&value));
        Self(value)
    }
}

impl Bounded<6, 10> {
    fn default_code_length() -> Self {
        Self::new_unchecked(6)
    }
}
impl Bounded<1, 600> {
    fn default_ttl() -> Self {
        Self::new_unchecked(180)
    }
}
impl Bounded<1, 10> {
    fn default_max_attempts() -> Self {
        Self::new_unchecked(3)
    }
}
impl Bounded<3, 15> {
    fn default_auth_session() -> Self {
        Self::new_unchecked(3)
    }
}
impl Bounded<128, 10240> {
    fn default_memory() -> Self {
        Self::new_unchecked(128)
    }
}
impl Bounded<1, 50> {
    fn default_max_sends() -> Self {
        Self::new_unchecked(5)
    }
}
impl Bounded<1, 1440> {
    fn default_window() -> Self {
        Self::new_unchecked(60)
    }
    fn default_lockout() -> Self {
        Self::new_unchecked(15)
    }
}
impl Bounded<1, 100> {
    fn default_max_failures() -> Self {
        Self::new_unchecked(10)
    }
}
impl Bounded<1, 30> {
    fn default_pending_days() -> Self {
        Self::new_unchecked(7)
    }
}
impl Bounded<1, 100_000> {
    fn default_lockouts_per_hour() -> Self {
        Self::new_unchecked(20)
    }
    fn default_budget_refusals_per_hour() -> Self {
        Self::new_unchecked(100)
    }
}
impl Bounded<1, 5> {
    fn default_timeout() -> Self {
        Self::new_unchecked(5)
    }
}

impl<const MIN: u32, const MAX: u32> TryFrom<i64> for Bounded<MIN, MAX> {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, String> {
        u32::try_from(value)
            .ok()
            .filter(|v| (MIN..=MAX).contains(v))
            .map(Self)
            .ok_or_else(|| format!("{value} is out of range: allowed {MIN} to {MAX}"))
    }
}

/// Lowercase letters, digits and '-', starting with a letter; it prefixes every resource name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct StackName(String);

impl TryFrom<String> for StackName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        // The longest derived name, "<name>-verify-auth-challenge", must fit Lambda's 64 characters.
        if !well_formed || name.len() > 40 {
            return Err(format!(
                "{name:?} is not a valid stack name: use 1 to 40 lowercase letters, digits and '-', starting with a letter"
            ));
        }
        Ok(Self(name))
    }
}

impl StackName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Region(String);

impl TryFrom<String> for Region {
    type Error = String;
    fn try_from(region: String) -> Result<Self, String> {
        let parts: Vec<&str> = region.split('-').collect();
        let well_formed = parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
        if well_formed {
            Ok(Self(region))
        } else {
            Err(format!(
                "{region:?} is not an AWS region name such as us-east-1 or eu-west-2"
            ))
        }
    }
}

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Endpoint(String);

impl TryFrom<String> for Endpoint {
    type Error = String;
    fn try_from(url: String) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
                Ok(Self(url.trim_end_matches('/').to_owned()))
            }
            _ => Err(format!(
                "{url:?} is not an http:// or https:// URL such as http://127.0.0.1:4566"
            )),
        }
    }
}

impl Endpoint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EmailAddress(String);

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(address: String) -> Result<Self, String> {
        if triggers::email::looks_like_address(&address) {
            Ok(Self(address))
        } else {
            Err(format!(
                "{address:?} is not an email address like no-reply@example.com"
            ))
        }
    }
}

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }
}

impl StackSpec {
    /// Reads the spec at `path` (and the bases it extends), taking `${NAME}` from the
    /// process environment.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        Self::from_document(&Document::load(path, &document::process_environment)?)
    }

    /// The spec whose text is `text`, as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SpecError> {
        Self::parse_with(path, text, &document::process_environment)
    }

    /// As [`StackSpec::parse`], with `${NAME}` looked up in `environment`.
    pub fn parse_with(
        path: &Path,
        text: &str,
        environment: document::Environment<'_>,
    ) -> Result<Self, SpecError> {
        Self::from_document(&Document::from_text(path, text, environment)?)
    }

    fn from_document(document: &Document) -> Result<Self, SpecError> {
        let mut spec: StackSpec = document.deserialize()?;
        if let Some((field_path, message)) = spec.cross_field_problem() {
            let field_path: Vec<&str> = field_path.iter().map(String::as_str).collect();
            return Err(document.error(&field_path, message));
        }
        spec.email_templates = crate::email_templates::load(document, &spec)?;
        Ok(spec)
    }

    /// The spec of a stack found by its tags, enough to observe and tear it down: its name,
    /// where it lives, and whom it sends as (its Create trigger's sender, else the identity it
    /// owns). Deletion protection is off here, so only the live pool's counts.
    pub fn for_found(
        found: &crate::inventory::StackFound,
        region: &str,
        endpoint: Option<&str>,
    ) -> Result<Self, String> {
        let owned = found.identity();
        let from = match (&found.sender, owned) {
            (Some(sender), _) => sender.clone(),
            (None, Some(address)) if address.contains('@') => address.to_owned(),
            (None, Some(domain)) => format!("no-reply@{domain}"),
            // Nothing says whom it sent as: an address no identity has, so none is touched.
            (None, None) => format!("no-reply@{}.invalid", found.name),
        };
        let from = EmailAddress::try_from(from)?;
        let identity = owned
            .filter(|i| *i == from.as_str() || *i == from.domain())
            .map(str::to_owned);
        Ok(Self {
            name: StackName::try_from(found.name.clone())?,
            region: Region::try_from(region.to_owned())?,
            endpoint: endpoint
                .map(|e| Endpoint::try_from(e.to_owned()))
                .transpose()?,
            tags: BTreeMap::new(),
            email: EmailSpec {
                from,
                identity,
                subject: None,
                app_name: None,
                templates: BTreeMap::new(),
            },
            otp: OtpSpec::default(),
            user_pool: UserPoolSpec {
                deletion_protection: false,
                tier: PoolTier::default(),
            },
            app_client: AppClientSpec::default(),
            triggers: TriggersSpec::default(),
            limits: LimitsSpec::default(),
            sign_up: SignUpSpec::default(),
            logs: LogsSpec::default(),
            alarms: None,
            email_templates: triggers::template::Bundle::default(),
        })
    }

    /// Rules that involve more than one field, with the path of the field to fix.
    fn cross_field_problem(&self) -> Option<(Vec<String>, String)> {
        let session_seconds = self.app_client.auth_session_minutes.get() * 60;
        if self.otp.ttl_seconds.get() > session_seconds {
            return Some((
                path(&["otp", "ttl_seconds"]),
                format!(
                    "{} is longer than the sign-in session (app_client.auth_session_minutes = {}, so at most {session_seconds}): a code could outlive its session",
                    self.otp.ttl_seconds.get(),
                    self.app_client.auth_session_minutes.get()
                ),
            ));
        }
        if let Some(identity) = &self.email.identity
            && identity != self.email.from.as_str()
            && identity != self.email.from.domain()
        {
            return Some((
                path(&["email", "identity"]),
                format!(
                    "{identity:?} must be the sender address ({}) or its domain ({})",
                    self.email.from.as_str(),
                    self.email.from.domain()
                ),
            ));
        }
        if let Some(alarms) = &self.alarms {
            match (&alarms.email, &alarms.topic_arn) {
                (Some(_), Some(_)) | (None, None) => {
                    return Some((
                        path(&["alarms"]),
                        "name exactly one of `email` (an address the stack subscribes to its own topic) and `topic_arn` (a topic that exists)".to_owned(),
                    ));
                }
                (None, Some(arn))
                    if !(arn.starts_with("arn:") && arn.split(':').nth(2) == Some("sns")) =>
                {
                    return Some((
                        path(&["alarms", "topic_arn"]),
                        format!(
                            "{arn:?} is not an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:ops"
                        ),
                    ));
                }
                _ => {}
            }
        }
        if let Some(subject) = &self.email.subject
            && (subject.trim().is_empty() || subject.contains(['\r', '\n']))
        {
            return Some((
                path(&["email", "subject"]),
                "must be one non-empty line".to_owned(),
            ));
        }
        for (key, value) in &self.tags {
            if key.is_empty() || key.len() > 128 || value.len() > 256 || key.starts_with("aws:") {
                return Some((
                    path(&["tags", key]),
                    "keys take 1 to 128 characters and may not start with \"aws:\"; values at most 256"
                        .to_owned(),
                ));
            }
            if key.starts_with(RESERVED_TAG_PREFIX) {
                return Some((
                    path(&["tags", key]),
                    format!(
                        "this key is reserved: keys starting with {RESERVED_TAG_PREFIX:?} are the provisioner's own; choose another key"
                    ),
                ));
            }
            if let Some(bad) = key
                .chars()
                .chain(value.chars())
                .find(|c| !tag_character(*c))
            {
                return Some((
                    path(&["tags", key]),
                    format!(
                        "{bad:?} is not allowed in tags; IAM, Lambda, Cognito and SES take letters, digits, spaces and _ . : / = + - @"
                    ),
                ));
            }
        }
        None
    }

    /// The SES identity the stack sends from: the configured one, or the sender address.
    pub fn ses_identity(&self) -> &str {
        self.email
            .identity
            .as_deref()
            .unwrap_or(self.email.from.as_str())
    }
}

/// The domain an SES identity sends for: an address's domain, or the domain itself.
pub fn sender_domain(identity: &str) -> &str {
    identity
        .rsplit_once('@')
        .map_or(identity, |(_, domain)| domain)
}

/// The characters every tagging service of the stack accepts (IAM's set is the narrowest).
fn tag_character(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

fn path(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "name: acme-dev\nregion: us-east-1\nemail:\n  from: no-reply@acme.example\n";

    fn parse(text: &str) -> Result<StackSpec, SpecError> {
        StackSpec::parse(Path::new("stack.yaml"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_spec_gets_every_default() {
        let spec = parse(MINIMAL).unwrap();
        assert_eq!(spec.name.as_str(), "acme-dev");
        assert_eq!(spec.otp, OtpSpec::default());
        assert_eq!(spec.otp.length.get(), 6);
        assert_eq!(spec.otp.ttl_seconds.get(), 180);
        assert_eq!(spec.otp.max_attempts.get(), 3);
        assert!(spec.user_pool.deletion_protection);
        assert_eq!(spec.user_pool.tier, PoolTier::Lite);
        assert_eq!(
            (
                spec.limits.max_sends.get(),
                spec.limits.window_minutes.get(),
                spec.limits.max_failures.get(),
                spec.limits.lockout_minutes.get()
            ),
            (5, 60, 10, 15)
        );
        assert_eq!(spec.app_client.auth_session_minutes.get(), 3);
        assert_eq!(spec.triggers.architecture, Architecture::Arm64);
        assert_eq!(spec.triggers.memory_mb.get(), 128);
        assert_eq!(spec.triggers.timeout_seconds.get(), 5);
        assert_eq!(spec.ses_identity(), "no-reply@acme.example");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let message = error(&format!("{MINIMAL}otp:\n  length: 6\n  lenght: 7\n"));
        assert!(
            message
                .starts_with("stack.yaml:7: otp.lenght: unknown field, expected one of `length`"),
            "{message}"
        );
    }

    #[test]
    fn an_out_of_range_value_names_field_line_and_range() {
        let message = error(&format!("{MINIMAL}triggers:\n  timeout_seconds: 6\n"));
        assert!(
            message.starts_with(
                "stack.yaml:6: triggers.timeout_seconds: 6 is out of range: allowed 1 to 5"
            ),
            "{message}"
        );
        let message = error(&format!("{MINIMAL}otp:\n  length: 11\n"));
        assert!(
            message.contains("otp.length: 11 is out of range: allowed 6 to 10"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_required_key_is_reported() {
        let message = error("name: acme-dev\nemail:\n  from: a@b.example\n");
        assert!(message.contains("missing field `region`"), "{message}");
    }

    #[test]
    fn bad_names_regions_addresses_and_architectures_are_rejected() {
        assert!(
            error(&MINIMAL.replace("acme-dev", "Acme_Dev"))
                .contains("stack.yaml:1: name: \"Acme_Dev\" is not a valid stack name")
        );
        let message = error(&MINIMAL.replace("us-east-1", "useast1"));
        assert!(
            message.contains("stack.yaml:2: region: \"useast1\" is not an AWS region"),
            "{message}"
        );
        assert!(
            error(&MINIMAL.replace("no-reply@acme.example", "nobody"))
                .contains("stack.yaml:4: email.from:")
        );
        let message = error(&format!("{MINIMAL}triggers:\n  architecture: sparc\n"));
        assert!(
            message.contains(
                "triggers.architecture: unknown variant `sparc`, expected `arm64` or `x86_64`"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_ttl_longer_than_the_session_is_reported_on_its_own_line() {
        let message = error(&format!(
            "{MINIMAL}otp:\n  ttl_seconds: 600\napp_client:\n  auth_session_minutes: 5\n"
        ));
        assert!(
            message.starts_with(
                "stack.yaml:6: otp.ttl_seconds: 600 is longer than the sign-in session"
            ),
            "{message}"
        );
    }

    #[test]
    fn the_identity_must_be_the_sender_or_its_domain() {
        let spec = parse(&MINIMAL.replace(
            "no-reply@acme.example\n",
            "no-reply@acme.example\n  identity: acme.example\n",
        ))
        .unwrap();
        assert_eq!(spec.ses_identity(), "acme.example");
        let message = error(&MINIMAL.replace(
            "no-reply@acme.example\n",
            "no-reply@acme.example\n  identity: other.example\n",
        ));
        assert!(
            message.starts_with("stack.yaml:5: email.identity:"),
            "{message}"
        );
    }

    #[test]
    fn the_provisioners_own_tags_cannot_be_set_by_hand() {
        for key in [crate::naming::OWNER_TAG, crate::naming::CLIENT_LOCATOR_TAG] {
            let message = error(&format!("{MINIMAL}tags:\n  {key}: someone-else\n"));
            assert!(message.contains("is reserved"), "{message}");
        }
    }

    #[test]
    fn tags_with_characters_iam_refuses_are_named() {
        let message = error(&format!("{MINIMAL}tags:\n  team: \"a;b\"\n"));
        assert!(
            message.starts_with("stack.yaml:6: tags.team: ';' is not allowed"),
            "{message}"
        );
        assert!(
            parse(&format!(
                "{MINIMAL}tags:\n  cost-center: \"team/x:1 @a+b=c\"\n"
            ))
            .is_ok()
        );
    }

    #[test]
    fn limits_are_validated_like_every_other_key() {
        let message = error(&format!("{MINIMAL}limits:\n  max_failures: 101\n"));
        assert!(
            message.starts_with(
                "stack.yaml:6: limits.max_failures: 101 is out of range: allowed 1 to 100"
            ),
            "{message}"
        );
        let message = error(&format!("{MINIMAL}limits:\n  max_send: 3\n"));
        assert!(
            message.starts_with(
                "stack.yaml:6: limits.max_send: unknown field, expected one of `max_sends`"
            ),
            "{message}"
        );
    }

    #[test]
    fn alarms_notify_an_address_or_an_existing_topic_not_both() {
        assert_eq!(parse(MINIMAL).unwrap().alarms, None);
        let spec = parse(&format!("{MINIMAL}alarms:\n  email: ops@acme.example\n")).unwrap();
        let alarms = spec.alarms.unwrap();
        assert_eq!(alarms.email.unwrap().as_str(), "ops@acme.example");
        assert_eq!(
            (
                alarms.lockouts_per_hour.get(),
                alarms.budget_refusals_per_hour.get()
            ),
            (20, 100)
        );
        let message = error(&format!(
            "{MINIMAL}alarms:\n  email: ops@acme.example\n  topic_arn: arn:aws:sns:us-east-1:1:ops\n"
        ));
        assert!(
            message.starts_with("stack.yaml:5: alarms: name exactly one of"),
            "{message}"
        );
        let message = error(&format!("{MINIMAL}alarms:\n  topic_arn: ops\n"));
        assert!(
            message.starts_with("stack.yaml:6: alarms.topic_arn: \"ops\" is not an SNS topic ARN"),
            "{message}"
        );
        let message = error(&format!("{MINIMAL}alarms:\n  email: ops\n"));
        assert!(
            message.starts_with("stack.yaml:6: alarms.email:"),
            "{message}"
        );
    }

    #[test]
    fn log_retention_is_one_of_the_periods_cloudwatch_offers() {
        assert_eq!(parse(MINIMAL).unwrap().logs.retention_days.get(), 30);
        let spec = parse(&format!("{MINIMAL}logs:\n  retention_days: 365\n")).unwrap();
        assert_eq!(spec.logs.retention_days.get(), 365);
        let message = error(&format!("{MINIMAL}logs:\n  retention_days: 45\n"));
        assert!(
            message.starts_with("stack.yaml:6: logs.retention_days: 45 is not a retention CloudWatch Logs offers: use one of 1, 3, 5"),
            "{message}"
        );
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../stacks/stack.schema.json")).unwrap();
        let listed: Vec<u64> = schema["properties"]["logs"]["properties"]["retention_days"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(listed, RETENTION_DAYS.map(u64::from));
    }

    #[test]
    fn the_pool_tier_is_one_of_cognitos_plans() {
        let spec = parse(&format!("{MINIMAL}user_pool:\n  tier: essentials\n")).unwrap();
        assert_eq!(spec.user_pool.tier.as_cognito(), "ESSENTIALS");
        let message = error(&format!("{MINIMAL}user_pool:\n  tier: gold\n"));
        assert!(
            message.contains("user_pool.tier: unknown variant `gold`, expected one of `lite`, `essentials`, `plus`"),
            "{message}"
        );
    }

    fn bounds<const MIN: u32, const MAX: u32>(_: Option<Bounded<MIN, MAX>>) -> (u64, u64) {
        (MIN.into(), MAX.into())
    }

    fn range<T: Copy + Into<u64>>(range: std::ops::RangeInclusive<T>) -> (u64, u64) {
        ((*range.start()).into(), (*range.end()).into())
    }

    /// Each range lives in three places a user meets: the spec's types (errors), the JSON
    /// schema (editors) and, for what the triggers read, their configuration check.
    #[test]
    fn the_spec_the_schema_and_the_triggers_agree_on_every_range() {
        use triggers::config;
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../stacks/stack.schema.json")).unwrap();
        let (otp, client, triggers, limits) = (
            OtpSpec::default(),
            AppClientSpec::default(),
            TriggersSpec::default(),
            LimitsSpec::default(),
        );
        let minutes = |(low, high): (u64, u64)| (low / 60, high / 60);
        let days = |(low, high): (u64, u64)| (low / 86_400, high / 86_400);
        let ranges = [
            (
                "otp",
                "length",
                bounds(Some(otp.length)),
                Some(range(config::CODE_LENGTH_RANGE)),
            ),
            (
                "otp",
                "ttl_seconds",
                bounds(Some(otp.ttl_seconds)),
                Some(range(config::TTL_SECONDS_RANGE)),
            ),
            (
                "otp",
                "max_attempts",
                bounds(Some(otp.max_attempts)),
                Some(range(config::MAX_ATTEMPTS_RANGE)),
            ),
            (
                "app_client",
                "auth_session_minutes",
                bounds(Some(client.auth_session_minutes)),
                None,
            ),
            (
                "app_client",
                "access_token_minutes",
                bounds(client.access_token_minutes),
                None,
            ),
            (
                "app_client",
                "id_token_minutes",
                bounds(client.id_token_minutes),
                None,
            ),
            (
                "app_client",
                "refresh_token_days",
                bounds(client.refresh_token_days),
                None,
            ),
            (
                "triggers",
                "memory_mb",
                bounds(Some(triggers.memory_mb)),
                None,
            ),
            (
                "triggers",
                "timeout_seconds",
                bounds(Some(triggers.timeout_seconds)),
                None,
            ),
            (
                "limits",
                "max_sends",
                bounds(Some(limits.max_sends)),
                Some(range(config::MAX_SENDS_RANGE)),
            ),
            (
                "limits",
                "window_minutes",
                bounds(Some(limits.window_minutes)),
                Some(minutes(range(config::WINDOW_SECONDS_RANGE))),
            ),
            (
                "limits",
                "max_failures",
                bounds(Some(limits.max_failures)),
                Some(range(config::MAX_FAILURES_RANGE)),
            ),
            (
                "limits",
                "lockout_minutes",
                bounds(Some(limits.lockout_minutes)),
                Some(minutes(range(config::LOCKOUT_SECONDS_RANGE))),
            ),
            (
                "limits",
                "max_sends_per_hour",
                bounds(limits.max_sends_per_hour),
                Some(range(config::MAX_SENDS_PER_HOUR_RANGE)),
            ),
            (
                "sign_up",
                "pending_days",
                bounds(Some(SignUpSpec::default().pending_days)),
                Some(days(range(config::PENDING_SECONDS_RANGE))),
            ),
        ];
        for (section, key, spec, trigger) in ranges {
            let property = &schema["properties"][section]["properties"][key];
            let in_schema = (
                property["minimum"].as_u64().unwrap(),
                property["maximum"].as_u64().unwrap(),
            );
            assert_eq!(
                in_schema, spec,
                "{section}.{key}: the JSON schema and the spec disagree"
            );
            if let Some(trigger) = trigger {
                assert_eq!(
                    trigger, spec,
                    "{section}.{key}: the triggers and the spec disagree"
                );
            }
        }
    }

    #[test]
    fn the_shipped_stacks_parse() {
        let stacks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks");
        let pull_request = |name: &str| (name == "PR_NUMBER").then(|| "17".to_owned());
        let mut names = Vec::new();
        for name in [
            "local.yaml",
            "dev.yaml",
            "staging.yaml",
            "production.yaml",
            "preview.yaml",
        ] {
            let path = stacks.join(name);
            let document = Document::load(&path, &pull_request).unwrap_or_else(|e| panic!("{e}"));
            let spec = StackSpec::from_document(&document).unwrap_or_else(|e| panic!("{e}"));
            names.push(spec.name.to_string());
        }
        assert_eq!(
            names,
            [
                "local-dev",
                "acme-dev",
                "acme-staging",
                "acme-prod",
                "acme-pr-17"
            ]
        );
        let message = StackSpec::load(&stacks.join("base.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("missing field `name`"),
            "the base alone is no stack: {message}"
        );
    }

    /// Every bounded field, set out of range after a valid sibling (and before one), is
    /// reported on its own line with its full path: serde_yaml used to report the line
    /// where the block started and the key found there.
    #[test]
    fn every_bounded_field_is_reported_on_its_own_line_with_its_path() {
        type Fields = &'static [(&'static str, u32, u32)];
        let sections: [(&str, Fields); 5] = [
            (
                "otp",
                &[
                    ("length", 6, 10),
                    ("ttl_seconds", 1, 600),
                    ("max_attempts", 1, 10),
                ],
            ),
            (
                "app_client",
                &[
                    ("auth_session_minutes", 3, 15),
                    ("access_token_minutes", 5, 1440),
                    ("id_token_minutes", 5, 1440),
                    ("refresh_token_days", 1, 3650),
                ],
            ),
            (
                "triggers",
                &[("memory_mb", 128, 10240), ("timeout_seconds", 1, 5)],
            ),
            ("sign_up", &[("pending_days", 1, 30)]),
            (
                "limits",
                &[
                    ("max_sends", 1, 50),
                    ("window_minutes", 1, 1440),
                    ("max_failures", 1, 100),
                    ("lockout_minutes", 1, 1440),
                    ("max_sends_per_hour", 1, 1_000_000),
                ],
            ),
        ];
        let minimal_lines = MINIMAL.lines().count();
        let mut checked = 0;
        for (section, fields) in sections {
            for (target, (key, min, max)) in fields.iter().enumerate() {
                let mut text = format!("{MINIMAL}{section}:\n");
                for (other, min, _) in fields {
                    let value = if other == key { max + 1 } else { *min };
                    text.push_str(&format!("  {other}: {value}\n"));
                }
                let line = minimal_lines + 2 + target;
                let message = error(&text);
                let expected = format!(
                    "stack.yaml:{line}: {section}.{key}: {} is out of range: allowed {min} to {max}",
                    max + 1
                );
                assert_eq!(message, expected, "{text}");
                checked += 1;
            }
        }
        assert_eq!(checked, 15);
    }

    #[test]
    fn a_value_of_the_wrong_kind_names_its_field() {
        let message = error(&format!(
            "{MINIMAL}otp:\n  length: 6\n  max_attempts: many\n"
        ));
        assert_eq!(
            message,
            "stack.yaml:7: otp.max_attempts: expected a whole number"
        );
        let message = error(&format!(
            "{MINIMAL}user_pool:\n  tier: lite\n  deletion_protection: maybe\n"
        ));
        assert_eq!(
            message,
            "stack.yaml:7: user_pool.deletion_protection: expected true or false"
        );
    }

    #[test]
    fn anchors_and_duplicate_keys_are_refused_with_their_line() {
        let message = error(&format!(
            "{MINIMAL}otp: &shared\n  length: 6\napp_client: *shared\n"
        ));
        assert!(
            message.starts_with("stack.yaml:6: YAML anchors"),
            "{message}"
        );
        assert!(message.contains("use `extends:`"), "{message}");
        let message = error(&format!("{MINIMAL}otp:\n  length: 6\n  length: 7\n"));
        assert_eq!(message, "stack.yaml:7: the key \"length\" appears twice");
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    const BASE: &str = "region: eu-west-1\ntags:\n  team: identity\n  tier: web\nemail:\n  from: no-reply@acme.example\n  subject: Your code\notp:\n  length: 8\n  ttl_seconds: 120\n";

    #[test]
    fn a_spec_extends_a_base_maps_merging_key_by_key() {
        let dir = scratch("extends");
        write(&dir, "base.yaml", BASE);
        let spec = StackSpec::load(&write(
            &dir,
            "envs/staging.yaml",
            "extends: ../base.yaml\nname: acme-staging\ntags:\n  tier: api\notp:\n  ttl_seconds: 60\n",
        ))
        .unwrap();
        assert_eq!(spec.name.as_str(), "acme-staging");
        assert_eq!(spec.region.as_str(), "eu-west-1");
        assert_eq!(spec.email.from.as_str(), "no-reply@acme.example");
        assert_eq!(
            spec.tags,
            BTreeMap::from([
                ("team".to_owned(), "identity".to_owned()),
                ("tier".to_owned(), "api".to_owned())
            ])
        );
        assert_eq!((spec.otp.length.get(), spec.otp.ttl_seconds.get()), (8, 60));
    }

    #[test]
    fn a_chain_of_bases_applies_nearest_last() {
        let dir = scratch("chain");
        write(&dir, "base.yaml", BASE);
        write(
            &dir,
            "middle.yaml",
            "extends: base.yaml\notp:\n  length: 7\n  max_attempts: 5\n",
        );
        let spec = StackSpec::load(&write(
            &dir,
            "top.yaml",
            "extends: middle.yaml\nname: acme-top\notp:\n  max_attempts: 2\n",
        ))
        .unwrap();
        assert_eq!(
            (
                spec.otp.length.get(),
                spec.otp.ttl_seconds.get(),
                spec.otp.max_attempts.get()
            ),
            (7, 120, 2)
        );
    }

    #[test]
    fn a_cycle_of_bases_is_an_error_naming_the_chain() {
        let dir = scratch("cycle");
        write(&dir, "a.yaml", "extends: b.yaml\nname: acme\n");
        write(&dir, "b.yaml", "region: us-east-1\nextends: a.yaml\n");
        let message = StackSpec::load(&dir.join("a.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(&format!("{}:2: extends:", dir.join("b.yaml").display())),
            "{message}"
        );
        assert!(message.contains("makes a cycle"), "{message}");
        let message = StackSpec::load(&write(&dir, "self.yaml", "extends: self.yaml\n"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("makes a cycle"), "{message}");
        let message = StackSpec::load(&write(&dir, "lost.yaml", "name: x\nextends: gone.yaml\n"))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(&format!(
                "{}:2: extends: cannot read the base spec",
                dir.join("lost.yaml").display()
            )),
            "{message}"
        );
    }

    #[test]
    fn an_error_names_the_file_that_set_the_value() {
        let dir = scratch("blame");
        let base = write(
            &dir,
            "base.yaml",
            &BASE.replace("ttl_seconds: 120", "ttl_seconds: 900"),
        );
        let spec = write(&dir, "dev.yaml", "extends: base.yaml\nname: acme-dev\n");
        let message = StackSpec::load(&spec).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{}:10: otp.ttl_seconds: 900 is out of range: allowed 1 to 600",
                base.display()
            )
        );
        let spec = write(
            &dir,
            "dev.yaml",
            "extends: base.yaml\nname: acme-dev\notp:\n  ttl_seconds: 700\n",
        );
        let message = StackSpec::load(&spec).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{}:4: otp.ttl_seconds: 700 is out of range: allowed 1 to 600",
                spec.display()
            )
        );
        // A rule spanning fields blames the field to fix where it was set.
        write(&dir, "base.yaml", BASE);
        let spec = write(
            &dir,
            "dev.yaml",
            "extends: base.yaml\nname: acme-dev\napp_client:\n  auth_session_minutes: 3\notp:\n  ttl_seconds: 300\n",
        );
        let message = StackSpec::load(&spec).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "{}:6: otp.ttl_seconds: 300 is longer",
                spec.display()
            )),
            "{message}"
        );
        let message = StackSpec::load(&write(
            &dir,
            "dev.yaml",
            "extends: base.yaml\nname: acme-dev\ntags:\n  \"emailcode:x\": y\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            message.starts_with(&format!(
                "{}:4: tags.emailcode:x: this key is reserved",
                dir.join("dev.yaml").display()
            )),
            "{message}"
        );
    }

    #[test]
    fn template_folders_are_relative_to_the_file_that_names_them() {
        let dir = scratch("template-paths");
        let templates = |dir: &Path, subject: &str| {
            write(dir, "subject.txt", subject);
            write(
                dir,
                "body.txt",
                "Code {{code}} for {{app_name}}, {{minutes}} min\n",
            );
            write(
                dir,
                "body.html",
                "<p>Code {{code}} for {{app_name}}, {{minutes}} min</p>\n",
            );
        };
        templates(&dir.join("shared/emails/en"), "Base subject");
        write(
            &dir,
            "shared/base.yaml",
            "region: eu-west-1\nemail:\n  from: no-reply@acme.example\n  templates:\n    default: emails/en\n",
        );
        let spec = StackSpec::load(&write(
            &dir,
            "envs/dev.yaml",
            "extends: ../shared/base.yaml\nname: acme-dev\n",
        ))
        .unwrap();
        let sources = &spec.email_templates.locales["default"];
        assert_eq!(sources.subject.trim(), "Base subject");
    }

    #[test]
    fn a_variable_takes_its_value_from_the_environment() {
        let environment = |name: &str| (name == "PR_NUMBER").then(|| "42".to_owned());
        let text = MINIMAL.replace("acme-dev", "acme-pr-${PR_NUMBER}")
            + "  subject: $HOME and $$ and {PR_NUMBER}\n";
        let spec = StackSpec::parse_with(Path::new("stack.yaml"), &text, &environment).unwrap();
        assert_eq!(spec.name.as_str(), "acme-pr-42");
        let defaulted = MINIMAL.replace("acme-dev", "acme-${PR_NUMBER:-0}-${STAGE:-dev}");
        let with_defaults =
            StackSpec::parse_with(Path::new("stack.yaml"), &defaulted, &environment).unwrap();
        assert_eq!(
            with_defaults.name.as_str(),
            "acme-42-dev",
            "a set variable wins over its default"
        );
        assert_eq!(
            spec.email.subject.as_deref(),
            Some("$HOME and $$ and {PR_NUMBER}"),
            "nothing else is expanded"
        );
        let text = format!("{MINIMAL}tags:\n  owner: team-${{TEAM}}\n");
        let message = StackSpec::parse_with(Path::new("stack.yaml"), &text, &environment)
            .unwrap_err()
            .to_string();
        assert!(
            message
                .starts_with("stack.yaml:6: tags.owner: the environment variable TEAM is not set"),
            "{message}"
        );
        // The expanded value is validated like any other.
        let shouty = |_: &str| Some("Forty Two".to_owned());
        let message = StackSpec::parse_with(
            Path::new("stack.yaml"),
            &MINIMAL.replace("acme-dev", "acme-${PR}"),
            &shouty,
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.starts_with("stack.yaml:1: name: \"acme-Forty Two\" is not a valid stack name"),
            "{message}"
        );
    }
}
