//! Wire types: the JSON carried in the `data` of `put`, `patch` and `delete` events, and how it
//! is decoded.
//!
//! Decoding follows the reference decoder (Go's `encoding/json`) to the letter:
//! - field names match case-insensitively, with Go's simple Unicode folding (`envID`, `envId`,
//!   `ENVID`, `Expiring`, and even `ſ` for `s` and the Kelvin sign for `k`);
//! - unknown fields are ignored;
//! - `null` leaves a field as it was (its zero value unless the key appeared before), except
//!   that `null` for the environment map clears it;
//! - when a key appears twice the later one wins, and a repeated object is merged into the
//!   earlier one;
//! - a value of the wrong type (a string for a number, a fraction or an out-of-range number for
//!   an integer, a negative timestamp, a non-object environment) makes the whole message
//!   malformed;
//! - `-0` is 0 for the signed fields (Go's `int`: `version`, `defaultTtl`, the delete's
//!   `version`; `strconv.ParseInt("-0")` is 0) but malformed for the unsigned `timestamp` (an
//!   `ldtime.UnixMillisecondTime`, a `uint64`: `strconv.ParseUint` refuses any sign);
//! - JSON nested deeper than [`MAX_DEPTH`] arrays and objects, anywhere (ignored fields too), makes
//!   the whole message malformed, as Go's scanner checks the whole text before decoding.
//!
//! The decoded structs are plain data; [`crate::env`] turns them into domain types. A `put`'s
//! environments are turned into [`Environment`]s one by one as they are decoded, as a put may
//! carry hundreds of thousands of them.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::env::Environment;

/// An environment as the stream sends it (the reference's `EnvironmentRep`). Its `Debug` shows
/// keys by their last 4 characters only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WireEnv {
    /// `envId`: the environment ID.
    pub env_id: String,
    /// `envKey`.
    pub env_key: String,
    /// `envName`.
    pub env_name: String,
    /// `mobKey`: the mobile key.
    pub mob_key: String,
    /// `projKey`.
    pub proj_key: String,
    /// `projName`.
    pub proj_name: String,
    /// `sdkKey`: the current SDK key and the expiring one.
    pub sdk_key: WireSdkKey,
    /// `defaultTtl`, in minutes (Go `int`: `-0` is 0).
    pub default_ttl: i64,
    /// `secureMode`.
    pub secure_mode: bool,
    /// `version` (Go `int`: `-0` is 0).
    pub version: i64,
}

impl WireEnv {
    /// Back to the zero environment, keeping the strings' buffers.
    fn clear(&mut self) {
        let WireEnv {
            env_id,
            env_key,
            env_name,
            mob_key,
            proj_key,
            proj_name,
            sdk_key: WireSdkKey { value, expiring },
            default_ttl,
            secure_mode,
            version,
        } = self;
        for s in [
            env_id,
            env_key,
            env_name,
            mob_key,
            proj_key,
            proj_name,
            value,
            &mut expiring.value,
        ] {
            s.clear();
        }
        expiring.timestamp = 0;
        *default_ttl = 0;
        *secure_mode = false;
        *version = 0;
    }
}

/// `sdkKey`: `{"value": "...", "expiring": {...}}`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WireSdkKey {
    /// `value`: the current SDK key.
    pub value: String,
    /// `expiring`: the previous key while it is still valid.
    pub expiring: WireExpiring,
}

/// `sdkKey.expiring`: `{"value": "...", "timestamp": MS}`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WireExpiring {
    /// `value`: the old SDK key; empty means there is none.
    pub value: String,
    /// `timestamp`: expiry in ms since the Unix epoch; 0 means no expiry time. Go `uint64`: a
    /// negative number, `-0` included, is malformed.
    pub timestamp: u64,
}

/// The `put` message: `{"path": "/", "data": {"environments": {...}}}`.
#[derive(Debug, Default)]
pub struct PutMessage {
    /// `path`; must be `/` for the put to apply.
    pub path: String,
    /// `data.environments`, each decoded as a [`WireEnv`] and kept as an [`Environment`] (boxed,
    /// ready to be stored); `None` when `data` or `environments` is missing or null.
    pub environments: Option<BTreeMap<Box<str>, Box<Environment>>>,
}

