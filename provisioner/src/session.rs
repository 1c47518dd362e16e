//! Opening a stack (spec, clients, observation) and the commands built on it: deploy,
//! plan, drift, outputs, teardown. Values in, values out: printing and prompting are the
//! caller's.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::apply::{Report, apply};
use crate::artifacts::Artifacts;
use crate::aws::{Clients, ConnectOptions, Target, connect_to, connect_with};
use crate::error::ProvisionError;
use crate::inventory::StackFound;
use crate::naming::TriggerKind;
use crate::observe::{Observation, observe};
use crate::plan::{Plan, plan, plan_teardown};
use crate::plan_file::{Origin, PlanFile};
use crate::resources::{
    ApplyCx, Context, DesiredState, ExpectedCode, Handover, Observed, PoolRef, ResourceKind,
    SesScope, desired_state, function, user_pool_desired,
};
use crate::spec::StackSpec;

/// A stack with its AWS clients and what exists of it now.
pub struct Session {
    pub spec: StackSpec,
    pub clients: Clients,
    pub observation: Observation,
}

impl Session {
    /// Validates the spec before any AWS call, then observes.
    pub async fn open(spec_path: &Path) -> Result<Self, ProvisionError> {
        Self::open_with(spec_path, ConnectOptions::from_environment()).await
    }

    pub async fn open_with(
        spec_path: &Path,
        options: ConnectOptions,
    ) -> Result<Self, ProvisionError> {
        let spec = StackSpec::load(spec_path)?;
        let clients = connect_with(&spec, options).await;
        let observation = observe(&clients, &spec).await?;
        Ok(Self {
            spec,
            clients,
            observation,
        })
    }

    /// A stack found by its ownership tag, for commands that have no spec (`teardown
    /// --name`): its resources are observed exactly as with a spec, since every name derives
    /// from the stack's. Only the live pool's deletion protection counts, and the sender is
    /// the one its Create trigger sends from (or the identity it owns).
    pub async fn open_found(found: &StackFound, target: &Target) -> Result<Self, ProvisionError> {
        Self::open_found_with(found, target, ConnectOptions::from_environment()).await
    }

    pub async fn open_found_with(
        found: &StackFound,
        target: &Target,
        options: ConnectOptions,
    ) -> Result<Self, ProvisionError> {
        let clients = connect_to(target, options).await;
        let region = target
            .region
            .clone()
            .or_else(|| crate::aws::region_of(&clients))
            .ok_or_else(|| {
                ProvisionError::state(
                    format!("stack {}", found.name),
                    "no region given: pass --region or set AWS_REGION",
                )
            })?;
        let spec = StackSpec::for_found(found, &region, target.endpoint.as_deref())
            .map_err(|problem| ProvisionError::state(format!("stack {}", found.name), problem))?;
        let observation = observe(&clients, &spec).await?;
        Ok(Self {
            spec,
            clients,
            observation,
        })
    }

    pub fn ses_scope(&self) -> SesScope {
        SesScope {
            identity: self.spec.ses_identity().to_owned(),
            sandbox: self.observation.ses.sandbox,
            unread: self.observation.ses.unread.clone(),
            configuration_set: self
                .observation
                .identity
                .as_ref()
                .and_then(|i| i.configuration_set.clone()),
        }
    }

    /// The packages this stack deploys: the build's, with its email templates in Create's.
    fn packages(&self, artifacts: &Artifacts) -> Result<Artifacts, ProvisionError> {
        Ok(artifacts.for_stack(&self.spec.email_templates)?)
    }

    /// What the spec wants, given each function's package.
    fn desired(&self, code: &BTreeMap<TriggerKind, ExpectedCode>) -> DesiredState {
        let observation = &self.observation;
        desired_state(
            &self.spec,
            Context {
                names: &observation.names,
                code,
                user_pool_arn: observation.user_pool.as_ref().map(|p| p.arn.as_str()),
                app_client: observation
                    .user_pool
                    .as_ref()
                    .zip(observation.app_client_id.as_ref())
                    .map(|(pool, client)| (pool.id.as_str(), client.as_str())),
                ses: &self.ses_scope(),
            },
        )
    }

