//! The WIT `environment-params` record: everything the proxy needs to serve one environment.

use alloc::string::String;

use serde::{Deserialize, Serialize};

/// An old SDK key that stays valid until an expiry time (the WIT `expiring-key`). Its `Debug`
/// shows the key's last 4 characters only.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(record)
)]
pub struct ExpiringKey {
    /// The old SDK key.
    pub key: String,
    /// Expiry in ms since the Unix epoch; `None` when the stream gave none (timestamp 0).
    #[cfg_attr(feature = "wasmtime", component(name = "expires-at"))]
    pub expires_at: Option<u64>,
}

/// Everything the proxy needs to serve one environment (the WIT `environment-params`). Its
/// `Debug` shows keys by their last 4 characters only. Serialized, its fields are the WIT names
/// in camelCase (`envId`, `projectKey`, `expiringSdkKey: {key, expiresAt}`, ...).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(record)
)]
pub struct EnvironmentParams {
    /// The environment ID.
    #[cfg_attr(feature = "wasmtime", component(name = "env-id"))]
    pub env_id: String,
    /// The environment key.
    #[cfg_attr(feature = "wasmtime", component(name = "env-key"))]
    pub env_key: String,
    /// The environment's display name.
    #[cfg_attr(feature = "wasmtime", component(name = "env-name"))]
    pub env_name: String,
    /// The project key.
    #[cfg_attr(feature = "wasmtime", component(name = "project-key"))]
    pub project_key: String,
    /// The project's display name.
    #[cfg_attr(feature = "wasmtime", component(name = "project-name"))]
    pub project_name: String,
    /// The current SDK key.
    #[cfg_attr(feature = "wasmtime", component(name = "sdk-key"))]
    pub sdk_key: String,
    /// The mobile key.
    #[cfg_attr(feature = "wasmtime", component(name = "mobile-key"))]
    pub mobile_key: String,
    /// The expiring SDK key, if one is still valid.
    #[cfg_attr(feature = "wasmtime", component(name = "expiring-sdk-key"))]
    pub expiring_sdk_key: Option<ExpiringKey>,
    /// Default TTL in minutes (0: not set).
    #[cfg_attr(feature = "wasmtime", component(name = "default-ttl-minutes"))]
    pub default_ttl_minutes: i64,
    /// Whether secure mode is required.
    #[cfg_attr(feature = "wasmtime", component(name = "secure-mode"))]
    pub secure_mode: bool,
    /// The configuration version.
    pub version: i64,
}

crate::debug_with_masked_keys!(ExpiringKey { expires_at; masked: key });
crate::debug_with_masked_keys!(EnvironmentParams {
    env_id, env_key, env_name, project_key, project_name, expiring_sdk_key,
    default_ttl_minutes, secure_mode, version;
    masked: sdk_key, mobile_key
});

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn params() -> EnvironmentParams {
        EnvironmentParams {
            env_id: "e".into(),
            env_key: "ek".into(),
            env_name: "n".into(),
            project_key: "p".into(),
            project_name: "pn".into(),
            sdk_key: "sdk-secret-2222".into(),
            mobile_key: "mob-secret-1111".into(),
            expiring_sdk_key: Some(ExpiringKey {
                key: "sdk-secret-3333".into(),
                expires_at: Some(9),
            }),
            default_ttl_minutes: 5,
            secure_mode: true,
            version: 3,
        }
    }

    #[test]
    fn debug_never_shows_a_full_key() {
        let text = format!("{:?}", params());
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("…2222") && text.contains("…1111") && text.contains("…3333"));
    }

    #[test]
    fn serialized_names_are_the_wit_names_in_camel_case() {
        let json = serde_json::to_string(&params()).expect("serializes");
        assert_eq!(
            json,
            r#"{"envId":"e","envKey":"ek","envName":"n","projectKey":"p","projectName":"pn","sdkKey":"sdk-secret-2222","mobileKey":"mob-secret-1111","expiringSdkKey":{"key":"sdk-secret-3333","expiresAt":9},"defaultTtlMinutes":5,"secureMode":true,"version":3}"#
        );
        let back: EnvironmentParams = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, params());
    }
}
