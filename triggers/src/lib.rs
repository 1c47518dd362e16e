//! Sign-in logic for Cognito's CUSTOM_AUTH flow with a one-time code sent by email.
//!
//! Every function here is pure: it maps a trigger event (plus the clock, for a new code the
//! code itself, and what the limits table answered) to a response. Randomness, the clock,
//! SES and DynamoDB are supplied by the binaries in `src/bin`, so the whole decision logic
//! is tested on JSON fixtures.

pub mod challenge;
pub mod code;
pub mod config;
pub mod create;
pub mod deadline;
pub mod define;
pub mod email;
pub mod error;
pub mod limits;
pub mod sign_up;
pub mod telemetry;
pub mod template;
pub mod verify;

pub use error::TriggerError;

/// The only challenge this stack ever presents.
pub const CUSTOM_CHALLENGE: &str = "CUSTOM_CHALLENGE";

/// Seconds since the Unix epoch; a clock before 1970 reads as 0, which expires every code.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
