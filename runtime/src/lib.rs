//! Running the `relay:autoconfig` component under wasmtime, for Rust hosts. No HTTP, CLI or
//! async runtime: the `autoconfig-host` crate is the network shell around this one.
//!
//! - [`Runtime`] compiles the component once (memory limits; each call fuel-metered unless
//!   [`Metering::Off`] is chosen); the component is embedded ([`Runtime::embedded`]), or
//!   loaded from a file.
//! - [`Driver`] runs one instance and calls your [`Handler`]. Every call that depends on time
//!   takes `now` (wall-clock ms since the Unix epoch) and reports the next deadline, as the WIT
//!   does: [`Driver::on_event`] and [`Driver::tick`] for hosts with their own SSE stack;
//!   [`Driver::start`], [`Driver::on_response`], [`Driver::on_body`], [`Driver::on_closed`]
//!   and [`Driver::on_timeout`] for the component's own stream client (each returns a [`Step`]).
//! - A guest trap never panics the host: it becomes [`Error::Trap`] (with its [`TrapKind`]) and
//!   the next call runs on a fresh instance brought back to what the handler was told.
//!
//! The records are the WIT's: [`EnvironmentParams`] is lifted straight from the component
//! (`relay-autoconfig-types`), the others come from the one `bindgen!` (`bindings.rs`), except
//! the stream records, whose `Debug` masks the key.

mod bindings;
mod cache;
pub mod driver;
pub mod error;
pub mod handler;
pub mod mirror;
pub mod runtime;

pub use driver::{Callbacks, Driver};
pub use error::{BoxError, Error, Trap, TrapKind, report};
pub use handler::Handler;
pub use mirror::Served;
pub use relay_autoconfig_types::stream::{Request, Step, StopReason, StreamOptions};
pub use relay_autoconfig_types::{
    CallLine, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_STATE_BYTES, DEFAULT_MAX_TOMBSTONES,
    EnvironmentParams, ExpiringKey, mask,
};
pub use runtime::{COMPONENT, COMPONENT_PATH, COMPONENT_SHA256, Limits, Metering, Runtime};

/// The WIT `directive`: what to do after an SSE event.
pub use bindings::relay::autoconfig::types::Directive;
/// The WIT `event-counters`: what an instance has seen, for metrics.
pub use bindings::relay::autoconfig::types::EventCounters;
/// The WIT `restart-reason`.
pub use bindings::relay::autoconfig::types::RestartReason;
/// The WIT `restored`: what `state.restore` brought back.
pub use bindings::relay::autoconfig::types::Restored;
/// The WIT `settings` (its `Default` is the WIT's documented defaults).
pub use bindings::relay::autoconfig::types::Settings;
/// The one log level (`wasi:logging`'s): of the component's log lines, and of
/// [`Settings::log_level`].
pub use bindings::wasi::logging::logging::Level;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            log_level: Level::Debug,
            max_tombstones: DEFAULT_MAX_TOMBSTONES,
            max_state_bytes: DEFAULT_MAX_STATE_BYTES,
        }
    }
}
