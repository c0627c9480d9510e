//! The log side of one call: the level filter ([`Filtered`]) and the rate limits of the log lines
//! an upstream can repeat without changing any state ([`Limiter`]), Rule 9 of docs/rules.md.
//!
//! Each such line has a [`Kind`] (one per named log function in `log.rs`, one per such line of
//! the stream client). Per kind, at most [`LINES_PER_WINDOW`] lines are sent in a window of
//! [`WINDOW_MS`] of `now`, the window starting at the first line of the kind after the previous
//! window ended. Further lines of the kind in the window are counted, neither formatted nor sent.
//! Once the window has ended, one summary line at their level, `Suppressed N more "<label>"
//! lines in the 60 s from <RFC 3339>`, comes at the next call of any entry point (before anything
//! else it logs) or before the next line of that kind, and the kind's budget is whole again.
//! Lines that report real changes (environments added, updated or removed, expiries, malformed
//! data, connection changes) have no kind and are never limited.
//!
//! Deterministic: the windows run on the `now` every entry point receives (a `now` that went
//! back moves the windows back as much, as the stream client's waits). Per line, O(1) and no
//! allocation; an entry point with no summary due pays one comparison.

use core::fmt;

use crate::env::EnvironmentParams;
use crate::handler::{Handler, Level};
use crate::timestamp::Rfc3339;

/// At most this many log lines of one kind (a line an upstream can repeat without changing any
/// state, Rule 9 of docs/rules.md) are sent per window of [`WINDOW_MS`]; the rest are counted and
/// summed up in one line once the window has ended.
pub const LINES_PER_WINDOW: u32 = 10;

/// The length of a rate-limit window for repeated log lines, in ms of `now` (see
/// [`LINES_PER_WINDOW`]).
pub const WINDOW_MS: u64 = 60_000;

/// Declares [`Kind`], its labels and their count.
macro_rules! kinds {
    ($($(#[doc = $doc:literal])* $kind:ident => $label:literal,)+) => {
        /// A log line an upstream can repeat without changing any state: rate-limited.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Kind {
            $($(#[doc = $doc])* $kind,)+
        }

        impl Kind {
            /// Every kind, in the order summaries are sent.
            const ALL: &[Kind] = &[$(Kind::$kind,)+];

            /// The line's fixed text, with `<...>` for what varies, as summaries quote it.
            pub(crate) fn label(self) -> &'static str {
                match self {
                    $(Kind::$kind => $label,)+
                }
            }
        }
    };
}

kinds! {
    // The state machine (`log.rs`).
    /// Debug `Received "<name>" event (N bytes of data)`, every event.
    ReceivedEvent => "Received <name> event",
    /// Warn `Ignoring unrecognized stream event: ...` (Rule 6).
    UnrecognizedEvent => "Ignoring unrecognized stream event",
    /// Info `Ignoring "<event>" event for unknown path ...` (Rules 1-3).
    IgnoredUnknownPath => "Ignoring <event> event for unknown path",
    /// Warn `Ignoring environment data whose envId ... did not match key ...` (Rules 1, 2).
    EnvIdMismatch => "Ignoring environment data whose envId did not match key",
    /// Info `Ignoring out-of-order delete for environment <id> <names>` (Rule 3).
    IgnoredOutOfOrderDelete => "Ignoring out-of-order delete for environment <id> <names>",
    /// Info `Ignoring out-of-order delete for environment <id> (deleted at version N)` (Rule 3).
    IgnoredOutOfOrderDeleteOfDeleted =>
        "Ignoring out-of-order delete for environment <id> (deleted at version N)",
    /// Debug `Environment <id> was already deleted at version N` (Rule 3).
    AlreadyDeleted => "Environment <id> was already deleted",
    /// Info `Ignoring out-of-order update for environment <id> <names>` (Rule 4).
    IgnoredOutOfOrderUpdate => "Ignoring out-of-order update for environment <id> <names>",
    /// Info `Ignoring out-of-order update for environment <id> (deleted at version N)` (Rule 4).
    IgnoredOutOfOrderUpdateOfDeleted =>
        "Ignoring out-of-order update for environment <id> (deleted at version N)",
    /// Error `Refusing environment <id> version N: the state would take more than ...` (Rule 20).
    RefusedOverStateLimit => "Refusing environment <id>: the state would take more than the limit",
    // The stream client (`stream/mod.rs`, `client.rs`).
    /// Warn `Ignoring a response (HTTP N) while no request is open`.
    ResponseWithoutRequest => "Ignoring a response while no request is open",
    /// Warn `Ignoring N bytes of body while no event stream is open`.
    BodyWithoutStream => "Ignoring bytes of body while no event stream is open",
    /// Debug `Ignoring the end of a connection that was already closed`.
    ClosedWhileClosed => "Ignoring the end of a connection that was already closed",
    /// Warn `Ignoring stream.<call>: the stream client was not started`.
    NotStarted => "Ignoring stream.<call>: the stream client was not started",
    /// Debug `Heartbeat on auto-configuration stream`, every comment line.
    Heartbeat => "Heartbeat on auto-configuration stream",
    /// Debug `The server set the reconnect delay to N ms (base now B ms)`, every `retry:` line.
    RetrySet => "The server set the reconnect delay",
    /// Warn `Ignoring an oversized "<name>" event ...`, an oversized event of another name than
    /// `put`, `patch` or `delete` (Rule 15).
    OversizedIgnored => "Ignoring an oversized <name> event",
}

/// How many kinds there are.
const KINDS: usize = Kind::ALL.len();

/// The window of one kind.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// When the window started (meaningful while `sent` > 0).
    start: u64,
    /// Lines sent in the window; 0: no window open.
    sent: u32,
    /// Lines suppressed in the window.
    suppressed: u64,
    /// The level of the suppressed lines.
    level: Level,
}

impl Budget {
    const FRESH: Budget = Budget {
        start: 0,
        sent: 0,
        suppressed: 0,
        level: Level::Debug,
    };

    /// Whether the window is over at `now`.
    fn ended(&self, now: u64) -> bool {
        self.sent > 0 && now.saturating_sub(self.start) >= WINDOW_MS
    }
}

/// The rate limits of every [`Kind`] (see the module documentation). Kept by the
/// [`Machine`](super::Machine), shared with its stream client; not part of snapshots.
#[derive(Debug, Clone)]
pub(crate) struct Limiter {
    budgets: [Budget; KINDS],
    /// No summary is due before this `now`; `None`: no line suppressed.
    next_summary: Option<u64>,
    /// The latest `now` seen, to notice a clock going back.
    last_now: u64,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            budgets: [Budget::FRESH; KINDS],
            next_summary: None,
            last_now: 0,
        }
    }
}