/// The first pass over a `patch` message: only its `path`, the rest skipped unparsed.
#[derive(Debug, Default)]
pub struct PatchPath {
    /// `path`.
    pub path: String,
}

/// The second pass over a `patch` message whose path names an environment: its `data`.
#[derive(Debug, Default)]
pub struct PatchData {
    /// `data`; the zero environment when missing or null.
    pub data: WireEnv,
}

/// The `delete` message: `{"path": "/environments/<id>", "version": N}`.
#[derive(Debug, Default)]
pub struct DeleteMessage {
    /// `path`.
    pub path: String,
    /// `version`; 0 when missing (Go `int`: `-0` is 0).
    pub version: i64,
}

crate::debug_with_masked_keys!(WireEnv {
    env_id, env_key, env_name, proj_key, proj_name, sdk_key, default_ttl, secure_mode, version;
    masked: mob_key
});
crate::debug_with_masked_keys!(WireSdkKey { expiring; masked: value });
crate::debug_with_masked_keys!(WireExpiring { timestamp; masked: value });

/// Why event data could not be decoded.
#[derive(Debug)]
pub struct DecodeError(serde_json::Error);

impl fmt::Display for DecodeError {
    /// The decoder's message with every quoted value masked to its last 4 characters, so a key
    /// sent in the wrong field never reaches a log in full.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = alloc::format!("{}", self.0);
        crate::mask::write_masking_quoted(f, &text)
    }
}

/// Go's decoder refuses JSON nested deeper than this many arrays and objects (its scanner's
/// `maxNestingDepth`); exactly this deep is fine.
pub const MAX_DEPTH: usize = 10_000;

/// Decodes a whole message of type `T` from `json`: one JSON value and nothing after it.
///
/// The text is checked and prepared first by `go_scan` (nesting depth, negative zeros). An
/// unpaired UTF-16 surrogate escape (`"\ud800"`) becomes U+FFFD, as in Go; serde_json rejects
/// it, so such a message is decoded a second time with those escapes replaced.
pub fn decode<T: Fields>(json: &str) -> Result<T, DecodeError> {
    let json = go_scan(json).map_err(DecodeError)?;
    let json = &*json;
    match decode_exact(json) {
        Err(e) => match replace_lone_surrogates(json) {
            Some(fixed) => decode_exact(&fixed).map_err(DecodeError),
            None => Err(DecodeError(e)),
        },
        ok => ok.map_err(DecodeError),
    }
}

fn decode_exact<T: Fields>(json: &str) -> Result<T, serde_json::Error> {
    let mut value = T::default();
    let mut de = serde_json::Deserializer::from_str(json);
    MergeInto(&mut value)
        .deserialize(&mut de)
        .and_then(|()| de.end())?;
    Ok(value)
}

/// Scans `json` once, outside strings, for what serde_json would decode differently from Go:
///
/// - nesting deeper than [`MAX_DEPTH`]: an error, whichever field it is in (serde_json skips an
///   ignored value iteratively, however deep, and limits known fields to 128 levels, which their
///   fixed shape never reaches);
/// - `-0`: serde_json reads it as the float -0.0, like `-0.0`, `-0e5` or `-1e-400`, so a signed
///   field (see [`GoInt`]) could not tell them apart. Every such negative number that is not an
///   integer but reads as zero loses its sign here (`-` becomes a space, so positions in error
///   messages stay right): afterwards only the integer `-0` reads as -0.0. No field accepts a
///   float, so that changes no outcome.
///
/// Borrowed unless a sign was dropped. In invalid JSON the result may differ from Go's error, but
/// it stays an error. Linear time; stops at the first level too deep.
fn go_scan(json: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    let bytes = json.as_bytes();
    let mut rewritten = String::new();
    let mut copied = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = string_end(bytes, i + 1),
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(de::Error::custom(format_args!(
                        "exceeded max depth: nested deeper than {MAX_DEPTH} arrays and objects at byte {i}"
                    )));
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let end = i + bytes[i..]
                    .iter()
                    .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count();
                let number = &json[i..end];
                if number.starts_with('-')
                    && number.contains(['.', 'e', 'E'])
                    && serde_json::from_str::<f64>(number).is_ok_and(|n| n == 0.0)
                {
                    rewritten.push_str(&json[copied..i]);
                    rewritten.push(' ');
                    copied = i + 1;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return Ok(Cow::Borrowed(json));
    }
    rewritten.push_str(&json[copied..]);
    Ok(Cow::Owned(rewritten))
}

