//! Decoding exactly like the reference's Go decoder (the wire format in docs/rules.md): `-0` for
//! integers, Go's nesting limit, and masked decoder error messages.

use super::*;
use crate::mask::write_masking_quoted;
use crate::wire::{self, DeleteMessage, PatchData, PatchPath, PutMessage, WireEnv};

fn env(json: &str) -> Result<WireEnv, wire::DecodeError> {
    wire::decode::<PatchData>(&format!(r#"{{"data":{json}}}"#)).map(|p| p.data)
}

fn masked(text: &str) -> String {
    let mut out = String::new();
    write_masking_quoted(&mut out, text).expect("write");
    out
}

// --- 1. `-0` where an integer is expected -----------------------------------------------------

#[test]
fn negative_zero_is_zero_for_signed_integers_like_go() {
    // Go: strconv.ParseInt("-0") = 0 for the `int` fields `version` and `defaultTtl`.
    let e = env(r#"{"version":-0,"defaultTtl":-0}"#).expect("Go reads -0 as 0");
    assert_eq!((e.version, e.default_ttl), (0, 0));
    let e = env(r#"{"version":7,"version" : -0 ,"x":[-0,{"y":-0}]}"#).expect("valid");
    assert_eq!(e.version, 0, "a later -0 replaces an earlier value");
    let m: DeleteMessage =
        wire::decode(r#"{"path":"/environments/a","version":-0}"#).expect("valid");
    assert_eq!(m.version, 0);
}

#[test]
fn negative_zero_timestamp_stays_malformed_like_go() {
    // Go: the timestamp is a uint64 and strconv.ParseUint("-0") fails.
    assert!(env(r#"{"sdkKey":{"expiring":{"value":"k","timestamp":-0}}}"#).is_err());
    assert!(env(r#"{"sdkKey":{"expiring":{"value":"k","timestamp":0}}}"#).is_ok());
}

#[test]
fn negative_zero_floats_stay_malformed() {
    // Go: strconv.ParseInt and ParseUint refuse any fraction or exponent, zero or not.
    for number in [
        "-0.0",
        "-0e0",
        "-0E+5",
        "-0.000e-3",
        "-1e-400",
        "-1.5e-99999",
        "0.0",
        "0e0",
        "-1.5",
    ] {
        for field in [
            format!(r#"{{"version":{number}}}"#),
            format!(r#"{{"defaultTtl":{number}}}"#),
            format!(r#"{{"sdkKey":{{"expiring":{{"timestamp":{number}}}}}}}"#),
        ] {
            assert!(env(&field).is_err(), "{field} must be malformed");
            // The same with an integer -0 elsewhere in the message.
            let mixed = field.replacen('{', r#"{"defaultTtl":-0,"#, 1);
            assert!(env(&mixed).is_err(), "{mixed} must be malformed");
        }
        let m = format!(r#"{{"path":"/environments/a","version":{number}}}"#);
        assert!(wire::decode::<DeleteMessage>(&m).is_err(), "{m}");
    }
}

#[test]
fn negative_zero_handling_leaves_strings_and_ignored_values_alone() {
    let e = env(
        r#"{"envId":"-0.0","envKey":"x\"-0.0e1","envName":"\\","projKey":"a-0.5","x":[-0.0,-1e-400,{"y":-0}],"version":-0}"#,
    )
    .expect("ignored floats are fine");
    assert_eq!(e.env_id, "-0.0");
    assert_eq!(e.env_key, "x\"-0.0e1");
    assert_eq!(e.env_name, "\\");
    assert_eq!(e.proj_key, "a-0.5");
    assert_eq!(e.version, 0);
    // Malformed stays malformed, whatever the rewriting (a sign dropped in the first three).
    for bad in [
        r#"{"x":"a"-0.0,"version":-0}"#,
        r#"{"x":[1]-0e1,"version":-0}"#,
        r#"{"x":null-0.0,"version":-0}"#,
        r#"{"x":--0.5,"version":-0}"#,
        r#"{"x":-.5,"version":-0}"#,
        r#"{"x":1-0.5,"version":-0}"#,
        r#"{"x":[-0.5 -0.5],"version":-0}"#,
        r#"{"version":-00}"#,
        r#"{"version":-}"#,
    ] {
        assert!(env(bad).is_err(), "{bad}");
    }
}

#[test]
fn negative_zero_through_the_machine() {
    let mut h = Harness::new();
    let a = r#"{"envId":"a","sdkKey":{"value":"sdk-a"},"defaultTtl":-0,"version":-0}"#;
    let calls = h.calls("put", &put(&[("a", a.to_string())]));
    let expected = EnvironmentParams {
        env_key: String::new(),
        env_name: String::new(),
        project_key: String::new(),
        project_name: String::new(),
        mobile_key: String::new(),
        default_ttl_minutes: 0,
        secure_mode: false,
        ..params("a", 0)
    };
    assert_eq!(calls, [Call::Add(expected), Call::ReceivedAll]);
    assert_eq!(
        h.calls("delete", r#"{"path":"/environments/a","version":-0}"#),
        []
    );
    h.assert_malformed(
        "patch",
        r#"{"path":"/environments/a","data":{"envId":"a","version":1,"sdkKey":{"expiring":{"value":"k","timestamp":-0}}}}"#,
    );
}

// --- 2. Go's nesting limit ---------------------------------------------------------------------

/// A put whose unknown field `x` holds `levels` nested arrays: the whole message is then
/// `levels + 1` deep.
fn put_with_deep_junk(levels: usize) -> String {
    format!(
        r#"{{"path":"/","data":{{"environments":{{}}}},"x":{}{}}}"#,
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

#[test]
fn nesting_deeper_than_go_allows_is_malformed() {
    assert!(
        wire::decode::<PutMessage>(&put_with_deep_junk(9_999)).is_ok(),
        "10000 deep is fine"
    );
    let err = wire::decode::<PutMessage>(&put_with_deep_junk(10_000)).expect_err("10001 deep");
    assert!(err.to_string().contains("exceeded max depth"), "{err}");
    // Objects count like arrays, and the top level counts.
    let objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    assert!(wire::decode::<PatchPath>(&objects).is_ok());
    let objects = format!("[{objects}]");
    assert!(wire::decode::<PatchPath>(&objects).is_err());
    // Brackets inside strings are text, escaped quotes included.
    let text = format!(
        r#"{{"x":"\"{}\\","y":"{}"}}"#,
        "[".repeat(20_000),
        "{".repeat(20_000)
    );
    assert!(wire::decode::<PatchPath>(&text).is_ok());
    // Closing and reopening never accumulates.
    let wide = format!(r#"{{"x":[{}1]}}"#, "[[[]]],".repeat(100_000));
    assert!(wire::decode::<PatchPath>(&wide).is_ok());
}

#[test]
fn huge_nesting_is_refused_quickly_without_trapping() {
    // 16 MiB of brackets: refused at the 10001st level, the rest never read.
    let unclosed = "[".repeat(16 << 20);
    let err = wire::decode::<PutMessage>(&unclosed).expect_err("too deep");
    assert!(err.to_string().contains("exceeded max depth"), "{err}");
    let balanced = format!("{}{}", "[".repeat(8 << 20), "]".repeat(8 << 20));
    assert!(wire::decode::<PutMessage>(&balanced).is_err());
    // A long message that is not deep is read to the end once (linear time).
    let long = format!(
        r#"{{"path":"/","x":"{}","y":[{}0],"data":{{"environments":{{}}}}}}"#,
        "\\\"".repeat(2 << 20),
        "[-0.5],".repeat(1 << 20)
    );
    assert!(wire::decode::<PutMessage>(&long).is_ok());
}

#[test]
fn too_deep_messages_are_malformed_in_the_machine() {
    let mut h = Harness::new();
    h.calls("put", &put(&[("a", env_json("a", 1))]));
    h.assert_malformed("put", &put_with_deep_junk(10_000));
    assert!(
        h.logged(Level::Error, "exceeded max depth"),
        "{:?}",
        h.rec.logs
    );
    let deep_patch = format!(
        r#"{{"path":"/environments/a","data":{},"x":{}{}}}"#,
        env_json("a", 2),
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    h.assert_malformed("patch", &deep_patch);
    // The whole message is invalid for Go, so even a patch for another path is malformed.
    h.assert_malformed(
        "patch",
        &deep_patch.replace("/environments/a", "/filters/a"),
    );
    let deep_delete = format!(
        r#"{{"path":"/environments/a","version":2,"x":{}{}}}"#,
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    h.assert_malformed("delete", &deep_delete);
    assert_eq!(h.live_ids(), ["a"], "state unchanged");
    // Exactly at the limit: applied.
    let calls = h.calls("put", &put_with_deep_junk(9_999));
    assert_eq!(calls, [Call::Delete("a".to_string()), Call::ReceivedAll]);
}

// --- 3. Masking quoted values in decoder messages ----------------------------------------------

#[test]
fn an_escaped_quote_does_not_unmask_a_key() {
    let mut h = Harness::new();
    h.assert_malformed(
        "patch",
        r#"{"path":"/environments/a","data":{"envId":"a","version":"x\"sdk-k1-aaaa"}}"#,
    );
    let logs = h.logged_at_or_above(Level::Debug).join("\n");
    assert!(!logs.contains("sdk-k1"), "{logs}");
    assert!(logs.contains(r#"string "…aaaa", expected"#), "{logs}");
    let err = env(r#"{"version":"x\"sdk-k1-aaaa"}"#).expect_err("bad");
    assert!(!err.to_string().contains("sdk-k1"), "{err}");
}

#[test]
fn hostile_values_in_decoder_messages_stay_masked() {
    for (value, tail) in [
        // An escaped backslash right before the closing quote.
        (r#"sdk-secret-1234\\"#, r#"234\\"#),
        (r#"\\\"sdk-secret-5678\\"#, r#"678\\"#),
        (r#"sdk-secret-abcd\"\\\""#, r#"d\"\\\""#),
        // Escapes and multi-byte characters near the cut.
        (r#"sdk-secret-éé€𝄞"#, "éé€𝄞"),
        (r#"sdk-secret-\u001b\n\t"#, r#"-\u{1b}\n\t"#),
        (r#"sdk-secret-\u00e9\ud83e\udd80x"#, "-é🦀x"),
    ] {
        let err = env(&format!(r#"{{"version":"{value}"}}"#)).expect_err("bad type");
        let text = err.to_string();
        assert!(!text.contains("secret"), "{value}: {text}");
        assert!(text.contains(&format!("\"…{tail}\"")), "{value}: {text}");
        assert!(
            text.ends_with(|c: char| c.is_ascii_digit()),
            "{value}: {text}"
        );
    }
    let long = format!("sdk-{}-9876", "x".repeat(1 << 20));
    let text = env(&format!(r#"{{"defaultTtl":"{long}"}}"#))
        .expect_err("bad type")
        .to_string();
    assert!(text.len() < 200, "{}", &text[..200]);
    assert!(text.contains(r#""…9876""#), "{text}");
}

#[test]
fn masking_reads_quoted_runs_as_rust_debug_strings() {
    assert_eq!(
        masked(r#"string "x\"sdk-k1-aaaa", expected i64"#),
        r#"string "…aaaa", expected i64"#
    );
    // `\\` ends before the quote: the next run is a separate value.
    assert_eq!(
        masked(r#"a "abc\\" then "sdk-secret-9999" end"#),
        r#"a "…abc\\" then "…9999" end"#
    );
    // `\u{…}` is one character.
    assert_eq!(masked(r#""sdk-x\u{1b}\u{200b}""#), r#""…-x\u{1b}\u{200b}""#);
    assert_eq!(masked(r#""ab""#), r#""…ab""#);
    assert_eq!(masked(r#""""#), r#""…""#);
    // Unterminated: masked to the end, an escape at the very end included.
    assert_eq!(masked(r#"a "sdk-secret\"-12345"#), r#"a "…2345"#);
    assert_eq!(masked(r#"a "sdk-secret-12\"#), r#"a "…-12\"#);
    assert_eq!(masked(r#"a "sdk-secret\u{1"#), r#"a "…ret\u{1"#);
    assert_eq!(masked("no quotes"), "no quotes");
    // Raw control characters are escaped, never written.
    assert_eq!(masked("\"sdk-secret\n\u{1b}\""), "\"…et\\n\\u{1b}\"");
}
