//! Test helpers shared by every test and benchmark of the workspace, written once:
//!
//! - [`events`]: the stream's JSON (`put`, `patch`, `delete` data, SSE framing, a realistic
//!   `put` of `n` environments for benchmarks).
//! - [`Recorder`]: a handler that records each callback as the JSON-lines [`CallLine`] and each
//!   log line (feature `runtime`, on by default).
//! - [`runtime()`]: the embedded component, compiled once per test process.
//! - [`corpus`]: the shared corpora `tests/scenarios/` and `tests/streams/`.
//!
//! The guest's own unit tests keep their `Harness` (`guest/src/tests/mod.rs`): they drive the
//! state machine natively, with borrowed callback arguments, below any runtime.

pub mod corpus;
pub mod events;
#[cfg(feature = "runtime")]
mod recorder;

#[cfg(feature = "runtime")]
pub use autoconfig_host::output::CallLine;
#[cfg(feature = "runtime")]
pub use recorder::{Recorder, op, runtime, stream_options, unmetered_runtime};
