//! The trigger logic in-process, without Lambda or Cognito: what one event costs us.

use std::hint::black_box;

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsDefineAuthChallenge as DefineEvent,
    CognitoEventUserPoolsVerifyAuthChallenge as VerifyEvent,
};
use criterion::{Criterion, criterion_group, criterion_main};
use triggers::code::OneTimeCode;
use triggers::config::{DefineConfig, VerifyConfig};

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn handlers(c: &mut Criterion) {
    let define: DefineEvent = fixture("define_after_one_wrong_answer");
    let define_config = DefineConfig { max_attempts: 3 };
    c.bench_function("define_per_event", |b| {
        b.iter(|| triggers::define::respond(&define_config, black_box(&define), None))
    });
    let verify: VerifyEvent = fixture("verify_right_answer");
    let verify_config = VerifyConfig { ttl_seconds: 180 };
    c.bench_function("verify_per_event", |b| {
        b.iter(|| triggers::verify::is_correct(&verify_config, black_box(&verify), 1_764_000_010))
    });
    c.bench_function("code_generation_per_code", |b| {
        b.iter(|| OneTimeCode::generate(black_box(6)).unwrap())
    });
}

criterion_group!(benches, handlers);
criterion_main!(benches);
