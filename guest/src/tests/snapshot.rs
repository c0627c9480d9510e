//! Snapshots: round trips that keep behaviour, announcing, and every kind of bad bytes.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{
    Call, Harness, Recorder, T0, delete, env_expiring, env_json, params, params_expiring, patch,
    put,
};
use crate::snapshot::{self, HEADER_BYTES, MAGIC, SnapState, SnapshotError, VERSION};
use crate::{Client, Level, Machine, Settings};

/// A machine with live environments, a pending and a fired expiry, and tombstones.
fn busy() -> Harness {
    let mut h = Harness::new();
    h.event(
        "put",
        &put(&[
            ("a", env_json("a", 1)),
            ("b", env_expiring("b", 2, "old-b", T0 + 5_000)),
            ("c", env_expiring("c", 3, "old-c", T0 + 1_000)),
            ("d", env_expiring("d", 1, "old-d", 0)),
        ]),
    );
    h.advance(1_000); // c's key expires
    h.event("delete", &delete("ghost", 7));
    h.event("delete", &delete("a", 2));
    h.clear();
    h
}

fn restored(bytes: &[u8]) -> Harness {
    let mut h = Harness::new();
    h.now = T0 + 1_000;
    h.machine
        .restore(bytes, false, &mut h.rec)
        .expect("a valid snapshot");
    h.clear();
    h
}

#[test]
fn a_restored_machine_behaves_like_the_original() {
    let mut a = busy();
    let bytes = a.machine.snapshot(Some("id-9"));
    let mut b = restored(&bytes);
    assert_eq!(
        b.machine.snapshot(Some("id-9")),
        bytes,
        "snapshots are stable"
    );
    assert_eq!(b.machine.tombstones(), 2);
    assert_eq!(b.machine.pending_timers(), 1);
    assert_eq!(b.machine.state_bytes(), a.machine.state_bytes());
    b.machine.check_counters();
    // The same later events give the same callbacks in both.
    let later = [
        ("patch", patch("a", &env_json("a", 2))),
        ("patch", patch("ghost", &env_json("ghost", 8))),
        (
            "put",
            put(&[
                ("b", env_expiring("b", 2, "old-b", T0 + 5_000)),
                ("d", env_json("d", 2)),
            ]),
        ),
    ];
    for (name, data) in &later {
        assert_eq!(a.calls(name, data), b.calls(name, data), "{name} {data}");
    }
    assert_eq!(a.advance(10_000), b.advance(10_000));
}

#[test]
fn restoring_is_silent_unless_announced() {
    let a = busy();
    let bytes = a.machine.snapshot(None);
    let mut quiet = Harness::new();
    quiet
        .machine
        .restore(&bytes, false, &mut quiet.rec)
        .expect("valid");
    assert_eq!(quiet.rec.calls, []);
    let mut loud = Harness::new();
    loud.machine
        .restore(&bytes, true, &mut loud.rec)
        .expect("valid");
    // Expiring keys are shown as they were: b's pending, d's without a time; c's fired one not.
    assert_eq!(
        loud.rec.calls,
        [
            Call::Add(params_expiring("b", 2, Some(("old-b", Some(T0 + 5_000))))),
            Call::Add(params_expiring("c", 3, None)),
            Call::Add(params_expiring("d", 1, Some(("old-d", None)))),
            Call::ReceivedAll,
        ]
    );
    assert!(loud.logged(
        Level::Info,
        "Restored 3 environment(s), 2 deletion(s) and 1 pending"
    ));
}

#[test]
fn a_restored_put_gives_only_the_differences() {
    let mut h = Harness::new();
    h.event(
        "put",
        &put(&[("a", env_json("a", 1)), ("b", env_json("b", 1))]),
    );
    let bytes = h.machine.snapshot(None);
    let mut fresh = restored(&bytes);
    assert_eq!(
        fresh.calls(
            "put",
            &put(&[("a", env_json("a", 1)), ("c", env_json("c", 1))])
        ),
        [
            Call::Add(params("c", 1)),
            Call::Delete("b".into()),
            Call::ReceivedAll
        ]
    );
}

