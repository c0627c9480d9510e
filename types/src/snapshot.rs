//! The snapshot format: the whole state as bytes another program (or language) can read.
//!
//! ```text
//! offset  size  field
//!      0     8  magic: the ASCII bytes "RACSNAP\n"
//!      8     4  format version, u32 little-endian (this is version 1)
//!     12     8  payload length in bytes, u64 little-endian
//!     20     4  CRC-32 (IEEE 802.3, as zlib's crc32) of the payload, u32 little-endian
//!     24     n  payload: UTF-8 JSON (version 1 below)
//! ```
//!
//! Payload, version 1 (every field required, no others allowed):
//!
//! ```json
//! {"environments": [{"envId": "...", "envKey": "...", "envName": "...", "projKey": "...",
//!                    "projName": "...", "sdkKey": "...", "mobKey": "...",
//!                    "expiring": {"key": "...", "timestamp": 0} | null,
//!                    "defaultTtl": 0, "secureMode": false, "version": 1,
//!                    "timerPending": false}],
//!  "tombstones": [{"envId": "...", "version": 1}],
//!  "lastEventId": "..." | null}
//! ```
//!
//! `environments` are the live ones as last accepted (`expiring.timestamp` is the stream's raw
//! value: ms since the Unix epoch, 0 for none; `timerPending` says its `key-expired` has not
//! fired yet), `tombstones` the remembered deletions, oldest first (the order decides which are
//! forgotten first), `lastEventId` the stream's last event id.
//!
//! Evolution: any change to the payload's meaning or fields is a new format version. A reader
//! accepts every version up to its own (the component converts older ones) and refuses newer
//! ones with a clear error, never guessing; within a version, unknown fields are an error.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

/// The first 8 bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"RACSNAP\n";
/// The format version this code writes (and the newest it reads).
pub const VERSION: u32 = 1;
/// The header's size: magic, version, length, checksum.
pub const HEADER_BYTES: usize = 24;

/// One live environment in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapEnv {
    /// `envId`.
    pub env_id: String,
    /// `envKey`.
    pub env_key: String,
    /// `envName`.
    pub env_name: String,
    /// `projKey`.
    pub proj_key: String,
    /// `projName`.
    pub proj_name: String,
    /// `sdkKey`.
    pub sdk_key: String,
    /// `mobKey`.
    pub mob_key: String,
    /// The expiring key as the stream sent it.
    pub expiring: Option<SnapExpiring>,
    /// `defaultTtl`.
    pub default_ttl: i64,
    /// `secureMode`.
    pub secure_mode: bool,
    /// `version`.
    pub version: i64,
    /// Whether the expiring key's `key-expired` is still to come.
    pub timer_pending: bool,
}

/// An expiring key in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapExpiring {
    /// The old SDK key (non-empty).
    pub key: String,
    /// Its expiry, ms since the Unix epoch; 0 for none.
    pub timestamp: u64,
}

/// A remembered deletion in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapTombstone {
    /// The deleted environment's ID.
    pub env_id: String,
    /// The version of the delete.
    pub version: i64,
}

/// The payload of a version 1 snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapState {
    /// Live environments, by ascending ID.
    pub environments: Vec<SnapEnv>,
    /// Deletions, oldest first.
    pub tombstones: Vec<SnapTombstone>,
    /// The stream's last event id.
    pub last_event_id: Option<String>,
}

/// Why a snapshot was refused. The state is unchanged whenever one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// Shorter than its header or its declared length.
    Truncated {
        /// Bytes needed.
        expected: u64,
        /// Bytes given.
        got: u64,
    },
    /// Not a snapshot of this component (wrong magic bytes).
    Foreign,
    /// Written by a newer format version than this component reads.
    Newer(u32),
    /// The payload does not match its checksum, or bytes follow it.
    Corrupt(&'static str),
    /// The payload is not valid (bad JSON, wrong fields, inconsistent content).
    Invalid(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Truncated { expected, got } => {
                write!(f, "the snapshot is truncated: {got} bytes of {expected}")
            }
            SnapshotError::Foreign => f.write_str(
                "not a relay-autoconfig snapshot (it does not start with the RACSNAP magic bytes)",
            ),
            SnapshotError::Newer(v) => write!(
                f,
                "the snapshot has format version {v}; this component reads versions 1 to {VERSION}"
            ),
            SnapshotError::Corrupt(what) => write!(f, "the snapshot is corrupt: {what}"),
            SnapshotError::Invalid(why) => write!(f, "the snapshot is invalid: {why}"),
        }
    }
}

