//! Fuzz target bodies, shared by the `cargo fuzz` targets in `fuzz/` and the bounded randomized
//! run on the stable toolchain (`guest/tests/fuzz_stable.rs`). Native builds only; not a stable
//! API.
//!
//! Each body takes arbitrary bytes, reads them as a sequence of operations on one part of the
//! client, and checks invariants with `assert!`: any panic is a finding.
//!
//! | body | drives | checks |
//! |---|---|---|
//! | [`events`](crate::fuzzing::events) | [`Client::on_event`](crate::Client::on_event) / [`Client::tick`](crate::Client::tick) / [`Client::configure`](crate::Client::configure): structured JSON built from the bytes, mutated JSON, raw bytes, times moving forward, jumping and stepping back, small limits | callbacks replayed onto a plain map equal the live set, updates raise versions, put order, malformed/ignored events change nothing, remembered versions never go back, limits hold, `tick` fires everything due in order, snapshot → restore → snapshot is stable, a restored copy behaves the same, keys never reach a log |
//! | [`restore`](crate::fuzzing::restore) | [`Client::restore`](crate::Client::restore) of raw bytes, of payloads under a valid header, and of valid snapshots mutated bytewise or structurally | never panics; an error changes and calls nothing; an `Ok` is consistent (counts, announce calls, limits, the content restored) and snapshot → restore → snapshot is stable |
//! | [`sse`](crate::fuzzing::sse) | [`Parser`](crate::stream::sse::Parser) fed the same bytes in one chunk, in random chunks and byte by byte, with a reconnect anywhere | the same items and last event id from every chunking, memory bounded by the limit, and (when no limit applies) the items of a direct transcription of the HTML standard |
//! | [`stream`](crate::fuzzing::stream) | the stream client: [`Client::start`], `on_response`, `on_body`, `on_closed`, `on_timeout` with arbitrary inputs and times | never asks to connect while a request is open, no reconnect sooner than the minimum delay, at most [`MAX_REDIRECTS`](crate::stream::MAX_REDIRECTS) redirects in a row, nothing after a stop, the headers, deadlines that move on, last event ids reported, the machine invariants above |
//!
//! [`Target`](crate::fuzzing::Target) lists them with a few valid seed inputs each.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use crate::snapshot::{self, SnapEnv, SnapExpiring, SnapState, SnapTombstone};
use crate::stream::MAX_REDIRECTS;
use crate::stream::backoff::{MIN_BASE_MS, SLOW_INITIAL_MS};
use crate::stream::sse::{DEFAULT_MAX_EVENT_BYTES, Event, Item, LINE_SLACK, Parser};
use crate::stream::url::Url;
use crate::{
    Client, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_STATE_BYTES, DEFAULT_MAX_TOMBSTONES, Directive,
    Environment, EnvironmentParams, Handler, Level, Machine, RestartReason, Settings, Step,
    StreamOptions,
};

/// The fuzz targets, for harnesses that run them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// [`events`].
    Events,
    /// [`restore`].
    Restore,
    /// [`sse`].
    Sse,
    /// [`stream`].
    Stream,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 4] = [Target::Events, Target::Restore, Target::Sse, Target::Stream];

    /// The target's name (also the `cargo fuzz` target's).
    pub fn name(self) -> &'static str {
        match self {
            Target::Events => "events",
            Target::Restore => "restore",
            Target::Sse => "sse",
            Target::Stream => "stream",
        }
    }

    /// Runs the target's body on `data`.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::Events => events(data),
            Target::Restore => restore(data),
            Target::Sse => sse(data),
            Target::Stream => stream(data),
        }
    }

    /// A few valid inputs that reach deep states, to start a corpus or to mutate.
    pub fn seeds(self) -> Vec<Vec<u8>> {
        match self {
            Target::Events => events_seeds(),
            Target::Restore => restore_seeds(),
            Target::Sse => sse_seeds(),
            Target::Stream => stream_seeds(),
        }
    }
}

/// The start of the virtual clock: 2026-11-30T00:53:20Z.
const T0: u64 = 1_796_000_000_000;
/// Every key generated from the fuzz input contains this; no log line may.
const SECRET: &str = "SECRET";
/// The auto-configuration key of the stream target.
const STREAM_KEY: &str = "rel-KEYSECRET-0001";
/// Most operations in one input (beyond, the rest of the input is ignored).
const MAX_OPS: usize = 400;

// ---------------------------------------------------------------------------------------------
// Reading the input

/// A cursor over the fuzz input that never fails: past the end every read gives zeros.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u8) -> bool {
        self.u8().is_multiple_of(n)
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number below `n` (at most 256).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.u8()) % n
        }
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len());
        items[i].clone()
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.data)
    }
}

/// A xorshift64* generator, for choices the input seeds but does not spell out.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

// ---------------------------------------------------------------------------------------------
// Recording callbacks, and a model of what the proxy was told

/// One callback the client made.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Add(EnvironmentParams),
    Update(EnvironmentParams),
    Delete(String),
    ReceivedAll,
    KeyExpired(String, String),
}

/// Records callbacks; formats every log line (the masking code runs) and checks that no key
/// reached it.
#[derive(Debug, Default)]
struct Rec {
    calls: Vec<Call>,
    logs: usize,
    /// Whether no input byte spelled [`SECRET`] itself, so that it can only come from a key.
    check_secrets: bool,
}

impl Rec {
    fn new(check_secrets: bool) -> Self {
        Rec {
            check_secrets,
            ..Rec::default()
        }
    }

    fn take(&mut self) -> Vec<Call> {
        core::mem::take(&mut self.calls)
    }
}

impl Handler for Rec {
    fn add_environment(&mut self, params: EnvironmentParams) {
        self.calls.push(Call::Add(params));
    }
    fn update_environment(&mut self, params: EnvironmentParams) {
        self.calls.push(Call::Update(params));
    }
    fn delete_environment(&mut self, env_id: &str) {
        self.calls.push(Call::Delete(env_id.into()));
    }
    fn received_all_environments(&mut self) {
        self.calls.push(Call::ReceivedAll);
    }
    fn key_expired(&mut self, env_id: &str, old_key: &str) {
        self.calls
            .push(Call::KeyExpired(env_id.into(), old_key.into()));
    }
    fn log(&mut self, _level: Level, message: fmt::Arguments<'_>) {
        let line = message.to_string();
        if self.check_secrets {
            assert!(!line.contains(SECRET), "a key reached a log line: {line}");
        }
        self.logs += 1;
    }
}

/// What the proxy was told: the live environments, from the callbacks alone.
#[derive(Debug, Default, Clone)]
struct Model {
    live: BTreeMap<String, EnvironmentParams>,
}

impl Model {
    /// Applies callbacks, checking each is legal for the state it finds.
    fn replay(&mut self, calls: &[Call]) {
        for call in calls {
            match call {
                Call::Add(p) => {
                    let old = self.live.insert(p.env_id.clone(), p.clone());
                    assert!(old.is_none(), "add of a live environment: {p:?}");
                }
                Call::Update(p) => {
                    let Some(old) = self.live.get_mut(&p.env_id) else {
                        panic!("update of an environment that is not live: {p:?}");
                    };
                    assert!(
                        p.version > old.version,
                        "update from version {} to {}: {p:?}",
                        old.version,
                        p.version
                    );
                    *old = p.clone();
                }
                Call::Delete(id) => {
                    assert!(
                        self.live.remove(id).is_some(),
                        "delete of an environment that is not live: {id:?}"
                    );
                }
                Call::ReceivedAll => {}
                Call::KeyExpired(id, key) => {
                    let Some(env) = self.live.get(id) else {
                        panic!("key-expired for an environment that is not live: {id:?}");
                    };
                    assert!(!key.is_empty(), "key-expired with an empty key for {id:?}");
                    assert!(
                        *key != env.sdk_key,
                        "key-expired of the current SDK key of {id:?}"
                    );
                }
            }
        }
    }

    /// The machine's live set is exactly the model's, field by field.
    fn check(&self, machine: &Machine) {
        let ids: Vec<&str> = machine.environments().map(Environment::env_id).collect();
        let model: Vec<&str> = self.live.keys().map(String::as_str).collect();
        assert_eq!(
            ids, model,
            "the live set differs from the callbacks replayed"
        );
        for env in machine.environments() {
            let told = &self.live[env.env_id()];
            assert!(
                env.params(told.expiring_sdk_key.clone()) == *told,
                "environment {:?} differs from what the proxy was told",
                env.env_id()
            );
            assert_eq!(machine.version_of(env.env_id()), Some(env.version()));
        }
    }
}

/// The remembered versions (live and deleted) in a snapshot.
fn versions(snapshot_bytes: &[u8]) -> BTreeMap<String, i64> {
    let state = snapshot::decode(snapshot_bytes).expect("a client's own snapshot decodes");
    let mut out = BTreeMap::new();
    for e in state.environments {
        out.insert(e.env_id, e.version);
    }
    for t in state.tombstones {
        assert!(
            out.insert(t.env_id.clone(), t.version).is_none(),
            "{:?} is both live and deleted, or deleted twice",
            t.env_id
        );
    }
    out
}

/// The counters a snapshot determines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Digest {
    state_bytes: u64,
    tombstones: usize,
    pending_timers: usize,
    next_deadline: Option<u64>,
}

impl Digest {
    fn of(m: &Machine) -> Self {
        Digest {
            state_bytes: m.state_bytes(),
            tombstones: m.tombstones(),
            pending_timers: m.pending_timers(),
            next_deadline: m.next_deadline(),
        }
    }
}

