//! Rule 18 (docs/rules.md): the whole state as a snapshot, and its checked restore.

use alloc::string::String;
use alloc::vec::Vec;

use super::{Filtered, Machine, Slot, log};
use crate::env::{Environment, ExpiringKey, WireExpiry};
use crate::handler::Handler;
use crate::mask::Quoted;
use crate::snapshot::{self, SnapEnv, SnapExpiring, SnapState, SnapTombstone, SnapshotError};

impl Machine {
    /// The whole state in the snapshot format ([`crate::snapshot`]), with the stream's last
    /// event id.
    pub fn snapshot(&self, last_event_id: Option<&str>) -> Vec<u8> {
        let mut state = SnapState {
            last_event_id: last_event_id.map(String::from),
            ..SnapState::default()
        };
        for slot in self.slots.values() {
            if let Slot::Live { env, timer } = slot {
                state.environments.push(snap_env(env, timer.is_some()));
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
        for env in state.environments {
            // An empty ID is legal (a put may key an environment by ""); a repeated one is not.
            if fresh.slots.contains_key(&env.env_id) {
                return Err(invalid(alloc::format!(
                    "environment {} appears twice",
                    Quoted(&env.env_id)
                )));
            }
            let timer = pending_timer(&env)?;
            let id = env.env_id.clone();
            if let Some(due) = timer {
                fresh.timers.arm(due, &id);
            }
            let env = environment(env);
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
            let version = t.version;
            fresh.store(t.env_id, Slot::Tombstone { version, seq });
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
            for slot in self.slots.values() {
                if let Slot::Live { env, timer } = slot {
                    h.add_environment(env.params(announced_expiry(env, *timer)));
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
    env.expiring.as_ref().and_then(|x| {
        let shown = timer.is_some() || (x.timestamp == 0 && x.key != env.sdk_key);
        shown.then(|| ExpiringKey {
            key: x.key.clone(),
            expires_at: timer.map(|_| x.timestamp),
        })
    })
}

/// A live environment in the snapshot format.
fn snap_env(env: &Environment, timer_pending: bool) -> SnapEnv {
    SnapEnv {
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
        timer_pending,
    }
}

/// A snapshot's live environment, as stored.
fn environment(env: SnapEnv) -> Environment {
    Environment {
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
    }
}
