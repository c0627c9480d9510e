//! The reference wasmtime host of the `relay:autoconfig` component.
//!
//! - [`Runtime`] compiles the component once (fuel-metered engine, memory limits).
//! - [`Driver`] runs one instance: feed it SSE events with [`Driver::on_event`], call
//!   [`Driver::tick`] when [`Driver::next_deadline`] passes, and receive the callbacks through
//!   your [`Handler`]. The clock is injectable ([`Clock`], [`ManualClock`] for tests).
//! - [`runner::run`] owns the SSE connection (reconnects, backoff, read timeout) and drives a
//!   driver; `autoconfig-host` is that plus [`output::JsonLines`] and a CLI.
//! - [`demo::ScriptServer`] serves a script of events on 127.0.0.1 (the `--demo` story).
//! - A guest trap never panics the host: it becomes [`Error::Trap`] and the next call runs on a
//!   fresh instance.

pub mod backoff;
mod bindings;
pub mod clock;
pub mod demo;
pub mod driver;
pub mod duration;
pub mod error;
pub mod handler;
pub mod http;
pub mod output;
pub mod runner;
pub mod runtime;
pub mod sse;

pub use clock::{Clock, ManualClock, SystemClock};
pub use driver::{DEFAULT_MAX_MESSAGE_BYTES, Directive, Driver, Level, RestartReason, Settings};
pub use error::Error;
pub use handler::{EnvironmentParams, ExpiringKey, Handler, LogLevel};
pub use runtime::{BUILT_COMPONENT, Limits, Runtime};
