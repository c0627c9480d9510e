//! The JSON-lines form of handler callbacks: what `autoconfig-host` prints on stdout, one object
//! per line, and what the shared scenario corpus (`tests/scenarios/`) expects. `ENV` is the WIT
//! `environment-params` record with its field names in camelCase, by the serde form of
//! [`EnvironmentParams`] (one definition; jco gives JavaScript the same shape). It carries the
//! keys in full (the reader needs them); `Debug` shows their last 4 characters.

use std::io::Write;

use autoconfig_runtime::{EnvironmentParams, Handler};
pub use relay_autoconfig_types::CallLine;

/// A [`Handler`] that writes each callback as one JSON line; component logs go to `tracing`.
/// The lines of one call into the component are written together, in one write and one flush,
/// when the call ends ([`Handler::end_of_call`]): a `put` of 10,000 environments is one write,
/// not 10,000, and a reader never sees half a line.
#[derive(Debug)]
pub struct JsonLines<W: Write + Send + 'static> {
    out: W,
    pending: Vec<u8>,
    failed: bool,
    after_call: Option<fn()>,
}

/// The largest output buffer kept between calls.
const MAX_KEPT_CAPACITY: usize = 64 * 1024;

impl<W: Write + Send + 'static> JsonLines<W> {
    /// Writes to `out` (stdout for `autoconfig-host`).
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            pending: Vec::new(),
            failed: false,
            after_call: None,
        }
    }

    /// Also runs `hook` when a call into the component ended, after writing its lines
    /// (`autoconfig-host` writes the call's held-back log lines there).
    pub fn after_each_call(mut self, hook: fn()) -> Self {
        self.after_call = Some(hook);
        self
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn emit(&mut self, line: CallLine) {
        line.write_line(&mut self.pending);
    }

    /// Writes and flushes the lines not written yet (the driver does this after every call).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let result = self
            .out
            .write_all(&self.pending)
            .and_then(|()| self.out.flush());
        // A large call's buffer (a put of 10,000 environments: 4 MB) is not kept for the next.
        if self.pending.capacity() > MAX_KEPT_CAPACITY {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
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

    fn end_of_call(&mut self) {
        self.flush();
        if let Some(hook) = self.after_call {
            hook();
        }
    }

    fn add_environment(&mut self, params: EnvironmentParams) {
        self.emit(CallLine::Add { env: params });
    }

    fn update_environment(&mut self, params: EnvironmentParams) {
        self.emit(CallLine::Update { env: params });
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
        let env = EnvironmentParams {
            env_id: "e".into(),
            env_key: "k".into(),
            env_name: "n".into(),
            project_key: "p".into(),
            project_name: "pn".into(),
            sdk_key: "s".into(),
            mobile_key: "m".into(),
            expiring_sdk_key: Some(autoconfig_runtime::ExpiringKey {
                key: "o".into(),
                expires_at: Some(5),
            }),
            default_ttl_minutes: 2,
            secure_mode: true,
            version: 3,
        };
        assert_eq!(
            CallLine::Add { env: env.clone() }.to_json(),
            r#"{"op":"add","env":{"envId":"e","envKey":"k","envName":"n","projectKey":"p","projectName":"pn","sdkKey":"s","mobileKey":"m","expiringSdkKey":{"key":"o","expiresAt":5},"defaultTtlMinutes":2,"secureMode":true,"version":3}}"#
        );
        let none = EnvironmentParams {
            expiring_sdk_key: None,
            ..env
        };
        assert!(
            CallLine::Update { env: none }
                .to_json()
                .contains(r#""expiringSdkKey":null,"#)
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
