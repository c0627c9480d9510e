"""Reconnect delays: exponential backoff with jitter (each delay cut by a random 0-50%), a reset
after a connection that stayed up long enough, a base delay the server may change with
``retry:``, and a slow curve for authorization failures after the stream had worked. Sans-IO: the
caller passes the time (seconds) and the random number."""

from __future__ import annotations

import math
import random as _random
from typing import Optional


class Backoff:
    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 30.0,
        jitter_ratio: float = 0.5,
        reset_after: float = 60.0,
        min_retry: float = 0.1,
        slow_initial: float = 300.0,
        slow_max: float = 3600.0,
    ):
        self.initial, self.maximum, self.jitter_ratio = initial, maximum, jitter_ratio
        self.reset_after, self.min_retry = reset_after, min_retry
        self.slow_initial, self.slow_max = slow_initial, slow_max
        self.base = min(initial, maximum)
        self.attempts = 0
        self.connected_at: Optional[float] = None
        self.slow = False

    def set_base(self, retry_ms: int) -> None:
        """A server ``retry:`` value: the new base delay (clamped); the failure count resets."""
        self.base = min(max(retry_ms / 1000.0, self.min_retry), self.maximum)
        self.attempts = 0

    def connected(self, now: float) -> None:
        self.connected_at = now

    def use_slow_curve(self, on: bool) -> None:
        if self.slow != on:
            self.slow = on
            self.attempts = 0

    def reset(self) -> None:
        self.attempts = 0

    def next_delay(self, now: float, random: Optional[float] = None) -> float:
        """A failure at ``now``: how long to wait (seconds) before reconnecting."""
        if self.connected_at is not None and now - self.connected_at >= self.reset_after:
            self.attempts = 0
        self.connected_at = None
        start, ceiling = (self.slow_initial, self.slow_max) if self.slow else (self.base, self.maximum)
        delay = min(start * 2 ** min(self.attempts, 60), ceiling)
        self.attempts += 1
        r = _random.random() if random is None else random
        r = 0.0 if math.isnan(r) else min(max(r, 0.0), 0.999999)
        return delay - delay * self.jitter_ratio * r
