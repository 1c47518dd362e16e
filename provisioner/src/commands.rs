//! The stack commands behind `cargo xtask`: each loads the spec, observes, and plans or
//! applies. Exit codes: 0 nothing to do, 2 changes or drift, 1 error (raised by the caller).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::apply::{Applier, Outcome, unprotect_pool};
use crate::artifacts::{Artifacts, TriggerKind};
use crate::aws::{Clients, ConnectOptions, connect, connect_with};
use crate::desired::{Context, DesiredState, desired_state};
use crate::error::ProvisionError;
use crate::model::{Observed, ResourceKind};
use crate::observe::{Observation, PoolRef, observe};
use crate::plan::{Action, Plan, Step, plan, plan_teardown, render_text};
use crate::spec::StackSpec;

pub const EXIT_CHANGES: u8 = 2;

#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// The stack spec (YAML), e.g. stacks/local.yaml.
    #[arg(long, value_name = "FILE")]
    pub stack: PathBuf,
}

/// A stack with its AWS clients and what exists of it now.
pub struct Session {
    pub spec: StackSpec,
    pub clients: Clients,
    pub observation: Observation,
}

impl Session {
    /// Validates the spec before any AWS call, then observes.
    pub async fn open(args: &StackArgs) -> Result<Self, ProvisionError> {
        Self::open_with(args, ConnectOptions::default()).await
    }

    pub async fn open_with(
        args: &StackArgs,
        options: ConnectOptions,
    ) -> Result<Self, ProvisionError> {
        let spec = StackSpec::load(&args.stack)?;
        let clients = connect_with(&spec, options).await;
        let observation = observe(&clients, &spec).await?;
        Ok(Self {
            spec,
            clients,
            observation,
        })
    }

    pub fn desired(&self, artifacts: &Artifacts) -> DesiredState {
        let code_sha256 = TriggerKind::ALL
            .into_iter()
            .map(|kind| (kind, artifacts.code_sha256(kind).to_owned()))
            .collect();
        desired_state(
            &self.spec,
            Context {
                account: &self.observation.names.account,
                code_sha256: &code_sha256,
                user_pool_arn: self.observation.user_pool.as_ref().map(|p| p.arn.as_str()),
                app_client: self
                    .observation
                    .user_pool
                    .as_ref()
                    .zip(self.observation.app_client_id.as_ref())
                    .map(|(pool, client)| (pool.id.as_str(), client.as_str())),
            },
        )
    }

    pub fn plan(&self, artifacts: &Artifacts) -> Result<Plan, ProvisionError> {
        Ok(plan(&self.desired(artifacts), &self.observation.state)?)
    }
}

/// The progress line deploy and teardown print for every resource.
pub fn print_outcome(step: &Step, outcome: Outcome) {
    println!("  {:<9} {}", outcome.verb(), step.id);
}

pub async fn deploy(args: &StackArgs, artifacts: &Artifacts) -> Result<Outputs, ProvisionError> {
    let session = Session::open(args).await?;
    let outputs = deploy_in(&session, artifacts, &print_outcome).await?;
    // An emulator verifies identities at once; AWS waits for the owner of the address or domain.
    if session.spec.endpoint.is_none() && session.observation.identity_verified != Some(true) {
        eprintln!(
            "note: SES has not verified {} yet, so it will refuse to send sign-in codes. Confirm the email AWS sent to that \
             address, or publish the domain's DKIM records. While the account is in the SES sandbox, verify each recipient \
             too, or request production access.",
            session.spec.ses_identity()
        );
    }
    Ok(outputs)
}

/// Plans against an open session and applies the plan.
pub async fn deploy_in(
    session: &Session,
    artifacts: &Artifacts,
    report: &(dyn Fn(&Step, Outcome) + Sync),
) -> Result<Outputs, ProvisionError> {
    let plan = session.plan(artifacts)?;
    let applier = Applier {
        clients: &session.clients,
        spec: &session.spec,
        names: &session.observation.names,
        artifacts: Some(artifacts),
        report,
    };
    let live = applier.apply(&plan, &session.observation).await?;
    let pool = live
        .user_pool
        .ok_or_else(|| ProvisionError::state("user pool", "deploy finished without a user pool"))?;
    Ok(Outputs::new(
        &session.spec,
        &pool,
        live.app_client_id.unwrap_or_default(),
    ))
}

