//! Rule 18 (docs/rules.md): the whole state as a snapshot, and its checked restore.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Filtered, Machine, Slot, log};
use crate::env::{Environment, ExpiringKey, Parts};
use crate::handler::Handler;
use crate::mask::Quoted;
use crate::snapshot::{self, SnapEnv, SnapExpiring, SnapTombstone, SnapshotError};

impl Machine {
    /// The whole state in the snapshot format ([`crate::snapshot`]), with the stream's last
    /// event id. Written element by element into one buffer of the exact size: a snapshot needs
    /// its own size in memory next to the state, never a copy of the state as well.
    pub fn snapshot(&self, last_event_id: Option<&str>) -> Vec<u8> {
        snapshot::encode_parts(&Snap {
            machine: self,
            last_event_id,
        })
    }

    /// The length of [`Machine::snapshot`], counted without building it.
    pub fn snapshot_len(&self, last_event_id: Option<&str>) -> usize {
        snapshot::encoded_len(&Snap {
            machine: self,
            last_event_id,
        })
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
        for env in state.environments {
            // An empty ID is legal (a put may key an environment by ""); a repeated one is not.
            if fresh.slots.contains(env.env_id.as_str()) {
                return Err(invalid(alloc::format!(
                    "environment {} appears twice",
                    Quoted(&env.env_id)
                )));
            }
            let timer = pending_timer(&env)?;
            if let Some(due) = timer {
                fresh.timers.arm(due, &env.env_id);
            }
            let env = Box::new(environment(&env));
            fresh.store(Slot::live(env, timer));
        }
        for t in state.tombstones {
            if t.env_id.is_empty() || fresh.slots.contains(t.env_id.as_str()) {
                return Err(invalid(alloc::format!(
                    "tombstone {} is empty, repeated or also live",
                    Quoted(&t.env_id)
                )));
            }
            let seq = fresh.next_seq;
            fresh.next_seq += 1;
            fresh.store(Slot::tombstone(&t.env_id, t.version, seq));
            fresh.tombstone_order.push_back((seq, t.env_id));
        }
        let h = &mut Filtered::new(h, self.settings.log_level);
        fresh.enforce_limits(h);
        if fresh.state_bytes > fresh.settings.max_state_bytes {
            // A snapshot taken under a larger limit: kept whole (it is what the proxy has), and
            // new environments are refused until the state shrinks.
            log::restored_over_state_limit(h, fresh.state_bytes, fresh.settings.max_state_bytes);
        }
        // The rate limits of repeated log lines go on (they are not part of the state).
        fresh.limiter = core::mem::take(&mut self.limiter);
        *self = fresh;
        let environments = self.environments().count();
        log::restored(h, environments, self.tombstones, self.timers.len());
        if announce {
            for slot in &self.slots {
                if let Slot::Live { env, timer } = slot {
                    let timer = Slot::due(env, timer.get());
                    h.add_environment(env.params(announced_expiry(env, timer)));
                }
            }
            h.received_all_environments();
        }
        Ok(state.last_event_id)
    }
}

/// A restore error: the snapshot is well-formed but inconsistent.
fn invalid(why: String) -> SnapshotError {
    SnapshotError::Invalid(why)
}

/// The timer a restored environment has pending: only with a non-empty expiring key other than
/// its SDK key, and a timestamp.
fn pending_timer(env: &SnapEnv) -> Result<Option<u64>, SnapshotError> {
    if let Some(x) = &env.expiring
        && x.key.is_empty()
    {
        return Err(invalid(alloc::format!(
            "environment {} has an empty expiring key",
            Quoted(&env.env_id)
        )));
    }
    match (&env.expiring, env.timer_pending) {
        (Some(x), true) if x.timestamp > 0 && x.key != env.sdk_key => Ok(Some(x.timestamp)),
        (_, true) => Err(invalid(alloc::format!(
            "environment {} has a pending expiry without an expiring key and time",
            Quoted(&env.env_id)
        ))),
        (_, false) => Ok(None),
    }
}

/// What `add-environment` is told about a restored environment's expiring key: what Rule 7
/// told the handler when the version was accepted (an untimed key, or a pending one).
fn announced_expiry(env: &Environment, timer: Option<u64>) -> Option<ExpiringKey> {
    env.expiring().and_then(|(key, timestamp)| {
        let shown = timer.is_some() || (timestamp == 0 && key != env.sdk_key());
        shown.then(|| ExpiringKey {
            key: String::from(key),
            expires_at: timer.map(|_| timestamp),
        })
    })
}

/// A live environment in the snapshot format.
/// The machine's state as snapshot [`snapshot::Parts`]: each environment converted when it is
/// visited, one at a time.
struct Snap<'a> {
    machine: &'a Machine,
    last_event_id: Option<&'a str>,
}

impl snapshot::Parts for Snap<'_> {
    fn environments(&self, f: &mut dyn FnMut(&SnapEnv)) {
        for slot in &self.machine.slots {
            if let Slot::Live { env, timer } = slot {
                f(&snap_env(env, timer.get()));
            }
        }
    }

    fn tombstones(&self, f: &mut dyn FnMut(&SnapTombstone)) {
        for (seq, id) in &self.machine.tombstone_order {
            if let Some(Slot::Tombstone(t)) = self.machine.slots.get(id.as_str())
                && t.seq == *seq
            {
                f(&SnapTombstone {
                    env_id: id.clone(),
                    version: t.version.get(),
                });
            }
        }
    }

    fn last_event_id(&self) -> Option<&str> {
        self.last_event_id
    }
}

fn snap_env(env: &Environment, timer_pending: bool) -> SnapEnv {
    let p = env.parts();
    SnapEnv {
        env_id: p.env_id.into(),
        env_key: p.env_key.into(),
        env_name: p.env_name.into(),
        proj_key: p.project_key.into(),
        proj_name: p.project_name.into(),
        sdk_key: p.sdk_key.into(),
        mob_key: p.mobile_key.into(),
        expiring: p.expiring.map(|(key, timestamp)| SnapExpiring {
            key: key.into(),
            timestamp,
        }),
        default_ttl: p.default_ttl_minutes,
        secure_mode: p.secure_mode,
        version: p.version,
        timer_pending,
    }
}

/// A snapshot's live environment, as stored.
fn environment(env: &SnapEnv) -> Environment {
    Environment::new(Parts {
        env_id: &env.env_id,
        env_key: &env.env_key,
        env_name: &env.env_name,
        project_key: &env.proj_key,
        project_name: &env.proj_name,
        sdk_key: &env.sdk_key,
        mobile_key: &env.mob_key,
        expiring: env.expiring.as_ref().map(|x| (&*x.key, x.timestamp)),
        default_ttl_minutes: env.default_ttl,
        secure_mode: env.secure_mode,
        version: env.version,
    })
}
