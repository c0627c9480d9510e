//! The state machine: last known environments, version checks, put diffs and expiry timers.
//!
//! This file holds the types, the entry points ([`Machine::on_event`], [`Machine::tick`]) and
//! the state-size accounting with its limits (Rules 19 and 20 of docs/rules.md). The rules
//! themselves (put, patch, delete, upsert, expiring keys: Rules 1-4 and 7) are in `rules.rs`,
//! each decided by a small table; snapshots (Rule 18) in `snapshot.rs`; every log line in
//! `log.rs`; the level filter and the rate limits of repeated log lines (Rule 9) in `limit.rs`.

// The slots are a set ordered by environment ID; the `Cell`s in them (a timer flag, a tombstone's
// version) never take part in the order.
#![allow(clippy::mutable_key_type)]

mod limit;
mod log;
mod rules;
mod snapshot;

use alloc::boxed::Box;
use alloc::collections::{BTreeSet, VecDeque};
use alloc::string::String;
use core::borrow::Borrow;
use core::cell::Cell;
use core::cmp::Ordering;

use crate::env::Environment;
use crate::handler::{Handler, Level};
use crate::timers::Timers;
pub(crate) use limit::{Filtered, Kind, Limiter, Log};
pub use limit::{LINES_PER_WINDOW, WINDOW_MS};

pub use relay_autoconfig_types::{
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_STATE_BYTES, DEFAULT_MAX_TOMBSTONES,
};
/// The estimated memory of one remembered environment ID besides its strings: the map entry,
/// the record and allocator overhead. See [`Machine::state_bytes`].
const SLOT_OVERHEAD: u64 = 512;

/// The machine's settings (the WIT `settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Event data longer than this is malformed and not parsed.
    pub max_message_bytes: u64,
    /// Log lines below this level are neither formatted nor passed to [`Handler::log`].
    pub log_level: Level,
    /// At most this many deleted environment IDs are remembered; past it the oldest deletion is
    /// forgotten.
    pub max_tombstones: u32,
    /// The estimated size of the state may not exceed this many bytes: a `patch` that would
    /// take it over is refused, a `put` over it is malformed, and deletions are forgotten,
    /// oldest first, to make room.
    pub max_state_bytes: u64,
}

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

/// Why the host must restart the stream (the WIT `restart-reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartReason {
    /// The server sent `reconnect`.
    ReconnectRequested,
    /// The event's data could not be decoded; the state is unchanged.
    MalformedData,
}

/// What the host must do after an event (the WIT `directive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Directive {
    /// Restart the stream, and why.
    pub restart: Option<RestartReason>,
    /// When `tick` is next needed (ms since the Unix epoch).
    pub next_deadline: Option<u64>,
}

/// What the machine remembers about one environment ID, and the ID itself.
///
/// Slots are ordered, compared and found (through `Borrow<str>`) by their ID alone, so the
/// machine keeps them in a set that works as a map by ID and holds each ID once (a live
/// environment's is in the environment). Small, as a `BTree` filled in ascending order (as a
/// `put` fills it) keeps its nodes about half full: the environment and the tombstone are boxed.
#[derive(Debug, Clone)]
enum Slot {
    /// A live environment, and whether its expiry timer is pending (due at the timestamp of
    /// `env.expiring()`, for that key; see [`Slot::due`]).
    ///
    /// The flag is a `Cell` so that firing the timer changes it in place: the slots are a set
    /// ordered by ID, which gives no `&mut` to its entries.
    Live {
        env: Box<Environment>,
        timer: Cell<bool>,
    },
    /// A deleted environment.
    Tombstone(Box<Tombstone>),
}

/// A deleted environment ID, remembered by the version of the delete so that older updates stay
/// rejected.
#[derive(Debug, Clone)]
struct Tombstone {
    id: Box<str>,
    /// A `Cell`, raised in place (see `Slot::Live`).
    version: Cell<i64>,
    /// Orders tombstones by age (see `Machine::tombstone_order`).
    seq: u64,
}

// Two words: a tag and a box (each one slot per environment ID, in nodes half full).
const _: () = assert!(core::mem::size_of::<Slot>() <= 2 * core::mem::size_of::<usize>());

