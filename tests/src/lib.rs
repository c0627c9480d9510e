//! Support for the component tests: a recording handler and a shared compiled component.

pub mod scenario;
pub mod streams;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use autoconfig_host::{EnvironmentParams, Handler, Limits, LogLevel, Runtime, StreamOptions};
use serde::de::DeserializeOwned;

/// One callback the component made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `add-environment`.
    Add(EnvironmentParams),
    /// `update-environment`.
    Update(EnvironmentParams),
    /// `delete-environment`.
    Delete(String),
    /// `received-all-environments`.
    ReceivedAll,
    /// `key-expired`.
    KeyExpired(String, String),
}

/// A handler that records every callback and log line.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Callbacks, in order.
    pub calls: Vec<Call>,
    /// Log lines, in order.
    pub logs: Vec<(LogLevel, String)>,
}

impl Recorder {
    /// Takes the recorded callbacks.
    pub fn take(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.calls)
    }

    /// Whether a line at `level` contains `fragment`.
    pub fn logged(&self, level: LogLevel, fragment: &str) -> bool {
        self.logs
            .iter()
            .any(|(l, m)| *l == level && m.contains(fragment))
    }
}

impl Handler for Recorder {
    fn add_environment(&mut self, params: EnvironmentParams) {
        self.calls.push(Call::Add(params));
    }
    fn update_environment(&mut self, params: EnvironmentParams) {
        self.calls.push(Call::Update(params));
    }
    fn delete_environment(&mut self, env_id: String) {
        self.calls.push(Call::Delete(env_id));
    }
    fn received_all_environments(&mut self) {
        self.calls.push(Call::ReceivedAll);
    }
    fn key_expired(&mut self, env_id: String, old_key: String) {
        self.calls.push(Call::KeyExpired(env_id, old_key));
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        self.logs.push((level, message.to_owned()));
    }
}

/// The component built with the workspace, compiled once per test process.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| match Runtime::built(Limits::default()) {
        Ok(runtime) => runtime,
        Err(e) => panic!("cannot load the built component: {e}"),
    })
}

/// The `*.json` files of the corpus folder `name` (below `tests/`), sorted by name.
pub fn corpus_files(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Loads one corpus file.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Stream options for tests: the corpus README's defaults.
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
