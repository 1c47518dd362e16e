//! `plan(desired, observed)`: a pure, synchronous diff into explicit steps, in dependency
//! order. Apply executes exactly these steps; drift is a plan that is not all no-ops.

use std::fmt;

use crate::desired::DesiredState;
use crate::model::{Fields, KNOWN_AFTER_APPLY, Observed, ObservedState, ResourceId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    /// `None` when the resource does not exist.
    pub old: Option<String>,
    /// `None` when the resource is to be deleted.
    pub new: Option<String>,
}

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
    /// The fields the resource should end up with; empty for deletions.
    pub desired: Fields,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{0} exists but does not carry this stack's ownership tag, so it is not ours to change; \
         rename the stack (spec `name`) or remove that resource yourself"
    )]
    NotOwned(ResourceId),
}

pub fn plan(desired: &DesiredState, observed: &ObservedState) -> Result<Plan, PlanError> {
    let mut steps = Vec::with_capacity(desired.resources.len());
    for resource in &desired.resources {
        let action = match observed.get(&resource.id) {
            Observed::Absent => Action::Create,
            Observed::Unowned if resource.may_use_unowned => Action::UseUnowned,
            Observed::Unowned => return Err(PlanError::NotOwned(resource.id.clone())),
            Observed::Owned(live) => {
                let changes = diff(live, &resource.fields);
                if changes.is_empty() {
                    Action::NoOp
                } else if changes
                    .iter()
                    .any(|c| resource.replace_on.contains(&c.field))
                {
                    Action::Replace(changes)
                } else {
                    Action::Update(changes)
                }
            }
        };
        steps.push(Step {
            id: resource.id.clone(),
            action,
            desired: resource.fields.clone(),
        });
    }
    Ok(Plan { steps })
}

