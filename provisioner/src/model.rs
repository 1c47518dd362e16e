//! The vocabulary shared by desired state, observed state and plans. Every managed
//! setting is a named field with a canonical text value, so one comparison serves all
//! resources and a diff prints as `field: old → new`.

use std::collections::BTreeMap;
use std::fmt;

use crate::artifacts::TriggerKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    Role,
    EmailIdentity,
    Function(TriggerKind),
    UserPool,
    Permission(TriggerKind),
    AppClient,
    /// A tag on the Define function naming the pool and app client ids, so observation can
    /// describe the client in the same round as the pool instead of listing clients first.
    ClientLocator,
}

impl ResourceKind {
    /// Resources of one stage depend only on earlier stages, so a stage runs concurrently.
    pub fn stage(self) -> u8 {
        match self {
            Self::Role | Self::EmailIdentity => 0,
            Self::Function(_) => 1,
            Self::UserPool => 2,
            Self::Permission(_) | Self::AppClient => 3,
            Self::ClientLocator => 4,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Role => "iam role",
            Self::EmailIdentity => "ses identity",
            Self::Function(_) => "lambda function",
            Self::UserPool => "user pool",
            Self::Permission(_) => "invoke permission",
            Self::AppClient => "app client",
            Self::ClientLocator => "app client locator on",
        }
    }
}

/// A resource as the user sees it: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    pub kind: ResourceKind,
    pub name: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.label(), self.name)
    }
}

pub type Fields = BTreeMap<&'static str, String>;

/// A value that exists only once an earlier step of the same apply has run.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// What deploy wants one resource to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredResource {
    pub id: ResourceId,
    pub fields: Fields,
    /// Fields AWS cannot change in place: a difference there means delete and re-create.
    pub replace_on: &'static [&'static str],
    /// Whether a same-named resource without our ownership tag may be used as it is (never
    /// changed and never deleted). Only the SES identity: a verified domain is often shared.
    pub may_use_unowned: bool,
}

/// What observation found under a resource's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Absent,
    /// It exists and carries this stack's ownership tag.
    Owned(Fields),
    /// It exists without this stack's ownership tag: not ours to change.
    Unowned,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedState {
    pub resources: BTreeMap<ResourceId, Observed>,
}

impl ObservedState {
    pub fn get(&self, id: &ResourceId) -> &Observed {
        self.resources.get(id).unwrap_or(&Observed::Absent)
    }
}
