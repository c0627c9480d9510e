//! Properties over random event sequences: no panics, versions never go backwards, and the
//! callbacks replayed onto a plain map always equal the machine's live set.

use super::*;
use alloc::collections::BTreeMap;
use proptest::prelude::*;

const IDS: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
enum Step {
    Put(Vec<(usize, i64, Option<u64>, bool)>),
    Patch(usize, i64, Option<u64>),
    Delete(usize, i64),
    Reconnect,
    Unknown,
    Garbage(String, String),
    Advance(u64),
}

fn env_for(id: &str, version: i64, expiry: Option<u64>) -> String {
    match expiry {
        Some(offset) => env_expiring(
            id,
            version,
            &alloc::format!("old-{id}-{offset}"),
            T0 + offset,
        ),
        None => env_json(id, version),
    }
}

fn step() -> impl Strategy<Value = Step> {
    let id = 0..IDS.len();
    let version = -2i64..8;
    let expiry = proptest::option::of(0u64..2000);
    prop_oneof![
        proptest::collection::vec(
            (id.clone(), version.clone(), expiry.clone(), any::<bool>()),
            0..5
        )
        .prop_map(Step::Put),
        (id.clone(), version.clone(), expiry).prop_map(|(i, v, e)| Step::Patch(i, v, e)),
        (id, version).prop_map(|(i, v)| Step::Delete(i, v)),
        Just(Step::Reconnect),
        Just(Step::Unknown),
        (".{0,8}", ".{0,40}").prop_map(|(n, d)| Step::Garbage(n, d)),
        (0u64..1500).prop_map(Step::Advance),
    ]
}

