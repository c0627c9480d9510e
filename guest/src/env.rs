//! Domain types: an environment as the state machine keeps it, and the parameters the handler
//! receives.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

pub use relay_autoconfig_types::{EnvironmentParams, ExpiringKey};

use crate::mask::Masked;
use crate::wire::WireEnv;

/// An environment's fields, borrowed: what [`Environment::new`] stores. Its `Debug` shows keys
/// by their last 4 characters only.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts<'a> {
    /// The environment ID.
    pub env_id: &'a str,
    /// The environment key.
    pub env_key: &'a str,
    /// The environment's display name.
    pub env_name: &'a str,
    /// The project key.
    pub project_key: &'a str,
    /// The project's display name.
    pub project_name: &'a str,
    /// The current SDK key.
    pub sdk_key: &'a str,
    /// The mobile key.
    pub mobile_key: &'a str,
    /// The expiring SDK key as sent and its raw timestamp (ms since the Unix epoch, 0 meaning
    /// "no expiry time"), if its value was non-empty.
    pub expiring: Option<(&'a str, u64)>,
    /// Default TTL in minutes.
    pub default_ttl_minutes: i64,
    /// Whether secure mode is required.
    pub secure_mode: bool,
    /// The configuration version.
    pub version: i64,
}

/// The strings of an environment, in this order (see [`Strings`]).
const ENV_ID: usize = 0;
const ENV_KEY: usize = 1;
const ENV_NAME: usize = 2;
const PROJECT_KEY: usize = 3;
const PROJECT_NAME: usize = 4;
const SDK_KEY: usize = 5;
const MOBILE_KEY: usize = 6;
/// Empty when there is no expiring key.
const EXPIRING_KEY: usize = 7;
const STRINGS: usize = 8;

/// The eight strings of an environment. Which form holds them depends on their total length
/// alone, so equal strings are always held the same way (and compare equal field by field).
#[derive(Clone, PartialEq, Eq)]
enum Strings {
    /// One allocation: the strings one after the other, and where each but the last ends.
    Packed {
        text: Box<str>,
        ends: [u32; STRINGS - 1],
    },
    /// Each string on its own, when together they are longer than `u32::MAX` bytes (possible
    /// only natively: a wasm32 memory is at most 4 GiB).
    Separate(Box<[Box<str>; STRINGS]>),
}

impl Strings {
    /// The strings, packed if together they are at most `max_packed` bytes long.
    fn new(parts: [&str; STRINGS], max_packed: usize) -> Strings {
        let total = parts
            .iter()
            .try_fold(0usize, |sum, s| sum.checked_add(s.len()))
            .filter(|total| *total <= max_packed);
        let Some(total) = total else {
            return Strings::Separate(Box::new(parts.map(Box::from)));
        };
        let mut text = String::with_capacity(total);
        let mut ends = [0u32; STRINGS - 1];
        for (part, end) in parts.iter().zip(ends.iter_mut()) {
            text.push_str(part);
            // At most `total`, which fits: `max_packed` is at most `u32::MAX`.
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        if let Some(last) = parts.last() {
            text.push_str(last);
        }
        Strings::Packed {
            text: text.into_boxed_str(),
            ends,
        }
    }

    /// String number `i` (one of the indices above).
    fn get(&self, i: usize) -> &str {
        match self {
            Strings::Packed { text, ends } => {
                let start = match i.checked_sub(1) {
                    Some(before) => ends.get(before).map_or(0, |&end| end as usize),
                    None => 0,
                };
                let end = ends.get(i).map_or(text.len(), |&end| end as usize);
                text.get(start..end).unwrap_or("")
            }
            Strings::Separate(parts) => parts.get(i).map_or("", |s| s),
        }
    }
}

/// The longest total of strings kept in one allocation: the offsets are `u32`s.
const MAX_PACKED: usize = u32::MAX as usize;

/// An environment as last accepted from the stream. Two of them are equal exactly when the
/// stream sent the same data, which lets a `put` skip unchanged environments silently.
///
/// Compact, as the machine keeps one per environment ID: its strings (most of them short, many
/// empty) share one allocation, read back through the accessors.
#[derive(Clone, PartialEq, Eq)]
pub struct Environment {
    /// ID, env key, env name, project key, project name, SDK key, mobile key, expiring key.
    strings: Strings,
    /// The expiring key's raw timestamp; 0 without an expiring key.
    expiring_at: u64,
    default_ttl_minutes: i64,
    version: i64,
    /// Whether there is an expiring key (the last string).
    has_expiring: bool,
    secure_mode: bool,
}

/// The size of an [`Environment`] at most: a boxed `str`, `u32` offsets and the plain fields.
const COMPACT: usize = if cfg!(target_pointer_width = "32") {
    64
} else {
    80
};
const _: () = assert!(core::mem::size_of::<Environment>() <= COMPACT);

impl From<WireEnv> for Environment {
    fn from(w: WireEnv) -> Self {
        Environment::from(&w)
    }
}

impl From<&WireEnv> for Environment {
    fn from(w: &WireEnv) -> Self {
        let expiring = &w.sdk_key.expiring;
        Environment::new(Parts {
            env_id: &w.env_id,
            env_key: &w.env_key,
            env_name: &w.env_name,
            project_key: &w.proj_key,
            project_name: &w.proj_name,
            sdk_key: &w.sdk_key.value,
            mobile_key: &w.mob_key,
            expiring: (!expiring.value.is_empty())
                .then_some((&*expiring.value, expiring.timestamp)),
            default_ttl_minutes: w.default_ttl,
            secure_mode: w.secure_mode,
            version: w.version,
        })
    }
}

impl Environment {
    /// An environment with these fields.
    pub fn new(parts: Parts<'_>) -> Environment {
        Environment::with_max_packed(parts, MAX_PACKED)
    }

