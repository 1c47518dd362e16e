//! The control plane on a second, independent emulator (moto): deploy, a no-op redeploy that
//! writes nothing, plan, drift after an out-of-band change, repair, teardown. moto runs no
//! Lambda code and has no custom-auth flow, so sign-in stays on MiniStack; it speaks no
//! CBOR either, which the SDK uses for CloudWatch, nor SES event destinations, so `cargo
//! xtask test` points CloudWatch and SES alone at MiniStack (`AWS_ENDPOINT_URL_CLOUDWATCH`,
//! `AWS_ENDPOINT_URL_SESV2`). And it keeps no function's
//! LoggingConfig (AWS always returns one), so the functions' `logging` reads as changed
//! there every time: the test allows exactly that and nothing else.

use provisioner::naming::TriggerKind;

use crate::common::{TestStack, UNPROTECTED, assert_reports, env, out_of_band};

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set; run `cargo xtask test`, which installs and starts moto \
             (pinned in xtask/emulator/moto-requirements.txt) beside MiniStack"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_redeploy_plan_drift_and_teardown_on_moto() {
    let env = env();
    let stack = TestStack::on(&moto_endpoint(), UNPROTECTED);
    let outputs = stack.deploy(&env).await;

    let again = stack.open().await;
    let plan = again.plan(&env.artifacts).unwrap();
    assert!(
        only_logging(&plan),
        "{}",
        provisioner::report::plan_text(&plan)
    );
    again.deploy(&env.artifacts, &|_, _| {}).await.unwrap();
    // Those updates make it a deploy that writes, so it also takes and gives back the lock
    // and records itself: DynamoDB writes of the stack's own table.
    let written: Vec<String> = again
        .clients
        .requests
        .mutating()
        .into_iter()
        .filter(|call| !call.starts_with("DynamoDB."))
        .collect();
    assert_eq!(
        written, ["Lambda.UpdateFunctionConfiguration"; 3],
        "an unchanged redeploy on moto wrote more than the logging moto forgets"
    );

    let define = again.observation.names.function(TriggerKind::Define);
    out_of_band::set_memory(&again, &define, 512).await;
    out_of_band::allow_password_sign_in(&again, &outputs).await;
    let (drifted, report) = stack.drift(&env.artifacts).await;
    assert_reports(
        &report,
        &[
            (&format!("lambda function {define}"), "memory_mb"),
            (
                &format!("app client {}", drifted.observation.names.app_client()),
                "explicit_auth_flows",
            ),
        ],
    );
    assert_eq!(drifted.clients.requests.mutating(), Vec::<String>::new());

    stack.deploy(&env).await;
    let (repaired, report) = stack.drift(&env.artifacts).await;
    assert!(
        report.differences.iter().all(|d| d.field == "logging"),
        "{report:#?}"
    );
    repaired
        .teardown(provisioner::session::FORCE, &|_, _| {})
        .await
        .unwrap();
    stack.assert_all_gone().await;
}

/// Whether the plan changes nothing but the functions' logging, which moto does not keep.
fn only_logging(plan: &provisioner::plan::Plan) -> bool {
    plan.steps.iter().all(|step| match &step.action {
        provisioner::plan::Action::Update(changes) => changes.iter().all(|c| c.field == "logging"),
        provisioner::plan::Action::NoOp | provisioner::plan::Action::UseUnowned => true,
        _ => false,
    })
}
