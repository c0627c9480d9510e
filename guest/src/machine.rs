//! The state machine: last known environments, version checks, put diffs and expiry timers.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::env::{Environment, ExpiringKey};
use crate::handler::{Handler, Level};
use crate::mask::{Last4, Quoted, Safe};
use crate::timers::Timers;
use crate::timestamp::Rfc3339;
use crate::wire::{self, DeleteMessage, PatchData, PatchPath, PutMessage};

/// The default limit on event data: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 16 * 1024 * 1024;

/// The machine's settings (the WIT `settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Event data longer than this is malformed and not parsed.
    pub max_message_bytes: u64,
    /// Log lines below this level are neither formatted nor passed to [`Handler::log`].
    pub log_level: Level,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            log_level: Level::Debug,
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
    /// stay rejected.
    Tombstone { version: i64 },
}

/// The auto-configuration state machine. Sans-IO: it never reads a clock; every entry point
/// takes `now` in wall-clock ms since the Unix epoch.
#[derive(Debug, Default, Clone)]
pub struct Machine {
    slots: BTreeMap<String, Slot>,
    timers: Timers,
    settings: Settings,
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
            Slot::Tombstone { version } => *version,
        })
    }

    /// How many expiry timers are pending.
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
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
            self.upsert(env, now, h);
        }
        for id in forgotten {
            match self.slots.remove(&id) {
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
        self.upsert(Environment::from(rep), now, h);
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
                self.slots
                    .insert(String::from(id), Slot::Tombstone { version });
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
            Some(Slot::Tombstone { version: known }) if version == *known => {
                h.log(
                    Level::Debug,
                    format_args!(
                        "Environment {} was already deleted at version {version}",
                        Safe(id)
                    ),
                );
            }
            Some(Slot::Tombstone { version: known }) if version < *known => {
                h.log(
                    Level::Info,
                    format_args!(
                        "Ignoring out-of-order delete for environment {} (deleted at version {known})",
                        Safe(id)
                    ),
                );
            }
            Some(Slot::Tombstone { version: known }) => {
                h.log(
                    Level::Debug,
                    format_args!(
                        "Environment {} stays deleted, now at version {version}",
                        Safe(id)
                    ),
                );
                *known = version;
            }
            Some(slot @ Slot::Live { .. }) => {
                let previous = core::mem::replace(slot, Slot::Tombstone { version });
                if let Slot::Live { env, timer } = previous {
                    if let Some(due) = timer {
                        self.timers.cancel(due, id);
                    }
                    h.log(
                        Level::Info,
                        format_args!("Removed environment {} {}", Safe(id), Names(&env)),
                    );
                }
                h.delete_environment(id);
            }
        }
        None
    }

    /// Adds or updates `env` if its version is new enough (rule 4), managing its expiry timer.
    fn upsert(&mut self, env: Environment, now: u64, h: &mut impl Handler) {
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
            Some(Slot::Tombstone { version }) if env.version <= *version => {
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
        self.slots.insert(
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

/// The environment ID in a `/environments/<id>` path: non-empty, with no further `/`.
fn env_id_from_path(path: &str) -> Option<&str> {
    path.strip_prefix("/environments/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}