    /// [`Environment::new`], packing strings only up to `max_packed` bytes in total.
    fn with_max_packed(p: Parts<'_>, max_packed: usize) -> Environment {
        let (expiring_key, expiring_at) = p.expiring.unwrap_or(("", 0));
        let strings = [
            p.env_id,
            p.env_key,
            p.env_name,
            p.project_key,
            p.project_name,
            p.sdk_key,
            p.mobile_key,
            expiring_key,
        ];
        Environment {
            strings: Strings::new(strings, max_packed),
            expiring_at,
            default_ttl_minutes: p.default_ttl_minutes,
            version: p.version,
            has_expiring: p.expiring.is_some(),
            secure_mode: p.secure_mode,
        }
    }

    /// Its fields, borrowed.
    pub fn parts(&self) -> Parts<'_> {
        Parts {
            env_id: self.env_id(),
            env_key: self.env_key(),
            env_name: self.env_name(),
            project_key: self.project_key(),
            project_name: self.project_name(),
            sdk_key: self.sdk_key(),
            mobile_key: self.mobile_key(),
            expiring: self.expiring(),
            default_ttl_minutes: self.default_ttl_minutes,
            secure_mode: self.secure_mode,
            version: self.version,
        }
    }

    /// The environment ID.
    pub fn env_id(&self) -> &str {
        self.strings.get(ENV_ID)
    }

    /// The environment key.
    pub fn env_key(&self) -> &str {
        self.strings.get(ENV_KEY)
    }

    /// The environment's display name.
    pub fn env_name(&self) -> &str {
        self.strings.get(ENV_NAME)
    }

    /// The project key.
    pub fn project_key(&self) -> &str {
        self.strings.get(PROJECT_KEY)
    }

    /// The project's display name.
    pub fn project_name(&self) -> &str {
        self.strings.get(PROJECT_NAME)
    }

    /// The current SDK key.
    pub fn sdk_key(&self) -> &str {
        self.strings.get(SDK_KEY)
    }

    /// The mobile key.
    pub fn mobile_key(&self) -> &str {
        self.strings.get(MOBILE_KEY)
    }

    /// The expiring SDK key exactly as sent, if its value was non-empty: the old key and its
    /// raw timestamp (expiry in ms since the Unix epoch, 0 meaning "no expiry time").
    pub fn expiring(&self) -> Option<(&str, u64)> {
        self.has_expiring
            .then(|| (self.strings.get(EXPIRING_KEY), self.expiring_at))
    }

    /// Default TTL in minutes.
    pub fn default_ttl_minutes(&self) -> i64 {
        self.default_ttl_minutes
    }

    /// Whether secure mode is required.
    pub fn secure_mode(&self) -> bool {
        self.secure_mode
    }

