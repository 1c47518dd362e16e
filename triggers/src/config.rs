//! Trigger configuration, read from environment variables once at cold start.
//!
//! The provisioner writes these variables from the stack spec; the names below are the
//! contract between the two crates.

use std::fmt;

pub const CODE_LENGTH: &str = "OTP_CODE_LENGTH";
pub const TTL_SECONDS: &str = "OTP_TTL_SECONDS";
pub const MAX_ATTEMPTS: &str = "OTP_MAX_ATTEMPTS";
pub const EMAIL_FROM: &str = "EMAIL_FROM";
/// The SES configuration set every code is sent with, when the stack has one.
pub const CONFIGURATION_SET: &str = "SES_CONFIGURATION_SET";
pub const LIMITS_TABLE: &str = "LIMITS_TABLE";
pub const MAX_SENDS: &str = "LIMITS_MAX_SENDS";
pub const WINDOW_SECONDS: &str = "LIMITS_WINDOW_SECONDS";
pub const MAX_FAILURES: &str = "LIMITS_MAX_FAILURES";
pub const LOCKOUT_SECONDS: &str = "LIMITS_LOCKOUT_SECONDS";
/// How long a self sign-up waits for its first code before its account can get none.
pub const PENDING_SECONDS: &str = "SIGN_UP_PENDING_SECONDS";
/// Set only when the stack caps its sign-in starts per hour.
pub const MAX_SENDS_PER_HOUR: &str = "LIMITS_MAX_SENDS_PER_HOUR";

pub const CODE_LENGTH_RANGE: std::ops::RangeInclusive<u8> = 6..=10;
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u8> = 1..=10;
/// OWASP ASVS 5.0 (6.5.5) caps out-of-band codes at 10 minutes.
pub const TTL_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 1..=600;
pub const MAX_SENDS_RANGE: std::ops::RangeInclusive<u32> = 1..=50;
/// NIST SP 800-63B allows at most 100 consecutive failed attempts per account.
pub const MAX_FAILURES_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
/// One minute to one day, in seconds (the spec takes minutes).
pub const WINDOW_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 60..=86_400;
pub const LOCKOUT_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 60..=86_400;
pub const MAX_SENDS_PER_HOUR_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;
/// One to thirty days, in seconds (the spec takes days).
pub const PENDING_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 86_400..=2_592_000;

/// A variable that is missing or outside its allowed values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name} {problem}; redeploy the stack so the provisioner sets it")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// Reads a variable through `lookup`, so tests need not touch the process environment.
pub trait Lookup: Fn(&str) -> Option<String> {}
impl<F: Fn(&str) -> Option<String>> Lookup for F {}

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// For a binary's cold start: a configuration error ends the process with the message,
/// which Lambda logs and reports as an init failure.
pub fn or_exit<T>(config: Result<T, ConfigError>) -> T {
    config.unwrap_or_else(|error| {
        eprintln!("configuration error: {error}");
        std::process::exit(1)
    })
}

/// The account-wide limits, and the table that counts against them. Define (the send
/// budget) and Verify (failures and lockout) read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    pub table: String,
    pub max_sends: u32,
    pub window_seconds: u64,
    pub max_failures: u32,
    pub lockout_seconds: u64,
    /// The stack-wide ceiling on sign-in starts per clock hour, across all accounts.
    pub max_sends_per_hour: Option<u32>,
}

impl LimitsConfig {
    pub fn from_lookup(lookup: impl Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            table: required(&lookup, LIMITS_TABLE)?,
            max_sends: ranged(&lookup, MAX_SENDS, MAX_SENDS_RANGE)?,
            window_seconds: ranged(&lookup, WINDOW_SECONDS, WINDOW_SECONDS_RANGE)?,
            max_failures: ranged(&lookup, MAX_FAILURES, MAX_FAILURES_RANGE)?,
            lockout_seconds: ranged(&lookup, LOCKOUT_SECONDS, LOCKOUT_SECONDS_RANGE)?,
            max_sends_per_hour: match lookup(MAX_SENDS_PER_HOUR) {
                None => None,
                Some(_) => Some(ranged(
                    &lookup,
                    MAX_SENDS_PER_HOUR,
                    MAX_SENDS_PER_HOUR_RANGE,
                )?),
            },
        })
    }
}

/// What DefineAuthChallenge needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefineConfig {
    pub max_attempts: u8,
}

/// What CreateAuthChallenge needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateConfig {
    pub code_length: u8,
    pub ttl_seconds: u64,
    pub sender: String,
    pub configuration_set: Option<String>,
}

/// What VerifyAuthChallengeResponse needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyConfig {
    pub ttl_seconds: u64,
}

impl DefineConfig {
    pub fn from_lookup(lookup: impl Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            max_attempts: ranged(&lookup, MAX_ATTEMPTS, MAX_ATTEMPTS_RANGE)?,
        })
    }
}

impl CreateConfig {
    pub fn from_lookup(lookup: impl Lookup) -> Result<Self, ConfigError> {
        let sender = required(&lookup, EMAIL_FROM)?;
        if !crate::email::looks_like_address(&sender) {
            return Err(ConfigError {
                name: EMAIL_FROM,
                problem: format!(
                    "must be an email address like no-reply@example.com, got {sender:?}"
                ),
            });
        }
        Ok(Self {
            code_length: ranged(&lookup, CODE_LENGTH, CODE_LENGTH_RANGE)?,
            ttl_seconds: ranged(&lookup, TTL_SECONDS, TTL_SECONDS_RANGE)?,
            sender,
            configuration_set: lookup(CONFIGURATION_SET).filter(|set| !set.is_empty()),
        })
    }
}