/// Snapshot (`bytes`, the client's own) → restore into a fresh client → snapshot gives the same
/// bytes and the same state; returns the state's counters.
fn check_roundtrip(client: &Client, bytes: &[u8]) -> Digest {
    let copy = restored_copy(client, bytes);
    assert!(
        copy.snapshot() == bytes,
        "snapshot → restore → snapshot changed the bytes"
    );
    let (a, b) = (client.machine(), copy.machine());
    assert_eq!(
        Digest::of(a),
        Digest::of(b),
        "the counters after a round trip"
    );
    assert!(
        a.environments().eq(b.environments()),
        "environments after a round trip"
    );
    let state = snapshot::decode(bytes).expect("a client's own snapshot decodes");
    assert_eq!(
        state.tombstones.len(),
        a.tombstones(),
        "tombstones in the snapshot"
    );
    let pending = state
        .environments
        .iter()
        .filter(|e| e.timer_pending)
        .count();
    assert_eq!(
        pending,
        a.pending_timers(),
        "pending timers in the snapshot"
    );
    Digest::of(a)
}

/// A fresh client with the snapshot `bytes` of `client` restored, then `client`'s settings.
fn restored_copy(client: &Client, bytes: &[u8]) -> Client {
    let mut copy = Client::new();
    let mut rec = Rec::default();
    if let Err(e) = copy.restore(bytes, false, &mut rec) {
        panic!("the snapshot of a live client is refused: {e}");
    }
    assert!(rec.calls.is_empty(), "a silent restore made callbacks");
    copy.configure(client.machine().settings());
    copy
}

// ---------------------------------------------------------------------------------------------
// Generating event data from the input

/// JSON string literal for `s`.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An environment ID: mostly one of four, sometimes an odd one.
fn gen_id(inp: &mut Input) -> String {
    match inp.u8() % 20 {
        0..=15 => ["a", "b", "c", "d"][usize::from(inp.u8() % 4)].into(),
        16 => String::new(),
        17 => "x/y".into(),
        18 => "é\u{1b}[2J\n".into(),
        _ => "z".repeat(130),
    }
}

/// A field name, sometimes in another case (Go's decoder matches case-insensitively).
fn field_name(inp: &mut Input, name: &str) -> String {
    match inp.u8() % 16 {
        0 => name.to_ascii_uppercase(),
        1 => name.to_ascii_lowercase(),
        _ => name.into(),
    }
}

/// A wrongly typed (or odd but valid) JSON value.
fn odd_value(inp: &mut Input) -> String {
    inp.pick(&[
        "null", "\"x\"", "1", "1.5", "-0", "[]", "{}", "true", "-1", "1e3",
    ])
    .into()
}

/// A version: mostly small, sometimes extreme or not an integer.
fn gen_version(inp: &mut Input) -> String {
    match inp.u8() % 24 {
        n @ 0..=17 => (i64::from(n % 10) - 2).to_string(),
        18 => i64::MAX.to_string(),
        19 => i64::MIN.to_string(),
        20 => "-0".into(),
        21 => "9223372036854775808".into(),
        22 => "2.5".into(),
        _ => "\"3\"".into(),
    }
}

/// An expiry timestamp around `now`.
fn gen_timestamp(inp: &mut Input, now: u64) -> String {
    match inp.u8() % 16 {
        0..=1 => "0".into(),
        2..=4 => now.saturating_sub(u64::from(inp.u16())).to_string(),
        5..=10 => now.saturating_add(u64::from(inp.u16()) + 1).to_string(),
        11 => now.to_string(),
        12 => u64::MAX.to_string(),
        13 => "-1".into(),
        14 => "18446744073709551616".into(),
        _ => now.saturating_add(u64::from(inp.u8()) * 1000).to_string(),
    }
}

