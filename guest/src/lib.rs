//! The auto-configuration client of a feature-flag relay proxy, as a pure state machine.
//!
//! [`Machine`] keeps the last known environments of an auto-configuration stream, checks
//! versions, diffs each `put` against what it had, and calls a [`Handler`] only for what really
//! changed; it schedules the expiry of rotated SDK keys. It is sans-IO and deterministic: it
//! never reads a clock or does I/O. Every entry point takes `now` (wall-clock ms since the Unix
//! epoch) and reports the next time it needs [`Machine::tick`]. The same input sequence always
//! produces the same callbacks, in the same order.
//!
//! The crate is plain `no_std` + `alloc` Rust and builds and tests natively. Built for
//! `wasm32-wasip2` it is also the `relay:autoconfig` WebAssembly component (see `wit/`), whose
//! only imports are the handler callbacks and `wasi:logging`.
//!
//! The rules are written down in `docs/rules.md`: "Rule N" in comments and tests means the rule
//! numbered N there.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod batch;
pub mod client;
pub mod env;
/// Fuzz target bodies shared by `fuzz/` (cargo-fuzz) and `tests/fuzz_stable.rs`; native builds only.
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzzing;
pub mod handler;
pub mod machine;
pub mod memcmp;
pub mod stream;
pub mod timers;
pub mod timestamp;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod component;

pub use relay_autoconfig_types::{debug_with_masked_keys, mask, snapshot};

pub use batch::Batch;
pub use client::{Client, Restored};
pub use env::{Environment, EnvironmentParams, ExpiringKey};
pub use handler::{Handler, Level};
pub use machine::{
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_STATE_BYTES, DEFAULT_MAX_TOMBSTONES, Directive, Machine,
    RestartReason, Settings,
};
pub use snapshot::SnapshotError;
pub use stream::{Request, Step, StopReason, Stream, StreamOptions};

#[cfg(test)]
mod tests;