/// The index just after the closing quote of the string whose content starts at `start` (the end
/// of the text if it is unterminated); a backslash escapes the byte after it. Skips 8 bytes at a
/// time while they hold neither `"` nor `\\`: most of a `put` is inside strings, and this scan
/// sees every byte of it.
fn string_end(bytes: &[u8], start: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    /// Whether some byte of `w` is zero.
    fn has_zero(w: u64) -> bool {
        w.wrapping_sub(ONES) & !w & HIGHS != 0
    }
    let mut i = start;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let w = u64::from_ne_bytes(word);
            if !has_zero(w ^ QUOTES) && !has_zero(w ^ BACKSLASHES) {
                i += 8;
                continue;
            }
        }
        match bytes[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Rewrites every `\uXXXX` escape holding a UTF-16 surrogate that is not part of a valid
/// high-low pair as `\uFFFD`; `None` when there is none. Other text, escaped backslashes
/// included, is left as it is.
fn replace_lone_surrogates(json: &str) -> Option<String> {
    fn escape_at(bytes: &[u8], i: usize) -> Option<u16> {
        let hex = bytes.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        let digits = core::str::from_utf8(&hex[2..]).ok()?;
        u16::from_str_radix(digits, 16).ok()
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match escape_at(bytes, i) {
            Some(high @ 0xD800..=0xDBFF)
                if matches!(escape_at(bytes, i + 6), Some(0xDC00..=0xDFFF)) =>
            {
                let _ = high;
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.push_str(&json[copied..i]);
                out.push_str("\\uFFFD");
                i += 6;
                copied = i;
            }
            // Any other escape, `\\` included: skip both characters.
            _ => i += 2,
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&json[copied..]);
    Some(out)
}

/// A JSON object decoded field by field into an existing value, as Go decodes into a struct.
pub trait Fields: Default {
    /// What the decoder expected, for error messages.
    const EXPECTING: &'static str;

    /// Decodes the value of field `key` (exact spelling from the wire) from `map` into `self`;
    /// unknown keys must be skipped with `skip`.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Decodes an object (or `null`, which changes nothing) into the value it borrows.
struct MergeInto<'a, T>(&'a mut T);

impl<'de, T: Fields> DeserializeSeed<'de> for MergeInto<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Fields> Visitor<'de> for MergeInto<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            self.0.field(&key, &mut map)?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(String::from(v))))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Whether wire key `key` names field `name` (ASCII, written in any case) under Go's rule: equal
/// after simple Unicode case folding. Besides ASCII case, only `ſ` (U+017F) folds to `s` and the
/// Kelvin sign (U+212A) to `k`.
pub fn field_is(key: &str, name: &str) -> bool {
    let mut wanted = name.bytes();
    for c in key.chars() {
        let folded = match c {
            '\u{017F}' => b's',
            '\u{212A}' => b'k',
            c if c.is_ascii() => (c as u8).to_ascii_lowercase(),
            _ => return false,
        };
        match wanted.next() {
            Some(w) if w.to_ascii_lowercase() == folded => {}
            _ => return false,
        }
    }
    wanted.next().is_none()
}

/// Decodes the next value into `slot` unless it is `null` (Go leaves the field unchanged).
fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut T,
) -> Result<(), A::Error> {
    if let Some(value) = map.next_value::<Option<T>>()? {
        *slot = value;
    }
    Ok(())
}

/// A string field: a string replaces what `slot` holds, reusing its buffer; `null` leaves it.
/// Errors read as for `Option<String>`.
fn set_string<'de, A: MapAccess<'de>>(map: &mut A, slot: &mut String) -> Result<(), A::Error> {
    map.next_value_seed(SetString(slot))
}

/// Decodes a string or `null` into the `String` it borrows (see [`set_string`]).
struct SetString<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for SetString<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for SetString<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As serde's own `String` visitor, so that errors read the same.
        f.write_str("a string")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_string(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(v);
        Ok(())
    }
}