impl core::error::Error for SnapshotError {}

/// A state to snapshot, visited element by element ([`encode_parts`], [`encoded_len`]), so that
/// no copy of the whole state is ever built: a component's snapshot then needs its own size in
/// memory, next to the state, and nothing more.
pub trait Parts {
    /// Calls `f` with each live environment, by ascending ID.
    fn environments(&self, f: &mut dyn FnMut(&SnapEnv));
    /// Calls `f` with each remembered deletion, oldest first.
    fn tombstones(&self, f: &mut dyn FnMut(&SnapTombstone));
    /// The stream's last event id.
    fn last_event_id(&self) -> Option<&str>;
}

impl Parts for SnapState {
    fn environments(&self, f: &mut dyn FnMut(&SnapEnv)) {
        self.environments.iter().for_each(f);
    }

    fn tombstones(&self, f: &mut dyn FnMut(&SnapTombstone)) {
        self.tombstones.iter().for_each(f);
    }

    fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }
}

/// Wraps a payload in the header.
pub fn encode(state: &SnapState) -> Vec<u8> {
    encode_parts(state)
}

/// The snapshot of `parts`: the same bytes as [`encode`] of the same state (the payload is what
/// serde_json writes for a [`SnapState`]), written element by element into one buffer of the
/// exact size, counted first ([`encoded_len`]).
pub fn encode_parts(parts: &dyn Parts) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(parts));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 12]); // the payload's length and checksum, known at the end
    write_payload(parts, &mut |bytes| out.extend_from_slice(bytes));
    let payload_len = (out.len() - HEADER_BYTES) as u64;
    let crc = crc32(&out[HEADER_BYTES..]);
    out[12..20].copy_from_slice(&payload_len.to_le_bytes());
    out[20..24].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The length in bytes of [`encode_parts`] of `parts`, without building it (each element is
/// serialised alone, counted and dropped).
pub fn encoded_len(parts: &dyn Parts) -> usize {
    let mut len = HEADER_BYTES;
    write_payload(parts, &mut |bytes| len += bytes.len());
    len
}

/// Writes the payload of `parts` as pieces to `sink`: the JSON of a [`SnapState`], with its
/// fields in declaration order, built around each element's own JSON.
fn write_payload(parts: &dyn Parts, sink: &mut dyn FnMut(&[u8])) {
    /// Writes `value`'s JSON to `sink` (one element at a time: its buffer is freed at once).
    fn json<T: Serialize + ?Sized>(value: &T, sink: &mut dyn FnMut(&[u8])) {
        // Serialising these types cannot fail (no maps with non-string keys).
        sink(&serde_json::to_vec(value).unwrap_or_default());
    }
    /// Writes the JSON of each element `visit` gives, separated by commas.
    fn items<T: Serialize>(visit: impl FnOnce(&mut dyn FnMut(&T)), sink: &mut dyn FnMut(&[u8])) {
        let mut first = true;
        visit(&mut |item| {
            if !core::mem::take(&mut first) {
                sink(b",");
            }
            json(item, sink);
        });
    }
    sink(b"{\"environments\":[");
    items(|f| parts.environments(f), sink);
    sink(b"],\"tombstones\":[");
    items(|f| parts.tombstones(f), sink);
    sink(b"],\"lastEventId\":");
    json(&parts.last_event_id(), sink);
    sink(b"}");
}

/// Checks the header and the checksum and parses the payload. The content is checked for
/// consistency by the machine that restores it.
pub fn decode(bytes: &[u8]) -> Result<SnapState, SnapshotError> {
    let truncated = |expected: usize| SnapshotError::Truncated {
        expected: expected as u64,
        got: bytes.len() as u64,
    };
    let magic = bytes
        .get(..MAGIC.len())
        .ok_or_else(|| truncated(HEADER_BYTES))?;
    if magic != MAGIC {
        return Err(SnapshotError::Foreign);
    }
    let header = bytes
        .get(..HEADER_BYTES)
        .ok_or_else(|| truncated(HEADER_BYTES))?;
    let field = |range: core::ops::Range<usize>| header.get(range).unwrap_or(&[]);
    let version = u32::from_le_bytes(field(8..12).try_into().unwrap_or([0; 4]));
    let length = u64::from_le_bytes(field(12..20).try_into().unwrap_or([0; 8]));
    let checksum = u32::from_le_bytes(field(20..24).try_into().unwrap_or([0; 4]));
    if version == 0 {
        return Err(SnapshotError::Corrupt("format version 0"));
    }
    if version > VERSION {
        return Err(SnapshotError::Newer(version));
    }
    let payload = bytes.get(HEADER_BYTES..).unwrap_or(&[]);
    if (payload.len() as u64) < length {
        return Err(SnapshotError::Truncated {
            expected: (HEADER_BYTES as u64).saturating_add(length),
            got: bytes.len() as u64,
        });
    }
    if payload.len() as u64 > length {
        return Err(SnapshotError::Corrupt("bytes follow the payload"));
    }
    if crc32(payload) != checksum {
        return Err(SnapshotError::Corrupt("the checksum does not match"));
    }
    serde_json::from_slice(payload).map_err(|e| SnapshotError::Invalid(format!("{e}")))
}

/// CRC-32 (IEEE 802.3, reflected, as zlib), table-driven.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        let index = ((crc ^ u32::from(b)) & 0xFF) as usize;
        crc = TABLE.get(index).copied().unwrap_or(0) ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(id: &str, name: &str, expiring: bool) -> SnapEnv {
        SnapEnv {
            env_id: id.into(),
            env_key: "key".into(),
            env_name: name.into(),
            proj_key: "p".into(),
            proj_name: "Project \"quoted\"".into(),
            sdk_key: "sdk-\u{1}\u{7f}é😀".into(),
            mob_key: "mob".into(),
            expiring: expiring.then(|| SnapExpiring {
                key: "old".into(),
                timestamp: 1_800_000_000_000,
            }),
            default_ttl: -3,
            secure_mode: true,
            version: i64::MAX,
            timer_pending: expiring,
        }
    }

    /// The element-by-element encoding writes exactly what serde_json writes for the whole
    /// state (so snapshots stay byte-identical to those of earlier builds), and its counted
    /// length is its length.
    #[test]
    fn parts_encode_as_the_whole_state_would() {
        let states = [
            SnapState::default(),
            SnapState {
                environments: alloc::vec![env("a", "A", false)],
                tombstones: alloc::vec![],
                last_event_id: Some(String::new()),
            },
            SnapState {
                environments: alloc::vec![env("a", "\n\t\\", true), env("b", "", false)],
                tombstones: alloc::vec![
                    SnapTombstone {
                        env_id: "x".into(),
                        version: 1,
                    },
                    SnapTombstone {
                        env_id: "\u{0}".into(),
                        version: -1,
                    },
                ],
                last_event_id: Some("ev-\"9\"".into()),
            },
        ];
        for state in &states {
            let bytes = encode(state);
            let payload = serde_json::to_vec(state).expect("serialises");
            assert_eq!(&bytes[HEADER_BYTES..], payload.as_slice());
            assert_eq!(encoded_len(state), bytes.len());
            assert_eq!(bytes.capacity(), bytes.len(), "allocated once, exactly");
            assert_eq!(decode(&bytes).expect("decodes"), *state);
            let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
            assert_eq!(len as usize, payload.len());
            let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
            assert_eq!(crc, crc32(&payload));
        }
    }
}
