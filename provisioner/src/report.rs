//! Plans and drift as values, and their renderings: Terraform-style text for plans; text,
//! JSON and markdown for drift. Pure.

use serde::Serialize;

use crate::plan::{Action, Plan};
use crate::resources::{ResourceId, ResourceKind};

/// Terraform-style text: `+` create, `~` update, `-/+` replace, `-` delete, then the notes.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let line = |change: &crate::fields::FieldChange| {
        format!(
            "    {}: {} → {}\n",
            change.field,
            change.old.as_deref().unwrap_or("(none)"),
            change.new.as_deref().unwrap_or("(none)")
        )
    };
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
            out.push_str(&line(change));
        }
    }
    out.push_str(&plan.summary().to_string());
    out.push('\n');
    for (id, watched) in plan.watched() {
        out.push_str(&format!(
            "! {id} (left alone by deploy: {})\n{}",
            watched.advice,
            line(&watched.change)
        ));
    }
    for note in &plan.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftFormat {
    #[default]
    Text,
    Json,
    Markdown,
}

/// One difference between the spec and the live stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub resource: String,
    pub field: String,
    pub expected: String,
    pub actual: String,
    /// `changed`, `missing` (deleted out of band), `replace` (cannot change in place),
    /// `unwanted` (the spec no longer wants it; deploy deletes it) or `foreign` (a setting
    /// deploy leaves alone; `advice` says what to do).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<&'static str>,
}

/// What a changed field means where the field's name alone does not say it.
fn advice(id: &ResourceId, field: &str) -> Option<&'static str> {
    if !matches!(id.kind, ResourceKind::Function(_)) {
        return None;
    }
    use crate::resources::function::{CODE_FIELD, RECORDED_CODE_FIELD, SOURCE_FIELD};
    match field {
        CODE_FIELD => Some(
            "the function runs another package than the one expected (changed out of band, or another build); find out who changed it, then deploy to put the expected package back",
        ),
        SOURCE_FIELD => Some(
            "the checkout's trigger sources or email templates differ from what this function was deployed from: code not yet deployed; deploy to ship it",
        ),
        RECORDED_CODE_FIELD => Some(
            "deploy has not recorded which package it uploaded (deployed before the record existed); deploy once to record it",
        ),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub stack: String,
    pub in_sync: bool,
    pub differences: Vec<Difference>,
}

impl DriftReport {
    pub fn new(stack: &str, plan: &Plan) -> Self {
        let mut differences = Vec::new();
        for step in &plan.steps {
            let resource = step.id.to_string();
            match &step.action {
                Action::Create => differences.push(Difference {
                    resource,
                    field: "(resource)".to_owned(),
                    expected: "present".to_owned(),
                    actual: "missing".to_owned(),
                    kind: "missing",
                    advice: None,
                }),
                Action::Update(changes) | Action::Replace(changes) => {
                    let kind = if matches!(step.action, Action::Replace(_)) {
                        "replace"
                    } else {
                        "changed"
                    };
                    differences.extend(changes.iter().map(|c| Difference {
                        resource: resource.clone(),
                        field: c.field.to_owned(),
                        expected: c.new.clone().unwrap_or_default(),
                        actual: c.old.clone().unwrap_or_else(|| "(none)".to_owned()),
                        kind,
                        advice: advice(&step.id, c.field),
                    }));
                }
                Action::Delete => differences.push(Difference {
                    resource,
                    field: "(resource)".to_owned(),
                    expected: "absent".to_owned(),
                    actual: "present".to_owned(),
                    kind: "unwanted",
                    advice: None,
                }),
                Action::NoOp | Action::UseUnowned => {}
            }
            differences.extend(step.watched.iter().map(|w| Difference {
                resource: step.id.to_string(),
                field: w.change.field.to_owned(),
                expected: w.change.new.clone().unwrap_or_default(),
                actual: w.change.old.clone().unwrap_or_else(|| "(none)".to_owned()),
                kind: "foreign",
                advice: Some(w.advice),
            }));
        }
        Self {
            stack: stack.to_owned(),
            in_sync: differences.is_empty(),
            differences,
        }
    }

    /// Whether a difference names this resource (as displayed) and field.
    pub fn has(&self, resource: &str, field: &str) -> bool {
        self.differences
            .iter()
            .any(|d| d.resource == resource && d.field == field)
    }

