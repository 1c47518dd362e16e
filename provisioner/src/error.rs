//! The provisioner's error type: which resource, which operation, and what to do next.

use std::error::Error as StdError;

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

use crate::plan::PlanError;
use crate::spec::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Artifacts(#[from] crate::artifacts::ArtifactError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{operation} for {resource} failed: {message}")]
    Aws {
        resource: String,
        operation: &'static str,
        message: String,
    },
    #[error("{resource}: {message}")]
    State { resource: String, message: String },
}

impl ProvisionError {
    pub fn state(resource: impl Into<String>, message: impl Into<String>) -> Self {
        Self::State {
            resource: resource.into(),
            message: message.into(),
        }
    }
}

/// Turns an SDK error into one that says what failed and how to go on.
pub fn aws_error<E, R>(
    resource: impl Into<String>,
    operation: &'static str,
    error: SdkError<E, R>,
) -> ProvisionError
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug,
{
    ProvisionError::Aws {
        resource: resource.into(),
        operation,
        message: describe(&error),
    }
}

/// A delete whose target is already gone has done its job: teardown may run twice, or
/// after someone removed a resource by hand.
pub fn already_gone_is_done<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    is_not_found: impl FnOnce(&E) -> bool,
    resource: impl Into<String>,
    operation: &'static str,
) -> Result<(), ProvisionError>
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug,
{
    ok_if_already_done(result, is_not_found, resource, operation)
}

/// A call refused because what it was for is done already (the thing is gone, exists, or a
/// later write stands, as `already_done` tells) has done its job; any other error is the
/// call's.
pub fn ok_if_already_done<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    already_done: impl FnOnce(&E) -> bool,
    resource: impl Into<String>,
    operation: &'static str,
) -> Result<(), ProvisionError>
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug,
{
    match result {
        Err(error) if !error.as_service_error().is_some_and(already_done) => {
            Err(aws_error(resource, operation, error))
        }
        _ => Ok(()),
    }
}

fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug,
{
    let chain = error_chain(error);
    match error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("UnknownError");
            let message = inner.message().unwrap_or("");
            let hint = match code {
                "ExpiredToken" | "ExpiredTokenException" => {
                    "; your credentials expired: log in again (aws sso login)"
                }
                "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException" => {
                    "; the credentials are not valid for this account or region: check AWS_PROFILE and the spec's region"
                }
                "AccessDenied" | "AccessDeniedException" => {
                    "; the caller lacks this permission: use a role allowed to manage IAM, Lambda, Cognito and SES"
                }
                "ThrottlingException" | "Throttling" | "TooManyRequestsException" => {
                    "; AWS is throttling after the SDK's retries: wait a minute and run the command again"
                }
                "InvalidParameterValueException" if message.contains("cannot be assumed") => {
                    "; Lambda still cannot assume the role after the propagation deadline: check that its trust policy allows lambda.amazonaws.com (drift shows it) and deploy again"
                }
                _ => "",
            };
            format!("{code}: {message}{hint}")
        }
        _ if chain.contains("credentials") => {
            let profile = std::env::var("AWS_PROFILE").map_or_else(
                |_| String::new(),
                |p| {
                    format!(" AWS_PROFILE is {p:?}: check that ~/.aws/config defines that profile;")
                },
            );
            format!(
                "no usable AWS credentials ({chain});{profile} set AWS_PROFILE (then `aws sso login` if it uses SSO) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
            "could not reach the endpoint ({chain}); if the spec has an `endpoint`, start the emulator with `cargo xtask emulator start`, otherwise check the network and the spec's region"
        ),
        _ => chain,
    }
}

fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
