//! `autoconfig-host`: the network shell around [`autoconfig_runtime`], for operators who run the
//! client as a sidecar and for Rust users who want the stream handled for them.
//!
//! - [`runner::run`]: opens the requests the component's stream client asks for (reqwest +
//!   tokio, [`http`]), pushes the responses and bytes in, sleeps until its deadline, keeps the
//!   state file ([`state_file`]). No protocol policy of its own.
//! - [`output::JsonLines`]: the handler that prints each callback as one JSON line.
//! - [`demo::ScriptServer`]: serves a script of events on 127.0.0.1 (the `--demo` story and
//!   `autoconfig-host serve`).
//! - [`duration`]: Go-style durations for the command line.
//! - [`telemetry`] and [`status`]: what `--listen` serves (health, readiness, status, metrics).
//!
//! The runtime (`Runtime`, `Driver`, `Handler`, the WIT records) is re-exported, so one
//! dependency is enough for a Rust proxy.

pub mod demo;
pub mod duration;
pub mod http;
pub mod output;
pub mod runner;
pub mod state_file;
pub mod status;
pub mod telemetry;

pub use autoconfig_runtime::*;
