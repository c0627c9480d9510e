//! The reference wasmtime host of the `relay:autoconfig` component.
//!
//! - [`Runtime`] compiles the component once (fuel-metered engine, memory limits).
//! - [`Driver`] runs one instance: feed it SSE events with [`Driver::on_event`], call
//!   [`Driver::tick`] when [`Driver::next_deadline`] passes, and receive the callbacks through
//!   your [`Handler`]. The clock is injectable ([`Clock`], [`ManualClock`] for tests).
//! - The component also holds the whole stream client (SSE, backoff, redirects, status policy,
//!   read timeout): [`Driver::start`], [`Driver::on_response`], [`Driver::on_body`],
//!   [`Driver::on_closed`] and [`Driver::on_timeout`] take `now` and return a [`Step`].
//!   [`runner::run`] is the I/O shell around them (reqwest + tokio); `autoconfig-host` is that
//!   plus [`output::JsonLines`] and a CLI.
//! - [`demo::ScriptServer`] serves a script of events on 127.0.0.1 (the `--demo` story).
//! - A guest trap never panics the host: it becomes [`Error::Trap`] and the next call runs on a
//!   fresh instance.

mod bindings;
pub mod clock;
pub mod demo;
pub mod driver;
pub mod duration;
pub mod error;
pub mod handler;
pub mod http;
pub mod mirror;
pub mod output;
pub mod runner;
pub mod runtime;
pub mod state_file;

pub use clock::{Clock, ManualClock, SystemClock};
pub use driver::{
    DEFAULT_MAX_MESSAGE_BYTES, Directive, Driver, Level, Request, RestartReason, Restored,
    Settings, Step, StopReason, StreamOptions,
};
pub use error::Error;
pub use handler::{EnvironmentParams, ExpiringKey, Handler, LogLevel};
pub use runtime::{BUILT_COMPONENT, Limits, Runtime};
