//! Minimal reproducers of what the fuzz targets (`crate::fuzzing`, `fuzz/`) found. Each test is
//! named for the rule it pins down and says which target found it.

use super::*;
use crate::{Client, Settings, StreamOptions};

/// Restores `bytes` into a fresh machine with `settings`.
fn restore_with(bytes: &[u8], settings: Settings) -> Result<Machine, crate::SnapshotError> {
    let mut machine = Machine::new();
    machine.configure(settings);
    machine.restore(bytes, false, &mut Recorder::default())?;
    Ok(machine)
}

/// Found by `events`, `restore` and `stream`: a put entry keyed `""` whose `envId` is missing
/// (or `""`) is accepted as an environment with an empty ID (`add-environment` with
/// `env_id: ""`), but a snapshot holding it is refused ("an environment has an empty envId"), so
/// the machine's own state can no longer be restored (state file, trap recovery).
#[test]
fn an_environment_with_an_empty_id_never_makes_the_snapshot_unrestorable() {
    let mut h = Harness::new();
    let d = h.event("put", r#"{"path":"/","data":{"environments":{"":{}}}}"#);
    assert_eq!(d.restart, None);
    let bytes = h.machine.snapshot(None);
    let copy = restore_with(&bytes, Settings::default());
    assert!(
        copy.is_ok(),
        "the machine's own snapshot is refused: {:?}; calls were {:?}",
        copy.err(),
        h.rec.calls
    );
}

/// Found by `events`: a put's size check counts the entries it brings, but an entry it does not
/// apply (here an older version) keeps the bigger stored environment, so the state ends over
/// `max_state_bytes` (1176 > 1100 here) and the machine's own snapshot is then refused under
/// the same settings ("its environments take about 1176 bytes, over the state limit of 1100").
#[test]
fn a_put_never_takes_the_state_over_its_limit_through_an_entry_it_ignores() {
    let settings = Settings {
        max_state_bytes: 1100,
        ..Settings::default()
    };
    let mut h = Harness::new();
    h.machine.configure(settings);
    let long = "x".repeat(150);
    h.event(
        "patch",
        &patch(
            "a",
            &format!(r#"{{"envId":"a","envName":"{long}","version":5}}"#),
        ),
    );
    assert_eq!(h.live_ids(), ["a"]);
    h.event(
        "put",
        r#"{"path":"/","data":{"environments":{"a":{"envId":"a","version":3},"b":{"envId":"b","version":1}}}}"#,
    );
    let m = &h.machine;
    assert!(
        m.state_bytes() <= settings.max_state_bytes,
        "the state takes {} bytes, over the limit of {}",
        m.state_bytes(),
        settings.max_state_bytes
    );
    let bytes = m.snapshot(None);
    let copy = restore_with(&bytes, settings);
    assert!(
        copy.is_ok(),
        "the machine's own snapshot is refused: {:?}",
        copy.err()
    );
}

/// Found by `events` (same cause): a tombstone named by a put is kept as it is (the put's older
/// version does not revive it), but the put's size check counted the entry's estimate instead of
/// the tombstone's (its ID twice), so the state ends over `max_state_bytes`: 1625 > 1500 here.
#[test]
fn a_put_never_takes_the_state_over_its_limit_through_a_tombstone_it_keeps() {
    let settings = Settings {
        max_state_bytes: 1500,
        ..Settings::default()
    };
    let mut h = Harness::new();
    h.machine.configure(settings);
    let id = "t".repeat(300);
    h.event("delete", &delete(&id, 5));
    assert_eq!(h.machine.tombstones(), 1);
    h.event(
        "put",
        &format!(
            r#"{{"path":"/","data":{{"environments":{{"{id}":{{"envId":"{id}","version":1}},"b":{{"envId":"b","version":1}}}}}}}}"#
        ),
    );
    // The tombstone it keeps and `b` would not fit together: the put is refused as a whole.
    assert!(h.live_ids().is_empty(), "{:?}", h.live_ids());
    assert!(h.logged(crate::Level::Error, "over the state limit"));
    let m = &h.machine;
    assert!(
        m.state_bytes() <= settings.max_state_bytes,
        "the state takes {} bytes, over the limit of {}",
        m.state_bytes(),
        settings.max_state_bytes
    );
}

/// Found by `stream`: [`Client::start`] takes the last event id restored from a snapshot before
/// it validates the options, so a refused start (here a bad stream URI) loses it and the next,
/// valid start connects without `Last-Event-ID` (and the client's snapshot no longer has it).
#[test]
fn a_refused_start_keeps_the_restored_last_event_id() {
    let bytes = Machine::new().snapshot(Some("id-9"));
    let mut client = Client::new();
    let mut rec = Recorder::default();
    client
        .restore(&bytes, false, &mut rec)
        .expect("a valid snapshot");
    let mut options = StreamOptions {
        key: "rel-key-0001".into(),
        stream_uri: "ftp://stream.test".into(),
        initial_retry_delay_ms: 1000,
        read_timeout_ms: 300_000,
        jitter_seed: 1,
        last_event_id: None,
        prior_failures: 0,
    };
    assert!(client.start(&options, T0, &mut rec).is_err());
    assert_eq!(
        client.snapshot(),
        bytes,
        "a refused start changed the snapshot"
    );
    options.stream_uri = "http://stream.test".into();
    let step = client.start(&options, T0, &mut rec).expect("valid options");
    let headers = step.connect.expect("a connect").headers;
    assert!(
        headers
            .iter()
            .any(|(name, value)| name == "Last-Event-ID" && value == "id-9"),
        "no Last-Event-ID: {headers:?}"
    );
}