    /// The plan for the build in `artifacts`.
    pub fn plan(&self, artifacts: &Artifacts) -> Result<Plan, ProvisionError> {
        self.plan_packages(&self.packages(artifacts)?)
    }

    fn plan_packages(&self, packages: &Artifacts) -> Result<Plan, ProvisionError> {
        let code = TriggerKind::ALL
            .into_iter()
            .map(|kind| {
                let expected = ExpectedCode {
                    code_sha256: packages.code_sha256(kind).to_owned(),
                    source: packages.source(kind).to_owned(),
                };
                (kind, expected)
            })
            .collect();
        Ok(plan(&self.desired(&code), &self.observation.state)?)
    }

    /// The plan against what the last deploy recorded on each function, for a checkout whose
    /// trigger build would have `build_fingerprint`; nothing is built. A live package other
    /// than the recorded one shows as a `code_sha256` change (changed out of band), a checkout
    /// whose sources differ from the recorded ones as a `source` change (not yet deployed).
    /// A function deployed before the record existed is taken as it is, and its record shows
    /// as missing until the next deploy writes it.
    pub fn plan_without_build(&self, build_fingerprint: &str) -> Result<Plan, ProvisionError> {
        let templates = self.spec.email_templates.to_json();
        let code = TriggerKind::ALL
            .into_iter()
            .map(|kind| {
                let id = crate::resources::ResourceId {
                    kind: ResourceKind::Function(kind),
                    name: self.observation.names.function(kind),
                };
                let live = match self.observation.state.get(&id) {
                    Observed::Owned(fields) => fields.clone(),
                    Observed::Absent | Observed::Unowned => Default::default(),
                };
                let field = |name: &str| live.get(name).cloned().unwrap_or_default();
                let recorded = field(function::RECORDED_CODE_FIELD);
                let expected = ExpectedCode {
                    code_sha256: if recorded.is_empty() {
                        field(function::CODE_FIELD)
                    } else {
                        recorded
                    },
                    source: crate::source::function_source(build_fingerprint, kind, &templates),
                };
                (kind, expected)
            })
            .collect();
        Ok(plan(&self.desired(&code), &self.observation.state)?)
    }

    fn handover(&self) -> Handover {
        Handover {
            user_pool: self.observation.user_pool.clone(),
            app_client_id: self.observation.app_client_id.clone(),
        }
    }

    /// The plan for the build in `artifacts` as data: what a reviewer reads, and what
    /// `deploy --plan` checks before applying it.
    pub fn plan_with_file(
        &self,
        artifacts: &Artifacts,
    ) -> Result<(Plan, PlanFile), ProvisionError> {
        let packages = self.packages(artifacts)?;
        let plan = self.plan_packages(&packages)?;
        let file = self.file_of(&plan, &packages);
        Ok((plan, file))
    }

    fn file_of(&self, plan: &Plan, packages: &Artifacts) -> PlanFile {
        let names = &self.observation.names;
        PlanFile::new(
            Origin {
                stack: &names.stack,
                region: &names.region,
                account: &names.account,
                created_by: crate::lock::Holder::current("plan").who,
                commit: packages.manifest.commit.clone(),
            },
            plan,
            &self.observation.state,
            TriggerKind::ALL
                .into_iter()
                .map(|kind| (kind.to_string(), packages.code_sha256(kind).to_owned()))
                .collect(),
        )
    }

    /// Refuses a saved plan that is not the plan this session would apply.
    fn check_saved(
        &self,
        saved: &PlanFile,
        plan: &Plan,
        packages: &Artifacts,
    ) -> Result<(), ProvisionError> {
        match saved.staleness(&self.file_of(plan, packages)) {
            None => Ok(()),
            Some(reason) => Err(ProvisionError::state(
                format!("the saved plan for stack {}", self.spec.name),
                format!("cannot be applied, nothing was changed: {reason}"),
            )),
        }
    }

    /// Plans against this session and applies the plan. A plan with writes takes the stack
    /// lock first and plans again from a fresh observation, since another run may have changed
    /// the stack meanwhile; a plan without writes changes nothing and needs no lock.
    pub async fn deploy(
        &self,
        artifacts: &Artifacts,
        report: Report<'_>,
    ) -> Result<Deployed, ProvisionError> {
        self.deploy_checked(artifacts, None, report).await
    }

