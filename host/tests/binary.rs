//! End-to-end tests of the `autoconfig-host` binary: the `--demo` story's stdout checked line by
//! line against the JSON-lines contract, exit codes (1 for a refused key, 2 for bad usage, 0 on
//! SIGTERM), and no key on stderr.

mod common;

use autoconfig_host::output::CallLine;
use std::process::Command;

use common::process::{BIN, CHILD_DEADLINE, Host, Pipe, call_lines, server_runtime};
use common::{Reply, TestServer, poll_until_blocking, put, send};

#[test]
fn demo_plays_the_story_and_exits_0() {
    let mut host = Host::start(&["--demo"]);
    assert_eq!(host.code(), 0, "stderr:\n{}", host.stderr());
    let lines = call_lines(&host.stdout());
    let ops: Vec<String> = lines.iter().map(common::op).collect();
    let summary: Vec<String> = ops
        .iter()
        .map(|op| {
            // Drop versions and old keys: the story is about which callback, for which env.
            let mut words = op.split(' ');
            let verb = words.next().unwrap_or_default();
            let id = words
                .next()
                .map(|w| w.split('@').next().unwrap_or_default())
                .unwrap_or_default();
            format!("{verb} {id}").trim().to_owned()
        })
        .collect();
    assert_eq!(
        summary,
        [
            "add dev-alice",
            "add production",
            "add staging",
            "ready",
            "update staging",
            "update production",
            "key-expired production",
            "delete dev-alice",
            "update production",
            "add qa",
            "ready",
        ],
        "stdout:\n{}",
        host.stdout()
    );
    match &lines[5] {
        CallLine::Update { env } => {
            assert_eq!(env.sdk_key, "sdk-prod-0001-7777");
            let expiring = env.expiring_sdk_key.as_ref().expect("an expiring key");
            assert_eq!(expiring.key, "sdk-prod-0000-1111");
            assert!(expiring.expires_at.is_some(), "the expiry is reported");
        }
        other => panic!("line 6 is not an update: {other:?}"),
    }
    assert_eq!(
        lines[6],
        CallLine::KeyExpired {
            env_id: "production".into(),
            old_key: "sdk-prod-0000-1111".into()
        }
    );
    match &lines[8] {
        CallLine::Update { env } => assert_eq!(env.expiring_sdk_key, None),
        other => panic!("line 9 is not an update: {other:?}"),
    }
}

#[test]
fn refused_key_exits_1_after_one_request_without_printing_the_key() {
    let rt = server_runtime();
    let server = rt.block_on(TestServer::start(vec![
        Reply::status(401),
        Reply::sse(vec![send(put(&[("a", 1)]))]),
    ]));
    let key = "relk-QWERTYzxcvbnmPLMOKNIJ-uhbygv-wsxTAIL";
    let mut host = Host::start(&[
        "--key",
        key,
        "--stream-uri",
        &server.uri(),
        "--log-level",
        "trace",
    ]);
    assert_eq!(host.code(), 1, "stderr:\n{}", host.stderr());
    assert_eq!(server.count(), 1, "no retry after a refused key");
    assert_eq!(
        server.requests()[0].header("authorization").as_deref(),
        Some(key)
    );
    assert_eq!(host.stdout(), "", "no callbacks");
    let stderr = host.stderr();
    assert!(
        stderr
            .to_lowercase()
            .contains("invalid auto-configuration key"),
        "stderr names the problem:\n{stderr}"
    );
    // At most the last 4 characters may appear: no 5-character piece of the key may.
    let chars: Vec<char> = key.chars().collect();
    for piece in chars.windows(5) {
        let piece: String = piece.iter().collect();
        assert!(
            !stderr.contains(&piece),
            "stderr shows {piece:?} of the key:\n{stderr}"
        );
    }
}

#[test]
fn no_key_is_a_usage_error() {
    let mut host = Host::start(&["--stream-uri", "http://127.0.0.1:9"]);
    assert_eq!(host.code(), 2);
    let stderr = host.stderr();
    assert!(stderr.contains("--key"), "{stderr}");
    assert!(stderr.contains("AUTO_CONFIG_KEY"), "{stderr}");
    assert_eq!(host.stdout(), "");
}

