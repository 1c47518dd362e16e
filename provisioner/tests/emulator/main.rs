//! Against the real local emulator (MiniStack), one file per topic: sign-in, drift,
//! teardown, users, the client locator, and the wire rules AWS enforces. `cargo xtask test`
//! starts the emulator and builds the triggers first.

mod code_record;
mod common;
mod deploy;
mod deployer_policy;
mod doctor;
mod drift;
mod faults;
mod hardening;
mod limits;
mod locator;
mod lock;
mod moto;
mod policies;
mod sign_in;
mod sign_up;
mod teardown;
mod telemetry;
mod users;
mod wire;