pub async fn plan_command(
    args: &StackArgs,
    artifacts: &Artifacts,
) -> Result<ExitCode, ProvisionError> {
    plan_in(&Session::open(args).await?, artifacts)
}

/// Prints the plan against an open session; exit 2 when it has changes.
pub fn plan_in(session: &Session, artifacts: &Artifacts) -> Result<ExitCode, ProvisionError> {
    let plan = session.plan(artifacts)?;
    print!("{}", render_text(&plan));
    Ok(exit_for(plan.has_changes()))
}

fn exit_for(changes: bool) -> ExitCode {
    if changes {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DriftFormat {
    #[default]
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format; json follows the schema in the README, markdown suits a CI job summary.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    pub format: DriftFormat,
}

/// One difference between the spec and the live stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub resource: String,
    pub field: String,
    pub expected: String,
    pub actual: String,
    /// `changed`, `missing` (deleted out of band) or `replace` (cannot change in place).
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub stack: String,
    pub in_sync: bool,
    pub differences: Vec<Difference>,
}

pub fn drift_report(stack: &str, plan: &Plan) -> DriftReport {
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
                }));
            }
            Action::Delete | Action::NoOp | Action::UseUnowned => {}
        }
    }
    DriftReport {
        stack: stack.to_owned(),
        in_sync: differences.is_empty(),
        differences,
    }
}

pub fn render_drift(report: &DriftReport, format: DriftFormat) -> String {
    match format {
        DriftFormat::Json => {
            serde_json::to_string_pretty(report).expect("the report serializes") + "\n"
        }
        DriftFormat::Text if report.in_sync => format!("{}: in sync\n", report.stack),
        DriftFormat::Text => {
            let mut out = format!(
                "{}: {} difference(s)\n",
                report.stack,
                report.differences.len()
            );
            for d in &report.differences {
                out.push_str(&format!(
                    "  {} [{}] {}: expected {} but found {}\n",
                    d.resource, d.kind, d.field, d.expected, d.actual
                ));
            }
            out
        }
        DriftFormat::Markdown => {
            let mut out = format!("### Drift check: `{}`\n\n", report.stack);
            if report.in_sync {
                out.push_str("In sync: live resources match the spec and the trigger build.\n");
                return out;
            }
            out.push_str(
                "| Resource | Field | Expected | Actual | Kind |\n|---|---|---|---|---|\n",
            );
            let cell = |s: &str| s.replace('|', "\\|");
            for d in &report.differences {
                out.push_str(&format!(
                    "| {} | `{}` | `{}` | `{}` | {} |\n",
                    cell(&d.resource),
                    cell(&d.field),
                    cell(&d.expected),
                    cell(&d.actual),
                    d.kind
                ));
            }
            out
        }
    }
}

pub async fn drift(args: &DriftArgs, artifacts: &Artifacts) -> Result<ExitCode, ProvisionError> {
    drift_in(&Session::open(&args.stack).await?, artifacts, args.format)
}

/// Prints the drift report against an open session; exit 2 on drift.
pub fn drift_in(
    session: &Session,
    artifacts: &Artifacts,
    format: DriftFormat,
) -> Result<ExitCode, ProvisionError> {
    let report = drift_report(session.spec.name.as_str(), &session.plan(artifacts)?);
    print!("{}", render_drift(&report, format));
    Ok(exit_for(!report.in_sync))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Outputs {
    pub region: String,
    pub user_pool_id: String,
    pub user_pool_arn: String,
    pub app_client_id: String,
    pub issuer: String,
    pub jwks_uri: String,
}

impl Outputs {
    pub fn new(spec: &StackSpec, pool: &PoolRef, app_client_id: String) -> Self {
        let region = spec.region.as_str();
        // Tokens always name the AWS issuer; an emulator serves the keys itself.
        let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{}", pool.id);
        let jwks_base = spec
            .endpoint
            .as_ref()
            .map_or(issuer.clone(), |e| format!("{}/{}", e.as_str(), pool.id));
        Self {
            region: region.to_owned(),
            user_pool_id: pool.id.clone(),
            user_pool_arn: pool.arn.clone(),
            app_client_id,
            issuer,
            jwks_uri: format!("{jwks_base}/.well-known/jwks.json"),
        }
    }
}

/// The deployed stack's identifiers, or an error saying to deploy first.
pub async fn outputs(args: &StackArgs) -> Result<Outputs, ProvisionError> {
    let session = Session::open(args).await?;
    deployed_outputs(&session)
}

pub fn deployed_outputs(session: &Session) -> Result<Outputs, ProvisionError> {
    let not_deployed = || {
        ProvisionError::state(
            format!("stack {}", session.spec.name),
            format!(
                "is not deployed in {} (no user pool and app client of this stack found); run `cargo xtask deploy --stack <spec>` first",
                session.spec.region.as_str()
            ),
        )
    };
    let pool = session
        .observation
        .user_pool
        .as_ref()
        .ok_or_else(not_deployed)?;
    let client_id = session
        .observation
        .app_client_id
        .clone()
        .ok_or_else(not_deployed)?;
    Ok(Outputs::new(&session.spec, pool, client_id))
}

#[derive(Debug, Clone, clap::Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Do not ask for confirmation (for CI).
    #[arg(long)]
    pub yes: bool,
    /// Turn off the user pool's deletion protection first (our own pool only).
    #[arg(long)]
    pub force: bool,
}

