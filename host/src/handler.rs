//! The proxy's side of the contract: the callbacks the component makes, as a Rust trait.

pub use relay_autoconfig::{EnvironmentParams, ExpiringKey};

/// Severity of a log line from the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Handled but suspicious.
    Warn,
    /// Rejected data.
    Error,
    /// A bug in the component (it is about to trap).
    Critical,
}

/// Receives the component's callbacks. They arrive synchronously, from inside
/// [`crate::Driver::on_event`] and [`crate::Driver::tick`], in the order the contract gives.
pub trait Handler: Send + 'static {
    /// A new environment.
    fn add_environment(&mut self, params: EnvironmentParams);
    /// A known environment changed.
    fn update_environment(&mut self, params: EnvironmentParams);
    /// An environment was deleted.
    fn delete_environment(&mut self, env_id: String);
    /// A valid `put` was fully processed: every environment is known.
    fn received_all_environments(&mut self);
    /// An expiring SDK key reached its expiry time.
    fn key_expired(&mut self, env_id: String, old_key: String);
    /// The component's state was lost (it trapped and could not be brought back): what follows
    /// starts from nothing. Reconcile at the next `received_all_environments`: keep the
    /// environments added or updated since the reset, drop every other. The default does
    /// nothing but the error log the driver writes.
    fn reset(&mut self) {}
    /// Whether the handler's output is gone for good (e.g. the reader of stdout went away): the
    /// runner then stops with [`crate::runner::Exit::OutputClosed`]. The default is never.
    fn output_broken(&self) -> bool {
        false
    }
    /// A log line from the component (keys in it are masked to their last 4 characters). The
    /// default forwards it to `tracing` with target `autoconfig`.
    fn log(&mut self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Trace => tracing::trace!(target: "autoconfig", "{message}"),
            LogLevel::Debug => tracing::debug!(target: "autoconfig", "{message}"),
            LogLevel::Info => tracing::info!(target: "autoconfig", "{message}"),
            LogLevel::Warn => tracing::warn!(target: "autoconfig", "{message}"),
            LogLevel::Error | LogLevel::Critical => {
                tracing::error!(target: "autoconfig", "{message}")
            }
        }
    }
}
