"""The library: size limit before the guest, fuel, trap recovery with a fresh instance."""

import json

import pytest

from relay_autoconfig import AutoconfigClient, JsonLinesHandler, Limits, Runtime, Trap
from relay_autoconfig.component import component_path


def put(ids):
    return json.dumps({"path": "/", "data": {"environments": {i: {"envId": i, "version": 1} for i in ids}}})


def test_imports_are_only_handler_and_logging(runtime):
    assert sorted(runtime.imports()) == [
        "relay:autoconfig/handler@0.1.0",
        "relay:autoconfig/types@0.1.0",
        "wasi:logging/logging@0.1.0-draft",
    ]


def test_size_limit_is_checked_before_the_guest(runtime):
    out, logs = [], []
    client = AutoconfigClient(runtime, JsonLinesHandler(out.append, lambda lv, m: logs.append((lv, m))), 50)
    d = client.on_event("put", put(["a", "b", "c"]), 1000)
    assert (d.restart, d.next_deadline) == ("malformed-data", None)
    assert out == []
    assert any(lv == "error" and "over the limit of 50" in m for lv, m in logs)


def test_a_handler_exception_kills_the_instance_and_the_next_call_starts_fresh(runtime):
    out = []
    fail = [True]

    class H(JsonLinesHandler):
        def add_environment(self, params):
            if fail[0]:
                raise RuntimeError("boom")
            super().add_environment(params)

    client = AutoconfigClient(runtime, H(out.append))
    with pytest.raises(Trap):
        client.on_event("put", put(["a"]), 1000)
    fail[0] = False
    client.on_event("put", put(["a"]), 1001)
    assert out == [
        '{"op":"add","env":{"envId":"a","envKey":"","envName":"","projKey":"","projName":"","sdkKey":"","mobKey":"","expiringSdkKey":null,"expiresAt":null,"ttlMinutes":0,"secureMode":false,"version":1}}',
        '{"op":"ready"}',
    ]


def test_running_out_of_fuel_traps_instead_of_hanging():
    # Enough fuel to instantiate, not enough for a 100-environment put.
    starved = Runtime(component_path(), Limits(fuel_per_call=200_000, fuel_per_byte=0))
    out = []
    client = AutoconfigClient(starved, JsonLinesHandler(out.append))
    with pytest.raises(Trap, match="all fuel consumed"):
        client.on_event("put", put([f"e{i}" for i in range(100)]), 1000)
    assert '{"op":"ready"}' not in out


def test_json_lines_are_byte_for_byte_those_of_autoconfig_host():
    from relay_autoconfig.component import (
        EnvironmentParams, ExpiringKey, add_line, delete_line, key_expired_line, ready_line,
    )

    p = EnvironmentParams("e", "k", "n", "p", "pn", "s", "m", ExpiringKey("o", 5), 2, True, 3)
    assert add_line(p) == (
        '{"op":"add","env":{"envId":"e","envKey":"k","envName":"n","projKey":"p","projName":"pn",'
        '"sdkKey":"s","mobKey":"m","expiringSdkKey":"o","expiresAt":5,"ttlMinutes":2,"secureMode":true,"version":3}}'
    )
    assert ready_line() == '{"op":"ready"}'
    assert delete_line("e") == '{"op":"delete","envId":"e"}'
    assert key_expired_line("e", "o") == '{"op":"key-expired","envId":"e","oldKey":"o"}'