    pub fn render(&self, format: DriftFormat) -> String {
        match format {
            DriftFormat::Json => {
                serde_json::to_string_pretty(self).expect("the report serializes") + "\n"
            }
            DriftFormat::Text if self.in_sync => format!("{}: in sync\n", self.stack),
            DriftFormat::Text => {
                let mut out = format!("{}: {} difference(s)\n", self.stack, self.differences.len());
                for d in &self.differences {
                    out.push_str(&format!(
                        "  {} [{}] {}: expected {} but found {}\n",
                        d.resource, d.kind, d.field, d.expected, d.actual
                    ));
                    match (d.kind, d.advice) {
                        ("foreign", Some(advice)) => {
                            out.push_str(&format!("    deploy leaves this alone: {advice}\n"));
                        }
                        (_, Some(advice)) => out.push_str(&format!("    {advice}\n")),
                        (_, None) => {}
                    }
                }
                out
            }
            DriftFormat::Markdown => {
                let mut out = format!("### Drift check: `{}`\n\n", self.stack);
                if self.in_sync {
                    out.push_str("In sync: live resources match the spec and the trigger build.\n");
                    return out;
                }
                out.push_str(
                    "| Resource | Field | Expected | Actual | Kind |\n|---|---|---|---|---|\n",
                );
                let cell = |s: &str| s.replace('|', "\\|");
                for d in &self.differences {
                    out.push_str(&format!(
                        "| {} | `{}` | `{}` | `{}` | {} |\n",
                        cell(&d.resource),
                        cell(&d.field),
                        cell(&d.expected),
                        cell(&d.actual),
                        d.advice.map_or(d.kind.to_owned(), |advice| format!(
                            "{}: {}",
                            d.kind,
                            cell(advice)
                        ))
                    ));
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FieldChange;
    use crate::naming::TriggerKind;
    use crate::plan::Step;
    use crate::resources::{ResourceId, ResourceKind};

    fn drifted_plan() -> Plan {
        Plan {
            steps: vec![
                Step {
                    id: ResourceId {
                        kind: ResourceKind::AppClient,
                        name: "acme-app".to_owned(),
                    },
                    action: Action::Update(vec![FieldChange {
                        field: "explicit_auth_flows",
                        old: Some("ALLOW_CUSTOM_AUTH, ALLOW_USER_PASSWORD_AUTH".to_owned()),
                        new: Some("ALLOW_CUSTOM_AUTH".to_owned()),
                    }]),
                    desired: None,
                    watched: Vec::new(),
                },
                Step {
                    id: ResourceId {
                        kind: ResourceKind::Function(TriggerKind::Create),
                        name: "acme-create-auth-challenge".to_owned(),
                    },
                    action: Action::Create,
                    desired: None,
                    watched: Vec::new(),
                },
            ],
            notes: vec!["the SES account has production access".to_owned()],
        }
    }

    #[test]
    fn the_json_report_has_the_documented_fields() {
        let report = DriftReport::new("acme", &drifted_plan());
        let json: serde_json::Value =
            serde_json::from_str(&report.render(DriftFormat::Json)).unwrap();
        assert_eq!(json["stack"], "acme");
        assert_eq!(json["in_sync"], false);
        assert_eq!(
            json["differences"][0],
            serde_json::json!({
                "resource": "app client acme-app",
                "field": "explicit_auth_flows",
                "expected": "ALLOW_CUSTOM_AUTH",
                "actual": "ALLOW_CUSTOM_AUTH, ALLOW_USER_PASSWORD_AUTH",
                "kind": "changed"
            })
        );
        assert_eq!(json["differences"][1]["kind"], "missing");
        assert_eq!(json["differences"][1]["field"], "(resource)");
    }

    #[test]
    fn the_markdown_report_is_a_table_with_escaped_cells() {
        let mut plan = drifted_plan();
        if let Action::Update(changes) = &mut plan.steps[0].action {
            changes[0].old = Some("a|b".to_owned());
        }
        let markdown = DriftReport::new("acme", &plan).render(DriftFormat::Markdown);
        assert!(
            markdown.contains("| Resource | Field | Expected | Actual | Kind |"),
            "{markdown}"
        );
        assert!(markdown.contains("`a\\|b`"), "{markdown}");
        let in_sync = DriftReport::new("acme", &Plan::default()).render(DriftFormat::Markdown);
        assert!(in_sync.contains("In sync"), "{in_sync}");
    }

    #[test]
    fn plan_text_marks_each_action_terraform_style_and_ends_with_the_notes() {
        let text = plan_text(&drifted_plan());
        assert!(
            text.contains(
                "~ app client acme-app\n    explicit_auth_flows: ALLOW_CUSTOM_AUTH, ALLOW_USER_PASSWORD_AUTH → ALLOW_CUSTOM_AUTH\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("+ lambda function acme-create-auth-challenge\n"),
            "{text}"
        );
        assert!(text.contains("Plan: 1 to create, 1 to update"), "{text}");
        assert!(
            text.ends_with("note: the SES account has production access\n"),
            "{text}"
        );
    }
}
