//! The state machine: last known environments, version checks, put diffs and expiry timers.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::env::WireExpiry;
use crate::env::{Environment, ExpiringKey};
use crate::handler::{Handler, Level};
use crate::mask::{Last4, Quoted, Safe};
use crate::snapshot::{self, SnapEnv, SnapExpiring, SnapState, SnapTombstone, SnapshotError};
use crate::timers::Timers;
use crate::timestamp::Rfc3339;
use crate::wire::{self, DeleteMessage, PatchData, PatchPath, PutMessage};

/// The default limit on event data: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 16 * 1024 * 1024;
/// The default limit on remembered deletions (tombstones).
pub const DEFAULT_MAX_TOMBSTONES: u32 = 100_000;
/// The default limit on the estimated size of the state: 192 MiB, so that even a `put` that
/// replaces a full state stays well inside a 512 MiB memory limit.
pub const DEFAULT_MAX_STATE_BYTES: u64 = 192 * 1024 * 1024;
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

/// Passes every callback through, and log lines at `min` or above.
pub(crate) struct Filtered<'a, H> {
    inner: &'a mut H,
    min: Level,
}

impl<'a, H> Filtered<'a, H> {
    /// Wraps `inner`, letting log lines at `min` or above through.
    pub(crate) fn new(inner: &'a mut H, min: Level) -> Self {
        Filtered { inner, min }
    }
}

impl<H: Handler> Handler for Filtered<'_, H> {
    fn add_environment(&mut self, params: crate::EnvironmentParams) {
        self.inner.add_environment(params);
    }
    fn update_environment(&mut self, params: crate::EnvironmentParams) {
        self.inner.update_environment(params);
    }
    fn delete_environment(&mut self, env_id: &str) {
        self.inner.delete_environment(env_id);
    }
    fn received_all_environments(&mut self) {
        self.inner.received_all_environments();
    }
    fn key_expired(&mut self, env_id: &str, old_key: &str) {
        self.inner.key_expired(env_id, old_key);
    }
    fn log(&mut self, level: Level, message: fmt::Arguments<'_>) {
        if level >= self.min {
            self.inner.log(level, message);
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

/// What the machine remembers about one environment ID.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every slot is live; boxing would cost an allocation per environment"
)]
enum Slot {
    /// A live environment and the due time of its pending expiry timer, if any (the timer's
    /// key is `env.expiring`'s).
    Live {
        env: Environment,
        timer: Option<u64>,
    },
    /// A deleted environment, remembered by the version of the delete so that older updates
    /// stay rejected. `seq` orders tombstones by age (see `Machine::tombstone_order`).
    Tombstone { version: i64, seq: u64 },
}

/// The auto-configuration state machine. Sans-IO: it never reads a clock; every entry point
/// takes `now` in wall-clock ms since the Unix epoch.
#[derive(Debug, Default, Clone)]
pub struct Machine {
    slots: BTreeMap<String, Slot>,
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
}

/// The `(project name, env name)` pair shown after an env ID in log lines.
struct Names<'a>(&'a Environment);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({} {})",
            Safe(&self.0.project_name),
            Safe(&self.0.env_name)
        )
    }
}

