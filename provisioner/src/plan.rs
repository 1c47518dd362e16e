//! `plan(desired, observed)`: a pure, synchronous diff into explicit steps, in dependency
//! order. Each step carries the kind's typed desired value, which apply sends as it is;
//! drift is a plan that is not all no-ops.

use std::fmt;

use crate::fields::{FieldChange, Fields, KNOWN_AFTER_APPLY};
use crate::resources::{Desired, DesiredState, Observed, ObservedState, ResourceId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Update(Vec<FieldChange>),
    /// A field AWS cannot change in place differs: delete, then create.
    Replace(Vec<FieldChange>),
    Delete,
    NoOp,
    /// Exists without our ownership tag, and the stack may use it as it is.
    UseUnowned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: ResourceId,
    pub action: Action,
    /// What the resource should end up as; `None` for deletions.
    pub desired: Option<Desired>,
    /// Differences in watched fields: reported, never changed by deploy.
    pub watched: Vec<WatchedChange>,
}

/// A watched field that differs, with what a person should do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedChange {
    pub change: FieldChange,
    pub advice: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Choices made from the account rather than the spec, for the reader of the plan.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{0} exists but does not carry this stack's ownership tag, so it is not ours to change; \
         rename the stack (spec `name`) or remove that resource yourself"
    )]
    NotOwned(ResourceId),
    #[error(
        "{id} must be replaced ({fields} cannot change in place), which would delete it and, for a user pool, \
         all its users; nothing was changed. Run `cargo xtask teardown` and deploy again if that is what you want, \
         or undo the change"
    )]
    MustReplace { id: ResourceId, fields: String },
}

pub fn plan(desired: &DesiredState, observed: &ObservedState) -> Result<Plan, PlanError> {
    let mut steps = Vec::with_capacity(desired.resources.len());
    for resource in &desired.resources {
        let id = resource.id();
        let mut watched = Vec::new();
        let action = match observed.get(&id) {
            Observed::Absent => Action::Create,
            Observed::Unowned if resource.may_use_unowned() => Action::UseUnowned,
            Observed::Unowned => return Err(PlanError::NotOwned(id)),
            Observed::Owned(live) => {
                let (changes, noticed): (Vec<FieldChange>, Vec<FieldChange>) =
                    diff(live, &resource.fields())
                        .into_iter()
                        .partition(|c| !resource.watched().iter().any(|w| w.field == c.field));
                watched = noticed
                    .into_iter()
                    .map(|change| WatchedChange {
                        advice: resource
                            .watched()
                            .iter()
                            .find(|w| w.field == change.field)
                            .map_or("", |w| w.advice),
                        change,
                    })
                    .collect();
                let replace_on = resource.replace_on();
                if changes.is_empty() {
                    Action::NoOp
                } else if changes.iter().any(|c| replace_on.contains(&c.field)) {
                    Action::Replace(changes)
                } else {
                    Action::Update(changes)
                }
            }
        };
        steps.push(Step {
            id,
            action,
            desired: Some(resource.clone()),
            watched,
        });
    }
    for id in &desired.retired {
        if matches!(observed.get(id), Observed::Owned(_)) {
            steps.push(Step {
                id: id.clone(),
                action: Action::Delete,
                desired: None,
                watched: Vec::new(),
            });
        }
    }
    Ok(Plan {
        steps,
        notes: desired.notes.clone(),
    })
}

/// Deletes every resource of ours that exists, dependants first. Unowned ones are skipped.
/// The app client goes with its pool rather than before it: should DeleteUserPool fail, the
/// stack can still sign users in, and a second teardown finishes the job.
pub fn plan_teardown(ids_in_dependency_order: &[ResourceId], observed: &ObservedState) -> Plan {
    let owned = |id: &ResourceId| matches!(observed.get(id), Observed::Owned(_));
    let pool_goes = ids_in_dependency_order
        .iter()
        .any(|id| id.kind == crate::resources::ResourceKind::UserPool && owned(id));
    let steps = ids_in_dependency_order
        .iter()
        .rev()
        .filter(|id| owned(id))
        .filter(|id| !(pool_goes && id.kind == crate::resources::ResourceKind::AppClient))
        .map(|id| Step {
            id: id.clone(),
            action: Action::Delete,
            desired: None,
            watched: Vec::new(),
        })
        .collect();
    Plan {
        steps,
        notes: Vec::new(),
    }
}

fn diff(live: &Fields, desired: &Fields) -> Vec<FieldChange> {
    desired
        .iter()
        .filter(|(field, value)| {
            live.get(*field) != Some(value) || value.as_str() == KNOWN_AFTER_APPLY
        })
        .map(|(field, value)| FieldChange {
            field,
            old: live.get(field).cloned(),
            new: Some(value.clone()),
        })
        .collect()
}