/// A summary of suppressed lines, sent once their window has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    kind: Kind,
    level: Level,
    count: u64,
    start: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Suppressed {} more \"{}\" {} in the {} s from {}",
            Grouped(self.count),
            self.kind.label(),
            if self.count == 1 { "line" } else { "lines" },
            WINDOW_MS / 1000,
            Rfc3339(self.start)
        )
    }
}

impl Limiter {
    /// Notes `now`: a `now` that went back moves every window back as much.
    fn observe(&mut self, now: u64) {
        if now < self.last_now {
            let back = self.last_now - now;
            for b in self.budgets.iter_mut().filter(|b| b.sent > 0) {
                b.start = b.start.saturating_sub(back);
            }
            self.next_summary = self.next_summary.map(|at| at.saturating_sub(back));
        }
        self.last_now = now;
    }

    /// The next summary due at `now`, by kind order, its window closed; `None` when none is due.
    /// O(1) while none is.
    fn take_due(&mut self, now: u64) -> Option<Summary> {
        if self.next_summary.is_none_or(|at| now < at) {
            return None;
        }
        let mut due = None;
        let mut next = None::<u64>;
        for (&kind, b) in Kind::ALL.iter().zip(self.budgets.iter_mut()) {
            if b.suppressed == 0 {
                continue;
            }
            if due.is_none() && b.ended(now) {
                due = Some(Summary {
                    kind,
                    level: b.level,
                    count: b.suppressed,
                    start: b.start,
                });
                *b = Budget::FRESH;
            } else {
                let end = b.start.saturating_add(WINDOW_MS);
                next = Some(next.map_or(end, |n| n.min(end)));
            }
        }
        self.next_summary = next;
        due
    }

