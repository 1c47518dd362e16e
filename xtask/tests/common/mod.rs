//! What the command-line tests share: the emulator they need, scratch folders, and running
//! `cargo xtask` as CI would, with cargo unable to build.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn need(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set; these tests need the local emulator and a trigger build: run `cargo xtask test`, \
             or `cargo xtask emulator start` and `cargo xtask build`, then set EMULATOR_ENDPOINT=http://127.0.0.1:4566 \
             TRIGGER_ZIPS=$PWD/target/trigger-zips/x86_64-unknown-linux-gnu"
        )
    })
}

pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cargo xtask ARGS` with no way to build: a nested cargo run would fail the command.
pub fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("CARGO", "/bin/false")
        .output()
        .unwrap()
}

pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A spec for stack `name` on the emulator, in `dir`.
pub fn spec(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "name: {name}\nregion: us-east-1\nendpoint: {}\nemail:\n  from: no-reply@{name}.example\ntriggers:\n  architecture: x86_64\nuser_pool:\n  deletion_protection: false\n",
            need("EMULATOR_ENDPOINT")
        ),
    )
    .unwrap();
    path
}

/// One field of each CUSTOM_AUTH function of the stack, as the live stack has it.
pub fn live_function_field(stack: &Path, field: &str) -> Vec<String> {
    use provisioner::naming::TriggerKind;
    use provisioner::resources::{Observed, ResourceId, ResourceKind};
    let session = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(provisioner::session::Session::open(stack))
        .unwrap();
    TriggerKind::CUSTOM_AUTH
        .into_iter()
        .map(|kind| {
            let id = ResourceId {
                kind: ResourceKind::Function(kind),
                name: session.observation.names.function(kind),
            };
            match session.observation.state.get(&id) {
                Observed::Owned(fields) => fields[field].clone(),
                other => panic!("{id} is {other:?}"),
            }
        })
        .collect()
}
