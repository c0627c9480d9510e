//! What the proxy was told: a copy of every environment the callbacks delivered, kept by the
//! driver so that a component that traps can be brought back to exactly that state.
//!
//! Measured against the alternatives (see the README's performance notes): keeping this copy
//! costs one small allocation per `add`/`update` callback and nothing for unchanged
//! environments, where taking a snapshot after every event would serialise the whole state each
//! time. Each entry packs its strings into one buffer (one allocation instead of eight), which
//! brought the cost from about 15 % to a few per cent of a 10,000-environment put. The copy is
//! turned into a snapshot ([`relay_autoconfig_types::snapshot`]) only after a trap.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use relay_autoconfig_types::snapshot::{self, SnapEnv, SnapExpiring, SnapState};

use crate::{EnvironmentParams, ExpiringKey};

/// The strings of an entry, in this order, packed into one buffer.
const STRINGS: usize = 8;

/// One environment as last delivered.
struct Told {
    /// env id, env key, env name, project key, project name, SDK key, mobile key, expiring key.
    strings: Box<str>,
    /// Where each string ends in `strings`.
    ends: [u32; STRINGS],
    /// Whether it has an expiring key (the last string).
    has_expiring: bool,
    /// The expiring key's expiry.
    expires_at: Option<u64>,
    /// Its `key-expired` was delivered.
    expired: bool,
    default_ttl_minutes: i64,
    secure_mode: bool,
    version: i64,
}

impl Told {
    fn new(p: &EnvironmentParams) -> Told {
        let expiring = p.expiring_sdk_key.as_ref();
        let parts: [&str; STRINGS] = [
            &p.env_id,
            &p.env_key,
            &p.env_name,
            &p.project_key,
            &p.project_name,
            &p.sdk_key,
            &p.mobile_key,
            expiring.map_or("", |x| x.key.as_str()),
        ];
        let mut strings = String::with_capacity(parts.iter().map(|s| s.len()).sum());
        let mut ends = [0u32; STRINGS];
        for (part, end) in parts.iter().zip(ends.iter_mut()) {
            strings.push_str(part);
            *end = u32::try_from(strings.len()).unwrap_or(u32::MAX);
        }
        Told {
            strings: strings.into_boxed_str(),
            ends,
            has_expiring: expiring.is_some(),
            expires_at: expiring.and_then(|x| x.expires_at),
            expired: false,
            default_ttl_minutes: p.default_ttl_minutes,
            secure_mode: p.secure_mode,
            version: p.version,
        }
    }

    /// String number `i`.
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0) as usize
        };
        let end = self.ends.get(i).copied().unwrap_or(0) as usize;
        self.strings.get(start..end).unwrap_or("")
    }

    fn env_id(&self) -> &str {
        self.part(0)
    }

    fn to_served(&self) -> Served {
        let s = |i| self.part(i).to_owned();
        Served {
            params: EnvironmentParams {
                env_id: s(0),
                env_key: s(1),
                env_name: s(2),
                project_key: s(3),
                project_name: s(4),
                sdk_key: s(5),
                mobile_key: s(6),
                expiring_sdk_key: self.has_expiring.then(|| ExpiringKey {
                    key: s(7),
                    expires_at: self.expires_at,
                }),
                default_ttl_minutes: self.default_ttl_minutes,
                secure_mode: self.secure_mode,
                version: self.version,
            },
            key_expired: self.expired,
        }
    }

    fn to_snap(&self) -> SnapEnv {
        let s = |i| self.part(i).to_owned();
        SnapEnv {
            env_id: s(0),
            env_key: s(1),
            env_name: s(2),
            proj_key: s(3),
            proj_name: s(4),
            sdk_key: s(5),
            mob_key: s(6),
            expiring: self.has_expiring.then(|| SnapExpiring {
                key: s(7),
                timestamp: self.expires_at.unwrap_or(0),
            }),
            default_ttl: self.default_ttl_minutes,
            secure_mode: self.secure_mode,
            version: self.version,
            timer_pending: !self.expired && self.expires_at.is_some_and(|t| t > 0),
        }
    }
}