    /// Decides a line of `kind` at `level` and `now`: `Err(())` to suppress it (counted), else
    /// send it, after the summary of the kind's previous window if one is due.
    fn admit(&mut self, kind: Kind, level: Level, now: u64) -> Result<Option<Summary>, ()> {
        let b = &mut self.budgets[kind as usize];
        let mut summary = None;
        if b.ended(now) {
            if b.suppressed > 0 {
                summary = Some(Summary {
                    kind,
                    level: b.level,
                    count: b.suppressed,
                    start: b.start,
                });
            }
            *b = Budget::FRESH;
        }
        if b.sent == 0 {
            b.start = now;
        }
        if b.sent < LINES_PER_WINDOW {
            b.sent += 1;
            return Ok(summary);
        }
        b.suppressed = b.suppressed.saturating_add(1);
        b.level = level;
        let end = b.start.saturating_add(WINDOW_MS);
        self.next_summary = Some(self.next_summary.map_or(end, |n| n.min(end)));
        Err(())
    }
}

/// A count with thousands separators: `99,990`.
struct Grouped(u64);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0u8; 20];
        let mut n = self.0;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in (0..len).rev() {
            write!(f, "{}", char::from(digits[i]))?;
            if i > 0 && i % 3 == 0 {
                f.write_str(",")?;
            }
        }
        Ok(())
    }
}

/// A [`Handler`] that can also take rate-limited lines.
pub(crate) trait Log: Handler {
    /// A line of the rate-limited `kind`; `message` is formatted only if it is sent.
    fn limited(&mut self, kind: Kind, level: Level, message: fmt::Arguments<'_>);
}

/// The log side of one call: passes every callback through, log lines at `min` or above, and
/// the lines of a [`Kind`] as the call's [`Limiter`] allows (without one, only the level counts).
pub(crate) struct Filtered<'a, H> {
    inner: &'a mut H,
    min: Level,
    /// The limiter and the call's `now`.
    limits: Option<(&'a mut Limiter, u64)>,
}

impl<'a, H: Handler> Filtered<'a, H> {
    /// Wraps `inner`, letting log lines at `min` or above through; limited lines are not limited.
    pub(crate) fn new(inner: &'a mut H, min: Level) -> Self {
        Filtered {
            inner,
            min,
            limits: None,
        }
    }

    /// Wraps `inner` for a call at `now`: log lines at `min` or above, limited by `limiter`.
    /// Sends the summaries due at `now` first.
    pub(crate) fn limited_by(
        inner: &'a mut H,
        min: Level,
        limiter: &'a mut Limiter,
        now: u64,
    ) -> Self {
        limiter.observe(now);
        let mut filtered = Filtered {
            inner,
            min,
            limits: Some((limiter, now)),
        };
        filtered.send_due();
        filtered
    }

    /// Sends every summary due.
    fn send_due(&mut self) {
        let Some((limiter, now)) = &mut self.limits else {
            return;
        };
        while let Some(summary) = limiter.take_due(*now) {
            if summary.level >= self.min {
                self.inner.log(summary.level, format_args!("{summary}"));
            }
        }
    }
}

impl<H: Handler> Handler for Filtered<'_, H> {
    fn add_environment(&mut self, params: EnvironmentParams) {
        self.inner.add_environment(params);
    }
    fn update_environment(&mut self, params: EnvironmentParams) {
        self.inner.update_environment(params);
    }
    fn delete_environment(&mut self, env_id: &str) {
        self.inner.delete_environment(env_id);
    }
    fn received_all_environments(&mut self) {
        self.inner.received_all_environments();
    }
    fn key_expired(&mut self, env_id: &str, old_key: &str) {
        self.inner.key_expired(env_id, old_key);
    }
    fn log(&mut self, level: Level, message: fmt::Arguments<'_>) {
        if level >= self.min {
            self.inner.log(level, message);
        }
    }
}

impl<H: Handler> Log for Filtered<'_, H> {
    fn limited(&mut self, kind: Kind, level: Level, message: fmt::Arguments<'_>) {
        if level < self.min {
            return;
        }
        if let Some((limiter, now)) = &mut self.limits {
            match limiter.admit(kind, level, *now) {
                Err(()) => return,
                Ok(Some(summary)) if summary.level >= self.min => {
                    self.inner.log(summary.level, format_args!("{summary}"));
                }
                Ok(_) => {}
            }
        }
        self.inner.log(level, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, text) in [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (99_990, "99,990"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(format!("{}", Grouped(n)), text);
        }
    }

    #[test]
    fn every_kind_has_its_budget() {
        for (i, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
            assert!(!kind.label().contains('"'), "{kind:?}");
        }
    }
}