/// One environment as the stream sends it, keyed `id` (its `envId` mostly agrees).
fn gen_env(inp: &mut Input, id: &str, now: u64) -> String {
    let mut fields: Vec<(String, String)> = Vec::new();
    let env_id = if inp.one_in(10) {
        gen_id(inp)
    } else {
        id.into()
    };
    let n = inp.u8() % 3;
    let long = "n".repeat(300);
    let names = [
        "Production",
        "",
        "a \"quoted\" \\ name",
        "\u{1b}[31mred\nline",
        "ünïcödé ✓",
        &long,
    ];
    let mut push = |inp: &mut Input, name: &str, value: String| {
        match inp.u8() % 24 {
            0 => {}                                                    // missing
            1 => fields.push((field_name(inp, name), odd_value(inp))), // wrong type
            _ => fields.push((field_name(inp, name), value)),
        }
    };
    push(inp, "envId", json_str(&env_id));
    let v = json_str(&format!("{id}-key"));
    push(inp, "envKey", v);
    let v = json_str(inp.pick(&names));
    push(inp, "envName", v);
    let v = json_str(&format!("mob-{id}-{SECRET}-{n:04}"));
    push(inp, "mobKey", v);
    push(inp, "projKey", json_str("proj"));
    let v = json_str(inp.pick(&names));
    push(inp, "projName", v);
    let sdk = format!("sdk-{id}-{SECRET}-{n:04}");
    let sdk_key = {
        let mut parts = vec![format!("\"value\":{}", json_str(&sdk))];
        match inp.u8() % 8 {
            0..=1 => {}
            2 => parts.push("\"expiring\":null".into()),
            3 => parts.push(format!("\"expiring\":{{\"value\":{}}}", json_str(&sdk))),
            4 => parts.push(format!(
                "\"Expiring\":{{\"value\":\"\",\"timestamp\":{}}}",
                gen_timestamp(inp, now)
            )),
            _ => {
                let old = format!("old-{id}-{SECRET}-{:04}", inp.u8() % 3);
                parts.push(format!(
                    "\"expiring\":{{\"value\":{},\"timestamp\":{}}}",
                    json_str(&old),
                    gen_timestamp(inp, now)
                ));
            }
        }
        format!("{{{}}}", parts.join(","))
    };
    push(inp, "sdkKey", sdk_key);
    let v = (i64::from(inp.u8() % 4) - 1).to_string();
    push(inp, "defaultTtl", v);
    let v = inp.pick(&["true", "false"]).to_string();
    push(inp, "secureMode", v);
    let v = gen_version(inp);
    push(inp, "version", v);
    if inp.one_in(8) {
        fields.push(("unknown".into(), "{\"a\":[1,{\"b\":null}]}".into()));
    }
    if inp.one_in(12) && !fields.is_empty() {
        // A repeated key: the later one wins.
        let i = inp.below(fields.len());
        let copy = fields[i].clone();
        fields.push(copy);
    }
    if inp.one_in(6) {
        fields.reverse();
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A path for a patch or delete of `id`.
fn gen_path(inp: &mut Input, id: &str) -> String {
    match inp.u8() % 16 {
        0 => "/environments/".into(),
        1 => format!("/environments/{id}/x"),
        2 => "/other".into(),
        3 => String::new(),
        _ => format!("/environments/{id}"),
    }
}

/// One structured event: its name, its data and, for a put, the keys it names.
struct Generated {
    name: &'static str,
    data: String,
    put_keys: Option<BTreeSet<String>>,
}

fn gen_put(inp: &mut Input, now: u64) -> Generated {
    let n = inp.u8() % 6;
    let mut keys = BTreeSet::new();
    let mut entries = Vec::new();
    for _ in 0..n {
        let id = gen_id(inp);
        let env = if inp.one_in(32) {
            odd_value(inp)
        } else {
            gen_env(inp, &id, now)
        };
        entries.push(format!("{}:{env}", json_str(&id)));
        keys.insert(id);
    }
    let environments = format!("{{{}}}", entries.join(","));
    let path = match inp.u8() % 16 {
        0 => "\"/x\"",
        1 => "\"\"",
        2 => "null",
        _ => "\"/\"",
    };
    let data = match inp.u8() % 24 {
        0 => format!("{{\"path\":{path}}}"),
        1 => format!("{{\"path\":{path},\"data\":{{\"environments\":null}}}}"),
        2 => format!("{{\"path\":{path},\"data\":{{\"environments\":[]}}}}"),
        3 => format!("{{\"data\":{{\"environments\":{environments}}},\"path\":{path}}}"),
        4 => format!(
            "{{\"path\":{path},\"data\":{{\"environments\":{{\"q\":{{}}}},\"environments\":{environments}}}}}"
        ),
        _ => format!("{{\"path\":{path},\"data\":{{\"environments\":{environments}}}}}"),
    };
    Generated {
        name: "put",
        data,
        put_keys: Some(keys),
    }
}

fn gen_patch(inp: &mut Input, now: u64) -> Generated {
    let id = gen_id(inp);
    let path = gen_path(inp, &id);
    let env = gen_env(inp, &id, now);
    let data = if inp.one_in(8) {
        format!("{{\"data\":{env},\"path\":{}}}", json_str(&path))
    } else {
        format!("{{\"path\":{},\"data\":{env}}}", json_str(&path))
    };
    Generated {
        name: "patch",
        data,
        put_keys: None,
    }
}

fn gen_delete(inp: &mut Input) -> Generated {
    let id = gen_id(inp);
    let path = gen_path(inp, &id);
    let version = gen_version(inp);
    let data = match inp.u8() % 12 {
        0 => format!("{{\"path\":{}}}", json_str(&path)),
        _ => format!("{{\"path\":{},\"version\":{version}}}", json_str(&path)),
    };
    Generated {
        name: "delete",
        data,
        put_keys: None,
    }
}

fn gen_event(inp: &mut Input, now: u64) -> Generated {
    match inp.u8() % 3 {
        0 => gen_put(inp, now),
        1 => gen_patch(inp, now),
        _ => gen_delete(inp),
    }
}

/// Bytes a mutation likes to insert.
const INTERESTING: &[u8] = b"{}[]:,\"\\\n\r 0123456789-.eE/\0\xff\xef\xbb\xbfu";
/// JSON tokens a mutation likes to insert.
const TOKENS: &[&str] = &[
    "null",
    "\"\"",
    "-1",
    "-0",
    "1e400",
    "[]",
    "{}",
    "true",
    "\"envId\"",
    "\"version\"",
    "\"/environments/a\"",
    "\\ud800",
    "18446744073709551615",
];

/// Applies a few input-chosen mutations to `buf`.
fn mutate(buf: &mut Vec<u8>, inp: &mut Input) {
    let count = 1 + inp.u8() % 4;
    for _ in 0..count {
        let len = buf.len();
        let pos = usize::from(inp.u16()) % (len + 1);
        match inp.u8() % 8 {
            0 if pos < len => buf[pos] ^= 1 << (inp.u8() % 8),
            1 if pos < len => buf[pos] = inp.pick(INTERESTING),
            2 => {
                let end = (pos + 1 + usize::from(inp.u8() % 16)).min(len);
                buf.drain(pos.min(end)..end);
            }
            3 => buf.insert(pos, inp.pick(INTERESTING)),
            4 => {
                let end = (pos + 1 + usize::from(inp.u8())).min(len);
                let copy = buf[pos.min(end)..end].to_vec();
                let at = usize::from(inp.u16()) % (len + 1);
                buf.splice(at..at, copy);
            }
            5 => {
                let token = inp.pick(TOKENS);
                buf.splice(pos..pos, token.bytes());
            }
            6 => buf.truncate(pos),
            _ => {
                let other = usize::from(inp.u16()) % (len + 1);
                if pos < len && other < len {
                    buf.swap(pos, other);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (a) events and ticks

/// Small, default and odd settings.
fn gen_settings(inp: &mut Input) -> Settings {
    Settings {
        max_message_bytes: inp.pick(&[0, 1, 16, 64, 200, 1000, 4096, DEFAULT_MAX_MESSAGE_BYTES]),
        log_level: inp.pick(&[
            Level::Debug,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
        ]),
        max_tombstones: inp.pick(&[0, 1, 2, 3, 5, DEFAULT_MAX_TOMBSTONES]),
        max_state_bytes: inp.pick(&[
            0,
            600,
            1100,
            1300,
            1600,
            2000,
            3000,
            10_000,
            DEFAULT_MAX_STATE_BYTES,
        ]),
    }
}

/// A new time: forward a little or a lot, to the next deadline, back, or to an extreme.
fn gen_time(inp: &mut Input, now: u64, deadline: Option<u64>) -> u64 {
    match inp.u8() % 12 {
        0..=3 => now.saturating_add(u64::from(inp.u8()) * 10),
        4..=5 => now.saturating_add(u64::from(inp.u16()) * 100),
        6..=7 => deadline.unwrap_or(now),
        8 => now.saturating_sub(u64::from(inp.u16())),
        9 => now.saturating_add(u64::from(inp.u32()) * 1000),
        10 => inp.pick(&[0, 1, T0, u64::MAX - 1, u64::MAX]),
        _ => deadline.map_or(now, |d| d.saturating_add(u64::from(inp.u8()))),
    }
}

/// Event names for raw events.
const NAMES: [&str; 9] = [
    "put",
    "patch",
    "delete",
    "reconnect",
    "",
    "message",
    "PUT",
    "put ",
    "\u{1b}]0;evil\u{7}",
];

/// One operation of the `events` body.
enum Op {
    Event {
        name: String,
        data: String,
        /// A structured put: the keys it names.
        put_keys: Option<BTreeSet<String>>,
        /// Mutated structured data: key text may land in any field, and stay in the state.
        mutated: bool,
    },
    Tick(u64),
    Time(u64),
    Configure(Settings),
    /// Replace the shadow copy by a restored snapshot of the client.
    Fork,
}

fn next_op(inp: &mut Input, now: u64, deadline: Option<u64>) -> Op {
    let event = |g: Generated| Op::Event {
        name: g.name.into(),
        data: g.data,
        put_keys: g.put_keys,
        mutated: false,
    };
    match inp.u8() % 20 {
        0..=2 => event(gen_put(inp, now)),
        3..=5 => event(gen_patch(inp, now)),
        6..=7 => event(gen_delete(inp)),
        8..=9 => {
            let g = gen_event(inp, now);
            let mut bytes = g.data.into_bytes();
            mutate(&mut bytes, inp);
            Op::Event {
                name: g.name.into(),
                data: String::from_utf8_lossy(&bytes).into_owned(),
                put_keys: None,
                mutated: true,
            }
        }
        10 => {
            let name = inp.pick(&NAMES).into();
            let len = usize::from(inp.u8());
            let data = String::from_utf8_lossy(inp.bytes(len)).into_owned();
            Op::Event {
                name,
                data,
                put_keys: None,
                mutated: false,
            }
        }
        11 => {
            // A literal event (what seeds use): name index, u16 length, bytes.
            let name = inp.pick(&NAMES).into();
            let len = usize::from(inp.u16());
            let data = String::from_utf8_lossy(inp.bytes(len)).into_owned();
            Op::Event {
                name,
                data,
                put_keys: None,
                mutated: false,
            }
        }
        12 => {
            let g = gen_event(inp, now);
            Op::Event {
                name: inp.pick(&["reconnect", "other", "", "Put"]).into(),
                data: g.data,
                put_keys: None,
                mutated: false,
            }
        }
        13..=15 => Op::Tick(gen_time(inp, now, deadline)),
        16 => Op::Time(gen_time(inp, now, deadline)),
        17 => Op::Tick(now),
        18 => Op::Configure(gen_settings(inp)),
        _ => Op::Fork,
    }
}

/// What an operation returned.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Directive(Directive),
    Tick(Option<u64>),
    None,
}

fn apply(client: &mut Client, rec: &mut Rec, op: &Op, now: u64) -> Outcome {
    match op {
        Op::Event { name, data, .. } => Outcome::Directive(client.on_event(name, data, now, rec)),
        Op::Tick(at) => Outcome::Tick(client.tick(*at, rec)),
        Op::Configure(settings) => {
            client.configure(*settings);
            Outcome::None
        }
        Op::Time(_) | Op::Fork => Outcome::None,
    }
}

/// Whether the raw input spells [`SECRET`] itself (then only generated keys are not traceable).
fn spells_secret(data: &[u8]) -> bool {
    data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes())
}

/// Fuzz body (a): arbitrary sequences of `on-event`, `tick` and `configure` on a [`Client`]
/// (events built from the input: structured JSON, mutated JSON, raw bytes), with the clock
/// moving forward, jumping and stepping back, and small limits.
///
/// Checks, after every operation: the callbacks replayed onto a plain map always equal the
/// live set (no add of a live environment, updates raise the version, deletes and expiries of
/// live ones only, never the current SDK key); a put's callbacks are its adds/updates by
/// ascending ID, its deletes by ascending ID and one `received-all` last, and after it only IDs
/// it names are remembered; a patch or delete makes at most one callback; `reconnect` and
/// unknown events, malformed data and ignored patches change nothing; remembered versions never
/// go back; the tombstone and state limits hold when they grow; `tick` fires only due timers,
/// in due order, for the current expiring key, and leaves none due; the reported deadline is
/// the machine's; snapshot → restore → snapshot is stable; a copy restored from a snapshot
/// makes the same callbacks as the original from then on; no key reaches a log line.
pub fn events(data: &[u8]) {
    let check_secrets = !spells_secret(data);
    let mut inp = Input::new(data);
    let mut client = Client::new();
    if inp.bool() {
        client.configure(gen_settings(&mut inp));
    }
    let mut rec = Rec::new(check_secrets);
    let mut model = Model::default();
    let mut shadow: Option<(Client, Rec)> = None;
    let mut now = T0;
    let mut before = client.snapshot();
    let mut digest = check_roundtrip(&client, &before);
    for _ in 0..MAX_OPS {
        if inp.is_empty() {
            break;
        }
        let op = next_op(&mut inp, now, client.machine().next_deadline());
        match &op {
            Op::Time(at) => now = *at,
            Op::Tick(at) => now = *at,
            Op::Fork => {
                shadow = Some((restored_copy(&client, &before), Rec::new(rec.check_secrets)));
                continue;
            }
            Op::Event { mutated: true, .. } => {
                // From now on the state may hold key text in names: stop checking the logs.
                rec.check_secrets = false;
                if let Some((_, copy_rec)) = shadow.as_mut() {
                    copy_rec.check_secrets = false;
                }
            }
            _ => {}
        }
        let (tombstones_before, bytes_before) = (digest.tombstones, digest.state_bytes);
        rec.calls.clear();
        let outcome = apply(&mut client, &mut rec, &op, now);
        let calls = rec.take();
        model.replay(&calls);
        model.check(client.machine());
        let after = client.snapshot();
        check_op(&client, &op, &outcome, &calls, &before, &after, now);
        let m = client.machine();
        if m.tombstones() > tombstones_before {
            assert!(
                m.tombstones() <= m.settings().max_tombstones as usize,
                "{} tombstones, over the limit of {}",
                m.tombstones(),
                m.settings().max_tombstones
            );
        }
        if m.state_bytes() > bytes_before {
            assert!(
                m.state_bytes() <= m.settings().max_state_bytes,
                "the state grew from {bytes_before} to {} bytes, over the limit of {}",
                m.state_bytes(),
                m.settings().max_state_bytes
            );
        }
        if after == before {
            // The same snapshot: the same counters (the full round trip was done for it).
            assert_eq!(
                Digest::of(m),
                digest,
                "the counters changed without the state"
            );
        } else {
            digest = check_roundtrip(&client, &after);
        }
        if let Some((copy, copy_rec)) = shadow.as_mut() {
            let copy_outcome = apply(copy, copy_rec, &op, now);
            let copy_calls = copy_rec.take();
            assert_eq!(copy_outcome, outcome, "a restored copy answers differently");
            assert_eq!(copy_calls, calls, "a restored copy makes other callbacks");
            assert!(
                copy.snapshot() == after,
                "a restored copy has another state"
            );
        }
        before = after;
    }
}

/// The checks of one operation of [`events`].
fn check_op(
    client: &Client,
    op: &Op,
    outcome: &Outcome,
    calls: &[Call],
    before: &[u8],
    after: &[u8],
    now: u64,
) {
    let m = client.machine();
    match (op, outcome) {
        (
            Op::Event {
                name,
                data,
                put_keys,
                ..
            },
            Outcome::Directive(d),
        ) => {
            assert_eq!(
                d.next_deadline,
                m.next_deadline(),
                "the directive's deadline"
            );
            let unchanged = || {
                assert!(after == before, "{name:?} {data:?} changed the state");
                assert!(
                    calls.is_empty(),
                    "{name:?} {data:?} made callbacks: {calls:?}"
                );
            };
            assert!(
                !calls.iter().any(|c| matches!(c, Call::KeyExpired(..))),
                "an event fired an expiry"
            );
            match (name.as_str(), d.restart) {
                ("reconnect", restart) => {
                    assert_eq!(restart, Some(RestartReason::ReconnectRequested));
                    unchanged();
                }
                ("put" | "patch" | "delete", Some(RestartReason::MalformedData)) => unchanged(),
                ("put" | "patch" | "delete", Some(other)) => {
                    panic!("{name:?} restarted with {other:?}")
                }
                (_, Some(other)) => panic!("{name:?} restarted with {other:?}"),
                ("put", None) => check_put(calls, data, put_keys.as_ref(), before, after),
                ("patch", None) => {
                    assert!(calls.len() <= 1, "a patch made {calls:?}");
                    assert!(
                        calls
                            .iter()
                            .all(|c| matches!(c, Call::Add(_) | Call::Update(_))),
                        "a patch made {calls:?}"
                    );
                    if calls.is_empty() {
                        unchanged();
                    }
                }
                ("delete", None) => {
                    assert!(calls.len() <= 1, "a delete made {calls:?}");
                    assert!(
                        calls.iter().all(|c| matches!(c, Call::Delete(_))),
                        "a delete made {calls:?}"
                    );
                }
                (_, None) => unchanged(),
            }
            // Remembered versions never go back (an ID may be forgotten, though).
            if after != before {
                let (was, is) = (versions(before), versions(after));
                for (id, v) in &is {
                    if let Some(old) = was.get(id) {
                        assert!(v >= old, "{id:?} went back from version {old} to {v}");
                    }
                }
            }
        }
        (Op::Tick(at), Outcome::Tick(next)) => {
            assert_eq!(*at, now);
            assert_eq!(*next, m.next_deadline(), "tick's deadline");
            if let Some(next) = next {
                assert!(
                    *next > now,
                    "a timer due at {next} is left after a tick at {now}"
                );
            }
            let mut last: Option<(u64, &str)> = None;
            let mut fired = BTreeSet::new();
            for call in calls {
                let Call::KeyExpired(id, key) = call else {
                    panic!("a tick made {call:?}");
                };
                assert!(
                    fired.insert(id.as_str()),
                    "{id:?} expired twice in one tick"
                );
                let env = m.environments().find(|e| e.env_id() == *id);
                let Some((expiring_key, timestamp)) = env.and_then(Environment::expiring) else {
                    panic!("{id:?} expired without an expiring key");
                };
                assert!(expiring_key == *key, "{id:?} expired another key");
                assert!(timestamp <= now, "{id:?} expired early");
                assert!(timestamp > 0, "{id:?} expired without an expiry time");
                let here = (timestamp, id.as_str());
                assert!(last.is_none_or(|l| l < here), "expiries out of order");
                last = Some(here);
            }
        }
        (Op::Configure(settings), Outcome::None) => {
            assert_eq!(m.settings(), *settings);
            assert!(calls.is_empty());
            assert!(after == before, "configure changed the state");
        }
        (op, outcome) => {
            assert!(
                matches!(op, Op::Time(_) | Op::Fork) && *outcome == Outcome::None,
                "unexpected outcome {outcome:?}"
            );
        }
    }
}

/// A put that was not malformed: nothing, or adds/updates by ascending ID, deletes by ascending
/// ID, then one `received-all`.
fn check_put(
    calls: &[Call],
    data: &str,
    put_keys: Option<&BTreeSet<String>>,
    before: &[u8],
    after: &[u8],
) {
    if calls.is_empty() {
        // An ignored path.
        assert!(
            after == before,
            "an ignored put changed the state: {data:?}"
        );
        return;
    }
    assert_eq!(
        calls.last(),
        Some(&Call::ReceivedAll),
        "a put did not end with received-all: {calls:?}"
    );
    let mut upserts: Option<&str> = None;
    let mut deletes: Option<&str> = None;
    for call in calls.iter().take(calls.len() - 1) {
        match call {
            Call::Add(p) | Call::Update(p) => {
                assert!(
                    deletes.is_none(),
                    "an add or update after a delete: {calls:?}"
                );
                assert!(
                    upserts.is_none_or(|u| u < p.env_id.as_str()),
                    "adds and updates out of order: {calls:?}"
                );
                upserts = Some(&p.env_id);
            }
            Call::Delete(id) => {
                assert!(
                    deletes.is_none_or(|d| d < id.as_str()),
                    "deletes out of order: {calls:?}"
                );
                deletes = Some(id);
            }
            other => panic!("a put made {other:?}: {calls:?}"),
        }
    }
    if let Some(keys) = put_keys {
        for id in versions(after).keys() {
            assert!(
                keys.contains(id),
                "{id:?} is remembered after a put that did not name it: {data}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (b) restore

/// A client with live environments, a pending and a fired expiry, tombstones and a last event
/// id, built once.
fn busy_snapshots() -> &'static [Vec<u8>] {
    static SNAPSHOTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SNAPSHOTS.get_or_init(|| {
        let mut rec = Rec::default();
        let mut client = Client::new();
        let empty = client.snapshot();
        let env = |id: &str, v: i64, expiring: &str| {
            format!(
                "{{\"envId\":\"{id}\",\"envKey\":\"{id}-key\",\"envName\":\"{id} env\",\"mobKey\":\"mob-{id}\",\"projKey\":\"p\",\"projName\":\"P\",\"sdkKey\":{{\"value\":\"sdk-{id}\"{expiring}}},\"defaultTtl\":5,\"secureMode\":true,\"version\":{v}}}"
            )
        };
        let put = format!(
            "{{\"path\":\"/\",\"data\":{{\"environments\":{{\"a\":{},\"b\":{},\"c\":{},\"d\":{}}}}}}}",
            env("a", 1, ""),
            env("b", 2, &format!(",\"expiring\":{{\"value\":\"old-b\",\"timestamp\":{}}}", T0 + 5_000)),
            env("c", 3, &format!(",\"expiring\":{{\"value\":\"old-c\",\"timestamp\":{}}}", T0 + 1_000)),
            env("d", 1, ",\"expiring\":{\"value\":\"old-d\",\"timestamp\":0}"),
        );
        client.on_event("put", &put, T0, &mut rec);
        client.tick(T0 + 1_000, &mut rec);
        client.on_event("delete", "{\"path\":\"/environments/ghost\",\"version\":7}", T0, &mut rec);
        client.on_event("delete", "{\"path\":\"/environments/a\",\"version\":2}", T0, &mut rec);
        let busy = client.snapshot();
        let mut with_id = snapshot::decode(&busy).expect("a snapshot decodes");
        with_id.last_event_id = Some("id-9".into());
        vec![empty, busy, snapshot::encode(&with_id)]
    })
}

/// A header for `payload`, with `version`.
fn with_header(payload: &[u8], version: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(snapshot::HEADER_BYTES + payload.len());
    out.extend_from_slice(snapshot::MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&snapshot::crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Input-chosen edits of a snapshot's content.
fn edit_state(state: &mut SnapState, inp: &mut Input) {
    let ids = ["a", "b", "c", "ghost", "", "n\u{0}", "é"];
    let count = 1 + inp.u8() % 4;
    for _ in 0..count {
        let n = state.environments.len();
        let i = inp.below(n.max(1));
        match inp.u8() % 14 {
            0 if n > 0 => {
                let copy = state.environments[i].clone();
                state.environments.push(copy);
            }
            1 if n > 0 => {
                state.environments.remove(i);
            }
            2 if n > 0 => state.environments[i].env_id = inp.pick(&ids).into(),
            3 if n > 0 => {
                state.environments[i].expiring = match inp.u8() % 3 {
                    0 => None,
                    _ => Some(SnapExpiring {
                        key: inp.pick(&["", "old", "sdk-a"]).into(),
                        timestamp: inp.pick(&[0, 1, T0, T0 + 5_000, u64::MAX]),
                    }),
                };
            }
            4 if n > 0 => {
                let e = &mut state.environments[i];
                e.timer_pending = !e.timer_pending;
            }
            5 if n > 0 => {
                let e = &mut state.environments[i];
                if let Some(x) = &e.expiring {
                    e.sdk_key = x.key.clone();
                }
            }
            6 if n > 0 => {
                state.environments[i].version = inp.pick(&[i64::MIN, -1, 0, 1, i64::MAX]);
            }
            7 if n > 0 => state.environments[i].env_name = "x".repeat(usize::from(inp.u16())),
            8 => state.tombstones.push(SnapTombstone {
                env_id: inp.pick(&ids).into(),
                version: inp.pick(&[i64::MIN, 0, 7, i64::MAX]),
            }),
            9 if !state.tombstones.is_empty() => {
                let j = inp.below(state.tombstones.len());
                state.tombstones.remove(j);
            }
            10 => {
                state.last_event_id = inp
                    .pick(&[None, Some(""), Some("7"), Some("a\0b")])
                    .map(String::from);
            }
            11 => state.environments.reverse(),
            12 => state.tombstones.reverse(),
            _ => state.environments.push(SnapEnv {
                env_id: inp.pick(&ids).into(),
                env_key: String::new(),
                env_name: String::new(),
                proj_key: String::new(),
                proj_name: String::new(),
                sdk_key: inp.pick(&["", "sdk", "old"]).into(),
                mob_key: String::new(),
                expiring: None,
                default_ttl: 0,
                secure_mode: false,
                version: 1,
                timer_pending: false,
            }),
        }
    }
}

/// Fuzz body (b): [`Client::restore`] of arbitrary bytes: the raw input, the input as a payload
/// under a valid header, a valid snapshot of a populated client mutated bytewise (with its
/// header fixed up or not), or edited field by field; into an empty or a populated client,
/// default or small limits, announced or not.
///
/// Checks: never panics; an error leaves the state unchanged and calls nothing; an `Ok`
/// reports the counts the client has, announces every live environment in ascending order then
/// `received-all` (and nothing when silent), holds the limits, restores exactly the snapshot's
/// environments and a newest part of its tombstones, and its snapshot → restore → snapshot is
/// stable; the restored client then takes events and ticks without breaking these invariants.
pub fn restore(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8() % 4;
    let populated = inp.bool();
    let small = inp.bool();
    let announce = inp.bool();
    let bytes = match mode {
        0 => inp.rest().to_vec(),
        1 => {
            let version = inp.pick(&[1, 1, 1, 0, 2]);
            with_header(inp.rest(), version)
        }
        2 => {
            let base = inp.pick(busy_snapshots());
            let fix = inp.bool();
            let mut bytes = base;
            let mut rest = Input::new(inp.rest());
            while !rest.is_empty() {
                mutate(&mut bytes, &mut rest);
            }
            if fix && bytes.len() >= snapshot::HEADER_BYTES {
                let payload = bytes.split_off(snapshot::HEADER_BYTES);
                with_header(&payload, 1)
            } else {
                bytes
            }
        }
        _ => {
            let base = inp.pick(busy_snapshots());
            let mut state = snapshot::decode(&base).expect("a snapshot decodes");
            edit_state(&mut state, &mut inp);
            snapshot::encode(&state)
        }
    };
    let mut client = Client::new();
    let mut rec = Rec::default();
    if populated {
        let base = &busy_snapshots()[1];
        assert!(client.restore(base, false, &mut rec).is_ok());
    }
    if small {
        client.configure(Settings {
            max_tombstones: 1,
            max_state_bytes: 2_500,
            ..Settings::default()
        });
    }
    let before = client.snapshot();
    rec.calls.clear();
    rec.logs = 0;
    let result = client.restore(&bytes, announce, &mut rec);
    let calls = rec.take();
    let m = client.machine();
    let restored = match result {
        Err(e) => {
            let _ = e.to_string();
            assert!(
                client.snapshot() == before,
                "a refused restore changed the state: {e}"
            );
            assert!(calls.is_empty(), "a refused restore made callbacks");
            assert_eq!(rec.logs, 0, "a refused restore logged");
            return;
        }
        Ok(r) => r,
    };
    assert_eq!(restored.environments as usize, m.environments().count());
    assert_eq!(restored.tombstones as usize, m.tombstones());
    assert_eq!(restored.pending_expiries as usize, m.pending_timers());
    assert_eq!(restored.next_deadline, m.next_deadline());
    assert!(m.tombstones() <= m.settings().max_tombstones as usize);
    // Over the state limit only with every tombstone forgotten (live environments are kept).
    assert!(
        m.state_bytes() <= m.settings().max_state_bytes || m.tombstones() == 0,
        "{} bytes and {} tombstones restored under a limit of {} bytes",
        m.state_bytes(),
        m.tombstones(),
        m.settings().max_state_bytes
    );
    if announce {
        let adds: Vec<&str> = calls
            .iter()
            .filter_map(|c| match c {
                Call::Add(p) => Some(p.env_id.as_str()),
                _ => None,
            })
            .collect();
        let live: Vec<&str> = m.environments().map(Environment::env_id).collect();
        assert_eq!(adds, live, "the announced environments");
        assert_eq!(calls.len(), live.len() + 1);
        assert_eq!(calls.last(), Some(&Call::ReceivedAll));
        let mut model = Model::default();
        model.replay(&calls);
        model.check(m);
    } else {
        assert!(calls.is_empty(), "a silent restore made callbacks");
    }
    // The content restored is the snapshot's.
    let input = snapshot::decode(&bytes).expect("a restored snapshot decodes");
    let own = snapshot::decode(&client.snapshot()).expect("a snapshot decodes");
    let mut expected = input.environments.clone();
    expected.sort_by(|a, b| a.env_id.cmp(&b.env_id));
    assert_eq!(own.environments, expected, "the environments restored");
    assert!(
        input.tombstones.ends_with(&own.tombstones),
        "the tombstones restored are not the newest of the snapshot's"
    );
    if !small {
        assert_eq!(
            own.tombstones, input.tombstones,
            "tombstones lost without a limit"
        );
    }
    assert_eq!(own.last_event_id, input.last_event_id);
    assert_eq!(restored.last_event_id, input.last_event_id);
    let earliest = own
        .environments
        .iter()
        .filter(|e| e.timer_pending)
        .filter_map(|e| e.expiring.as_ref().map(|x| x.timestamp))
        .min();
    assert_eq!(m.next_deadline(), earliest, "the deadline restored");
    check_roundtrip(&client, &client.snapshot());
    // Restoring its own snapshot under the same settings changes nothing.
    let own_bytes = client.snapshot();
    let mut again = Client::new();
    again.configure(m.settings());
    assert!(
        again
            .restore(&own_bytes, false, &mut Rec::default())
            .is_ok()
    );
    assert!(
        again.snapshot() == own_bytes,
        "restoring a restored snapshot changed it"
    );
    // The restored client keeps working.
    let mut model = Model::default();
    for env in client.machine().environments() {
        model.live.insert(env.env_id().into(), env.params(None));
    }
    let mut rec = Rec::default();
    let mut ops = Input::new(data);
    for now in [T0, T0 + 1_000, T0 + 10_000] {
        let op = next_op(&mut ops, now, client.machine().next_deadline());
        apply(&mut client, &mut rec, &op, now);
        client.tick(now, &mut rec);
        let calls = rec.take();
        model.replay(&calls);
        let ids: Vec<&str> = client
            .machine()
            .environments()
            .map(Environment::env_id)
            .collect();
        let known: Vec<&str> = model.live.keys().map(String::as_str).collect();
        assert_eq!(ids, known, "the live set after a restore");
        check_roundtrip(&client, &client.snapshot());
    }
}

// ---------------------------------------------------------------------------------------------
// (c) the SSE parser

/// What a parser produced.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    items: Vec<Item>,
    last_event_id: Option<String>,
    id_changes: u64,
}

/// Feeds `body` to a fresh parser in chunks of the sizes `sizes` gives, calling
/// `reset_connection` once at byte `reset_at` (if inside), pulling items after each chunk or
/// only at the end; checks the memory bound after every chunk.
fn feed(
    body: &[u8],
    limit: usize,
    initial_id: Option<&str>,
    reset_at: usize,
    pull_each: bool,
    mut sizes: impl FnMut() -> usize,
) -> Parsed {
    let mut parser = Parser::with_last_event_id(initial_id.map(String::from));
    parser.set_max_event_bytes(limit);
    let line_cap = limit.saturating_add(LINE_SLACK);
    let mut items = Vec::new();
    let mut offset = 0;
    let mut zeros = 0;
    let mut reset_done = false;
    loop {
        if offset == reset_at && !reset_done {
            parser.reset_connection();
            reset_done = true;
        }
        if offset >= body.len() {
            break;
        }
        let mut size = sizes();
        if size == 0 {
            zeros += 1;
            if zeros > 2 {
                size = 1;
                zeros = 0;
            }
        } else {
            zeros = 0;
        }
        let mut end = offset.saturating_add(size).min(body.len());
        if offset < reset_at && reset_at < end {
            end = reset_at;
        }
        parser.push(&body[offset..end]);
        assert!(
            parser.line.len() <= line_cap,
            "the line buffer holds {} bytes, over {line_cap}",
            parser.line.len()
        );
        assert!(
            parser.line.capacity() <= 2 * line_cap.max(8),
            "the line buffer has {} bytes of capacity for a limit of {line_cap}",
            parser.line.capacity()
        );
        assert!(
            parser.data.len() <= limit,
            "the data buffer holds {} bytes, over {limit}",
            parser.data.len()
        );
        assert!(
            parser.data.capacity() <= 2 * limit.max(8),
            "the data buffer has {} bytes of capacity for a limit of {limit}",
            parser.data.capacity()
        );
        if pull_each {
            items.extend(parser.drain());
        }
        offset = end;
    }
    items.extend(parser.drain());
    Parsed {
        items,
        last_event_id: parser.last_event_id().map(String::from),
        id_changes: parser.id_changes(),
    }
}

/// A direct transcription of the HTML standard's event stream interpretation (with this
/// parser's deliberate deviations: no default event type, comments and `retry` reported as
/// items), with no size limit, over the segments between connection resets.
fn reference(segments: &[&[u8]], initial_id: Option<&str>) -> Parsed {
    let mut items = Vec::new();
    let mut id_changes = 0;
    let mut last_id: String = initial_id
        .filter(|id| !id.contains('\0'))
        .unwrap_or("")
        .into();
    for segment in segments {
        let decoded = String::from_utf8_lossy(segment);
        let mut rest: &str = decoded.strip_prefix('\u{feff}').unwrap_or(&decoded);
        let mut data = String::new();
        let mut event = String::new();
        let mut id_buffer = last_id.clone();
        while let Some(pos) = rest.find(['\r', '\n']) {
            let line = &rest[..pos];
            let crlf = rest[pos..].starts_with("\r\n");
            rest = &rest[pos + if crlf { 2 } else { 1 }..];
            if line.is_empty() {
                if last_id != id_buffer {
                    last_id.clone_from(&id_buffer);
                    id_changes += 1;
                }
                if data.is_empty() {
                    event.clear();
                    continue;
                }
                if data.ends_with('\n') {
                    data.pop();
                }
                items.push(Item::Event(Event {
                    event: core::mem::take(&mut event),
                    data: core::mem::take(&mut data),
                    id: (!last_id.is_empty()).then(|| last_id.clone()),
                }));
                continue;
            }
            if let Some(comment) = line.strip_prefix(':') {
                items.push(Item::Comment(
                    comment.strip_prefix(' ').unwrap_or(comment).into(),
                ));
                continue;
            }
            let (name, value) = match line.split_once(':') {
                Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match name {
                "event" => event = value.into(),
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                }
                "id" if !value.contains('\0') => id_buffer = value.into(),
                "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    let ms = value.bytes().fold(0u64, |acc, d| {
                        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                    });
                    items.push(Item::Retry(ms));
                }
                _ => {}
            }
        }
    }
    Parsed {
        items,
        last_event_id: (!last_id.is_empty()).then_some(last_id),
        id_changes,
    }
}

/// Fuzz body (c): the SSE [`Parser`] on arbitrary bytes with an input-chosen event size limit,
/// initial last event id and connection reset point, fed in one chunk, in random chunks
/// (empty ones too) and byte by byte.
///
/// Checks: every chunking gives the same items, last event id and id change count; the line and
/// data buffers stay within the limit (and their capacity within twice it); events respect the
/// limit and carry a non-empty id without NUL; and when no limit can apply, the items equal a
/// direct transcription of the standard's algorithm.
pub fn sse(data: &[u8]) {
    let mut inp = Input::new(data);
    let limit = inp.pick(&[0, 1, 2, 3, 8, 16, 64, 300, DEFAULT_MAX_EVENT_BYTES]);
    let chunk_max = inp.pick(&[1usize, 2, 3, 5, 16, 64, 4096]);
    let mut rng = Rng::new(u64::from(inp.u32()));
    let initial_id = inp.pick(&[None, None, Some("7"), Some("a\0b"), Some("")]);
    let reset_at = usize::from(inp.u16());
    let pull_each = inp.bool();
    let body = inp.rest();
    let whole = feed(body, limit, initial_id, reset_at, false, || usize::MAX);
    let chunked = feed(body, limit, initial_id, reset_at, pull_each, || {
        (rng.next() % (chunk_max as u64 + 1)) as usize
    });
    assert_eq!(chunked, whole, "chunking changed what was parsed");
    if body.len() <= 512 {
        let bytewise = feed(body, limit, initial_id, reset_at, true, || 1);
        assert_eq!(
            bytewise, whole,
            "byte-by-byte feeding changed what was parsed"
        );
    }
    for item in &whole.items {
        match item {
            Item::Event(e) => {
                assert!(e.data.len() < limit, "an event over the limit of {limit}");
                if let Some(id) = &e.id {
                    assert!(!id.is_empty() && !id.contains('\0'), "event id {id:?}");
                }
            }
            Item::Oversized { id: Some(id), .. } => {
                assert!(!id.is_empty() && !id.contains('\0'), "event id {id:?}");
            }
            _ => {}
        }
    }
    let oversized = whole
        .items
        .iter()
        .any(|i| matches!(i, Item::Oversized { .. }));
    if !oversized && body.len() <= limit.saturating_add(LINE_SLACK) {
        let segments: Vec<&[u8]> = if reset_at < body.len() {
            vec![&body[..reset_at], &body[reset_at..]]
        } else {
            vec![body]
        };
        let expected = reference(&segments, initial_id);
        assert_eq!(whole, expected, "the parse differs from the standard's");
    }
}

// ---------------------------------------------------------------------------------------------
// (d) the stream client

/// Stream options from the input: mostly valid, sometimes not.
fn gen_options(inp: &mut Input) -> StreamOptions {
    let key = match inp.u8() % 12 {
        0 => String::new(),
        1 => "rel\nKEYSECRET-0002".into(),
        2 => " rel-KEYSECRET-0003".into(),
        3 => "rel-ключ-KEYSECRET-0004".into(),
        _ => STREAM_KEY.into(),
    };
    let stream_uri = match inp.u8() % 16 {
        0..=7 => "http://stream.test".into(),
        8 => "https://stream.test/".into(),
        9 => "http://user:PWSECRET@stream.test:8080/base/?region=eu#frag".into(),
        10 => "HTTP://Stream.Test:80".into(),
        11 => "http://[::1]:8080".into(),
        12 => "ftp://x".into(),
        13 => String::new(),
        14 => "http://h:99999".into(),
        _ => {
            let len = usize::from(inp.u8() % 32);
            String::from_utf8_lossy(inp.bytes(len)).into_owned()
        }
    };
    StreamOptions {
        key,
        stream_uri,
        initial_retry_delay_ms: inp.pick(&[1_000, 0, 1, 100, 30_000, u64::MAX]),
        read_timeout_ms: inp.pick(&[300_000, 1, 1_000, 60_000, 0]),
        jitter_seed: inp.u64(),
        last_event_id: inp
            .pick(&[
                None,
                None,
                Some("7"),
                Some(""),
                Some("a\0b"),
                Some("a\nb"),
                Some(" x"),
            ])
            .map(String::from),
        prior_failures: inp.pick(&[0, 0, 0, 1, 5, u32::MAX]),
    }
}

/// SSE fragments a body is made of.
const SNIPPETS: &[&[u8]] = &[
    b":hb\n",
    b"retry: 0\n",
    b"retry: 5000\n",
    b"retry: 99999999999999999999999\n",
    b"id: 7\n",
    b"id: a\0b\n",
    b"id\n\n",
    b"event: reconnect\ndata:\n\n",
    b"data: x\n\n",
    b"event: put\ndata: {bad\n\n",
    b"event: put\ndata: {\"path\":\"/\",\"data\":{\"environments\":{}}}\n\n",
    b"\r\n",
    b"\r",
    b"\n",
    b"\xEF\xBB\xBF",
    b"\xEF\xBB",
    b"event: patch\n",
    b"data: ",
];

/// HTTP statuses a response may have.
const STATUSES: [u16; 14] = [
    200, 200, 200, 204, 301, 302, 303, 307, 308, 401, 403, 500, 503, 0,
];

/// What kind of call produced a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Start,
    Response { status: u16 },
    Body,
    Closed,
    Timeout,
}

/// The host's view of the stream client, checking every step.
struct Host {
    client: Client,
    rec: Rec,
    model: Model,
    now: u64,
    options: Option<StreamOptions>,
    /// Whether the host has a request open (from the steps alone).
    open: bool,
    stopped: bool,
    /// Forward clock moves since the last connect.
    elapsed: u64,
    redirects_in_a_row: u32,
    last_deadline: Option<u64>,
    /// Whether an event stream ever opened (then 401/403 is not fatal).
    ever_connected: bool,
    /// Whether the slow curve is in use (401/403 after the stream had worked).
    slow: bool,
}

/// Whether `status` is a redirect the client may follow.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

impl Host {
    fn start(&mut self, options: StreamOptions) {
        let before = self.client.snapshot();
        // The id to resume from: the options', else the running stream's or the restored one.
        let previous = snapshot::decode(&before)
            .expect("a client's own snapshot decodes")
            .last_event_id;
        let expected = options
            .last_event_id
            .clone()
            .or(previous)
            .filter(|id| !id.is_empty() && !id.contains('\0'));
        self.rec.calls.clear();
        let result = self.client.start(&options, self.now, &mut self.rec);
        let calls = self.rec.take();
        self.model.replay(&calls);
        assert!(calls.is_empty(), "start made callbacks: {calls:?}");
        match result {
            Ok(step) => {
                self.stopped = false;
                self.slow = false;
                let id = self.client.stream().and_then(|s| s.last_event_id());
                assert_eq!(id, expected.as_deref(), "the last event id after a start");
                self.options = Some(options);
                self.check(&step, Kind::Start, None);
            }
            Err(e) => {
                assert!(
                    !(self.rec.check_secrets && e.contains(SECRET)),
                    "an error names the key or a URL password: {e}"
                );
                assert!(
                    self.client.snapshot() == before,
                    "a refused start changed the state (its last event id?): {e}"
                );
            }
        }
    }

    fn call(&mut self, kind: Kind, f: impl FnOnce(&mut Client, &mut Rec, u64) -> Step) {
        let id_before = self
            .client
            .stream()
            .and_then(|s| s.last_event_id())
            .map(String::from);
        self.rec.calls.clear();
        let step = f(&mut self.client, &mut self.rec, self.now);
        let calls = self.rec.take();
        self.model.replay(&calls);
        self.model.check(self.client.machine());
        if !matches!(kind, Kind::Timeout) {
            assert!(
                !calls.iter().any(|c| matches!(c, Call::KeyExpired(..))),
                "an expiry fired outside on-timeout"
            );
        }
        self.check(&step, kind, id_before);
    }

    fn check(&mut self, step: &Step, kind: Kind, id_before: Option<String>) {
        let stream = self.client.stream();
        if step.disconnect {
            assert!(
                self.open || step.connect.is_some() || step.stop.is_some(),
                "disconnect with nothing open ({kind:?}): {step:?}"
            );
            self.open = false;
        }
        if step.stop.is_some() {
            assert!(
                matches!(kind, Kind::Response { .. }),
                "a stop from {kind:?}"
            );
            self.open = false;
            self.stopped = true;
        }
        if let Kind::Response { status } = kind {
            let handled = step.disconnect || step.stop.is_some() || step.connect.is_some();
            if matches!(status, 401 | 403) && handled {
                // Fatal only before the stream ever worked; after, the slow curve.
                assert_eq!(
                    step.stop.is_some(),
                    !self.ever_connected,
                    "HTTP {status} with ever_connected = {}",
                    self.ever_connected
                );
                self.slow = self.ever_connected;
            }
            if status == 200 && !step.disconnect && self.open {
                self.ever_connected = true;
                self.slow = false;
            }
        }
        if let Some(request) = &step.connect {
            assert!(!self.open, "connect while a request is open ({kind:?})");
            assert!(!self.stopped, "connect after a stop");
            let redirect = matches!(kind, Kind::Response { status } if is_redirect(status));
            if redirect {
                self.redirects_in_a_row += 1;
                assert!(
                    self.redirects_in_a_row <= u32::from(MAX_REDIRECTS),
                    "{} redirects followed in a row",
                    self.redirects_in_a_row
                );
            } else {
                self.redirects_in_a_row = 0;
                let least = if self.slow {
                    SLOW_INITIAL_MS / 2
                } else {
                    MIN_BASE_MS / 2
                };
                if kind != Kind::Start {
                    assert!(
                        self.elapsed >= least,
                        "reconnected {} ms after the last connect (slow curve: {})",
                        self.elapsed,
                        self.slow
                    );
                }
            }
            self.elapsed = 0;
            self.open = true;
            let options = self.options.as_ref().expect("started");
            let headers: Vec<(&str, &str)> = request
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(
                headers.get(..3),
                Some(
                    &[
                        ("Authorization", options.key.as_str()),
                        ("Accept", "text/event-stream"),
                        ("Cache-Control", "no-cache")
                    ][..]
                ),
                "the request headers"
            );
            let id = stream.and_then(|s| s.last_event_id());
            match headers.get(3..) {
                Some([]) => {}
                Some([("Last-Event-ID", value)]) => {
                    assert_eq!(Some(*value), id, "Last-Event-ID is not the last event id");
                    assert!(
                        value
                            .bytes()
                            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
                            && value.trim() == *value,
                        "Last-Event-ID {value:?} is not a valid header value"
                    );
                }
                other => panic!("unexpected headers {other:?}"),
            }
            assert!(
                !(self.rec.check_secrets && request.url.contains(SECRET)),
                "a request URL carries a password: {}",
                request.url
            );
            let base = Url::stream(&options.stream_uri).expect("a started stream has a URL");
            let url = Url::parse(&request.url).expect("the request URL parses");
            assert!(
                base.same_origin(&url),
                "a request to another origin: {}",
                request.url
            );
        }
        if matches!(kind, Kind::Closed) {
            assert!(
                step.connect.is_none() && !step.disconnect,
                "on-closed gave {step:?}"
            );
            self.open = false;
        }
        let is_open = stream.is_some_and(|s| s.is_open());
        assert_eq!(
            self.open, is_open,
            "the host and the client disagree on the connection"
        );
        // Deadlines: the machine's is included; a live stream always has one.
        let machine = self.client.machine().next_deadline();
        if let Some(m) = machine {
            assert!(
                step.next_deadline.is_some_and(|d| d <= m),
                "the step's deadline {:?} misses the machine's {m}",
                step.next_deadline
            );
        }
        if self.stopped {
            assert_eq!(step.next_deadline, machine, "a stopped stream's deadline");
        } else if stream.is_some() {
            assert!(
                step.next_deadline.is_some(),
                "a live stream without a deadline"
            );
        }
        if kind == Kind::Timeout
            && self.now < u64::MAX / 2
            && let Some(d) = step.next_deadline
        {
            assert!(
                d > self.now,
                "on-timeout at {} left the deadline at {d}",
                self.now
            );
        }
        // The last event id: reported when it changed, and then the current one.
        let id_after = stream.and_then(|s| s.last_event_id());
        if let Some(reported) = &step.last_event_id {
            assert_eq!(
                reported.as_str(),
                id_after.unwrap_or(""),
                "the reported last event id"
            );
        } else if kind == Kind::Body {
            assert_eq!(
                id_before.as_deref(),
                id_after,
                "the last event id changed without being reported"
            );
        }
        self.last_deadline = step.next_deadline;
    }

    fn advance(&mut self, to: u64) {
        self.elapsed = self.elapsed.saturating_add(to.saturating_sub(self.now));
        self.now = to;
    }
}

/// Fuzz body (d): the stream client ([`Client::start`], `on_response`, `on_body`, `on_closed`,
/// `on_timeout`, plus `configure`, `on_event`, `tick` and restores on the same client) with
/// arbitrary options, statuses, content types, locations, bodies (raw bytes, SSE fragments and
/// structured events) and times (forward, to the deadline, back).
///
/// Checks: never panics; `disconnect` only with something open; never asks to connect while a
/// request is open or after a stop; no reconnect sooner than half the minimum delay after the
/// last connect (redirects and starts aside); at most [`MAX_REDIRECTS`] redirects in a row; the
/// host's view of the connection always matches [`crate::Stream::is_open`]; every request goes
/// to the stream's origin with the key, the fixed headers and a valid `Last-Event-ID` equal to
/// the last event id; the deadline includes the machine's, exists while the stream lives and is
/// later than `now` after `on-timeout`; a changed last event id is reported, with its value;
/// following the deadlines reconnects a waiting client; the machine invariants of [`events`];
/// no key or URL password reaches a log line.
pub fn stream(data: &[u8]) {
    let check_secrets = !spells_secret(data);
    let mut inp = Input::new(data);
    let mut host = Host {
        client: Client::new(),
        rec: Rec::new(check_secrets),
        model: Model::default(),
        now: T0,
        options: None,
        open: false,
        stopped: false,
        elapsed: 0,
        redirects_in_a_row: 0,
        last_deadline: None,
        ever_connected: false,
        slow: false,
    };
    let setup = inp.u8();
    if setup.is_multiple_of(4) {
        host.client.configure(gen_settings(&mut inp));
    }
    if setup & 0x10 != 0 {
        // Resume from a snapshot (environments, a pending expiry, a last event id), announced.
        let restored = host
            .client
            .restore(&busy_snapshots()[2], true, &mut host.rec);
        let calls = host.rec.take();
        if restored.is_ok() {
            host.model.replay(&calls);
        } else {
            assert!(calls.is_empty(), "a refused restore made callbacks");
        }
        host.model.check(host.client.machine());
    }
    let options = gen_options(&mut inp);
    host.start(options);
    for _ in 0..MAX_OPS {
        if inp.is_empty() {
            break;
        }
        match inp.u8() % 20 {
            0..=2 => {
                let status = match inp.pick(&STATUSES) {
                    0 => inp.u16(),
                    s => s,
                };
                let content_type = inp.pick(&[
                    Some("text/event-stream"),
                    Some("text/event-stream"),
                    Some("TEXT/Event-Stream ; charset=utf-8"),
                    Some("text/html"),
                    Some(""),
                    None,
                ]);
                let location = match inp.u8() % 11 {
                    0 => None,
                    1 => Some("/relay_auto_config?x=1".to_string()),
                    2 => Some("http://stream.test/other".into()),
                    3 => Some("https://stream.test/".into()),
                    4 => Some("//evil.test/".into()),
                    5 => Some(String::new()),
                    6 => Some("http://stream.test:99/".into()),
                    7 => Some("?q".into()),
                    8 => Some("http://user:PWSECRET@stream.test/x".into()),
                    _ => {
                        let len = usize::from(inp.u8() % 24);
                        Some(String::from_utf8_lossy(inp.bytes(len)).into_owned())
                    }
                };
                host.call(Kind::Response { status }, |c, r, now| {
                    c.on_response(status, content_type, location.as_deref(), now, r)
                });
            }
            3..=4 => {
                let len = usize::from(inp.u8());
                let chunk = inp.bytes(len).to_vec();
                host.call(Kind::Body, |c, r, now| c.on_body(&chunk, now, r));
            }
            5..=7 => {
                let mut chunk = Vec::new();
                for _ in 0..1 + inp.u8() % 3 {
                    if inp.bool() {
                        let g = gen_event(&mut inp, host.now);
                        let name = if inp.one_in(8) { "reconnect" } else { g.name };
                        chunk.extend_from_slice(
                            format!("event: {name}\ndata: {}\n\n", g.data).as_bytes(),
                        );
                    } else {
                        chunk.extend_from_slice(inp.pick(SNIPPETS));
                    }
                }
                // Split anywhere: one part now, the rest later (perhaps never).
                let cut = usize::from(inp.u16()) % (chunk.len() + 1);
                let (head, tail) = chunk.split_at(cut);
                let (head, tail) = (head.to_vec(), tail.to_vec());
                host.call(Kind::Body, |c, r, now| c.on_body(&head, now, r));
                if !inp.one_in(4) {
                    host.call(Kind::Body, |c, r, now| c.on_body(&tail, now, r));
                }
            }
            8 => {
                // A literal body chunk (what seeds use): u16 length, bytes.
                let len = usize::from(inp.u16());
                let chunk = inp.bytes(len).to_vec();
                host.call(Kind::Body, |c, r, now| c.on_body(&chunk, now, r));
            }
            9 => {
                let error = inp.pick(&[None, Some("connection reset"), Some("\u{1b}[2J\nboom")]);
                host.call(Kind::Closed, |c, r, now| c.on_closed(error, now, r));
            }
            10..=11 => host.call(Kind::Timeout, |c, r, now| c.on_timeout(now, r)),
            12 => {
                let to = host.now.saturating_add(u64::from(inp.u8()) * 10);
                host.advance(to);
            }
            13 => {
                let to = host.now.saturating_add(u64::from(inp.u16()) * 100);
                host.advance(to);
            }
            14 => {
                host.now = host.now.saturating_sub(u64::from(inp.u16()) * 10);
            }
            15 => {
                // The host sleeps until the deadline; following them reconnects a waiting
                // client (expiry timers may come first).
                let waiting = !host.open && !host.stopped && host.client.stream().is_some();
                let rounds = host.client.machine().pending_timers() + 2;
                for _ in 0..rounds {
                    let Some(d) = host.last_deadline else { break };
                    if d >= u64::MAX / 2 {
                        break;
                    }
                    host.advance(d.max(host.now));
                    host.call(Kind::Timeout, |c, r, now| c.on_timeout(now, r));
                    if host.open || !waiting || inp.bool() {
                        break;
                    }
                }
            }
            16 => {
                let settings = gen_settings(&mut inp);
                host.client.configure(settings);
            }
            17 => {
                let options = if inp.bool() {
                    host.options
                        .clone()
                        .unwrap_or_else(|| gen_options(&mut inp))
                } else {
                    gen_options(&mut inp)
                };
                host.start(options);
            }
            18 => {
                // The client interface on the same state.
                let g = gen_event(&mut inp, host.now);
                host.rec.calls.clear();
                if inp.bool() {
                    host.client
                        .on_event(g.name, &g.data, host.now, &mut host.rec);
                } else {
                    host.client.tick(host.now, &mut host.rec);
                }
                let calls = host.rec.take();
                host.model.replay(&calls);
                host.model.check(host.client.machine());
            }
            _ => {
                // A snapshot round trip, and restoring the client's own state.
                check_roundtrip(&host.client, &host.client.snapshot());
                let bytes = host.client.snapshot();
                host.rec.calls.clear();
                if let Err(e) = host.client.restore(&bytes, false, &mut host.rec) {
                    panic!("a client's own snapshot is refused: {e}");
                }
                assert!(
                    host.rec.take().is_empty(),
                    "a silent restore made callbacks"
                );
                host.model.check(host.client.machine());
            }
        }
    }
    // At the end: a waiting client that the host follows reconnects.
    if !host.open && !host.stopped && host.client.stream().is_some() && host.now < u64::MAX / 4 {
        let rounds = host.client.machine().pending_timers() + 2;
        for _ in 0..rounds {
            let Some(d) = host.last_deadline else { break };
            host.advance(d.max(host.now));
            host.call(Kind::Timeout, |c, r, now| c.on_timeout(now, r));
            if host.open {
                break;
            }
        }
        assert!(
            host.open,
            "a waiting client did not reconnect at its deadlines"
        );
    }
    check_roundtrip(&host.client, &host.client.snapshot());
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// An `events` literal-event operation.
fn literal_event(out: &mut Vec<u8>, name: &str, data: &str) {
    let index = NAMES.iter().position(|n| *n == name).unwrap_or(0);
    out.push(11);
    out.push(index as u8);
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data.as_bytes().get(..usize::from(len)).unwrap_or_default());
}

fn seed_env(id: &str, version: i64, expiring: Option<(&str, u64)>) -> String {
    let expiring = expiring.map_or(String::new(), |(key, ts)| {
        format!(",\"expiring\":{{\"value\":\"{key}\",\"timestamp\":{ts}}}")
    });
    format!(
        "{{\"envId\":\"{id}\",\"envKey\":\"{id}-key\",\"envName\":\"{id} env\",\"mobKey\":\"mob-{id}\",\"projKey\":\"p\",\"projName\":\"P\",\"sdkKey\":{{\"value\":\"sdk-{id}\"{expiring}}},\"defaultTtl\":5,\"secureMode\":true,\"version\":{version}}}"
    )
}

fn seed_put(envs: &[(&str, String)]) -> String {
    let body: Vec<String> = envs.iter().map(|(id, e)| format!("\"{id}\":{e}")).collect();
    format!(
        "{{\"path\":\"/\",\"data\":{{\"environments\":{{{}}}}}}}",
        body.join(",")
    )
}

fn events_seeds() -> Vec<Vec<u8>> {
    let put = seed_put(&[
        ("a", seed_env("a", 1, None)),
        ("b", seed_env("b", 2, Some(("old-b", T0 + 5_000)))),
        ("c", seed_env("c", 3, Some(("old-c", T0 + 1_000)))),
    ]);
    let patch = format!(
        "{{\"path\":\"/environments/a\",\"data\":{}}}",
        seed_env("a", 2, Some(("old-a", T0 + 2_000)))
    );
    let delete = "{\"path\":\"/environments/b\",\"version\":3}";
    let mut story = vec![0];
    literal_event(&mut story, "put", &put);
    literal_event(&mut story, "patch", &patch);
    story.extend_from_slice(&[13, 6]); // tick at the next deadline
    literal_event(&mut story, "delete", delete);
    story.push(19); // fork
    literal_event(
        &mut story,
        "put",
        &seed_put(&[("c", seed_env("c", 4, None))]),
    );
    story.extend_from_slice(&[13, 6, 17]);
    let mut limits = vec![1, 7, 0, 1, 2]; // small limits
    literal_event(&mut limits, "put", &put);
    literal_event(&mut limits, "delete", delete);
    literal_event(
        &mut limits,
        "delete",
        "{\"path\":\"/environments/z\",\"version\":1}",
    );
    literal_event(
        &mut limits,
        "delete",
        "{\"path\":\"/environments/y\",\"version\":1}",
    );
    let mut structured = Vec::new();
    for i in 0..40u8 {
        structured.push(i % 20);
        structured.extend_from_slice(&[i.wrapping_mul(37), i, 5, 9, 250, 1, 3]);
    }
    vec![story, limits, structured]
}

fn restore_seeds() -> Vec<Vec<u8>> {
    let snapshots = busy_snapshots();
    let mut seeds = Vec::new();
    for s in snapshots {
        let mut raw = vec![0, 1, 0, 1];
        raw.extend_from_slice(s);
        seeds.push(raw);
        let mut payload = vec![1, 0, 1, 0, 0];
        payload.extend_from_slice(s.get(snapshot::HEADER_BYTES..).unwrap_or_default());
        seeds.push(payload);
    }
    seeds.push(vec![2, 1, 0, 1, 1, 1, 5, 30, 0, 7, 2, 5, 0, 1]);
    seeds.push(vec![3, 0, 1, 0, 1, 3, 1, 8, 0, 7, 4]);
    seeds
}

fn sse_seeds() -> Vec<Vec<u8>> {
    let bodies: [&[u8]; 4] = [
        b"\xEF\xBB\xBFevent: put\r\ndata: {\"path\":\"/\"}\r\nid: 1\r\n\r\n:hb\nretry: 1000\n\n",
        b"data: a\ndata: b\rid: x\r\n\r\nevent: patch\ndata:  two spaces\n\nid: \0\n\n",
        b"event: delete\ndata: 0123456789abcdef0123456789\n\ndata\n\nretry: 99\n: comment\n",
        b"data: \xe2\x82\nid: 9\n\nevent: e\nevent: f\ndata: x:y: z \n\n\r\r\n",
    ];
    let mut seeds = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let limit = [8u8, 4, 6, 7][i];
        let mut seed = vec![limit, i as u8, 1, 2, 3, 4, i as u8, 10, 0, 1];
        seed.extend_from_slice(body);
        seeds.push(seed);
    }
    seeds
}

fn stream_seeds() -> Vec<Vec<u8>> {
    // options: settings byte (none), key, uri, retry, timeout, seed, id, failures
    let start = [1u8, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let put = seed_put(&[
        ("a", seed_env("a", 1, None)),
        ("b", seed_env("b", 2, Some(("old-b", T0 + 5_000)))),
    ]);
    let body = format!(
        "event: put\ndata: {put}\nid: 1\n\n:hb\nretry: 2000\n\nevent: reconnect\ndata:\n\n"
    );
    let mut story = start.to_vec();
    story.extend_from_slice(&[0, 0, 0, 0]); // 200 event-stream
    story.push(8);
    let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
    story.extend_from_slice(&len.to_le_bytes());
    story.extend_from_slice(body.as_bytes());
    story.extend_from_slice(&[15, 0, 0, 0, 0, 9, 0, 15, 0, 4, 1, 2, 10, 13, 255, 255, 10]);
    let mut redirects = start.to_vec();
    for _ in 0..12 {
        redirects.extend_from_slice(&[0, 4, 0, 1]); // 301 to a relative location
    }
    let mut failures = start.to_vec();
    for _ in 0..6 {
        failures.extend_from_slice(&[0, 11, 0, 0, 15, 0]); // 500, then follow the deadline
    }
    failures.extend_from_slice(&[0, 9, 0, 0]); // 401
    vec![story, redirects, failures]
}
