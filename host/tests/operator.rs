//! `autoconfig-host` as a careless operator and a hostile upstream meet it: real processes, real
//! sockets on 127.0.0.1, every wait bounded. Hot loops are measured by counting requests in a
//! window (a loaded machine makes fewer, never more), never by timing.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{BIN, Host, call_lines, server_runtime};
use common::{Reply, Step, TestServer, poll_until_blocking, put, send};

/// A key that must never appear in full anywhere.
const SECRET_KEY: &str = "rel-secret-key-4242-zyxw";

fn write_temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("autoconfig-operator-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

/// Runs the binary to completion with `args` and `env`; returns (exit code, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Host::command(BIN, args);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut host = Host::spawn(command, None);
    let code = host.code();
    (code, host.stdout(), host.stderr())
}

/// Asserts a usage error: exit 2 and exactly one line on stderr containing `fragment`.
fn assert_usage(args: &[&str], env: &[(&str, &str)], fragment: &str) {
    let (code, stdout, stderr) = run(args, env);
    assert_eq!(code, 2, "{args:?} {env:?}: stderr {stderr}");
    assert_eq!(stdout, "", "{args:?}: nothing on stdout");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?} {env:?}: one line, got {stderr:?}"
    );
    assert!(
        stderr.contains(fragment),
        "{args:?} {env:?}: {fragment:?} not in {stderr:?}"
    );
    assert!(stderr.len() < 1_000, "{args:?}: a short line");
}

/// A stream server whose every request gets `reply`, on its own runtime.
fn serve(replies: Vec<Reply>) -> (tokio::runtime::Runtime, TestServer) {
    let rt = server_runtime();
    let server = rt.block_on(TestServer::start(replies));
    (rt, server)
}

/// Waits `window` (bounded) and returns how many requests the server got by then.
fn requests_after(server: &TestServer, window: Duration) -> usize {
    std::thread::sleep(window);
    server.count()
}

// ---- Crashes and hot loops --------------------------------------------------------------------

#[test]
fn retry_zero_then_eof_backs_off() {
    let (_rt, server) = serve(vec![Reply::sse(vec![send("retry: 0\n\n"), Step::End])]);
    let uri = server.uri();
    let mut host = Host::spawn(
        {
            let mut c = Host::command(BIN, &["--stream-uri", &uri]);
            c.env("AUTO_CONFIG_KEY", SECRET_KEY);
            c
        },
        None,
    );
    assert!(poll_until_blocking(Duration::from_secs(30), || server
        .count()
        >= 1));
    let n = requests_after(&server, Duration::from_secs(4));
    // With retry clamped to 1 s and doubling: at most about 4 in 4 s (13/s without the floor).
    assert!(n <= 7, "{n} requests in about 4 s: a hot loop");
    assert!(host.running());
    host.signal("TERM");
    assert_eq!(host.code(), 0);
    assert!(!host.stderr().contains(SECRET_KEY));
}

#[test]
fn zero_initial_retry_delay_is_floored_and_malformed_data_backs_off() {
    // Malformed data on a stream that stays open: the component drops it and backs off.
    let (_rt, server) = serve(vec![Reply::sse(vec![send("event: put\ndata: {bad\n\n")])]);
    let uri = server.uri();
    let mut c = Host::command(BIN, &["--stream-uri", &uri, "--initial-retry-delay", "0s"]);
    c.env("AUTO_CONFIG_KEY", SECRET_KEY);
    let mut host = Host::spawn(c, None);
    assert!(poll_until_blocking(Duration::from_secs(30), || server
        .count()
        >= 1));
    let n = requests_after(&server, Duration::from_secs(3));
    // 100 ms doubling: at most about 6 in 3 s (about 500/s without the floor).
    assert!(n <= 10, "{n} requests in about 3 s: a hot loop");
    host.signal("TERM");
    assert_eq!(host.code(), 0);
}

