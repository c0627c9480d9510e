#!/usr/bin/env python3
"""BENCHMARK BASELINE, NOT THE PRODUCT: a plain single-file Python auto-configuration client.

This is the "what if we just wrote it in Python" reference that bench/run.py measures the real
hosts against (docs/benchmarks.md). It uses the standard library only (http.client, json) and no
WebAssembly. It does the common path of the same job as `autoconfig-host`: connect to
`{stream-uri}/relay_auto_config` with the key in `Authorization`, parse SSE (LF, CRLF or CR line
ends, split anywhere, a BOM, comments, multi-line `data`), decode `put`/`patch`/`delete` with
`json`, keep versions and tombstones per docs/rules.md Rules 1-4, decide the expiring key's
params per Rule 7, and print the same JSON lines as `autoconfig-host` on stdout (one write and
flush per line; adds/updates by ascending id, then deletes, then `{"op":"ready"}` after each put).
At `--log-level info` (the default, as the hosts) it logs the same kind of line per change on
stderr, so the comparison with the hosts is like for like.

What it skips, on purpose (the hard parts the component does): Go decoding edge cases
(case-insensitive field names, `null` keeping a field, merged repeated objects, -0, depth and size
limits, byte-order sorting of non-ASCII ids), expiry timers and `key-expired`, the reconnect backoff
policy (jitter, slow 401 curve, reset after 60 s), redirects, Last-Event-ID, read timeouts, TLS
options, snapshots, state and tombstone limits, log rate limits and key masking. Do not use it as a
client.

    python3 bench/baseline_plain.py [--key KEY] [--stream-uri URI] [--log-level LEVEL]

Environment: AUTO_CONFIG_KEY, STREAM_URI. Exit codes: 0 on SIGINT/SIGTERM, 1 on 401/403 at the
first connection, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4, "none": 5}


class Malformed(Exception):
    """The event's data is not valid for its kind: restart the stream."""


class Restart(Exception):
    """Close the connection and connect again (after `delay` seconds)."""

    def __init__(self, delay: float):
        super().__init__(delay)
        self.delay = delay


# ---- output ----

_out = sys.stdout.buffer
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def emit(obj: dict) -> None:
    _out.write(_dumps(obj).encode() + b"\n")
    _out.flush()


class Log:
    def __init__(self, level: str):
        self.min = LEVELS[level]

    def __call__(self, level: str, message: str) -> None:
        if LEVELS[level] >= self.min:
            now = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
            sys.stderr.write(f"{now} {level.upper():>5} {message}\n")


# ---- decoding (Go's encoding/json semantics only as far as valid data needs) ----

def _str(obj: dict, name: str) -> str:
    v = obj.get(name)
    if v is None:
        return ""
    if type(v) is not str:
        raise Malformed(f"{name} is not a string")
    return v


def _int(obj: dict, name: str) -> int:
    v = obj.get(name)
    if v is None:
        return 0
    if type(v) is not int or not -(2**63) <= v < 2**63:
        raise Malformed(f"{name} is not an int64")
    return v


def decode_env(v: object) -> tuple:
    """ENV -> (envId, envKey, envName, mobKey, projKey, projName, sdkKey, expKey, expTs,
    defaultTtl, secureMode, version)."""
    if v is None:
        v = {}
    if type(v) is not dict:
        raise Malformed("an environment is not an object")
    sdk = v.get("sdkKey") or {}
    if type(sdk) is not dict:
        raise Malformed("sdkKey is not an object")
    exp = sdk.get("expiring") or {}
    if type(exp) is not dict:
        raise Malformed("expiring is not an object")
    ts = exp.get("timestamp")
    if ts is None:
        ts = 0
    elif type(ts) is not int or not 0 <= ts < 2**64:
        raise Malformed("timestamp is not a uint64")
    secure = v.get("secureMode")
    if secure is None:
        secure = False
    elif type(secure) is not bool:
        raise Malformed("secureMode is not a bool")
    return (_str(v, "envId"), _str(v, "envKey"), _str(v, "envName"), _str(v, "mobKey"), _str(v, "projKey"),
            _str(v, "projName"), _str(sdk, "value"), _str(exp, "value"), ts, _int(v, "defaultTtl"), secure,
            _int(v, "version"))


def parse(data: str) -> dict:
    try:
        msg = json.loads(data)
    except ValueError as e:
        raise Malformed(str(e)) from None
    if type(msg) is not dict:
        raise Malformed("not an object")
    return msg