pub async fn teardown(args: &TeardownArgs) -> Result<ExitCode, ProvisionError> {
    let spec = StackSpec::load(&args.stack.stack)?;
    let name = spec.name.as_str().to_owned();
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(ProvisionError::state(
                format!("stack {name}"),
                "teardown needs confirmation and there is no terminal to ask on; pass --yes to confirm",
            ));
        }
        eprint!("This deletes stack {name} and all its users. Type the stack name to confirm: ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| ProvisionError::state("confirmation", e.to_string()))?;
        if answer.trim() != name {
            return Err(ProvisionError::state(
                format!("stack {name}"),
                "confirmation did not match; nothing was deleted",
            ));
        }
    }
    let clients = connect(&spec).await;
    let deleted = teardown_with(&spec, &clients, args.force, &print_outcome).await?;
    println!("Deleted {deleted} resource(s) of stack {name}.");
    Ok(ExitCode::SUCCESS)
}

/// Teardown once confirmed: observe, refuse or unprotect the pool, delete what is ours.
pub async fn teardown_with(
    spec: &StackSpec,
    clients: &Clients,
    force: bool,
    report: &(dyn Fn(&Step, Outcome) + Sync),
) -> Result<usize, ProvisionError> {
    let observation = observe(clients, spec).await?;
    let pool_exists = matches!(
        observation
            .state
            .get(&observation.names.id(ResourceKind::UserPool)),
        Observed::Owned(_)
    );
    if let (true, Some(pool)) = (pool_exists, &observation.user_pool) {
        if spec.user_pool.deletion_protection && !force {
            return Err(ProvisionError::state(
                format!("user pool {}", observation.names.user_pool()),
                "has deletion_protection: true in the spec; pass --force to turn protection off and delete it",
            ));
        }
        if force {
            unprotect_pool(clients, &observation.names, pool, spec).await?;
        }
    }
    let mut ordered: Vec<_> = observation.state.resources.keys().cloned().collect();
    ordered.sort_by_key(|id| (id.kind.stage(), id.kind));
    let plan = plan_teardown(&ordered, &observation.state);
    Applier {
        clients,
        spec,
        names: &observation.names,
        artifacts: None,
        report,
    }
    .apply(&plan, &observation)
    .await?;
    Ok(plan.steps.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::TriggerKind;
    use crate::model::ResourceId;
    use crate::plan::FieldChange;

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
                    desired: Default::default(),
                },
                Step {
                    id: ResourceId {
                        kind: ResourceKind::Function(TriggerKind::Create),
                        name: "acme-create-auth-challenge".to_owned(),
                    },
                    action: Action::Create,
                    desired: Default::default(),
                },
            ],
        }
    }

    #[test]
    fn the_json_report_has_the_documented_fields() {
        let report = drift_report("acme", &drifted_plan());
        let json: serde_json::Value =
            serde_json::from_str(&render_drift(&report, DriftFormat::Json)).unwrap();
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
        let markdown = render_drift(&drift_report("acme", &plan), DriftFormat::Markdown);
        assert!(
            markdown.contains("| Resource | Field | Expected | Actual | Kind |"),
            "{markdown}"
        );
        assert!(markdown.contains("`a\\|b`"), "{markdown}");
        let in_sync = render_drift(
            &drift_report("acme", &Plan::default()),
            DriftFormat::Markdown,
        );
        assert!(in_sync.contains("In sync"), "{in_sync}");
    }
}
