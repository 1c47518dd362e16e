//! A deploy killed midway, from outside the process: the process ends at a chosen request
//! (no unwinding, no lock released, its heartbeat gone with it), and the next deploy, run at
//! once on the same host, takes the dead holder's lock over and converges.

mod common;

use common::{need, scratch, spec, text, xtask};
use provisioner::aws::DIE_AT_REQUEST_VARIABLE;

#[test]
fn a_deploy_killed_at_any_request_and_run_again_at_once_converges() {
    let dir = scratch("killed");
    let artifacts = need("TRIGGER_ZIPS");
    let mut taken_over = 0;
    for die_at in [4, 14, 22, 30, 38, 46, 54] {
        let stack = spec(&dir, &format!("k{}-{die_at}", std::process::id()));
        let stack = stack.to_str().unwrap();
        let bootstrapped = xtask(&["bootstrap", "--stack", stack]);
        assert!(bootstrapped.status.success(), "{}", text(&bootstrapped));
        let deploy = ["deploy", "--stack", stack, "--artifacts", &artifacts];
        let killed = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(deploy)
            .env("CARGO", "/bin/false")
            .env(DIE_AT_REQUEST_VARIABLE, die_at.to_string())
            .output()
            .unwrap();
        assert_eq!(
            killed.status.code(),
            Some(137),
            "the deploy was not stopped at request {die_at}: {}",
            text(&killed)
        );
        let again = xtask(&deploy);
        assert!(
            again.status.success(),
            "killed at request {die_at}, the next deploy failed: {}",
            text(&again)
        );
        if String::from_utf8_lossy(&again.stderr).contains("took over the lock") {
            taken_over += 1;
        }
        let drift = xtask(&["drift", "--stack", stack]);
        assert_eq!(
            drift.status.code(),
            Some(0),
            "killed at request {die_at}: {}",
            text(&drift)
        );
        let torn = xtask(&["teardown", "--stack", stack, "--yes", "--force"]);
        assert!(torn.status.success(), "{}", text(&torn));
    }
    assert!(
        taken_over >= 3,
        "only {taken_over} kills left a lock to take over: the kill points miss the apply"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
