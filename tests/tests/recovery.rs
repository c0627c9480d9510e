//! Durable state on the real component: a trap in the middle of a stream leaves the proxy's view
//! exactly as without the trap; snapshots round-trip and bad ones are refused without a trap;
//! a flood of deletions keeps the guest's memory bounded.

use autoconfig_host::{Driver, Limits, report};
use autoconfig_test_support::events::put_data_of;
use autoconfig_test_support::{CallLine, Recorder, runtime, stream_options};

const T0: u64 = 1_796_000_000_000;

fn driver() -> Driver<Recorder> {
    Driver::new(runtime(), Recorder::default())
        .unwrap_or_else(|e| panic!("instantiate: {}", report(&e)))
}

/// An environment at `version`; every seventh has a key expiring `expiry` ms after T0.
fn env(id: &str, version: i64, i: usize, expiry: u64) -> String {
    let expiring = if i.is_multiple_of(7) {
        format!(
            r#","expiring":{{"value":"old-{id}","timestamp":{}}}"#,
            T0 + expiry
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"envId":"{id}","envKey":"k-{id}","envName":"N {id}","mobKey":"mob-{id}","projKey":"p","projName":"P","sdkKey":{{"value":"sdk-{id}"{expiring}}},"version":{version}}}"#
    )
}

fn put(ids: impl Iterator<Item = (usize, i64)>, expiry: u64) -> String {
    put_data_of(ids.map(|(i, v)| {
        let id = format!("e{i:04}");
        let env = serde_json::from_str(&env(&id, v, i, expiry)).expect("valid JSON");
        (id, env)
    }))
}

/// The stream of a run: (time offset, event name, data).
fn story() -> Vec<(u64, &'static str, String)> {
    vec![
        (0, "put", put((0..300).map(|i| (i, 1)), 60_000)),
        (
            10,
            "patch",
            format!(
                r#"{{"path":"/environments/e0005","data":{}}}"#,
                env("e0005", 2, 5, 0)
            ),
        ),
        (
            20,
            "delete",
            r#"{"path":"/environments/e0006","version":2}"#.to_string(),
        ),
        // The put during which the second run traps: 100 gone, 100 changed, 100 new.
        (
            30,
            "put",
            put((100..400).map(|i| (i, if i < 200 { 2 } else { 1 })), 90_000),
        ),
        (
            40,
            "patch",
            format!(
                r#"{{"path":"/environments/e0500","data":{}}}"#,
                env("e0500", 1, 1, 0)
            ),
        ),
    ]
}

fn run(d: &mut Driver<Recorder>, events: &[(u64, &str, String)]) {
    for (at, name, data) in events {
        d.on_event(name, data, T0 + at)
            .unwrap_or_else(|e| panic!("{name}: {}", report(&e)));
    }
}

#[test]
fn a_trap_mid_put_leaves_the_proxy_view_as_without_it() {
    trap_mid_put(false);
}

/// Batched (the WIT `batch` interface, callbacks and logs), a call that traps has told the proxy
/// nothing at all and logged nothing, and the rest of the story is the same.
#[test]
fn a_trap_mid_put_batched_tells_nothing_of_that_put() {
    trap_mid_put(true);
}