impl VerifyConfig {
    pub fn from_lookup(lookup: impl Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            ttl_seconds: ranged(&lookup, TTL_SECONDS, TTL_SECONDS_RANGE)?,
        })
    }
}

/// The limits table's name alone, for the triggers that touch only pending sign-ups.
pub fn required_table(lookup: impl Lookup) -> Result<String, ConfigError> {
    required(&lookup, LIMITS_TABLE)
}

/// What PreSignUp needs: the table it records pending sign-ups in, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignUpConfig {
    pub table: String,
    pub pending_seconds: u64,
}

impl SignUpConfig {
    pub fn from_lookup(lookup: impl Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            table: required(&lookup, LIMITS_TABLE)?,
            pending_seconds: ranged(&lookup, PENDING_SECONDS, PENDING_SECONDS_RANGE)?,
        })
    }
}

/// The limits table's name, for a trigger that needs it only with some settings.
pub fn optional_table(lookup: impl Lookup) -> Option<String> {
    lookup(LIMITS_TABLE).filter(|table| !table.is_empty())
}

fn required(lookup: &impl Lookup, name: &'static str) -> Result<String, ConfigError> {
    lookup(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError {
            name,
            problem: "is not set".to_owned(),
        })
}

fn ranged<T>(
    lookup: &impl Lookup,
    name: &'static str,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
{
    let raw = required(lookup, name)?;
    let allowed = || {
        format!(
            "must be a whole number from {} to {}",
            range.start(),
            range.end()
        )
    };
    let value: T = raw.trim().parse().map_err(|_| ConfigError {
        name,
        problem: format!("{}, got {raw:?}", allowed()),
    })?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError {
            name,
            problem: format!("{}, got {value}", allowed()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Lookup {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn create_config_reads_every_field() {
        let config = CreateConfig::from_lookup(env(&[
            (CODE_LENGTH, "8"),
            (TTL_SECONDS, "300"),
            (EMAIL_FROM, "no-reply@acme.example"),
        ]))
        .unwrap();
        assert_eq!(config.code_length, 8);
        assert_eq!(config.ttl_seconds, 300);
        assert_eq!(config.sender, "no-reply@acme.example");
    }

    #[test]
    fn out_of_range_values_name_the_variable_and_the_allowed_range() {
        let err = CreateConfig::from_lookup(env(&[
            (CODE_LENGTH, "11"),
            (TTL_SECONDS, "300"),
            (EMAIL_FROM, "a@b.example"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, CODE_LENGTH);
        assert!(err.to_string().contains("from 6 to 10, got 11"), "{err}");

        let err = DefineConfig::from_lookup(env(&[(MAX_ATTEMPTS, "three")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("OTP_MAX_ATTEMPTS must be a whole number from 1 to 10, got \"three\""),
            "{err}"
        );
    }

    #[test]
    fn missing_and_malformed_sender_are_rejected() {
        let err =
            CreateConfig::from_lookup(env(&[(CODE_LENGTH, "6"), (TTL_SECONDS, "60")])).unwrap_err();
        assert_eq!(err.name, EMAIL_FROM);
        let err = CreateConfig::from_lookup(env(&[
            (CODE_LENGTH, "6"),
            (TTL_SECONDS, "60"),
            (EMAIL_FROM, "not-an-address"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, EMAIL_FROM);
    }

    #[test]
    fn limits_config_reads_every_field_and_names_a_missing_table() {
        let config = LimitsConfig::from_lookup(env(&[
            (LIMITS_TABLE, "acme-limits"),
            (MAX_SENDS, "5"),
            (WINDOW_SECONDS, "3600"),
            (MAX_FAILURES, "10"),
            (LOCKOUT_SECONDS, "900"),
        ]))
        .unwrap();
        assert_eq!(config.table, "acme-limits");
        assert_eq!((config.max_sends, config.max_failures), (5, 10));
        assert_eq!(config.max_sends_per_hour, None);
        let capped = LimitsConfig::from_lookup(env(&[
            (LIMITS_TABLE, "acme-limits"),
            (MAX_SENDS, "5"),
            (WINDOW_SECONDS, "3600"),
            (MAX_FAILURES, "10"),
            (LOCKOUT_SECONDS, "900"),
            (MAX_SENDS_PER_HOUR, "500"),
        ]))
        .unwrap();
        assert_eq!(capped.max_sends_per_hour, Some(500));
        let err = LimitsConfig::from_lookup(env(&[
            (LIMITS_TABLE, "acme-limits"),
            (MAX_SENDS, "5"),
            (WINDOW_SECONDS, "3600"),
            (MAX_FAILURES, "10"),
            (LOCKOUT_SECONDS, "900"),
            (MAX_SENDS_PER_HOUR, "0"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, MAX_SENDS_PER_HOUR);
        let err = LimitsConfig::from_lookup(env(&[(MAX_SENDS, "5")])).unwrap_err();
        assert_eq!(err.name, LIMITS_TABLE);
        let err = LimitsConfig::from_lookup(env(&[
            (LIMITS_TABLE, "t"),
            (MAX_SENDS, "5"),
            (WINDOW_SECONDS, "3600"),
            (MAX_FAILURES, "101"),
            (LOCKOUT_SECONDS, "900"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, MAX_FAILURES);
    }

    #[test]
    fn verify_config_rejects_a_zero_ttl() {
        let err = VerifyConfig::from_lookup(env(&[(TTL_SECONDS, "0")])).unwrap_err();
        assert_eq!(err.name, TTL_SECONDS);
    }
}