/// A signed integer field (Go `int`), decoded like `strconv.ParseInt`: also `-0`, which serde_json
/// hands over as the float -0.0 (only the integer `-0` does, after [`go_scan`]).
struct GoInt(i64);

impl<'de> Deserialize<'de> for GoInt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GoIntVisitor;
        impl Visitor<'_> for GoIntVisitor {
            type Value = GoInt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("i64")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoInt, E> {
                Ok(GoInt(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoInt, E> {
                i64::try_from(v)
                    .map(GoInt)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoInt, E> {
                if v == 0.0 && v.is_sign_negative() {
                    Ok(GoInt(0))
                } else {
                    Err(E::invalid_type(de::Unexpected::Float(v), &self))
                }
            }
        }
        deserializer.deserialize_i64(GoIntVisitor)
    }
}

/// Decodes the next value into the signed integer `slot` unless it is `null`, like [`set`].
fn set_int<'de, A: MapAccess<'de>>(map: &mut A, slot: &mut i64) -> Result<(), A::Error> {
    if let Some(GoInt(value)) = map.next_value::<Option<GoInt>>()? {
        *slot = value;
    }
    Ok(())
}

/// Decodes the next value, an object or `null`, into `slot`, merging with what it holds.
fn merge<'de, A: MapAccess<'de>, T: Fields>(map: &mut A, slot: &mut T) -> Result<(), A::Error> {
    map.next_value_seed(MergeInto(slot))
}

/// Skips the next value, checking only that it is well-formed JSON.
fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

impl Fields for WireEnv {
    const EXPECTING: &'static str = "an environment object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if field_is(key, "envId") {
            set_string(map, &mut self.env_id)
        } else if field_is(key, "envKey") {
            set_string(map, &mut self.env_key)
        } else if field_is(key, "envName") {
            set_string(map, &mut self.env_name)
        } else if field_is(key, "mobKey") {
            set_string(map, &mut self.mob_key)
        } else if field_is(key, "projKey") {
            set_string(map, &mut self.proj_key)
        } else if field_is(key, "projName") {
            set_string(map, &mut self.proj_name)
        } else if field_is(key, "sdkKey") {
            merge(map, &mut self.sdk_key)
        } else if field_is(key, "defaultTtl") {
            set_int(map, &mut self.default_ttl)
        } else if field_is(key, "secureMode") {
            set(map, &mut self.secure_mode)
        } else if field_is(key, "version") {
            set_int(map, &mut self.version)
        } else {
            skip(map)
        }
    }
}

impl Fields for WireSdkKey {
    const EXPECTING: &'static str = "an sdkKey object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if field_is(key, "value") {
            set_string(map, &mut self.value)
        } else if field_is(key, "expiring") {
            merge(map, &mut self.expiring)
        } else {
            skip(map)
        }
    }
}

impl Fields for WireExpiring {
    const EXPECTING: &'static str = "an expiring key object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if field_is(key, "value") {
            set_string(map, &mut self.value)
        } else if field_is(key, "timestamp") {
            set(map, &mut self.timestamp)
        } else {
            skip(map)
        }
    }
}

impl Fields for PutMessage {
    const EXPECTING: &'static str = "a put message object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if field_is(key, "path") {
            set(map, &mut self.path)
        } else if field_is(key, "data") {
            let mut data = PutData(self.environments.take());
            let result = merge(map, &mut data);
            self.environments = data.0;
            result
        } else {
            skip(map)
        }
    }
}

/// `put`'s `data` object, decoded into the environment map it borrows from [`PutMessage`].
#[derive(Default)]
struct PutData(Option<BTreeMap<Box<str>, Box<Environment>>>);

impl Fields for PutData {
    const EXPECTING: &'static str = "a put data object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if field_is(key, "environments") {
            map.next_value_seed(EnvMapSeed(&mut self.0))
        } else {
            skip(map)
        }
    }
}

/// Decodes the environment map: `null` clears it, an object adds its entries (a repeated key
/// replaces the earlier entry whole, a `null` entry is the zero environment).
struct EnvMapSeed<'a>(&'a mut Option<BTreeMap<Box<str>, Box<Environment>>>);

