//! Apply: carries out a plan's steps and nothing else, stage by stage, the steps of one
//! stage concurrently. The values sent are the ones the plan's steps carry; what this file
//! adds is only what one stage hands the next (the pool and client ids) and when a
//! function is ready to be touched again.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures_util::future::try_join_all;
use tokio::task::JoinHandle;

use crate::aws::Clients;
use crate::error::ProvisionError;
use crate::naming::TriggerKind;
use crate::plan::{Action, Plan, Step};
use crate::resources::{self, ApplyCx, Desired, Handover, Produced, ResourceKind, function};

/// What one step did, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    UsedAsIs,
    Deleted,
}

impl Outcome {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::UsedAsIs => "exists, not managed by this stack; used as is",
            Self::Deleted => "deleted",
        }
    }
}

/// Called once per step as it finishes.
pub type Report<'a> = &'a (dyn Fn(&Step, Outcome) + Sync);

/// Executes `plan`, starting from the identifiers observation found. A plan holding a
/// change no deploy can make is refused before the first write.
pub async fn apply(
    cx: &ApplyCx<'_>,
    plan: &Plan,
    mut handover: Handover,
    report: Report<'_>,
) -> Result<Handover, ProvisionError> {
    if let Some(refusal) = plan.refusal() {
        return Err(refusal.into());
    }
    // Creates and updates go in dependency order; deletions after them, dependants first,
    // so a trigger is detached from the pool before its function goes.
    let (deletions, others): (Vec<&Step>, Vec<&Step>) = plan
        .steps
        .iter()
        .partition(|s| matches!(s.action, Action::Delete));
    let settling = Settling::default();
    let mut role_policy_due: Option<&resources::role::Desired> = None;
    for (steps, dependants_first) in [(others, false), (deletions, true)] {
        let mut stages: Vec<u8> = steps.iter().map(|s| s.id.kind.stage()).collect();
        stages.sort_unstable();
        stages.dedup();
        if dependants_first {
            stages.reverse();
        }
        for stage in stages {
            let stage_steps = steps.iter().filter(|s| s.id.kind.stage() == stage);
            let (results, ()) = tokio::try_join!(
                try_join_all(stage_steps.map(|step| run(cx, step, &handover, &settling, report))),
                put_role_policy(cx, role_policy_due.take()),
            )?;
            for (step, produced) in results.into_iter().flatten() {
                match produced {
                    Produced::Pool(pool) => handover.user_pool = Some(pool),
                    Produced::Client(id) => handover.app_client_id = Some(id),
                    Produced::PoolGone => handover.user_pool = None,
                    Produced::RoleWithoutPolicy => {
                        if let Some(Desired::Role(role)) = &step.desired {
                            role_policy_due = Some(role);
                        }
                    }
                }
            }
        }
    }
    put_role_policy(cx, role_policy_due).await?;
    // The stack is ready only when every function it created or updated can be invoked.
    try_join_all(settling.take_all().into_iter().map(Settling::finish)).await?;
    Ok(handover)
}

async fn put_role_policy(
    cx: &ApplyCx<'_>,
    role: Option<&resources::role::Desired>,
) -> Result<(), ProvisionError> {
    match role {
        Some(role) => resources::role::put_policy(cx, role).await,
        None => Ok(()),
    }
}

async fn run<'p>(
    cx: &ApplyCx<'_>,
    step: &'p Step,
    handover: &Handover,
    settling: &Settling,
    report: Report<'_>,
) -> Result<Option<(&'p Step, Produced)>, ProvisionError> {
    let writes = !matches!(step.action, Action::NoOp | Action::UseUnowned);
    if writes
        && step.action != Action::Delete
        && let Some(kind) = step.id.kind.on_function()
    {
        settling.wait(kind).await?;
    }
    let desired = || {
        step.desired.as_ref().ok_or_else(|| {
            ProvisionError::state(step.id.to_string(), "the plan carries no desired value")
        })
    };
    let (produced, outcome) = match &step.action {
        Action::NoOp => (None, Outcome::Unchanged),
        Action::UseUnowned => (None, Outcome::UsedAsIs),
        Action::Create => (
            resources::create(cx, desired()?, handover).await?,
            Outcome::Created,
        ),
        Action::Update(changes) => {
            resources::update(cx, desired()?, changes, handover).await?;
            (None, Outcome::Updated)
        }
        Action::Replace(_) => unreachable!("apply refuses a plan with a replace before it starts"),
        Action::Delete => (
            resources::delete(cx, &step.id, handover).await?,
            Outcome::Deleted,
        ),
    };
    if let ResourceKind::Function(kind) = step.id.kind
        && matches!(outcome, Outcome::Created | Outcome::Updated)
    {
        settling.start(cx.clients, kind, cx.names.function(kind));
    }
    report(step, outcome);
    Ok(produced.map(|p| (step, p)))
}

/// Functions created or updated in this apply and not yet seen ready, each with a task that
/// polls it from the moment its create or update returned. Lambda keeps a new or updated
/// function Pending or InProgress for a while: polling from then on lets the wait overlap
/// the stages that do not touch the function (the pool's creation above all), and a step
/// that does touch it waits only for what is left. A deploy that fails stops the polls.
#[derive(Default)]
struct Settling(Mutex<BTreeMap<TriggerKind, Poll>>);

/// One function's wait for ready, running in its own task.
struct Poll {
    function: String,
    task: JoinHandle<Result<(), ProvisionError>>,
}

impl Settling {
    fn start(&self, clients: &Clients, kind: TriggerKind, function: String) {
        let clients = clients.clone();
        let name = function.clone();
        let task = tokio::spawn(async move { function::wait_until_ready(&clients, &name).await });
        let earlier = self
            .0
            .lock()
            .expect("settling set poisoned")
            .insert(kind, Poll { function, task });
        if let Some(earlier) = earlier {
            earlier.task.abort();
        }
    }

    /// Until `kind` is ready, when it is settling; a later step on it need not wait again.
    async fn wait(&self, kind: TriggerKind) -> Result<(), ProvisionError> {
        let poll = self.0.lock().expect("settling set poisoned").remove(&kind);
        match poll {
            Some(poll) => Self::finish(poll).await,
            None => Ok(()),
        }
    }

    fn take_all(&self) -> Vec<Poll> {
        std::mem::take(&mut *self.0.lock().expect("settling set poisoned"))
            .into_values()
            .collect()
    }

    async fn finish(poll: Poll) -> Result<(), ProvisionError> {
        poll.task.await.map_err(|stopped| {
            ProvisionError::state(
                format!("lambda function {}", poll.function),
                format!("the wait for it to be ready stopped ({stopped}); deploy again"),
            )
        })?
    }
}

impl Drop for Settling {
    fn drop(&mut self) {
        for poll in self.take_all() {
            poll.task.abort();
        }
    }
}