    /// Applies exactly the saved plan: refused, before and again under the lock, when the
    /// packages, the live stack or what the spec wants differ from what it was made against.
    pub async fn deploy_saved(
        &self,
        artifacts: &Artifacts,
        saved: &PlanFile,
        report: Report<'_>,
    ) -> Result<Deployed, ProvisionError> {
        self.deploy_checked(artifacts, Some(saved), report).await
    }

    async fn deploy_checked(
        &self,
        artifacts: &Artifacts,
        saved: Option<&PlanFile>,
        report: Report<'_>,
    ) -> Result<Deployed, ProvisionError> {
        let mut phases = Phases::default();
        let packages = phases.time("package", || self.packages(artifacts))?;
        let plan = phases.time("plan", || self.plan_packages(&packages))?;
        if let Some(saved) = saved {
            self.check_saved(saved, &plan, &packages)?;
        }
        if !plan.has_writes() {
            return self.deployed(&plan, self.handover(), phases);
        }
        if let Some(refusal) = plan.refusal() {
            return Err(refusal.into());
        }
        if changes_role_permissions(&plan) {
            self.require_boundary().await?;
        }
        let started = Instant::now();
        let lease = self.lock("deploy").await?;
        phases.add("lock", started);
        let outcome = async {
            let started = Instant::now();
            let locked = if lease.created_table {
                self.with_new_table()
            } else {
                self.observed_again().await?
            };
            let plan = locked.plan_packages(&packages)?;
            // A table the lock step just made is the only change since the check above.
            if let Some(saved) = saved
                && !lease.created_table
            {
                locked.check_saved(saved, &plan, &packages)?;
            }
            phases.add("observe and plan again under the lock", started);
            let cx = ApplyCx {
                clients: &locked.clients,
                names: &locked.observation.names,
                artifacts: Some(&packages),
            };
            let started = Instant::now();
            let live = apply(&cx, &plan, locked.handover(), report).await?;
            phases.add("apply", started);
            Ok::<_, ProvisionError>((plan, live, locked))
        }
        .await;
        let taken_over = lease.taken_over.clone();
        let started = Instant::now();
        let record = crate::deploy_record::DeployRecord::now(
            &crate::lock::Holder::current("deploy"),
            packages.manifest.commit.clone(),
        );
        let table = self.observation.names.limits_table();
        let (released, recorded) = tokio::join!(release(lease, &self.spec.name), async {
            match &outcome {
                Ok(_) => crate::deploy_record::write(&self.clients, &table, &record).await,
                Err(_) => Ok(()),
            }
        });
        phases.add("record the deploy and release the lock", started);
        // The run's own error matters more than the lock's; an unreleased lock expires.
        let (plan, live, locked) = outcome?;
        released?;
        recorded?;
        let mut deployed = locked.deployed(&plan, live, phases)?;
        deployed
            .notes
            .extend(taken_over.map(|h| took_over(&self.spec.name, &h)));
        Ok(deployed)
    }

    fn deployed(
        &self,
        plan: &Plan,
        live: Handover,
        phases: Phases,
    ) -> Result<Deployed, ProvisionError> {
        let pool = live.user_pool.ok_or_else(|| {
            ProvisionError::state("user pool", "deploy finished without a user pool")
        })?;
        let outputs = Outputs::new(self, &pool, live.app_client_id.unwrap_or_default());
        let mut notes = self.deploy_notes();
        if changes_role_permissions(plan) {
            notes.push(ROLE_PROPAGATION.to_owned());
        }
        notes.extend(plan.watched().map(|(id, watched)| {
            format!(
                "left alone: {id} {}: {} ({})",
                watched.change.field,
                watched.change.old.as_deref().unwrap_or("(none)"),
                watched.advice
            )
        }));
        Ok(Deployed {
            outputs,
            notes,
            phases: phases.0,
        })
    }

    /// A deploy that writes needs the trigger role's permissions boundary, which only an
    /// administrator may create: without it the role could not be created or changed.
    async fn require_boundary(&self) -> Result<(), ProvisionError> {
        let names = &self.observation.names;
        if !crate::bootstrap::exists(&self.clients, names).await? {
            return Err(ProvisionError::state(
                format!("permissions boundary {}", names.boundary_policy_arn()),
                format!(
                    "does not exist in account {}: the trigger role is created only within it, and the deployer may not create it; \
                     have an administrator run `cargo xtask bootstrap --stack <spec>` once, then deploy again",
                    names.account
                ),
            ));
        }
        Ok(())
    }

