//! The records of the WIT `stream-client` interface, as the guest and the hosts use them. Their
//! `Debug` never shows the key in full.

use alloc::string::String;
use alloc::vec::Vec;

use crate::mask::Last4;

/// How the client connects (the WIT `stream-options`).
#[derive(Clone, PartialEq, Eq)]
pub struct StreamOptions {
    /// The auto-configuration key, sent raw in `Authorization`.
    pub key: String,
    /// The stream base URI.
    pub stream_uri: String,
    /// The first reconnect delay in ms (the component raises it to 100).
    pub initial_retry_delay_ms: u64,
    /// Reconnect after this long without a byte, in ms; 0 is refused.
    pub read_timeout_ms: u64,
    /// Seeds the jitter.
    pub jitter_seed: u64,
    /// Resume from this event id.
    pub last_event_id: Option<String>,
    /// Failures the host already saw (component replacements after a trap).
    pub prior_failures: u32,
}

crate::debug_with_masked_keys!(StreamOptions {
    stream_uri, initial_retry_delay_ms, read_timeout_ms, jitter_seed, last_event_id, prior_failures;
    masked: key
});

/// One request to open (the WIT `request`).
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The absolute URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
}

impl core::fmt::Debug for Request {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in &self.headers {
            if name == "Authorization" {
                list.entry(&(name, Last4(value)));
            } else {
                list.entry(&(name, value));
            }
        }
        list.finish()?;
        write!(f, " {}", self.url)
    }
}

/// Why the client stopped for good (the WIT `stop-reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// 401/403 on the first connection.
    InvalidKey,
}

/// What the host must do after a call (the WIT `step`), in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// Close the current connection.
    pub disconnect: bool,
    /// Open this request.
    pub connect: Option<Request>,
    /// Stop for good.
    pub stop: Option<StopReason>,
    /// When to call `on-timeout` next (ms since the Unix epoch).
    pub next_deadline: Option<u64>,
    /// The stream's last event id, when this call changed it (`Some("")`: cleared).
    pub last_event_id: Option<String>,
}
