//! Reconnect delays: exponential backoff with jitter, a reset after a connection that stayed up,
//! a base the server may change with `retry:`, and a slow curve after a refused key.
//!
//! All times are whole milliseconds; randomness comes from a seeded [`Jitter`], so the same seed
//! and inputs always give the same delays.

/// The first delay when the host gives none (the reference's 1 s).
pub const DEFAULT_INITIAL_MS: u64 = 1_000;
/// No initial delay is shorter: no setting makes a hot loop.
pub const MIN_BASE_MS: u64 = 100;
/// No base set by a server's `retry:` is shorter: a server cannot make the client reconnect
/// faster than about once a second, even with `retry: 0` and a `reconnect` on every connection.
pub const MIN_RETRY_MS: u64 = 1_000;
/// The longest delay of the normal curve.
pub const MAX_MS: u64 = 30_000;
/// A connection that stayed up this long resets the failure count when it ends.
pub const RESET_AFTER_MS: u64 = 60_000;
/// The first delay of the slow curve (after 401/403 on a stream that had worked).
pub const SLOW_INITIAL_MS: u64 = 5 * 60_000;
/// The longest delay of the slow curve.
pub const SLOW_MAX_MS: u64 = 60 * 60_000;

/// A small deterministic random source (SplitMix64) for the jitter.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A source seeded by the host.
    pub fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `delay` cut by a random 0-50 %: a value in `(delay / 2, delay]` (or 0 for 0).
    pub fn apply(&mut self, delay: u64) -> u64 {
        // cut = delay × r / 2 with r uniform in [0, 1) (53 random bits), so cut < delay / 2.
        let r = u128::from(self.next_u64() >> 11);
        let cut = (u128::from(delay) * r) >> 54;
        delay - u64::try_from(cut).unwrap_or(0)
    }
}

/// The reconnect delay state of one stream.
///
/// The delay before jitter is `min(base × 2^n, max)`, `n` the failures since the last reset (the
/// slow curve uses its own base and ceiling).
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The base of the normal curve (the initial delay, or as set by `retry:`).
    base: u64,
    /// Failures since the last reset.
    attempts: u32,
    /// When the current connection opened (for the reset after [`RESET_AFTER_MS`]).
    connected_at: Option<u64>,
    /// Whether the slow curve is in use.
    slow: bool,
}

impl Backoff {
    /// A policy starting at `initial_ms` (clamped to [`MIN_BASE_MS`]..=[`MAX_MS`]).
    pub fn new(initial_ms: u64) -> Self {
        Backoff {
            base: initial_ms.clamp(MIN_BASE_MS, MAX_MS),
            attempts: 0,
            connected_at: None,
            slow: false,
        }
    }

    /// The base of the normal curve.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether the slow curve is in use.
    pub fn is_slow(&self) -> bool {
        self.slow
    }

    /// A server `retry:` of `ms`: the new base, clamped to [`MIN_RETRY_MS`]..=[`MAX_MS`]. The
    /// failure count is kept, so a server that sends `retry: 0` and drops the connection still
    /// gets a growing delay.
    pub fn set_base(&mut self, ms: u64) {
        self.base = ms.clamp(MIN_RETRY_MS, MAX_MS);
    }

    /// Counts `n` failures, as if they had happened (a host restarting the component after it
    /// failed).
    pub fn assume_failures(&mut self, n: u32) {
        self.attempts = self.attempts.saturating_add(n);
    }

    /// The stream opened at `now`; the normal curve is back.
    pub fn connected(&mut self, now: u64) {
        self.connected_at = Some(now);
        self.use_slow_curve(false);
    }

    /// Switches curve; a change starts the new curve from its first delay.
    pub fn use_slow_curve(&mut self, on: bool) {
        if self.slow != on {
            self.slow = on;
            self.attempts = 0;
        }
    }

    /// Forgets the failures: the next delay is the base delay.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// Moves the connection time back by `ms` (the clock went back by that much).
    pub fn shift_back(&mut self, ms: u64) {
        if let Some(at) = self.connected_at.as_mut() {
            *at = at.saturating_sub(ms);
        }
    }

    /// A failure at `now`: how long to wait before reconnecting, jitter applied.
    pub fn next_delay(&mut self, now: u64, jitter: &mut Jitter) -> u64 {
        if let Some(since) = self.connected_at.take()
            && now.saturating_sub(since) >= RESET_AFTER_MS
        {
            self.attempts = 0;
        }
        let (start, ceiling) = if self.slow {
            (SLOW_INITIAL_MS, SLOW_MAX_MS)
        } else {
            (self.base, MAX_MS)
        };
        let doublings = self.attempts.min(32);
        let delay = start.saturating_mul(1u64 << doublings).min(ceiling);
        self.attempts = self.attempts.saturating_add(1);
        jitter.apply(delay)
    }
}
