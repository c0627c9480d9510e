//! Expiring SDK keys (rule 7) and the reference's expiring-key tests.

use super::*;
use alloc::vec;

const BRIEF: u64 = 300;

fn expect_will_expire(h: &Harness) {
    assert!(
        h.logged(
            Level::Warn,
            "Old SDK key ending in dkey for environment envid1 (Project envid1-name) will expire at"
        ),
        "{:?}",
        h.rec.logs
    );
    assert!(h.logged_at_or_above(Level::Error).is_empty());
}

fn expect_fires_once(h: &mut Harness) {
    assert_eq!(h.advance(BRIEF - 1), []);
    h.clear();
    assert_eq!(
        h.advance(1),
        [Call::KeyExpired("envid1".into(), "oldkey".into())]
    );
    assert!(h.logged(
        Level::Warn,
        "Old SDK key ending in dkey for environment envid1 (Project envid1-name) has expired"
    ));
    assert_eq!(h.advance(1_000_000), []);
    assert_eq!(h.machine.next_deadline(), None);
    assert_eq!(
        h.machine.tick(h.now, &mut h.rec),
        None,
        "ticking again is harmless"
    );
    assert_eq!(h.rec.calls, []);
}

#[test]
fn in_put_message() {
    let mut h = Harness::new();
    let at = T0 + BRIEF;
    let calls = h.calls(
        "put",
        &put(&[("envid1", env_expiring("envid1", 10, "oldkey", at))]),
    );
    assert_eq!(
        calls,
        [
            Call::Add(params_expiring("envid1", 10, Some(("oldkey", Some(at))))),
            Call::ReceivedAll
        ]
    );
    expect_will_expire(&h);
    assert!(h.logged(Level::Warn, "will expire at 2026-11-30T00:53:20.300Z"));
    expect_fires_once(&mut h);
}

#[test]
fn in_patch_add() {
    let mut h = Harness::new();
    let at = T0 + BRIEF;
    let calls = h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", at)),
    );
    assert_eq!(
        calls,
        [Call::Add(params_expiring(
            "envid1",
            10,
            Some(("oldkey", Some(at)))
        ))]
    );
    expect_will_expire(&h);
    expect_fires_once(&mut h);
}

#[test]
fn in_patch_update() {
    let mut h = Harness::new();
    h.calls("patch", &patch("envid1", &env_json("envid1", 10)));
    let at = T0 + BRIEF;
    let calls = h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 11, "oldkey", at)),
    );
    assert_eq!(
        calls,
        [Call::Update(params_expiring(
            "envid1",
            11,
            Some(("oldkey", Some(at)))
        ))]
    );
    expect_will_expire(&h);
    expect_fires_once(&mut h);
}

#[test]
fn already_expired_is_dropped() {
    for when in [T0 - 1, T0] {
        // In a put.
        let mut h = Harness::new();
        let calls = h.calls(
            "put",
            &put(&[("envid1", env_expiring("envid1", 10, "oldkey", when))]),
        );
        assert_eq!(
            calls,
            [
                Call::Add(params_expiring("envid1", 10, None)),
                Call::ReceivedAll
            ]
        );
        assert!(!h.logged(Level::Warn, "will expire"));
        assert_eq!(h.machine.next_deadline(), None);
        assert_eq!(h.advance(10_000), []);
        // In a patch add.
        let mut h = Harness::new();
        let calls = h.calls(
            "patch",
            &patch("envid1", &env_expiring("envid1", 10, "oldkey", when)),
        );
        assert_eq!(calls, [Call::Add(params_expiring("envid1", 10, None))]);
        assert_eq!(h.machine.next_deadline(), None);
        // In a patch update.
        let mut h = Harness::new();
        h.calls("patch", &patch("envid1", &env_json("envid1", 10)));
        let calls = h.calls(
            "patch",
            &patch("envid1", &env_expiring("envid1", 11, "oldkey", when)),
        );
        assert_eq!(calls, [Call::Update(params_expiring("envid1", 11, None))]);
        assert_eq!(h.machine.next_deadline(), None);
    }
}

#[test]
fn timestamp_zero_passes_through_without_timer() {
    let mut h = Harness::new();
    let calls = h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", 0)),
    );
    assert_eq!(
        calls,
        [Call::Add(params_expiring(
            "envid1",
            10,
            Some(("oldkey", None))
        ))]
    );
    assert_eq!(h.machine.next_deadline(), None);
    assert_eq!(h.advance(u64::MAX - T0), []);
}

#[test]
fn empty_expiring_value_is_no_expiring_key() {
    let mut h = Harness::new();
    let calls = h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "", T0 + 5)),
    );
    assert_eq!(calls, [Call::Add(params_expiring("envid1", 10, None))]);
    assert_eq!(h.machine.next_deadline(), None);
}

#[test]
fn cancelled_by_update_that_drops_it() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    let mut plain = params("envid1", 11);
    plain.default_ttl_minutes = 2;
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 11))),
        [Call::Update(plain)]
    );
    assert!(h.logged(Level::Info, "is no longer expiring"));
    assert_eq!(h.machine.next_deadline(), None);
    assert_eq!(h.advance(10 * BRIEF), []);
}

#[test]
fn ignored_update_does_not_touch_the_timer() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 10))),
        []
    );
    assert_eq!(
        h.advance(BRIEF),
        [Call::KeyExpired("envid1".into(), "oldkey".into())]
    );
}

#[test]
fn moved_by_a_new_expiry() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    h.calls(
        "patch",
        &patch(
            "envid1",
            &env_expiring("envid1", 11, "oldkey", T0 + 5 * BRIEF),
        ),
    );
    assert!(h.logged(Level::Warn, "will expire at"));
    assert_eq!(h.machine.next_deadline(), Some(T0 + 5 * BRIEF));
    assert_eq!(h.advance(5 * BRIEF - 1), []);
    assert_eq!(
        h.advance(1),
        [Call::KeyExpired("envid1".into(), "oldkey".into())]
    );
    assert_eq!(h.machine.pending_timers(), 0);
}

