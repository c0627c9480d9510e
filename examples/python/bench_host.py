"""Times the Python host end to end on loopback: an SSE server on 127.0.0.1 sends a put of N
environments (10,000 by default), then, once the host printed "ready", N patches (one per
environment); this measures from the first byte sent to the "ready" line, and from the first patch
byte to the N-th "update" line, as read from the host's stdout.

    python bench_host.py [--envs N] [--runs K] [--log-level LEVEL] [--host-dir DIR] [--component PATH]

``--host-dir`` runs the ``relay_autoconfig.host`` found in another directory (e.g. an older copy,
to compare); ``--component`` is passed as AUTOCONFIG_COMPONENT. Every wait is bounded
(``--timeout``, 300 s by default) and the host is killed at the end of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import put_json

HERE = Path(__file__).resolve().parent


def patches(n: int) -> bytes:
    out = []
    for i in range(n):
        env_id = f"env{i:06d}"
        env = {
            "envId": env_id, "envKey": f"key-{i}", "envName": f"Environment {i} (renamed)", "projKey": f"proj-{i % 50}",
            "projName": f"Project {i % 50}", "sdkKey": {"value": f"sdk-00000000-0000-0000-0000-{i:012d}"},
            "mobKey": f"mob-00000000-0000-0000-0000-{i:012d}", "defaultTtl": i % 3,
            "secureMode": i % 2 == 0, "version": 2,
        }
        data = json.dumps({"path": f"/environments/{env_id}", "data": env}, separators=(",", ":"))
        out.append(f"event: patch\ndata: {data}\n\n")
    return "".join(out).encode()


class Server:
    def __init__(self, put: bytes, patch: bytes):
        self.sent: "queue.Queue[float]" = queue.Queue()
        self.go_patches = threading.Event()
        self.done = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                outer.sent.put(time.perf_counter())
                self.wfile.write(put)
                self.wfile.flush()
                if not outer.go_patches.wait(600):
                    return
                outer.sent.put(time.perf_counter())
                self.wfile.write(patch)
                self.wfile.flush()
                outer.done.wait(600)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.go_patches.set()
        self.done.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def one_run(args, put: bytes, patch: bytes) -> tuple[float, float]:
    server = Server(put, patch)
    env = {**os.environ, "AUTO_CONFIG_KEY": "rel-bench-key-0001", "PYTHONPATH": str(args.host_dir)}
    if args.component:
        env["AUTOCONFIG_COMPONENT"] = str(args.component)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "relay_autoconfig.host", "--stream-uri", server.uri, "--log-level", args.log_level],
            cwd=args.host_dir, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )
        lines: "queue.Queue[tuple[float, str]]" = queue.Queue()

        def read():
            for l in proc.stdout:
                lines.put((time.perf_counter(), l))
            lines.put((time.perf_counter(), ""))

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + args.timeout

        def wait_for(op: str, count: int) -> float:
            seen = 0
            while True:
                try:
                    t, l = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise SystemExit(f"timed out after {args.timeout} s waiting for {count} {op} line(s) (got {seen})")
                if not l:
                    err.seek(0)
                    raise SystemExit(f"the host exited ({proc.wait()}):\n{err.read().decode()[-2000:]}")
                if json.loads(l)["op"] == op:
                    seen += 1
                    if seen == count:
                        return t

        try:
            t_ready = wait_for("ready", 1)
            t_put = server.sent.get(timeout=1)
            server.go_patches.set()
            t_updates = wait_for("update", args.envs)
            t_patch = server.sent.get(timeout=1)
            return t_ready - t_put, t_updates - t_patch
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--log-level", default="info")
    p.add_argument("--host-dir", type=Path, default=HERE)
    p.add_argument("--component", type=Path, default=None)
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args()
    put = f"event: put\ndata: {put_json(args.envs)}\n\n".encode()
    patch = patches(args.envs)
    put_s, patch_s = [], []
    for _ in range(args.runs):
        a, b = one_run(args, put, patch)
        put_s.append(a)
        patch_s.append(b)
    print(
        f"host {args.host_dir} (log level {args.log_level}): put of {args.envs} environments "
        f"({len(put) // 1024} KiB) to ready: {statistics.median(put_s) * 1000:.0f} ms; "
        f"{args.envs} patches ({len(patch) // 1024} KiB) to the last update: {statistics.median(patch_s) * 1000:.0f} ms "
        f"(median of {args.runs}: put {', '.join(f'{x * 1000:.0f}' for x in put_s)}; "
        f"patches {', '.join(f'{x * 1000:.0f}' for x in patch_s)})"
    )


if __name__ == "__main__":
    main()
