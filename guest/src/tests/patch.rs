//! `patch`: rule 2 and the reference's patch tests.

use super::*;

#[test]
fn new_environment_is_added() {
    let mut h = Harness::new();
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 10))),
        [Call::Add(params("envid1", 10))]
    );
    assert!(h.logged(Level::Info, "Added environment envid1"));
}

#[test]
fn any_version_of_a_new_env_is_accepted() {
    let mut h = Harness::new();
    assert_eq!(
        h.calls("patch", &patch("a", &env_json("a", 0))),
        [Call::Add(params("a", 0))]
    );
    assert_eq!(
        h.calls("patch", &patch("b", &env_json("b", -5))),
        [Call::Add(params("b", -5))]
    );
    assert_eq!(
        h.calls("patch", &patch("b", &env_json("b", -4))),
        [Call::Update(params("b", -4))]
    );
}

#[test]
fn updated() {
    let mut h = Harness::new();
    h.calls("patch", &patch("envid1", &env_json("envid1", 10)));
    let changed = env_json("envid1", 11).replace("mob-envid1", "mob-new");
    let mut expected = params("envid1", 11);
    expected.mobile_key = "mob-new".into();
    assert_eq!(
        h.calls("patch", &patch("envid1", &changed)),
        [Call::Update(expected)]
    );
    assert!(h.logged(
        Level::Info,
        "Properties have changed for environment envid1"
    ));
}

#[test]
fn same_version_is_ignored() {
    let mut h = Harness::new();
    h.calls("patch", &patch("envid1", &env_json("envid1", 10)));
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 10))),
        []
    );
    assert!(h.logged(
        Level::Info,
        "Ignoring out-of-order update for environment envid1"
    ));
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 3))),
        []
    );
}

#[test]
fn older_than_a_delete_is_ignored() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    assert_eq!(
        h.calls("delete", &delete("envid1", 11)),
        [Call::Delete("envid1".into())]
    );
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 10))),
        []
    );
    assert!(h.logged(
        Level::Info,
        "Ignoring out-of-order update for environment envid1"
    ));
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 11))),
        [],
        "equal to the delete"
    );
}

#[test]
fn higher_than_a_delete_re_adds() {
    let mut h = Harness::new();
    assert_eq!(h.calls("delete", &delete("envid1", 10)), []);
    assert_eq!(
        h.calls("patch", &patch("envid1", &env_json("envid1", 11))),
        [Call::Add(params("envid1", 11))]
    );
}

#[test]
fn unknown_paths_are_ignored_without_parsing_data() {
    let mut h = Harness::new();
    for path in [
        "/otherthings",
        "/filters/x",
        "/environments/",
        "/environments/a/b",
        "environments/a",
        "",
    ] {
        let data = alloc::format!(r#"{{"path":"{path}","data":999}}"#);
        assert_eq!(h.calls("patch", &data), [], "{path}");
        assert!(
            h.logged(Level::Info, "Ignoring \"patch\" event for unknown path"),
            "{path}"
        );
    }
    assert_eq!(h.calls("patch", r#"{"path":"/otherthings","data":{}}"#), []);
}

#[test]
fn id_mismatch_with_path_is_ignored() {
    let mut h = Harness::new();
    assert_eq!(
        h.calls("patch", &patch("wrongkey", &env_json("envid1", 10))),
        []
    );
    assert!(h.logged(
        Level::Warn,
        "Ignoring environment data whose envId \"envid1\" did not match key \"wrongkey\""
    ));
    assert_eq!(
        h.calls("patch", r#"{"path":"/environments/x"}"#),
        [],
        "missing data is the zero env"
    );
    assert_eq!(
        h.calls("patch", r#"{"path":"/environments/x","data":null}"#),
        []
    );
    assert_eq!(h.live_ids(), Vec::<String>::new());
}

#[test]
fn malformed_patches() {
    let mut h = Harness::new();
    h.calls("patch", &patch("envid1", &env_json("envid1", 10)));
    for bad in [
        r#"{"oh no"#,
        r#"{"path":"/environments/envid1","data":999}"#,
        r#"{"path":"/environments/envid1","data":{"envId":"envid1","version":"11"}}"#,
        r#"{"path":"/environments/envid1","data":{"envId":"envid1","version":11,"sdkKey":{"expiring":{"timestamp":-1}}}}"#,
        r#"{"path":9,"data":{}}"#,
        r#"{"path":"/filters/x","data":{}"#,
        "5",
    ] {
        h.assert_malformed("patch", bad);
    }
    assert_eq!(h.machine.version_of("envid1"), Some(10));
}