#[test]
fn same_expiry_in_an_update_keeps_the_timer_and_warns_once() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    let calls = h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 11, "oldkey", T0 + BRIEF)),
    );
    assert_eq!(
        calls,
        [Call::Update(params_expiring(
            "envid1",
            11,
            Some(("oldkey", Some(T0 + BRIEF)))
        ))]
    );
    assert!(!h.logged(Level::Warn, "will expire"), "already announced");
    assert_eq!(h.machine.pending_timers(), 1);
    assert_eq!(
        h.advance(BRIEF),
        [Call::KeyExpired("envid1".into(), "oldkey".into())]
    );
}

#[test]
fn pending_expiry_moved_into_the_past_fires_at_next_tick() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    h.now += 10;
    let calls = h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 11, "oldkey", T0 + 5)),
    );
    assert_eq!(calls, [Call::Update(params_expiring("envid1", 11, None))]);
    assert_eq!(h.machine.next_deadline(), Some(T0 + 5));
    assert_eq!(
        h.advance(0),
        [Call::KeyExpired("envid1".into(), "oldkey".into())]
    );
}

#[test]
fn a_new_expiring_key_replaces_the_old_timer() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "key-a", T0 + BRIEF)),
    );
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 11, "key-b", T0 + BRIEF)),
    );
    assert_eq!(h.machine.pending_timers(), 1);
    assert_eq!(
        h.advance(BRIEF),
        [Call::KeyExpired("envid1".into(), "key-b".into())]
    );
}

#[test]
fn cancelled_by_delete() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    assert_eq!(
        h.calls("delete", &delete("envid1", 11)),
        [Call::Delete("envid1".into())]
    );
    assert_eq!(h.machine.next_deadline(), None);
    assert_eq!(h.advance(10 * BRIEF), []);
}

#[test]
fn cancelled_by_forgetting_put() {
    let mut h = Harness::new();
    h.calls(
        "put",
        &put(&[("envid1", env_expiring("envid1", 10, "oldkey", T0 + BRIEF))]),
    );
    assert_eq!(
        h.calls("put", &put(&[])),
        [Call::Delete("envid1".into()), Call::ReceivedAll]
    );
    assert_eq!(h.machine.next_deadline(), None);
    assert_eq!(h.advance(10 * BRIEF), []);
}

#[test]
fn readded_after_delete_gets_a_fresh_timer() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    h.calls("delete", &delete("envid1", 11));
    h.calls(
        "patch",
        &patch(
            "envid1",
            &env_expiring("envid1", 12, "oldkey", T0 + 2 * BRIEF),
        ),
    );
    assert_eq!(h.advance(BRIEF), []);
    assert_eq!(
        h.advance(BRIEF),
        [Call::KeyExpired("envid1".into(), "oldkey".into())]
    );
}

#[test]
fn primary_key_again_is_never_expired() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    // The rotation is rolled back: the old key is the primary again, still listed as expiring.
    let rolled_back = env_expiring("envid1", 11, "oldkey", T0 + BRIEF)
        .replace(r#""value":"sdk-envid1""#, r#""value":"oldkey""#);
    let calls = h.calls("patch", &patch("envid1", &rolled_back));
    let mut expected = params_expiring("envid1", 11, None);
    expected.sdk_key = "oldkey".into();
    assert_eq!(calls, [Call::Update(expected)]);
    assert_eq!(h.machine.next_deadline(), None);
    assert_eq!(h.advance(10 * BRIEF), []);
}

#[test]
fn several_due_at_once_fire_in_expiry_order_then_env_order() {
    let mut h = Harness::new();
    h.calls(
        "put",
        &put(&[
            ("c", env_expiring("c", 1, "old-c", T0 + 200)),
            ("b", env_expiring("b", 1, "old-b", T0 + 100)),
            ("a", env_expiring("a", 1, "old-a", T0 + 200)),
            ("d", env_expiring("d", 1, "old-d", T0 + 50)),
        ]),
    );
    h.now += 1000;
    h.clear();
    assert_eq!(h.machine.tick(h.now, &mut h.rec), None);
    assert_eq!(
        h.rec.calls,
        vec![
            Call::KeyExpired("d".into(), "old-d".into()),
            Call::KeyExpired("b".into(), "old-b".into()),
            Call::KeyExpired("a".into(), "old-a".into()),
            Call::KeyExpired("c".into(), "old-c".into()),
        ]
    );
}

#[test]
fn early_tick_fires_nothing_and_reports_the_deadline() {
    let mut h = Harness::new();
    h.calls(
        "patch",
        &patch("envid1", &env_expiring("envid1", 10, "oldkey", T0 + BRIEF)),
    );
    assert_eq!(h.machine.tick(T0 + 1, &mut h.rec), Some(T0 + BRIEF));
    assert_eq!(
        h.machine.tick(0, &mut h.rec),
        Some(T0 + BRIEF),
        "a clock that went back is harmless"
    );
    assert_eq!(h.rec.calls, []);
}

#[test]
fn identical_put_does_not_rearm_a_fired_timer() {
    let mut h = Harness::new();
    let data = put(&[("envid1", env_expiring("envid1", 10, "oldkey", T0 + BRIEF))]);
    h.calls("put", &data);
    assert_eq!(
        h.advance(BRIEF),
        [Call::KeyExpired("envid1".into(), "oldkey".into())]
    );
    assert_eq!(h.calls("put", &data), [Call::ReceivedAll]);
    assert_eq!(h.machine.next_deadline(), None);
}
