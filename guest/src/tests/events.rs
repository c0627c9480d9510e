//! `reconnect` (Rule 5), unknown events (Rule 6), hostile input (Rule 8), logging (Rule 9)
//! and the event counters; rules in docs/rules.md.

use super::*;

#[test]
fn reconnect_restarts_once_and_keeps_state() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("envid1", env_json("envid1", 10))]));
    h.clear();
    for data in [" ", "", r#"{"oh no"#] {
        let d = h.event("reconnect", data);
        assert_eq!(d.restart, Some(RestartReason::ReconnectRequested));
    }
    assert_eq!(h.rec.calls, []);
    assert!(h.logged(Level::Info, "Will restart auto-configuration stream"));
    assert_eq!(h.live_ids(), ["envid1"]);
    // The put after the reconnect is diffed against the kept state.
    assert_eq!(
        h.calls("put", &put(&[("envid1", env_json("envid1", 10))])),
        [Call::ReceivedAll]
    );
}

#[test]
fn unknown_events_are_ignored_with_a_warning() {
    let mut h = Harness::new();
    for name in [
        "magic",
        "",
        "PUT",
        "message",
        "Reconnect",
        "put ",
        "\u{0}\n",
    ] {
        h.clear();
        let d = h.event(name, "{}");
        assert_eq!(
            d,
            Directive {
                restart: None,
                next_deadline: None
            },
            "{name:?}"
        );
        assert_eq!(h.rec.calls, []);
        assert!(
            h.logged(Level::Warn, "Ignoring unrecognized stream event"),
            "{name:?}"
        );
    }
    assert!(
        h.logged(Level::Warn, "\"\\u{0}\\n\""),
        "control characters are escaped: {:?}",
        h.rec.logs
    );
    h.clear();
    h.event("magic", "{}");
    assert!(h.logged(Level::Debug, "Received \"magic\" event (2 bytes of data)"));
}

#[test]
fn unknown_events_are_not_size_checked_or_parsed() {
    let mut h = Harness::new();
    h.machine.configure(crate::Settings {
        max_message_bytes: 1,
        ..crate::Settings::default()
    });
    assert_eq!(h.event("magic", "{not json at all").restart, None);
    assert_eq!(
        h.event("reconnect", "{long data}").restart,
        Some(RestartReason::ReconnectRequested)
    );
}

#[test]
fn logs_never_contain_a_full_key() {
    let mut h = Harness::new();
    let sdk = "sdk-aaaaaaaa-1111";
    let mob = "mob-bbbbbbbb-2222";
    let old = "sdk-cccccccc-3333";
    let env = alloc::format!(
        r#"{{"envId":"e","mobKey":"{mob}","sdkKey":{{"value":"{sdk}","expiring":{{"value":"{old}","timestamp":{}}}}},"version":1}}"#,
        T0 + 1000
    );
    h.event("put", &put(&[("e", env.clone())]));
    h.advance(2000);
    h.event(
        "patch",
        &patch("e", &env.replace(r#""version":1"#, r#""version":"x""#)),
    );
    h.event(
        "delete",
        &alloc::format!(r#"{{"path":"/environments/e","version":"{old}"}}"#),
    );
    h.event(
        "put",
        &alloc::format!(
            r#"{{"path":"/","data":{{"environments":{{"e":{{"version":"{mob}"}}}}}}}}"#
        ),
    );
    assert!(h.rec.logs.len() > 5);
    for (_, line) in &h.rec.logs {
        for key in [sdk, mob, old] {
            assert!(!line.contains(&key[..12]), "{line}");
        }
    }
    assert!(h.logged(Level::Warn, "Old SDK key ending in 3333"));
}

#[test]
fn directive_reports_the_next_deadline() {
    let mut h = Harness::new();
    let d = h.event("put", &put(&[("e", env_expiring("e", 1, "old", T0 + 500))]));
    assert_eq!(
        d,
        Directive {
            restart: None,
            next_deadline: Some(T0 + 500)
        }
    );
    let d = h.event("magic", "");
    assert_eq!(d.next_deadline, Some(T0 + 500));
    let d = h.event("put", "{bad");
    assert_eq!(
        d,
        Directive {
            restart: Some(RestartReason::MalformedData),
            next_deadline: Some(T0 + 500)
        }
    );
}

#[test]
fn hostile_strings_never_panic() {
    let mut h = Harness::new();
    let weird = [
        "\u{FFFF}",
        "\u{10FFFF}",
        "🦀🦀🦀",
        "\\",
        "\"",
        "\u{0}",
        "ſ",
        "\u{212A}",
    ];
    for w in weird {
        for name in ["put", "patch", "delete", "reconnect", w] {
            h.event(name, w);
            h.event(
                name,
                &alloc::format!(r#"{{"path":"/environments/{w}","data":{{"envId":"{w}"}}}}"#),
            );
        }
    }
}

#[test]
fn log_level_setting_filters_lines_before_they_are_formatted() {
    let mut h = Harness::new();
    h.machine.configure(crate::Settings {
        log_level: Level::Warn,
        ..crate::Settings::default()
    });
    h.event("put", &put(&[("a", env_json("a", 1))]));
    h.event("magic", "{}");
    h.event("put", "{bad");
    let levels: Vec<Level> = h.rec.logs.iter().map(|(l, _)| *l).collect();
    assert_eq!(levels, [Level::Warn, Level::Error], "{:?}", h.rec.logs);
    assert_eq!(h.rec.calls.len(), 2, "callbacks are never filtered");
    h.clear();
    h.machine.configure(crate::Settings::default());
    h.event("magic", "{}");
    assert!(h.logged(Level::Debug, "Received \"magic\" event"));
}

#[test]
fn counters_count_events_by_name_and_malformed_data() {
    let mut h = Harness::new();
    assert_eq!(h.machine.counters(), crate::machine::Counters::default());
    h.event("put", &put(&[("a", env_json("a", 1))]));
    h.event("patch", &patch("a", &env_json("a", 2)));
    h.event("patch", "{bad");
    h.event("delete", &delete("a", 3));
    h.event("reconnect", "");
    h.event("magic", "{}");
    h.event("", "");
    let c = h.machine.counters();
    assert_eq!(
        (
            c.put_events,
            c.patch_events,
            c.delete_events,
            c.reconnect_events,
            c.other_events,
            c.malformed_events
        ),
        (1, 2, 1, 1, 2, 1)
    );
    assert_eq!(c.last_event_at, Some(h.now));
    // Over the size limit counts as malformed too.
    h.machine.configure(crate::Settings {
        max_message_bytes: 10,
        ..crate::Settings::default()
    });
    h.event("put", &put(&[("a", env_json("a", 1))]));
    assert_eq!(h.machine.counters().malformed_events, 2);
}