    /// The configuration version.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The total length of its strings but the ID, in bytes (what the state-size estimate
    /// counts besides the ID).
    pub(crate) fn strings_len_without_id(&self) -> usize {
        (ENV_KEY..STRINGS).map(|i| self.strings.get(i).len()).sum()
    }

    /// The handler parameters for this environment, carrying `expiring` as the expiring key.
    pub fn params(&self, expiring: Option<ExpiringKey>) -> EnvironmentParams {
        EnvironmentParams {
            env_id: self.env_id().into(),
            env_key: self.env_key().into(),
            env_name: self.env_name().into(),
            project_key: self.project_key().into(),
            project_name: self.project_name().into(),
            sdk_key: self.sdk_key().into(),
            mobile_key: self.mobile_key().into(),
            expiring_sdk_key: expiring,
            default_ttl_minutes: self.default_ttl_minutes,
            secure_mode: self.secure_mode,
            version: self.version,
        }
    }
}

/// `Debug` of the expiring key: its timestamp, the key masked.
struct ExpiringDebug<'a>(&'a str, u64);

impl fmt::Debug for ExpiringDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireExpiry")
            .field("timestamp", &self.1)
            .field("key", &Masked(self.0))
            .finish()
    }
}

impl Parts<'_> {
    /// `Debug` under the name `name`: every field, keys by their last 4 characters only.
    fn debug_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("env_id", &self.env_id)
            .field("env_key", &self.env_key)
            .field("env_name", &self.env_name)
            .field("project_key", &self.project_key)
            .field("project_name", &self.project_name)
            .field(
                "expiring",
                &self.expiring.map(|(key, at)| ExpiringDebug(key, at)),
            )
            .field("default_ttl_minutes", &self.default_ttl_minutes)
            .field("secure_mode", &self.secure_mode)
            .field("version", &self.version)
            .field("sdk_key", &Masked(self.sdk_key))
            .field("mobile_key", &Masked(self.mobile_key))
            .finish()
    }
}