impl Slot {
    /// A live environment with a timer pending at `timer`, if any, which is always the
    /// timestamp of its expiring key.
    fn live(env: Box<Environment>, timer: Option<u64>) -> Slot {
        debug_assert!(timer.is_none() || timer == env.expiring().map(|(_, at)| at));
        Slot::Live {
            env,
            timer: Cell::new(timer.is_some()),
        }
    }

    /// When the pending timer of a live environment is due.
    fn due(env: &Environment, timer: bool) -> Option<u64> {
        env.expiring().filter(|_| timer).map(|(_, at)| at)
    }

    /// The environment ID.
    fn id(&self) -> &str {
        match self {
            Slot::Live { env, .. } => env.env_id(),
            Slot::Tombstone(t) => &t.id,
        }
    }

    /// A new tombstone.
    fn tombstone(id: &str, version: i64, seq: u64) -> Slot {
        Slot::Tombstone(Box::new(Tombstone {
            id: Box::from(id),
            version: Cell::new(version),
            seq,
        }))
    }

    /// The tombstone's `seq`, if this is a tombstone.
    fn tombstone_seq(&self) -> Option<u64> {
        match self {
            Slot::Live { .. } => None,
            Slot::Tombstone(t) => Some(t.seq),
        }
    }
}

impl Borrow<str> for Slot {
    fn borrow(&self) -> &str {
        self.id()
    }
}

impl PartialEq for Slot {
    /// Same ID (for the set of slots only).
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Slot {}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Slot {
    /// By ID, as `str`s compare (for the set of slots only).
    fn cmp(&self, other: &Self) -> Ordering {
        self.id().cmp(other.id())
    }
}

/// The auto-configuration state machine. Sans-IO: it never reads a clock; every entry point
/// takes `now` in wall-clock ms since the Unix epoch.
#[derive(Debug, Default, Clone)]
pub struct Machine {
    /// By ID (see [`Slot`]).
    slots: BTreeSet<Slot>,
    timers: Timers,
    settings: Settings,
    /// Tombstones oldest first, as `(seq, id)`; an entry whose slot no longer carries that `seq`
    /// is stale and skipped.
    tombstone_order: VecDeque<(u64, String)>,
    /// How many slots are tombstones.
    tombstones: usize,
    /// The next tombstone's `seq`.
    next_seq: u64,
    /// The estimated size of the state, in bytes (see [`Machine::state_bytes`]).
    state_bytes: u64,
    /// Tombstones forgotten over the limits so far.
    evicted: u64,
    /// Events seen so far.
    counters: Counters,
    /// The rate limits of repeated log lines, for the machine and its stream client.
    limiter: Limiter,
}

/// What a machine has seen since it was created (the WIT `counters`); not part of snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// `put` events.
    pub put_events: u64,
    /// `patch` events.
    pub patch_events: u64,
    /// `delete` events.
    pub delete_events: u64,
    /// `reconnect` events.
    pub reconnect_events: u64,
    /// Events with any other name.
    pub other_events: u64,
    /// `put`, `patch` and `delete` events that were malformed or over the size limit.
    pub malformed_events: u64,
    /// The `now` of the last event.
    pub last_event_at: Option<u64>,
}

impl Machine {
    /// A machine with no environments and default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the settings; later events use them.
    pub fn configure(&mut self, settings: Settings) {
        self.settings = settings;
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// The earliest time `tick` is needed, if a timer is pending.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.next_deadline()
    }