def path_of(msg: dict) -> str:
    path = msg.get("path")
    if path is None:
        return ""
    if type(path) is not str:
        raise Malformed("path is not a string")
    return path


def env_id_from_path(path: str) -> str | None:
    if not path.startswith("/environments/"):
        return None
    env_id = path[len("/environments/"):]
    return env_id if env_id and "/" not in env_id else None


# ---- the state machine (Rules 1-4, and Rule 7's params without timers) ----

class Machine:
    def __init__(self, log: Log):
        self.log = log
        self.live: dict[str, tuple] = {}  # id -> decoded env tuple as last accepted
        self.tombs: dict[str, int] = {}  # id -> deleted at version

    @staticmethod
    def params(e: tuple, now_ms: int) -> dict:
        env_id, env_key, env_name, mob, proj_key, proj_name, sdk, exp_key, exp_ts, ttl, secure, version = e
        expiring = None
        if exp_key and exp_key != sdk:
            if exp_ts == 0:
                expiring = {"key": exp_key, "expiresAt": None}
            elif exp_ts > now_ms:
                expiring = {"key": exp_key, "expiresAt": exp_ts}
        return {"envId": env_id, "envKey": env_key, "envName": env_name, "projectKey": proj_key,
                "projectName": proj_name, "sdkKey": sdk, "mobileKey": mob, "expiringSdkKey": expiring,
                "defaultTtlMinutes": ttl, "secureMode": secure, "version": version}

    def upsert(self, e: tuple, now_ms: int) -> None:
        env_id, version = e[0], e[11]
        names = f"({e[5]} {e[2]})"
        stored = self.live.get(env_id)
        if stored is not None:
            if stored[11] >= version:
                self.log("info", f"Ignoring out-of-order update for environment {env_id} ({stored[5]} {stored[2]})")
                return
            op = "update"
            self.log("info", f"Properties have changed for environment {env_id} {names}")
        else:
            tomb = self.tombs.get(env_id)
            if tomb is not None:
                if tomb >= version:
                    self.log("info", f"Ignoring out-of-order update for environment {env_id} (deleted at version {tomb})")
                    return
                del self.tombs[env_id]
            op = "add"
            self.log("info", f"Added environment {env_id} {names}")
        self.live[env_id] = e
        params = self.params(e, now_ms)
        exp = params["expiringSdkKey"]
        if exp is not None and exp["expiresAt"] is not None:
            when = datetime.fromtimestamp(exp["expiresAt"] / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            self.log("warn", f"Old SDK key ending in {exp['key'][-4:]} for environment {env_id} {names} will expire at {when}")
        emit({"op": op, "env": params})

    def put(self, data: str, now_ms: int) -> None:
        msg = parse(data)
        path = path_of(msg)
        body = msg.get("data")
        if type(body) is not dict:
            raise Malformed("data is missing or not an object")
        envs = body.get("environments")
        if type(envs) is not dict:
            raise Malformed("environments is missing or not an object")
        decoded = {k: decode_env(v) for k, v in envs.items()}  # the whole message first
        if path != "/":
            self.log("info", f'Ignoring "put" event for unknown path {json.dumps(path)}')
            return
        self.log("info", f"Received configuration for {len(decoded)} environment(s)")
        for key in sorted(decoded):
            e = decoded[key]
            if e[0] != key:
                self.log("warn", f'Ignoring environment data whose envId "{e[0]}" did not match key "{key}"')
            elif self.live.get(key) != e:
                self.upsert(e, now_ms)
        for env_id in sorted(i for i in self.live if i not in decoded):
            e = self.live.pop(env_id)
            self.log("info", f"Removed environment {env_id} ({e[5]} {e[2]})")
            emit({"op": "delete", "envId": env_id})
        for env_id in [i for i in self.tombs if i not in decoded]:
            del self.tombs[env_id]
        emit({"op": "ready"})

    def patch(self, data: str, now_ms: int) -> None:
        msg = parse(data)
        path = path_of(msg)
        env_id = env_id_from_path(path)
        if env_id is None:
            self.log("info", f'Ignoring "patch" event for unknown path {json.dumps(path)}')
            return
        e = decode_env(msg.get("data"))
        if e[0] != env_id:
            self.log("warn", f'Ignoring environment data whose envId "{e[0]}" did not match key "{env_id}"')
            return
        self.upsert(e, now_ms)

    def delete(self, data: str) -> None:
        msg = parse(data)
        path = path_of(msg)
        version = _int(msg, "version")
        env_id = env_id_from_path(path)
        if env_id is None:
            self.log("info", f'Ignoring "delete" event for unknown path {json.dumps(path)}')
            return
        stored = self.live.get(env_id)
        if stored is not None:
            if version <= stored[11]:
                self.log("info", f"Ignoring out-of-order delete for environment {env_id} ({stored[5]} {stored[2]})")
                return
            del self.live[env_id]
            self.tombs[env_id] = version
            self.log("info", f"Removed environment {env_id} ({stored[5]} {stored[2]})")
            emit({"op": "delete", "envId": env_id})
        elif env_id in self.tombs:
            self.tombs[env_id] = max(self.tombs[env_id], version)
        else:
            self.tombs[env_id] = version

    def on_event(self, name: str, data: str) -> None:
        now_ms = time.time_ns() // 1_000_000
        if name == "put":
            self.put(data, now_ms)
        elif name == "patch":
            self.patch(data, now_ms)
        elif name == "delete":
            self.delete(data)
        elif name == "reconnect":
            self.log("info", "Will restart auto-configuration stream to get new data due to a policy change")
            raise Restart(1.0)
        else:
            self.log("warn", f"Ignoring unrecognized stream event: {json.dumps(name)}")


# ---- SSE (WHATWG: LF/CRLF/CR, BOM, comments, multi-line data) ----

class Sse:
    def __init__(self, on_event):
        self.on_event = on_event
        self.pending: list[bytes] = []  # bytes of an unfinished line
        self.skip_lf = False  # the last chunk ended in CR: a LF starting the next one is its pair
        self.start = True  # a BOM may come first
        self.event = ""
        self.data: list[str] = []

    def feed(self, chunk: bytes) -> None:
        if self.skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self.skip_lf = False
        if b"\n" not in chunk and b"\r" not in chunk:
            if chunk:
                self.pending.append(chunk)
            return
        if self.pending:
            self.pending.append(chunk)
            chunk = b"".join(self.pending)
            self.pending = []
        if self.start:
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
            self.start = False
        if b"\r" in chunk:
            self.skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            self.pending.append(rest)
        for line in lines:
            self.line(line.decode("utf-8", "replace"))

    def line(self, line: str) -> None:
        if not line:
            if self.data:
                data = "\n".join(self.data)
                name = self.event
                self.event, self.data = "", []
                self.on_event(name, data)
            else:
                self.event = ""
            return
        if line[0] == ":":
            return  # a comment (heartbeat)
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value
        # `id` and `retry` are not used by this baseline


# ---- the connection loop ----

def run(key: str, stream_uri: str, log: Log) -> int:
    machine = Machine(log)
    url = urlsplit(stream_uri.rstrip("/") + "/relay_auto_config")
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    delay, ever_connected = 1.0, False
    while True:
        conn = conn_class(url.hostname, url.port, timeout=300)
        try:
            log("info", f"Connecting to auto-configuration stream at {stream_uri}")
            conn.request("GET", path, headers={"Authorization": key, "Accept": "text/event-stream",
                                               "User-Agent": "baseline-plain-python"})
            resp = conn.getresponse()
            if resp.status in (401, 403) and not ever_connected:
                log("error", "invalid auto-configuration key")
                return 1
            ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if resp.status != 200 or ctype != "text/event-stream":
                raise Restart(delay)
            log("info", "Connected to auto-configuration stream")
            ever_connected, delay = True, 1.0
            sse = Sse(machine.on_event)
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    raise Restart(delay)
                try:
                    sse.feed(chunk)
                except Malformed as e:
                    log("error", f"Received streaming event with malformed JSON data ({e}); will restart stream")
                    raise Restart(delay) from None
        except Restart as r:
            wait = r.delay
        except OSError as e:
            log("warn", f"Unexpected error on auto-configuration stream: {e}")
            wait = delay
        finally:
            conn.close()
        time.sleep(wait)
        delay = min(delay * 2, 30.0)


def main() -> int:
    p = argparse.ArgumentParser(description="Benchmark baseline: a plain Python auto-configuration client.")
    p.add_argument("--key", default=os.environ.get("AUTO_CONFIG_KEY"))
    p.add_argument("--stream-uri", default=os.environ.get("STREAM_URI", "https://stream.launchdarkly.com"))
    p.add_argument("--log-level", default="info", choices=list(LEVELS))
    args = p.parse_args()
    if not args.key:
        p.error("no key: give --key or set AUTO_CONFIG_KEY")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return run(args.key, args.stream_uri, Log(args.log_level))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 3


if __name__ == "__main__":
    sys.exit(main())
