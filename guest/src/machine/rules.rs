//! The rules: `put` (Rule 1), `patch` (Rule 2), `delete` (Rule 3), upsert (Rule 4) and
//! expiring keys (Rule 7), as written in docs/rules.md. Each decision is a small pure function
//! whose doc comment is the rule's table; the method after it applies the outcome.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering::{Equal, Greater, Less};
use core::fmt;

use super::{Log, Machine, RestartReason, SLOT_OVERHEAD, Slot, log};
use crate::env::{Environment, ExpiringKey};
use crate::handler::Handler;
use crate::wire::{self, DeleteMessage, PatchData, PatchPath, PutMessage};

/// What the machine knows about an environment ID when an update or a delete for it arrives.
#[derive(Clone, Copy)]
enum Known<'a> {
    /// Never seen (or forgotten).
    Nothing,
    /// Live, at `env.version`.
    Live(&'a Environment),
    /// Deleted at this version.
    Tombstone(i64),
}

impl<'a> Known<'a> {
    fn of(slot: Option<&'a Slot>) -> Self {
        match slot {
            None => Known::Nothing,
            Some(Slot::Live { env, .. }) => Known::Live(env),
            Some(Slot::Tombstone(t)) => Known::Tombstone(t.version.get()),
        }
    }
}

/// What a `delete` does (see [`delete_outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeleteOutcome {
    /// Remember the deletion of an unknown ID as a tombstone.
    Remember,
    /// Ignore a delete not newer than what is known.
    IgnoreOutOfOrder,
    /// Nothing to do: the tombstone is at this version.
    AlreadyDeleted,
    /// Raise the tombstone to the delete's version.
    RaiseTombstone,
    /// Remove the live environment and remember its deletion.
    Delete,
}

/// Rule 3 (docs/rules.md): a delete at version `v`, by what is known about its ID (known
/// version `n`). New tombstones count against the limits (Rules 19, 20).
///
/// | known about the ID | `v` vs `n` | outcome            | log   | callback             |
/// |--------------------|------------|--------------------|-------|----------------------|
/// | nothing            | any        | `Remember`         | Debug | none                 |
/// | live at `n`        | `v <= n`   | `IgnoreOutOfOrder` | Info  | none                 |
/// | live at `n`        | `v > n`    | `Delete`           | Info  | `delete-environment` |
/// | tombstone at `n`   | `v < n`    | `IgnoreOutOfOrder` | Info  | none                 |
/// | tombstone at `n`   | `v == n`   | `AlreadyDeleted`   | Debug | none                 |
/// | tombstone at `n`   | `v > n`    | `RaiseTombstone`   | Debug | none                 |
fn delete_outcome(known: Known<'_>, v: i64) -> DeleteOutcome {
    match known {
        Known::Nothing => DeleteOutcome::Remember,
        Known::Live(env) => match v.cmp(&env.version()) {
            Less | Equal => DeleteOutcome::IgnoreOutOfOrder,
            Greater => DeleteOutcome::Delete,
        },
        Known::Tombstone(n) => match v.cmp(&n) {
            Less => DeleteOutcome::IgnoreOutOfOrder,
            Equal => DeleteOutcome::AlreadyDeleted,
            Greater => DeleteOutcome::RaiseTombstone,
        },
    }
}

/// What an environment from a `put` entry or a `patch` does (see [`upsert_outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpsertOutcome {
    /// Store it and call `add-environment`.
    Add,
    /// Replace the live one and call `update-environment`.
    Update,
    /// Ignore a version not newer than what is known; the timer is untouched.
    IgnoreOutOfOrder,
}

/// Rule 4 (docs/rules.md): an environment at version `v`, by what is known about its ID (known
/// version `n`). Versions only go forward; an accepted one replaces the stored one whole.
///
/// | known about the ID | `v` vs `n` | outcome            | log  | callback             |
/// |--------------------|------------|--------------------|------|----------------------|
/// | nothing            | any        | `Add`              | Info | `add-environment`    |
/// | live at `n`        | `v <= n`   | `IgnoreOutOfOrder` | Info | none                 |
/// | live at `n`        | `v > n`    | `Update`           | Info | `update-environment` |
/// | tombstone at `n`   | `v <= n`   | `IgnoreOutOfOrder` | Info | none                 |
/// | tombstone at `n`   | `v > n`    | `Add`              | Info | `add-environment`    |
fn upsert_outcome(known: Known<'_>, v: i64) -> UpsertOutcome {
    match known {
        Known::Nothing => UpsertOutcome::Add,
        Known::Live(env) => match v.cmp(&env.version()) {
            Less | Equal => UpsertOutcome::IgnoreOutOfOrder,
            Greater => UpsertOutcome::Update,
        },
        Known::Tombstone(n) => match v.cmp(&n) {
            Less | Equal => UpsertOutcome::IgnoreOutOfOrder,
            Greater => UpsertOutcome::Add,
        },
    }
}

