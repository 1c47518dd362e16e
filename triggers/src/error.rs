//! The one error type the three triggers report to Lambda. Messages carry no code, no
//! answer and no email address: Cognito may relay them, and Lambda logs them.

use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("the event is not a CUSTOM_CHALLENGE round of this stack: {0}")]
    UnexpectedEvent(&'static str),
    #[error("the session's challenge state is missing or malformed")]
    MalformedChallengeState,
    #[error("the operating system's random source failed")]
    RandomSource,
    /// Cognito relays this message to the client (`UserLambdaValidationException`), so a
    /// sign-in page can say when to try again. It names no address: a name without an
    /// account is counted and refused the same way.
    #[error(
        "{SEND_BUDGET_USED_UP}: every code this address may get for now was sent; retry_after={retry_after_seconds}"
    )]
    SendBudgetUsedUp { retry_after_seconds: u64 },
}

/// The marker of the send-budget refusal in the message Cognito relays.
pub const SEND_BUDGET_USED_UP: &str = "send_budget_used_up";

impl TriggerError {
    /// A stable name for the Lambda error type, which appears in Cognito's error and the logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnexpectedEvent(_) => "UnexpectedEvent",
            Self::MalformedChallengeState => "MalformedChallengeState",
            Self::RandomSource => "RandomSource",
            Self::SendBudgetUsedUp { .. } => "SendBudgetUsedUp",
        }
    }
}

impl From<TriggerError> for Diagnostic {
    fn from(error: TriggerError) -> Self {
        Diagnostic {
            error_type: error.kind().to_owned(),
            error_message: error.to_string(),
        }
    }
}

impl From<getrandom::Error> for TriggerError {
    fn from(_: getrandom::Error) -> Self {
        Self::RandomSource
    }
}
