//! The batched form of the callbacks (the WIT `batch` interface): each callback appended to a
//! buffer as one line of JSON, [`CallLine`]'s form, instead of a call per callback.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use relay_autoconfig_types::CallLine;

use crate::{EnvironmentParams, Handler, Level};

/// A [`Handler`] that passes every callback to `inner`, or, while `lines` is `Some`, appends it
/// there as a JSON line instead. Logs always go to `inner`.
#[derive(Debug)]
pub struct Callbacks<'a, H> {
    /// Where the callbacks go when they are not batched, and where every log line goes.
    pub inner: H,
    /// The batch buffer, when batching is on.
    pub lines: Option<&'a mut Vec<u8>>,
}

impl<H: Handler> Handler for Callbacks<'_, H> {
    fn add_environment(&mut self, params: EnvironmentParams) {
        match self.lines.as_deref_mut() {
            Some(out) => CallLine::Add { env: params }.write_line(out),
            None => self.inner.add_environment(params),
        }
    }

    fn update_environment(&mut self, params: EnvironmentParams) {
        match self.lines.as_deref_mut() {
            Some(out) => CallLine::Update { env: params }.write_line(out),
            None => self.inner.update_environment(params),
        }
    }

    fn delete_environment(&mut self, env_id: &str) {
        match self.lines.as_deref_mut() {
            Some(out) => CallLine::Delete {
                env_id: String::from(env_id),
            }
            .write_line(out),
            None => self.inner.delete_environment(env_id),
        }
    }

    fn received_all_environments(&mut self) {
        match self.lines.as_deref_mut() {
            Some(out) => CallLine::Ready.write_line(out),
            None => self.inner.received_all_environments(),
        }
    }

    fn key_expired(&mut self, env_id: &str, old_key: &str) {
        match self.lines.as_deref_mut() {
            Some(out) => CallLine::KeyExpired {
                env_id: String::from(env_id),
                old_key: String::from(old_key),
            }
            .write_line(out),
            None => self.inner.key_expired(env_id, old_key),
        }
    }

    fn log(&mut self, level: Level, message: fmt::Arguments<'_>) {
        self.inner.log(level, message);
    }
}

/// The batch buffer of an instance: whether batching is on, and the lines not yet taken.
#[derive(Debug, Default)]
pub struct Batch {
    enabled: bool,
    lines: Vec<u8>,
}

impl Batch {
    /// Batching off, no lines.
    pub const fn new() -> Batch {
        Batch {
            enabled: false,
            lines: Vec::new(),
        }
    }

    /// Turns batching on or off; lines not yet taken are kept.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// The handler for one call: `inner`, batched when batching is on.
    pub fn callbacks<H: Handler>(&mut self, inner: H) -> Callbacks<'_, H> {
        Callbacks {
            inner,
            lines: self.enabled.then_some(&mut self.lines),
        }
    }

    /// The lines appended since the last take, and an empty buffer.
    pub fn take(&mut self) -> String {
        let bytes = core::mem::take(&mut self.lines);
        // Every line is serde_json's output, which is UTF-8.
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}
