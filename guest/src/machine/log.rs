//! Every log line of the machine, one function each, in the order of docs/rules.md (Rule 9:
//! levels, masking, escaping and rate limits). The texts are part of the behaviour: tests match
//! them.
//!
//! Lines are built with `format_args!`, so one below the handler's level (see `Filtered`) or
//! suppressed by its rate limit is never formatted. Every value from the wire is shown through
//! `Safe`, `Quoted` (names, ids, paths: 120 characters at most), `Last4` (keys) or `SafeMessage`
//! (decoder errors: 200 characters at most), so every line has a bounded length whatever the
//! input. The functions taking `impl Log` are rate-limited: one [`Kind`] each, for lines an
//! upstream can repeat without changing any state (see `limit.rs`); the others report changes
//! and are never limited.

use core::fmt;

use super::{Kind, Log};
use crate::env::Environment;
use crate::handler::{Handler, Level};
use crate::mask::{Last4, Quoted, Safe, SafeMessage};
use crate::timestamp::Rfc3339;

/// The `(project name, env name)` pair shown after an env ID in log lines.
struct Names<'a>(&'a Environment);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({} {})",
            Safe(self.0.project_name()),
            Safe(self.0.env_name())
        )
    }
}

// Any event (Rules 5, 6, 8).

/// Debug: every event received, never its data. Limited.
pub(super) fn received_event(h: &mut impl Log, name: &str, data_len: usize) {
    h.limited(
        Kind::ReceivedEvent,
        Level::Debug,
        format_args!(
            "Received {} event ({} bytes of data)",
            Quoted(name),
            data_len
        ),
    );
}

/// Error: a `put`, `patch` or `delete` whose data is over `max_message_bytes` (Rule 8).
pub(super) fn oversized(h: &mut impl Handler, name: &str, data_len: usize, limit: u64) {
    h.log(
        Level::Error,
        format_args!(
            "Received streaming {} event with malformed JSON data ({data_len} bytes, over the limit of {limit}); will restart stream",
            Quoted(name)
        ),
    );
}

/// Error: malformed data; the stream restarts. `error` (a decoder message) is cut at 200
/// characters.
pub(super) fn malformed(h: &mut impl Handler, event: &str, error: &dyn fmt::Display) {
    h.log(
        Level::Error,
        format_args!(
            "Received streaming {} event with malformed JSON data ({}); will restart stream",
            Quoted(event),
            SafeMessage(error)
        ),
    );
}

/// Info: `reconnect` (Rule 5).
pub(super) fn reconnect_requested(h: &mut impl Handler) {
    h.log(
        Level::Info,
        format_args!(
            "Will restart auto-configuration stream to get new data due to a policy change"
        ),
    );
}

/// Warn: any other event name (Rule 6). Limited.
pub(super) fn unrecognized_event(h: &mut impl Log, name: &str) {
    h.limited(
        Kind::UnrecognizedEvent,
        Level::Warn,
        format_args!("Ignoring unrecognized stream event: {}", Quoted(name)),
    );
}

// put, patch and delete (Rules 1-3).

/// Info: a `put`, `patch` or `delete` whose path names no environment (or, for `put`, is not
/// `/`). Limited.
pub(super) fn ignored_unknown_path(h: &mut impl Log, event: &'static str, path: &str) {
    h.limited(
        Kind::IgnoredUnknownPath,
        Level::Info,
        format_args!(
            "Ignoring \"{event}\" event for unknown path {}",
            Quoted(path)
        ),
    );
}

/// Info: a valid `put` with `count` environments (Rule 1).
pub(super) fn received_configuration(h: &mut impl Handler, count: usize) {
    h.log(
        Level::Info,
        format_args!("Received configuration for {count} environment(s)"),
    );
}

/// Warn: a put entry or patch whose `envId` is not its key. Limited.
pub(super) fn env_id_mismatch(h: &mut impl Log, env_id: &str, key: &str) {
    h.limited(
        Kind::EnvIdMismatch,
        Level::Warn,
        format_args!(
            "Ignoring environment data whose envId {} did not match key {}",
            Quoted(env_id),
            Quoted(key)
        ),
    );
}