    /// The stack lock, creating the limits table it lives in when this is the first deploy.
    async fn lock(&self, command: &str) -> Result<crate::lock::Lease<'_>, ProvisionError> {
        let names = &self.observation.names;
        let cx = ApplyCx {
            clients: &self.clients,
            names,
            artifacts: None,
        };
        let table = crate::resources::table_desired(&self.spec, names);
        let table_id = crate::resources::ResourceId {
            kind: ResourceKind::Table,
            name: names.limits_table(),
        };
        let table_seen = !matches!(self.observation.state.get(&table_id), Observed::Absent);
        crate::lock::acquire(
            &self.clients,
            names,
            &crate::lock::Holder::current(command),
            table_seen,
            || async { crate::resources::table::ensure(&cx, &table).await },
        )
        .await
    }

    /// This session's observation with the limits table the lock step just created: nothing
    /// else can have changed, since nobody could hold the lock before that table existed.
    fn with_new_table(&self) -> Session {
        let names = &self.observation.names;
        let table = crate::resources::table_desired(&self.spec, names);
        let mut observation = self.observation.clone();
        observation.state.resources.insert(
            crate::resources::ResourceId {
                kind: ResourceKind::Table,
                name: table.name.clone(),
            },
            Observed::Owned(crate::resources::table::fields_just_created(&table)),
        );
        Session {
            spec: self.spec.clone(),
            clients: self.clients.clone(),
            observation,
        }
    }

    /// The same stack, observed again: what it is now that this run holds the lock.
    async fn observed_again(&self) -> Result<Session, ProvisionError> {
        Ok(Session {
            spec: self.spec.clone(),
            clients: self.clients.clone(),
            observation: observe(&self.clients, &self.spec).await?,
        })
    }

    /// What a deploy to AWS leaves for a person to do.
    fn deploy_notes(&self) -> Vec<String> {
        // An emulator verifies identities at once; AWS waits for the owner of the address or domain.
        if self.spec.endpoint.is_some()
            || self
                .observation
                .identity
                .as_ref()
                .is_some_and(|i| i.verified)
        {
            return Vec::new();
        }
        let identity = self.spec.ses_identity();
        let mut notes = vec![format!(
            "SES has not verified {identity} yet, so it will refuse to send sign-in codes. {}",
            if identity.contains('@') {
                "Confirm the email AWS sent to that address.".to_owned()
            } else {
                let records: Vec<String> = self
                    .observation
                    .identity
                    .iter()
                    .flat_map(|i| &i.dkim_tokens)
                    .map(|token| {
                        format!("{token}._domainkey.{identity} CNAME {token}.dkim.amazonses.com")
                    })
                    .collect();
                if records.is_empty() {
                    "Publish the domain's DKIM records (run deploy again to see them).".to_owned()
                } else {
                    format!("Publish these DKIM records: {}.", records.join("; "))
                }
            }
        )];
        if self.observation.ses.sandbox {
            notes.push(
                "The account is in the SES sandbox: verify each recipient too, or request production access."
                    .to_owned(),
            );
        }
        notes
    }

    /// The deployed stack's identifiers, or an error saying to deploy first.
    pub fn outputs(&self) -> Result<Outputs, ProvisionError> {
        let not_deployed = || {
            ProvisionError::state(
                format!("stack {}", self.spec.name),
                format!(
                    "is not deployed in {} (no user pool and app client of this stack found); run `cargo xtask deploy --stack <spec>` first",
                    self.spec.region.as_str()
                ),
            )
        };
        let pool = self
            .observation
            .user_pool
            .as_ref()
            .ok_or_else(not_deployed)?;
        let client_id = self
            .observation
            .app_client_id
            .clone()
            .ok_or_else(not_deployed)?;
        Ok(Outputs::new(self, pool, client_id))
    }

    /// Deletes what is ours, dependants first, once the caller has confirmed. A pool under
    /// deletion protection (in the spec or live) is refused unless `force`, which turns
    /// protection off first. The sender identity is kept, without this stack's tag, unless
    /// asked for: other stacks may send from it, and verifying it again needs the owner of
    /// the address or the domain. Asked for, it is still kept while another stack sends from it.
    pub async fn teardown(
        &self,
        options: TeardownOptions,
        report: Report<'_>,
    ) -> Result<TornDown, ProvisionError> {
        let anything = self
            .observation
            .state
            .resources
            .values()
            .any(|o| matches!(o, Observed::Owned(_)));
        if !anything {
            return Ok(TornDown {
                deleted: 0,
                notes: Vec::new(),
            });
        }
        if options.delete_identity {
            self.refuse_shared_identity().await?;
        }
        let lease = self.lock("teardown").await?;
        let outcome = async {
            self.observed_again()
                .await?
                .teardown_locked(options, report)
                .await
        }
        .await;
        let taken_over = lease.taken_over.clone();
        let released = release(lease, &self.spec.name).await;
        // The run's own error matters more than the lock's; an unreleased lock expires.
        let mut done = outcome?;
        released?;
        done.notes
            .extend(taken_over.map(|h| took_over(&self.spec.name, &h)));
        Ok(done)
    }

    /// Refuses to delete a sender identity another stack of the account still sends from.
    async fn refuse_shared_identity(&self) -> Result<(), ProvisionError> {
        let identity = self.spec.ses_identity();
        let own = self.observation.names.function(TriggerKind::Create);
        let others = crate::inventory::discover(&self.clients)
            .await?
            .senders_from(identity, &own);
        if others.is_empty() {
            return Ok(());
        }
        Err(ProvisionError::state(
            format!("ses identity {identity}"),
            format!(
                "is still the sender of {}, which would stop sending sign-in codes; nothing was deleted. Tear those stacks down first, or run teardown without --delete-identity to keep it",
                others.join(", ")
            ),
        ))
    }

    /// Teardown under the lock. The limits table goes last, as the lock lives in it.
    async fn teardown_locked(
        &self,
        options: TeardownOptions,
        report: Report<'_>,
    ) -> Result<TornDown, ProvisionError> {
        let observation = &self.observation;
        let pool_id = crate::resources::ResourceId {
            kind: ResourceKind::UserPool,
            name: observation.names.user_pool(),
        };
        let cx = ApplyCx {
            clients: &self.clients,
            names: &observation.names,
            artifacts: None,
        };
        if let (Observed::Owned(live), Some(pool)) =
            (observation.state.get(&pool_id), &observation.user_pool)
        {
            let live_protected =
                live.get("deletion_protection").map(String::as_str) == Some("ACTIVE");
            if (live_protected || self.spec.user_pool.deletion_protection) && !options.force {
                return Err(ProvisionError::state(
                    pool_id.to_string(),
                    "has deletion protection on (in the spec or on the live pool); pass --force to turn it off and delete the pool",
                ));
            }
            if options.force && live_protected {
                self.unprotect_pool(&cx, pool).await?;
            }
        }
        let identity = self.spec.ses_identity();
        let keep_identity = !options.delete_identity;
        let mut ordered: Vec<_> = observation
            .state
            .resources
            .keys()
            .filter(|id| !(keep_identity && id.kind == ResourceKind::EmailIdentity))
            .filter(|id| id.kind != ResourceKind::Table)
            .cloned()
            .collect();
        ordered.sort_by_key(|id| (id.kind.stage(), id.kind));
        let plan = plan_teardown(&ordered, &observation.state);
        apply(&cx, &plan, self.handover(), report).await?;
        let table = crate::resources::ResourceId {
            kind: ResourceKind::Table,
            name: observation.names.limits_table(),
        };
        let table_goes = plan_teardown(std::slice::from_ref(&table), &observation.state);
        apply(&cx, &table_goes, self.handover(), report).await?;
        let identity_id = crate::resources::ResourceId {
            kind: ResourceKind::EmailIdentity,
            name: identity.to_owned(),
        };
        let notes = if keep_identity
            && matches!(observation.state.get(&identity_id), Observed::Owned(_))
        {
            crate::resources::identity::hand_over(&cx, identity).await?;
            vec![format!(
                "kept the SES identity {identity} and removed this stack's tag from it: other stacks may send from it, and verifying it again takes {}; pass --delete-identity to delete it",
                if identity.contains('@') {
                    "a click in an email"
                } else {
                    "DNS records"
                }
            )]
        } else {
            Vec::new()
        };
        Ok(TornDown {
            deleted: plan.steps.len() + table_goes.steps.len(),
            notes,
        })
    }

    /// The pool as it is, with protection off: the same full-config update deploy uses.
    async fn unprotect_pool(&self, cx: &ApplyCx<'_>, pool: &PoolRef) -> Result<(), ProvisionError> {
        let mut desired = user_pool_desired(&self.spec, cx.names);
        desired.deletion_protection = false;
        let handover = Handover {
            user_pool: Some(pool.clone()),
            app_client_id: None,
        };
        crate::resources::user_pool::update(cx, &desired, &handover).await
    }
}