#[test]
fn missing_component_is_a_usage_error() {
    let mut host = Host::start(&[
        "--key",
        "k",
        "--stream-uri",
        "http://127.0.0.1:9",
        "--component",
        "/nonexistent",
    ]);
    assert_eq!(host.code(), 2);
    let stderr = host.stderr();
    assert!(stderr.contains("/nonexistent"), "{stderr}");
}

#[test]
fn bad_duration_is_a_usage_error() {
    let mut host = Host::start(&["--key", "k", "--read-timeout", "banana"]);
    assert_eq!(host.code(), 2);
    assert!(host.stderr().contains("banana"), "{}", host.stderr());
}

#[test]
fn sigterm_while_connected_exits_0_with_complete_lines() {
    for signal in ["-TERM", "-INT"] {
        stop_with_signal(signal);
    }
}

/// Runs the host on a live stream, sends it `signal` once it has the put, and checks the exit.
fn stop_with_signal(signal: &str) {
    let rt = server_runtime();
    let server = rt.block_on(TestServer::start(vec![Reply::sse(vec![send(put(&[
        ("a", 1),
        ("b", 1),
    ]))])]));
    let mut host = Host::start(&["--key", "k", "--stream-uri", &server.uri()]);
    let ready = poll_until_blocking(CHILD_DEADLINE, || {
        host.stdout().contains(r#"{"op":"ready"}"#)
    });
    assert!(ready, "the host got the put; stderr:\n{}", host.stderr());
    // The component's log lines of the put are held until its call ends, then written: they
    // are there while the host runs, not only at its exit.
    let logged = poll_until_blocking(CHILD_DEADLINE, || {
        let stderr = host.stderr();
        stderr.contains("Added environment a") && stderr.contains("Added environment b")
    });
    assert!(logged, "the put's log lines: stderr:\n{}", host.stderr());
    assert!(host.running(), "still connected");
    let pid = host.pid().to_string();
    let killed = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    // `code()` fails if the host has not exited within CHILD_DEADLINE: no elapsed-time check.
    assert_eq!(host.code(), 0, "{signal}: stderr:\n{}", host.stderr());
    let ops: Vec<String> = call_lines(&host.stdout()).iter().map(common::op).collect();
    assert_eq!(ops, ["add a@1", "add b@1", "ready"]);
    assert_eq!(server.count(), 1);
}

/// A user's own script, played by `--demo --script FILE` and by the `serve` subcommand.
const OWN_SCRIPT: &str = r#"{"connections": [[
  {"delayMs": 50, "event": "put", "data": {"path": "/", "data": {"environments": {
    "mine": {"envId": "mine", "sdkKey": {"value": "sdk-mine", "expiring": {"value": "sdk-old", "timestamp": "{{now+600000}}"}}, "version": 4}}}}},
  {"delayMs": 50, "event": "delete", "data": "{\"path\":\"/environments/mine\",\"version\":5}"},
  {"delayMs": 200, "comment": " the end"}
]]}"#;

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("autoconfig-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write a temp file");
    path
}

#[test]
fn demo_plays_a_user_script() {
    let script = write_temp("script.json", OWN_SCRIPT);
    let mut host = Host::start(&["--demo", "--script", script.to_str().expect("utf-8 path")]);
    assert_eq!(host.code(), 0, "stderr:\n{}", host.stderr());
    let lines = call_lines(&host.stdout());
    let _ = std::fs::remove_file(&script);
    assert_eq!(lines.len(), 3, "{lines:?}");
    match &lines[0] {
        CallLine::Add { env } => {
            assert_eq!((env.env_id.as_str(), env.version), ("mine", 4));
            let expiring = env.expiring_sdk_key.as_ref().expect("an expiring key");
            assert_eq!(expiring.key, "sdk-old");
            let at = expiring
                .expires_at
                .expect("an expiry time from {{now+600000}}");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_millis() as u64;
            assert!(at > now + 500_000 && at < now + 700_000, "{at} vs {now}");
        }
        other => panic!("expected the add, got {other:?}"),
    }
    assert_eq!(lines[1], CallLine::Ready);
    assert_eq!(
        lines[2],
        CallLine::Delete {
            env_id: "mine".into()
        }
    );
}