// A set of entries keyed by their env id: the id is stored once, inside the entry.
impl PartialEq for Told {
    fn eq(&self, other: &Self) -> bool {
        self.env_id() == other.env_id()
    }
}

impl Eq for Told {}

impl Hash for Told {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.env_id().hash(state);
    }
}

impl Borrow<str> for Told {
    fn borrow(&self) -> &str {
        self.env_id()
    }
}

/// One environment as the proxy serves it: the last parameters delivered, and whether the
/// expiring key's `key-expired` was delivered since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The last `add`/`update` parameters.
    pub params: EnvironmentParams,
    /// `key-expired` was delivered for its expiring key.
    pub key_expired: bool,
}

/// The environments the handler was told about.
#[derive(Default)]
pub struct Mirror {
    envs: HashSet<Told>,
}

impl Mirror {
    /// `add-environment` or `update-environment` was delivered.
    pub fn told(&mut self, params: &EnvironmentParams) {
        self.envs.replace(Told::new(params));
    }

    /// `delete-environment` was delivered.
    pub fn deleted(&mut self, env_id: &str) {
        self.envs.remove(env_id);
    }

    /// `key-expired` was delivered.
    pub fn expired(&mut self, env_id: &str) {
        if let Some(mut told) = self.envs.take(env_id) {
            told.expired = true;
            self.envs.insert(told);
        }
    }

    /// Every environment the proxy has, by env id.
    pub fn served(&self) -> Vec<Served> {
        let mut all: Vec<Served> = self.envs.iter().map(Told::to_served).collect();
        all.sort_by(|a, b| a.params.env_id.cmp(&b.params.env_id));
        all
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
        let mut environments: Vec<SnapEnv> = self.envs.iter().map(Told::to_snap).collect();
        environments.sort_by(|a, b| a.env_id.cmp(&b.env_id));
        snapshot::encode(&SnapState {
            environments,
            tombstones: Vec::new(),
            last_event_id: last_event_id.map(String::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(id: &str, expiring: Option<(&str, Option<u64>)>) -> EnvironmentParams {
        EnvironmentParams {
            env_id: id.into(),
            env_key: format!("{id}-key"),
            env_name: "Ünïcode name".into(),
            project_key: "p".into(),
            project_name: String::new(),
            sdk_key: "sdk-1234".into(),
            mobile_key: "mob".into(),
            expiring_sdk_key: expiring.map(|(key, expires_at)| ExpiringKey {
                key: key.into(),
                expires_at,
            }),
            default_ttl_minutes: -3,
            secure_mode: true,
            version: 7,
        }
    }

    #[test]
    fn entries_keep_every_field() {
        let mut m = Mirror::default();
        m.told(&params("a", Some(("old", Some(99)))));
        m.told(&params("b", Some(("old-b", None))));
        m.told(&params("c", None));
        m.told(&params("c", None));
        m.expired("a");
        m.deleted("b");
        assert_eq!(m.len(), 2);
        let state = snapshot::decode(&m.snapshot(Some("id"))).expect("valid");
        assert_eq!(state.last_event_id.as_deref(), Some("id"));
        let a = &state.environments[0];
        assert_eq!(
            (a.env_id.as_str(), a.env_key.as_str(), a.env_name.as_str()),
            ("a", "a-key", "Ünïcode name")
        );
        assert_eq!((a.proj_key.as_str(), a.proj_name.as_str()), ("p", ""));
        assert_eq!(
            (a.sdk_key.as_str(), a.mob_key.as_str()),
            ("sdk-1234", "mob")
        );
        assert_eq!(
            a.expiring,
            Some(SnapExpiring {
                key: "old".into(),
                timestamp: 99
            })
        );
        assert!(!a.timer_pending, "its key-expired was delivered");
        assert_eq!((a.default_ttl, a.secure_mode, a.version), (-3, true, 7));
        assert_eq!(state.environments[1].env_id, "c");
        assert_eq!(state.environments[1].expiring, None);
        let served = m.served();
        assert_eq!(served.len(), 2);
        assert_eq!(served[0].params, params("a", Some(("old", Some(99)))));
        assert!(served[0].key_expired);
        assert_eq!(served[1].params, params("c", None));
        assert!(!served[1].key_expired);
    }
}
