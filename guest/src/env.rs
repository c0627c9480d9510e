//! Domain types: an environment as the state machine keeps it, and the parameters the handler
//! receives.

use alloc::string::String;

pub use relay_autoconfig_types::{EnvironmentParams, ExpiringKey};

use crate::wire::WireEnv;

/// The expiring key exactly as the stream sent it (a non-empty key and its raw timestamp).
#[derive(Clone, PartialEq, Eq)]
pub struct WireExpiry {
    /// The old SDK key, never empty.
    pub key: String,
    /// Expiry in ms since the Unix epoch, 0 meaning "no expiry time".
    pub timestamp: u64,
}

/// An environment as last accepted from the stream. Two of them are equal exactly when the
/// stream sent the same data, which lets a `put` skip unchanged environments silently.
#[derive(Clone, PartialEq, Eq)]
pub struct Environment {
    /// The environment ID.
    pub env_id: String,
    /// The environment key.
    pub env_key: String,
    /// The environment's display name.
    pub env_name: String,
    /// The project key.
    pub project_key: String,
    /// The project's display name.
    pub project_name: String,
    /// The current SDK key.
    pub sdk_key: String,
    /// The mobile key.
    pub mobile_key: String,
    /// The expiring SDK key as sent, if its value was non-empty.
    pub expiring: Option<WireExpiry>,
    /// Default TTL in minutes.
    pub default_ttl_minutes: i64,
    /// Whether secure mode is required.
    pub secure_mode: bool,
    /// The configuration version.
    pub version: i64,
}

impl From<WireEnv> for Environment {
    fn from(w: WireEnv) -> Self {
        let expiring = w.sdk_key.expiring;
        Environment {
            env_id: w.env_id,
            env_key: w.env_key,
            env_name: w.env_name,
            project_key: w.proj_key,
            project_name: w.proj_name,
            sdk_key: w.sdk_key.value,
            mobile_key: w.mob_key,
            expiring: (!expiring.value.is_empty()).then_some(WireExpiry {
                key: expiring.value,
                timestamp: expiring.timestamp,
            }),
            default_ttl_minutes: w.default_ttl,
            secure_mode: w.secure_mode,
            version: w.version,
        }
    }
}

impl Environment {
    /// The handler parameters for this environment, carrying `expiring` as the expiring key.
    pub fn params(&self, expiring: Option<ExpiringKey>) -> EnvironmentParams {
        EnvironmentParams {
            env_id: self.env_id.clone(),
            env_key: self.env_key.clone(),
            env_name: self.env_name.clone(),
            project_key: self.project_key.clone(),
            project_name: self.project_name.clone(),
            sdk_key: self.sdk_key.clone(),
            mobile_key: self.mobile_key.clone(),
            expiring_sdk_key: expiring,
            default_ttl_minutes: self.default_ttl_minutes,
            secure_mode: self.secure_mode,
            version: self.version,
        }
    }
}

crate::debug_with_masked_keys!(WireExpiry { timestamp; masked: key });
crate::debug_with_masked_keys!(Environment {
    env_id, env_key, env_name, project_key, project_name, expiring,
    default_ttl_minutes, secure_mode, version;
    masked: sdk_key, mobile_key
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{WireExpiring, WireSdkKey};

    #[test]
    fn debug_never_shows_a_full_key() {
        let env = Environment::from(WireEnv {
            env_id: "e".into(),
            mob_key: "mob-secret-1111".into(),
            sdk_key: WireSdkKey {
                value: "sdk-secret-2222".into(),
                expiring: WireExpiring {
                    value: "sdk-secret-3333".into(),
                    timestamp: 9,
                },
            },
            ..WireEnv::default()
        });
        let params = env.params(Some(ExpiringKey {
            key: "sdk-secret-3333".into(),
            expires_at: Some(9),
        }));
        let wire = WireEnv {
            mob_key: "mob-secret-1111".into(),
            ..WireEnv::default()
        };
        for text in [
            alloc::format!("{env:?}"),
            alloc::format!("{params:?}"),
            alloc::format!("{wire:?}"),
        ] {
            assert!(!text.contains("secret"), "{text}");
        }
        assert!(alloc::format!("{params:?}").contains("…2222"));
    }

    #[test]
    fn empty_expiring_value_means_none() {
        let w = WireEnv {
            sdk_key: WireSdkKey {
                value: "k".into(),
                expiring: WireExpiring {
                    value: String::new(),
                    timestamp: 5,
                },
            },
            ..WireEnv::default()
        };
        assert_eq!(Environment::from(w).expiring, None);
    }

    #[test]
    fn params_copy_every_field() {
        let w = WireEnv {
            env_id: "id".into(),
            env_key: "ek".into(),
            env_name: "en".into(),
            mob_key: "mk".into(),
            proj_key: "pk".into(),
            proj_name: "pn".into(),
            sdk_key: WireSdkKey {
                value: "sk".into(),
                expiring: WireExpiring {
                    value: "old".into(),
                    timestamp: 10_000,
                },
            },
            default_ttl: 2,
            secure_mode: true,
            version: 3,
        };
        let env = Environment::from(w);
        let p = env.params(None);
        assert_eq!(
            (p.env_id.as_str(), p.env_key.as_str(), p.env_name.as_str()),
            ("id", "ek", "en")
        );
        assert_eq!(
            (p.project_key.as_str(), p.project_name.as_str()),
            ("pk", "pn")
        );
        assert_eq!((p.sdk_key.as_str(), p.mobile_key.as_str()), ("sk", "mk"));
        assert_eq!(
            (p.default_ttl_minutes, p.secure_mode, p.version),
            (2, true, 3)
        );
        assert_eq!(
            env.expiring,
            Some(WireExpiry {
                key: "old".into(),
                timestamp: 10_000
            })
        );
    }
}
