//! Reconnect delay policy for a streaming connection: exponential backoff
//! with jitter, a reset after a connection that stayed up long enough, a base
//! delay the server may change with the SSE `retry:` field, and a slow curve
//! for use after authorization failures.
//!
//! Deterministic and sans-IO: the caller passes the current [`Instant`] and a
//! random number in `[0, 1)`; nothing here reads a clock or a random source.

use std::time::{Duration, Instant};

/// Settings for [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// The base delay before the server sends `retry:` (default 1 s).
    pub initial: Duration,
    /// The longest delay on the normal curve (default 30 s).
    pub max: Duration,
    /// Up to this fraction of each delay is taken off at random (default
    /// 0.5, so each wait is in `(d/2, d]`). Clamped to `[0, 1]`; NaN means 0.
    pub jitter_ratio: f64,
    /// A connection that stayed up at least this long resets the backoff
    /// when it fails (default 60 s).
    pub reset_after: Duration,
    /// The shortest base delay a server `retry:` can set (default 100 ms).
    pub min_retry: Duration,
    /// The first delay on the slow curve (default 5 min).
    pub slow_initial: Duration,
    /// The longest delay on the slow curve (default 1 h).
    pub slow_max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            jitter_ratio: 0.5,
            reset_after: Duration::from_secs(60),
            min_retry: Duration::from_millis(100),
            slow_initial: Duration::from_secs(5 * 60),
            slow_max: Duration::from_secs(60 * 60),
        }
    }
}

/// The largest `f64` below 1.0, the top of the clamped random range.
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

/// Reconnect delay state for one stream.
///
/// The delay before jitter is `min(base × 2^n, max)`, where `n` is the number
/// of failures since the last reset (on the slow curve, `slow_initial` and
/// `slow_max` stand for `base` and `max`). Jitter then takes off
/// `d × jitter_ratio × random`.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The settings.
    config: BackoffConfig,
    /// The base delay of the normal curve (`initial`, or as set by `retry:`).
    base: Duration,
    /// Failures since the last reset.
    attempts: u32,
    /// When the current connection opened, if one is open.
    connected_at: Option<Instant>,
    /// Whether the slow curve is in use.
    slow: bool,
}

impl Backoff {
    /// A fresh policy: base delay `config.initial`, no failures yet, normal
    /// curve.
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            base: config.initial.min(config.max),
            attempts: 0,
            connected_at: None,
            slow: false,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// The current base delay of the normal curve.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// Applies a server `retry:` value (milliseconds): the base delay becomes
    /// `max(retry, min_retry)`, capped at `max`, and the failure count resets.
    pub fn set_base(&mut self, retry_ms: u64) {
        self.base = Duration::from_millis(retry_ms)
            .max(self.config.min_retry)
            .min(self.config.max);
        self.attempts = 0;
    }

    /// Records that a connection opened at `now` (for example on HTTP 200).
    /// If it stays up at least `reset_after` before failing, the failure
    /// count resets at that failure.
    pub fn connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
    }

    /// Records a failure at `now` (a connection attempt failed, or an open
    /// connection ended) and returns how long to wait before reconnecting.
    ///
    /// `random` should be uniform in `[0, 1)`; values outside are clamped
    /// into it and NaN counts as 0. Never panics, however many failures.
    pub fn next_delay(&mut self, now: Instant, random: f64) -> Duration {
        if let Some(since) = self.connected_at.take()
            && now.saturating_duration_since(since) >= self.config.reset_after
        {
            self.attempts = 0;
        }
        let (start, ceiling) = if self.slow {
            (self.config.slow_initial, self.config.slow_max)
        } else {
            (self.base, self.config.max)
        };
        let delay = exponential(start, ceiling, self.attempts);
        self.attempts = self.attempts.saturating_add(1);
        let ratio = clamp_unit(self.config.jitter_ratio).min(1.0);
        delay.saturating_sub(jitter(delay, ratio, clamp_unit(random)))
    }

    /// Switches to the slow curve (`slow_initial` doubling up to `slow_max`),
    /// for use after an authorization failure (401/403) on a stream that had
    /// worked, or back to the normal curve. A change of curve resets the
    /// failure count, so each curve starts from its first delay.
    pub fn use_slow_curve(&mut self, on: bool) {
        if self.slow != on {
            self.slow = on;
            self.attempts = 0;
        }
    }

    /// Whether the slow curve is in use.
    pub fn is_slow(&self) -> bool {
        self.slow
    }

    /// Resets the failure count, so the next delay is the base delay.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// `min(start × 2^n, ceiling)` without overflow.