/// What an accepted version's expiring key does (see [`expiry_outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpiryOutcome {
    /// The key is the current SDK key: it will not expire.
    IsCurrentKey,
    /// Timestamp 0: passed on without a time, never expires by itself.
    NeverExpires,
    /// Already passed while its timer was pending: the timer moves there and fires at the next
    /// tick.
    MovedIntoPast,
    /// Already passed, not pending: dropped.
    AlreadyExpired,
    /// In the future and already pending at that time: nothing new to say.
    StillPending,
    /// In the future: a timer there.
    WillExpire,
}

/// Rule 7 (docs/rules.md): an accepted version's expiring key K with timestamp T, given the
/// timer pending on the env before it (`pending`, as `(due, key)`); the first matching row wins.
/// The first row (no expiring key) is applied by [`Machine::plan_expiry`] before this decides.
///
/// | expiring key  | K pending on the env | outcome          | params      | timer after | log   |
/// |---------------|----------------------|------------------|-------------|-------------|-------|
/// | none          | -                    | -                | none        | none        | Info* |
/// | K = SDK key   | -                    | `IsCurrentKey`   | none        | none        | Info  |
/// | T = 0         | -                    | `NeverExpires`   | `{K, none}` | none        | -     |
/// | T <= now      | yes                  | `MovedIntoPast`  | none        | T           | Info  |
/// | T <= now      | no                   | `AlreadyExpired` | none        | none        | Info  |
/// | T > now       | yes, at T            | `StillPending`   | `{K, T}`    | T           | -     |
/// | T > now       | no, or at another T  | `WillExpire`     | `{K, T}`    | T           | Warn  |
///
/// (*) Only if a timer was pending. A timer at another time than before replaces the pending
/// one; a timer kept at the same time stays as is.
fn expiry_outcome(
    (key, t): (&str, u64),
    sdk_key: &str,
    now: u64,
    pending: Option<&(u64, String)>,
) -> ExpiryOutcome {
    let pending_at = pending.filter(|(_, k)| k == key).map(|(due, _)| *due);
    if key == sdk_key {
        ExpiryOutcome::IsCurrentKey
    } else if t == 0 {
        ExpiryOutcome::NeverExpires
    } else if t <= now {
        match pending_at {
            Some(_) => ExpiryOutcome::MovedIntoPast,
            None => ExpiryOutcome::AlreadyExpired,
        }
    } else if pending_at == Some(t) {
        ExpiryOutcome::StillPending
    } else {
        ExpiryOutcome::WillExpire
    }
}

/// The expiry decided for a newly accepted environment version.
struct ExpiryPlan {
    /// What the handler is told.
    params: Option<ExpiringKey>,
    /// The timer to have pending afterwards.
    timer: Option<u64>,
}

impl ExpiryPlan {
    /// Nothing passed on, no timer.
    const NONE: ExpiryPlan = ExpiryPlan {
        params: None,
        timer: None,
    };
}

/// Where an environment to add or update comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A `put`, whose size was checked as a whole.
    Put,
    /// A `patch`, checked against the state limit on its own.
    Patch,
}

/// Logs malformed data; the stream restarts.
fn malformed(event: &str, error: &dyn fmt::Display, h: &mut impl Log) -> Option<RestartReason> {
    log::malformed(h, event, error);
    Some(RestartReason::MalformedData)
}