#[test]
fn sigterm_while_compiling_is_a_clean_exit() {
    // No cache: the component is compiled at start, which takes a while in a debug build.
    let mut c = Host::command(BIN, &["--demo", "--cache-dir", "none"]);
    c.env("AUTOCONFIG_CACHE_DIR", "none");
    let mut host = Host::spawn(c, None);
    // As soon as the handler is installed (it is, before the component is compiled): SIGTERM's
    // bit in the caught-signals mask of /proc/PID/status. No sleep, no race.
    let status = format!("/proc/{}/status", host.pid());
    let caught = poll_until_blocking(Duration::from_secs(30), || {
        std::fs::read_to_string(&status)
            .ok()
            .and_then(|s| {
                let mask = s.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
                u64::from_str_radix(mask.trim(), 16).ok()
            })
            .is_some_and(|mask| mask & (1 << (15 - 1)) != 0)
    });
    assert!(caught, "the SIGTERM handler was installed");
    host.signal("TERM");
    assert_eq!(host.code(), 0, "stderr: {}", host.stderr());
}

#[test]
fn sigterm_with_a_stalled_stdout_reader_exits_promptly() {
    // A put big enough to fill the pipes (about 1.5 MB of JSON lines, 4,000 log lines); nobody
    // reads stdout or stderr (the output of a call is written when the call ends, so the host
    // blocks first on its log lines, then on its output).
    let envs: Vec<(String, i64)> = (0..4000).map(|i| (format!("env-{i:05}"), 1)).collect();
    let refs: Vec<(&str, i64)> = envs.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    let (_rt, server) = serve(vec![Reply::sse(vec![send(put(&refs))])]);
    let uri = server.uri();
    let mut c = Host::command(BIN, &["--stream-uri", &uri]);
    c.env("AUTO_CONFIG_KEY", SECRET_KEY);
    let mut child = c.spawn().expect("starts");
    let stalled = child.stdout.take();
    assert!(poll_until_blocking(Duration::from_secs(30), || server
        .count()
        >= 1));
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let mut status = None;
    let exited = poll_until_blocking(Duration::from_secs(30), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(stalled);
    assert!(
        exited,
        "SIGTERM must end the host even while stdout is full"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[test]
fn a_failing_stdout_is_exit_3() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    let mut c = Host::command(BIN, &["--demo"]);
    c.stdout(Stdio::from(full));
    let mut host = Host::spawn(c, None);
    assert_eq!(host.code(), 3, "stderr: {}", host.stderr());
    assert!(host.stderr().contains("stdout"), "{}", host.stderr());
}

#[test]
fn a_corrupted_cache_entry_is_recompiled_not_run() {
    let dir = std::env::temp_dir().join(format!("autoconfig-cache-op-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_text = dir.to_str().expect("utf-8").to_owned();
    let demo = |expect_warning: bool| {
        let (code, stdout, stderr) = run(&["--demo", "--cache-dir", &dir_text], &[]);
        assert_eq!(code, 0, "stderr: {stderr}");
        assert!(stdout.contains(r#"{"op":"ready"}"#));
        let warned = stderr.contains("cache");
        assert_eq!(warned, expect_warning, "stderr: {stderr}");
    };
    demo(false);
    let entry = std::fs::read_dir(&dir)
        .expect("the cache dir was created")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("a compiled entry");
    // Zero the middle third: run as machine code, this would crash the process.
    let mut bytes = std::fs::read(&entry).expect("entry");
    let third = bytes.len() / 3;
    bytes[third..2 * third].fill(0);
    std::fs::write(&entry, &bytes).expect("corrupt the entry");
    demo(true);
    demo(false);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Secrets and logs -------------------------------------------------------------------------

#[test]
fn the_key_from_a_file_is_used_and_never_shown() {
    let (_rt, server) = serve(vec![Reply::sse(vec![send(put(&[("a", 1)]))])]);
    let key_file = write_temp("key", format!("{SECRET_KEY}\n").as_bytes());
    let key_path = key_file.to_str().expect("utf-8");
    let uri = server.uri();
    let mut host = Host::start(&["--stream-uri", &uri, "--key-file", key_path]);
    assert!(poll_until_blocking(Duration::from_secs(30), || host
        .stdout()
        .contains(r#"{"op":"ready"}"#)));
    let auth = server.requests()[0].header("authorization");
    assert_eq!(auth.as_deref(), Some(SECRET_KEY), "sent raw, trimmed");
    host.signal("TERM");
    assert_eq!(host.code(), 0);
    assert!(!host.stderr().contains(SECRET_KEY));
    assert!(
        !host.stderr().contains("--key puts the key"),
        "no warning for a key file"
    );
}

#[test]
fn a_key_in_argv_is_warned_about() {
    let (code, _, stderr) = run(&["--demo", "--key", SECRET_KEY], &[]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("--key puts the key in the process's command line"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET_KEY));
}

#[test]
fn key_mistakes_are_one_line_and_never_echo_the_key() {
    // A key pasted as a positional argument.
    assert_usage(&[SECRET_KEY], &[], "…zyxw");
    let (_, _, stderr) = run(&[SECRET_KEY], &[]);
    assert!(!stderr.contains(SECRET_KEY), "{stderr}");
    let empty = write_temp("empty-key", b"  \n");
    assert_usage(
        &["--key-file", empty.to_str().expect("utf-8")],
        &[],
        "it is empty",
    );
    assert_usage(
        &["--key-file", "/nonexistent/key"],
        &[],
        "--key-file /nonexistent/key",
    );
    assert_usage(
        &["--key", "a", "--key-file", "/nonexistent/key"],
        &[],
        "--key and --key-file both give the key: give it once",
    );
    assert_usage(&[], &[], "no auto-configuration key");
}

#[test]
fn key_sources_are_named_as_given_and_an_empty_key_variable_is_no_key() {
    let file = write_temp("good-key", b"rel-from-the-file-0001\n");
    let file = file.to_str().expect("utf-8");
    // Both given, in any mix of flags and variables: one line naming both as they were given.
    assert_usage(
        &[],
        &[("AUTO_CONFIG_KEY", "a"), ("AUTO_CONFIG_KEY_FILE", file)],
        "AUTO_CONFIG_KEY and AUTO_CONFIG_KEY_FILE both give the key",
    );
    assert_usage(
        &["--key-file", file],
        &[("AUTO_CONFIG_KEY", "a")],
        "AUTO_CONFIG_KEY and --key-file both give the key",
    );
    // `AUTO_CONFIG_KEY=` (a compose file's `${AUTO_CONFIG_KEY}` when it is unset) is no key: the
    // file's key is used (the stream is then refused by the server: exit 1, not a usage error).
    let (rt, server) = serve(vec![Reply::status(401)]);
    let (code, _, stderr) = run(
        &["--stream-uri", &server.uri()],
        &[("AUTO_CONFIG_KEY", ""), ("AUTO_CONFIG_KEY_FILE", file)],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("with key ending in 0001"), "{stderr}");
    drop(rt);
    // A key from a file that is no valid header value: the file is named, not `--key`.
    let bad = write_temp("bad-key", b"rel-with\x01control\n");
    let bad = bad.to_str().expect("utf-8");
    assert_usage(
        &[],
        &[
            ("AUTO_CONFIG_KEY_FILE", bad),
            ("STREAM_URI", "http://127.0.0.1:9"),
        ],
        &format!("AUTO_CONFIG_KEY_FILE {bad}: the auto-configuration key contains characters"),
    );
    assert_usage(
        &["--key-file", bad, "--stream-uri", "http://127.0.0.1:9"],
        &[],
        &format!("--key-file {bad}: the auto-configuration key contains characters"),
    );
}

#[test]
fn the_demo_ignores_the_variables_of_a_real_stream_and_says_so() {
    // Exported for the real sidecar in the operator's shell: a missing key file, two keys and a
    // stream URI. The demo plays anyway, and names each variable it ignored.
    let (code, stdout, stderr) = run(
        &["--demo"],
        &[
            ("AUTO_CONFIG_KEY", SECRET_KEY),
            ("AUTO_CONFIG_KEY_FILE", "/nonexistent-dir/key"),
            ("STREAM_URI", "https://stream.example"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(r#"{"op":"ready"}"#));
    for var in ["STREAM_URI", "AUTO_CONFIG_KEY", "AUTO_CONFIG_KEY_FILE"] {
        assert!(
            stderr.contains(&format!("{var} is ignored: --demo plays its own stream")),
            "{var}: {stderr}"
        );
    }
    assert!(!stderr.contains(SECRET_KEY), "{stderr}");
}

#[test]
fn a_key_pasted_with_a_trailing_space_is_still_masked() {
    let pasted = format!("{SECRET_KEY} ");
    for (var, fragment) in [
        (
            "LOG_FORMAT",
            "'…zyxw' for LOG_FORMAT (environment variable)",
        ),
        ("LOG_LEVEL", "'…zyxw' for LOG_LEVEL (environment variable)"),
        (
            "AUTOCONFIG_LISTEN",
            "'…zyxw' for AUTOCONFIG_LISTEN (environment variable)",
        ),
        ("AUTO_CONFIG_KEY_FILE", "AUTO_CONFIG_KEY_FILE …zyxw: "),
    ] {
        let env = [(var, pasted.as_str())];
        assert_usage(&[], &env, fragment);
        let (_, _, stderr) = run(&[], &env);
        assert!(!stderr.contains(SECRET_KEY), "{var}: {stderr}");
    }
    // A key in the place of the stream URI, from the variable or the flag.
    let env = [("STREAM_URI", SECRET_KEY), ("AUTO_CONFIG_KEY", "k")];
    assert_usage(&[], &env, "STREAM_URI \"…zyxw\" is not a valid stream URI");
    let (_, _, stderr) = run(&[], &env);
    assert!(!stderr.contains(SECRET_KEY), "{stderr}");
    let args = ["--key", "k", "--stream-uri", &pasted];
    assert_usage(&args, &[], "--stream-uri \"…zyxw");
    let (_, _, stderr) = run(&args, &[]);
    assert!(!stderr.contains(SECRET_KEY), "{stderr}");
}

#[test]
fn credentials_in_the_stream_uri_are_never_printed() {
    let uri = "http://operator:hunter2-secret@127.0.0.1:9/";
    let (code, stdout, stderr) = run(&["--stream-uri", uri], &[("AUTO_CONFIG_KEY", SECRET_KEY)]);
    assert_eq!(code, 2, "credentials in the URI are refused: {stderr}");
    assert_eq!(stdout, "");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(stderr.contains("--stream-uri"), "{stderr}");
}

#[test]
fn huge_names_and_floods_of_unknown_events_keep_stderr_bounded() {
    let huge = "n".repeat(150_000);
    let data = format!(
        r#"{{"path":"/","data":{{"environments":{{"a":{{"envId":"a","envName":"{huge}","projName":"{huge}","sdkKey":{{"value":"sdk-1"}},"version":1}}}}}}}}"#
    );
    let mut flood = String::with_capacity(100_000 * 20);
    for _ in 0..100_000 {
        flood.push_str("event: x\ndata: 1\n\n");
    }
    let body = format!("event: {huge}\ndata: 1\n\nevent: put\ndata: {data}\n\n{flood}");
    let (_rt, server) = serve(vec![Reply::sse(vec![send(body)])]);
    let uri = server.uri();
    let mut c = Host::command(BIN, &["--stream-uri", &uri, "--log-level", "debug"]);
    c.env("AUTO_CONFIG_KEY", SECRET_KEY);
    let mut host = Host::spawn(c, None);
    assert!(poll_until_blocking(Duration::from_secs(60), || host
        .stdout()
        .contains(r#"{"op":"ready"}"#)));
    // Give the flood time to be read (bounded: success is an upper bound on output).
    std::thread::sleep(Duration::from_secs(3));
    host.signal("TERM");
    assert_eq!(host.code(), 0);
    let stderr = host.stderr();
    let longest = stderr.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4_096, "a log line of {longest} bytes");
    assert!(
        stderr.len() < 200_000,
        "{} bytes of logs for 1.9 MB of junk events",
        stderr.len()
    );
}

// ---- Configuration that silently does the wrong thing -----------------------------------------

#[test]
fn log_levels_from_the_environment_are_checked_too() {
    assert_usage(&["--demo"], &[("LOG_LEVEL", "warning")], "warning");
    assert_usage(&["--demo"], &[("RUST_LOG", "verbose")], "RUST_LOG");
    assert_usage(&["--demo", "--log-level", "debgu"], &[], "--log-level");
    let (code, _, stderr) = run(&["--demo"], &[("LOG_LEVEL", "none")]);
    assert_eq!((code, stderr.as_str()), (0, ""), "none: no log lines");
    let (code, _, stderr) = run(&["--demo"], &[("LOG_LEVEL", "debug")]);
    assert_eq!(code, 0);
    assert!(stderr.contains("DEBUG"), "LOG_LEVEL=debug is used");
}

#[test]
fn options_from_the_environment_are_named_by_their_variable() {
    // A tired operator set a variable, not a flag: the line names the variable, never the flag
    // they did not type.
    type Case<'a> = (&'a [&'a str], (&'a str, &'a str), &'a str, &'a str);
    let cases: [Case<'_>; 5] = [
        (
            &["--demo"],
            ("LOG_LEVEL", "verbos"),
            "LOG_LEVEL (environment variable)",
            "--log-level",
        ),
        (
            &["--demo"],
            ("AUTOCONFIG_LISTEN", "nowhere"),
            "AUTOCONFIG_LISTEN (environment variable)",
            "--listen",
        ),
        (
            &[],
            ("STREAM_URI", "ftp://stream.example"),
            "STREAM_URI \"ftp://stream.example\"",
            "--stream-uri",
        ),
        (
            &["--demo"],
            ("AUTOCONFIG_STATE_FILE", "/nonexistent-dir/state.json"),
            "AUTOCONFIG_STATE_FILE: ",
            "--state-file",
        ),
        (
            &[],
            ("AUTO_CONFIG_KEY_FILE", "/nonexistent-dir/key"),
            "AUTO_CONFIG_KEY_FILE /nonexistent-dir/key",
            "--key-file",
        ),
    ];
    for (args, (var, value), fragment, flag) in cases {
        let mut env = vec![(var, value)];
        if var == "STREAM_URI" {
            env.push(("AUTO_CONFIG_KEY", SECRET_KEY));
        }
        assert_usage(args, &env, fragment);
        let (_, _, stderr) = run(args, &env);
        assert!(!stderr.contains(flag), "{var}: {flag} named in {stderr:?}");
    }
    // Given as flags, the same mistakes name the flags.
    assert_usage(
        &["--demo", "--log-level", "verbos"],
        &[],
        "'--log-level <LOG_LEVEL>'",
    );
    assert_usage(
        &["--demo", "--listen", "nowhere"],
        &[],
        "'--listen <LISTEN>'",
    );
    assert_usage(
        &["--key", SECRET_KEY, "--stream-uri", "ftp://stream.example"],
        &[],
        "--stream-uri \"ftp://stream.example\"",
    );
    // The flag wins over its variable, and then it is the flag that is named.
    assert_usage(
        &["--demo", "--log-level", "verbos"],
        &[("LOG_LEVEL", "info")],
        "'--log-level <LOG_LEVEL>'",
    );
}

#[test]
fn bad_stream_uris_are_usage_errors() {
    let long_host = format!("http://{}.example/", "h".repeat(100_000));
    for uri in [
        "http://",
        "https://",
        "http:///",
        "ftp://example.com",
        "example.com",
        long_host.as_str(),
        "http://::1:9",
        "http://[fe80::1%25lo]:9",
        "http://a_b<>:9",
        "http://127.0.0.1:0",
        "http://bücher.invalid",
    ] {
        assert_usage(
            &["--stream-uri", uri],
            &[("AUTO_CONFIG_KEY", SECRET_KEY)],
            "--stream-uri",
        );
    }
}

#[test]
fn a_stream_uri_with_a_query_keeps_it_after_the_path() {
    let (_rt, server) = serve(vec![Reply::sse(vec![send(put(&[("a", 1)]))])]);
    let uri = format!("{}/base/?region=eu#fragment", server.uri());
    let mut c = Host::command(BIN, &["--stream-uri", &uri]);
    c.env("AUTO_CONFIG_KEY", SECRET_KEY);
    let mut host = Host::spawn(c, None);
    assert!(poll_until_blocking(Duration::from_secs(30), || server
        .count()
        >= 1));
    let request = &server.requests()[0];
    assert_eq!(request.path, "/base/relay_auto_config");
    assert_eq!(request.query.as_deref(), Some("region=eu"));
    host.signal("TERM");
    assert_eq!(host.code(), 0);
}

#[test]
fn absurd_durations_and_sizes_are_usage_errors() {
    let key = [("AUTO_CONFIG_KEY", SECRET_KEY)];
    assert_usage(&["--initial-retry-delay", "-1s"], &key, "negative");
    assert_usage(&["--read-timeout", "0s"], &key, "--read-timeout");
    assert_usage(&["--read-timeout", "5"], &key, "missing unit");
    assert_usage(&["--max-message-bytes", "0"], &key, "--max-message-bytes");
    assert_usage(
        &["--max-message-bytes", "18446744073709551615"],
        &key,
        "--max-message-bytes",
    );
    assert_usage(&["--listen", "localhost"], &key, "--listen");
    assert_usage(&["--read-timeout", "1ns"], &key, "shorter than 1ms");
    // A warning about --key must not come before the usage error: still one line.
    assert_usage(
        &["--key", SECRET_KEY, "--read-timeout", "0s"],
        &[],
        "--read-timeout",
    );
    // What clap puts on later lines is kept: the missing argument, the possible values.
    assert_usage(&["--script", "x.json"], &key, "--demo");
    assert_usage(&["--log-format", "JSON"], &key, "possible values");
}

#[test]
fn a_bad_proxy_variable_is_refused_not_ignored() {
    for name in ["HTTP_PROXY", "https_proxy"] {
        assert_usage(&["--demo"], &[(name, "http://127.0.0.1:3128/ x")], name);
    }
    let (code, _, _) = run(&["--demo"], &[("HTTP_PROXY", "http://127.0.0.1:9")]);
    assert_eq!(
        code, 0,
        "a valid proxy (bypassed for 127.0.0.1 by NO_PROXY) is fine"
    );
}

#[test]
fn special_files_never_hang_the_start() {
    let dir = std::env::temp_dir().join(format!("autoconfig-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let fifo = dir.join("state.fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    assert_usage(
        &["--demo", "--state-file", fifo.to_str().expect("utf-8")],
        &[],
        "not a regular file",
    );
    assert_usage(
        &["--demo", "--state-file", dir.to_str().expect("utf-8")],
        &[],
        "--state-file",
    );
    let key_fifo = dir.join("key.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&key_fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    assert_usage(
        &["--key-file", key_fifo.to_str().expect("utf-8")],
        &[],
        "not a regular file",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_key_given_to_the_wrong_option_is_not_echoed() {
    let (code, _, stderr) = run(&["--key-file", SECRET_KEY], &[]);
    assert_eq!(code, 2);
    assert!(!stderr.contains(SECRET_KEY), "{stderr}");
    let (code, _, stderr) = run(&["--read-timeout", SECRET_KEY], &[]);
    assert_eq!(code, 2);
    assert!(!stderr.contains(SECRET_KEY), "{stderr}");
    let (code, stdout, _) = run(
        &["--help"],
        &[("STREAM_URI", "https://user:hunter2-secret@example.com")],
    );
    assert_eq!(code, 0);
    assert!(
        !stdout.contains("hunter2"),
        "--help shows no environment values"
    );
}

#[test]
fn a_reconnect_on_every_connection_backs_off() {
    let body = format!("{}event: reconnect\ndata: \n\n", put(&[("a", 1)]));
    let (_rt, server) = serve(vec![Reply::sse(vec![send(body)])]);
    let uri = server.uri();
    let mut c = Host::command(
        BIN,
        &["--stream-uri", &uri, "--initial-retry-delay", "100ms"],
    );
    c.env("AUTO_CONFIG_KEY", SECRET_KEY);
    let mut host = Host::spawn(c, None);
    assert!(poll_until_blocking(Duration::from_secs(30), || server
        .count()
        >= 1));
    let n = requests_after(&server, Duration::from_secs(4));
    // 100 ms doubling: at most about 6 in 4 s (13/s when every reconnect waited 100 ms).
    assert!(n <= 10, "{n} connections in about 4 s");
    host.signal("HUP");
    assert_eq!(host.code(), 0, "SIGHUP is a clean shutdown too");
    assert!(host.stderr().contains("Received SIGHUP; shutting down"));
}

#[test]
fn the_connection_state_says_waiting_between_attempts() {
    let (_rt, server) = serve(vec![Reply::sse(vec![send(put(&[("a", 1)])), Step::End])]);
    let uri = server.uri();
    let mut c = Host::command(
        BIN,
        &[
            "--stream-uri",
            &uri,
            "--listen",
            "127.0.0.1:0",
            "--initial-retry-delay",
            "5s",
        ],
    );
    c.env("AUTO_CONFIG_KEY", SECRET_KEY);
    let mut host = Host::spawn(c, None);
    let addr = listen_addr(&host);
    let mut state = String::new();
    let waited = poll_until_blocking(Duration::from_secs(30), || {
        let (_, body) = get(&addr, "/status");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        state = v["connection"]["state"].as_str().unwrap_or("").to_owned();
        state == "waiting" && v["connection"]["lastFailure"]["cause"] == "end_of_stream"
    });
    assert!(waited, "state {state}");
    let (_, metrics) = get(&addr, "/metrics");
    assert!(metrics.contains("autoconfig_connected 0"), "{metrics}");
    host.signal("TERM");
    assert_eq!(host.code(), 0);
}

/// The address `--listen 127.0.0.1:0` got, from the host's log.
fn listen_addr(host: &Host) -> String {
    let mut addr = String::new();
    assert!(poll_until_blocking(Duration::from_secs(60), || {
        match host.stderr().split_once("on http://") {
            Some((_, rest)) => {
                addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                true
            }
            None => false,
        }
    }));
    addr
}

#[test]
fn a_file_that_is_not_a_component_is_one_line() {
    let not_wasm = write_temp("not.wasm", b"\0asm\x01\0\0\0 but not really");
    assert_usage(
        &["--demo", "--component", not_wasm.to_str().expect("utf-8")],
        &[],
        "--component",
    );
    assert_usage(
        &["--demo", "--component", "/etc/hostname"],
        &[],
        "--component",
    );
}

// ---- What operators need ----------------------------------------------------------------------

#[test]
fn the_binary_alone_in_an_empty_directory_runs_the_demo() {
    let dir = std::env::temp_dir().join(format!("autoconfig-alone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let copy = dir.join("autoconfig-host");
    // A hard link is the binary at another path (the debug build is over 300 MB); a copy when
    // the temporary directory is on another filesystem.
    if std::fs::hard_link(BIN, &copy).is_err() {
        std::fs::copy(BIN, &copy).expect("copy the binary");
    }
    let mut c = Host::command(copy.to_str().expect("utf-8"), &["--demo", "--version"]);
    c.current_dir(&dir);
    let mut version = Host::spawn(c, None);
    assert_eq!(version.code(), 0);
    assert!(
        version.stdout().contains("component sha256 "),
        "{}",
        version.stdout()
    );
    let mut c = Host::command(copy.to_str().expect("utf-8"), &["--demo"]);
    c.current_dir(&dir);
    let mut host = Host::spawn(c, None);
    assert_eq!(host.code(), 0, "stderr: {}", host.stderr());
    assert!(host.stdout().contains(r#"{"op":"ready"}"#));
    assert!(host.stderr().contains("component embedded (sha256 "));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (code, stdout, stderr) = run(
        &["--demo", "--log-format", "json", "--key", SECRET_KEY],
        &[],
    );
    assert_eq!(code, 0);
    assert!(!call_lines(&stdout).is_empty());
    assert!(stderr.lines().count() > 5);
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
    assert!(!stderr.contains(SECRET_KEY));
}

#[test]
fn help_says_what_stdout_carries_and_the_exit_codes() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for fragment in [
        "STDOUT",
        "{\"op\":\"add\"",
        "EXIT CODES",
        "test server",
        "--key-file",
        "--listen",
    ] {
        assert!(stdout.contains(fragment), "--help lacks {fragment:?}");
    }
}

/// GETs `path` from `addr`; returns (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to --listen");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn listen_serves_health_readiness_status_and_metrics() {
    let expiring = format!(
        r#"{{"path":"/","data":{{"environments":{{"a":{{"envId":"a","envName":"A","projName":"P","sdkKey":{{"value":"sdk-new-{SECRET_KEY}","expiring":{{"value":"sdk-old-{SECRET_KEY}","timestamp":{}}}}},"mobKey":"mob-{SECRET_KEY}","version":3}}}}}}}}"#,
        4_102_444_800_000u64
    );
    // The put comes 2 s after the stream opens, so /readyz is first 503.
    let (_rt, server) = serve(vec![Reply::sse(vec![
        Step::Sleep(Duration::from_secs(2)),
        send(format!(
            "event: put\ndata: {expiring}\n\nevent: x\ndata: 1\n\n"
        )),
    ])]);
    let uri = server.uri();
    let mut c = Host::command(BIN, &["--stream-uri", &uri, "--listen", "127.0.0.1:0"]);
    c.env("AUTO_CONFIG_KEY", SECRET_KEY);
    let mut host = Host::spawn(c, None);
    let addr = listen_addr(&host);
    assert_eq!(get(&addr, "/healthz"), (200, "ok\n".to_owned()));
    if !host.stdout().contains("ready") {
        assert_eq!(get(&addr, "/readyz").0, 503);
    }
    assert!(poll_until_blocking(Duration::from_secs(60), || host
        .stdout()
        .contains(r#"{"op":"ready"}"#)));
    assert_eq!(get(&addr, "/readyz").0, 200);

    let (code, body) = get(&addr, "/status");
    assert_eq!(code, 200, "{body}");
    assert!(!body.contains(SECRET_KEY), "a key in full: {body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["connection"]["state"], "connected");
    assert_eq!(status["ready"], true);
    assert_eq!(status["environments"][0]["envId"], "a");
    assert_eq!(status["environments"][0]["version"], 3);
    assert_eq!(status["environments"][0]["sdkKey"], "…zyxw");
    assert_eq!(
        status["pendingExpiries"][0]["expiresAt"],
        4_102_444_800_000u64
    );
    assert!(
        status["componentSha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    assert!(status["lastEventAt"].is_u64());

    let (code, body) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("a valid Prometheus text format");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(value("autoconfig_environments", None), Some(1.0));
    assert_eq!(
        value("autoconfig_connection_attempts_total", None),
        Some(1.0)
    );
    assert_eq!(value("autoconfig_connected", None), Some(1.0));
    assert_eq!(
        value("autoconfig_events_total", Some(("name", "put"))),
        Some(1.0)
    );
    assert_eq!(
        value("autoconfig_events_total", Some(("name", "other"))),
        Some(1.0)
    );
    assert_eq!(
        value("autoconfig_callbacks_total", Some(("kind", "add"))),
        Some(1.0)
    );
    assert_eq!(value("autoconfig_pending_expiries", None), Some(1.0));
    assert_eq!(value("autoconfig_guest_traps_total", None), Some(0.0));
    assert!(value("autoconfig_last_event_age_seconds", None).is_some());
    assert_eq!(
        value(
            "autoconfig_connection_failures_total",
            Some(("cause", "network"))
        ),
        Some(0.0)
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("autoconfig_event_processing_seconds")),
        "the histogram"
    );
    host.signal("TERM");
    assert_eq!(host.code(), 0);
}

#[test]
fn the_demo_serves_status_and_metrics_too() {
    let mut host = Host::start(&["--demo", "--listen", "127.0.0.1:0"]);
    let addr = listen_addr(&host);
    assert!(poll_until_blocking(Duration::from_secs(60), || host
        .stdout()
        .contains(r#"{"op":"ready"}"#)));
    let (code, body) = get(&addr, "/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        status["environments"]
            .as_array()
            .is_some_and(|envs| !envs.is_empty()),
        "{body}"
    );
    let (code, body) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("a valid Prometheus text format");
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "autoconfig_environments")
    );
    assert_eq!(host.code(), 0, "the story ends");
}
