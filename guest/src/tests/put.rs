//! `put`: rule 1 and the reference's put tests.

use super::*;
use alloc::vec;

#[test]
fn add_all_new_to_empty_state() {
    let mut h = Harness::new();
    let calls = h.calls(
        "put",
        &put(&[
            ("envid2", env_json("envid2", 20)),
            ("envid1", env_json("envid1", 10)),
        ]),
    );
    assert_eq!(
        calls,
        [
            Call::Add(params("envid1", 10)),
            Call::Add(params("envid2", 20)),
            Call::ReceivedAll
        ]
    );
    assert!(h.logged(Level::Info, "Received configuration for 2 environment(s)"));
    assert!(h.logged(
        Level::Info,
        "Added environment envid1 (Project envid1-name)"
    ));
    assert!(h.logged(Level::Info, "Added environment envid2"));
    assert_eq!(h.logged_at_or_above(Level::Warn), Vec::<String>::new());
}

#[test]
fn add_to_previous() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    let calls = h.calls(
        "put",
        &put(&[
            ("envid1", env_json("envid1", 10)),
            ("envid2", env_json("envid2", 20)),
        ]),
    );
    assert_eq!(calls, [Call::Add(params("envid2", 20)), Call::ReceivedAll]);
    assert_eq!(h.logged_at_or_above(Level::Warn), Vec::<String>::new());
    assert!(
        !h.logged(Level::Info, "out-of-order"),
        "an unchanged env is skipped silently"
    );
}

#[test]
fn update() {
    let mut h = Harness::new();
    h.calls(
        "put",
        &put(&[
            ("envid1", env_json("envid1", 10)),
            ("envid2", env_json("envid2", 20)),
        ]),
    );
    let changed = env_json("envid1", 11).replace("mob-envid1", "mob-new");
    let calls = h.calls(
        "put",
        &put(&[("envid1", changed), ("envid2", env_json("envid2", 20))]),
    );
    let mut expected = params("envid1", 11);
    expected.mobile_key = "mob-new".into();
    assert_eq!(calls, [Call::Update(expected), Call::ReceivedAll]);
    assert!(h.logged(
        Level::Info,
        "Properties have changed for environment envid1"
    ));
}

#[test]
fn update_with_only_a_new_version_is_still_an_update() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    let calls = h.calls("put", &put(&[("envid1", env_json("envid1", 11))]));
    assert_eq!(
        calls,
        [Call::Update(params("envid1", 11)), Call::ReceivedAll]
    );
}

#[test]
fn update_ignored_due_to_version() {
    let mut h = Harness::new();
    h.calls(
        "put",
        &put(&[
            ("envid1", env_json("envid1", 10)),
            ("envid2", env_json("envid2", 20)),
        ]),
    );
    let changed = env_json("envid1", 10).replace("mob-envid1", "mob-new");
    let calls = h.calls(
        "put",
        &put(&[("envid1", changed), ("envid2", env_json("envid2", 20))]),
    );
    assert_eq!(calls, [Call::ReceivedAll]);
    assert!(h.logged(
        Level::Info,
        "Ignoring out-of-order update for environment envid1"
    ));
    assert_eq!(h.logged_at_or_above(Level::Warn), Vec::<String>::new());
    let older = env_json("envid1", 9);
    assert_eq!(
        h.calls(
            "put",
            &put(&[("envid1", older), ("envid2", env_json("envid2", 20))])
        ),
        [Call::ReceivedAll]
    );
    assert_eq!(h.machine.version_of("envid1"), Some(10));
}

#[test]
fn delete_by_omission_forgets_the_env() {
    let mut h = Harness::new();
    h.calls(
        "put",
        &put(&[
            ("envid1", env_json("envid1", 10)),
            ("envid2", env_json("envid2", 20)),
        ]),
    );
    let calls = h.calls("put", &put(&[("envid2", env_json("envid2", 20))]));
    assert_eq!(calls, [Call::Delete("envid1".into()), Call::ReceivedAll]);
    assert!(h.logged(Level::Info, "Removed environment envid1"));
    // Forgotten, not tombstoned: a later put that omits it again says nothing more...
    assert_eq!(
        h.calls("put", &put(&[("envid2", env_json("envid2", 20))])),
        [Call::ReceivedAll]
    );
    assert_eq!(h.machine.version_of("envid1"), None);
    // ...and it comes back as an add, even at the same version (quirk Q1 fixed).
    let calls = h.calls(
        "put",
        &put(&[
            ("envid1", env_json("envid1", 10)),
            ("envid2", env_json("envid2", 20)),
        ]),
    );
    assert_eq!(calls, [Call::Add(params("envid1", 10)), Call::ReceivedAll]);
}

#[test]
fn forgetting_put_drops_tombstones_silently() {
    let mut h = Harness::new();
    h.calls("delete", &delete("gone", 5));
    assert_eq!(h.machine.version_of("gone"), Some(5));
    assert_eq!(h.calls("put", &put(&[])), [Call::ReceivedAll]);
    assert_eq!(h.machine.version_of("gone"), None);
    // The tombstone is gone, so an older version is now accepted.
    assert_eq!(
        h.calls("patch", &patch("gone", &env_json("gone", 1))),
        [Call::Add(params("gone", 1))]
    );
}

#[test]
fn empty_put_deletes_everything_then_received_all() {
    let mut h = Harness::new();
    h.calls(
        "put",
        &put(&[("b", env_json("b", 1)), ("a", env_json("a", 1))]),
    );
    assert_eq!(
        h.calls("put", &put(&[])),
        [
            Call::Delete("a".into()),
            Call::Delete("b".into()),
            Call::ReceivedAll
        ]
    );
    assert_eq!(h.live_ids(), Vec::<String>::new());
}

