//! The shared stream corpus (`tests/streams/*.json`, format in its README): running a case
//! through the component's `stream-client` interface and comparing every output.

use std::path::{Path, PathBuf};

use autoconfig_host::{Driver, Level, Runtime, Settings, Step, StopReason, StreamOptions, report};
use autoconfig_test_support::{CallLine, Recorder, corpus};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::scenario::{LogExpect, check_logs};

/// One stream case.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    /// A short name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// `client.configure` before the first step.
    #[serde(default)]
    pub settings: Option<CaseSettings>,
    /// The `stream-options` of `start` (missing fields take the README's defaults).
    #[serde(default)]
    pub options: Option<Options>,
    /// The calls, in order.
    pub steps: Vec<CaseStep>,
}

/// `settings` of a case.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseSettings {
    /// `max-message-bytes`.
    #[serde(default)]
    pub max_message_bytes: Option<u64>,
    /// `log-level`: `debug`, `info`, `warn` or `error`.
    #[serde(default)]
    pub log_level: Option<String>,
}

/// `options` of a case or a start step; every field optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// `key`.
    pub key: Option<String>,
    /// `stream-uri`.
    pub stream_uri: Option<String>,
    /// `initial-retry-delay-ms`.
    pub initial_retry_delay_ms: Option<u64>,
    /// `read-timeout-ms`.
    pub read_timeout_ms: Option<u64>,
    /// `jitter-seed`.
    pub jitter_seed: Option<u64>,
    /// `last-event-id`.
    pub last_event_id: Option<String>,
    /// `prior-failures`.
    pub prior_failures: Option<u32>,
}

impl Options {
    /// These options over the README's defaults.
    pub fn resolve(&self) -> StreamOptions {
        StreamOptions {
            key: self.key.clone().unwrap_or_else(|| "rel-key-0001".into()),
            stream_uri: self
                .stream_uri
                .clone()
                .unwrap_or_else(|| "http://stream.test".into()),
            initial_retry_delay_ms: self.initial_retry_delay_ms.unwrap_or(1000),
            read_timeout_ms: self.read_timeout_ms.unwrap_or(300_000),
            jitter_seed: self.jitter_seed.unwrap_or(1),
            last_event_id: self.last_event_id.clone(),
            prior_failures: self.prior_failures.unwrap_or(0),
        }
    }
}

/// A response's headers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// `Content-Type`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// `Location`.
    #[serde(default)]
    pub location: Option<String>,
}

/// One step: exactly one of `start`, `response`, `body`, `bodyHex`, `closed`, `timeout`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseStep {
    /// `start` at this time.
    #[serde(default)]
    pub start: Option<u64>,
    /// Options for this start (over the case's).
    #[serde(default)]
    pub options: Option<Options>,
    /// `on-response`.
    #[serde(default)]
    pub response: Option<Response>,
    /// `on-body` with this text's UTF-8 bytes.
    #[serde(default)]
    pub body: Option<String>,
    /// `on-body` with these bytes, in hex.
    #[serde(default)]
    pub body_hex: Option<String>,
    /// `on-closed` (`null`: a clean end). Present-and-null is told apart from absent.
    #[serde(default, deserialize_with = "present")]
    pub closed: Option<Option<String>>,
    /// `on-timeout` at this time.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// The `now` of response, body and closed steps.
    #[serde(default)]
    pub now: Option<u64>,
    /// What must come out.
    #[serde(default)]
    pub expect: Expect,
}

/// `Some(value)` for a present field, even when it is `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The expected outputs of a step.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// Exactly these callbacks.
    #[serde(default)]
    pub calls: Vec<CallLine>,
    /// `disconnect`.
    #[serde(default)]
    pub disconnect: bool,
    /// `connect`: `{"url", "headers": [[name, value], ...]}`.
    #[serde(default)]
    pub connect: Option<Value>,
    /// `stop`.
    #[serde(default)]
    pub stop: Option<String>,
    /// `next-deadline`.
    #[serde(default)]
    pub next_deadline: Option<u64>,
    /// `last-event-id` (changed by this call).
    #[serde(default)]
    pub last_event_id: Option<String>,
    /// `start` must fail with a message containing this.
    #[serde(default)]
    pub error: Option<String>,
    /// Log fragments that must appear.
    #[serde(default)]
    pub logs: Vec<LogExpect>,
}

/// The corpus files, sorted by name.
pub fn corpus_files() -> Vec<PathBuf> {
    corpus::files("streams")
}

/// Loads a corpus file.
pub fn load(path: &Path) -> Result<Case, String> {
    corpus::load(path)
}

/// A step's outputs in the corpus's JSON form.
pub fn step_json(step: &Step, calls: &[CallLine]) -> Value {
    json!({
        "calls": calls,
        "disconnect": step.disconnect,
        "connect": step.connect.as_ref().map(|r| json!({"url": r.url, "headers": r.headers})),
        "stop": step.stop.map(|StopReason::InvalidKey| "invalid-key"),
        "nextDeadline": step.next_deadline,
        "lastEventId": step.last_event_id,
    })
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {text:?}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| format!("bad hex {text:?}"))
        })
        .collect()
}

