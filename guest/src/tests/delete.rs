//! `delete`: rule 3 and the reference's delete tests.

use super::*;

#[test]
fn success() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    assert_eq!(
        h.calls("delete", &delete("envid1", 11)),
        [Call::Delete("envid1".into())]
    );
    assert!(h.logged(
        Level::Info,
        "Removed environment envid1 (Project envid1-name)"
    ));
    assert_eq!(h.live_ids(), Vec::<String>::new());
    assert_eq!(h.machine.version_of("envid1"), Some(11));
}

#[test]
fn same_or_lower_version_is_ignored() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    assert_eq!(h.calls("delete", &delete("envid1", 10)), []);
    assert!(h.logged(
        Level::Info,
        "Ignoring out-of-order delete for environment envid1"
    ));
    assert_eq!(h.calls("delete", &delete("envid1", 0)), []);
    assert_eq!(
        h.calls("delete", r#"{"path":"/environments/envid1"}"#),
        [],
        "missing version is 0"
    );
    assert_eq!(h.live_ids(), ["envid1"]);
}

#[test]
fn repeated_delete_calls_the_handler_once() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    assert_eq!(
        h.calls("delete", &delete("envid1", 11)),
        [Call::Delete("envid1".into())]
    );
    assert_eq!(h.calls("delete", &delete("envid1", 11)), []);
    assert!(
        !h.logged(Level::Info, "out-of-order"),
        "a repeat is not out of order: {:?}",
        h.rec.logs
    );
    assert_eq!(
        h.calls("delete", &delete("envid1", 12)),
        [],
        "a higher delete raises the tombstone only"
    );
    assert_eq!(h.machine.version_of("envid1"), Some(12));
    assert_eq!(h.calls("delete", &delete("envid1", 5)), []);
    assert!(h.logged(Level::Info, "Ignoring out-of-order delete"));
    assert_eq!(h.machine.version_of("envid1"), Some(12));
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 12))),
        []
    );
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 13))),
        [Call::Add(params("envid1", 13))]
    );
}

#[test]
fn unknown_environment_leaves_a_tombstone() {
    let mut h = Harness::new();
    assert_eq!(h.calls("delete", &delete("envid1", 11)), []);
    assert_eq!(h.machine.version_of("envid1"), Some(11));
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 10))),
        []
    );
    assert_eq!(h.calls("delete", &delete("neg", -3)), []);
    assert_eq!(h.calls("patch", &patch("neg", &env_json("neg", -3))), []);
    assert_eq!(
        h.calls("patch", &patch("neg", &env_json("neg", -2))),
        [Call::Add(params("neg", -2))]
    );
}

#[test]
fn unknown_paths_are_ignored() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    for data in [
        r#"{"path":"/otherthings"}"#,
        r#"{"path":"/environments/","version":99}"#,
        r#"{"path":"/environments/envid1/x","version":99}"#,
        r#"{"version":99}"#,
        "null",
    ] {
        assert_eq!(h.calls("delete", data), [], "{data}");
        assert!(
            h.logged(Level::Info, "Ignoring \"delete\" event for unknown path"),
            "{data}"
        );
    }
    assert_eq!(h.live_ids(), ["envid1"]);
}

#[test]
fn malformed_deletes() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    for bad in [
        r#"{"oh no"#,
        r#"{"path":999}"#,
        r#"{"path":"/environments/envid1","version":"11"}"#,
        r#"{"path":"/environments/envid1","version":11.5}"#,
        r#"{"path":"/environments/envid1","version":99999999999999999999}"#,
        "[]",
    ] {
        h.assert_malformed("delete", bad);
    }
    assert_eq!(h.live_ids(), ["envid1"]);
}