/// The expiry decided for a newly accepted environment version.
struct ExpiryPlan {
    /// What the handler is told.
    params: Option<ExpiringKey>,
    /// The timer to have pending afterwards.
    timer: Option<u64>,
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
        self.slots.values().filter_map(|slot| match slot {
            Slot::Live { env, .. } => Some(env),
            Slot::Tombstone { .. } => None,
        })
    }

    /// The version remembered for `env_id`, live or deleted.
    pub fn version_of(&self, env_id: &str) -> Option<i64> {
        self.slots.get(env_id).map(|slot| match slot {
            Slot::Live { env, .. } => env.version,
            Slot::Tombstone { version, .. } => *version,
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
            Slot::Live { env, .. } => env_bytes(env),
            Slot::Tombstone { .. } => id_len,
        };
        SLOT_OVERHEAD + (id_len + rest) as u64
    }

    /// Updates the counters for a slot that enters or leaves the state.
    fn account(&mut self, id_len: usize, slot: &Slot, enters: bool) {
        let cost = Self::cost(id_len, slot);
        let tombstone = usize::from(matches!(slot, Slot::Tombstone { .. }));
        if enters {
            self.state_bytes = self.state_bytes.saturating_add(cost);
            self.tombstones += tombstone;
        } else {
            self.state_bytes = self.state_bytes.saturating_sub(cost);
            self.tombstones = self.tombstones.saturating_sub(tombstone);
        }
    }

    /// Stores `slot` under `id`, keeping the counters; returns the slot it replaced.
    fn store(&mut self, id: String, slot: Slot) -> Option<Slot> {
        let id_len = id.len();
        self.account(id_len, &slot, true);
        let old = self.slots.insert(id, slot);
        if let Some(old) = &old {
            self.account(id_len, old, false);
        }
        old
    }

    /// Removes the slot of `id`, keeping the counters.
    fn forget(&mut self, id: &str) -> Option<Slot> {
        let old = self.slots.remove(id);
        if let Some(old) = &old {
            self.account(id.len(), old, false);
        }
        old
    }

    /// The whole state in the snapshot format ([`crate::snapshot`]), with the stream's last
    /// event id.
    pub fn snapshot(&self, last_event_id: Option<&str>) -> Vec<u8> {
        let mut state = SnapState {
            last_event_id: last_event_id.map(String::from),
            ..SnapState::default()
        };
        for slot in self.slots.values() {
            if let Slot::Live { env, timer } = slot {
                state.environments.push(SnapEnv {
                    env_id: env.env_id.clone(),
                    env_key: env.env_key.clone(),
                    env_name: env.env_name.clone(),
                    proj_key: env.project_key.clone(),
                    proj_name: env.project_name.clone(),
                    sdk_key: env.sdk_key.clone(),
                    mob_key: env.mobile_key.clone(),
                    expiring: env.expiring.as_ref().map(|x| SnapExpiring {
                        key: x.key.clone(),
                        timestamp: x.timestamp,
                    }),
                    default_ttl: env.default_ttl_minutes,
                    secure_mode: env.secure_mode,
                    version: env.version,
                    timer_pending: timer.is_some(),
                });
            }
        }
        for (seq, id) in &self.tombstone_order {
            if let Some(Slot::Tombstone { version, seq: s }) = self.slots.get(id)
                && s == seq
            {
                state.tombstones.push(SnapTombstone {
                    env_id: id.clone(),
                    version: *version,
                });
            }
        }
        snapshot::encode(&state)
    }

    /// Replaces the whole state with a snapshot's (the settings are kept). Everything is
    /// validated first: on any error the state is unchanged and nothing is called. Silent unless
    /// `announce`, which then calls `add-environment` for every live environment (by ascending
    /// ID) and `received-all-environments`. Returns the snapshot's last event id.
    pub fn restore(
        &mut self,
        bytes: &[u8],
        announce: bool,
        h: &mut impl Handler,
    ) -> Result<Option<String>, SnapshotError> {
        let state = snapshot::decode(bytes)?;
        let mut fresh = Machine {
            settings: self.settings,
            ..Machine::default()
        };
        let invalid = |why: String| SnapshotError::Invalid(why);
        for env in state.environments {
            // An empty ID is legal (a put may key an environment by ""); a repeated one is not.
            if fresh.slots.contains_key(&env.env_id) {
                return Err(invalid(alloc::format!(
                    "environment {} appears twice",
                    Quoted(&env.env_id)
                )));
            }
            if let Some(x) = &env.expiring
                && x.key.is_empty()
            {
                return Err(invalid(alloc::format!(
                    "environment {} has an empty expiring key",
                    Quoted(&env.env_id)
                )));
            }
            let timer = match (&env.expiring, env.timer_pending) {
                (Some(x), true) if x.timestamp > 0 && x.key != env.sdk_key => Some(x.timestamp),
                (_, true) => {
                    return Err(invalid(alloc::format!(
                        "environment {} has a pending expiry without an expiring key and time",
                        Quoted(&env.env_id)
                    )));
                }
                (_, false) => None,
            };
            let id = env.env_id.clone();
            if let Some(due) = timer {
                fresh.timers.arm(due, &id);
            }
            let env = Environment {
                env_id: env.env_id,
                env_key: env.env_key,
                env_name: env.env_name,
                project_key: env.proj_key,
                project_name: env.proj_name,
                sdk_key: env.sdk_key,
                mobile_key: env.mob_key,
                expiring: env.expiring.map(|x| WireExpiry {
                    key: x.key,
                    timestamp: x.timestamp,
                }),
                default_ttl_minutes: env.default_ttl,
                secure_mode: env.secure_mode,
                version: env.version,
            };
            fresh.store(id, Slot::Live { env, timer });
        }
        for t in state.tombstones {
            if t.env_id.is_empty() || fresh.slots.contains_key(&t.env_id) {
                return Err(invalid(alloc::format!(
                    "tombstone {} is empty, repeated or also live",
                    Quoted(&t.env_id)
                )));
            }
            let seq = fresh.next_seq;
            fresh.next_seq += 1;
            fresh.tombstone_order.push_back((seq, t.env_id.clone()));
            fresh.store(
                t.env_id,
                Slot::Tombstone {
                    version: t.version,
                    seq,
                },
            );
        }
        let h = &mut Filtered::new(h, self.settings.log_level);
        fresh.enforce_limits(h);
        if fresh.state_bytes > fresh.settings.max_state_bytes {
            // A snapshot taken under a larger limit: kept whole (it is what the proxy has), and
            // new environments are refused until the state shrinks.
            h.log(
                Level::Warn,
                format_args!(
                    "The restored state takes about {} bytes, over the state limit of {}; new environments are refused until it shrinks",
                    fresh.state_bytes, fresh.settings.max_state_bytes
                ),
            );
        }
        *self = fresh;
        h.log(
            Level::Info,
            format_args!(
                "Restored {} environment(s), {} deletion(s) and {} pending expiry(ies) from a snapshot",
                self.environments().count(),
                self.tombstones,
                self.timers.len()
            ),
        );
        if announce {
            for slot in self.slots.values() {
                if let Slot::Live { env, timer } = slot {
                    let expiring = env.expiring.as_ref().and_then(|x| {
                        let shown = timer.is_some() || (x.timestamp == 0 && x.key != env.sdk_key);
                        shown.then(|| ExpiringKey {
                            key: x.key.clone(),
                            expires_at: timer.map(|_| x.timestamp),
                        })
                    });
                    h.add_environment(env.params(expiring));
                }
            }
            h.received_all_environments();
        }
        Ok(state.last_event_id)
    }

    /// Recomputes the counters from scratch and checks them (tests only).
    #[cfg(test)]
    pub(crate) fn check_counters(&self) {
        let tombstones = self
            .slots
            .values()
            .filter(|s| matches!(s, Slot::Tombstone { .. }))
            .count();
        let bytes: u64 = self
            .slots
            .iter()
            .map(|(id, slot)| Self::cost(id.len(), slot))
            .sum();
        assert_eq!(self.tombstones, tombstones, "tombstone count");
        assert_eq!(self.state_bytes, bytes, "state bytes");
        assert!(self.tombstone_order.len() <= 2 * self.tombstones + 1025);
        for (id, slot) in &self.slots {
            if let Slot::Tombstone { seq, .. } = slot {
                assert!(
                    self.tombstone_order
                        .iter()
                        .any(|(s, i)| s == seq && i == id),
                    "tombstone {id} is in the age queue"
                );
            }
        }
    }

    /// Remembers the deletion of `id` at `version` as a new tombstone, then forgets the oldest
    /// tombstones while over either limit.
    fn add_tombstone(&mut self, id: &str, version: i64, h: &mut impl Handler) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.store(String::from(id), Slot::Tombstone { version, seq });
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
            if matches!(self.slots.get(&id), Some(Slot::Tombstone { seq: s, .. }) if *s == seq) {
                self.forget(&id);
                self.evicted += 1;
            }
        }
        let evicted = self.evicted - before;
        if evicted > 0 && (before == 0 || before / 10_000 != self.evicted / 10_000) {
            h.log(
                Level::Warn,
                format_args!(
                    "Forgot the oldest {evicted} deleted environment ID(s) to stay within {} tombstones and {} bytes of state ({} forgotten so far); a late update for a forgotten ID would be accepted",
                    self.settings.max_tombstones,
                    self.settings.max_state_bytes,
                    self.evicted
                ),
            );
        }
        // Stale age entries (tombstones since revived or forgotten) are dropped once they
        // outnumber the live ones, so the queue stays within twice the tombstones.
        if self.tombstone_order.len() > 2 * self.tombstones + 1024 {
            let slots = &self.slots;
            self.tombstone_order.retain(|(seq, id)| {
                matches!(slots.get(id), Some(Slot::Tombstone { seq: s, .. }) if s == seq)
            });
        }
    }

    /// Handles one SSE event. Never panics, whatever `name` and `data` hold.
    pub fn on_event(
        &mut self,
        name: &str,
        data: &str,
        now: u64,
        h: &mut impl Handler,
    ) -> Directive {
        let h = &mut Filtered {
            inner: h,
            min: self.settings.log_level,
        };
        h.log(
            Level::Debug,
            format_args!(
                "Received {} event ({} bytes of data)",
                Quoted(name),
                data.len()
            ),
        );
        let restart = match name {
            "put" | "patch" | "delete" if data.len() as u64 > self.settings.max_message_bytes => {
                h.log(
                    Level::Error,
                    format_args!(
                        "Received streaming {name:?} event with malformed JSON data ({} bytes, over the limit of {}); will restart stream",
                        data.len(),
                        self.settings.max_message_bytes
                    ),
                );
                Some(RestartReason::MalformedData)
            }
            "put" => self.put(data, now, h),
            "patch" => self.patch(data, now, h),
            "delete" => self.delete(data, h),
            "reconnect" => {
                h.log(
                    Level::Info,
                    format_args!("Will restart auto-configuration stream to get new data due to a policy change"),
                );
                Some(RestartReason::ReconnectRequested)
            }
            other => {
                h.log(
                    Level::Warn,
                    format_args!("Ignoring unrecognized stream event: {}", Quoted(other)),
                );
                None
            }
        };
        Directive {
            restart,
            next_deadline: self.next_deadline(),
        }
    }

    /// Fires every expiry timer due at `now`, in due order (ties by env ID), and returns the
    /// next deadline. Harmless to call early, late or repeatedly.
    pub fn tick(&mut self, now: u64, h: &mut impl Handler) -> Option<u64> {
        let h = &mut Filtered {
            inner: h,
            min: self.settings.log_level,
        };
        while let Some((due, env_id)) = self.timers.pop_due(now) {
            let Some(Slot::Live { env, timer }) = self.slots.get_mut(&env_id) else {
                continue;
            };
            if *timer != Some(due) {
                continue;
            }
            *timer = None;
            let Some(expiring) = &env.expiring else {
                continue;
            };
            h.log(
                Level::Warn,
                format_args!(
                    "Old SDK key ending in {} for environment {} {} has expired",
                    Last4(&expiring.key),
                    Safe(&env_id),
                    Names(env)
                ),
            );
            h.key_expired(&env_id, &expiring.key);
        }
        self.next_deadline()
    }

    fn malformed(
        event: &str,
        error: &dyn fmt::Display,
        h: &mut impl Handler,
    ) -> Option<RestartReason> {
        h.log(
            Level::Error,
            format_args!("Received streaming {event:?} event with malformed JSON data ({error}); will restart stream"),
        );
        Some(RestartReason::MalformedData)
    }

    fn put(&mut self, data: &str, now: u64, h: &mut impl Handler) -> Option<RestartReason> {
        let message: PutMessage = match wire::decode(data) {
            Ok(message) => message,
            Err(e) => return Self::malformed("put", &e, h),
        };
        let Some(incoming) = message.environments else {
            return Self::malformed("put", &"no \"data\".\"environments\" object", h);
        };
        if message.path != "/" {
            h.log(
                Level::Info,
                format_args!(
                    "Ignoring \"put\" event for unknown path {}",
                    Quoted(&message.path)
                ),
            );
            return None;
        }
        // An upper bound of the state after the put: each entry it names ends up either as sent
        // or as stored (an older version is ignored, a tombstone kept); the rest is forgotten.
        let needed: u64 = incoming
            .iter()
            .map(|(id, rep)| {
                let sent = SLOT_OVERHEAD + (id.len() + wire_env_bytes(rep)) as u64;
                let stored = self
                    .slots
                    .get(id)
                    .map_or(0, |slot| Self::cost(id.len(), slot));
                sent.max(stored)
            })
            .sum();
        if needed > self.settings.max_state_bytes {
            let reason = alloc::format!(
                "its {} environments would take about {needed} bytes, over the state limit of {}",
                incoming.len(),
                self.settings.max_state_bytes
            );
            return Self::malformed("put", &reason, h);
        }
        h.log(
            Level::Info,
            format_args!(
                "Received configuration for {} environment(s)",
                incoming.len()
            ),
        );
        // Both maps are sorted: the IDs the put no longer mentions, ascending.
        let forgotten: Vec<String> = self
            .slots
            .keys()
            .filter(|id| !incoming.contains_key(*id))
            .cloned()
            .collect();
        for (key, rep) in incoming {
            if rep.env_id != key {
                h.log(
                    Level::Warn,
                    format_args!(
                        "Ignoring environment data whose envId {} did not match key {}",
                        Quoted(&rep.env_id),
                        Quoted(&key)
                    ),
                );
                continue;
            }
            let env = Environment::from(rep);
            if matches!(self.slots.get(&key), Some(Slot::Live { env: known, .. }) if *known == env)
            {
                continue;
            }
            self.upsert(env, now, false, h);
        }
        for id in forgotten {
            match self.forget(&id) {
                Some(Slot::Live { env, timer }) => {
                    if let Some(due) = timer {
                        self.timers.cancel(due, &id);
                    }
                    h.log(
                        Level::Info,
                        format_args!("Removed environment {} {}", Safe(&id), Names(&env)),
                    );
                    h.delete_environment(&id);
                }
                Some(Slot::Tombstone { .. }) | None => {}
            }
        }
        h.received_all_environments();
        None
    }

    fn patch(&mut self, data: &str, now: u64, h: &mut impl Handler) -> Option<RestartReason> {
        // Two passes over a (small) patch: the path alone decides whether `data` is decoded at
        // all, so a patch for another kind of object is ignored even if its data is not an
        // environment (rule 2).
        let path = match wire::decode::<PatchPath>(data) {
            Ok(p) => p.path,
            Err(e) => return Self::malformed("patch", &e, h),
        };
        let Some(id) = env_id_from_path(&path) else {
            h.log(
                Level::Info,
                format_args!(
                    "Ignoring \"patch\" event for unknown path {}",
                    Quoted(&path)
                ),
            );
            return None;
        };
        let rep = match wire::decode::<PatchData>(data) {
            Ok(p) => p.data,
            Err(e) => return Self::malformed("patch", &e, h),
        };
        if rep.env_id != id {
            h.log(
                Level::Warn,
                format_args!(
                    "Ignoring environment data whose envId {} did not match key {}",
                    Quoted(&rep.env_id),
                    Quoted(id)
                ),
            );
            return None;
        }
        self.upsert(Environment::from(rep), now, true, h);
        None
    }

    fn delete(&mut self, data: &str, h: &mut impl Handler) -> Option<RestartReason> {
        let message: DeleteMessage = match wire::decode(data) {
            Ok(m) => m,
            Err(e) => return Self::malformed("delete", &e, h),
        };
        let Some(id) = env_id_from_path(&message.path) else {
            h.log(
                Level::Info,
                format_args!(
                    "Ignoring \"delete\" event for unknown path {}",
                    Quoted(&message.path)
                ),
            );
            return None;
        };
        let version = message.version;
        match self.slots.get_mut(id) {
            None => {
                h.log(
                    Level::Debug,
                    format_args!(
                        "Remembering deletion of unknown environment {} at version {version}",
                        Safe(id)
                    ),
                );
                self.add_tombstone(id, version, h);
            }
            Some(Slot::Live { env, .. }) if version <= env.version => {
                h.log(
                    Level::Info,
                    format_args!(
                        "Ignoring out-of-order delete for environment {} {}",
                        Safe(id),
                        Names(env)
                    ),
                );
            }
            Some(Slot::Tombstone { version: known, .. }) if version == *known => {
                h.log(
                    Level::Debug,
                    format_args!(
                        "Environment {} was already deleted at version {version}",
                        Safe(id)
                    ),
                );
            }
            Some(Slot::Tombstone { version: known, .. }) if version < *known => {
                h.log(
                    Level::Info,
                    format_args!(
                        "Ignoring out-of-order delete for environment {} (deleted at version {known})",
                        Safe(id)
                    ),
                );
            }
            Some(Slot::Tombstone { version: known, .. }) => {
                h.log(
                    Level::Debug,
                    format_args!(
                        "Environment {} stays deleted, now at version {version}",
                        Safe(id)
                    ),
                );
                *known = version;
            }
            Some(Slot::Live { .. }) => {
                let previous = self.forget(id);
                if let Some(Slot::Live { env, timer }) = previous {
                    if let Some(due) = timer {
                        self.timers.cancel(due, id);
                    }
                    h.log(
                        Level::Info,
                        format_args!("Removed environment {} {}", Safe(id), Names(&env)),
                    );
                }
                self.add_tombstone(id, version, h);
                h.delete_environment(id);
            }
        }
        None
    }

    /// Adds or updates `env` if its version is new enough (rule 4), managing its expiry timer.
    /// With `check_budget`, an environment that would take the state over
    /// [`Settings::max_state_bytes`] is refused (a `put` checks its whole size up front).
    fn upsert(&mut self, env: Environment, now: u64, check_budget: bool, h: &mut impl Handler) {
        let id = env.env_id.clone();
        let (is_update, old_timer) = match self.slots.get(&id) {
            Some(Slot::Live { env: known, .. }) if env.version <= known.version => {
                h.log(
                    Level::Info,
                    format_args!(
                        "Ignoring out-of-order update for environment {} {}",
                        Safe(&id),
                        Names(known)
                    ),
                );
                return;
            }
            Some(Slot::Tombstone { version, .. }) if env.version <= *version => {
                h.log(
                    Level::Info,
                    format_args!(
                        "Ignoring out-of-order update for environment {} (deleted at version {version})",
                        Safe(&id)
                    ),
                );
                return;
            }
            Some(Slot::Live { env: known, timer }) => {
                let old = timer.zip(known.expiring.as_ref().map(|x| x.key.clone()));
                (true, old)
            }
            Some(Slot::Tombstone { .. }) | None => (false, None),
        };
        if check_budget {
            let old = self
                .slots
                .get(&id)
                .map_or(0, |slot| Self::cost(id.len(), slot));
            let new = SLOT_OVERHEAD + (id.len() + env_bytes(&env)) as u64;
            if self.state_bytes.saturating_sub(old).saturating_add(new)
                > self.settings.max_state_bytes
            {
                h.log(
                    Level::Error,
                    format_args!(
                        "Refusing environment {} version {}: the state would take more than {} bytes; it is not served",
                        Safe(&id),
                        env.version,
                        self.settings.max_state_bytes
                    ),
                );
                return;
            }
        }
        let plan = self.plan_expiry(&env, now, old_timer.as_ref(), h);
        match (old_timer, plan.timer) {
            (Some((old_due, _)), Some(new_due)) if old_due == new_due => {}
            (old, new) => {
                if let Some((old_due, _)) = old {
                    self.timers.cancel(old_due, &id);
                }
                if let Some(new_due) = new {
                    self.timers.arm(new_due, &id);
                }
            }
        }
        let params = env.params(plan.params);
        if is_update {
            h.log(
                Level::Info,
                format_args!(
                    "Properties have changed for environment {} {}",
                    Safe(&id),
                    Names(&env)
                ),
            );
        } else {
            h.log(
                Level::Info,
                format_args!("Added environment {} {}", Safe(&id), Names(&env)),
            );
        }
        self.store(
            id,
            Slot::Live {
                env,
                timer: plan.timer,
            },
        );
        if is_update {
            h.update_environment(params);
        } else {
            h.add_environment(params);
        }
    }

    /// Decides what the handler is told about `env`'s expiring key and which timer it needs
    /// (rule 7). `old` is the timer pending before this version: `(due, key)`.
    fn plan_expiry(
        &self,
        env: &Environment,
        now: u64,
        old: Option<&(u64, String)>,
        h: &mut impl Handler,
    ) -> ExpiryPlan {
        let none = ExpiryPlan {
            params: None,
            timer: None,
        };
        let Some(expiring) = &env.expiring else {
            if let Some((_, key)) = old {
                h.log(
                    Level::Info,
                    format_args!(
                        "Old SDK key ending in {} for environment {} {} is no longer expiring; its expiry was cancelled",
                        Last4(key),
                        Safe(&env.env_id),
                        Names(env)
                    ),
                );
            }
            return none;
        };
        let key = &expiring.key;
        let same_key_pending = old.filter(|(_, old_key)| old_key == key);
        if *key == env.sdk_key {
            h.log(
                Level::Info,
                format_args!(
                    "Expiring SDK key ending in {} for environment {} {} is its current SDK key; it will not expire",
                    Last4(key),
                    Safe(&env.env_id),
                    Names(env)
                ),
            );
            return none;
        }
        if expiring.timestamp == 0 {
            return ExpiryPlan {
                params: Some(ExpiringKey {
                    key: key.clone(),
                    expires_at: None,
                }),
                timer: None,
            };
        }
        if expiring.timestamp <= now {
            if same_key_pending.is_some() {
                // Its expiry moved into the past while still pending: it expires at the next tick.
                h.log(
                    Level::Info,
                    format_args!(
                        "Old SDK key ending in {} for environment {} {} now expires at {}, already passed",
                        Last4(key),
                        Safe(&env.env_id),
                        Names(env),
                        Rfc3339(expiring.timestamp)
                    ),
                );
                return ExpiryPlan {
                    params: None,
                    timer: Some(expiring.timestamp),
                };
            }
            h.log(
                Level::Info,
                format_args!(
                    "Old SDK key ending in {} for environment {} {} already expired at {}; not passing it on",
                    Last4(key),
                    Safe(&env.env_id),
                    Names(env),
                    Rfc3339(expiring.timestamp)
                ),
            );
            return none;
        }
        if same_key_pending.map(|(due, _)| *due) != Some(expiring.timestamp) {
            h.log(
                Level::Warn,
                format_args!(
                    "Old SDK key ending in {} for environment {} {} will expire at {}",
                    Last4(key),
                    Safe(&env.env_id),
                    Names(env),
                    Rfc3339(expiring.timestamp)
                ),
            );
        }
        ExpiryPlan {
            params: Some(ExpiringKey {
                key: key.clone(),
                expires_at: Some(expiring.timestamp),
            }),
            timer: Some(expiring.timestamp),
        }
    }
}

/// The bytes of a decoded environment's strings, its ID aside (as [`env_bytes`]).
fn wire_env_bytes(w: &wire::WireEnv) -> usize {
    w.env_key.len()
        + w.env_name.len()
        + w.proj_key.len()
        + w.proj_name.len()
        + w.sdk_key.value.len()
        + w.mob_key.len()
        + w.sdk_key.expiring.value.len()
}

/// The bytes of an environment's strings, its ID aside.
fn env_bytes(env: &Environment) -> usize {
    env.env_key.len()
        + env.env_name.len()
        + env.project_key.len()
        + env.project_name.len()
        + env.sdk_key.len()
        + env.mobile_key.len()
        + env.expiring.as_ref().map_or(0, |x| x.key.len())
}

/// The environment ID in a `/environments/<id>` path: non-empty, with no further `/`.
fn env_id_from_path(path: &str) -> Option<&str> {
    path.strip_prefix("/environments/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}