impl Machine {
    /// Rule 1: a `put`, the full state, diffed against what is stored.
    pub(super) fn put(&mut self, data: &str, now: u64, h: &mut impl Log) -> Option<RestartReason> {
        let message: PutMessage = match wire::decode(data) {
            Ok(message) => message,
            Err(e) => return malformed("put", &e, h),
        };
        let Some(incoming) = message.environments else {
            return malformed("put", &"no \"data\".\"environments\" object", h);
        };
        if message.path != "/" {
            log::ignored_unknown_path(h, "put", &message.path);
            return None;
        }
        // One ordered walk over both maps (both are sorted by ID) instead of a lookup per ID:
        // an upper bound of the state after the put (each entry it names ends up either as sent
        // or as stored: an older version is ignored, a tombstone kept; the rest is forgotten),
        // and the IDs the put no longer mentions, ascending.
        let mut needed = 0u64;
        let mut forgotten: Vec<String> = Vec::new();
        let mut stored = self.slots.iter().peekable();
        for (id, env) in &incoming {
            let id: &str = id;
            while let Some(slot) = stored.next_if(|s| s.id() < id) {
                forgotten.push(String::from(slot.id()));
            }
            let stored_cost = stored
                .next_if(|s| s.id() == id)
                .map_or(0, |slot| Self::cost(id.len(), slot));
            let sent = SLOT_OVERHEAD + (id.len() + env.strings_len_without_id()) as u64;
            needed = needed.saturating_add(sent.max(stored_cost));
        }
        forgotten.extend(stored.map(|slot| String::from(slot.id())));
        if needed > self.settings.max_state_bytes {
            let reason = alloc::format!(
                "its {} environments would take about {needed} bytes, over the state limit of {}",
                incoming.len(),
                self.settings.max_state_bytes
            );
            return malformed("put", &reason, h);
        }
        log::received_configuration(h, incoming.len());
        for (key, env) in incoming {
            if env.env_id() != &*key {
                log::env_id_mismatch(h, env.env_id(), &key);
                continue;
            }
            self.upsert(env, now, Via::Put, h);
        }
        for id in forgotten {
            if self.remove_live(&id, h) {
                h.delete_environment(&id);
            }
        }
        h.received_all_environments();
        None
    }

    /// Rule 2: a `patch`, one environment; the path alone decides whether `data` is decoded.
    pub(super) fn patch(
        &mut self,
        data: &str,
        now: u64,
        h: &mut impl Log,
    ) -> Option<RestartReason> {
        // Two passes over a (small) patch: a patch for another kind of object is ignored even if
        // its data is not an environment.
        let path = match wire::decode::<PatchPath>(data) {
            Ok(p) => p.path,
            Err(e) => return malformed("patch", &e, h),
        };
        let Some(id) = env_id_from_path(&path) else {
            log::ignored_unknown_path(h, "patch", &path);
            return None;
        };
        let rep = match wire::decode::<PatchData>(data) {
            Ok(p) => p.data,
            Err(e) => return malformed("patch", &e, h),
        };
        if rep.env_id != id {
            log::env_id_mismatch(h, &rep.env_id, id);
            return None;
        }
        self.upsert(Box::new(Environment::from(rep)), now, Via::Patch, h);
        None
    }

    /// Rule 3: a `delete`, decided by [`delete_outcome`].
    pub(super) fn delete(&mut self, data: &str, h: &mut impl Log) -> Option<RestartReason> {
        let message: DeleteMessage = match wire::decode(data) {
            Ok(m) => m,
            Err(e) => return malformed("delete", &e, h),
        };
        let Some(id) = env_id_from_path(&message.path) else {
            log::ignored_unknown_path(h, "delete", &message.path);
            return None;
        };
        let v = message.version;
        let known = Known::of(self.slots.get(id));
        match delete_outcome(known, v) {
            DeleteOutcome::Remember => {
                log::remembering_unknown_deletion(h, id, v);
                self.add_tombstone(id, v, h);
            }
            DeleteOutcome::IgnoreOutOfOrder => match known {
                Known::Live(env) => log::ignored_out_of_order_delete(h, id, env),
                Known::Tombstone(n) => log::ignored_out_of_order_delete_of_deleted(h, id, n),
                Known::Nothing => {} // Not a row of the table: an unknown ID is remembered.
            },
            DeleteOutcome::AlreadyDeleted => log::already_deleted(h, id, v),
            DeleteOutcome::RaiseTombstone => {
                log::stays_deleted(h, id, v);
                if let Some(Slot::Tombstone(t)) = self.slots.get(id) {
                    t.version.set(v);
                }
            }
            DeleteOutcome::Delete => {
                self.remove_live(id, h);
                self.add_tombstone(id, v, h);
                h.delete_environment(id);
            }
        }
        None
    }

    /// Forgets the slot of `id`; if it was live, cancels its timer, logs the removal and returns
    /// true (the caller then calls `delete-environment`). A tombstone goes silently.
    fn remove_live(&mut self, id: &str, h: &mut impl Handler) -> bool {
        let Some(Slot::Live { env, timer }) = self.forget(id) else {
            return false;
        };
        if let Some(due) = Slot::due(&env, timer.get()) {
            self.timers.cancel(due, id);
        }
        log::removed_environment(h, id, &env);
        true
    }

