//! The stack lock: concurrent writers never both change a stack, a dead holder's lease
//! expires, and `force-unlock` breaks a lease by hand, naming its holder.

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::join;
use provisioner::lock::force_unlock;
use provisioner::session::{FORCE, Session};

use crate::common::{TestStack, UNPROTECTED, env, pools_named};

/// The error of a run that found the stack locked, if that is what it was.
fn is_locked_out<T>(result: &Result<T, provisioner::ProvisionError>) -> bool {
    result.as_ref().err().is_some_and(|e| {
        e.to_string().contains("is being changed by") && e.to_string().contains("force-unlock")
    })
}

/// Writes a lock item as process `pid` on `host` would, with its lease ending `ends_in`
/// seconds from now (negative: already over).
async fn hold_lock_as(session: &Session, who: &str, host: &str, pid: u32, ends_in: i64) {
    let now = triggers::unix_now() as i64;
    session
        .clients
        .dynamodb
        .put_item()
        .table_name(session.observation.names.limits_table())
        .item("pk", AttributeValue::S("lock#stack".to_owned()))
        .item("token", AttributeValue::S("someone-elses".to_owned()))
        .item("who", AttributeValue::S(who.to_owned()))
        .item("command", AttributeValue::S("deploy".to_owned()))
        .item("host", AttributeValue::S(host.to_owned()))
        .item("pid", AttributeValue::N(pid.to_string()))
        .item("since", AttributeValue::N((now - 60).to_string()))
        .item("expires_at", AttributeValue::N((now + ends_in).to_string()))
        .send()
        .await
        .unwrap();
}

