"""A small but real auto-configuration host in Python around the relay-autoconfig component.

    python -m relay_autoconfig.host [--key KEY] [--stream-uri URI] [--initial-retry-delay DUR]
                                    [--read-timeout DUR] [--component PATH] [--log-level LEVEL]

It connects to ``{STREAM_URI}/relay_auto_config`` with the standard library's ``http.client``
(streaming body, read in a thread), parses the SSE stream, feeds every event to the component,
sleeps until the component's next deadline to call ``tick`` (no polling: one blocking queue wait
with the right timeout), restarts the stream when the component says so, and prints every
handler callback on stdout as one JSON line (the same lines as autoconfig-host). Logs go to
stderr. All component calls happen on the main thread.

Environment: AUTO_CONFIG_KEY, STREAM_URI (default https://stream.launchdarkly.com), LOG_LEVEL,
AUTOCONFIG_COMPONENT. Exit codes: 0 on SIGINT/SIGTERM, 1 when the key is rejected (401/403) at the
first connection, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import re
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import urlsplit

from .backoff import Backoff
from .component import AutoconfigClient, JsonLinesHandler, Runtime, Trap, component_path
from .sse import Event, Oversized, Retry, SseParser

VERSION = "0.1.0"
LEVELS = ["trace", "debug", "info", "warn", "error"]


class _Stop(BaseException):
    """SIGINT/SIGTERM: leave the loop."""


class _Exit(Exception):
    def __init__(self, code: int):
        self.code = code


def duration(text: str) -> float:
    """"500ms", "2s", "5m", "1h" -> seconds."""
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration like 500ms, 2s or 5m, got {text!r}")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


class Host:
    def __init__(self, runtime: Runtime, key: str, stream_uri: str, initial_retry: float,
                 read_timeout: float, log_level: str):
        self.key = key
        self.masked = f"...{key[-4:]}" if len(key) > 4 else "****"
        self.url = urlsplit(stream_uri[:-1] if stream_uri.endswith("/") else stream_uri)
        if self.url.scheme not in ("http", "https") or not self.url.hostname:
            raise ValueError(f"not an http(s) URL: {stream_uri}")
        self.path = f"{self.url.path}/relay_auto_config"
        self.read_timeout = read_timeout
        self.log_level = LEVELS.index(log_level)
        self.client = AutoconfigClient(
            runtime, JsonLinesHandler(self._emit, lambda lv, m: self.log(lv, f"autoconfig: {m}"))
        )
        self.backoff = Backoff(initial=initial_retry)
        self.parser = SseParser()
        self.q: queue.Queue = queue.Queue()
        self.gen = 0  # the current connection's generation; older items are ignored
        self.conn: Optional[http.client.HTTPConnection] = None
        self.ever_connected = False
        self.reconnect_at: Optional[float] = time.monotonic()  # connect at once
        self.read_deadline: Optional[float] = None
        self.tick_at: Optional[int] = None  # the component's next deadline, ms since the epoch
        self.stop = False
        self.busy = False

    # ---- output ----

    def log(self, level: str, message: str) -> None:
        level = "error" if level == "critical" else level
        if LEVELS.index(level) < self.log_level:
            return
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        sys.stderr.write(f"{now} {level.upper():5} {message}\n")
        sys.stderr.flush()

    @staticmethod
    def _emit(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    # ---- signals: never interrupt a component call or a half-written line ----

    def _on_signal(self, signum, _frame) -> None:
        self.stop = True
        if not self.busy:
            raise _Stop()

    def _component(self, f, *args):
        self.busy = True
        try:
            return f(*args)
        finally:
            self.busy = False
            if self.stop:
                raise _Stop()

    # ---- the loop ----

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            while True:
                item = None
                timeout = self._timeout()
                try:
                    item = self.q.get(timeout=timeout)
                except queue.Empty:
                    pass
                if item is not None:
                    self._handle(item)
                self._timers()
        except _Stop:
            self.log("info", "signal received: shutting down")
            return 0
        except _Exit as e:
            return e.code
        finally:
            self._drop()

    def _timeout(self) -> Optional[float]:
        mono = time.monotonic()
        waits = []
        if self.reconnect_at is not None:
            waits.append(self.reconnect_at - mono)
        if self.read_deadline is not None:
            waits.append(self.read_deadline - mono)
        if self.tick_at is not None:
            waits.append(self.tick_at / 1000.0 - time.time())
        return max(0.0, min(waits)) if waits else None

    def _timers(self) -> None:
        if self.tick_at is not None and time.time() * 1000 >= self.tick_at:
            try:
                self.tick_at = self._component(self.client.tick, int(time.time() * 1000))
            except Trap as e:
                self.tick_at = None
                self.log("error", f"the component failed ({e}); its state is lost, restarting the stream")
                self._retry()
        mono = time.monotonic()
        if self.read_deadline is not None and mono >= self.read_deadline:
            self.log("warn", "read timeout: no data from the stream")
            self._retry()
        if self.reconnect_at is not None and mono >= self.reconnect_at:
            self.reconnect_at = None
            self._connect()

    def _handle(self, item) -> None:
        kind, gen, value = item
        if gen != self.gen:
            return  # from a connection that was dropped
        if kind == "status":
            if value == 200:
                self.log("info", "connected")
                self.ever_connected = True
                self.backoff.connected(time.monotonic())
                self.backoff.use_slow_curve(False)
                self.parser.reset_connection()
                self.read_deadline = time.monotonic() + self.read_timeout
            elif value in (401, 403):
                if not self.ever_connected:
                    self.log("error", f"invalid auto-configuration key (HTTP {value})")
                    raise _Exit(1)
                self.log("error", f"auto-configuration key rejected (HTTP {value}); keeping the last known state, retrying slowly")
                self.backoff.use_slow_curve(True)
                self._retry()
            else:
                self.log("warn", f"unexpected HTTP status {value}")
                self._retry()
        elif kind == "chunk":
            self.read_deadline = time.monotonic() + self.read_timeout
            for it in self.parser.push(value):
                if isinstance(it, Retry):
                    self.backoff.set_base(it.ms)
                elif isinstance(it, Oversized):
                    self.log("error", f'"{it.event}" event over the size limit; will restart stream')
                    self._retry()
                    return
                elif isinstance(it, Event):
                    try:
                        d = self._component(self.client.on_event, it.event, it.data, int(time.time() * 1000))
                    except Trap as e:
                        self.tick_at = None
                        self.log("error", f"the component failed ({e}); its state is lost, restarting the stream")
                        self._retry()
                        return
                    self.tick_at = d.next_deadline
                    if d.restart == "reconnect-requested":
                        # The server asked for it: reconnect promptly, not counted as a failure.
                        self.log("info", "the server requested a reconnect")
                        self.backoff.reset()
                        self._retry()
                        self.backoff.reset()
                        return
                    if d.restart is not None:
                        self.log("warn", "malformed data; restarting the stream with backoff")
                        self._retry()
                        return
        elif kind == "end":
            self.log("warn", f"stream error: {value}" if value else "the stream ended")
            self._retry()

    # ---- connections ----

    def _connect(self) -> None:
        self.gen += 1
        gen = self.gen
        cls = http.client.HTTPSConnection if self.url.scheme == "https" else http.client.HTTPConnection
        # The socket timeout only bounds connecting and a silent stream; the loop enforces the
        # read timeout itself.
        conn = cls(self.url.hostname, self.url.port, timeout=self.read_timeout + 5)
        self.conn = conn
        headers = {
            "Authorization": self.key,
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
            "User-Agent": f"relay-autoconfig-python/{VERSION}",
        }
        if self.parser.last_event_id:
            headers["Last-Event-ID"] = self.parser.last_event_id
        self.log("info", f"connecting to {self.url.scheme}://{self.url.netloc}{self.path} with key {self.masked}")
        threading.Thread(target=self._reader, args=(gen, conn, headers), daemon=True).start()

    def _reader(self, gen: int, conn: http.client.HTTPConnection, headers: dict) -> None:
        """Runs in a thread: connects and passes the body on, chunk by chunk."""
        try:
            # http.client never follows redirects, so the key goes to this host only.
            conn.request("GET", self.path, headers=headers)
            resp = conn.getresponse()
            content_type = resp.getheader("Content-Type", "")
            if resp.status == 200 and not content_type.strip().lower().startswith("text/event-stream"):
                self.q.put(("end", gen, f"content type {content_type!r} is not text/event-stream"))
                return
            self.q.put(("status", gen, resp.status))
            if resp.status != 200:
                conn.close()
                return
            while gen == self.gen:
                chunk = resp.read1(65536)
                if not chunk:
                    self.q.put(("end", gen, None))
                    break
                self.q.put(("chunk", gen, chunk))
        except Exception as e:  # connection errors, or the socket closed by _drop
            self.q.put(("end", gen, f"{type(e).__name__}: {e}"))
        finally:
            conn.close()

    def _drop(self) -> None:
        """Drops the current connection (its reader thread ends)."""
        self.gen += 1
        self.read_deadline = None
        conn, self.conn = self.conn, None
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _retry(self) -> None:
        """Drops the connection and schedules the next one after the backoff delay."""
        self._drop()
        delay = self.backoff.next_delay(time.monotonic())
        self.log("info", f"reconnecting in {round(delay * 1000)} ms")
        self.reconnect_at = time.monotonic() + delay


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m relay_autoconfig.host", description=__doc__.split("\n\n")[0])
    p.add_argument("--key", default=os.environ.get("AUTO_CONFIG_KEY"))
    p.add_argument("--stream-uri", default=os.environ.get("STREAM_URI", "https://stream.launchdarkly.com"))
    p.add_argument("--initial-retry-delay", type=duration, default=1.0)
    p.add_argument("--read-timeout", type=duration, default=300.0)
    p.add_argument("--component", default=None, help="the .wasm file (default: $AUTOCONFIG_COMPONENT or the built one)")
    p.add_argument("--log-level", choices=LEVELS, default=os.environ.get("LOG_LEVEL", "info"))
    args = p.parse_args(argv)
    if not args.key:
        p.error("no key: give --key or set AUTO_CONFIG_KEY")
    try:
        runtime = Runtime(args.component or component_path())
    except FileNotFoundError as e:
        p.error(str(e))
    try:
        host = Host(runtime, args.key, args.stream_uri, args.initial_retry_delay, args.read_timeout, args.log_level)
    except ValueError as e:
        p.error(str(e))
    return host.run()


if __name__ == "__main__":
    sys.exit(main())