/// Replays callbacks onto a plain map, checking each is legal for the state it sees.
fn replay(model: &mut BTreeMap<String, EnvironmentParams>, calls: &[Call]) {
    for call in calls {
        match call {
            Call::Add(p) => {
                assert!(
                    model.insert(p.env_id.clone(), p.clone()).is_none(),
                    "add of a live env: {call:?}"
                );
            }
            Call::Update(p) => {
                let old = model.insert(p.env_id.clone(), p.clone());
                let old = old.unwrap_or_else(|| panic!("update of an unknown env: {call:?}"));
                assert!(
                    p.version > old.version,
                    "update did not raise the version: {call:?}"
                );
            }
            Call::Delete(id) => {
                assert!(
                    model.remove(id).is_some(),
                    "delete of an unknown env: {call:?}"
                );
            }
            Call::ReceivedAll => {}
            Call::KeyExpired(id, key) => {
                let env = model
                    .get(id)
                    .unwrap_or_else(|| panic!("expiry for a dead env: {call:?}"));
                assert_ne!(&env.sdk_key, key, "the primary key expired");
                let announced = env.expiring_sdk_key.as_ref().map(|x| &x.key);
                let _ = announced; // The key may have been dropped from params when moved into the past.
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_invariants(steps in proptest::collection::vec(step(), 1..40)) {
        let mut h = Harness::new();
        let mut model: BTreeMap<String, EnvironmentParams> = BTreeMap::new();
        // Keys that expired and were not announced again since: none may expire twice.
        let mut fired: alloc::collections::BTreeSet<(String, String)> = Default::default();
        for s in steps {
            let before: Vec<Option<i64>> = IDS.iter().map(|id| h.machine.version_of(id)).collect();
            h.rec.calls.clear();
            let forgetting = matches!(s, Step::Put(_));
            match &s {
                Step::Put(entries) => {
                    let list: Vec<(&str, String)> = entries
                        .iter()
                        .map(|(i, v, e, mismatch)| {
                            let body = env_for(IDS[*i], *v, *e);
                            let body = if *mismatch { body.replace("\"envId\":\"", "\"envId\":\"x") } else { body };
                            (IDS[*i], body)
                        })
                        .collect();
                    h.event("put", &put(&list));
                }
                Step::Patch(i, v, e) => {
                    h.event("patch", &patch(IDS[*i], &env_for(IDS[*i], *v, *e)));
                }
                Step::Delete(i, v) => {
                    h.event("delete", &delete(IDS[*i], *v));
                }
                Step::Reconnect => {
                    prop_assert_eq!(h.event("reconnect", "").restart, Some(RestartReason::ReconnectRequested));
                }
                Step::Unknown => {
                    prop_assert_eq!(h.event("other", "{}").restart, None);
                }
                Step::Garbage(name, data) => {
                    h.event(name, data);
                }
                Step::Advance(ms) => {
                    let calls = h.advance(*ms);
                    h.rec.calls = calls;
                }
            }
            let calls = core::mem::take(&mut h.rec.calls);
            replay(&mut model, &calls);
            for call in &calls {
                match call {
                    Call::KeyExpired(id, key) => {
                        // Keys are named "old-<id>-<offset>" and due at T0 + offset: never early.
                        let offset = key
                            .strip_prefix(&alloc::format!("old-{id}-"))
                            .and_then(|o| o.parse::<u64>().ok())
                            .unwrap_or_else(|| panic!("{id} expired a key not its own: {key}"));
                        prop_assert!(h.now >= T0 + offset, "{} expired early", key);
                        prop_assert!(fired.insert((id.clone(), key.clone())), "{} expired twice", key);
                    }
                    Call::Add(p) | Call::Update(p) => {
                        if let Some(x) = &p.expiring_sdk_key {
                            fired.remove(&(p.env_id.clone(), x.key.clone()));
                        }
                    }
                    _ => {}
                }
            }
            // The live set equals the replayed map, field by field except the expiring key.
            let live: Vec<(String, i64, String)> =
                h.machine.environments().map(|e| (e.env_id().to_string(), e.version(), e.sdk_key().to_string())).collect();
            let replayed: Vec<(String, i64, String)> =
                model.values().map(|p| (p.env_id.clone(), p.version, p.sdk_key.clone())).collect();
            prop_assert_eq!(live, replayed);
            // Versions never go backwards while an ID is remembered (a put may forget it).
            for (i, id) in IDS.iter().enumerate() {
                if let (Some(old), Some(new), false) = (before[i], h.machine.version_of(id), forgetting) {
                    prop_assert!(new >= old, "{} went from {} to {}", id, old, new);
                }
            }
            prop_assert_eq!(h.machine.next_deadline().is_some(), h.machine.pending_timers() > 0);
            prop_assert!(h.machine.pending_timers() <= model.len());
        }
    }

    #[test]
    fn arbitrary_input_never_panics(name in ".{0,12}", data in ".{0,300}", now in any::<u64>()) {
        let mut m = Machine::new();
        let mut r = Recorder::default();
        for n in [name.as_str(), "put", "patch", "delete", "reconnect"] {
            m.on_event(n, &data, now, &mut r);
        }
        m.tick(now, &mut r);
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(data in json_value(), now in any::<u64>()) {
        let mut m = Machine::new();
        let mut r = Recorder::default();
        for n in ["put", "patch", "delete"] {
            m.on_event(n, &data, now, &mut r);
            let wrapped = alloc::format!(r#"{{"path":"/environments/a","data":{data},"version":{data}}}"#);
            m.on_event(n, &wrapped, now, &mut r);
            let wrapped = alloc::format!(r#"{{"path":"/","data":{{"environments":{{"a":{data}}}}}}}"#);
            m.on_event(n, &wrapped, now, &mut r);
        }
        m.tick(u64::MAX, &mut r);
    }
}

/// Random JSON text, biased towards the field names the decoder knows.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| if f.is_finite() {
            alloc::format!("{f:?}")
        } else {
            "0.5".to_string()
        }),
        "[a-z]{0,6}".prop_map(|s| alloc::format!("\"{s}\"")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![
            Just("envId"),
            Just("ENVID"),
            Just("version"),
            Just("sdkKey"),
            Just("expiring"),
            Just("value"),
            Just("timestamp"),
            Just("path"),
            Just("data"),
            Just("environments"),
            Just("defaultTtl"),
            Just("secureMode"),
            Just("a"),
            Just("zz"),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| alloc::format!("[{}]", v.join(","))),
            proptest::collection::vec((key, inner), 0..5).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .iter()
                    .map(|(k, v)| alloc::format!("\"{k}\":{v}"))
                    .collect();
                alloc::format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}
