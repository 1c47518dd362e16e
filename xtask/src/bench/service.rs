//! The sign-in service (`backend/`) under load: the same sign-in through the service and
//! straight through Cognito, one at a time (the service's own overhead), then many at once
//! for a fixed time. The do-nothing triggers answer with a fixed code, so the figures
//! measure the service and Cognito, not reading mail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use provisioner::session::{Outputs, Session};
use serde_json::{Value, json};

use super::BenchArgs;
use super::deploys::{StackFiles, silent};
use super::report::Figure;
use super::sign_in::{NodeTriggers, Variant, swap_to_node};
use provisioner::artifacts::Artifacts;

const FIXED_CODE: &str = "000000";

fn user(index: usize) -> String {
    format!("load-{index}@example.com")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// One sign-in through the service's two endpoints; an error names what went wrong.
fn through_service(agent: &ureq::Agent, base: &str, email: &str) -> Result<Duration> {
    let post = |path: &str, body: Value| -> Result<(u16, Value)> {
        let mut response = agent
            .post(format!("{base}{path}"))
            .header("Content-Type", "application/json")
            .header("Origin", base)
            .send(body.to_string())?;
        Ok((response.status().as_u16(), response.body_mut().read_json()?))
    };
    let started = Instant::now();
    let (status, start) = post("/auth/start", json!({ "email": email }))?;
    if status != 200 {
        bail!("start answered {status} {start}");
    }
    let (status, verify) = post(
        "/auth/verify",
        json!({ "email": email, "session": start["session"], "code": FIXED_CODE }),
    )?;
    if status != 200 {
        bail!("verify answered {status} {verify}");
    }
    Ok(started.elapsed())
}

async fn direct(session: &Session, outputs: &Outputs, email: &str) -> Result<Duration> {
    let cognito = &session.clients.cognito;
    let started = Instant::now();
    let challenge = provisioner::login::start_custom_auth(cognito, outputs, email).await?;
    let answered = provisioner::login::answer_challenge(
        cognito,
        outputs,
        challenge.session,
        email,
        FIXED_CODE,
    )
    .await?;
    if answered.authentication_result.is_none() {
        bail!("the direct sign-in did not end in tokens");
    }
    Ok(started.elapsed())
}

pub(super) async fn service_figures(
    stacks: &StackFiles,
    artifacts: &Artifacts,
    node: &NodeTriggers,
    args: &BenchArgs,
) -> Result<Vec<Figure>> {
    let stack = stacks.fresh(128)?;
    Session::open(&stack)
        .await?
        .deploy(artifacts, &silent)
        .await?;
    let session = Session::open(&stack).await?;
    let outputs = session.outputs()?;
    swap_to_node(&session, node, Variant::NodeNoop).await?;
    for index in 0..args.load_concurrency.max(1) {
        provisioner::users::add(&session, &user(index)).await?;
    }
    let listener = backend::bind("127.0.0.1:0".parse()?).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let config = crate::serve::backend_config(&session, base.clone())?;
    let router = backend::router(config, session.clients.cognito.clone())?;
    let server = tokio::spawn(backend::serve(listener, router));

    // One of each untimed: the pool's first sign-in makes its signing key.
    direct(&session, &outputs, &user(0)).await?;
    let sequential = agent();
    let base_for = base.clone();
    let via = move |agent: ureq::Agent| {
        let base = base_for.clone();
        async move {
            tokio::task::spawn_blocking(move || through_service(&agent, &base, &user(0)))
                .await
                .context("the sign-in thread failed")?
        }
    };
    via(sequential.clone()).await?;
    let (mut straight, mut served) = (Vec::new(), Vec::new());
    for _ in 0..args.sign_ins {
        straight.push(direct(&session, &outputs, &user(0)).await?);
        served.push(via(sequential.clone()).await?);
    }
    let overhead = Figure::millis("x", &served).median - Figure::millis("x", &straight).median;

    let load = load(
        &base,
        args.load_concurrency,
        Duration::from_secs(args.load_seconds),
    )
    .await?;
    server.abort();
    session
        .teardown(provisioner::session::FORCE, &silent)
        .await?;

    let label = format!(
        "service under load ({} concurrent, {} s)",
        args.load_concurrency, args.load_seconds
    );
    let mut figures = vec![
        Figure::millis(
            "service: sign-in calling Cognito directly, one at a time",
            &straight,
        ),
        Figure::millis(
            "service: sign-in through the service, one at a time",
            &served,
        ),
        Figure::new(
            "service: its own time per sign-in (median difference)",
            "ms",
            vec![overhead],
        ),
        Figure::new(
            format!("{label}: completed sign-ins per second"),
            "per s",
            vec![load.latencies.len() as f64 / load.elapsed.as_secs_f64()],
        ),
        Figure::new(
            format!("{label}: failed sign-ins"),
            "sign-ins",
            vec![load.errors as f64],
        ),
    ];
    if !load.latencies.is_empty() {
        figures.push(Figure::millis(format!("{label}: sign-in"), &load.latencies));
    }
    if let Some(first) = load.first_error {
        eprintln!("service under load: first failure: {first}");
    }
    Ok(figures)
}

struct Load {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

/// `concurrency` workers, each its own user, signing in back to back until `duration` ends.
async fn load(base: &str, concurrency: usize, duration: Duration) -> Result<Load> {
    let started = Instant::now();
    let deadline = started + duration;
    let base: Arc<str> = base.into();
    let workers = (0..concurrency).map(|index| {
        let base = Arc::clone(&base);
        tokio::task::spawn_blocking(move || {
            let agent = agent();
            let email = user(index);
            let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0, None);
            while Instant::now() < deadline {
                match through_service(&agent, &base, &email) {
                    Ok(latency) => latencies.push(latency),
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| error.to_string());
                    }
                }
            }
            (latencies, errors, first_error)
        })
    });
    let mut total = Load {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for worker in workers.collect::<Vec<_>>() {
        let (latencies, errors, first_error) = worker.await?;
        total.latencies.extend(latencies);
        total.errors += errors;
        if total.first_error.is_none() {
            total.first_error = first_error;
        }
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