#[test]
fn the_last_event_id_travels_with_the_client() {
    let mut rec = Recorder::default();
    let mut c = Client::new();
    let options = crate::StreamOptions {
        key: "k-0001".into(),
        stream_uri: "http://s.test".into(),
        initial_retry_delay_ms: 1000,
        read_timeout_ms: 1000,
        jitter_seed: 1,
        last_event_id: None,
        prior_failures: 0,
    };
    c.start(&options, T0, &mut rec).expect("valid");
    c.on_response(200, Some("text/event-stream"), None, T0, &mut rec);
    c.on_body(
        b"id: 77\nevent: put\ndata: {\"path\":\"/\",\"data\":{\"environments\":{}}}\n\n",
        T0,
        &mut rec,
    );
    let bytes = c.snapshot();
    let mut d = Client::new();
    let r = d.restore(&bytes, false, &mut rec).expect("valid");
    assert_eq!(r.last_event_id.as_deref(), Some("77"));
    let step = d.start(&options, T0, &mut rec).expect("valid");
    let headers = step.connect.expect("connect").headers;
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "Last-Event-ID" && v == "77"),
        "{headers:?}"
    );
}

/// Re-wraps a payload with a correct header, so that only the content is wrong.
fn wrapped(payload: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&snapshot::crc32(payload.as_bytes()).to_le_bytes());
    out.extend_from_slice(payload.as_bytes());
    out
}