impl Plan {
    /// Whether anything differs: a change deploy would make, or a watched setting it leaves.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| {
            !matches!(s.action, Action::NoOp | Action::UseUnowned) || !s.watched.is_empty()
        })
    }

    /// Whether deploy would write anything (watched differences it leaves alone do not count).
    pub fn has_writes(&self) -> bool {
        self.steps
            .iter()
            .any(|s| !matches!(s.action, Action::NoOp | Action::UseUnowned))
    }

    /// The watched differences, for the people who must act on them.
    pub fn watched(&self) -> impl Iterator<Item = (&ResourceId, &WatchedChange)> {
        self.steps
            .iter()
            .flat_map(|s| s.watched.iter().map(move |w| (&s.id, w)))
    }

    /// The first change no deploy can carry out. Deploy checks this before its first write,
    /// so a refused plan leaves nothing half-applied.
    pub fn refusal(&self) -> Option<PlanError> {
        self.steps.iter().find_map(|step| match &step.action {
            Action::Replace(changes) => Some(PlanError::MustReplace {
                id: step.id.clone(),
                fields: changes
                    .iter()
                    .map(|c| c.field)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            _ => None,
        })
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for step in &self.steps {
            match step.action {
                Action::Create => summary.create += 1,
                Action::Update(_) => summary.update += 1,
                Action::Replace(_) => summary.replace += 1,
                Action::Delete => summary.delete += 1,
                Action::NoOp | Action::UseUnowned => summary.unchanged += 1,
            }
        }
        summary
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub unchanged: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Plan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
            self.create, self.update, self.replace, self.delete, self.unchanged
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{Names, Partition};
    use crate::resources::{ResourceKind, app_client, identity, role, tests::fixture_context};

    fn names() -> Names {
        Names::new("acme", "us-east-1", "123456789012", Partition::default())
    }

    fn client() -> Desired {
        Desired::AppClient(app_client::Desired {
            name: "acme-app".into(),
            auth_session_minutes: 3,
            access_token_minutes: 60,
            id_token_minutes: 60,
            refresh_token_days: 30,
        })
    }

    fn desired(resources: Vec<Desired>) -> DesiredState {
        DesiredState {
            names: names(),
            resources,
            retired: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn observed(entries: Vec<(&Desired, Observed)>) -> ObservedState {
        ObservedState {
            resources: entries.into_iter().map(|(r, o)| (r.id(), o)).collect(),
        }
    }

    fn live_with(resource: &Desired, field: &'static str, value: &str) -> Observed {
        let mut fields = resource.fields();
        fields.insert(field, value.to_owned());
        Observed::Owned(fields)
    }

    #[test]
    fn each_resource_gets_the_action_its_live_state_calls_for() {
        let (names, _, tags, ses) = fixture_context();
        let role = Desired::Role(role::Desired::new(
            &names,
            "no-reply@acme.example",
            &ses,
            false,
            &tags,
        ));
        let identity = Desired::EmailIdentity(identity::Desired {
            identity: "acme.example".into(),
            arn: names.identity_arn("acme.example"),
            tags,
        });
        let (client, secret_client) = (client(), client());
        let state = observed(vec![
            (
                &client,
                live_with(&client, "explicit_auth_flows", "ALLOW_USER_PASSWORD_AUTH"),
            ),
            (&identity, Observed::Unowned),
        ]);
        let plan = plan(&desired(vec![role, client.clone(), identity]), &state).unwrap();
        let actions: Vec<&Action> = plan.steps.iter().map(|s| &s.action).collect();
        assert_eq!(actions[0], &Action::Create);
        assert!(
            matches!(actions[1], Action::Update(c) if c.len() == 1 && c[0].field == "explicit_auth_flows")
        );
        assert_eq!(actions[2], &Action::UseUnowned);
        assert_eq!(plan.steps[1].desired.as_ref(), Some(&client));
        assert!(plan.refusal().is_none());

        let state = observed(vec![(
            &secret_client,
            live_with(&secret_client, "generate_secret", "true"),
        )]);
        let replace = super::plan(&desired(vec![secret_client]), &state).unwrap();
        assert!(matches!(&replace.steps[0].action, Action::Replace(_)));
        assert!(matches!(
            replace.refusal(),
            Some(PlanError::MustReplace { fields, .. }) if fields == "generate_secret"
        ));
        assert_eq!(
            replace.summary(),
            Summary {
                replace: 1,
                ..Summary::default()
            }
        );
    }

    #[test]
    fn matching_live_state_plans_nothing_and_an_unowned_resource_stops_the_plan() {
        let client = client();
        let state = observed(vec![(&client, Observed::Owned(client.fields()))]);
        let plan = plan(&desired(vec![client.clone()]), &state).unwrap();
        assert!(!plan.has_changes());
        let state = observed(vec![(&client, Observed::Unowned)]);
        assert!(matches!(
            super::plan(&desired(vec![client]), &state),
            Err(PlanError::NotOwned(_))
        ));
    }

    #[test]
    fn a_value_known_only_after_apply_is_always_a_change() {
        let locator = Desired::ClientLocator(crate::resources::client_locator::Desired {
            function: "acme-define-auth-challenge".into(),
            function_arn: "arn".into(),
            value: None,
        });
        let state = observed(vec![(&locator, Observed::Owned(locator.fields()))]);
        assert!(plan(&desired(vec![locator]), &state).unwrap().has_changes());
    }

    #[test]
    fn teardown_deletes_what_is_ours_dependants_first() {
        let ids = [
            ResourceKind::Role,
            ResourceKind::UserPool,
            ResourceKind::AppClient,
        ]
        .map(|kind| ResourceId {
            kind,
            name: format!("{kind:?}"),
        });
        let state = ObservedState {
            resources: [
                (ids[0].clone(), Observed::Owned(Fields::new())),
                (ids[1].clone(), Observed::Unowned),
                (ids[2].clone(), Observed::Owned(Fields::new())),
            ]
            .into(),
        };
        let plan = plan_teardown(&ids, &state);
        let deleted: Vec<_> = plan.steps.iter().map(|s| s.id.kind).collect();
        assert_eq!(deleted, vec![ResourceKind::AppClient, ResourceKind::Role]);
        // With our pool going, its client goes with it: no separate delete before the pool's.
        let mut state = state;
        state
            .resources
            .insert(ids[1].clone(), Observed::Owned(Fields::new()));
        let deleted: Vec<_> = plan_teardown(&ids, &state)
            .steps
            .iter()
            .map(|s| s.id.kind)
            .collect();
        assert_eq!(deleted, vec![ResourceKind::UserPool, ResourceKind::Role]);
    }
}
