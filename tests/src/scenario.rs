//! The shared scenario corpus (`tests/scenarios/*.json`): its format, and running a scenario
//! against the real component.
//!
//! A scenario is a list of steps. Each step is an SSE event (`event`, `data`, `now`) or a timer
//! tick (`tick`: the time), followed by what must happen: the exact callbacks (in the JSON-lines
//! form `autoconfig-host` prints), the restart directive, the next deadline, and optionally
//! fragments of log lines. `data` is either a JSON string, passed as is, or any other JSON value,
//! passed as its text.

use std::path::{Path, PathBuf};

use autoconfig_host::{Driver, Level, RestartReason, Runtime, Settings, report};
use autoconfig_test_support::{CallLine, Recorder, corpus};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// A short name.
    pub name: String,
    /// What it shows, and which rule.
    #[serde(default)]
    pub description: String,
    /// Settings applied before the first step.
    #[serde(default)]
    pub settings: Option<ScenarioSettings>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// `settings` of a scenario.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioSettings {
    /// The component's `max-message-bytes`.
    pub max_message_bytes: u64,
}

/// One step: an event or a tick.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    /// The SSE event name (an event step).
    #[serde(default)]
    pub event: Option<String>,
    /// The event data: a string as is, or any other JSON value as its text.
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
    /// The event's `now` (ms since the Unix epoch).
    #[serde(default)]
    pub now: Option<u64>,
    /// A tick at this time (a tick step).
    #[serde(default)]
    pub tick: Option<u64>,
    /// What must happen.
    pub expect: Expect,
}

/// The expected outcome of a step.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// Exactly these callbacks, in this order.
    pub calls: Vec<CallLine>,
    /// The restart directive: `null`, `"reconnect-requested"` or `"malformed-data"`.
    #[serde(default)]
    pub restart: Option<String>,
    /// The next deadline the component reports.
    #[serde(default)]
    pub next_deadline: Option<u64>,
    /// Log lines that must appear during this step.
    #[serde(default)]
    pub logs: Vec<LogExpect>,
}

/// A log line that must appear: its level and a fragment of its text.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogExpect {
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// A fragment of the message.
    pub contains: String,
}

impl Step {
    /// The event data as text.
    pub fn data_text(&self) -> Result<String, String> {
        match &self.data {
            None => Ok(String::new()),
            Some(raw) if raw.get().starts_with('"') => serde_json::from_str::<String>(raw.get())
                .map_err(|e| format!("bad data string: {e}")),
            Some(raw) => Ok(raw.get().to_owned()),
        }
    }
}

/// The corpus files, sorted by name.
pub fn corpus_files() -> Vec<PathBuf> {
    corpus::files("scenarios")
}

/// Loads a corpus file.
pub fn load(path: &Path) -> Result<Scenario, String> {
    corpus::load(path)
}

/// The corpus name of a log level.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
        Level::Critical => "critical",
    }
}

/// Runs a scenario on a fresh instance of `runtime`'s component (the default one, or one
/// without fuel metering); returns every mismatch. With `batched`, the callbacks come back
/// through the WIT `batch` interface (as JSON lines) instead of one call each: the expected
/// callbacks are the same.
pub fn run(runtime: &Runtime, scenario: &Scenario, batched: bool) -> Result<(), String> {
    let recorder = Recorder::default();
    let mut driver = Driver::new(runtime, recorder.clone()).map_err(|e| report(&e))?;
    driver.set_batched(batched).map_err(|e| report(&e))?;
    if let Some(s) = &scenario.settings {
        driver
            .configure(Settings {
                max_message_bytes: s.max_message_bytes,
                ..Settings::default()
            })
            .map_err(|e| report(&e))?;
    }
    let mut errors = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        recorder.clear_logs();
        let (restart, deadline) = match (&step.event, step.tick) {
            (Some(name), None) => {
                let now = step
                    .now
                    .ok_or(format!("step {index}: an event step needs `now`"))?;
                let data = step.data_text().map_err(|e| format!("step {index}: {e}"))?;
                let d = driver
                    .on_event(name, &data, now)
                    .map_err(|e| format!("step {index}: {}", report(&e)))?;
                let restart = d.restart.map(|r| match r {
                    RestartReason::ReconnectRequested => "reconnect-requested".to_owned(),
                    RestartReason::MalformedData => "malformed-data".to_owned(),
                });
                (restart, d.next_deadline)
            }
            (None, Some(at)) => (
                None,
                driver
                    .tick(at)
                    .map_err(|e| format!("step {index}: {}", report(&e)))?,
            ),
            _ => {
                return Err(format!(
                    "step {index}: give exactly one of `event` and `tick`"
                ));
            }
        };
        let calls = recorder.take();
        if calls != step.expect.calls {
            errors.push(format!(
                "step {index}: callbacks differ\n  expected: {}\n  actual:   {}",
                lines(&step.expect.calls),
                lines(&calls)
            ));
        }
        if restart != step.expect.restart {
            errors.push(format!(
                "step {index}: restart {restart:?}, expected {:?}",
                step.expect.restart
            ));
        }
        if deadline != step.expect.next_deadline {
            errors.push(format!(
                "step {index}: next deadline {deadline:?}, expected {:?}",
                step.expect.next_deadline
            ));
        }
        check_logs(index, &step.expect.logs, &recorder.logs(), &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Adds an error for every expected log fragment missing from `logs` at its level.
pub fn check_logs(
    index: usize,
    wanted: &[LogExpect],
    logs: &[(Level, String)],
    errors: &mut Vec<String>,
) {
    for want in wanted {
        if !logs
            .iter()
            .any(|(l, m)| level_name(*l) == want.level && m.contains(&want.contains))
        {
            errors.push(format!(
                "step {index}: no {} log containing {:?}; logs: {logs:?}",
                want.level, want.contains
            ));
        }
    }
}

fn lines(calls: &[CallLine]) -> String {
    let v: Vec<String> = calls.iter().map(CallLine::to_json).collect();
    format!("[{}]", v.join(", "))
}
