//! The compiled component under wasmtime: its import surface, the WIT translation, and the
//! host surviving a guest that traps.

use autoconfig_host::{
    COMPONENT, Driver, Error, Level, Limits, Metering, RestartReason, Runtime, Settings, TrapKind,
};
use autoconfig_test_support::events::put_data_of;
use autoconfig_test_support::{CallLine, Recorder, runtime, stream_options};

const T0: u64 = 1_796_000_000_000;

fn driver() -> Driver<Recorder> {
    match Driver::new(runtime(), Recorder::default()) {
        Ok(d) => d,
        Err(e) => panic!("instantiate: {}", autoconfig_host::report(&e)),
    }
}

fn env(id: &str, version: i64) -> String {
    format!(r#"{{"envId":"{id}","sdkKey":{{"value":"sdk-{id}"}},"version":{version}}}"#)
}

/// A put of `n` minimal environments (no expiring keys, so no warnings).
fn put_of(n: usize) -> String {
    put_data_of((0..n).map(|i| {
        let id = format!("env{i:05}");
        let env = serde_json::from_str(&env(&id, 1)).expect("valid JSON");
        (id, env)
    }))
}

#[test]
fn imports_only_the_handler_and_logging() {
    let mut imports = runtime().imports();
    imports.sort();
    assert_eq!(
        imports,
        [
            "relay:autoconfig/handler@0.2.0",
            "relay:autoconfig/types@0.2.0",
            "wasi:logging/logging@0.1.0-draft"
        ],
        "the component's import surface changed: no clocks, random, filesystem, sockets or stdio allowed"
    );
}

#[test]
fn every_field_crosses_the_wit_boundary() {
    let mut d = driver();
    let data = format!(
        r#"{{"path":"/environments/e","data":{{"envId":"e","envKey":"ek","envName":"en","mobKey":"mk","projKey":"pk","projName":"pn","sdkKey":{{"value":"sk","expiring":{{"value":"old","timestamp":{}}}}},"defaultTtl":-7,"secureMode":true,"version":-9223372036854775808}}}}"#,
        u64::MAX
    );
    let directive = d.on_event("patch", &data, T0).expect("no trap");
    assert_eq!(directive.next_deadline, Some(u64::MAX));
    let calls = d.handler_mut().take();
    let [CallLine::Add { env: p }] = calls.as_slice() else {
        panic!("{calls:?}")
    };
    assert_eq!(
        (
            p.env_id.as_str(),
            p.env_key.as_str(),
            p.env_name.as_str(),
            p.mobile_key.as_str()
        ),
        ("e", "ek", "en", "mk")
    );
    assert_eq!(
        (
            p.project_key.as_str(),
            p.project_name.as_str(),
            p.sdk_key.as_str()
        ),
        ("pk", "pn", "sk")
    );
    let x = p.expiring_sdk_key.as_ref().expect("expiring key");
    assert_eq!((x.key.as_str(), x.expires_at), ("old", Some(u64::MAX)));
    assert_eq!(
        (p.default_ttl_minutes, p.secure_mode, p.version),
        (-7, true, i64::MIN)
    );
    assert!(d.handler().logged(
        Level::Warn,
        "Old SDK key ending in old for environment e (pn en) will expire"
    ));
}

#[test]
fn logs_arrive_with_levels() {
    let mut d = driver();
    d.on_event("magic", "{}", T0).expect("no trap");
    assert!(
        d.handler()
            .logged(Level::Warn, "Ignoring unrecognized stream event: \"magic\"")
    );
    assert!(d.handler().logged(Level::Debug, "Received \"magic\" event"));
    d.on_event("put", "{bad", T0).expect("no trap");
    assert!(d.handler().logged(Level::Error, "malformed JSON"));
}

#[test]
fn host_rejects_oversized_data_without_copying_it_in() {
    let mut d = driver();
    d.configure(Settings {
        max_message_bytes: 100,
        ..Settings::default()
    })
    .expect("configure");
    let big = put_of(10);
    let directive = d.on_event("put", &big, T0).expect("no trap");
    assert_eq!(directive.restart, Some(RestartReason::MalformedData));
    assert_eq!(d.handler_mut().take(), []);
    assert!(d.handler().logged(Level::Error, "over the limit of 100"));
    // Unknown events are never size-checked.
    assert_eq!(
        d.on_event("magic", &big, T0).expect("no trap").restart,
        None
    );
}

/// With or without fuel metering: the memory limit is the store's, not the code's.
#[test]
fn a_memory_limit_trap_is_an_error_and_the_state_comes_back() {
    for metering in [Metering::Fuel, Metering::Off] {
        a_memory_limit_trap_with(metering);
    }
}

fn a_memory_limit_trap_with(metering: Metering) {
    let tight = Runtime::from_bytes(
        COMPONENT,
        Limits {
            max_memory_bytes: 4 << 20,
            metering,
            ..Limits::default()
        },
    )
    .expect("compile");
    let mut d = Driver::new(&tight, Recorder::default()).expect("instantiate");
    d.on_event(
        "patch",
        &format!(r#"{{"path":"/environments/a","data":{}}}"#, env("a", 1)),
        T0,
    )
    .expect("small patch fits");
    assert_eq!(d.handler_mut().take().len(), 1);
    let huge = put_of(20_000);
    match d.on_event("put", &huge, T0) {
        Err(Error::Trap(trap)) => assert_eq!(trap.kind(), TrapKind::MemoryLimit, "{metering:?}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    // A fresh instance, brought back to what the handler was told: `a` is known, so the same
    // patch is ignored and a newer one is an update, not an add.
    assert!(
        d.handler_mut().take().is_empty(),
        "the trapped put delivered nothing"
    );
    d.on_event(
        "patch",
        &format!(r#"{{"path":"/environments/a","data":{}}}"#, env("a", 1)),
        T0,
    )
    .expect("fresh instance");
    assert!(d.handler_mut().take().is_empty());
    d.on_event(
        "patch",
        &format!(r#"{{"path":"/environments/a","data":{}}}"#, env("a", 2)),
        T0,
    )
    .expect("fresh instance");
    assert!(matches!(
        d.handler_mut().take().as_slice(),
        [CallLine::Update { .. }]
    ));
}

#[test]
fn running_out_of_fuel_is_an_error_not_a_hang() {
    let starved = Runtime::from_bytes(
        COMPONENT,
        Limits {
            fuel_per_call: 200_000,
            fuel_per_byte: 0,
            fuel_per_entry: 0,
            ..Limits::default()
        },
    )
    .expect("compile");
    let mut d = Driver::new(&starved, Recorder::default()).expect("instantiate");
    match d.on_event("put", &put_of(2_000), T0) {
        Err(Error::Trap(trap)) => {
            assert_eq!(trap.kind(), TrapKind::OutOfFuel);
            assert!(
                std::error::Error::source(&trap).is_some(),
                "wasmtime's error"
            );
            let chain = autoconfig_host::report(&trap);
            assert!(chain.contains("fuel"), "{chain}");
        }
        other => panic!("expected running out of fuel, got {other:?}"),
    }
    assert_eq!(d.tick(T0).expect("a fresh instance ticks"), None);
}

/// [`Metering::Off`] compiles code that does not count: the budget that starved the put above
/// is not applied, and there is no fuel to report.
#[test]
fn an_unmetered_runtime_ignores_the_fuel_budget() {
    let unmetered = Runtime::from_bytes(
        COMPONENT,
        Limits {
            fuel_per_call: 200_000,
            fuel_per_byte: 0,
            fuel_per_entry: 0,
            metering: Metering::Off,
            ..Limits::default()
        },
    )
    .expect("compile");
    let mut d = Driver::new(&unmetered, Recorder::default()).expect("instantiate");
    d.on_event("put", &put_of(2_000), T0)
        .expect("no budget to run out of");
    assert_eq!(d.handler_mut().take().len(), 2_001, "2,000 adds and ready");
    assert_eq!(d.fuel_left(), None);
    assert!(driver().fuel_left().is_some(), "the default runtime meters");
}

#[test]
fn default_fuel_covers_a_full_size_put() {
    let mut d = driver();
    let data = put_of(10_000);
    d.on_event("put", &data, T0)
        .expect("10,000 environments fit the default budget");
    assert_eq!(d.handler_mut().take().len(), 10_001);
    // The budget of a call on an empty state: the default tombstone limit counts as entries.
    let budget = runtime().limits().fuel_for(data.len(), 100_000);
    let used = budget - d.fuel_left().expect("fuel");
    assert!(
        used * 4 < budget,
        "used {used} of {budget}: the budget has less than 4x headroom"
    );
}

#[test]
fn expiry_fires_at_the_given_now() {
    let mut d = driver();
    let data = format!(
        r#"{{"path":"/environments/e","data":{{"envId":"e","sdkKey":{{"value":"new","expiring":{{"value":"oldkey","timestamp":{}}}}}}}}}"#,
        T0 + 300
    );
    assert_eq!(
        d.on_event("patch", &data, T0).expect("ok").next_deadline,
        Some(T0 + 300)
    );
    d.handler_mut().take();
    assert_eq!(d.tick(T0 + 299).expect("ok"), Some(T0 + 300));
    assert_eq!(d.handler_mut().take(), []);
    assert_eq!(d.tick(T0 + 300).expect("ok"), None);
    assert_eq!(
        d.handler_mut().take(),
        [CallLine::KeyExpired {
            env_id: "e".into(),
            old_key: "oldkey".into()
        }]
    );
    assert_eq!(d.next_deadline(), None);
}

/// A directory for one cache test: `<temp>/autoconfig-cache-<pid>-<test>`, emptied first and
/// removed when dropped (also when the test fails).
struct CacheDir(std::path::PathBuf);

impl CacheDir {
    fn new(test: &str) -> CacheDir {
        let dir =
            std::env::temp_dir().join(format!("autoconfig-cache-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        CacheDir(dir)
    }

    /// The files in the directory, sorted.
    fn files(&self) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(&self.0)
            .expect("cache dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        files.sort();
        files
    }
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The runtime instantiates and handles one event.
fn cache_loaded_runtime_works(rt: &Runtime) {
    let mut d = Driver::new(rt, Recorder::default()).expect("instantiate");
    d.on_event(
        "patch",
        &format!(r#"{{"path":"/environments/a","data":{}}}"#, env("a", 1)),
        T0,
    )
    .expect("no trap");
    assert_eq!(d.handler_mut().take().len(), 1);
}

/// A file's contents and identity: a file replaced by a rename (a rewrite) has a new inode.
#[derive(Debug, PartialEq, Eq)]
struct FileState {
    bytes: Vec<u8>,
    modified: std::time::SystemTime,
    #[cfg(unix)]
    inode: u64,
}

fn file_state(path: &std::path::Path) -> FileState {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    FileState {
        bytes: std::fs::read(path).expect("read"),
        modified: meta.modified().expect("mtime"),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
    }
}

#[test]
fn compiled_cache_round_trips_and_survives_corruption() {
    let dir = CacheDir::new("corruption");
    let load = || Runtime::from_bytes_cached(COMPONENT, Limits::default(), &dir.0).expect("load");

    // First load: compiles, writes the entry and its hash.
    cache_loaded_runtime_works(&load());
    let files = dir.files();
    let [entry, hash] = files.as_slice() else {
        panic!("expected an entry and its hash: {files:?}")
    };
    assert!(entry.extension().is_some_and(|x| x == "cwasm"), "{files:?}");
    assert_eq!(
        hash.file_name(),
        Some(std::ffi::OsStr::new(&format!(
            "{}.sha256",
            entry.file_name().expect("name").to_string_lossy()
        ))),
        "{files:?}"
    );
    let good_entry = file_state(entry);
    let good_hash = file_state(hash);
    assert!(good_entry.bytes.len() > 1000, "machine code");
    let hex = std::str::from_utf8(&good_hash.bytes).expect("text").trim();
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hex:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir.0).expect("dir").permissions().mode();
        assert_eq!(mode & 0o077, 0, "created private: {mode:o}");
    }

    // Second load: reuses both files as they are.
    cache_loaded_runtime_works(&load());
    assert_eq!(file_state(entry), good_entry, "entry reused, not rewritten");
    assert_eq!(file_state(hash), good_hash, "hash reused, not rewritten");

    let len = good_entry.bytes.len();
    let mut zeroed = good_entry.bytes.clone();
    zeroed[len / 3..2 * len / 3].fill(0);
    let corruptions: [(&str, &dyn Fn()); 5] = [
        // The SIGSEGV of the issue: zeroed machine code must never run.
        ("middle third zeroed", &|| {
            std::fs::write(entry, &zeroed).expect("zero")
        }),
        ("entry truncated", &|| {
            std::fs::write(entry, &good_entry.bytes[..len / 2]).expect("truncate")
        }),
        ("hash file deleted", &|| {
            std::fs::remove_file(hash).expect("delete hash")
        }),
        ("hash file garbage", &|| {
            std::fs::write(hash, b"garbage, not a SHA-256\n").expect("garbage")
        }),
        ("foreign file", &|| {
            std::fs::write(entry, COMPONENT).expect("foreign")
        }),
    ];
    for (what, corrupt) in corruptions {
        corrupt();
        cache_loaded_runtime_works(&load());
        let repaired_entry = file_state(entry);
        let repaired_hash = file_state(hash);
        // Compilation is deterministic: the replacement is the original, byte for byte.
        assert!(
            repaired_entry.bytes == good_entry.bytes,
            "{what}: the entry was not replaced by a good one"
        );
        assert_eq!(
            repaired_hash.bytes, good_hash.bytes,
            "{what}: the hash was not rewritten"
        );
        // (Not compared by inode: a freed inode number is reused at once on some filesystems.)
        // Valid again: the next load reuses both files.
        cache_loaded_runtime_works(&load());
        assert!(
            file_state(entry) == repaired_entry,
            "{what}: the repaired entry was not reused"
        );
        assert_eq!(
            file_state(hash),
            repaired_hash,
            "{what}: the repaired hash was not reused"
        );
        assert_eq!(
            dir.files().len(),
            2,
            "{what}: no temporary file left behind"
        );
    }
}

#[cfg(unix)]
#[test]
fn compiled_cache_refuses_a_directory_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = CacheDir::new("world-writable");
    std::fs::create_dir(&dir.0).expect("create");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    for _ in 0..2 {
        cache_loaded_runtime_works(
            &Runtime::from_bytes_cached(COMPONENT, Limits::default(), &dir.0).expect("load"),
        );
        assert_eq!(
            dir.files(),
            Vec::<std::path::PathBuf>::new(),
            "nothing cached"
        );
    }
    assert_eq!(
        std::fs::metadata(&dir.0).expect("dir").permissions().mode() & 0o777,
        0o777,
        "left as it was"
    );
}

#[test]
fn log_level_setting_keeps_filtered_lines_inside_the_guest() {
    let mut d = driver();
    d.configure(Settings {
        log_level: autoconfig_host::Level::Warn,
        ..Settings::default()
    })
    .expect("configure");
    d.on_event("put", &put_of(100), T0).expect("no trap");
    assert_eq!(d.handler_mut().take().len(), 101);
    assert!(
        d.handler().logs().is_empty(),
        "no info line crossed: {:?}",
        d.handler().logs().first()
    );
    d.on_event("magic", "{}", T0).expect("no trap");
    assert!(
        d.handler()
            .logged(Level::Warn, "Ignoring unrecognized stream event")
    );
}

#[test]
fn a_trap_in_the_stream_restarts_the_stream_client_with_a_delay() {
    let rt = Runtime::from_bytes(
        COMPONENT,
        Limits {
            fuel_per_call: 5_000_000,
            fuel_per_byte: 0,
            fuel_per_entry: 0,
            ..Limits::default()
        },
    )
    .expect("load");
    let mut d = Driver::new(&rt, Recorder::default()).expect("driver");
    let options = stream_options();
    let t0 = 1_796_000_000_000;
    let step = d.start(&options, t0).expect("no trap").expect("valid");
    assert!(step.connect.is_some());
    d.on_response(200, Some("text/event-stream"), None, t0)
        .expect("no trap");
    let small = format!("id: 7\nevent: put\ndata: {}\n\n", put_of(1));
    d.on_body(small.as_bytes(), t0).expect("no trap");
    assert_eq!(d.handler_mut().take().len(), 2, "add + ready");
    // A put too big for the fuel budget traps the guest.
    let big = format!("event: put\ndata: {}\n\n", put_of(3000));
    let step = d
        .on_body(big.as_bytes(), t0 + 1)
        .expect("recovered, not an error");
    assert_eq!(d.traps(), 1);
    assert!(step.disconnect, "the connection must be dropped: {step:?}");
    assert_eq!(
        step.connect, None,
        "not at once: no hot loop on a payload that traps"
    );
    let wait = step.next_deadline.expect("a reconnect deadline") - (t0 + 1);
    assert!(wait > 500 && wait <= 1000, "{wait}");
    let step = d.on_timeout(t0 + 1 + wait).expect("no trap");
    let request = step.connect.expect("reconnect");
    assert!(
        request
            .headers
            .iter()
            .any(|(n, v)| n == "Last-Event-ID" && v == "7"),
        "the last event id survives the trap: {:?}",
        request.headers
    );
}

/// Counts callbacks, keeps nothing (a recorder would hold 381,000 records).
#[derive(Default)]
struct Count(u64);

impl autoconfig_host::Handler for Count {
    fn add_environment(&mut self, _: autoconfig_host::EnvironmentParams) {
        self.0 += 1;
    }
    fn update_environment(&mut self, _: autoconfig_host::EnvironmentParams) {}
    fn delete_environment(&mut self, _: String) {}
    fn received_all_environments(&mut self) {}
    fn key_expired(&mut self, _: String, _: String) {}
    fn log(&mut self, _: Level, _: &str) {}
}

#[test]
fn a_put_at_the_size_limit_keeps_the_guest_memory_bounded() {
    // 381,000 minimal environments: just under the default 16 MiB limit, through the stream
    // client in 64 KiB chunks as a socket would deliver it.
    let n = 381_000;
    let mut data = String::with_capacity(16 << 20);
    data.push_str(r#"{"path":"/","data":{"environments":{"#);
    for i in 0..n {
        if i > 0 {
            data.push(',');
        }
        data.push_str(&format!(r#""e{i:07}":{{"envId":"e{i:07}","version":1}}"#));
    }
    data.push_str("}}}");
    assert!(data.len() < 16 << 20);
    let body = format!("event: put\ndata: {data}\n\n");
    let mut d = Driver::new(runtime(), Count::default()).expect("instantiate");
    d.start(&stream_options(), T0)
        .expect("no trap")
        .expect("valid");
    d.on_response(200, Some("text/event-stream"), None, T0)
        .expect("no trap");
    for chunk in body.as_bytes().chunks(64 << 10) {
        let step = d.on_body(chunk, T0).expect("no trap");
        assert!(!step.disconnect, "the put is legal");
    }
    assert_eq!(
        d.traps(),
        0,
        "the fuel covers an event spanning many chunks"
    );
    assert_eq!(d.handler().0, n);
    // Measured at 68 MB (it was 247 MB before environments were packed); the bound leaves room.
    let memory = d.memory_bytes();
    assert!(memory < 96 << 20, "guest memory {} MiB", memory >> 20);
}
