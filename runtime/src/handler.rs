//! The proxy's side of the contract: the callbacks the component makes, as a Rust trait.

use crate::{EnvironmentParams, Level};

/// Receives the component's callbacks. They arrive synchronously, from inside
/// [`crate::Driver::on_event`], [`crate::Driver::tick`] and the stream calls, in the order the contract gives.
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
    /// A call into the component ended (successfully or with a trap), after all its callbacks:
    /// a handler that buffers its output writes it here. The default does nothing.
    fn end_of_call(&mut self) {}
    /// Whether the handler's output is gone for good (e.g. the reader of stdout went away): the
    /// `autoconfig-host` runner then stops with its documented exit code. The default is never.
    fn output_broken(&self) -> bool {
        false
    }
    /// A log line from the component (keys in it are masked to their last 4 characters). The
    /// default forwards it to `tracing` with target `autoconfig`.
    fn log(&mut self, level: Level, message: &str) {
        match level {
            Level::Trace => tracing::trace!(target: "autoconfig", "{message}"),
            Level::Debug => tracing::debug!(target: "autoconfig", "{message}"),
            Level::Info => tracing::info!(target: "autoconfig", "{message}"),
            Level::Warn => tracing::warn!(target: "autoconfig", "{message}"),
            Level::Error | Level::Critical => {
                tracing::error!(target: "autoconfig", "{message}")
            }
        }
    }
}