/// Gives the lock back; a lock taken from this run while it held it is an error, since
/// another run may have written the stack at the same time.
async fn release(
    lease: crate::lock::Lease<'_>,
    stack: &crate::spec::StackName,
) -> Result<(), ProvisionError> {
    let lost = lease.lost();
    lease.release().await?;
    if lost {
        return Err(ProvisionError::state(
            format!("stack {stack}"),
            "lost its lock while this run held it (broken with force-unlock, or renewals failed for a whole lease), so another run may have changed it at the same time; run `cargo xtask plan --stack <spec>` to see where it stands, and deploy again",
        ));
    }
    Ok(())
}

fn took_over(stack: &crate::spec::StackName, holder: &crate::lock::Holder) -> String {
    format!(
        "took over the lock of stack {stack} from {}: that process is gone from this host",
        holder.describe()
    )
}

/// What a deploy that created the trigger role or changed its permissions leaves to time.
pub const ROLE_PROPAGATION: &str = "the trigger role's permissions were created or changed: on AWS, IAM takes some seconds \
     to reach Lambda, DynamoDB, SES and Cognito, and until then sign-ins fail (closed, no code sent); try a sign-in after about 10 s";

/// Whether the plan creates the trigger role or changes what it may do: the writes that need
/// its permissions boundary, and after which IAM takes a while to catch up.
fn changes_role_permissions(plan: &Plan) -> bool {
    plan.steps.iter().any(|step| {
        step.id.kind == ResourceKind::Role
            && match &step.action {
                crate::plan::Action::Create | crate::plan::Action::Replace(_) => true,
                crate::plan::Action::Update(changes) => changes.iter().any(|c| {
                    [
                        "inline_policies",
                        "managed_policies",
                        "permissions_boundary",
                        "trust_policy",
                    ]
                    .contains(&c.field)
                }),
                crate::plan::Action::Delete
                | crate::plan::Action::NoOp
                | crate::plan::Action::UseUnowned => false,
            }
    })
}

