//! What the proxy was told: a copy of every environment the callbacks delivered, kept by the
//! driver so that a component that traps can be brought back to exactly that state.
//!
//! Measured against the alternatives (see the README's performance notes): keeping this copy
//! costs one clone of the record per `add`/`update` callback and nothing for unchanged
//! environments, where taking a snapshot after every event would serialise the whole state each
//! time. The copy is turned into a snapshot ([`relay_autoconfig::snapshot`]) only after a trap.

use std::collections::HashMap;

use relay_autoconfig::snapshot::{self, SnapEnv, SnapExpiring, SnapState};

use crate::handler::EnvironmentParams;

/// One environment as last delivered.
struct Told {
    params: EnvironmentParams,
    /// Its expiring key's `key-expired` was delivered.
    expired: bool,
}

/// The environments the handler was told about, by ID.
#[derive(Default)]
pub struct Mirror {
    envs: HashMap<String, Told>,
}

impl Mirror {
    /// `add-environment` or `update-environment` was delivered.
    pub fn told(&mut self, params: &EnvironmentParams) {
        self.envs.insert(
            params.env_id.clone(),
            Told {
                params: params.clone(),
                expired: false,
            },
        );
    }

    /// `delete-environment` was delivered.
    pub fn deleted(&mut self, env_id: &str) {
        self.envs.remove(env_id);
    }

    /// `key-expired` was delivered.
    pub fn expired(&mut self, env_id: &str) {
        if let Some(told) = self.envs.get_mut(env_id) {
            told.expired = true;
        }
    }

    /// How many environments the proxy has.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Whether the proxy has none.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// Forgets everything (the state was lost and the handler told so).
    pub fn clear(&mut self) {
        self.envs.clear();
    }

    /// A snapshot of exactly what the proxy was told: live environments with the expiring keys
    /// they were given (still pending unless `key-expired` came), no tombstones.
    pub fn snapshot(&self, last_event_id: Option<&str>) -> Vec<u8> {
        let mut environments: Vec<SnapEnv> = self
            .envs
            .values()
            .map(|told| {
                let p = &told.params;
                SnapEnv {
                    env_id: p.env_id.clone(),
                    env_key: p.env_key.clone(),
                    env_name: p.env_name.clone(),
                    proj_key: p.project_key.clone(),
                    proj_name: p.project_name.clone(),
                    sdk_key: p.sdk_key.clone(),
                    mob_key: p.mobile_key.clone(),
                    expiring: p.expiring_sdk_key.as_ref().map(|x| SnapExpiring {
                        key: x.key.clone(),
                        timestamp: x.expires_at.unwrap_or(0),
                    }),
                    default_ttl: p.default_ttl_minutes,
                    secure_mode: p.secure_mode,
                    version: p.version,
                    timer_pending: !told.expired
                        && p.expiring_sdk_key
                            .as_ref()
                            .is_some_and(|x| x.expires_at.is_some_and(|t| t > 0)),
                }
            })
            .collect();
        environments.sort_by(|a, b| a.env_id.cmp(&b.env_id));
        snapshot::encode(&SnapState {
            environments,
            tombstones: Vec::new(),
            last_event_id: last_event_id.map(String::from),
        })
    }
}
