//! Deterministic tests of the state machine, driven with a virtual clock.

mod bounds;
mod decoding;
mod delete;
mod events;
mod expiry;
mod fuzz_regressions;
mod limits;
mod patch;
mod props;
mod put;
mod snapshot;
mod sse;
mod stream;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::{Directive, EnvironmentParams, ExpiringKey, Handler, Level, Machine, RestartReason};

/// One callback the machine made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Add(EnvironmentParams),
    Update(EnvironmentParams),
    Delete(String),
    ReceivedAll,
    KeyExpired(String, String),
}

/// Records callbacks and log lines.
#[derive(Debug, Default)]
pub struct Recorder {
    pub calls: Vec<Call>,
    pub logs: Vec<(Level, String)>,
}

impl Handler for Recorder {
    fn add_environment(&mut self, params: EnvironmentParams) {
        self.calls.push(Call::Add(params));
    }
    fn update_environment(&mut self, params: EnvironmentParams) {
        self.calls.push(Call::Update(params));
    }
    fn delete_environment(&mut self, env_id: &str) {
        self.calls.push(Call::Delete(env_id.to_string()));
    }
    fn received_all_environments(&mut self) {
        self.calls.push(Call::ReceivedAll);
    }
    fn key_expired(&mut self, env_id: &str, old_key: &str) {
        self.calls
            .push(Call::KeyExpired(env_id.to_string(), old_key.to_string()));
    }
    fn log(&mut self, level: Level, message: fmt::Arguments<'_>) {
        self.logs.push((level, format!("{message}")));
    }
}

/// The start of the virtual clock: 2026-11-30T00:53:20Z.
pub const T0: u64 = 1_796_000_000_000;

/// A machine, a recorder and a virtual clock.
pub struct Harness {
    pub machine: Machine,
    pub rec: Recorder,
    pub now: u64,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            machine: Machine::new(),
            rec: Recorder::default(),
            now: T0,
        }
    }

    /// Feeds one event at the current time; returns the directive.
    pub fn event(&mut self, name: &str, data: &str) -> Directive {
        self.machine.on_event(name, data, self.now, &mut self.rec)
    }

    /// Feeds an event and returns the callbacks it made (clearing them and the logs before).
    pub fn calls(&mut self, name: &str, data: &str) -> Vec<Call> {
        self.clear();
        let d = self.event(name, data);
        assert_eq!(
            d.restart, None,
            "unexpected restart; logs: {:?}",
            self.rec.logs
        );
        core::mem::take(&mut self.rec.calls)
    }

    /// Feeds an event that must be rejected as malformed: a restart and no callbacks.
    pub fn assert_malformed(&mut self, name: &str, data: &str) {
        self.clear();
        let d = self.event(name, data);
        assert_eq!(d.restart, Some(RestartReason::MalformedData), "{data}");
        assert_eq!(self.rec.calls, [], "{data}");
        assert!(
            self.logged(Level::Error, "malformed JSON"),
            "{:?}",
            self.rec.logs
        );
    }

    /// Moves the clock forward by `ms`, ticking at every deadline on the way, like a host would.
    pub fn advance(&mut self, ms: u64) -> Vec<Call> {
        let target = self.now + ms;
        self.rec.calls.clear();
        while let Some(due) = self.machine.next_deadline().filter(|d| *d <= target) {
            self.now = self.now.max(due);
            self.machine.tick(self.now, &mut self.rec);
        }
        self.now = target;
        core::mem::take(&mut self.rec.calls)
    }

    pub fn clear(&mut self) {
        self.rec.calls.clear();
        self.rec.logs.clear();
    }

    pub fn logged(&self, level: Level, fragment: &str) -> bool {
        self.rec
            .logs
            .iter()
            .any(|(l, m)| *l == level && m.contains(fragment))
    }

    pub fn logged_at_or_above(&self, level: Level) -> Vec<String> {
        self.rec
            .logs
            .iter()
            .filter(|(l, _)| *l >= level)
            .map(|(_, m)| m.clone())
            .collect()
    }

    pub fn live_ids(&self) -> Vec<String> {
        self.machine
            .environments()
            .map(|e| e.env_id().to_string())
            .collect()
    }
}

/// The reference's test environment `env1`-style JSON: id, version and optional overrides.
pub fn env_json(id: &str, version: i64) -> String {
    format!(
        r#"{{"envId":"{id}","envKey":"{id}-key","envName":"{id}-name","mobKey":"mob-{id}","projKey":"proj","projName":"Project","sdkKey":{{"value":"sdk-{id}"}},"defaultTtl":2,"secureMode":true,"version":{version}}}"#
    )
}

/// An environment with an expiring old key.
pub fn env_expiring(id: &str, version: i64, old_key: &str, timestamp: u64) -> String {
    format!(
        r#"{{"envId":"{id}","envKey":"{id}-key","envName":"{id}-name","mobKey":"mob-{id}","projKey":"proj","projName":"Project","sdkKey":{{"value":"sdk-{id}","expiring":{{"value":"{old_key}","timestamp":{timestamp}}}}},"version":{version}}}"#
    )
}

/// The params `env_json(id, version)` produces.
pub fn params(id: &str, version: i64) -> EnvironmentParams {
    EnvironmentParams {
        env_id: id.to_string(),
        env_key: format!("{id}-key"),
        env_name: format!("{id}-name"),
        project_key: "proj".to_string(),
        project_name: "Project".to_string(),
        sdk_key: format!("sdk-{id}"),
        mobile_key: format!("mob-{id}"),
        expiring_sdk_key: None,
        default_ttl_minutes: 2,
        secure_mode: true,
        version,
    }
}

/// The params `env_expiring(...)` produces, with the expiring key as the handler sees it.
pub fn params_expiring(
    id: &str,
    version: i64,
    expiring: Option<(&str, Option<u64>)>,
) -> EnvironmentParams {
    EnvironmentParams {
        default_ttl_minutes: 0,
        secure_mode: false,
        expiring_sdk_key: expiring.map(|(key, expires_at)| ExpiringKey {
            key: key.to_string(),
            expires_at,
        }),
        ..params(id, version)
    }
}

/// A put message with the given environment JSON entries keyed by their IDs.
pub fn put(entries: &[(&str, String)]) -> String {
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!(r#""{k}":{v}"#))
        .collect();
    format!(
        r#"{{"path":"/","data":{{"environments":{{{}}}}}}}"#,
        body.join(",")
    )
}

pub fn patch(id: &str, env: &str) -> String {
    format!(r#"{{"path":"/environments/{id}","data":{env}}}"#)
}

pub fn delete(id: &str, version: i64) -> String {
    format!(r#"{{"path":"/environments/{id}","version":{version}}}"#)
}
