//! Logging bounds (Rule 9 of docs/rules.md): every log line has a bounded length whatever the
//! input, and the lines an upstream can repeat without changing any state are rate-limited (at
//! most 10 of a kind per 60 s of `now`, then one summary line). Virtual time only.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;

use super::*;
use crate::machine::{Filtered, Kind, LINES_PER_WINDOW, Limiter, Log, WINDOW_MS};
use crate::{Client, Settings, StreamOptions};

/// The limit every log line must stay under, in bytes.
const MAX_LINE_BYTES: usize = 2048;

/// How many log lines contain `fragment`.
fn count(logs: &[(Level, String)], fragment: &str) -> usize {
    logs.iter().filter(|(_, m)| m.contains(fragment)).count()
}

/// The log lines containing `fragment`.
fn lines<'a>(logs: &'a [(Level, String)], fragment: &str) -> Vec<&'a (Level, String)> {
    logs.iter().filter(|(_, m)| m.contains(fragment)).collect()
}

fn options() -> StreamOptions {
    StreamOptions {
        key: "rel-key-0001".into(),
        stream_uri: "http://stream.test".into(),
        initial_retry_delay_ms: 100,
        read_timeout_ms: 300_000,
        jitter_seed: 1,
        last_event_id: None,
        prior_failures: 0,
    }
}

/// A client started and connected at `now`.
fn connected(options: &StreamOptions, rec: &mut Recorder, now: u64) -> Client {
    let mut c = Client::new();
    let step = c.start(options, now, rec).expect("valid options");
    assert!(step.connect.is_some());
    let step = c.on_response(200, Some("text/event-stream"), None, now, rec);
    assert!(!step.disconnect, "{:?}", rec.logs);
    c
}

// Bounded lines.

/// 150 KB values of every troublesome sort: plain, control characters, quotes and backslashes,
/// astral characters, a mix.
fn huge_values() -> Vec<String> {
    const SIZE: usize = 150 * 1024;
    let fill = |unit: &str| unit.repeat(SIZE / unit.len());
    Vec::from([
        fill("x"),
        // Each shown as 6 characters: 3 fields of 120 of them made 2,160 bytes when the cap
        // counted the characters before escaping.
        fill("\u{1b}"),
        fill("\u{1b}\u{9f}\n"),
        fill("\"\\"),
        fill("🦀"),
        fill("a\u{0}\"\\é🦀\r"),
    ])
}

/// Escapes `value` as a JSON string's content.
fn json_str(value: &str) -> String {
    let quoted = serde_json::to_string(value).expect("a string serializes");
    quoted[1..quoted.len() - 1].into()
}