/// A lock item of a process on another host.
async fn hold_lock(session: &Session, who: &str, ends_in: i64) {
    hold_lock_as(session, who, "build-7", 4242, ends_in).await;
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

fn with_memory(stack: &TestStack, memory_mb: u32) {
    let spec = std::fs::read_to_string(&stack.path).unwrap();
    let base = spec
        .lines()
        .filter(|l| !l.trim_start().starts_with("memory_mb"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(
        &stack.path,
        base.replace(
            "  architecture: x86_64\n",
            &format!("  architecture: x86_64\n  memory_mb: {memory_mb}\n"),
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deploys_from_nothing_at_once_make_one_stack() {
    let env = env();
    let stack = TestStack::new(&env, UNPROTECTED);
    let (first, second) = join(stack.open(), stack.open()).await;
    let (a, b) = join(
        first.deploy(&env.artifacts, &|_, _| {}),
        second.deploy(&env.artifacts, &|_, _| {}),
    )
    .await;
    for result in [&a, &b] {
        assert!(
            result.is_ok() || is_locked_out(result),
            "{:?}",
            result.as_ref().err()
        );
    }
    assert!(a.is_ok() || b.is_ok(), "neither deploy went through");
    let (after, report) = stack.drift(&env.artifacts).await;
    assert!(report.in_sync, "{report:#?}");
    let named = pools_named(&after, &stack.name).await;
    assert_eq!(named, 1, "two deploys at once made {named} pools");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_lease_stops_deploy_and_teardown_and_force_unlock_names_its_holder() {
    let env = env();
    let (stack, _, session) = TestStack::deployed(&env, UNPROTECTED).await;
    hold_lock(&session, "ines@build-7", 600).await;
    with_memory(&stack, 256);
    let refused = stack.open().await;
    let blocked = refused.deploy(&env.artifacts, &|_, _| {}).await;
    assert!(is_locked_out(&blocked), "{:?}", blocked.err());
    assert!(
        blocked.err().unwrap().to_string().contains("ines@build-7"),
        "the refusal does not name the holder"
    );
    // The holder came back with the refused write (ReturnValuesOnConditionCheckFailure):
    // no read after it, so no moment in which another holder could be named.
    let after_put: Vec<String> = refused
        .clients
        .requests
        .entries()
        .into_iter()
        .map(|(_, operation)| operation)
        .skip_while(|operation| operation != "PutItem")
        .collect();
    assert_eq!(after_put, ["PutItem"], "{after_put:?}");
    let blocked = stack.open().await.teardown(FORCE, &|_, _| {}).await;
    assert!(is_locked_out(&blocked), "{:?}", blocked.err());

    let broken = force_unlock(&session.clients, &session.observation.names)
        .await
        .unwrap()
        .expect("a lock was held");
    assert_eq!(broken.who, "ines@build-7");
    stack
        .open()
        .await
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap();
    assert!(
        force_unlock(&session.clients, &session.observation.names)
            .await
            .unwrap()
            .is_none(),
        "deploy did not release its lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holders_lease_expires() {
    let env = env();
    let (stack, _, session) = TestStack::deployed(&env, UNPROTECTED).await;
    hold_lock(&session, "crashed@ci-runner", -5).await;
    with_memory(&stack, 256);
    stack
        .open()
        .await
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap();
    let (_, report) = stack.drift(&env.artifacts).await;
    assert!(report.in_sync, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_and_a_teardown_at_once_never_interleave() {
    let env = env();
    let (stack, _, _) = TestStack::deployed(&env, UNPROTECTED).await;
    with_memory(&stack, 256);
    let (deployer, remover) = join(stack.open(), stack.open()).await;
    let (deployed, torn) = join(
        deployer.deploy(&env.artifacts, &|_, _| {}),
        remover.teardown(FORCE, &|_, _| {}),
    )
    .await;
    assert!(
        deployed.is_ok() || is_locked_out(&deployed),
        "{:?}",
        deployed.err()
    );
    assert!(torn.is_ok() || is_locked_out(&torn), "{:?}", torn.err());
    // Whatever won, the stack is whole or gone, never half of each.
    let (after, report) = stack.drift(&env.artifacts).await;
    let gone = after
        .observation
        .state
        .resources
        .values()
        .all(|o| *o == provisioner::resources::Observed::Absent);
    assert!(report.in_sync || gone, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_on_this_host_is_taken_over_at_once_and_a_live_one_is_not() {
    let env = env();
    let (stack, _, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let mut finished = std::process::Command::new("true").spawn().unwrap();
    let gone = finished.id();
    finished.wait().unwrap();
    hold_lock_as(&session, "ines@here", &this_host(), gone, 600).await;
    with_memory(&stack, 256);
    let deployed = stack
        .open()
        .await
        .deploy(&env.artifacts, &|_, _| {})
        .await
        .unwrap();
    assert!(
        deployed
            .notes
            .iter()
            .any(|n| n.contains("took over the lock") && n.contains("ines@here")),
        "{:?}",
        deployed.notes
    );
    let (_, report) = stack.drift(&env.artifacts).await;
    assert!(report.in_sync, "{report:#?}");

    // Process 1 always runs: a holder on this host that is alive keeps its lock.
    hold_lock_as(&session, "ines@here", &this_host(), 1, 600).await;
    with_memory(&stack, 512);
    let blocked = stack.open().await.deploy(&env.artifacts, &|_, _| {}).await;
    assert!(is_locked_out(&blocked), "{:?}", blocked.err());
    force_unlock(&session.clients, &session.observation.names)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_a_short_lease_and_a_dead_holder_blocks_one_lease_at_most() {
    use provisioner::lock::{Holder, LeaseTerms, acquire_with};
    use std::time::Duration;
    let env = env();
    let (_, _, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let names = &session.observation.names;
    let terms = LeaseTerms {
        lease: Duration::from_secs(3),
        heartbeat: Duration::from_secs(1),
    };
    let elsewhere = |who: &str| Holder {
        host: format!("{who}-host"),
        ..Holder::named("deploy", &|_| None, format!("{who}-host"))
    };
    let no_table = || async { Ok(false) };
    let held = acquire_with(
        &session.clients,
        names,
        &elsewhere("first"),
        terms,
        true,
        no_table,
    )
    .await
    .unwrap();
    // Twice the lease: without renewals it would have ended long ago.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let refused = acquire_with(
        &session.clients,
        names,
        &elsewhere("second"),
        terms,
        true,
        no_table,
    )
    .await;
    let message = refused
        .err()
        .expect("the renewed lease was taken")
        .to_string();
    assert!(message.contains("first-host"), "{message}");
    assert!(!held.lost());
    held.release().await.unwrap();
    let taken = acquire_with(
        &session.clients,
        names,
        &elsewhere("second"),
        terms,
        true,
        no_table,
    )
    .await
    .unwrap();
    // A holder that stops renewing (its process gone) blocks for one lease at most.
    drop(taken);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let third = acquire_with(
        &session.clients,
        names,
        &elsewhere("third"),
        terms,
        true,
        no_table,
    )
    .await
    .unwrap();
    third.release().await.unwrap();
}

/// The deploy record is written in the same round as the lock's release, so a deploy that
/// takes the lock in that moment may write its record first: the earlier one must not
/// replace it.
#[tokio::test]
async fn a_deploy_record_never_replaces_a_later_one() {
    use provisioner::deploy_record::{DeployRecord, read, write};
    let env = env();
    let (_stack, _, session) = TestStack::deployed(&env, UNPROTECTED).await;
    let table = session.observation.names.limits_table();
    let deployed = read(&session.clients, &table)
        .await
        .unwrap()
        .expect("deploy wrote its record");
    let record = |at: u64, by: &str| DeployRecord {
        at,
        by: by.to_owned(),
        url: None,
        commit: Some(format!("commit-of-{by}")),
    };
    let later = record(deployed.at + 60, "later@ci");
    write(&session.clients, &table, &later).await.unwrap();
    write(
        &session.clients,
        &table,
        &record(deployed.at + 30, "earlier@ci"),
    )
    .await
    .expect("a record that lost the race is no error");
    assert_eq!(
        read(&session.clients, &table).await.unwrap(),
        Some(later.clone())
    );
    let latest = record(deployed.at + 90, "latest@ci");
    write(&session.clients, &table, &latest).await.unwrap();
    assert_eq!(read(&session.clients, &table).await.unwrap(), Some(latest));
}
