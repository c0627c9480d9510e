//! Bounded memory: the tombstone limit, the state-size limit, and their counters.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{Call, Harness, delete, env_json, params, patch, put};
use crate::{Level, Settings};

fn limited(max_tombstones: u32, max_state_bytes: u64) -> Harness {
    let mut h = Harness::new();
    h.machine.configure(Settings {
        max_tombstones,
        max_state_bytes,
        ..Settings::default()
    });
    h
}

#[test]
fn three_hundred_thousand_unknown_deletes_stay_within_the_tombstone_limit() {
    let mut h = Harness::new();
    let mut peak_bytes = 0;
    for i in 0..300_000u32 {
        h.event("delete", &delete(&format!("ghost-{i:07}"), 1));
        peak_bytes = peak_bytes.max(h.machine.state_bytes());
        if i % 100_000 == 0 {
            h.rec.logs.clear();
        }
    }
    assert_eq!(h.machine.tombstones(), 100_000);
    assert!(peak_bytes < 100_000 * 600, "{peak_bytes}");
    h.machine.check_counters();
    // The newest are remembered, the oldest forgotten.
    assert_eq!(h.machine.version_of("ghost-0299999"), Some(1));
    assert_eq!(h.machine.version_of("ghost-0000000"), None);
    // And an empty put forgets them all at once.
    h.event("put", &put(&[]));
    assert_eq!(h.machine.tombstones(), 0);
    assert_eq!(h.machine.state_bytes(), 0);
}

#[test]
fn past_the_tombstone_limit_the_oldest_deletion_is_forgotten_and_logged() {
    let mut h = limited(3, u64::MAX);
    for id in ["a", "b", "c"] {
        h.event("delete", &delete(id, 5));
    }
    assert!(!h.logged(Level::Warn, "Forgot"));
    h.event("delete", &delete("d", 5));
    assert!(h.logged(Level::Warn, "Forgot the oldest 1 deleted environment ID"));
    assert_eq!(h.machine.tombstones(), 3);
    // The forgotten one no longer blocks an old update; the remembered ones still do.
    assert_eq!(
        h.calls("patch", &patch("a", &env_json("a", 1))),
        [Call::Add(params("a", 1))]
    );
    assert_eq!(h.calls("patch", &patch("b", &env_json("b", 1))), []);
    h.machine.check_counters();
}

#[test]
fn a_deleted_live_environment_counts_as_a_tombstone() {
    let mut h = limited(1, u64::MAX);
    h.event(
        "put",
        &put(&[("a", env_json("a", 1)), ("b", env_json("b", 1))]),
    );
    h.event("delete", &delete("a", 2));
    h.event("delete", &delete("b", 2));
    assert_eq!(h.machine.tombstones(), 1);
    assert_eq!(h.machine.version_of("a"), None, "the older tombstone went");
    assert_eq!(h.machine.version_of("b"), Some(2));
    h.machine.check_counters();
}

#[test]
fn a_patch_over_the_state_limit_is_refused_and_the_state_kept() {
    let mut h = limited(100, 4_000);
    h.event("put", &put(&[("a", env_json("a", 1))]));
    let used = h.machine.state_bytes();
    assert!(used > 0 && used < 1_000, "{used}");
    let big_name = "n".repeat(3_500);
    let big = env_json("b", 1).replace("\"b-name\"", &format!("\"{big_name}\""));
    h.clear();
    let d = h.event("patch", &patch("b", &big));
    assert_eq!(d.restart, None);
    assert_eq!(h.rec.calls, []);
    assert!(h.logged(Level::Error, "Refusing environment b version 1"));
    assert_eq!(h.live_ids(), ["a"]);
    assert_eq!(h.machine.state_bytes(), used);
    // Room is made by forgetting deletions, never environments.
    h.event("delete", &delete("x", 1));
    h.machine.check_counters();
}

#[test]
fn a_put_over_the_state_limit_is_malformed() {
    let mut h = limited(100, 2_000);
    h.event("put", &put(&[("a", env_json("a", 1))]));
    let entries: Vec<(String, String)> = (0..10)
        .map(|i| (format!("e{i}"), env_json(&format!("e{i}"), 1)))
        .collect();
    let refs: Vec<(&str, String)> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    h.assert_malformed("put", &put(&refs));
    assert!(h.logged(Level::Error, "over the state limit of 2000"));
    assert_eq!(h.live_ids(), ["a"]);
}

/// One operation on a small set of IDs.
#[derive(Debug, Clone)]
enum Op {
    Patch(u8, i64),
    Delete(u8, i64),
    Put(Vec<(u8, i64)>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..8, 0i64..6).prop_map(|(i, v)| Op::Patch(i, v)),
        (0u8..8, 0i64..6).prop_map(|(i, v)| Op::Delete(i, v)),
        prop::collection::vec((0u8..8, 0i64..6), 0..4).prop_map(Op::Put),
    ]
}

proptest! {
    /// The counters always match the state, and the limits always hold, whatever the sequence.
    #[test]
    fn counters_and_limits_hold(ops in prop::collection::vec(op(), 1..200), max_tombstones in 0u32..4) {
        let mut h = limited(max_tombstones, 1_000_000);
        for op in ops {
            match op {
                Op::Patch(i, v) => { h.event("patch", &patch(&format!("id{i}"), &env_json(&format!("id{i}"), v))); }
                Op::Delete(i, v) => { h.event("delete", &delete(&format!("id{i}"), v)); }
                Op::Put(entries) => {
                    let entries: Vec<(String, String)> = entries.iter().map(|(i, v)| (format!("id{i}"), env_json(&format!("id{i}"), *v))).collect();
                    let refs: Vec<(&str, String)> = entries.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                    h.event("put", &put(&refs));
                }
            }
            h.machine.check_counters();
            prop_assert!(h.machine.tombstones() <= max_tombstones as usize);
        }
    }
}