fn trap_mid_put(batched: bool) {
    let events = story();
    let driver = || {
        let mut d = driver();
        d.set_batched(batched).expect("batching");
        d
    };
    // The reference run, and how much fuel the fourth event takes.
    let mut a = driver();
    run(&mut a, &events[..3]);
    a.on_event(events[3].1, &events[3].2, T0 + events[3].0)
        .expect("no trap");
    let budget = runtime()
        .limits()
        .fuel_for(events[3].2.len(), 299 + 100_000);
    let used = budget - a.fuel_left().expect("fuel");
    run(&mut a, &events[4..]);
    a.tick(T0 + 100_000).expect("tick");
    let reference = a.handler_mut().take();

    // The same stream, with the fourth event running out of fuel part way through its
    // callbacks; the reconnected stream then sends that put again.
    let mut b = driver();
    run(&mut b, &events[..3]);
    let before = b.handler().calls().len();
    let logs_before = b.handler().logs().len();
    b.set_limits(Limits {
        fuel_per_call: used * 85 / 100,
        fuel_per_byte: 0,
        fuel_per_entry: 0,
        ..Limits::default()
    });
    assert!(
        b.on_event(events[3].1, &events[3].2, T0 + events[3].0)
            .is_err(),
        "it must trap"
    );
    let partial = b.handler().calls().len() - before;
    let full = reference.len() - before;
    let logged = b.handler().logs().len() - logs_before;
    if batched {
        assert_eq!(partial, 0, "a batch is all or nothing");
        assert_eq!(
            logged, 0,
            "batched log lines of a trapped call are not delivered"
        );
    } else {
        assert!(logged > 0, "the trapped call logged as it went");
        assert!(
            partial > 0 && partial < full,
            "the trap came mid-callbacks: {partial} of {full}"
        );
    }
    assert_eq!(b.traps(), 1);
    b.set_limits(runtime().limits());
    run(&mut b, &events[3..]);
    b.tick(T0 + 100_000).expect("tick");
    let seen = b.handler_mut().take();
    assert_eq!(seen.len(), reference.len());
    assert!(
        seen == reference,
        "the proxy saw other callbacks than without the trap"
    );
    // Pending expiries survived: the run's last calls are key expiries.
    assert!(matches!(seen.last(), Some(CallLine::KeyExpired { .. })));
}

#[test]
fn bad_snapshots_are_refused_without_a_trap_and_change_nothing() {
    let mut d = driver();
    run(&mut d, &story()[..3]);
    d.handler_mut().take();
    let good = d.snapshot().expect("snapshot");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    let mut newer = good.clone();
    newer[8] = 9;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "truncated"),
        ("truncated", good[..good.len() / 3].to_vec(), "truncated"),
        ("corrupted", flipped, "checksum"),
        (
            "foreign",
            b"PK\x03\x04 a zip file, not a snapshot".to_vec(),
            "not a relay-autoconfig",
        ),
        ("newer", newer, "format version 9"),
        (
            "noise",
            (0..5000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect(),
            "not a relay-autoconfig",
        ),
    ];
    for (name, bytes, fragment) in cases {
        let err = d
            .restore(&bytes, true)
            .unwrap_or_else(|e| panic!("{name}: trapped: {}", report(&e)))
            .expect_err(name);
        assert!(err.contains(fragment), "{name}: {err}");
        assert_eq!(
            d.snapshot().expect("snapshot"),
            good,
            "{name}: state unchanged"
        );
        assert!(d.handler_mut().take().is_empty(), "{name}: no callbacks");
    }
    assert_eq!(d.traps(), 0);
    // And the good one restores into a fresh driver, announced.
    let mut fresh = driver();
    let restored = fresh.restore(&good, true).expect("no trap").expect("valid");
    assert_eq!(restored.environments, 299);
    assert_eq!(restored.tombstones, 1);
    let calls = fresh.handler_mut().take();
    assert_eq!(calls.len(), 300, "299 adds and ready");
    assert_eq!(calls.last(), Some(&CallLine::Ready));
}

#[test]
fn a_million_unknown_deletes_keep_the_guest_memory_bounded() {
    let mut d = driver();
    let options = stream_options();
    d.start(&options, T0).expect("no trap").expect("valid");
    d.on_response(200, Some("text/event-stream"), None, T0)
        .expect("no trap");
    let mut memory_at = Vec::new();
    for chunk in 0..100u32 {
        let mut body = String::with_capacity(10_000 * 70);
        for i in 0..10_000u32 {
            let n = chunk * 10_000 + i;
            body.push_str(&format!(
                "event: delete\ndata: {{\"path\":\"/environments/ghost-{n:07}\",\"version\":1}}\n\n"
            ));
        }
        let step = d
            .on_body(body.as_bytes(), T0 + u64::from(chunk))
            .expect("no trap");
        assert!(!step.disconnect);
        memory_at.push(d.memory_bytes());
    }
    assert_eq!(d.traps(), 0);
    let at_200k = memory_at[19];
    let at_1m = memory_at[99];
    assert!(at_1m < 64 << 20, "guest memory {at_1m} bytes");
    assert!(
        at_1m <= at_200k + (1 << 20),
        "memory kept growing: {at_200k} -> {at_1m}"
    );
    // 100,000 remembered, the rest forgotten; an empty put then clears them without a trap.
    let snapshot = d.snapshot().expect("snapshot");
    assert!(snapshot.len() < 10 << 20);
    let step = d
        .on_body(
            b"event: put\ndata: {\"path\":\"/\",\"data\":{\"environments\":{}}}\n\n",
            T0 + 200,
        )
        .expect("no trap");
    assert!(!step.disconnect);
    assert_eq!(d.traps(), 0);
}