/// Deletes every resource of ours that exists, dependants first. Unowned ones are skipped.
pub fn plan_teardown(ids_in_dependency_order: &[ResourceId], observed: &ObservedState) -> Plan {
    let steps = ids_in_dependency_order
        .iter()
        .rev()
        .filter(|id| matches!(observed.get(id), Observed::Owned(_)))
        .map(|id| Step {
            id: id.clone(),
            action: Action::Delete,
            desired: Fields::new(),
        })
        .collect();
    Plan { steps }
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
    pub fn has_changes(&self) -> bool {
        self.steps
            .iter()
            .any(|s| !matches!(s.action, Action::NoOp | Action::UseUnowned))
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

/// Terraform-style text: `+` create, `~` update, `-/+` replace, `-` delete.
pub fn render_text(plan: &Plan) -> String {
    let mut out = String::new();
    for step in &plan.steps {
        let (symbol, changes) = match &step.action {
            Action::Create => ("+", None),
            Action::Update(changes) => ("~", Some(changes)),
            Action::Replace(changes) => ("-/+", Some(changes)),
            Action::Delete => ("-", None),
            Action::NoOp | Action::UseUnowned => continue,
        };
        out.push_str(&format!("{symbol} {}\n", step.id));
        for change in changes.into_iter().flatten() {
            out.push_str(&format!(
                "    {}: {} → {}\n",
                change.field,
                change.old.as_deref().unwrap_or("(none)"),
                change.new.as_deref().unwrap_or("(none)")
            ));
        }
    }
    out.push_str(&plan.summary().to_string());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Names;
    use crate::model::{DesiredResource, ResourceKind};

    fn resource(
        kind: ResourceKind,
        fields: &[(&'static str, &str)],
        may_use_unowned: bool,
    ) -> DesiredResource {
        DesiredResource {
            id: ResourceId {
                kind,
                name: format!("{kind:?}"),
            },
            fields: fields.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            replace_on: &["username_attributes"],
            may_use_unowned,
        }
    }

    fn desired(resources: Vec<DesiredResource>) -> DesiredState {
        DesiredState {
            names: Names {
                stack: "acme".into(),
                region: "us-east-1".into(),
                account: "123456789012".into(),
                partition: "aws",
            },
            resources,
        }
    }

    fn observed(entries: Vec<(&DesiredResource, Observed)>) -> ObservedState {
        ObservedState {
            resources: entries
                .into_iter()
                .map(|(r, o)| (r.id.clone(), o))
                .collect(),
        }
    }

    fn live(fields: &[(&'static str, &str)]) -> Observed {
        Observed::Owned(fields.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    #[test]
    fn each_resource_gets_the_action_its_live_state_calls_for() {
        let role = resource(ResourceKind::Role, &[("trust", "lambda")], false);
        let pool = resource(
            ResourceKind::UserPool,
            &[("username_attributes", "email"), ("tags", "a=1")],
            false,
        );
        let client = resource(ResourceKind::AppClient, &[("flows", "CUSTOM")], false);
        let identity = resource(ResourceKind::EmailIdentity, &[("tags", "a=1")], true);
        let state = observed(vec![
            (
                &pool,
                live(&[("username_attributes", "phone_number"), ("tags", "a=1")]),
            ),
            (&client, live(&[("flows", "CUSTOM, PASSWORD")])),
            (&identity, Observed::Unowned),
        ]);
        let plan = plan(&desired(vec![role, pool, client, identity]), &state).unwrap();
        let actions: Vec<&Action> = plan.steps.iter().map(|s| &s.action).collect();
        assert_eq!(actions[0], &Action::Create);
        assert!(
            matches!(actions[1], Action::Replace(changes) if changes.len() == 1 && changes[0].field == "username_attributes")
        );
        assert_eq!(
            actions[2],
            &Action::Update(vec![FieldChange {
                field: "flows",
                old: Some("CUSTOM, PASSWORD".into()),
                new: Some("CUSTOM".into()),
            }])
        );
        assert_eq!(actions[3], &Action::UseUnowned);
        assert_eq!(
            plan.summary(),
            Summary {
                create: 1,
                update: 1,
                replace: 1,
                delete: 0,
                unchanged: 1
            }
        );
    }

    #[test]
    fn matching_live_state_plans_nothing() {
        let role = resource(ResourceKind::Role, &[("trust", "lambda")], false);
        let state = observed(vec![(
            &role,
            live(&[("trust", "lambda"), ("unmanaged", "x")]),
        )]);
        let plan = plan(&desired(vec![role]), &state).unwrap();
        assert!(!plan.has_changes());
        assert!(render_text(&plan).starts_with("Plan: 0 to create, 0 to update"));
    }

    #[test]
    fn an_unowned_resource_stops_the_plan() {
        let role = resource(ResourceKind::Role, &[("trust", "lambda")], false);
        let state = observed(vec![(&role, Observed::Unowned)]);
        assert!(matches!(
            plan(&desired(vec![role]), &state),
            Err(PlanError::NotOwned(_))
        ));
    }

    #[test]
    fn a_value_known_only_after_apply_is_always_a_change() {
        let permission = resource(ResourceKind::Role, &[("source", KNOWN_AFTER_APPLY)], false);
        let state = observed(vec![(&permission, live(&[("source", KNOWN_AFTER_APPLY)]))]);
        assert!(
            plan(&desired(vec![permission]), &state)
                .unwrap()
                .has_changes()
        );
    }

    #[test]
    fn text_output_marks_each_action_terraform_style() {
        let role = resource(ResourceKind::Role, &[("trust", "lambda")], false);
        let client = resource(ResourceKind::AppClient, &[("flows", "CUSTOM")], false);
        let state = observed(vec![(&client, live(&[("flows", "PASSWORD")]))]);
        let text = render_text(&plan(&desired(vec![role.clone(), client]), &state).unwrap());
        assert!(text.contains("+ iam role Role\n"), "{text}");
        assert!(
            text.contains("~ app client AppClient\n    flows: PASSWORD → CUSTOM\n"),
            "{text}"
        );
        let teardown = plan_teardown(
            std::slice::from_ref(&role.id),
            &observed(vec![(&role, live(&[]))]),
        );
        assert!(render_text(&teardown).starts_with("- iam role Role\n"));
    }
}
