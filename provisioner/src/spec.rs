//! The stack spec: YAML in, a validated [`StackSpec`] out, before any AWS call.
//!
//! Single-field rules live in the field types (`TryFrom` newtypes), so serde_yaml reports
//! them with the field's path and line; rules spanning fields are checked afterwards and
//! located by [`line_of`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::naming::RESERVED_TAG_PREFIX;

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
    /// The sign-in email's templates, read from `email.templates` (or the shipped ones)
    /// when the spec is parsed.
    #[serde(skip)]
    pub email_templates: triggers::template::Bundle,
}

/// Self sign-up: a person creates their own account with only an email address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUpSpec {
    /// Off by default: only `cargo xtask users add` creates users.
    #[serde(default)]
    pub enabled: bool,
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
}

impl Default for LimitsSpec {
    fn default() -> Self {
        Self {
            max_sends: Bounded::default_max_sends(),
            window_minutes: Bounded::default_window(),
            max_failures: Bounded::default_max_failures(),
            lockout_minutes: Bounded::default_lockout(),
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
    pub refresh_token_days: Option<Bounded<1, 3650>>,
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
                "name: {name:?} is not a valid stack name: use 1 to 40 lowercase letters, digits and '-', starting with a letter"
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
                "region: {region:?} is not an AWS region name such as us-east-1 or eu-west-2"
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
                "endpoint: {url:?} is not an http:// or https:// URL such as http://127.0.0.1:4566"
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
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|error| SpecError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, SpecError> {
        let invalid = |line, message| SpecError::Invalid {
            path: path.to_owned(),
            line,
            message,
        };
        let mut spec: StackSpec = serde_yaml::from_str(text).map_err(|error| {
            let line = error.location().map(|l| l.line());
            // serde_yaml appends " at line L column C"; the line is already in front.
            let message = error.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            let (line, message) = name_the_field(text, line, message);
            invalid(line, message)
        })?;
        if let Some(problem) = spec.cross_field_problem() {
            let (field_path, message) = problem;
            return Err(invalid(
                line_of(text, &field_path),
                format!("{}: {message}", field_path.join(".")),
            ));
        }
        spec.email_templates = crate::email_templates::load(path, text, &spec)?;
        Ok(spec)
    }

    /// Rules that involve more than one field, with the path of the field to fix.
    fn cross_field_problem(&self) -> Option<(Vec<&'static str>, String)> {
        let session_seconds = self.app_client.auth_session_minutes.get() * 60;
        if self.otp.ttl_seconds.get() > session_seconds {
            return Some((
                vec!["otp", "ttl_seconds"],
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
                vec!["email", "identity"],
                format!(
                    "{identity:?} must be the sender address ({}) or its domain ({})",
                    self.email.from.as_str(),
                    self.email.from.domain()
                ),
            ));
        }
        if let Some(subject) = &self.email.subject
            && (subject.trim().is_empty() || subject.contains(['\r', '\n']))
        {
            return Some((
                vec!["email", "subject"],
                "must be one non-empty line".to_owned(),
            ));
        }
        for (key, value) in &self.tags {
            if key.is_empty() || key.len() > 128 || value.len() > 256 || key.starts_with("aws:") {
                return Some((
                    vec!["tags"],
                    format!(
                        "tag {key:?}: keys take 1 to 128 characters and may not start with \"aws:\"; values at most 256"
                    ),
                ));
            }
            if key.starts_with(RESERVED_TAG_PREFIX) {
                return Some((
                    vec!["tags"],
                    format!(
                        "tag {key:?} is reserved: keys starting with {RESERVED_TAG_PREFIX:?} are the provisioner's own; choose another key"
                    ),
                ));
            }
            if let Some(bad) = key
                .chars()
                .chain(value.chars())
                .find(|c| !tag_character(*c))
            {
                return Some((
                    vec!["tags"],
                    format!(
                        "tag {key:?}: {bad:?} is not allowed in tags; IAM, Lambda, Cognito and SES take letters, digits, spaces and _ . : / = + - @"
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

/// The characters every tagging service of the stack accepts (IAM's set is the narrowest).
fn tag_character(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// serde_yaml names the map that holds a rejected value (`otp: 12 is out of range`); the
/// key on the reported line completes the path (`otp.length: ...`). For a top-level value
/// it reports line 1 and no path, so those types name their field themselves and the line
/// is looked up.
fn name_the_field(text: &str, line: Option<usize>, message: &str) -> (Option<usize>, String) {
    let is_path = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
    };
    let key = line
        .and_then(|l| text.lines().nth(l.checked_sub(1)?))
        .and_then(|l| l.trim_start().split_once(':'))
        .map(|(key, _)| key.trim());
    match (message.split_once(": "), key) {
        (Some((path, _)), _) if TOP_LEVEL_SCALARS.contains(&path) => {
            (line_of(text, &[path]).or(line), message.to_owned())
        }
        (Some((path, rest)), Some(key)) if is_path(path) => {
            let names_a_key =
                rest.starts_with("unknown field") || rest.starts_with("missing field");
            if names_a_key || path.ends_with(key) {
                (line, message.to_owned())
            } else {
                (line, format!("{path}.{key}: {rest}"))
            }
        }
        _ => (line, message.to_owned()),
    }
}

/// Top-level fields whose types put their own name in front of their errors.
const TOP_LEVEL_SCALARS: [&str; 3] = ["name", "region", "endpoint"];

/// The 1-based line of a block-style YAML key path such as `["otp", "ttl_seconds"]`.
pub fn line_of(text: &str, key_path: &[&str]) -> Option<usize> {
    let mut depth = 0;
    let mut parent_indent: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        if parent_indent.is_some_and(|parent| indent <= parent) {
            return None;
        }
        if content
            .strip_prefix(key_path[depth])
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        {
            if depth + 1 == key_path.len() {
                return Some(index + 1);
            }
            depth += 1;
            parent_indent = Some(indent);
        }
    }
    None
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
            message.starts_with("stack.yaml:7: otp: unknown field `lenght`"),
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
            message.contains("tags: tag \"team\": ';' is not allowed"),
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
            message.contains("limits: unknown field `max_send`"),
            "{message}"
        );
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
            serde_json::from_str(include_str!("../../stacks/stack.schema.json")).unwrap();
        let (otp, client, triggers, limits) = (
            OtpSpec::default(),
            AppClientSpec::default(),
            TriggersSpec::default(),
            LimitsSpec::default(),
        );
        let minutes = |(low, high): (u64, u64)| (low / 60, high / 60);
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
        for name in ["local.yaml", "dev.yaml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../stacks")
                .join(name);
            StackSpec::load(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn line_of_follows_indentation() {
        let text = "a:\n  b: 1\nc:\n  # note\n  b: 2\n  d:\n    b: 3\n";
        assert_eq!(line_of(text, &["c", "b"]), Some(5));
        assert_eq!(line_of(text, &["c", "d", "b"]), Some(7));
        assert_eq!(line_of(text, &["a", "d"]), None);
    }
}
