"""A small but real auto-configuration host in Python: an I/O shell around the component's
sans-IO ``stream-client``.

    python -m relay_autoconfig.host [--key KEY] [--stream-uri URI] [--initial-retry-delay DUR]
                                    [--read-timeout DUR] [--component PATH] [--log-level LEVEL]

The component decides everything (SSE parsing, Last-Event-ID, backoff, redirects, statuses, read
timeout); this shell opens each request it asks for with ``http.client`` (no redirect following;
each response read in its own thread), reports the status and every body chunk as it arrives,
closes a connection when told, sleeps until the next deadline (one blocking queue wait, no
polling) and prints every handler callback on stdout as one JSON line (the same lines as
autoconfig-host). The component runs in batched mode (``StreamClient(batch=..., batch_logs=...)``):
each call's callbacks arrive as one string of JSON lines, written to stdout as is, with one write
and one flush per call, and its log lines as one string too, written to stderr in one write when
the call returns (stamped with that time). Body chunks go in as text (``on-body-text``) where
they are UTF-8. All component calls happen on the main thread.

Environment: AUTO_CONFIG_KEY, STREAM_URI (default https://stream.launchdarkly.com), LOG_LEVEL,
AUTOCONFIG_COMPONENT. Exit codes: 0 on SIGINT/SIGTERM, 1 when the key is refused (401/403) at the
first connection, 2 on bad usage, 3 when the component cannot even start or stdout is closed (the
reader went away), as for autoconfig-host.
"""

from __future__ import annotations

import argparse
import json
import http.client
import os
import queue
import re
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import wasmtime

from . import __version__
from .component import (IncompatibleComponent, InvalidOptions, Request, Runtime, Step, StreamClient,
                        StreamOptions, Trap, component_path)

USER_AGENT = f"relay-autoconfig-python/{__version__}"
LEVELS = ["trace", "debug", "info", "warn", "error"]
_RANK = {level: i for i, level in enumerate(LEVELS)}
_RANK["critical"] = _RANK["error"]
_LABEL = {level: f"{level.upper():5}" for level in LEVELS}
_LABEL["critical"] = _LABEL["error"]
READ_SIZE = 64 * 1024


class _Stop(BaseException):
    """SIGINT/SIGTERM: leave the loop."""


_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_MAX_NANOS = 10**18
_NUMBER = re.compile(r"([0-9]*)(?:\.([0-9]*))?")
_UNIT = re.compile(r"[^0-9.]*")


def duration_ms(text: str) -> int:
    """A duration in Go's time.ParseDuration syntax ("500ms", "1.5s", "1m30s"), not negative ->
    whole milliseconds: the same rules and shared cases (tests/durations.json) as
    autoconfig-host and the Node host."""
    def bad(why: str) -> argparse.ArgumentTypeError:
        return argparse.ArgumentTypeError(why)

    if not text:
        raise bad("the duration is empty: use one like 500ms, 1.5s or 1m30s")
    quoted = json.dumps(text, ensure_ascii=False)
    if text.startswith("-"):
        raise bad(f"{quoted} is negative")
    rest = text[1:] if text.startswith("+") else text
    if rest == "0":
        return 0
    total = 0
    while rest:
        m = _NUMBER.match(rest)
        assert m is not None  # matches the empty string at least
        whole, fraction = m.group(1), m.group(2) or ""
        if not whole and not fraction:
            raise bad(f"{quoted} is invalid: use a duration like 500ms, 1.5s or 1m30s")
        rest = rest[m.end():]
        u = _UNIT.match(rest)
        assert u is not None  # matches the empty string at least
        unit = u.group(0)
        rest = rest[len(unit):]
        if not unit:
            raise bad(f"{quoted} has a missing unit (ns, us, ms, s, m or h)")
        if any(c.isspace() for c in unit):
            raise bad(f"{quoted} is invalid: use a duration like 500ms, 1.5s or 1m30s")
        if unit not in _UNITS:
            raise bad(f"{quoted} has an unknown unit {json.dumps(unit, ensure_ascii=False)} (use ns, us, ms, s, m or h)")
        scale = _UNITS[unit]
        frac = fraction[:18]
        total += int(whole or "0") * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
        if total > _MAX_NANOS:
            raise bad(f"{quoted} is out of range")
    return total // 1_000_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Connection:
    """One request: its reader thread attaches the socket; the main thread may close it at any time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sock: Optional[socket.socket] = None
        self.closed = False

    def attach(self, sock: socket.socket) -> bool:
        with self.lock:
            self.sock = None if self.closed else sock
            return not self.closed

    def close(self) -> None:
        with self.lock:
            self.closed, sock = True, self.sock
        if sock is not None:
            try:  # wakes the reader thread; the plain-socket method also works under TLS
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


class _ComponentLogs:
    """The component's handler in batched mode: what still comes as a call (prefixed
    ``autoconfig:``: a panic message, which the component sends to ``wasi:logging``, and the
    client's own line about a trap) and the ``{"op":"reset"}`` line after a trap. The callbacks
    and the log lines come as batches (``Host.write``, ``Host.log_batch``)."""

    def __init__(self, host: "Host") -> None:
        self.host = host

    def log(self, level: str, message: str) -> None:
        self.host.log(level, message, "autoconfig: ")

    def reset(self) -> None:
        """The component's state was lost (it trapped): ``{"op":"reset"}``."""
        self.host.write('{"op":"reset"}\n')