/// Info: a live environment removed by a `put` that no longer names it or by a `delete`.
pub(super) fn removed_environment(h: &mut impl Handler, id: &str, env: &Environment) {
    h.log(
        Level::Info,
        format_args!("Removed environment {} {}", Safe(id), Names(env)),
    );
}

/// Debug: a `delete` of an ID never seen, remembered as a tombstone (Rule 3).
pub(super) fn remembering_unknown_deletion(h: &mut impl Handler, id: &str, version: i64) {
    h.log(
        Level::Debug,
        format_args!(
            "Remembering deletion of unknown environment {} at version {version}",
            Safe(id)
        ),
    );
}

/// Info: a `delete` not newer than the live environment (Rule 3). Limited.
pub(super) fn ignored_out_of_order_delete(h: &mut impl Log, id: &str, env: &Environment) {
    h.limited(
        Kind::IgnoredOutOfOrderDelete,
        Level::Info,
        format_args!(
            "Ignoring out-of-order delete for environment {} {}",
            Safe(id),
            Names(env)
        ),
    );
}

/// Info: a `delete` older than the tombstone (Rule 3). Limited.
pub(super) fn ignored_out_of_order_delete_of_deleted(h: &mut impl Log, id: &str, deleted_at: i64) {
    h.limited(
        Kind::IgnoredOutOfOrderDeleteOfDeleted,
        Level::Info,
        format_args!(
            "Ignoring out-of-order delete for environment {} (deleted at version {deleted_at})",
            Safe(id)
        ),
    );
}

/// Debug: a `delete` at the tombstone's version (Rule 3). Limited.
pub(super) fn already_deleted(h: &mut impl Log, id: &str, version: i64) {
    h.limited(
        Kind::AlreadyDeleted,
        Level::Debug,
        format_args!(
            "Environment {} was already deleted at version {version}",
            Safe(id)
        ),
    );
}

/// Debug: a `delete` newer than the tombstone, which is raised to its version (Rule 3).
pub(super) fn stays_deleted(h: &mut impl Handler, id: &str, version: i64) {
    h.log(
        Level::Debug,
        format_args!(
            "Environment {} stays deleted, now at version {version}",
            Safe(id)
        ),
    );
}

// Upsert (Rules 4 and 20).

/// Info: an update not newer than the live environment `known` (Rule 4). Limited.
pub(super) fn ignored_out_of_order_update(h: &mut impl Log, id: &str, known: &Environment) {
    h.limited(
        Kind::IgnoredOutOfOrderUpdate,
        Level::Info,
        format_args!(
            "Ignoring out-of-order update for environment {} {}",
            Safe(id),
            Names(known)
        ),
    );
}

/// Info: an update not newer than the tombstone (Rule 4). Limited.
pub(super) fn ignored_out_of_order_update_of_deleted(h: &mut impl Log, id: &str, deleted_at: i64) {
    h.limited(
        Kind::IgnoredOutOfOrderUpdateOfDeleted,
        Level::Info,
        format_args!(
            "Ignoring out-of-order update for environment {} (deleted at version {deleted_at})",
            Safe(id)
        ),
    );
}

/// Error: a patched environment that would take the state over its limit (Rule 20). Limited.
pub(super) fn refused_over_state_limit(h: &mut impl Log, id: &str, version: i64, limit: u64) {
    h.limited(
        Kind::RefusedOverStateLimit,
        Level::Error,
        format_args!(
            "Refusing environment {} version {version}: the state would take more than {limit} bytes; it is not served",
            Safe(id)
        ),
    );
}

/// Info: an accepted update of a live environment (Rule 4).
pub(super) fn properties_changed(h: &mut impl Handler, id: &str, env: &Environment) {
    h.log(
        Level::Info,
        format_args!(
            "Properties have changed for environment {} {}",
            Safe(id),
            Names(env)
        ),
    );
}

/// Info: an accepted environment that was not live (Rule 4).
pub(super) fn added_environment(h: &mut impl Handler, id: &str, env: &Environment) {
    h.log(
        Level::Info,
        format_args!("Added environment {} {}", Safe(id), Names(env)),
    );
}