impl fmt::Debug for Parts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug_as("Parts", f)
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parts().debug_as("Environment", f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{WireExpiring, WireSdkKey};

    #[test]
    fn debug_never_shows_a_full_key() {
        let env = Environment::from(WireEnv {
            env_id: "e".into(),
            mob_key: "mob-secret-1111".into(),
            sdk_key: WireSdkKey {
                value: "sdk-secret-2222".into(),
                expiring: WireExpiring {
                    value: "sdk-secret-3333".into(),
                    timestamp: 9,
                },
            },
            ..WireEnv::default()
        });
        let params = env.params(Some(ExpiringKey {
            key: "sdk-secret-3333".into(),
            expires_at: Some(9),
        }));
        let wire = WireEnv {
            mob_key: "mob-secret-1111".into(),
            ..WireEnv::default()
        };
        for text in [
            alloc::format!("{env:?}"),
            alloc::format!("{params:?}"),
            alloc::format!("{wire:?}"),
        ] {
            assert!(!text.contains("secret"), "{text}");
        }
        assert!(alloc::format!("{params:?}").contains("…2222"));
    }

    #[test]
    fn debug_shows_every_field_keys_by_their_tail() {
        let env = Environment::new(Parts {
            env_id: "id",
            env_key: "ek",
            env_name: "en",
            project_key: "pk",
            project_name: "pn",
            sdk_key: "sdk-2222",
            mobile_key: "mob-1111",
            expiring: Some(("old-3333", 9)),
            default_ttl_minutes: 2,
            secure_mode: true,
            version: 3,
        });
        assert_eq!(
            alloc::format!("{env:?}"),
            "Environment { env_id: \"id\", env_key: \"ek\", env_name: \"en\", \
             project_key: \"pk\", project_name: \"pn\", \
             expiring: Some(WireExpiry { timestamp: 9, key: \"…3333\" }), \
             default_ttl_minutes: 2, secure_mode: true, version: 3, \
             sdk_key: \"…2222\", mobile_key: \"…1111\" }"
        );
    }

    #[test]
    fn empty_expiring_value_means_none() {
        let w = WireEnv {
            sdk_key: WireSdkKey {
                value: "k".into(),
                expiring: WireExpiring {
                    value: String::new(),
                    timestamp: 5,
                },
            },
            ..WireEnv::default()
        };
        let env = Environment::from(w);
        assert_eq!(env.expiring(), None);
        // The timestamp of a missing expiring key is not kept: equal to one never sent.
        let plain = Environment::from(WireEnv {
            sdk_key: WireSdkKey {
                value: "k".into(),
                ..WireSdkKey::default()
            },
            ..WireEnv::default()
        });
        assert_eq!(env, plain);
    }

    #[test]
    fn params_copy_every_field() {
        let w = WireEnv {
            env_id: "id".into(),
            env_key: "ek".into(),
            env_name: "en".into(),
            mob_key: "mk".into(),
            proj_key: "pk".into(),
            proj_name: "pn".into(),
            sdk_key: WireSdkKey {
                value: "sk".into(),
                expiring: WireExpiring {
                    value: "old".into(),
                    timestamp: 10_000,
                },
            },
            default_ttl: 2,
            secure_mode: true,
            version: 3,
        };
        let env = Environment::from(w);
        let p = env.params(None);
        assert_eq!(
            (p.env_id.as_str(), p.env_key.as_str(), p.env_name.as_str()),
            ("id", "ek", "en")
        );
        assert_eq!(
            (p.project_key.as_str(), p.project_name.as_str()),
            ("pk", "pn")
        );
        assert_eq!((p.sdk_key.as_str(), p.mobile_key.as_str()), ("sk", "mk"));
        assert_eq!(
            (p.default_ttl_minutes, p.secure_mode, p.version),
            (2, true, 3)
        );
        assert_eq!(env.expiring(), Some(("old", 10_000)));
    }

    /// Distinct fields with some strings empty, some shared, some non-ASCII.
    fn samples() -> alloc::vec::Vec<Parts<'static>> {
        let full = Parts {
            env_id: "e1",
            env_key: "production",
            env_name: "Prödüction",
            project_key: "p",
            project_name: "",
            sdk_key: "sdk-1",
            mobile_key: "mob-1",
            expiring: Some(("sdk-0", 7)),
            default_ttl_minutes: -3,
            secure_mode: true,
            version: i64::MAX,
        };
        alloc::vec![
            Parts::default(),
            full,
            Parts {
                expiring: None,
                ..full
            },
            Parts {
                expiring: Some(("sdk-0", 0)),
                ..full
            },
            Parts {
                expiring: Some(("sdk-1", 7)),
                ..full
            },
            // The same text as `full`, split differently.
            Parts {
                env_id: "e",
                env_key: "1production",
                ..full
            },
            Parts {
                project_name: "p",
                project_key: "",
                ..full
            },
            Parts {
                mobile_key: "mob-1sdk-0",
                expiring: Some(("", 7)),
                ..full
            },
            Parts {
                secure_mode: false,
                ..full
            },
            Parts {
                default_ttl_minutes: 0,
                ..full
            },
            Parts { version: 1, ..full },
        ]
    }

    #[test]
    fn packed_or_separate_every_field_reads_back() {
        for parts in samples() {
            let packed = Environment::new(parts);
            assert!(matches!(packed.strings, Strings::Packed { .. }));
            let without_id: usize = [
                parts.env_key,
                parts.env_name,
                parts.project_key,
                parts.project_name,
                parts.sdk_key,
                parts.mobile_key,
                parts.expiring.map_or("", |(key, _)| key),
            ]
            .iter()
            .map(|s| s.len())
            .sum();
            let separate = Environment::with_max_packed(parts, 3);
            assert_eq!(
                matches!(separate.strings, Strings::Separate(_)),
                parts.env_id.len() + without_id > 3
            );
            for env in [&packed, &separate] {
                assert_eq!(env.parts(), parts);
                assert_eq!(env.version(), parts.version);
                assert_eq!(env.secure_mode(), parts.secure_mode);
                assert_eq!(env.default_ttl_minutes(), parts.default_ttl_minutes);
            }
            assert_eq!(alloc::format!("{packed:?}"), alloc::format!("{separate:?}"));
            assert_eq!(packed.strings_len_without_id(), without_id);
            assert_eq!(separate.strings_len_without_id(), without_id);
        }
    }

    #[test]
    fn equal_exactly_when_every_field_is() {
        let all = samples();
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                let (x, y) = (Environment::new(*a), Environment::new(*b));
                assert_eq!(x == y, i == j, "{a:?} vs {b:?}");
                assert_eq!(x.clone() == y, i == j);
            }
        }
    }
}