/// An environment whose id, names and keys are all `big` (as JSON string content).
fn big_env(id: &str, big: &str, version: i64, expiring: Option<u64>) -> String {
    let expiring = expiring.map_or(String::new(), |t| {
        format!(r#","expiring":{{"value":"old-{big}","timestamp":{t}}}"#)
    });
    format!(
        r#"{{"envId":"{id}","envKey":"{big}","envName":"{big}","mobKey":"{big}","projKey":"{big}","projName":"{big}","sdkKey":{{"value":"sdk-{big}"{expiring}}},"version":{version}}}"#
    )
}

fn assert_all_bounded(logs: &[(Level, String)]) {
    for (level, line) in logs {
        assert!(
            line.len() < MAX_LINE_BYTES,
            "a {level:?} line of {} bytes: {}…",
            line.len(),
            line.chars().take(300).collect::<String>()
        );
    }
}

/// Feeds an event a minute after the previous one: nothing is rate-limited away.
fn next_minute(h: &mut Harness, name: &str, data: &str) {
    h.now += WINDOW_MS;
    h.event(name, data);
}

#[test]
fn every_machine_log_line_is_bounded_whatever_the_input() {
    let mut all = Vec::new();
    for big in huge_values() {
        let h = &mut Harness::new();
        let b = json_str(&big);
        let patch_env = |h: &mut Harness, version: i64, expiring: Option<u64>| {
            let env = big_env(&b, &b, version, expiring);
            next_minute(h, "patch", &patch(&b, &env));
        };
        // Unknown events, reconnect.
        next_minute(h, &big, "{}");
        next_minute(h, "reconnect", &big);
        // Unknown paths.
        next_minute(
            h,
            "put",
            &format!(r#"{{"path":"{b}","data":{{"environments":{{}}}}}}"#),
        );
        next_minute(h, "patch", &format!(r#"{{"path":"{b}","data":{{}}}}"#));
        next_minute(h, "delete", &format!(r#"{{"path":"{b}","version":1}}"#));
        // Mismatched ids, in a put and a patch.
        let other = format!(r#"{{"envId":"other-{b}"}}"#);
        next_minute(h, "put", &put(&[(&b, other.clone())]));
        next_minute(h, "patch", &patch(&b, &other));
        // Added with an expiring key, updated, ignored, moved into the past, expired, cancelled,
        // removed.
        let later = h.now + 10 * WINDOW_MS;
        next_minute(h, "put", &put(&[(&b, big_env(&b, &b, 1, Some(later)))]));
        patch_env(h, 2, Some(later));
        patch_env(h, 1, None);
        patch_env(h, 3, Some(h.now - 1));
        h.machine.tick(h.now, &mut h.rec);
        patch_env(h, 4, Some(h.now - 1));
        patch_env(h, 5, Some(h.now + 2 * WINDOW_MS));
        patch_env(h, 6, None);
        patch_env(h, 7, Some(h.now + 2 * WINDOW_MS));
        h.advance(2 * WINDOW_MS);
        next_minute(h, "put", &put(&[]));
        // Deletes of every outcome, and updates of a deleted environment.
        for v in [10, 10, 9, 11] {
            next_minute(h, "delete", &delete(&b, v));
        }
        patch_env(h, 2, None);
        patch_env(h, 20, None);
        next_minute(h, "delete", &delete(&b, 1));
        // Malformed: a wrong type holding the value, a huge float, an unclosed string.
        next_minute(
            h,
            "patch",
            &patch(&b, &format!(r#"{{"envId":"{b}","version":"{b}"}}"#)),
        );
        let huge_float = format!("1{}", "0".repeat(300));
        next_minute(
            h,
            "patch",
            &patch("x", &format!(r#"{{"envId":"x","version":{huge_float}}}"#)),
        );
        next_minute(h, "put", &format!(r#"{{"path":"{b}"#));
        // Refused over the state limit.
        h.machine.configure(Settings {
            max_state_bytes: 1000,
            ..Settings::default()
        });
        patch_env(h, 30, None);
        // Oversized.
        h.machine.configure(Settings {
            max_message_bytes: 10,
            ..Settings::default()
        });
        next_minute(h, "put", &big);
        all.append(&mut h.rec.logs);
    }
    for fragment in [
        "Ignoring unrecognized stream event",
        "Will restart",
        "event for unknown path",
        "did not match key",
        "Added environment",
        "will expire at",
        "Properties have changed",
        "Ignoring out-of-order update for environment",
        "now expires at",
        "has expired",
        "already expired",
        "is no longer expiring",
        "Removed environment",
        "Remembering deletion",
        "was already deleted",
        "Ignoring out-of-order delete for environment",
        "stays deleted",
        "(deleted at version",
        "malformed JSON data (invalid type",
        "Refusing environment",
        "over the limit of 10",
    ] {
        assert!(count(&all, fragment) > 0, "no line with {fragment:?}");
    }
    assert_all_bounded(&all);
}

#[test]
fn every_stream_log_line_is_bounded_whatever_the_input() {
    let mut all = Vec::new();
    for big in huge_values() {
        let rec = &mut Recorder::default();
        let mut now = T0;
        // A long stream URI and key (both valid).
        let long = StreamOptions {
            stream_uri: format!("http://stream.test/{}", "p".repeat(150 * 1024)),
            key: format!("k{}", "k".repeat(150 * 1024)),
            last_event_id: Some(big.clone()),
            ..options()
        };
        let mut c = connected(&long, rec, now);
        // Event names, ids and comments from the body.
        let flat: String = big.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        let body = format!(
            ": {flat}\nid: {flat}\nevent: {flat}\ndata: 1\n\nretry: 99999999999999999999999\n\n"
        );
        c.on_body(body.as_bytes(), now, rec);
        // The error of a closed connection.
        c.on_closed(Some(&big), now, rec);
        // Content types and Location headers.
        for (status, content_type, location) in [
            (200, Some(big.as_str()), None),
            (302, None, Some(format!("/{flat}"))),
            (302, None, Some(format!("http://elsewhere.test/{flat}"))),
            (302, None, Some(big.clone())),
            (500, Some(big.as_str()), Some(big.clone())),
        ] {
            now += 10 * WINDOW_MS;
            let step = c.on_timeout(now, rec);
            assert!(step.connect.is_some(), "{step:?}");
            c.on_response(status, content_type, location.as_deref(), now, rec);
            c.on_closed(None, now, rec);
        }
        // An oversized event whose name is as long as a line may be.
        c.configure(Settings {
            max_message_bytes: 64,
            ..Settings::default()
        });
        now += 10 * WINDOW_MS;
        c.on_timeout(now, rec);
        c.on_response(200, Some("text/event-stream"), None, now, rec);
        let oversized = format!("event: {flat}\ndata: {}\n\n", "d".repeat(100));
        c.on_body(oversized.as_bytes(), now, rec);
        all.append(&mut rec.logs);
    }
    for fragment in [
        "Connecting to auto-configuration stream at http://stream.test/ppp",
        "Heartbeat",
        "Ignoring unrecognized stream event",
        "The server set the reconnect delay",
        "Unexpected error on auto-configuration stream: ",
        "is not text/event-stream",
        "Following a redirect",
        "not following the redirect",
        "HTTP error 500",
        "Ignoring an oversized",
    ] {
        assert!(count(&all, fragment) > 0, "no line with {fragment:?}");
    }
    assert_all_bounded(&all);
}

// Rate limits.

#[test]
fn a_flood_of_unknown_events_logs_ten_lines_then_one_summary() {
    let mut h = Harness::new();
    for i in 0..100_000 {
        // All within the first minute.
        h.now = T0 + i * (WINDOW_MS - 1) / 100_000;
        h.event("magic", "{}");
    }
    let logs = &h.rec.logs;
    assert_eq!(count(logs, "Ignoring unrecognized stream event:"), 10);
    assert_eq!(count(logs, "Received \"magic\" event"), 10);
    assert_eq!(logs.len(), 20, "{logs:?}");
    assert_eq!(
        count(logs, "Suppressed"),
        0,
        "no summary while the window lasts"
    );
    // The next call of any kind after the window: the summaries, once, at the lines' levels.
    h.clear();
    h.now = T0 + WINDOW_MS;
    h.machine.tick(h.now, &mut h.rec);
    assert_eq!(
        h.rec.logs,
        [
            (
                Level::Debug,
                "Suppressed 99,990 more \"Received <name> event\" lines in the 60 s from 2026-11-30T00:53:20.000Z".into()
            ),
            (
                Level::Warn,
                "Suppressed 99,990 more \"Ignoring unrecognized stream event\" lines in the 60 s from 2026-11-30T00:53:20.000Z".into()
            ),
        ]
    );
    h.clear();
    h.machine.tick(h.now, &mut h.rec);
    h.event("magic", "{}");
    assert_eq!(count(&h.rec.logs, "Suppressed"), 0, "{:?}", h.rec.logs);
    assert_eq!(h.rec.logs.len(), 2, "a new window: {:?}", h.rec.logs);
}

#[test]
fn the_summary_comes_before_the_next_line_of_its_kind() {
    let mut h = Harness::new();
    for _ in 0..15 {
        h.event("magic", "{}");
    }
    h.clear();
    h.now += 2 * WINDOW_MS;
    h.event("other", "");
    let logs: Vec<&str> = h.rec.logs.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        logs,
        [
            "Suppressed 5 more \"Received <name> event\" lines in the 60 s from 2026-11-30T00:53:20.000Z",
            "Suppressed 5 more \"Ignoring unrecognized stream event\" lines in the 60 s from 2026-11-30T00:53:20.000Z",
            "Received \"other\" event (0 bytes of data)",
            "Ignoring unrecognized stream event: \"other\"",
        ]
    );
    // One suppressed line: singular.
    for _ in 0..10 {
        h.event("x", "");
    }
    h.now += WINDOW_MS;
    h.clear();
    h.machine.tick(h.now, &mut h.rec);
    assert!(
        h.logged(
            Level::Warn,
            "Suppressed 1 more \"Ignoring unrecognized stream event\" line in"
        ),
        "{:?}",
        h.rec.logs
    );
}

#[test]
fn kinds_are_limited_independently() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("a", env_json("a", 5))]));
    h.clear();
    // A minute after the put's own lines: whole budgets.
    h.now += WINDOW_MS;
    for i in 0..25 {
        h.event("magic", "{}");
        h.event("patch", &format!(r#"{{"path":"/flags/{i}","data":{{}}}}"#));
        h.event("patch", &patch("a", &env_json("a", 4)));
    }
    let logs = &h.rec.logs;
    assert_eq!(count(logs, "Ignoring unrecognized stream event:"), 10);
    assert_eq!(count(logs, "for unknown path"), 10);
    assert_eq!(
        count(logs, "Ignoring out-of-order update for environment a"),
        10
    );
    assert_eq!(count(logs, "Received \""), 10);
    h.clear();
    h.now += WINDOW_MS;
    h.machine.tick(h.now, &mut h.rec);
    let summaries: Vec<&str> = h.rec.logs.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        summaries,
        [
            "Suppressed 65 more \"Received <name> event\" lines in the 60 s from 2026-11-30T00:54:20.000Z",
            "Suppressed 15 more \"Ignoring unrecognized stream event\" lines in the 60 s from 2026-11-30T00:54:20.000Z",
            "Suppressed 15 more \"Ignoring <event> event for unknown path\" lines in the 60 s from 2026-11-30T00:54:20.000Z",
            "Suppressed 15 more \"Ignoring out-of-order update for environment <id> <names>\" lines in the 60 s from 2026-11-30T00:54:20.000Z",
        ]
    );
    let levels: Vec<Level> = h.rec.logs.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        levels,
        [Level::Debug, Level::Warn, Level::Info, Level::Info]
    );
}

#[test]
fn a_quiet_period_resets_the_budget() {
    let mut h = Harness::new();
    // Ten at the start of a window: all sent, nothing to summarise.
    for _ in 0..10 {
        h.event("magic", "{}");
    }
    h.now += WINDOW_MS - 1;
    h.event("magic", "{}");
    assert_eq!(
        count(&h.rec.logs, "Ignoring unrecognized stream event:"),
        10,
        "the 11th in the window"
    );
    // The window is over: a whole budget again, and a summary of the one suppressed.
    h.now += 1;
    h.clear();
    for _ in 0..10 {
        h.event("magic", "{}");
    }
    assert_eq!(
        count(&h.rec.logs, "Ignoring unrecognized stream event:"),
        10
    );
    assert_eq!(
        count(&h.rec.logs, "Suppressed 1 more"),
        2,
        "{:?}",
        h.rec.logs
    );
    // Ten per window, however long the flood: 10 minutes of one event a second.
    h.clear();
    let start = h.now + WINDOW_MS;
    for s in 0..600 {
        h.now = start + s * 1000;
        h.event("magic", "{}");
    }
    assert_eq!(
        count(&h.rec.logs, "Ignoring unrecognized stream event:"),
        100
    );
    let summaries = lines(&h.rec.logs, "Suppressed 50 more \"Ignoring unrecognized");
    assert_eq!(summaries.len(), 9, "{:?}", h.rec.logs);
    // A summary never repeats: none due now.
    h.clear();
    h.machine.tick(h.now, &mut h.rec);
    assert_eq!(h.rec.logs, []);
}

#[test]
fn real_changes_are_never_suppressed() {
    let mut h = Harness::new();
    // Unknown events first, so that every budget of the minute is in use.
    for _ in 0..50 {
        h.event("magic", "");
    }
    for i in 0..50 {
        h.event(
            "patch",
            &patch(&format!("e{i}"), &env_json(&format!("e{i}"), 1)),
        );
        h.event(
            "patch",
            &patch(
                &format!("e{i}"),
                &env_expiring(&format!("e{i}"), 2, "old-key", T0 + 1000),
            ),
        );
        h.event("delete", &delete(&format!("gone{i}"), 1));
        h.event("put", "{bad");
        h.event("reconnect", "");
    }
    let expired = h.advance(1000);
    h.event("put", &put(&[]));
    let logs = &h.rec.logs;
    for (fragment, n) in [
        ("Added environment", 50),
        ("Properties have changed", 50),
        ("will expire at", 50),
        ("has expired", 50),
        ("Remembering deletion of unknown environment", 50),
        ("malformed JSON data", 50),
        ("Will restart auto-configuration stream", 50),
        ("Received configuration for 0", 1),
        ("Removed environment", 50),
    ] {
        assert_eq!(count(logs, fragment), n, "{fragment}");
    }
    // The calls were made all along.
    let expired = expired
        .iter()
        .filter(|c| matches!(c, Call::KeyExpired(..)))
        .count();
    assert_eq!(expired, 50);
}

#[test]
fn lines_below_the_log_level_are_not_counted() {
    let mut h = Harness::new();
    h.machine.configure(Settings {
        log_level: Level::Info,
        ..Settings::default()
    });
    for _ in 0..100 {
        h.event("magic", "");
    }
    assert_eq!(count(&h.rec.logs, "Received"), 0);
    h.machine.configure(Settings::default());
    for _ in 0..10 {
        h.event("magic", "");
    }
    assert_eq!(count(&h.rec.logs, "Received"), 10, "a whole budget");
    // And a summary below the level is not sent.
    h.event("magic", "");
    h.machine.configure(Settings {
        log_level: Level::Info,
        ..Settings::default()
    });
    h.clear();
    h.now += WINDOW_MS;
    h.machine.tick(h.now, &mut h.rec);
    assert_eq!(
        h.rec.logs,
        [(
            Level::Warn,
            "Suppressed 101 more \"Ignoring unrecognized stream event\" lines in the 60 s from 2026-11-30T00:53:20.000Z".into()
        )]
    );
}

#[test]
fn a_clock_stepping_back_moves_the_windows_back() {
    let mut h = Harness::new();
    for _ in 0..20 {
        h.event("magic", "");
    }
    // An hour back: the window still ends 60 s of `now` after it started.
    h.now -= 3_600_000;
    h.event("magic", "");
    h.now += WINDOW_MS - 1;
    h.clear();
    h.machine.tick(h.now, &mut h.rec);
    assert_eq!(h.rec.logs, []);
    h.now += 1;
    h.machine.tick(h.now, &mut h.rec);
    assert_eq!(
        count(&h.rec.logs, "Suppressed 11 more"),
        2,
        "{:?}",
        h.rec.logs
    );
    assert!(h.logged(Level::Warn, "in the 60 s from 2026-11-29T23:53:20.000Z"));
}

#[test]
fn suppressed_lines_are_never_formatted() {
    /// Counts how often it is formatted.
    struct Counted<'a>(&'a Cell<u32>);
    impl fmt::Display for Counted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.set(self.0.get() + 1);
            f.write_str("x")
        }
    }
    let formatted = Cell::new(0);
    let mut rec = Recorder::default();
    let mut limiter = Limiter::default();
    {
        let h = &mut Filtered::limited_by(&mut rec, Level::Debug, &mut limiter, T0);
        for _ in 0..100_000 {
            h.limited(
                Kind::UnrecognizedEvent,
                Level::Warn,
                format_args!("{}", Counted(&formatted)),
            );
        }
    }
    assert_eq!(formatted.get(), LINES_PER_WINDOW);
    assert_eq!(rec.logs.len(), 10);
}

#[test]
fn the_machine_keeps_its_limits_across_a_restore() {
    let mut h = Harness::new();
    for _ in 0..20 {
        h.event("magic", "");
    }
    let snapshot = h.machine.snapshot(None);
    h.machine
        .restore(&snapshot, false, &mut h.rec)
        .expect("restores");
    h.clear();
    h.event("magic", "");
    assert_eq!(h.rec.logs, [], "still suppressed");
    h.now += WINDOW_MS;
    h.machine.tick(h.now, &mut h.rec);
    assert!(
        h.logged(Level::Warn, "Suppressed 11 more"),
        "{:?}",
        h.rec.logs
    );
}

// The stream client's kinds.

#[test]
fn a_flood_through_the_stream_logs_ten_lines_of_each_kind() {
    let rec = &mut Recorder::default();
    let mut c = connected(&options(), rec, T0);
    rec.logs.clear();
    let mut body = String::new();
    for _ in 0..100_000 {
        body.push_str(":\nevent: magic\ndata: 1\n\nretry: 2000\n");
    }
    let step = c.on_body(body.as_bytes(), T0 + 1, rec);
    assert!(!step.disconnect);
    let logs = &rec.logs;
    for fragment in [
        "Heartbeat on auto-configuration stream",
        "Received \"magic\" event",
        "Ignoring unrecognized stream event",
        "The server set the reconnect delay to 2000 ms",
    ] {
        assert_eq!(count(logs, fragment), 10, "{fragment}");
    }
    assert_eq!(logs.len(), 40);
    rec.logs.clear();
    c.on_timeout(T0 + 1 + WINDOW_MS, rec);
    let summaries: Vec<&str> = rec.logs.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        summaries,
        [
            "Suppressed 99,990 more \"Received <name> event\" lines in the 60 s from 2026-11-30T00:53:20.001Z",
            "Suppressed 99,990 more \"Ignoring unrecognized stream event\" lines in the 60 s from 2026-11-30T00:53:20.001Z",
            "Suppressed 99,990 more \"Heartbeat on auto-configuration stream\" lines in the 60 s from 2026-11-30T00:53:20.001Z",
            "Suppressed 99,990 more \"The server set the reconnect delay\" lines in the 60 s from 2026-11-30T00:53:20.001Z",
        ]
    );
}

#[test]
fn calls_that_do_not_fit_the_protocol_are_limited_per_kind() {
    let rec = &mut Recorder::default();
    let mut c = Client::new();
    for _ in 0..30 {
        c.on_body(b"x", T0, rec);
        c.on_closed(None, T0, rec);
    }
    // One kind for every call before `start`.
    assert_eq!(count(&rec.logs, "Ignoring stream.on-body"), 5);
    assert_eq!(count(&rec.logs, "Ignoring stream.on-closed"), 5);
    c.start(&options(), T0, rec).expect("valid options");
    rec.logs.clear();
    for _ in 0..30 {
        c.on_body(b"x", T0, rec);
        c.on_closed(None, T0, rec);
    }
    // Open, then ended: every later close and response is out of protocol.
    for _ in 0..30 {
        c.on_closed(None, T0, rec);
        c.on_response(200, Some("text/event-stream"), None, T0, rec);
    }
    let logs = &rec.logs;
    assert_eq!(
        count(logs, "bytes of body while no event stream is open"),
        10
    );
    assert_eq!(
        count(
            logs,
            "Ignoring the end of a connection that was already closed"
        ),
        10
    );
    assert_eq!(count(logs, "while no request is open"), 10);
    // Real changes meanwhile: the first close ended the request.
    assert_eq!(count(logs, "the request ended without a response"), 1);
    rec.logs.clear();
    let step = c.on_timeout(T0 + WINDOW_MS, rec);
    assert!(step.connect.is_some(), "the reconnect is due too");
    let logs: Vec<&str> = rec.logs.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        logs[..4],
        [
            "Suppressed 20 more \"Ignoring a response while no request is open\" lines in the 60 s from 2026-11-30T00:53:20.000Z",
            "Suppressed 20 more \"Ignoring bytes of body while no event stream is open\" lines in the 60 s from 2026-11-30T00:53:20.000Z",
            "Suppressed 49 more \"Ignoring the end of a connection that was already closed\" lines in the 60 s from 2026-11-30T00:53:20.000Z",
            "Suppressed 50 more \"Ignoring stream.<call>: the stream client was not started\" lines in the 60 s from 2026-11-30T00:53:20.000Z",
        ]
    );
    assert!(
        logs[4].starts_with("Connecting to auto-configuration stream"),
        "{logs:?}"
    );
}

#[test]
fn connection_changes_are_never_suppressed() {
    let rec = &mut Recorder::default();
    let mut now = T0;
    let mut c = connected(&options(), rec, now);
    for _ in 0..30 {
        // The server's reconnect, then the host restarts the stream client (which connects at
        // once): 30 connection changes within a minute. (Waiting out each reconnect would take
        // longer than the window now that repeated reconnects back off.)
        let step = c.on_body(b"event: reconnect\ndata: x\n\n", now, rec);
        assert!(step.disconnect);
        assert!(step.next_deadline.is_some(), "a reconnect wait");
        now += 100;
        assert!(
            c.start(&options(), now, rec)
                .expect("valid")
                .connect
                .is_some()
        );
        c.on_response(200, Some("text/event-stream"), None, now, rec);
    }
    assert!(now - T0 < WINDOW_MS);
    let logs = &rec.logs;
    assert_eq!(count(logs, "Will restart auto-configuration stream"), 30);
    assert_eq!(count(logs, "Reconnecting in"), 30);
    assert_eq!(count(logs, "Connecting to auto-configuration stream"), 31);
    assert_eq!(count(logs, "Connected to auto-configuration stream"), 31);
    assert_eq!(
        count(logs, "Received \"reconnect\""),
        10,
        "only this one is limited"
    );
}

#[test]
fn oversized_events_of_other_names_are_limited_but_not_restarts() {
    let rec = &mut Recorder::default();
    let mut c = connected(&options(), rec, T0);
    c.configure(Settings {
        max_message_bytes: 8,
        ..Settings::default()
    });
    let mut body = String::new();
    for _ in 0..50 {
        body.push_str("event: big\ndata: 0123456789\n\n");
    }
    c.on_body(body.as_bytes(), T0, rec);
    assert_eq!(count(&rec.logs, "Ignoring an oversized \"big\" event"), 10);
    // An oversized put ends the connection: always logged.
    let mut now = T0;
    for _ in 0..20 {
        let step = c.on_body(b"event: put\ndata: 0123456789\n\n", now, rec);
        assert!(step.disconnect);
        now = step.next_deadline.expect("a wait");
        assert!(c.on_timeout(now, rec).connect.is_some());
        c.on_response(200, Some("text/event-stream"), None, now, rec);
    }
    assert_eq!(
        count(
            &rec.logs,
            "Received streaming \"put\" event with malformed JSON data (over the limit of 8 bytes)"
        ),
        20
    );
}
