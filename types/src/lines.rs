//! The JSON-lines form of the handler callbacks, defined once: what `autoconfig-host` prints on
//! stdout, what the component's `batch` interface returns, and what the shared scenario corpus
//! (`tests/scenarios/`) expects. `ENV` is [`EnvironmentParams`] in its serde form (the WIT names
//! in camelCase). A line carries the keys in full (the reader needs them); `Debug` shows their
//! last 4 characters.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::EnvironmentParams;

/// One handler callback as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CallLine {
    /// `{"op":"add","env":ENV}`.
    Add {
        /// The environment.
        env: EnvironmentParams,
    },
    /// `{"op":"update","env":ENV}`.
    Update {
        /// The environment.
        env: EnvironmentParams,
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

impl CallLine {
    /// The line as compact JSON (no trailing newline).
    pub fn to_json(&self) -> String {
        let mut bytes = Vec::new();
        self.write_json(&mut bytes);
        // serde_json writes UTF-8 only.
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// Appends the line as compact JSON, then a newline, to `out`: the form of a batch.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        self.write_json(out);
        out.push(b'\n');
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        // Serialising these plain structs (strings, integers, booleans) cannot fail. (Without
        // `std`, serde_json offers no serializer into an existing buffer.)
        if let Ok(bytes) = serde_json::to_vec(self) {
            out.extend_from_slice(&bytes);
        }
    }
}
