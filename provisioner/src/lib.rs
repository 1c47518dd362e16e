//! Deploys, plans, checks drift of and tears down an email-code sign-in stack on Cognito.
//!
//! The pipeline: [`spec`] (YAML to a validated spec) → [`desired`] (what should exist) and
//! [`observe`] (read-only AWS calls: what exists) → [`plan`] (a pure diff) → [`apply`]
//! (executes the plan). `spec`, `desired`, `model` and `plan` never touch the AWS SDK.

pub mod apply;
pub mod artifacts;
pub mod aws;
pub mod desired;
pub mod error;
pub mod model;
pub mod observe;
pub mod plan;
pub mod spec;

pub use error::ProvisionError;
pub mod commands;
pub mod login;
pub mod mailbox;
pub mod users;