    /// The live environments, by ascending ID.
    pub fn environments(&self) -> impl Iterator<Item = &Environment> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Live { env, .. } => Some(&**env),
            Slot::Tombstone(_) => None,
        })
    }

    /// The version remembered for `env_id`, live or deleted.
    pub fn version_of(&self, env_id: &str) -> Option<i64> {
        self.slots.get(env_id).map(|slot| match slot {
            Slot::Live { env, .. } => env.version(),
            Slot::Tombstone(t) => t.version.get(),
        })
    }

    /// How many expiry timers are pending.
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// How many deleted environment IDs are remembered.
    pub fn tombstones(&self) -> usize {
        self.tombstones
    }

    /// Runs `f` with the log side of one call at `now` (the level filter and the rate limits of
    /// `limit.rs`), sending the summaries of suppressed lines due at `now` first. Every entry
    /// point of the machine and of the stream client goes through here once; `f` must call the
    /// inner methods ([`Machine::event`], [`Machine::fire`]), not the entry points.
    pub(crate) fn logging<H: Handler, T>(
        &mut self,
        h: &mut H,
        now: u64,
        f: impl FnOnce(&mut Machine, &mut Filtered<'_, H>) -> T,
    ) -> T {
        // Taken out for the call, as the rules borrow the whole machine; put back after.
        let mut limiter = core::mem::take(&mut self.limiter);
        let log = &mut Filtered::limited_by(h, self.settings.log_level, &mut limiter, now);
        let out = f(self, log);
        self.limiter = limiter;
        out
    }

    /// Handles one SSE event. Never panics, whatever `name` and `data` hold.
    pub fn on_event(
        &mut self,
        name: &str,
        data: &str,
        now: u64,
        h: &mut impl Handler,
    ) -> Directive {
        self.logging(h, now, |m, h| m.event(name, data, now, h))
    }

    /// [`Machine::on_event`] within a call's log side (the stream client's events).
    pub(crate) fn event(
        &mut self,
        name: &str,
        data: &str,
        now: u64,
        h: &mut impl Log,
    ) -> Directive {
        log::received_event(h, name, data.len());
        self.count(name, now);
        let restart = match name {
            "put" | "patch" | "delete" if data.len() as u64 > self.settings.max_message_bytes => {
                log::oversized(h, name, data.len(), self.settings.max_message_bytes);
                Some(RestartReason::MalformedData)
            }
            "put" => self.put(data, now, h),
            "patch" => self.patch(data, now, h),
            "delete" => self.delete(data, h),
            "reconnect" => {
                log::reconnect_requested(h);
                Some(RestartReason::ReconnectRequested)
            }
            other => {
                log::unrecognized_event(h, other);
                None
            }
        };
        if restart == Some(RestartReason::MalformedData) {
            self.counters.malformed_events += 1;
        }
        Directive {
            restart,
            next_deadline: self.next_deadline(),
        }
    }

    /// Counts an event by name.
    fn count(&mut self, name: &str, now: u64) {
        let c = &mut self.counters;
        let slot = match name {
            "put" => &mut c.put_events,
            "patch" => &mut c.patch_events,
            "delete" => &mut c.delete_events,
            "reconnect" => &mut c.reconnect_events,
            _ => &mut c.other_events,
        };
        *slot = slot.saturating_add(1);
        c.last_event_at = Some(now);
    }

    /// What this machine has seen since it was created.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Fires every expiry timer due at `now`, in due order (ties by env ID), and returns the
    /// next deadline. Harmless to call early, late or repeatedly.
    pub fn tick(&mut self, now: u64, h: &mut impl Handler) -> Option<u64> {
        self.logging(h, now, |m, h| m.fire(now, h))
    }

    /// [`Machine::tick`] within a call's log side (the stream client's timeouts).
    pub(crate) fn fire(&mut self, now: u64, h: &mut impl Log) -> Option<u64> {
        while let Some((due, env_id)) = self.timers.pop_due(now) {
            let id = env_id.as_str();
            let Some(Slot::Live { env, timer }) = self.slots.get(id) else {
                continue;
            };
            if Slot::due(env, timer.get()) != Some(due) {
                continue;
            }
            timer.set(false);
            let Some((key, _)) = env.expiring() else {
                continue;
            };
            log::key_expired(h, &env_id, env, key);
            h.key_expired(&env_id, key);
        }
        self.next_deadline()
    }

    // State-size accounting and limits (Rules 19 and 20).

    /// The estimated size of the state in bytes: per environment ID, a fixed overhead for the
    /// map entry and the record plus the length of every string (a tombstone: the overhead and
    /// its ID twice, once in the map and once in the age queue). [`Settings::max_state_bytes`]
    /// bounds it.
    pub fn state_bytes(&self) -> u64 {
        self.state_bytes
    }

    /// The estimated cost of one slot whose ID is `id_len` bytes long.
    fn cost(id_len: usize, slot: &Slot) -> u64 {
        let rest = match slot {
            Slot::Live { env, .. } => env.strings_len_without_id(),
            Slot::Tombstone(_) => id_len,
        };
        SLOT_OVERHEAD + (id_len + rest) as u64
    }

    /// The estimated cost of the slot stored under `id`, 0 if none.
    fn stored_cost(&self, id: &str) -> u64 {
        self.slots
            .get(id)
            .map_or(0, |slot| Self::cost(id.len(), slot))
    }

    /// Whether storing `env` live (replacing what its ID holds) would take the state over
    /// [`Settings::max_state_bytes`].
    fn over_budget(&self, env: &Environment) -> bool {
        let id = env.env_id();
        let new = SLOT_OVERHEAD + (id.len() + env.strings_len_without_id()) as u64;
        self.state_bytes
            .saturating_sub(self.stored_cost(id))
            .saturating_add(new)
            > self.settings.max_state_bytes
    }

    /// Updates the counters for a slot that enters or leaves the state.
    fn account(&mut self, id_len: usize, slot: &Slot, enters: bool) {
        let cost = Self::cost(id_len, slot);
        let tombstone = usize::from(matches!(slot, Slot::Tombstone(_)));
        if enters {
            self.state_bytes = self.state_bytes.saturating_add(cost);
            self.tombstones += tombstone;
        } else {
            self.state_bytes = self.state_bytes.saturating_sub(cost);
            self.tombstones = self.tombstones.saturating_sub(tombstone);
        }
    }

    /// Stores `slot` under its ID, keeping the counters; returns the slot it replaced.
    fn store(&mut self, slot: Slot) -> Option<Slot> {
        let id_len = slot.id().len();
        self.account(id_len, &slot, true);
        let old = self.slots.replace(slot);
        if let Some(old) = &old {
            self.account(id_len, old, false);
        }
        old
    }

    /// Removes the slot of `id`, keeping the counters.
    fn forget(&mut self, id: &str) -> Option<Slot> {
        let old = self.slots.take(id);
        if let Some(old) = &old {
            self.account(id.len(), old, false);
        }
        old
    }

    /// Remembers the deletion of `id` at `version` as a new tombstone, then forgets the oldest
    /// tombstones while over either limit.
    fn add_tombstone(&mut self, id: &str, version: i64, h: &mut impl Handler) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.store(Slot::tombstone(id, version, seq));
        self.tombstone_order.push_back((seq, String::from(id)));
        self.enforce_limits(h);
    }

    /// Forgets the oldest tombstones while there are too many or the state is too big.
    fn enforce_limits(&mut self, h: &mut impl Handler) {
        let before = self.evicted;
        while self.tombstones > self.settings.max_tombstones as usize
            || (self.state_bytes > self.settings.max_state_bytes && self.tombstones > 0)
        {
            let Some((seq, id)) = self.tombstone_order.pop_front() else {
                break;
            };
            if self.slots.get(id.as_str()).and_then(Slot::tombstone_seq) == Some(seq) {
                self.forget(&id);
                self.evicted += 1;
            }
        }
        let evicted = self.evicted - before;
        if evicted > 0 && (before == 0 || before / 10_000 != self.evicted / 10_000) {
            let s = &self.settings;
            log::forgot_tombstones(
                h,
                evicted,
                s.max_tombstones,
                s.max_state_bytes,
                self.evicted,
            );
        }
        // Stale age entries (tombstones since revived or forgotten) are dropped once they
        // outnumber the live ones, so the queue stays within twice the tombstones.
        if self.tombstone_order.len() > 2 * self.tombstones + 1024 {
            let slots = &self.slots;
            self.tombstone_order.retain(|(seq, id)| {
                slots.get(id.as_str()).and_then(Slot::tombstone_seq) == Some(*seq)
            });
        }
    }

    /// Recomputes the counters from scratch and checks them (tests only).
    #[cfg(test)]
    pub(crate) fn check_counters(&self) {
        let tombstones = self
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Tombstone(_)))
            .count();
        let bytes: u64 = self
            .slots
            .iter()
            .map(|slot| Self::cost(slot.id().len(), slot))
            .sum();
        assert_eq!(self.tombstones, tombstones, "tombstone count");
        assert_eq!(self.state_bytes, bytes, "state bytes");
        assert!(self.tombstone_order.len() <= 2 * self.tombstones + 1025);
        for slot in &self.slots {
            if let Slot::Tombstone(t) = slot {
                let id = &*t.id;
                assert!(
                    self.tombstone_order
                        .iter()
                        .any(|(s, i)| *s == t.seq && i == id),
                    "tombstone {id} is in the age queue"
                );
            }
        }
    }
}