fn parse_level(name: &str) -> Result<Level, String> {
    Ok(match name {
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warn,
        "error" => Level::Error,
        other => return Err(format!("unknown log level {other:?}")),
    })
}

/// Runs a case on a fresh instance of `runtime`'s component (the default one, or one without
/// fuel metering). Returns every mismatch, and the actual outputs of every step (for writing
/// new cases).
pub fn run(runtime: &Runtime, case: &Case, batched: bool) -> (Result<(), String>, Vec<Value>) {
    let mut actual = Vec::new();
    let outcome = run_into(runtime, case, batched, &mut actual);
    (outcome, actual)
}

fn run_into(
    runtime: &Runtime,
    case: &Case,
    batched: bool,
    actual: &mut Vec<Value>,
) -> Result<(), String> {
    let recorder = Recorder::default();
    let mut driver = Driver::new(runtime, recorder.clone()).map_err(|e| report(&e))?;
    driver.set_batched(batched).map_err(|e| report(&e))?;
    let mut settings = Settings::default();
    if let Some(s) = &case.settings {
        if let Some(max) = s.max_message_bytes {
            settings.max_message_bytes = max;
        }
        if let Some(level) = &s.log_level {
            settings.log_level = parse_level(level)?;
        }
    }
    driver.configure(settings).map_err(|e| report(&e))?;
    let base = case.options.clone().unwrap_or_default();
    let mut errors = Vec::new();
    for (index, step) in case.steps.iter().enumerate() {
        recorder.clear_logs();
        let now_of = || step.now.ok_or(format!("step {index}: needs `now`"));
        let kinds = [
            step.start.is_some(),
            step.response.is_some(),
            step.body.is_some(),
            step.body_hex.is_some(),
            step.closed.is_some(),
            step.timeout.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(format!("step {index}: give exactly one kind of call"));
        }
        let result: Result<Step, String> = if let Some(now) = step.start {
            let mut options = base.clone();
            if let Some(o) = &step.options {
                merge(&mut options, o);
            }
            driver
                .start(&options.resolve(), now)
                .map_err(|e| format!("step {index}: {}", report(&e)))?
        } else if let Some(r) = &step.response {
            Ok(driver
                .on_response(
                    r.status,
                    r.content_type.as_deref(),
                    r.location.as_deref(),
                    now_of()?,
                )
                .map_err(|e| format!("step {index}: {}", report(&e)))?)
        } else if step.body.is_some() || step.body_hex.is_some() {
            let bytes = match (&step.body, &step.body_hex) {
                (Some(text), _) => text.as_bytes().to_vec(),
                (None, Some(h)) => hex(h)?,
                (None, None) => Vec::new(),
            };
            // Batched, a chunk of whole UTF-8 characters goes in as text (`on-body-text`), as
            // the Python host sends it; it must change nothing.
            let outcome = match std::str::from_utf8(&bytes) {
                Ok(text) if batched => driver.on_body_text(text, now_of()?),
                _ => driver.on_body(&bytes, now_of()?),
            };
            Ok(outcome.map_err(|e| format!("step {index}: {}", report(&e)))?)
        } else if let Some(closed) = &step.closed {
            Ok(driver
                .on_closed(closed.as_deref(), now_of()?)
                .map_err(|e| format!("step {index}: {}", report(&e)))?)
        } else {
            let now = step.timeout.unwrap_or_default();
            Ok(driver
                .on_timeout(now)
                .map_err(|e| format!("step {index}: {}", report(&e)))?)
        };
        let calls: Vec<CallLine> = recorder.take();
        let want = &step.expect;
        match result {
            Err(message) => {
                actual.push(json!({"error": message}));
                match &want.error {
                    Some(fragment) if message.contains(fragment.as_str()) => {}
                    _ => errors.push(format!(
                        "step {index}: start failed with {message:?}, expected {:?}",
                        want.error
                    )),
                }
            }
            Ok(got) => {
                let got = step_json(&got, &calls);
                let expected = json!({
                    "calls": want.calls,
                    "disconnect": want.disconnect,
                    "connect": want.connect,
                    "stop": want.stop,
                    "nextDeadline": want.next_deadline,
                    "lastEventId": want.last_event_id,
                });
                if want.error.is_some() {
                    errors.push(format!("step {index}: expected an error, got {got}"));
                } else if got != expected {
                    errors.push(format!(
                        "step {index}: outputs differ\n  expected: {expected}\n  actual:   {got}"
                    ));
                }
                actual.push(got);
            }
        }
        check_logs(index, &step.expect.logs, &recorder.logs(), &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Lays `over` on `base`.
fn merge(base: &mut Options, over: &Options) {
    macro_rules! take {
        ($($f:ident),*) => { $( if over.$f.is_some() { base.$f.clone_from(&over.$f); } )* };
    }
    take!(
        key,
        stream_uri,
        initial_retry_delay_ms,
        read_timeout_ms,
        jitter_seed,
        last_event_id,
        prior_failures
    );
}