#[test]
fn serve_subcommand_streams_a_script() {
    let script = write_temp("serve.json", OWN_SCRIPT);
    let mut server = Host::start(&[
        "serve",
        "--script",
        script.to_str().expect("utf-8 path"),
        "--port",
        "0",
    ]);
    let mut addr = None;
    let found = poll_until_blocking(CHILD_DEADLINE, || {
        addr = server.stderr().lines().find_map(|l| {
            l.split("stream URI ")
                .nth(1)
                .map(|rest| rest.trim_end_matches(')').to_owned())
        });
        addr.is_some()
    });
    assert!(
        found,
        "serve printed its address; stderr:\n{}",
        server.stderr()
    );
    let uri = addr.expect("found");
    let mut host = Host::start(&["--key", "any-key", "--stream-uri", &uri]);
    let got_three = poll_until_blocking(CHILD_DEADLINE, || host.stdout().lines().count() >= 3);
    assert!(
        got_three,
        "stdout: {}\nstderr: {}",
        host.stdout(),
        host.stderr()
    );
    let ops: Vec<CallLine> = call_lines(&host.stdout());
    assert!(matches!(&ops[0], CallLine::Add { env } if env.env_id == "mine"));
    assert_eq!(
        ops[1..],
        [
            CallLine::Ready,
            CallLine::Delete {
                env_id: "mine".into()
            }
        ]
    );
    for child in [&mut host, &mut server] {
        let pid = child.pid().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert_eq!(child.code(), 0);
    }
    let _ = std::fs::remove_file(&script);
}

#[test]
fn ca_file_must_hold_a_pem_certificate() {
    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/test-ca.pem");
    let mut host = Host::start(&["--demo", "--ca-file", good]);
    assert_eq!(
        host.code(),
        0,
        "a valid extra CA is accepted; stderr:\n{}",
        host.stderr()
    );
    let garbage = write_temp("garbage.pem", "not a certificate\n");
    for (path, fragment) in [
        (garbage.to_str().expect("utf-8"), "no PEM certificate"),
        (
            "/nonexistent/ca.pem",
            "cannot read the CA file /nonexistent/ca.pem: No such file",
        ),
    ] {
        let mut host = Host::start(&[
            "--key",
            "k",
            "--stream-uri",
            "http://127.0.0.1:9",
            "--ca-file",
            path,
        ]);
        assert_eq!(host.code(), 2, "{path}");
        assert!(
            host.stderr().contains(fragment),
            "{path}: {}",
            host.stderr()
        );
    }
    let _ = std::fs::remove_file(&garbage);
}

/// Sends `signal` to the host and checks it exits 0.
fn stop(host: &mut Host) {
    let pid = host.pid().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    assert_eq!(host.code(), 0, "stderr:\n{}", host.stderr());
}

fn ops_of(host: &Host) -> Vec<String> {
    call_lines(&host.stdout()).iter().map(common::op).collect()
}