#[test]
fn identical_put_only_says_received_all() {
    let mut h = Harness::new();
    let data = put(&[("envid1", env_json("envid1", 10))]);
    h.calls("put", &data);
    assert_eq!(h.calls("put", &data), [Call::ReceivedAll]);
    assert_eq!(h.calls("put", &data), [Call::ReceivedAll]);
}

#[test]
fn callbacks_come_in_deterministic_order() {
    let mut h = Harness::new();
    h.calls(
        "put",
        &put(&[
            ("c", env_json("c", 1)),
            ("a", env_json("a", 1)),
            ("e", env_json("e", 1)),
        ]),
    );
    let calls = h.calls(
        "put",
        &put(&[
            ("e", env_json("e", 2)),
            ("d", env_json("d", 1)),
            ("b", env_json("b", 1)),
            ("a", env_json("a", 1)),
        ]),
    );
    assert_eq!(
        calls,
        [
            Call::Add(params("b", 1)),
            Call::Add(params("d", 1)),
            Call::Update(params("e", 2)),
            Call::Delete("c".into()),
            Call::ReceivedAll,
        ]
    );
}

#[test]
fn unknown_path_is_ignored_entirely() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    let data = put(&[("envid2", env_json("envid2", 1))])
        .replace(r#""path":"/""#, r#""path":"/elsewhere""#);
    assert_eq!(h.calls("put", &data), []);
    assert!(h.logged(
        Level::Info,
        "Ignoring \"put\" event for unknown path \"/elsewhere\""
    ));
    assert_eq!(h.live_ids(), ["envid1"]);
    // No path at all is not "/" either.
    assert_eq!(h.calls("put", r#"{"data":{"environments":{}}}"#), []);
    assert_eq!(h.live_ids(), ["envid1"]);
}

#[test]
fn id_mismatch_is_skipped_but_its_key_counts_as_present() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("wrongkey", env_json("wrongkey", 1))]));
    let calls = h.calls(
        "put",
        &put(&[
            ("wrongkey", r#"{"envId":"other"}"#.to_string()),
            ("envid1", env_json("envid1", 10)),
        ]),
    );
    assert_eq!(calls, [Call::Add(params("envid1", 10)), Call::ReceivedAll]);
    assert!(h.logged(
        Level::Warn,
        "Ignoring environment data whose envId \"other\" did not match key \"wrongkey\""
    ));
    assert_eq!(
        h.live_ids(),
        ["envid1", "wrongkey"],
        "the mismatched key is not forgotten"
    );
}

#[test]
fn null_entry_is_a_mismatch() {
    let mut h = Harness::new();
    let calls = h.calls("put", r#"{"path":"/","data":{"environments":{"a":null}}}"#);
    assert_eq!(calls, [Call::ReceivedAll]);
    assert!(h.logged(Level::Warn, "did not match"));
}

#[test]
fn case_insensitive_fields() {
    let mut h = Harness::new();
    let calls = h.calls(
        "put",
        r#"{"PATH":"/","Data":{"ENVIRONMENTS":{"e":{"envID":"e","ENVKEY":"k","SdkKey":{"VALUE":"s","Expiring":{"Value":"old","TimeStamp":0}},"VERSION":3}}}}"#,
    );
    let Call::Add(p) = &calls[0] else {
        panic!("{calls:?}")
    };
    assert_eq!(
        (
            p.env_id.as_str(),
            p.env_key.as_str(),
            p.sdk_key.as_str(),
            p.version
        ),
        ("e", "k", "s", 3)
    );
    assert_eq!(
        p.expiring_sdk_key,
        Some(ExpiringKey {
            key: "old".into(),
            expires_at: None
        })
    );
}

#[test]
fn malformed_puts_change_nothing() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    for bad in [
        r#"{"oh no"#,
        "",
        "[]",
        r#"{"path":"/","data":{"environments":{"envid1":999}}}"#,
        r#"{"path":"/"}"#,
        r#"{"path":"/","data":null}"#,
        r#"{"path":"/","data":{}}"#,
        r#"{"path":"/","data":{"environments":null}}"#,
        r#"{"path":"/","data":{"environments":[]}}"#,
        r#"{"path":"/","data":"x"}"#,
        r#"{"path":7,"data":{"environments":{}}}"#,
        r#"{"path":"/","data":{"environments":{"a":{"envId":"a","version":"1"}}}}"#,
        r#"{"path":"/","data":{"environments":{"a":{"envId":"a","version":1.5}}}}"#,
        r#"{"path":"/","data":{"environments":{"b":{"envId":"b"},"a":{"envId":"a","secureMode":"yes"}}}}"#,
        r#"{"path":"/","data":{"environments":{}}} trailing"#,
    ] {
        h.assert_malformed("put", bad);
    }
    assert_eq!(h.live_ids(), ["envid1"]);
    assert_eq!(h.machine.version_of("envid1"), Some(10));
}

#[test]
fn malformed_is_detected_before_the_path() {
    let mut h = Harness::new();
    h.assert_malformed("put", r#"{"path":"/elsewhere","data":999}"#);
}

#[test]
fn size_limit_is_configurable_and_malformed() {
    let mut h = Harness::new();
    h.machine.configure(crate::Settings {
        max_message_bytes: 64,
        ..crate::Settings::default()
    });
    let data = put(&[("envid1", env_json("envid1", 10))]);
    assert!(data.len() > 64);
    h.assert_malformed("put", &data);
    assert!(h.logged(Level::Error, "over the limit of 64"));
    h.machine.configure(crate::Settings::default());
    assert_eq!(
        h.calls("put", &data),
        vec![Call::Add(params("envid1", 10)), Call::ReceivedAll]
    );
}
