//! A plan as data: what `plan --format json` prints and `plan --out FILE` writes, and what
//! `deploy --plan FILE` applies. Besides the steps a reviewer reads, it records what the plan
//! was made against (each function's package, a digest of each live resource, a digest of
//! what the spec wanted of each), so a deploy can refuse a plan that is no longer the plan
//! it would make. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fields::Fields;
use crate::plan::{Action, Plan};
use crate::resources::{Observed, ObservedState};

/// The schema's name and version; a reader refuses any other. A change that removes or
/// redefines a field takes the next version.
pub const FORMAT: &str = "emailcode-plan/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    /// Always [`FORMAT`].
    pub format: String,
    pub stack: String,
    pub region: String,
    pub account: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Who made it: the CI run, else `user@host`.
    pub created_by: String,
    /// The commit the trigger packages were built from, when known.
    pub commit: Option<String>,
    /// Whether deploy would write anything.
    pub has_changes: bool,
    pub summary: Counts,
    /// Every resource deploy would write, in the order it would, with each field's change.
    pub changes: Vec<ResourceChange>,
    /// Settings deploy leaves alone that differ, with what to do about them.
    pub left_alone: Vec<LeftAlone>,
    pub notes: Vec<String>,
    /// What the plan was made against; `deploy --plan` compares it with what it finds.
    pub basis: Basis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// `kind name`, as in the text plan (`user pool acme-dev`).
    pub resource: String,
    /// `create`, `update`, `replace` or `delete`.
    pub action: String,
    /// For updates and replacements, each changed field.
    pub fields: Vec<FieldDifference>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDifference {
    pub field: String,
    /// `None` when the resource does not exist.
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftAlone {
    pub resource: String,
    pub field: String,
    pub live: Option<String>,
    pub advice: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basis {
    /// Each function's package (CodeSha256), Create's with the stack's email templates.
    pub packages: BTreeMap<String, String>,
    /// A digest of each resource as observed (`absent` and `not ours` included).
    pub live: BTreeMap<String, String>,
    /// A digest of what the spec wanted of each resource.
    pub wanted: BTreeMap<String, String>,
}

/// Where the plan was made, and by whom.
pub struct Origin<'a> {
    pub stack: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub created_by: String,
    pub commit: Option<String>,
}

impl PlanFile {
    pub fn new(
        origin: Origin<'_>,
        plan: &Plan,
        observed: &ObservedState,
        packages: BTreeMap<String, String>,
    ) -> Self {
        let summary = plan.summary();
        let changes = plan
            .steps
            .iter()
            .filter_map(|step| {
                let (action, fields) = match &step.action {
                    Action::Create => ("create", Vec::new()),
                    Action::Update(changes) => ("update", changes.clone()),
                    Action::Replace(changes) => ("replace", changes.clone()),
                    Action::Delete => ("delete", Vec::new()),
                    Action::NoOp | Action::UseUnowned => return None,
                };
                Some(ResourceChange {
                    resource: step.id.to_string(),
                    action: action.to_owned(),
                    fields: fields
                        .into_iter()
                        .map(|c| FieldDifference {
                            field: c.field.to_owned(),
                            before: c.old,
                            after: c.new,
                        })
                        .collect(),
                })
            })
            .collect();
        let left_alone = plan
            .watched()
            .map(|(id, watched)| LeftAlone {
                resource: id.to_string(),
                field: watched.change.field.to_owned(),
                live: watched.change.old.clone(),
                advice: watched.advice.to_owned(),
            })
            .collect();
        let live = observed
            .resources
            .iter()
            .map(|(id, observed)| (id.to_string(), digest_of_observed(observed)))
            .collect();
        let wanted = plan
            .steps
            .iter()
            .map(|step| {
                let fields = step.desired.as_ref().map(|d| d.fields());
                (step.id.to_string(), digest_of_wanted(fields.as_ref()))
            })
            .collect();
        Self {
            format: FORMAT.to_owned(),
            stack: origin.stack.to_owned(),
            region: origin.region.to_owned(),
            account: origin.account.to_owned(),
            created_at: triggers::unix_now(),
            created_by: origin.created_by,
            commit: origin.commit,
            has_changes: plan.has_writes(),
            summary: Counts {
                create: summary.create,
                update: summary.update,
                replace: summary.replace,
                delete: summary.delete,
                unchanged: summary.unchanged,
            },
            changes,
            left_alone,
            notes: plan.notes.clone(),
            basis: Basis {
                packages,
                live,
                wanted,
            },
        }
    }

    /// Reads a plan file, refusing another format.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("is not a plan file ({e})"))?;
        let format = value["format"].as_str().unwrap_or("(none)");
        if format != FORMAT {
            return Err(format!(
                "has format {format:?}, but this version reads {FORMAT:?}; make the plan again with this version"
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("is not a valid {FORMAT} file ({e})"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan file serializes")
    }

    /// Why `self` (saved) is not the plan `now` would apply, or `None` when it is: the same
    /// stack, packages, live resources and wanted settings.
    pub fn staleness(&self, now: &PlanFile) -> Option<String> {
        let place = |p: &PlanFile| (p.stack.clone(), p.region.clone(), p.account.clone());
        if place(self) != place(now) {
            return Some(format!(
                "it was made for stack {} in {} of account {}, not stack {} in {} of account {}",
                self.stack, self.region, self.account, now.stack, now.region, now.account
            ));
        }
        let differing = |saved: &BTreeMap<String, String>, current: &BTreeMap<String, String>| {
            let keys: std::collections::BTreeSet<&String> =
                saved.keys().chain(current.keys()).collect();
            keys.into_iter()
                .filter(|k| saved.get(*k) != current.get(*k))
                .cloned()
                .collect::<Vec<_>>()
        };
        let packages = differing(&self.basis.packages, &now.basis.packages);
        if !packages.is_empty() {
            return Some(format!(
                "the trigger packages differ from the ones it was made with ({}): deploy the build the plan was made from, or make a new plan",
                packages.join(", ")
            ));
        }
        let live = differing(&self.basis.live, &now.basis.live);
        if !live.is_empty() {
            return Some(format!(
                "the live stack changed since it was made ({}): make a new plan and review it",
                live.join(", ")
            ));
        }
        let wanted = differing(&self.basis.wanted, &now.basis.wanted);
        if !wanted.is_empty() {
            return Some(format!(
                "the spec now wants other settings than when it was made ({}): make a new plan from this spec, or check out the spec the plan was made from",
                wanted.join(", ")
            ));
        }
        None
    }
}

fn hex_digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn digest_of_fields(fields: &Fields) -> String {
    hex_digest(&serde_json::to_string(fields).expect("fields serialize"))
}

fn digest_of_observed(observed: &Observed) -> String {
    match observed {
        Observed::Absent => "absent".to_owned(),
        Observed::Unowned => "not ours".to_owned(),
        Observed::Owned(fields) => digest_of_fields(fields),
    }
}

fn digest_of_wanted(fields: Option<&Fields>) -> String {
    fields.map_or_else(|| "deleted".to_owned(), digest_of_fields)
}

/// A value cut to fit a table cell.
fn cell(value: Option<&str>) -> String {
    const LONGEST: usize = 200;
    let Some(value) = value else {
        return "(none)".to_owned();
    };
    let mut shown: String = value.chars().take(LONGEST).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!(
        "`{}`",
        shown
            .replace('`', "'")
            .replace('|', "\\|")
            .replace('\n', " ")
    )
}

/// The plan as a pull-request comment: a summary line, a table of every change, what deploy
/// leaves alone, the notes, and how to apply exactly this plan.
pub fn markdown(plan: &PlanFile, spec_path: &str) -> String {
    let counts = &plan.summary;
    let mut out = format!(
        "### Plan for stack `{}` ({}, account {})\n\n",
        plan.stack, plan.region, plan.account
    );
    if plan.has_changes {
        out.push_str(&format!(
            "**{} to create, {} to update, {} to replace, {} to delete**, {} unchanged.\n\n",
            counts.create, counts.update, counts.replace, counts.delete, counts.unchanged
        ));
        out.push_str("| | Resource | Field | Now | After deploy |\n|---|---|---|---|---|\n");
        for change in &plan.changes {
            let symbol = match change.action.as_str() {
                "create" => "➕",
                "update" => "✏️",
                "replace" => "♻️",
                _ => "🗑️",
            };
            if change.fields.is_empty() {
                out.push_str(&format!(
                    "| {symbol} | {} | | | {} |\n",
                    change.resource, change.action
                ));
            }
            for field in &change.fields {
                out.push_str(&format!(
                    "| {symbol} | {} | `{}` | {} | {} |\n",
                    change.resource,
                    field.field,
                    cell(field.before.as_deref()),
                    cell(field.after.as_deref())
                ));
            }
        }
        out.push('\n');
    } else {
        out.push_str(&format!(
            "**No changes.** The live stack matches the spec ({} resources).\n\n",
            counts.unchanged
        ));
    }
    if !plan.left_alone.is_empty() {
        out.push_str("**Left alone by deploy**\n\n");
        for left in &plan.left_alone {
            out.push_str(&format!(
                "- {} `{}` is {}: {}\n",
                left.resource,
                left.field,
                cell(left.live.as_deref()),
                left.advice
            ));
        }
        out.push('\n');
    }
    for note in &plan.notes {
        out.push_str(&format!("> {note}\n"));
    }
    out.push_str(&format!(
        "\n<sub>Made by {} from commit {}. `cargo xtask deploy --stack {spec_path} --plan <this plan's JSON>` applies exactly this plan, and refuses it once the spec, the build or the live stack has changed.</sub>\n",
        plan.created_by,
        plan.commit.as_deref().unwrap_or("unknown"),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> PlanFile {
        PlanFile {
            format: FORMAT.to_owned(),
            stack: "acme-dev".to_owned(),
            region: "us-east-1".to_owned(),
            account: "123456789012".to_owned(),
            created_at: 1_800_000_000,
            created_by: "acme/identity run 7 by @ines".to_owned(),
            commit: Some("abc123".to_owned()),
            has_changes: true,
            summary: Counts {
                create: 0,
                update: 1,
                replace: 0,
                delete: 0,
                unchanged: 9,
            },
            changes: vec![ResourceChange {
                resource: "function acme-dev-define-auth-challenge".to_owned(),
                action: "update".to_owned(),
                fields: vec![FieldDifference {
                    field: "memory_mb".to_owned(),
                    before: Some("128".to_owned()),
                    after: Some("256".to_owned()),
                }],
            }],
            left_alone: Vec::new(),
            notes: Vec::new(),
            basis: Basis {
                packages: BTreeMap::from([("define-auth-challenge".to_owned(), "A=".to_owned())]),
                live: BTreeMap::from([("user pool acme-dev".to_owned(), "1f".to_owned())]),
                wanted: BTreeMap::from([("user pool acme-dev".to_owned(), "2e".to_owned())]),
            },
        }
    }

    #[test]
    fn the_same_basis_is_current_and_each_difference_is_named() {
        let saved = file();
        assert_eq!(saved.staleness(&file()), None);

        let mut now = file();
        now.created_at += 600;
        now.created_by = "someone@else".to_owned();
        assert_eq!(
            saved.staleness(&now),
            None,
            "who and when do not make a plan stale"
        );

        let mut now = file();
        now.basis
            .packages
            .insert("define-auth-challenge".to_owned(), "B=".to_owned());
        let reason = saved.staleness(&now).unwrap();
        assert!(
            reason.contains("trigger packages differ") && reason.contains("define-auth-challenge"),
            "{reason}"
        );

        let mut now = file();
        now.basis
            .live
            .insert("user pool acme-dev".to_owned(), "ff".to_owned());
        let reason = saved.staleness(&now).unwrap();
        assert!(
            reason.contains("live stack changed") && reason.contains("user pool acme-dev"),
            "{reason}"
        );

        let mut now = file();
        now.basis
            .live
            .insert("role acme-dev-triggers".to_owned(), "absent".to_owned());
        assert!(
            saved
                .staleness(&now)
                .unwrap()
                .contains("role acme-dev-triggers")
        );

        let mut now = file();
        now.basis
            .wanted
            .insert("user pool acme-dev".to_owned(), "ee".to_owned());
        let reason = saved.staleness(&now).unwrap();
        assert!(reason.contains("spec now wants other settings"), "{reason}");

        let mut now = file();
        now.stack = "acme-staging".to_owned();
        assert!(
            saved
                .staleness(&now)
                .unwrap()
                .contains("made for stack acme-dev")
        );
    }

    #[test]
    fn a_plan_file_round_trips_and_another_format_is_refused() {
        let saved = file();
        assert_eq!(PlanFile::parse(&saved.to_json()).unwrap(), saved);
        let older = saved.to_json().replace(FORMAT, "emailcode-plan/0");
        let problem = PlanFile::parse(&older).unwrap_err();
        assert!(
            problem.contains("\"emailcode-plan/0\"") && problem.contains(FORMAT),
            "{problem}"
        );
        assert!(PlanFile::parse("{}").unwrap_err().contains("(none)"));
        assert!(
            PlanFile::parse("not json")
                .unwrap_err()
                .contains("is not a plan file")
        );
    }

    #[test]
    fn markdown_puts_every_change_in_a_table_with_cells_that_cannot_break_it() {
        let mut saved = file();
        saved.changes[0].fields[0].after = Some("a|b`c\nd".to_owned());
        let text = markdown(&saved, "stacks/dev.yaml");
        assert!(text.contains("### Plan for stack `acme-dev`"), "{text}");
        assert!(
            text.contains("**0 to create, 1 to update, 0 to replace, 0 to delete**"),
            "{text}"
        );
        assert!(
            text.contains("| ✏️ | function acme-dev-define-auth-challenge | `memory_mb` | `128` | `a\\|b'c d` |"),
            "{text}"
        );
        assert!(text.contains("--stack stacks/dev.yaml --plan"), "{text}");
        saved.has_changes = false;
        assert!(markdown(&saved, "s.yaml").contains("**No changes.**"));
    }
}
