//! What the state machine calls: the proxy's five callbacks and a log sink.

use core::fmt;

use crate::env::EnvironmentParams;

/// Severity of a log line (a subset of `wasi:logging`'s levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail useful when debugging: every event received, ignored duplicates.
    Debug,
    /// Normal operation: environments added, changed, removed; events ignored by rule.
    Info,
    /// Suspicious but handled: mismatched IDs, unknown events, keys about to expire.
    Warn,
    /// Bad data from the stream: the event was rejected and the stream must restart.
    Error,
}

/// The receiver of the machine's callbacks. Calls are made synchronously from
/// [`crate::Machine::on_event`] and [`crate::Machine::tick`], in a deterministic order.
pub trait Handler {
    /// A new environment (never seen, or deleted and now back with a higher version).
    fn add_environment(&mut self, params: EnvironmentParams);
    /// A known environment changed (a strictly higher version).
    fn update_environment(&mut self, params: EnvironmentParams);
    /// An environment was deleted.
    fn delete_environment(&mut self, env_id: &str);
    /// A valid `put` was fully processed.
    fn received_all_environments(&mut self);
    /// The expiring SDK key `old_key` of `env_id` has expired.
    fn key_expired(&mut self, env_id: &str, old_key: &str);
    /// A log line. Keys in it are already masked to their last 4 characters, and every value
    /// from the wire in it is escaped and cut short, so its length is bounded; repeated lines
    /// are rate-limited before they get here (Rule 9 of docs/rules.md).
    fn log(&mut self, level: Level, message: fmt::Arguments<'_>);
}