    /// Rule 4: adds or updates `env` as [`upsert_outcome`] decides, with its expiry (Rule 7).
    /// Via a `put`, an environment equal to the stored one is skipped silently (Rule 1). Via a
    /// `patch`, an environment that would take the state over
    /// [`super::Settings::max_state_bytes`] is refused (a `put` checks its whole size up front).
    /// One lookup of the ID before the change and one to store it: this runs for every
    /// environment of a `put`.
    fn upsert(&mut self, env: Box<Environment>, now: u64, via: Via, h: &mut impl Log) {
        let id = env.env_id();
        let stored = self.slots.get(id);
        if via == Via::Put && matches!(stored, Some(Slot::Live { env: known, .. }) if *known == env)
        {
            return;
        }
        let known = Known::of(stored);
        let outcome = upsert_outcome(known, env.version());
        if outcome == UpsertOutcome::IgnoreOutOfOrder {
            match known {
                Known::Live(stored) => log::ignored_out_of_order_update(h, id, stored),
                Known::Tombstone(n) => log::ignored_out_of_order_update_of_deleted(h, id, n),
                Known::Nothing => {} // Not a row of the table: an unknown ID is added.
            }
            return;
        }
        // The timer pending on the stored version and its key, as `(due, key)`.
        let old_timer = match stored {
            Some(Slot::Live { env, timer }) => {
                Slot::due(env, timer.get()).zip(env.expiring().map(|(key, _)| String::from(key)))
            }
            _ => None,
        };
        if via == Via::Patch && self.over_budget(&env) {
            let limit = self.settings.max_state_bytes;
            log::refused_over_state_limit(h, id, env.version(), limit);
            return;
        }
        let plan = self.plan_expiry(&env, now, old_timer.as_ref(), h);
        self.retime(id, old_timer.map(|(due, _)| due), plan.timer);
        let params = env.params(plan.params);
        let is_update = outcome == UpsertOutcome::Update;
        if is_update {
            log::properties_changed(h, id, &env);
        } else {
            log::added_environment(h, id, &env);
        }
        self.store(Slot::live(env, plan.timer));
        if is_update {
            h.update_environment(params);
        } else {
            h.add_environment(params);
        }
    }

    /// Moves the timer of `id` from `old` to `new` (a timer kept at the same time is left as is).
    fn retime(&mut self, id: &str, old: Option<u64>, new: Option<u64>) {
        if old.is_some() && old == new {
            return;
        }
        if let Some(old) = old {
            self.timers.cancel(old, id);
        }
        if let Some(new) = new {
            self.timers.arm(new, id);
        }
    }

    /// Rule 7: what the handler is told about `env`'s expiring key and which timer it needs, as
    /// [`expiry_outcome`] decides. `old` is the timer pending before this version: `(due, key)`.
    fn plan_expiry(
        &self,
        env: &Environment,
        now: u64,
        old: Option<&(u64, String)>,
        h: &mut impl Handler,
    ) -> ExpiryPlan {
        let Some(expiring) = env.expiring() else {
            if let Some((_, key)) = old {
                log::expiry_cancelled(h, key, env);
            }
            return ExpiryPlan::NONE;
        };
        let (key, t) = expiring;
        let passed_on = |expires_at| {
            Some(ExpiringKey {
                key: String::from(key),
                expires_at,
            })
        };
        match expiry_outcome(expiring, env.sdk_key(), now, old) {
            ExpiryOutcome::IsCurrentKey => {
                log::expiring_key_is_current(h, key, env);
                ExpiryPlan::NONE
            }
            ExpiryOutcome::NeverExpires => ExpiryPlan {
                params: passed_on(None),
                timer: None,
            },
            ExpiryOutcome::MovedIntoPast => {
                log::expiry_moved_into_past(h, key, env, t);
                ExpiryPlan {
                    params: None,
                    timer: Some(t),
                }
            }
            ExpiryOutcome::AlreadyExpired => {
                log::already_expired(h, key, env, t);
                ExpiryPlan::NONE
            }
            outcome @ (ExpiryOutcome::StillPending | ExpiryOutcome::WillExpire) => {
                if outcome == ExpiryOutcome::WillExpire {
                    log::will_expire(h, key, env, t);
                }
                ExpiryPlan {
                    params: passed_on(Some(t)),
                    timer: Some(t),
                }
            }
        }
    }
}

/// The environment ID in a `/environments/<id>` path: non-empty, with no further `/`.
fn env_id_from_path(path: &str) -> Option<&str> {
    path.strip_prefix("/environments/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}
