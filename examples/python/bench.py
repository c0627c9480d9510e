"""Times on-event for a put of N environments (1,000 and 10,000 by default) through the component
on wasmtime-py: a put into an empty state (N adds) and the same put again (no changes), with a
handler call per callback and batched (``batch=``: one string of JSON lines per call).

    python bench.py [N...]
"""

import importlib.metadata
import json
import statistics
import sys
import time

from relay_autoconfig import AutoconfigClient, JsonLinesHandler, Runtime


def put_json(n: int) -> str:
    environments = {}
    for i in range(n):
        env_id = f"env{i:06d}"
        environments[env_id] = {
            "envId": env_id, "envKey": f"key-{i}", "envName": f"Environment {i}", "projKey": f"proj-{i % 50}",
            "projName": f"Project {i % 50}", "sdkKey": {"value": f"sdk-00000000-0000-0000-0000-{i:012d}"},
            "mobKey": f"mob-00000000-0000-0000-0000-{i:012d}", "defaultTtl": i % 3,
            "secureMode": i % 2 == 0, "version": 1,
        }
    return json.dumps({"path": "/", "data": {"environments": environments}}, separators=(",", ":"))


def main(sizes: list[int]) -> None:
    t = time.perf_counter()
    runtime = Runtime()
    print(f"wasmtime-py: compiling the component: {(time.perf_counter() - t) * 1000:.1f} ms")
    for mode in ("callbacks", "batched"):
        for level in ("debug", "warn"):
            for n in sizes or [1000, 10000]:
                data = put_json(n)
                first, again = [], []
                for _ in range(5):
                    lines: list[str] = []
                    batches: list[str] = []
                    client = AutoconfigClient(runtime, JsonLinesHandler(lines.append), log_level=level,
                                              batch=batches.append if mode == "batched" else None)
                    t = time.perf_counter()
                    client.on_event("put", data, int(time.time() * 1000))
                    first.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    client.on_event("put", data, int(time.time() * 1000))
                    again.append((time.perf_counter() - t) * 1000)
                    got = len(lines) + sum(b.count("\n") for b in batches)
                    assert got == n + 2, got
                print(
                    f"python {sys.version.split()[0]} (wasmtime {importlib.metadata.version('wasmtime')}), {mode}, "
                    f"log level {level}: put of {n} environments ({len(data) // 1024} KiB): "
                    f"first {statistics.median(first):.1f} ms, identical again {statistics.median(again):.1f} ms "
                    "(median of 5)"
                )

if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]])