class Host:
    def __init__(self, runtime: Runtime, options: StreamOptions, log_level: str):
        self.options, self.level = options, LEVELS.index(log_level)
        self._errs: list[str] = []  # stderr lines not written yet
        self._stamp_ms, self._stamp = -1, ""
        self.client = StreamClient(runtime, _ComponentLogs(self), log_level=log_level,
                                   batch=lambda text: self.write(text), batch_logs=self.log_batch)
        self.q: queue.Queue[tuple[_Connection, str, Any]] = queue.Queue()
        self.conn: Optional[_Connection] = None
        self.deadline: Optional[int] = None
        self.failures = 0  # component replacements after a trap
        self.stopping = self.busy = False

    def _stamp_now(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms != self._stamp_ms:
            t = datetime.fromtimestamp(ms // 1000, timezone.utc).replace(microsecond=ms % 1000 * 1000)
            self._stamp_ms, self._stamp = ms, t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self._stamp

    def log(self, level: str, message: str, prefix: str = "") -> None:
        """One line on stderr, stamped now; during a component call, kept until the call
        returns and its callbacks are out."""
        rank = _RANK.get(level)
        if rank is None or rank < self.level:
            return
        self._errs.append(f"{self._stamp_now()} {_LABEL[level]} {prefix}{message}\n")
        if not self.busy:
            self._flush_logs()

    def log_batch(self, text: str) -> None:
        """The component's log lines of one call (``LEVEL MESSAGE`` per line, already at or
        above the log level: the component was configured with it), turned into stderr lines
        all stamped with the time the call returned: four ``str.replace`` over the whole text
        (a message never holds a line break), not a Python step per line. A put of 10,000
        environments logs 10,000 lines: they are written in one write."""
        stamp = self._stamp_now()
        text = "\n" + text
        for level in ("debug", "info", "warn", "error"):
            text = text.replace(f"\n{level} ", f"\n{stamp} {_LABEL[level]} autoconfig: ")
        self._errs.append(text[1:])
        if not self.busy:
            self._flush_logs()

    def _flush_logs(self) -> None:
        if not self._errs:
            return
        errs, self._errs = self._errs, []
        sys.stderr.write("".join(errs))
        sys.stderr.flush()

    #: Set when a write to stdout failed (the reader went away): the run ends with exit 3 after
    #: the current call, instead of the failure passing for a trap inside the batch sink.
    output_closed = False

    @staticmethod
    def write(text: str) -> None:
        """JSON lines (each ending with a newline) on stdout, in one write, flushed, as UTF-8."""
        if Host.output_closed:
            return
        out = sys.stdout
        buf = getattr(out, "buffer", None)
        try:
            if buf is None:
                out.write(text)
                out.flush()
            else:
                out.flush()  # (nothing else writes to stdout; cheap when empty)
                buf.write(text.encode("utf-8"))
                buf.flush()
        except (OSError, ValueError):  # EPIPE, a closed or failing stdout
            Host.output_closed = True
            try:  # so that the interpreter's exit does not trip on it again
                os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
            except (OSError, ValueError):
                pass

    def _on_signal(self, _signum: int, _frame: Any) -> None:
        self.stopping = True
        if not self.busy:  # never interrupt a component call or a half-written line
            raise _Stop()

    def _call(self, f: Callable[..., Step], *args: Any) -> Step:
        """One component call at the current time; after a trap, a fresh instance is started
        (its first connection waits as after ``failures`` failures, and resumes from the last
        event id)."""
        self.busy = True
        try:
            try:
                step = f(*args, now_ms())
            except Trap:
                self.failures += 1
                self._close()
                self.log("error", f"restarting the stream client on a fresh component (failure {self.failures})")
                step = self.client.start(replace(self.options, prior_failures=self.failures), now_ms())
            if step.last_event_id is not None:  # resume from there if the component is replaced
                self.options = replace(self.options, last_event_id=step.last_event_id)
            return step
        finally:
            self._flush_logs()  # (still busy: a signal does not cut it short)
            self.busy = False
            if self.stopping:
                raise _Stop()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            try:
                step = self._call(self.client.start, self.options)
            except InvalidOptions as e:
                self.log("error", f"invalid option: {e}")
                return 2
            while step.stop is None:
                if Host.output_closed:
                    self.log("error", "cannot write to stdout (the reader went away): exiting")
                    return 3
                if step.disconnect:
                    self._close()
                if step.connect is not None:
                    self._open(step.connect)
                self.deadline = step.next_deadline
                step = self._next()
            return 1 if step.stop == "invalid-key" else 3
        except _Stop:
            self.log("info", "signal received: shutting down")
            return 0
        except Trap as e:
            self.log("error", f"the component fails even at start: {e}")
            return 3
        finally:
            self._close()

    def _next(self) -> Step:
        """Waits for the next thing to report: I/O from the open request, or the deadline."""
        while True:
            # Capped so that a far deadline never overflows the wait; waking early is harmless.
            timeout = None if self.deadline is None else min(600.0, max(0.0, (self.deadline - now_ms()) / 1000))
            try:
                conn, kind, value = self.q.get(timeout=timeout)
            except queue.Empty:
                return self._call(self.client.on_timeout)
            if conn is not self.conn:
                continue  # from a connection already closed
            if kind == "response":
                return self._call(self.client.on_response, *value)
            if kind == "body":
                return self._call(self.client.on_body, value)
            self.conn = None
            return self._call(self.client.on_closed, value)

    def _open(self, request: Request) -> None:
        self._close()
        self.conn = conn = _Connection()
        self.log("debug", f"opening {request.url}")
        threading.Thread(target=self._read, args=(conn, request), daemon=True).start()

    def _close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def _read(self, conn: _Connection, request: Request) -> None:
        """Runs in a thread: sends the request and passes the response on, chunk by chunk."""
        url = urlsplit(request.url)
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        # The socket timeout only bounds a hung connect or read; the component's own read
        # timeout normally ends a silent connection first.
        http_conn = cls(url.hostname or "", url.port, timeout=self.options.read_timeout_ms / 1000 + 10)
        try:
            http_conn.connect()
            if not conn.attach(http_conn.sock):
                return
            # http.client never follows redirects: a 3xx goes to the component like any status.
            http_conn.putrequest("GET", (url.path or "/") + (f"?{url.query}" if url.query else ""),
                                 skip_accept_encoding=True)
            for name, value in request.headers:
                http_conn.putheader(name, value)
            http_conn.putheader("User-Agent", USER_AGENT)
            http_conn.endheaders()
            resp = http_conn.getresponse()
            self.q.put((conn, "response", (resp.status, resp.getheader("Content-Type"), resp.getheader("Location"))))
            while not conn.closed:
                chunk = resp.read1(READ_SIZE)  # whatever has arrived: SSE must not wait for a full buffer
                self.q.put((conn, "body", chunk) if chunk else (conn, "closed", None))
                if not chunk:
                    return
        except Exception as e:  # refused, reset, TLS, DNS, a timeout, or the socket shut by close()
            self.q.put((conn, "closed", f"{type(e).__name__}: {e}"))
        finally:
            http_conn.close()


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m relay_autoconfig.host", description=__doc__.split("\n\n")[0])
    p.add_argument("--key", default=os.environ.get("AUTO_CONFIG_KEY"))
    p.add_argument("--stream-uri", default=os.environ.get("STREAM_URI", "https://stream.launchdarkly.com"))
    p.add_argument("--initial-retry-delay", type=duration_ms, default=1000)
    p.add_argument("--read-timeout", type=duration_ms, default=300_000)
    p.add_argument("--component", default=None, help="the .wasm file (default: $AUTOCONFIG_COMPONENT, else the one inside the package)")
    p.add_argument("--log-level", choices=LEVELS, default=os.environ.get("LOG_LEVEL", "info"))
    args = p.parse_args(argv)
    if not args.key:
        p.error("no key: give --key or set AUTO_CONFIG_KEY")
    try:
        runtime = Runtime(args.component or component_path())
        options = StreamOptions(args.key, args.stream_uri, args.initial_retry_delay, args.read_timeout,
                                jitter_seed=secrets.randbits(64))
        host = Host(runtime, options, args.log_level)
    except (FileNotFoundError, IncompatibleComponent, wasmtime.WasmtimeError) as e:
        p.error(str(e).splitlines()[0])
    return host.run()


if __name__ == "__main__":
    sys.exit(main())