/// A stream URI where nothing listens: the upstream is down.
fn down_uri() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn state_file_survives_a_restart_with_the_upstream_down() {
    let dir = std::env::temp_dir().join(format!("autoconfig-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("state.bin");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let rt = server_runtime();

    // First run: the stream gives a and b; the state is written by the time it stops.
    let first = rt.block_on(TestServer::start(vec![Reply::sse(vec![send(put(&[
        ("a", 1),
        ("b", 1),
    ]))])]));
    let mut host = Host::start(&[
        "--key",
        "k",
        "--stream-uri",
        &first.uri(),
        "--state-file",
        file_arg,
    ]);
    assert!(poll_until_blocking(CHILD_DEADLINE, || host
        .stdout()
        .contains(r#""op":"ready""#)));
    stop(&mut host);
    let bytes = std::fs::read(&file).expect("the state file was written");
    assert!(bytes.starts_with(b"RACSNAP\n"), "a snapshot");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds SDK keys");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n != "state.bin.lock")
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    // Second run with the upstream down: the environments come from the file at once.
    let mut host = Host::start(&[
        "--key",
        "k",
        "--stream-uri",
        &down_uri(),
        "--state-file",
        file_arg,
        "--initial-retry-delay",
        "100ms",
    ]);
    assert!(poll_until_blocking(CHILD_DEADLINE, || host
        .stdout()
        .contains(r#""op":"ready""#)));
    assert!(poll_until_blocking(CHILD_DEADLINE, || host
        .stderr()
        .contains("cannot connect")));
    stop(&mut host);
    assert_eq!(ops_of(&host), ["add a@1", "add b@1", "ready"]);

    // Third run with the upstream back and changed: only the differences follow the file's.
    let changed = rt.block_on(TestServer::start(vec![Reply::sse(vec![send(put(&[
        ("a", 1),
        ("b", 2),
        ("c", 1),
    ]))])]));
    let mut host = Host::start(&[
        "--key",
        "k",
        "--stream-uri",
        &changed.uri(),
        "--state-file",
        file_arg,
    ]);
    assert!(poll_until_blocking(CHILD_DEADLINE, || {
        host.stdout().matches(r#""op":"ready""#).count() == 2
    }));
    stop(&mut host);
    assert_eq!(
        ops_of(&host),
        [
            "add a@1",
            "add b@1",
            "ready",
            "update b@2",
            "add c@1",
            "ready"
        ]
    );

    // One process per state file: a second host on it refuses to start (exit 2).
    let mut first = Host::start(&[
        "--key",
        "k",
        "--stream-uri",
        &down_uri(),
        "--state-file",
        file_arg,
    ]);
    assert!(poll_until_blocking(CHILD_DEADLINE, || first
        .stdout()
        .contains(r#""op":"ready""#)));
    let mut second = Host::start(&[
        "--key",
        "k",
        "--stream-uri",
        &down_uri(),
        "--state-file",
        file_arg,
    ]);
    assert_eq!(second.code(), 2, "stderr:\n{}", second.stderr());
    assert!(
        second.stderr().contains("another autoconfig-host"),
        "{}",
        second.stderr()
    );
    assert_eq!(second.stdout(), "", "nothing announced by the refused one");
    stop(&mut first);

    // A state file readable by others is made private at start.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut host = Host::start(&[
            "--key",
            "k",
            "--stream-uri",
            &down_uri(),
            "--state-file",
            file_arg,
        ]);
        assert!(poll_until_blocking(CHILD_DEADLINE, || host
            .stdout()
            .contains(r#""op":"ready""#)));
        stop(&mut host);
        let mode = std::fs::metadata(&file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            host.stderr().contains("setting it to 0600"),
            "{}",
            host.stderr()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_stdout_ends_the_host_with_exit_3() {
    let rt = server_runtime();
    let server = rt.block_on(TestServer::start(vec![Reply::sse(vec![send(put(&[(
        "a", 1,
    )]))])]));
    // The consumer goes away before the first line.
    let mut host = Host::start_closing(
        &["--key", "k", "--stream-uri", &server.uri()],
        Some(Pipe::Stdout),
    );
    let code = host.code();
    let stderr = host.stderr();
    assert_eq!(code, 3, "stderr:\n{stderr}");
    assert!(stderr.contains("stdout was closed"), "{stderr}");
}

#[test]
fn a_corrupt_state_file_is_a_warning_and_kept_until_a_valid_state_exists() {
    let dir = std::env::temp_dir().join(format!("autoconfig-corrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("state.bin");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let garbage = b"RACSNAP\n\x01\x00\x00\x00 this is not a real snapshot".to_vec();
    std::fs::write(&file, &garbage).expect("write");

    let mut host = Host::start(&[
        "--key",
        "k",
        "--stream-uri",
        &down_uri(),
        "--state-file",
        file_arg,
        "--initial-retry-delay",
        "100ms",
    ]);
    assert!(poll_until_blocking(CHILD_DEADLINE, || host
        .stderr()
        .contains("cannot connect")));
    stop(&mut host);
    assert!(
        host.stderr().contains("Ignoring the state file"),
        "{}",
        host.stderr()
    );
    assert_eq!(host.stdout(), "", "nothing restored");
    assert_eq!(
        std::fs::read(&file).expect("read"),
        garbage,
        "kept as it was"
    );

    let rt = server_runtime();
    let server = rt.block_on(TestServer::start(vec![Reply::sse(vec![send(put(&[(
        "a", 1,
    )]))])]));
    let mut host = Host::start(&[
        "--key",
        "k",
        "--stream-uri",
        &server.uri(),
        "--state-file",
        file_arg,
    ]);
    assert!(poll_until_blocking(CHILD_DEADLINE, || host
        .stdout()
        .contains(r#""op":"ready""#)));
    stop(&mut host);
    let bytes = std::fs::read(&file).expect("read");
    assert!(
        bytes.starts_with(b"RACSNAP\n") && bytes != garbage,
        "replaced by a valid state"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn misspelt_log_levels_and_absurd_sizes_are_usage_errors() {
    for args in [
        ["--log-level", "warning"],
        ["--log-level", "debgu"],
        ["--log-level", "verbose"],
        ["--max-message-bytes", "0"],
        ["--max-message-bytes", "18446744073709551615"],
    ] {
        let mut host = Host::start(&[&["--key", "k"][..], &args[..]].concat());
        assert_eq!(host.code(), 2, "{args:?}: stderr:\n{}", host.stderr());
        assert!(
            host.stderr().contains(args[0]),
            "{args:?}: {}",
            host.stderr()
        );
        assert_eq!(host.stdout(), "");
    }
}

#[test]
fn a_closed_stderr_does_not_crash_the_demo() {
    // The log reader goes away at once; the JSON lines are still read.
    let mut host = Host::start_closing(&["--demo", "--log-level", "debug"], Some(Pipe::Stderr));
    assert_eq!(host.code(), 0);
    let out = host.stdout();
    assert!(out.contains(r#"{"op":"ready"}"#), "{out}");
}

#[test]
fn the_demo_refuses_a_stream_uri_flag_and_says_it_ignores_the_variable() {
    let script = write_temp("demo-uri.json", OWN_SCRIPT);
    let script = script.to_str().expect("utf-8 path");
    // On the command line it is a contradiction: exit 2, one line, nothing played.
    let mut host = Host::start(&[
        "--demo",
        "--script",
        script,
        "--stream-uri",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(host.code(), 2, "stderr:\n{}", host.stderr());
    assert_eq!(host.stdout(), "");
    let stderr = host.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--stream-uri cannot be used with --demo"),
        "{stderr}"
    );
    // From the environment (an operator's shell may export it): the demo plays, and says so.
    let mut command = Host::command(BIN, &["--demo", "--script", script]);
    command.env("STREAM_URI", "http://127.0.0.1:9");
    let mut host = Host::spawn(command, None);
    assert_eq!(host.code(), 0, "stderr:\n{}", host.stderr());
    assert!(host.stdout().contains(r#"{"op":"ready"}"#));
    assert!(
        host.stderr()
            .contains("STREAM_URI is ignored: --demo plays its own stream"),
        "{}",
        host.stderr()
    );
}

#[test]
fn a_stdout_that_goes_nowhere_is_warned_about() {
    let script = write_temp("nowhere.json", OWN_SCRIPT);
    let script = script.to_str().expect("utf-8 path");
    const WARNING: &str = "stdout is /dev/null (or was closed when the host started)";
    // Read by a consumer: no warning.
    let mut host = Host::start(&["--demo", "--script", script]);
    assert_eq!(host.code(), 0);
    assert!(!host.stderr().contains(WARNING), "{}", host.stderr());
    // Redirected to /dev/null.
    let mut command = Host::command(BIN, &["--demo", "--script", script]);
    command.stdout(std::process::Stdio::null());
    let mut host = Host::spawn(command, None);
    assert_eq!(host.code(), 0);
    assert!(host.stderr().contains(WARNING), "{}", host.stderr());
    // Closed before the program starts (`>&-`): Rust opens /dev/null in its place, and every
    // line would vanish without a word.
    let mut command = Host::command("sh", &["-c", "exec \"$0\" \"$@\" >&-", BIN]);
    command.args(["--demo", "--script", script]);
    let mut host = Host::spawn(command, None);
    assert_eq!(host.code(), 0, "stderr:\n{}", host.stderr());
    assert!(host.stderr().contains(WARNING), "{}", host.stderr());
    assert_eq!(host.stdout(), "");
}