/// How far teardown may go.
#[derive(Debug, Clone, Copy, Default)]
pub struct TeardownOptions {
    /// Turn the pool's deletion protection off first.
    pub force: bool,
    /// Also delete the SES identity this stack created, unless another stack sends from it.
    pub delete_identity: bool,
}

/// Teardown with protection turned off, the sender identity kept: what scripts and tests use.
pub const FORCE: TeardownOptions = TeardownOptions {
    force: true,
    delete_identity: false,
};

/// What teardown did, and what it left on purpose.
#[derive(Debug, Clone)]
pub struct TornDown {
    pub deleted: usize,
    pub notes: Vec<String>,
}

/// What deploy returns: the stack's identifiers and what a person still has to do.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub outputs: Outputs,
    pub notes: Vec<String>,
    /// How long each part of the deploy took, in order, for `cargo xtask bench`.
    pub phases: Vec<(&'static str, Duration)>,
}

/// Where a deploy's time went.
#[derive(Debug, Default)]
struct Phases(Vec<(&'static str, Duration)>);

impl Phases {
    fn time<T>(&mut self, name: &'static str, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = work();
        self.add(name, started);
        result
    }

    fn add(&mut self, name: &'static str, started: Instant) {
        self.0.push((name, started.elapsed()));
    }
}

/// What an app needs to sign people in with the stack, as `cargo xtask outputs` prints it
/// and `emailcode-serve --outputs` reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outputs {
    pub region: String,
    pub user_pool_id: String,
    pub user_pool_arn: String,
    pub app_client_id: String,
    pub issuer: String,
    pub jwks_uri: String,
    /// The emulator the stack lives on; absent on AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub sign_in: SignInSettings,
}

/// The spec's sign-in settings a service in front of the pool mirrors: what it tells a
/// person about their code, and how long it keeps the refresh-token cookie.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignInSettings {
    pub code_length: u8,
    pub code_ttl_seconds: u64,
    pub max_attempts: u8,
    pub refresh_token_days: u32,
}

