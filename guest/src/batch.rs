//! The batched form of the callbacks and logs (the WIT `batch` interface): each callback
//! appended to a buffer as one line of JSON, [`CallLine`]'s form, and each log line to another as
//! `LEVEL MESSAGE`, instead of a call into the host for each.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use relay_autoconfig_types::CallLine;

use crate::{EnvironmentParams, Handler, Level};

/// A [`Handler`] that passes every callback to `inner`, or, while `lines` is `Some`, appends it
/// there as a JSON line instead; and every log line to `inner`, or, while `logs` is `Some`,
/// there.
#[derive(Debug)]
pub struct Callbacks<'a, H> {
    /// Where the callbacks and log lines go when they are not batched.
    pub inner: H,
    /// The batch buffer, when batching is on.
    pub lines: Option<&'a mut Vec<u8>>,
    /// The log buffer, when logs are batched.
    pub logs: Option<&'a mut String>,
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
        match self.logs.as_deref_mut() {
            Some(out) => write_log_line(out, level, message),
            None => self.inner.log(level, message),
        }
    }
}

/// Appends `LEVEL MESSAGE\n` to `out`, a line break inside the message written as `\n`.
fn write_log_line(out: &mut String, level: Level, message: fmt::Arguments<'_>) {
    out.push_str(match level {
        Level::Debug => "debug ",
        Level::Info => "info ",
        Level::Warn => "warn ",
        Level::Error => "error ",
    });
    let start = out.len();
    let _ = out.write_fmt(message);
    // Messages escape what they take from outside, so this is rare: keep one line per entry.
    if out[start..].contains(['\n', '\r']) {
        let message: String = out[start..].replace('\n', "\\n").replace('\r', "\\r");
        out.truncate(start);
        out.push_str(&message);
    }
    out.push('\n');
}

/// The batch buffer of an instance: whether batching is on, and the lines not yet taken.
#[derive(Debug, Default)]
pub struct Batch {
    enabled: bool,
    lines: Vec<u8>,
    logs_enabled: bool,
    logs: String,
}

impl Batch {
    /// Batching off, no lines.
    pub const fn new() -> Batch {
        Batch {
            enabled: false,
            lines: Vec::new(),
            logs_enabled: false,
            logs: String::new(),
        }
    }

    /// Turns batching on or off; lines not yet taken are kept.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// Turns the batching of log lines on or off; lines not yet taken are kept.
    pub fn set_logs_batched(&mut self, enabled: bool) {
        self.logs_enabled = enabled;
    }

    /// The handler for one call: `inner`, with callbacks and logs batched as set.
    pub fn callbacks<H: Handler>(&mut self, inner: H) -> Callbacks<'_, H> {
        Callbacks {
            inner,
            lines: self.enabled.then_some(&mut self.lines),
            logs: self.logs_enabled.then_some(&mut self.logs),
        }
    }

    /// The log lines appended since the last take, and an empty log buffer.
    pub fn take_logs(&mut self) -> String {
        core::mem::take(&mut self.logs)
    }

    /// The lines appended since the last take, and an empty buffer.
    pub fn take(&mut self) -> String {
        let bytes = core::mem::take(&mut self.lines);
        // Every line is serde_json's output, which is UTF-8.
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what reaches the inner handler.
    #[derive(Default)]
    struct Inner {
        calls: usize,
        logs: Vec<String>,
    }

    impl Handler for &mut Inner {
        fn add_environment(&mut self, _: EnvironmentParams) {
            self.calls += 1;
        }
        fn update_environment(&mut self, _: EnvironmentParams) {
            self.calls += 1;
        }
        fn delete_environment(&mut self, _: &str) {
            self.calls += 1;
        }
        fn received_all_environments(&mut self) {
            self.calls += 1;
        }
        fn key_expired(&mut self, _: &str, _: &str) {
            self.calls += 1;
        }
        fn log(&mut self, _: Level, message: fmt::Arguments<'_>) {
            self.logs.push(alloc::format!("{message}"));
        }
    }

    #[test]
    fn batched_lines_and_logs_bypass_the_handler_and_keep_their_order() {
        let mut inner = Inner::default();
        let mut batch = Batch::new();
        batch.set_enabled(true);
        batch.set_logs_batched(true);
        {
            let mut h = batch.callbacks(&mut inner);
            h.log(Level::Info, format_args!("first"));
            h.delete_environment("e1");
            h.log(Level::Warn, format_args!("two\nlines\r"));
            h.key_expired("e2", "old");
            h.received_all_environments();
        }
        assert_eq!((inner.calls, inner.logs.len()), (0, 0));
        assert_eq!(
            batch.take(),
            "{\"op\":\"delete\",\"envId\":\"e1\"}\n\
             {\"op\":\"key-expired\",\"envId\":\"e2\",\"oldKey\":\"old\"}\n\
             {\"op\":\"ready\"}\n"
        );
        assert_eq!(batch.take_logs(), "info first\nwarn two\\nlines\\r\n");
        assert_eq!(
            (batch.take(), batch.take_logs()),
            (String::new(), String::new())
        );
    }

    #[test]
    fn switching_off_keeps_what_was_not_taken() {
        let mut inner = Inner::default();
        let mut batch = Batch::new();
        batch.set_enabled(true);
        batch.callbacks(&mut inner).received_all_environments();
        batch.set_enabled(false);
        batch.callbacks(&mut inner).received_all_environments();
        batch
            .callbacks(&mut inner)
            .log(Level::Debug, format_args!("direct"));
        assert_eq!(inner.calls, 1);
        assert_eq!(inner.logs, ["direct"]);
        assert_eq!(batch.take(), "{\"op\":\"ready\"}\n");
    }
}