fn exponential(start: Duration, ceiling: Duration, n: u32) -> Duration {
    let mut delay = start.min(ceiling);
    // Doubling reaches any ceiling from 1 ns within about 100 steps, so
    // this loop is short even for a huge `n`.
    for _ in 0..n {
        if delay >= ceiling || delay.is_zero() {
            break;
        }
        delay = delay.saturating_mul(2).min(ceiling);
    }
    delay
}

/// `delay × ratio × random`, rounded down to whole nanoseconds and kept
/// strictly below `delay × ratio` (for a non-zero jitter), so the wait stays
/// strictly above `delay × (1 − ratio)` even when `random` is just below 1.
/// `ratio` and `random` must be finite and in `[0, 1)`.
fn jitter(delay: Duration, ratio: f64, random: f64) -> Duration {
    // Float conversions and `as` casts saturate (and send NaN to 0), so
    // nothing here can panic; precision loss only matters past 2^53 ns
    // (about 104 days).
    let nanos = delay.as_nanos() as f64;
    let bound = (nanos * ratio).ceil() - 1.0;
    let raw = (nanos * ratio * random).floor();
    let jitter = raw.min(bound).max(0.0) as u128;
    let secs = u64::try_from(jitter / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = u32::try_from(jitter % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, subsec)
}

/// Clamps into `[0, 1)`; NaN becomes 0.
fn clamp_unit(value: f64) -> f64 {
    if value.is_nan() || value <= 0.0 {
        0.0
    } else {
        value.min(BELOW_ONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn defaults() {
        let config = BackoffConfig::default();
        assert_eq!(config.initial, secs(1));
        assert_eq!(config.max, secs(30));
        assert_eq!(config.jitter_ratio, 0.5);
        assert_eq!(config.reset_after, secs(60));
        assert_eq!(config.min_retry, Duration::from_millis(100));
        assert_eq!(config.slow_initial, mins(5));
        assert_eq!(config.slow_max, mins(60));
        let backoff = Backoff::new(config);
        assert_eq!(backoff.attempts(), 0);
        assert_eq!(backoff.base(), secs(1));
        assert!(!backoff.is_slow());
        assert_eq!(backoff.config(), &config);
    }

    #[test]
    fn doubling_sequence_without_jitter() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        let delays: Vec<Duration> = (0..7).map(|_| backoff.next_delay(t0, 0.0)).collect();
        assert_eq!(
            delays,
            vec![
                secs(1),
                secs(2),
                secs(4),
                secs(8),
                secs(16),
                secs(30),
                secs(30)
            ]
        );
        assert_eq!(backoff.attempts(), 7);
    }

    #[test]
    fn jitter_near_one_gives_just_over_half() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        let first = backoff.next_delay(t0, 0.999);
        assert_eq!(first, Duration::from_micros(500_500));
        let second = backoff.next_delay(t0, 0.999);
        assert_eq!(second, Duration::from_millis(1001));
        for full in [4, 8, 16, 30, 30] {
            let delay = backoff.next_delay(t0, 0.999);
            assert!(delay > secs(full) / 2, "{delay:?}");
            assert!(delay < secs(full) / 2 + secs(full) / 500, "{delay:?}");
        }
    }

    #[test]
    fn jitter_stays_in_half_open_range() {
        let t0 = Instant::now();
        for i in 0..1000 {
            let random = f64::from(i) / 1000.0;
            let mut backoff = Backoff::new(BackoffConfig::default());
            let delay = backoff.next_delay(t0, random);
            assert!(
                delay > Duration::from_millis(500) && delay <= secs(1),
                "{random}: {delay:?}"
            );
        }
    }

    #[test]
    fn reset_after_long_connection() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        for _ in 0..4 {
            backoff.next_delay(t0, 0.0);
        }
        backoff.connected(t0);
        assert_eq!(backoff.next_delay(t0 + secs(60), 0.0), secs(1));
        assert_eq!(backoff.next_delay(t0 + secs(61), 0.0), secs(2));
    }

    #[test]
    fn no_reset_after_59_seconds() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        for _ in 0..4 {
            backoff.next_delay(t0, 0.0);
        }
        backoff.connected(t0);
        assert_eq!(backoff.next_delay(t0 + secs(59), 0.0), secs(16));
    }

    #[test]
    fn quick_failures_keep_growing() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..5 {
            backoff.connected(now);
            now += secs(2);
            let delay = backoff.next_delay(now, 0.0);
            delays.push(delay);
            now += delay;
        }
        assert_eq!(delays, vec![secs(1), secs(2), secs(4), secs(8), secs(16)]);
    }

    #[test]
    fn connection_time_is_used_once() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.next_delay(t0, 0.0);
        backoff.connected(t0);
        assert_eq!(backoff.next_delay(t0 + secs(100), 0.0), secs(1));
        // No new connection: the failed reconnect attempt keeps growing.
        assert_eq!(backoff.next_delay(t0 + secs(200), 0.0), secs(2));
    }

    #[test]
    fn clock_going_backwards_does_not_reset_or_panic() {
        let t0 = Instant::now() + secs(1000);
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.next_delay(t0, 0.0);
        backoff.connected(t0);
        assert_eq!(backoff.next_delay(t0 - secs(500), 0.0), secs(2));
    }

    #[test]
    fn set_base_clamps_to_min_retry() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.set_base(50);
        assert_eq!(backoff.base(), Duration::from_millis(100));
        assert_eq!(backoff.next_delay(t0, 0.0), Duration::from_millis(100));
        assert_eq!(backoff.next_delay(t0, 0.0), Duration::from_millis(200));
    }

    #[test]
    fn set_base_clamps_to_max() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.set_base(10_000_000);
        assert_eq!(backoff.base(), secs(30));
        assert_eq!(backoff.next_delay(t0, 0.0), secs(30));
        backoff.set_base(u64::MAX);
        assert_eq!(backoff.next_delay(t0, 0.0), secs(30));
    }

    #[test]
    fn set_base_resets_attempts() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        for _ in 0..3 {
            backoff.next_delay(t0, 0.0);
        }
        assert_eq!(backoff.attempts(), 3);
        backoff.set_base(5000);
        assert_eq!(backoff.attempts(), 0);
        assert_eq!(backoff.next_delay(t0, 0.0), secs(5));
        assert_eq!(backoff.next_delay(t0, 0.0), secs(10));
    }

    #[test]
    fn reset_restarts_curve() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.next_delay(t0, 0.0);
        backoff.next_delay(t0, 0.0);
        backoff.reset();
        assert_eq!(backoff.attempts(), 0);
        assert_eq!(backoff.next_delay(t0, 0.0), secs(1));
    }

    #[test]
    fn slow_curve() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.next_delay(t0, 0.0);
        backoff.next_delay(t0, 0.0);
        backoff.use_slow_curve(true);
        assert!(backoff.is_slow());
        let delays: Vec<Duration> = (0..6).map(|_| backoff.next_delay(t0, 0.0)).collect();
        assert_eq!(
            delays,
            vec![mins(5), mins(10), mins(20), mins(40), mins(60), mins(60)]
        );
        // Asking again for the same curve changes nothing.
        backoff.use_slow_curve(true);
        assert_eq!(backoff.next_delay(t0, 0.0), mins(60));
        // Switching back restores the normal curve from its start.
        backoff.use_slow_curve(false);
        assert_eq!(backoff.next_delay(t0, 0.0), secs(1));
        assert_eq!(backoff.next_delay(t0, 0.0), secs(2));
    }

    #[test]
    fn slow_curve_keeps_server_base_for_later() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.set_base(3000);
        backoff.use_slow_curve(true);
        assert_eq!(backoff.next_delay(t0, 0.0), mins(5));
        backoff.use_slow_curve(false);
        assert_eq!(backoff.next_delay(t0, 0.0), secs(3));
    }

    #[test]
    fn slow_curve_jitter() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.use_slow_curve(true);
        let delay = backoff.next_delay(t0, 0.5);
        assert_eq!(delay, Duration::from_secs(225));
    }

    #[test]
    fn ten_thousand_failures_stay_at_max() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        let mut last = Duration::ZERO;
        for _ in 0..10_000 {
            last = backoff.next_delay(t0, 0.0);
        }
        assert_eq!(last, secs(30));
        assert_eq!(backoff.attempts(), 10_000);
        backoff.use_slow_curve(true);
        for _ in 0..10_000 {
            last = backoff.next_delay(t0, 0.0);
        }
        assert_eq!(last, mins(60));
    }

    #[test]
    fn attempts_saturate() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(BackoffConfig::default());
        backoff.attempts = u32::MAX - 1;
        assert_eq!(backoff.next_delay(t0, 0.0), secs(30));
        assert_eq!(backoff.next_delay(t0, 0.0), secs(30));
        assert_eq!(backoff.attempts(), u32::MAX);
    }

    #[test]
    fn random_is_clamped() {
        let t0 = Instant::now();
        let first = |random: f64| Backoff::new(BackoffConfig::default()).next_delay(t0, random);
        assert_eq!(first(f64::NAN), secs(1));
        assert_eq!(first(-0.5), secs(1));
        assert_eq!(first(f64::NEG_INFINITY), secs(1));
        for high in [1.0, 1.5, f64::INFINITY, f64::MAX] {
            let delay = first(high);
            assert!(
                delay > Duration::from_millis(500) && delay < secs(1),
                "{high}: {delay:?}"
            );
        }
    }

    #[test]
    fn odd_configs_do_not_panic() {
        let t0 = Instant::now();
        for jitter_ratio in [f64::NAN, -1.0, 0.0, 1.0, 2.0, f64::INFINITY] {
            let config = BackoffConfig {
                initial: Duration::ZERO,
                max: Duration::MAX,
                jitter_ratio,
                reset_after: Duration::ZERO,
                min_retry: Duration::MAX,
                slow_initial: Duration::from_nanos(1),
                slow_max: Duration::MAX,
            };
            let mut backoff = Backoff::new(config);
            for _ in 0..200 {
                let delay = backoff.next_delay(t0, 0.7);
                assert_eq!(delay, Duration::ZERO);
            }
            backoff.set_base(1);
            backoff.next_delay(t0, 0.999);
            backoff.use_slow_curve(true);
            for _ in 0..200 {
                backoff.next_delay(t0, 0.999);
            }
            let delay = backoff.next_delay(t0, 0.0);
            assert_eq!(delay, Duration::MAX);
        }
    }

    #[test]
    fn no_jitter_config() {
        let t0 = Instant::now();
        let config = BackoffConfig {
            jitter_ratio: 0.0,
            ..BackoffConfig::default()
        };
        let mut backoff = Backoff::new(config);
        assert_eq!(backoff.next_delay(t0, 0.9), secs(1));
    }
}