impl SignInSettings {
    pub fn of(spec: &StackSpec) -> Self {
        Self::from_spec_parts(&spec.otp, spec.app_client.refresh_token_days)
    }

    /// From the spec's values, each already within its range.
    pub fn from_spec_parts(
        otp: &crate::spec::OtpSpec,
        refresh_token_days: Option<crate::spec::RefreshTokenDays>,
    ) -> Self {
        Self {
            code_length: u8::try_from(otp.length.get()).unwrap_or(u8::MAX),
            code_ttl_seconds: u64::from(otp.ttl_seconds.get()),
            max_attempts: u8::try_from(otp.max_attempts.get()).unwrap_or(u8::MAX),
            refresh_token_days: refresh_token_days.map_or(
                crate::resources::app_client::DEFAULT_REFRESH_TOKEN_DAYS,
                |days| days.get(),
            ),
        }
    }
}

impl Default for SignInSettings {
    /// A spec's defaults.
    fn default() -> Self {
        Self::from_spec_parts(&crate::spec::OtpSpec::default(), None)
    }
}

/// Where the signing keys of pool `pool_id` are served: by the emulator when there is one,
/// else under the issuer.
pub fn jwks_uri(issuer: &str, pool_id: &str, endpoint: Option<&str>) -> String {
    let base = endpoint.map_or(issuer.to_owned(), |e| {
        format!("{}/{pool_id}", e.trim_end_matches('/'))
    });
    format!("{base}/.well-known/jwks.json")
}

impl Outputs {
    fn new(session: &Session, pool: &PoolRef, app_client_id: String) -> Self {
        // Tokens always name the AWS issuer; an emulator serves the keys itself.
        let issuer = session.observation.names.issuer(&pool.id);
        let endpoint = session
            .spec
            .endpoint
            .as_ref()
            .map(|e| e.as_str().to_owned());
        let jwks_uri = jwks_uri(&issuer, &pool.id, endpoint.as_deref());
        Self {
            region: session.spec.region.as_str().to_owned(),
            user_pool_id: pool.id.clone(),
            user_pool_arn: pool.arn.clone(),
            app_client_id,
            issuer,
            jwks_uri,
            endpoint,
            sign_in: SignInSettings::of(&session.spec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outputs_carry_the_specs_sign_in_settings_and_the_defaults_are_a_specs() {
        let spec = |extra: &str| {
            StackSpec::parse(
                Path::new("stack.yaml"),
                &format!(
                    "name: acme\nregion: us-east-1\nemail:\n  from: no-reply@acme.example\n{extra}"
                ),
            )
            .unwrap()
        };
        assert_eq!(SignInSettings::of(&spec("")), SignInSettings::default());
        assert_eq!(
            SignInSettings::default(),
            SignInSettings {
                code_length: 6,
                code_ttl_seconds: 180,
                max_attempts: 3,
                refresh_token_days: 30
            }
        );
        let custom = spec(
            "otp:\n  length: 8\n  ttl_seconds: 120\n  max_attempts: 5\napp_client:\n  refresh_token_days: 7\n",
        );
        assert_eq!(
            SignInSettings::of(&custom),
            SignInSettings {
                code_length: 8,
                code_ttl_seconds: 120,
                max_attempts: 5,
                refresh_token_days: 7
            }
        );
        assert_eq!(
            jwks_uri(
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_A",
                "us-east-1_A",
                Some("http://127.0.0.1:4566/")
            ),
            "http://127.0.0.1:4566/us-east-1_A/.well-known/jwks.json"
        );
    }
}