impl<'de> DeserializeSeed<'de> for EnvMapSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for EnvMapSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object mapping environment IDs to environments")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        *self.0 = None;
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let envs = self.0.get_or_insert_with(BTreeMap::new);
        // One decoded environment at a time, its string buffers reused.
        let mut env = WireEnv::default();
        while let Some(id) = map.next_key::<String>()? {
            env.clear();
            map.next_value_seed(MergeInto(&mut env))?;
            // Boxed: a map filled in ascending order keeps its nodes half full, so a large value
            // would be paid for twice; the machine stores the box as it is.
            envs.insert(id.into_boxed_str(), Box::new(Environment::from(&env)));
        }
        Ok(())
    }
}

impl Fields for PatchPath {
    const EXPECTING: &'static str = "a patch message object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if field_is(key, "path") {
            set(map, &mut self.path)
        } else {
            skip(map)
        }
    }
}

impl Fields for PatchData {
    const EXPECTING: &'static str = "a patch message object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if field_is(key, "data") {
            merge(map, &mut self.data)
        } else {
            skip(map)
        }
    }
}

impl Fields for DeleteMessage {
    const EXPECTING: &'static str = "a delete message object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if field_is(key, "path") {
            set(map, &mut self.path)
        } else if field_is(key, "version") {
            set_int(map, &mut self.version)
        } else {
            skip(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn env(json: &str) -> Result<WireEnv, DecodeError> {
        decode::<PatchData>(&alloc::format!(r#"{{"data":{json}}}"#)).map(|p| p.data)
    }

    /// The byte-at-a-time scan [`string_end`] must agree with.
    fn string_end_bytewise(bytes: &[u8], start: usize) -> usize {
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => return i + 1,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        bytes.len()
    }

    proptest::proptest! {
        #[test]
        fn string_end_agrees_with_the_bytewise_scan(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'"'),
                    proptest::strategy::Just(b'\\'),
                    proptest::strategy::Just(b'a'),
                    proptest::strategy::Just(0u8),
                    proptest::prelude::any::<u8>(),
                ],
                0..80,
            ),
            start in 0usize..80,
        ) {
            let start = start.min(bytes.len());
            proptest::prop_assert_eq!(string_end(&bytes, start), string_end_bytewise(&bytes, start));
        }
    }

    #[test]
    fn string_end_finds_quotes_and_escapes_at_every_offset() {
        for len in 0..24 {
            for at in 0..len {
                let mut text = alloc::vec![b'x'; len];
                text[at] = b'"';
                assert_eq!(string_end(&text, 0), at + 1);
                text[at] = b'\\';
                assert_eq!(string_end(&text, 0), len.max(at + 2).min(len));
                assert_eq!(string_end(&text, 0), string_end_bytewise(&text, 0));
            }
        }
    }

    #[test]
    fn field_names_fold_like_go() {
        assert!(field_is("envId", "envId"));
        assert!(field_is("envID", "envId"));
        assert!(field_is("ENVID", "envId"));
        assert!(field_is("Expiring", "expiring"));
        assert!(field_is("\u{017F}dkKey", "sdkKey"));
        assert!(field_is("envI\u{212A}ey", "envIkey"));
        assert!(!field_is("envI", "envId"));
        assert!(!field_is("envIdx", "envId"));
        assert!(!field_is("énvId", "envId"));
        assert!(!field_is("", "envId"));
    }

    #[test]
    fn decodes_every_field() {
        let e = env(
            r#"{"envID":"e","envKey":"k","envName":"n","mobKey":"m","projKey":"p",
            "projName":"pn","sdkKey":{"value":"s","Expiring":{"value":"o","timestamp":10000}},
            "defaultTtl":2,"secureMode":true,"version":7,"extra":[1,{"x":null}]}"#,
        )
        .expect("valid");
        assert_eq!(e.env_id, "e");
        assert_eq!(e.env_key, "k");
        assert_eq!(e.env_name, "n");
        assert_eq!(e.mob_key, "m");
        assert_eq!(e.proj_key, "p");
        assert_eq!(e.proj_name, "pn");
        assert_eq!(e.sdk_key.value, "s");
        assert_eq!(e.sdk_key.expiring.value, "o");
        assert_eq!(e.sdk_key.expiring.timestamp, 10000);
        assert_eq!(e.default_ttl, 2);
        assert!(e.secure_mode);
        assert_eq!(e.version, 7);
    }

    #[test]
    fn missing_and_null_are_zero_values() {
        let e = env(r#"{"envId":null,"sdkKey":null,"version":null}"#).expect("valid");
        assert_eq!(e, WireEnv::default());
        assert_eq!(env("null").expect("valid"), WireEnv::default());
    }

    #[test]
    fn later_duplicate_wins_and_null_keeps_earlier() {
        let e = env(r#"{"version":1,"VERSION":2,"version":null}"#).expect("valid");
        assert_eq!(e.version, 2);
        let e =
            env(r#"{"sdkKey":{"value":"a"},"sdkKey":{"expiring":{"value":"b"}}}"#).expect("valid");
        assert_eq!(e.sdk_key.value, "a", "a repeated object merges like Go");
        assert_eq!(e.sdk_key.expiring.value, "b");
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_like_go() {
        let e = env(r#"{"envId":"a\ud800b","envName":"\udc00","envKey":"\ud83e\udd80","projName":"\\ud800"}"#)
            .expect("decoded like Go");
        assert_eq!(e.env_id, "a\u{FFFD}b");
        assert_eq!(e.env_name, "\u{FFFD}");
        assert_eq!(e.env_key, "🦀", "a valid pair is kept");
        assert_eq!(
            e.proj_name, "\\ud800",
            "an escaped backslash is not an escape"
        );
        let e = env(r#"{"envId":"\ud800\ud800\udc00\ud800"}"#).expect("decoded");
        assert_eq!(e.env_id, "\u{FFFD}\u{10000}\u{FFFD}");
        assert!(
            env(r#"{"envId":"\ud800","version":"x"}"#).is_err(),
            "other errors still fail"
        );
    }

    #[test]
    fn escaped_keys_match() {
        let e = env(r#"{"env\u0049d":"x"}"#).expect("valid");
        assert_eq!(e.env_id, "x");
    }

    #[test]
    fn string_fields_read_like_option_string() {
        // A string replaces, `null` leaves the earlier value; the error of a wrong type is
        // serde's own for `Option<String>`, at the same position.
        let e = env(r#"{"envKey":"a","envKey":null,"envName":"x","envName":"\u00e9y"}"#)
            .expect("valid");
        assert_eq!((e.env_key.as_str(), e.env_name.as_str()), ("a", "éy"));
        for (bad, field) in [
            (r#"{"envId":5}"#, r#"{"f":5}"#),
            (r#"{"mobKey":[]}"#, r#"{"f":[]}"#),
            (r#"{"sdkKey":{"value":true}}"#, r#"{"f":true}"#),
        ] {
            #[derive(serde::Deserialize, Debug)]
            #[allow(dead_code, reason = "only its error is compared")]
            struct F {
                f: Option<String>,
            }
            let ours = env(bad).expect_err("wrong type").0.to_string();
            let serde = serde_json::from_str::<F>(field)
                .expect_err("wrong type")
                .to_string();
            let (ours, serde) = (
                ours.split(" at line").next(),
                serde.split(" at line").next(),
            );
            assert_eq!(ours, serde, "{bad}");
            assert!(
                ours.is_some_and(|m| m.ends_with("expected a string")),
                "{ours:?}"
            );
        }
    }

    #[test]
    fn put_entries_start_from_the_zero_environment() {
        let m: PutMessage = decode(
            r#"{"path":"/","data":{"environments":{
            "a":{"envId":"a","envKey":"k","envName":"n","mobKey":"m","projKey":"p","projName":"q",
                 "sdkKey":{"value":"s","expiring":{"value":"o","timestamp":5}},
                 "defaultTtl":1,"secureMode":true,"version":2},
            "b":{"envId":"b"},
            "c":null}}}"#,
        )
        .expect("valid");
        let envs = m.environments.expect("present");
        let zero = |id: &str| {
            Environment::from(WireEnv {
                env_id: id.into(),
                ..WireEnv::default()
            })
        };
        assert_eq!(*envs["b"], zero("b"));
        assert_eq!(*envs["c"], zero(""));
        assert_eq!(envs["a"].expiring(), Some(("o", 5)));
    }

    #[test]
    fn wrong_types_are_errors() {
        for bad in [
            r#"{"version":"1"}"#,
            r#"{"version":1.5}"#,
            r#"{"version":1.0}"#,
            r#"{"version":1e2}"#,
            r#"{"version":9223372036854775808}"#,
            r#"{"defaultTtl":true}"#,
            r#"{"secureMode":1}"#,
            r#"{"envId":5}"#,
            r#"{"sdkKey":"abc"}"#,
            r#"{"sdkKey":{"expiring":{"timestamp":-1}}}"#,
            r#"{"sdkKey":{"expiring":{"timestamp":18446744073709551616}}}"#,
            r#"{"sdkKey":{"expiring":[]}}"#,
            "999",
            "[]",
            r#""x""#,
        ] {
            assert!(env(bad).is_err(), "{bad} must be rejected");
        }
        assert_eq!(
            env(r#"{"version":-9223372036854775808}"#)
                .expect("ok")
                .version,
            i64::MIN
        );
        assert_eq!(
            env(r#"{"sdkKey":{"expiring":{"timestamp":18446744073709551615}}}"#)
                .expect("ok")
                .sdk_key
                .expiring
                .timestamp,
            u64::MAX
        );
    }

    #[test]
    fn put_decodes_map_and_detects_missing_parts() {
        let m: PutMessage =
            decode(r#"{"path":"/","data":{"environments":{"b":{"envId":"b"},"a":null}}}"#)
                .expect("valid");
        assert_eq!(m.path, "/");
        let envs = m.environments.expect("present");
        assert_eq!(
            envs.keys().map(|k| &**k).collect::<alloc::vec::Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(*envs["a"], Environment::from(WireEnv::default()));
        let m: PutMessage = decode(r#"{"path":"/"}"#).expect("valid json");
        assert!(m.environments.is_none());
        let m: PutMessage = decode(r#"{"path":"/","data":{"environments":null}}"#).expect("valid");
        assert!(m.environments.is_none());
        let m: PutMessage =
            decode(r#"{"data":{"environments":{"a":{}}},"data":{"environments":{"b":{}}}}"#)
                .expect("valid");
        assert_eq!(m.environments.expect("merged").len(), 2);
        assert!(decode::<PutMessage>(r#"{"path":"/","data":{"environments":{"e":999}}}"#).is_err());
        assert!(decode::<PutMessage>(r#"{"path":"/","data":[]}"#).is_err());
        assert!(decode::<PutMessage>(r#"{"path":"/","data":{"environments":[]}}"#).is_err());
        assert!(decode::<PutMessage>(r#"{"path":5}"#).is_err());
    }

    #[test]
    fn syntax_errors_and_trailing_data_are_errors() {
        for bad in ["", "{", r#"{"oh no"#, "{} {}", "{}x", r#"{"path":"/",}"#] {
            assert!(decode::<DeleteMessage>(bad).is_err(), "{bad:?}");
        }
        let m: DeleteMessage = decode("null").expect("null is an empty message");
        assert_eq!(m.path, "");
    }

    #[test]
    fn patch_path_pass_ignores_bad_data() {
        let p: PatchPath = decode(r#"{"path":"/filters/x","data":999}"#).expect("valid");
        assert_eq!(p.path, "/filters/x");
    }

    #[test]
    fn error_messages_mask_values() {
        let err = env(r#"{"version":"sdk-0123456789abcdef"}"#).expect_err("bad");
        let text = err.to_string();
        assert!(!text.contains("0123456789ab"), "{text}");
        assert!(text.contains("cdef"), "{text}");
    }

    #[test]
    fn deep_nesting_never_overflows_the_stack() {
        // Unknown fields are skipped iteratively, as deep as Go allows (the whole message
        // 10000 levels deep), and no deeper.
        let deep = |levels: usize| {
            alloc::format!(
                r#"{{"data":{{"x":{}{}}}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        assert!(decode::<PatchData>(&deep(MAX_DEPTH - 2)).is_ok());
        assert!(decode::<PatchData>(&deep(MAX_DEPTH - 1)).is_err());
        assert!(decode::<PatchData>(&deep(100_000)).is_err());
        // Known fields have a fixed depth: anything deeper is a type error.
        let deep = alloc::format!(
            r#"{{"data":{{"sdkKey":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(decode::<PatchData>(&deep).is_err());
        let unclosed = "[".repeat(1_000_000);
        assert!(decode::<PatchData>(&unclosed).is_err());
    }
}
