//! The recording handler, and the compiled component shared by a test process.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use autoconfig_host::output::CallLine;
use autoconfig_host::{
    EnvironmentParams, Handler, Level, Limits, Metering, Runtime, StreamOptions,
};

/// What a [`Recorder`] saw.
#[derive(Debug, Default)]
struct Seen {
    calls: Vec<CallLine>,
    logs: Vec<(Level, String)>,
}

/// A [`Handler`] that records every callback (as its JSON line) and every log line. Clones share
/// the record, so a test can keep one while a driver (on any thread) owns another.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Seen>>);

impl Recorder {
    fn seen(&self) -> MutexGuard<'_, Seen> {
        // A test that panicked while holding the lock has failed already; keep its record.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every callback so far.
    pub fn calls(&self) -> Vec<CallLine> {
        self.seen().calls.clone()
    }

    /// Takes the callbacks so far.
    pub fn take(&self) -> Vec<CallLine> {
        std::mem::take(&mut self.seen().calls)
    }

    /// Every callback so far in short form (see [`op`]).
    pub fn ops(&self) -> Vec<String> {
        self.seen().calls.iter().map(op).collect()
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.seen().logs.clone()
    }

    /// Forgets the log lines so far.
    pub fn clear_logs(&self) {
        self.seen().logs.clear();
    }

    /// Whether a line at `level` contains `fragment`.
    pub fn logged(&self, level: Level, fragment: &str) -> bool {
        self.seen()
            .logs
            .iter()
            .any(|(l, m)| *l == level && m.contains(fragment))
    }

    fn push(&self, line: CallLine) {
        self.seen().calls.push(line);
    }
}

impl Handler for Recorder {
    fn add_environment(&mut self, params: EnvironmentParams) {
        self.push(CallLine::Add { env: params });
    }

    fn update_environment(&mut self, params: EnvironmentParams) {
        self.push(CallLine::Update { env: params });
    }

    fn delete_environment(&mut self, env_id: String) {
        self.push(CallLine::Delete { env_id });
    }

    fn received_all_environments(&mut self) {
        self.push(CallLine::Ready);
    }

    fn key_expired(&mut self, env_id: String, old_key: String) {
        self.push(CallLine::KeyExpired { env_id, old_key });
    }

    fn reset(&mut self) {
        self.push(CallLine::Reset);
    }

    fn log(&mut self, level: Level, message: &str) {
        self.seen().logs.push((level, message.to_owned()));
    }
}

/// A callback in short form: `add ID@VERSION`, `update ID@VERSION`, `delete ID`, `ready`,
/// `key-expired ID OLDKEY`, `reset`.
pub fn op(line: &CallLine) -> String {
    match line {
        CallLine::Add { env } => format!("add {}@{}", env.env_id, env.version),
        CallLine::Update { env } => format!("update {}@{}", env.env_id, env.version),
        CallLine::Delete { env_id } => format!("delete {env_id}"),
        CallLine::Ready => "ready".to_owned(),
        CallLine::KeyExpired { env_id, old_key } => format!("key-expired {env_id} {old_key}"),
        CallLine::Reset => "reset".to_owned(),
    }
}

/// The embedded component, compiled once per test process.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| compile(Limits::default()))
}

/// The embedded component compiled without fuel metering ([`Metering::Off`]), once per test
/// process.
pub fn unmetered_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        compile(Limits {
            metering: Metering::Off,
            ..Limits::default()
        })
    })
}

/// Compiles the embedded component under `limits`; a test cannot go on without it.
fn compile(limits: Limits) -> Runtime {
    match Runtime::embedded(limits) {
        Ok(runtime) => runtime,
        Err(e) => panic!(
            "cannot compile the embedded component: {}",
            autoconfig_host::report(&e)
        ),
    }
}

/// Stream options for tests: the stream corpus README's defaults.
pub fn stream_options() -> StreamOptions {
    StreamOptions {
        key: "rel-key-0001".into(),
        stream_uri: "http://stream.test".into(),
        initial_retry_delay_ms: 1000,
        read_timeout_ms: 300_000,
        jitter_seed: 1,
        last_event_id: None,
        prior_failures: 0,
    }
}
