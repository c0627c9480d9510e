//! What the `relay:autoconfig` component and its hosts share, defined once:
//!
//! - [`EnvironmentParams`] and [`ExpiringKey`]: the WIT `environment-params` record. The guest
//!   builds it, a wasmtime host lifts it straight from the component (feature `wasmtime`), and
//!   its serde form (camelCase of the WIT names) is the `env` of `autoconfig-host`'s JSON lines,
//!   the same shape jco gives JavaScript.
//! - [`CallLine`]: one handler callback as a line of JSON (the sidecar's stdout, the component's
//!   `batch` interface, the scenario corpus).
//! - [`stream`]: the records of the WIT `stream-client` (options, step, request).
//! - [`snapshot`]: the byte format of `state.snapshot` / `state.restore`.
//! - [`mask`]: keys shown by their last 4 characters only, names made safe to log.
//!
//! Plain `no_std` + `alloc`.

#![no_std]

extern crate alloc;

mod lines;
pub mod mask;
mod params;
pub mod snapshot;
pub mod stream;

pub use lines::CallLine;
pub use params::{EnvironmentParams, ExpiringKey};

/// The default of the WIT `settings.max-message-bytes`: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 16 * 1024 * 1024;
/// The default of the WIT `settings.max-tombstones`.
pub const DEFAULT_MAX_TOMBSTONES: u32 = 100_000;
/// The default of the WIT `settings.max-state-bytes`: 192 MiB, for a 512 MiB memory limit.
pub const DEFAULT_MAX_STATE_BYTES: u64 = 192 * 1024 * 1024;
