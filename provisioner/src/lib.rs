//! Deploys, plans, checks drift of and tears down an email-code sign-in stack on Cognito.
//!
//! The pipeline: [`spec`] (YAML to a validated spec) → [`resources::desired_state`] (what
//! should exist) and [`observe`] (read-only AWS calls: what exists) → [`plan`] (a pure
//! diff whose steps carry typed desired values) → [`apply`] (sends exactly those).
//! [`session`] ties them into commands that return values; printing is the caller's.

pub mod apply;
pub mod artifacts;
pub mod aws;
pub mod bootstrap;
pub mod deploy_record;
pub mod deployer_policy;
pub mod doctor;
pub mod email_templates;
pub mod error;
pub mod fields;
pub mod inventory;
pub mod lock;
pub mod login;
pub mod mail_dns;
pub mod mailbox;
pub mod naming;
pub mod observe;
pub mod plan;
pub mod plan_file;
pub mod report;
pub mod resources;
pub mod session;
pub mod source;
pub mod spec;
pub mod status;
pub mod users;

pub use error::ProvisionError;