/// A state near the default state limit, made of a few huge environments (a hostile stream's
/// 15 MB names), snapshots without running into the 512 MiB memory limit: the snapshot is
/// written element by element into one buffer, next to the state (building a copy of the state
/// first, then the JSON, then the snapshot took about four times the state: a trap).
#[test]
fn a_snapshot_of_a_state_near_its_limit_fits_in_memory() {
    let mut d = driver();
    let name = "x".repeat(15_000_000);
    for i in 0..12 {
        let data = format!(
            r#"{{"path":"/environments/e{i}","data":{{"envId":"e{i}","envKey":"k","envName":"{name}","mobKey":"m","projKey":"p","projName":"P","sdkKey":{{"value":"sdk-{i}"}},"version":1}}}}"#
        );
        d.on_event("patch", &data, T0).expect("no trap");
    }
    assert_eq!(d.handler().calls().len(), 12, "every patch accepted");
    let snapshot = d.snapshot().expect("no trap");
    assert!(snapshot.len() > 180_000_000, "{}", snapshot.len());
    assert_eq!(d.traps(), 0);
    // It restores (into another instance) as it was.
    let mut other = driver();
    let restored = other
        .restore(&snapshot, false)
        .expect("no trap")
        .expect("valid");
    assert_eq!(restored.environments, 12);
}

/// Work that grows with the state, not the event, gets fuel for it: an empty `put` that forgets
/// 230,000 environments, and a `tick` that fires 230,000 expiries, run without a trap.
#[test]
fn state_sized_work_stays_within_the_fuel_budget() {
    let mut d = driver();
    let options = stream_options();
    d.start(&options, T0).expect("no trap").expect("valid");
    d.on_response(200, Some("text/event-stream"), None, T0)
        .expect("no trap");
    let n = 230_000u32;
    for chunk in 0..(n / 10_000) {
        let mut body = String::new();
        for i in 0..10_000u32 {
            let id = format!("m{:06}", chunk * 10_000 + i);
            body.push_str(&format!(
                "event: patch\ndata: {{\"path\":\"/environments/{id}\",\"data\":{{\"envId\":\"{id}\",\"sdkKey\":{{\"value\":\"s\",\"expiring\":{{\"value\":\"o\",\"timestamp\":{}}}}},\"version\":1}}}}\n\n",
                T0 + 1_000
            ));
        }
        d.on_body(body.as_bytes(), T0).expect("no trap");
        d.handler_mut().take();
    }
    assert_eq!(d.traps(), 0);
    let step = d.on_timeout(T0 + 1_000).expect("no trap");
    assert!(!step.disconnect);
    assert_eq!(d.traps(), 0, "firing every expiry ran out of fuel");
    assert_eq!(d.handler_mut().take().len(), n as usize);
    let step = d
        .on_body(
            b"event: put\ndata: {\"path\":\"/\",\"data\":{\"environments\":{}}}\n\n",
            T0 + 2_000,
        )
        .expect("no trap");
    assert!(!step.disconnect);
    assert_eq!(d.traps(), 0, "forgetting every environment ran out of fuel");
    assert_eq!(
        d.handler_mut().take().len(),
        n as usize + 1,
        "deletes and ready"
    );
}
