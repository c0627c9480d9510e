// Reconnect delays: exponential backoff with jitter (each delay cut by a random 0-50%), a reset
// after a connection that stayed up long enough, a base delay the server may change with
// `retry:`, and a slow curve for authorization failures after the stream had worked.
// Sans-IO: the caller passes the time and the random number.

export class Backoff {
  constructor({
    initialMs = 1000,
    maxMs = 30_000,
    jitterRatio = 0.5,
    resetAfterMs = 60_000,
    minRetryMs = 100,
    slowInitialMs = 5 * 60_000,
    slowMaxMs = 60 * 60_000,
  } = {}) {
    this.config = { initialMs, maxMs, jitterRatio, resetAfterMs, minRetryMs, slowInitialMs, slowMaxMs };
    this.baseMs = Math.min(initialMs, maxMs);
    this.attempts = 0;
    this.connectedAt = null;
    this.slow = false;
  }

  /** A server `retry:` value: the new base delay (clamped), and the failure count resets. */
  setBase(ms) {
    this.baseMs = Math.min(Math.max(ms, this.config.minRetryMs), this.config.maxMs);
    this.attempts = 0;
  }

  /** A connection opened at `now` (ms). */
  connected(now) {
    this.connectedAt = now;
  }

  /** Uses the slow curve (5 min doubling to 1 h) or the normal one; a change resets the count. */
  useSlowCurve(on) {
    if (this.slow !== on) {
      this.slow = on;
      this.attempts = 0;
    }
  }

  reset() {
    this.attempts = 0;
  }

  /** A failure at `now`: how long to wait (ms) before reconnecting. */
  nextDelay(now, random = Math.random()) {
    if (this.connectedAt !== null && now - this.connectedAt >= this.config.resetAfterMs) {
      this.attempts = 0;
    }
    this.connectedAt = null;
    const [start, ceiling] = this.slow
      ? [this.config.slowInitialMs, this.config.slowMaxMs]
      : [this.baseMs, this.config.maxMs];
    const delay = Math.min(start * 2 ** Math.min(this.attempts, 60), ceiling);
    this.attempts++;
    const r = Number.isFinite(random) ? Math.min(Math.max(random, 0), 0.999999) : 0;
    return delay - delay * this.config.jitterRatio * r;
  }
}