/// Every kind of bad bytes is refused with its own error, and the state stays as it was.
#[test]
fn bad_snapshots_are_refused_and_change_nothing() {
    let good = busy().machine.snapshot(Some("x"));
    let mut cases: Vec<(String, Vec<u8>, &str)> = vec![
        ("empty".into(), vec![], "truncated"),
        ("half a header".into(), good[..10].to_vec(), "truncated"),
        (
            "header only".into(),
            good[..HEADER_BYTES].to_vec(),
            "truncated",
        ),
        (
            "cut payload".into(),
            good[..good.len() - 1].to_vec(),
            "truncated",
        ),
        (
            "foreign".into(),
            b"{\"environments\":[]}".to_vec(),
            "not a relay-autoconfig snapshot",
        ),
        (
            "gzip".into(),
            vec![
                0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            "not a relay-autoconfig",
        ),
        (
            "trailing".into(),
            [good.clone(), b"\n".to_vec()].concat(),
            "bytes follow",
        ),
        ("version 0".into(), wrapped_version(&good, 0), "corrupt"),
        (
            "newer".into(),
            wrapped_version(&good, 2),
            "format version 2",
        ),
        ("bad JSON".into(), wrapped("{\"environments\":["), "invalid"),
        (
            "unknown field".into(),
            wrapped("{\"environments\":[],\"tombstones\":[],\"lastEventId\":null,\"x\":1}"),
            "unknown field",
        ),
        (
            "missing field".into(),
            wrapped("{\"environments\":[]}"),
            "missing field",
        ),
        (
            "wrong type".into(),
            wrapped("{\"environments\":{},\"tombstones\":[],\"lastEventId\":null}"),
            "invalid",
        ),
        (
            "duplicate env".into(),
            wrapped(&format!(
                "{{\"environments\":[{e},{e}],\"tombstones\":[],\"lastEventId\":null}}",
                e = snap_env("a", false, None)
            )),
            "appears twice",
        ),
        (
            "empty tombstone id".into(),
            wrapped(
                "{\"environments\":[],\"tombstones\":[{\"envId\":\"\",\"version\":1}],\"lastEventId\":null}",
            ),
            "is empty",
        ),
        (
            "timer without key".into(),
            wrapped(&format!(
                "{{\"environments\":[{}],\"tombstones\":[],\"lastEventId\":null}}",
                snap_env("a", true, None)
            )),
            "pending expiry",
        ),
        (
            "timer at 0".into(),
            wrapped(&format!(
                "{{\"environments\":[{}],\"tombstones\":[],\"lastEventId\":null}}",
                snap_env("a", true, Some(0))
            )),
            "pending expiry",
        ),
        (
            "tombstone also live".into(),
            wrapped(&format!(
                "{{\"environments\":[{}],\"tombstones\":[{{\"envId\":\"a\",\"version\":1}}],\"lastEventId\":null}}",
                snap_env("a", false, None)
            )),
            "also live",
        ),
    ];
    // A flipped bit anywhere in the payload breaks the checksum.
    for offset in [
        HEADER_BYTES,
        HEADER_BYTES + 7,
        good.len() / 2,
        good.len() - 1,
    ] {
        let mut bad = good.clone();
        bad[offset] ^= 0x04;
        cases.push((format!("bit flip at {offset}"), bad, "checksum"));
    }
    let mut bad = good.clone();
    bad[20] ^= 1;
    cases.push(("bad checksum".into(), bad, "checksum"));
    for (name, bytes, fragment) in cases {
        let mut h = busy();
        let before = h.machine.snapshot(Some("x"));
        let err = h
            .machine
            .restore(&bytes, true, &mut h.rec)
            .expect_err(&name);
        let text = err.to_string();
        assert!(text.contains(fragment), "{name}: {text}");
        assert_eq!(h.rec.calls, [], "{name}: no callbacks");
        assert_eq!(
            h.machine.snapshot(Some("x")),
            before,
            "{name}: state unchanged"
        );
    }
}

fn wrapped_version(good: &[u8], version: u32) -> Vec<u8> {
    let mut bad = good.to_vec();
    bad[8..12].copy_from_slice(&version.to_le_bytes());
    bad
}

fn snap_env(id: &str, timer_pending: bool, expiring: Option<u64>) -> String {
    let expiring = match expiring {
        Some(ts) => format!("{{\"key\":\"old\",\"timestamp\":{ts}}}"),
        None => "null".to_string(),
    };
    format!(
        "{{\"envId\":\"{id}\",\"envKey\":\"k\",\"envName\":\"n\",\"projKey\":\"p\",\"projName\":\"P\",\"sdkKey\":\"s\",\"mobKey\":\"m\",\"expiring\":{expiring},\"defaultTtl\":0,\"secureMode\":false,\"version\":1,\"timerPending\":{timer_pending}}}"
    )
}

#[test]
fn the_empty_state_round_trips() {
    let bytes = Machine::new().snapshot(None);
    assert_eq!(snapshot::decode(&bytes), Ok(SnapState::default()));
    assert_eq!(
        bytes.len(),
        HEADER_BYTES + "{\"environments\":[],\"tombstones\":[],\"lastEventId\":null}".len()
    );
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(snapshot::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(snapshot::crc32(b""), 0);
}

#[test]
fn a_snapshot_over_the_tombstone_limit_keeps_the_newest() {
    let mut h = Harness::new();
    for i in 0..10 {
        h.event("delete", &delete(&format!("t{i}"), 1));
    }
    let bytes = h.machine.snapshot(None);
    let mut small = Harness::new();
    small.machine.configure(Settings {
        max_tombstones: 3,
        ..Settings::default()
    });
    small
        .machine
        .restore(&bytes, false, &mut small.rec)
        .expect("valid");
    assert_eq!(small.machine.tombstones(), 3);
    assert_eq!(small.machine.version_of("t9"), Some(1));
    assert_eq!(small.machine.version_of("t6"), None);
    small.machine.check_counters();
}

proptest! {
    /// Random bytes, and random damage to a real snapshot, never panic and never change the
    /// state.
    #[test]
    fn restore_never_panics(noise in prop::collection::vec(any::<u8>(), 0..200), cut in 0usize..400, flip in any::<(usize, u8)>()) {
        let mut h = busy();
        let before = h.machine.snapshot(None);
        let _ = h.machine.restore(&noise, true, &mut h.rec);
        let mut damaged = before.clone();
        damaged.truncate(cut.min(damaged.len()));
        let _ = h.machine.restore(&damaged, true, &mut h.rec);
        let mut flipped = before.clone();
        let at = flip.0 % flipped.len();
        flipped[at] ^= flip.1 | 1;
        prop_assert!(h.machine.restore(&flipped, true, &mut h.rec).is_err());
        prop_assert_eq!(h.machine.snapshot(None), before);
        prop_assert!(h.rec.calls.is_empty());
    }
}

#[test]
fn errors_are_typed() {
    assert_eq!(
        snapshot::decode(&[]),
        Err(SnapshotError::Truncated {
            expected: 24,
            got: 0
        })
    );
}