// Expiring keys (Rule 7). `env` is the accepted version; `key` the expiring key.

/// Info: the new version has no expiring key; the pending expiry of `key` is cancelled.
pub(super) fn expiry_cancelled(h: &mut impl Handler, key: &str, env: &Environment) {
    h.log(
        Level::Info,
        format_args!(
            "Old SDK key ending in {} for environment {} {} is no longer expiring; its expiry was cancelled",
            Last4(key),
            Safe(env.env_id()),
            Names(env)
        ),
    );
}

/// Info: the expiring key is the current SDK key.
pub(super) fn expiring_key_is_current(h: &mut impl Handler, key: &str, env: &Environment) {
    h.log(
        Level::Info,
        format_args!(
            "Expiring SDK key ending in {} for environment {} {} is its current SDK key; it will not expire",
            Last4(key),
            Safe(env.env_id()),
            Names(env)
        ),
    );
}

/// Info: a pending expiry moved to `at`, already passed: it fires at the next tick.
pub(super) fn expiry_moved_into_past(h: &mut impl Handler, key: &str, env: &Environment, at: u64) {
    h.log(
        Level::Info,
        format_args!(
            "Old SDK key ending in {} for environment {} {} now expires at {}, already passed",
            Last4(key),
            Safe(env.env_id()),
            Names(env),
            Rfc3339(at)
        ),
    );
}

/// Info: a key that expired at `at`, already passed, and was not pending.
pub(super) fn already_expired(h: &mut impl Handler, key: &str, env: &Environment, at: u64) {
    h.log(
        Level::Info,
        format_args!(
            "Old SDK key ending in {} for environment {} {} already expired at {}; not passing it on",
            Last4(key),
            Safe(env.env_id()),
            Names(env),
            Rfc3339(at)
        ),
    );
}

/// Warn: a timer is armed at `at`.
pub(super) fn will_expire(h: &mut impl Handler, key: &str, env: &Environment, at: u64) {
    h.log(
        Level::Warn,
        format_args!(
            "Old SDK key ending in {} for environment {} {} will expire at {}",
            Last4(key),
            Safe(env.env_id()),
            Names(env),
            Rfc3339(at)
        ),
    );
}

/// Warn: a timer fired (`tick`); `key-expired` follows.
pub(super) fn key_expired(h: &mut impl Handler, id: &str, env: &Environment, key: &str) {
    h.log(
        Level::Warn,
        format_args!(
            "Old SDK key ending in {} for environment {} {} has expired",
            Last4(key),
            Safe(id),
            Names(env)
        ),
    );
}

// Snapshots and bounds (Rules 18-20).

/// Warn: tombstones forgotten over the limits, at the first eviction and once per 10,000.
pub(super) fn forgot_tombstones(
    h: &mut impl Handler,
    evicted: u64,
    max_tombstones: u32,
    max_state_bytes: u64,
    forgotten_so_far: u64,
) {
    h.log(
        Level::Warn,
        format_args!(
            "Forgot the oldest {evicted} deleted environment ID(s) to stay within {max_tombstones} tombstones and {max_state_bytes} bytes of state ({forgotten_so_far} forgotten so far); a late update for a forgotten ID would be accepted"
        ),
    );
}

/// Warn: a restored snapshot over the state limit, kept whole.
pub(super) fn restored_over_state_limit(h: &mut impl Handler, state_bytes: u64, limit: u64) {
    h.log(
        Level::Warn,
        format_args!(
            "The restored state takes about {state_bytes} bytes, over the state limit of {limit}; new environments are refused until it shrinks"
        ),
    );
}

/// Info: a snapshot restored.
pub(super) fn restored(
    h: &mut impl Handler,
    environments: usize,
    tombstones: usize,
    timers: usize,
) {
    h.log(
        Level::Info,
        format_args!(
            "Restored {environments} environment(s), {tombstones} deletion(s) and {timers} pending expiry(ies) from a snapshot"
        ),
    );
}
