//! The JSON-lines form of handler callbacks: what `autoconfig-host` prints on stdout, one object
//! per line, and what the shared scenario corpus (`tests/scenarios/`) expects.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::handler::{EnvironmentParams, ExpiringKey, Handler};

/// One handler callback as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CallLine {
    /// `{"op":"add","env":ENV}`.
    Add {
        /// The environment.
        env: EnvLine,
    },
    /// `{"op":"update","env":ENV}`.
    Update {
        /// The environment.
        env: EnvLine,
    },
    /// `{"op":"delete","envId":"..."}`.
    Delete {
        /// The environment ID.
        #[serde(rename = "envId")]
        env_id: String,
    },
    /// `{"op":"ready"}`: received-all-environments.
    Ready,
    /// `{"op":"reset"}`: the client lost its state; reconcile at the next `ready`.
    Reset,
    /// `{"op":"key-expired","envId":"...","oldKey":"..."}`.
    KeyExpired {
        /// The environment ID.
        #[serde(rename = "envId")]
        env_id: String,
        /// The key that expired.
        #[serde(rename = "oldKey")]
        old_key: String,
    },
}

/// An environment's parameters as a JSON object; absent expiring key and expiry are `null`. The
/// JSON carries the keys in full (the reader needs them); `Debug` shows their last 4 characters.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvLine {
    /// The environment ID.
    pub env_id: String,
    /// The environment key.
    pub env_key: String,
    /// The environment's display name.
    pub env_name: String,
    /// The project key.
    pub proj_key: String,
    /// The project's display name.
    pub proj_name: String,
    /// The current SDK key.
    pub sdk_key: String,
    /// The mobile key.
    pub mob_key: String,
    /// The expiring SDK key, or `null`.
    pub expiring_sdk_key: Option<String>,
    /// Its expiry in ms since the Unix epoch, or `null`.
    pub expires_at: Option<u64>,
    /// Default TTL in minutes.
    pub ttl_minutes: i64,
    /// Whether secure mode is required.
    pub secure_mode: bool,
    /// The configuration version.
    pub version: i64,
}

impl std::fmt::Debug for EnvLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use relay_autoconfig::mask::Masked;
        f.debug_struct("EnvLine")
            .field("env_id", &self.env_id)
            .field("env_key", &self.env_key)
            .field("env_name", &self.env_name)
            .field("proj_key", &self.proj_key)
            .field("proj_name", &self.proj_name)
            .field("sdk_key", &Masked(&self.sdk_key))
            .field("mob_key", &Masked(&self.mob_key))
            .field(
                "expiring_sdk_key",
                &self.expiring_sdk_key.as_deref().map(Masked),
            )
            .field("expires_at", &self.expires_at)
            .field("ttl_minutes", &self.ttl_minutes)
            .field("secure_mode", &self.secure_mode)
            .field("version", &self.version)
            .finish()
    }
}

impl From<EnvironmentParams> for EnvLine {
    fn from(p: EnvironmentParams) -> Self {
        let (expiring_sdk_key, expires_at) = match p.expiring_sdk_key {
            Some(ExpiringKey { key, expires_at }) => (Some(key), expires_at),
            None => (None, None),
        };
        EnvLine {
            env_id: p.env_id,
            env_key: p.env_key,
            env_name: p.env_name,
            proj_key: p.project_key,
            proj_name: p.project_name,
            sdk_key: p.sdk_key,
            mob_key: p.mobile_key,
            expiring_sdk_key,
            expires_at,
            ttl_minutes: p.default_ttl_minutes,
            secure_mode: p.secure_mode,
            version: p.version,
        }
    }
}

impl CallLine {
    /// The line as compact JSON (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!(r#"{{"op":"error","message":"{e}"}}"#))
    }
}

/// A [`Handler`] that writes each callback as one JSON line and flushes it at once; component
/// logs go to `tracing`.
#[derive(Debug)]
pub struct JsonLines<W: Write + Send + 'static> {
    out: W,
    failed: bool,
}

impl<W: Write + Send + 'static> JsonLines<W> {
    /// Writes to `out` (stdout for `autoconfig-host`).
    pub fn new(out: W) -> Self {
        JsonLines { out, failed: false }
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn emit(&mut self, line: CallLine) {
        let mut text = line.to_json();
        text.push('\n');
        // One write of the whole line, then a flush: a reader never sees half a line.
        let result = self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush());
        if let Err(e) = result {
            if !self.failed {
                tracing::error!("cannot write handler output: {e}");
            }
            self.failed = true;
        }
    }
}

impl<W: Write + Send + 'static> Handler for JsonLines<W> {
    fn output_broken(&self) -> bool {
        self.failed
    }

    fn add_environment(&mut self, params: EnvironmentParams) {
        self.emit(CallLine::Add { env: params.into() });
    }

    fn update_environment(&mut self, params: EnvironmentParams) {
        self.emit(CallLine::Update { env: params.into() });
    }

    fn delete_environment(&mut self, env_id: String) {
        self.emit(CallLine::Delete { env_id });
    }

    fn received_all_environments(&mut self) {
        self.emit(CallLine::Ready);
    }

    fn key_expired(&mut self, env_id: String, old_key: String) {
        self.emit(CallLine::KeyExpired { env_id, old_key });
    }

    fn reset(&mut self) {
        self.emit(CallLine::Reset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_documented_shape() {
        let env = EnvLine::from(EnvironmentParams {
            env_id: "e".into(),
            env_key: "k".into(),
            env_name: "n".into(),
            project_key: "p".into(),
            project_name: "pn".into(),
            sdk_key: "s".into(),
            mobile_key: "m".into(),
            expiring_sdk_key: Some(ExpiringKey {
                key: "o".into(),
                expires_at: Some(5),
            }),
            default_ttl_minutes: 2,
            secure_mode: true,
            version: 3,
        });
        assert_eq!(
            CallLine::Add { env }.to_json(),
            r#"{"op":"add","env":{"envId":"e","envKey":"k","envName":"n","projKey":"p","projName":"pn","sdkKey":"s","mobKey":"m","expiringSdkKey":"o","expiresAt":5,"ttlMinutes":2,"secureMode":true,"version":3}}"#
        );
        assert_eq!(CallLine::Ready.to_json(), r#"{"op":"ready"}"#);
        assert_eq!(
            CallLine::Delete { env_id: "e".into() }.to_json(),
            r#"{"op":"delete","envId":"e"}"#
        );
        assert_eq!(
            CallLine::KeyExpired {
                env_id: "e".into(),
                old_key: "o".into()
            }
            .to_json(),
            r#"{"op":"key-expired","envId":"e","oldKey":"o"}"#
        );
    }
}
