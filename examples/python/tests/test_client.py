"""The library: size limit before the guest, fuel, trap recovery with a fresh instance."""

import dataclasses
import json

import pytest

from relay_autoconfig import AutoconfigClient, JsonLinesHandler, Limits, Runtime, Trap, parse_batch
from relay_autoconfig.component import component_path


def put(ids):
    return json.dumps({"path": "/", "data": {"environments": {i: {"envId": i, "version": 1} for i in ids}}})


def summary(line: str) -> str:
    o = json.loads(line)
    env_id = o["env"]["envId"] if "env" in o else o.get("envId")
    return o["op"] if env_id is None else f"{o['op']} {env_id}"


def test_imports_are_only_handler_and_logging(runtime):
    assert sorted(runtime.imports()) == [
        "relay:autoconfig/handler@0.2.0",
        "relay:autoconfig/types@0.2.0",
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
        '{"op":"reset"}',
        '{"op":"add","env":{"envId":"a","envKey":"","envName":"","projectKey":"","projectName":"","sdkKey":"","mobileKey":"","expiringSdkKey":null,"defaultTtlMinutes":0,"secureMode":false,"version":1}}',
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


def test_an_unmetered_runtime_ignores_the_fuel_budget():
    # The budget that starves the put above, on an engine that does not count.
    limits = Limits(fuel_per_call=200_000, fuel_per_byte=0, metering="off")
    unmetered = Runtime(component_path(), limits)
    out = []
    client = AutoconfigClient(unmetered, JsonLinesHandler(out.append))
    client.on_event("put", put([f"e{i}" for i in range(100)]), 1000)
    assert len(out) == 101 and out[-1] == '{"op":"ready"}'


def test_a_runtimes_metering_cannot_be_swapped_by_new_limits():
    # Budgets and the memory limit may change; the metering is the compiled code's.
    unmetered = Runtime(component_path(), Limits(metering="off"))
    with pytest.raises(ValueError, match="compiled with metering='off'"):
        unmetered.limits = Limits()
    assert unmetered.limits.metering == "off"
    unmetered.limits = Limits(max_memory_bytes=64 << 20, metering="off")
    out = []
    AutoconfigClient(unmetered, JsonLinesHandler(out.append)).on_event("put", put(["a"]), 1000)
    assert out[-1] == '{"op":"ready"}'
    metered = Runtime(component_path())
    with pytest.raises(ValueError, match="compiled with metering='fuel'"):
        metered.limits = Limits(metering="off")
    with pytest.raises(TypeError, match="must be a Limits"):
        metered.limits = {"metering": "off"}  # type: ignore[assignment]


class _Shouty:
    def __repr__(self) -> str:
        return "line one\nline two " + "x" * 500


@pytest.mark.parametrize("bad", ["Off", "", "none", 0, None, "x" * 10_000, _Shouty()])
def test_a_bad_metering_value_is_refused_in_one_bounded_line(bad):
    with pytest.raises(ValueError, match="Limits.metering must be 'fuel' or 'off'") as e:
        Limits(metering=bad)
    assert len(str(e.value)) < 120 and "\n" not in str(e.value)


def test_json_lines_are_byte_for_byte_those_of_autoconfig_host():
    from relay_autoconfig.component import (
        EnvironmentParams, ExpiringKey, add_line, delete_line, env_json, key_expired_line, ready_line, update_line,
    )

    p = EnvironmentParams("e", "k", "n", "p", "pn", "s", "m", ExpiringKey("o", 5), 2, True, 3)
    assert add_line(p) == (
        '{"op":"add","env":{"envId":"e","envKey":"k","envName":"n","projectKey":"p","projectName":"pn",'
        '"sdkKey":"s","mobileKey":"m","expiringSdkKey":{"key":"o","expiresAt":5},"defaultTtlMinutes":2,'
        '"secureMode":true,"version":3}}'
    )
    none = dataclasses.replace(p, expiring_sdk_key=None)
    assert update_line(none) == (
        '{"op":"update","env":{"envId":"e","envKey":"k","envName":"n","projectKey":"p","projectName":"pn",'
        '"sdkKey":"s","mobileKey":"m","expiringSdkKey":null,"defaultTtlMinutes":2,"secureMode":true,"version":3}}'
    )
    no_expiry = dataclasses.replace(p, expiring_sdk_key=ExpiringKey("o", None))
    assert '"expiringSdkKey":{"key":"o","expiresAt":null},' in env_json(no_expiry)
    # s64/u64 extremes stay exact; strings are escaped as serde_json does.
    extreme = dataclasses.replace(
        p, env_name='tab\t"q"\\ été\x00', expiring_sdk_key=ExpiringKey("o", (1 << 64) - 1),
        default_ttl_minutes=-(1 << 63), version=(1 << 63) - 1,
    )
    assert (
        '"envName":"tab\\t\\"q\\"\\\\ été\\u0000",' in env_json(extreme)
        and '"expiresAt":18446744073709551615},"defaultTtlMinutes":-9223372036854775808,' in env_json(extreme)
        and env_json(extreme).endswith('"version":9223372036854775807}')
    )
    assert ready_line() == '{"op":"ready"}'
    assert delete_line("e") == '{"op":"delete","envId":"e"}'
    assert key_expired_line("e", "o") == '{"op":"key-expired","envId":"e","oldKey":"o"}'


def test_the_json_form_is_the_record_the_component_gave(runtime, monkeypatch):
    """Every field of the WIT record, in WIT order, named in camelCase: the dataclass is lifted
    from the record and written out by its own fields, nested ones too."""
    import relay_autoconfig.component as component

    records, got = [], []
    lift = component._from_record

    def spy(cls, r):
        records.append(r)
        return lift(cls, r)

    monkeypatch.setattr(component, "_from_record", spy)
    handler = JsonLinesHandler(lambda line: None)
    monkeypatch.setattr(handler, "add_environment", got.append)
    client = AutoconfigClient(runtime, handler)
    env = {"envId": "e", "version": 1, "sdkKey": {"value": "new", "expiring": {"value": "old", "timestamp": 1796000009000}}}
    client.on_event("put", json.dumps({"path": "/", "data": {"environments": {"e": env}}}), 1796000000000)
    assert len(got) == 1 and len(records) == 2  # the environment, then its expiring key

    def camel(wit):
        head, *rest = wit.split("-")
        return head + "".join(w.capitalize() for w in rest)

    out = json.loads(component.env_json(got[0]))
    assert list(out) == [camel(k) for k in vars(records[0])]
    assert list(out["expiringSdkKey"]) == [camel(k) for k in vars(records[1])]
    assert out["expiringSdkKey"] == {"key": "old", "expiresAt": 1796000009000}


def test_a_record_that_does_not_match_the_dataclass_is_refused():
    from wasmtime.component import Record

    from relay_autoconfig.component import ExpiringKey, _from_record

    r = Record()
    setattr(r, "key", "k")
    setattr(r, "expires-at", 7)
    assert _from_record(ExpiringKey, r) == ExpiringKey("k", 7)
    setattr(r, "expires-in", 7)
    with pytest.raises(TypeError, match="expects"):
        _from_record(ExpiringKey, r)


BAD_CALLS = [
    ("on_event", ("put", "{}", 1796000000000.0), TypeError, "now must be an int"),
    ("on_event", ("put", "{}", "1796000000000"), TypeError, "now must be an int"),
    ("on_event", ("put", "{}", False), TypeError, "now must be an int"),
    ("on_event", ("put", "{}", -1), ValueError, "now must be between"),
    ("on_event", ("put", b"{}", 1000), TypeError, "data must be a str"),
    ("on_event", (None, "{}", 1000), TypeError, "name must be a str"),
    ("on_event", ("put", '{"x":"\ud800"}', 1000), ValueError, "data is not valid Unicode"),
    ("tick", (1.5,), TypeError, "now must be an int"),
    ("tick", (1 << 64,), ValueError, "now must be between"),
    ("configure", (1.5,), TypeError, "max_message_bytes must be an int"),
    ("configure", (1024, 3), TypeError, "log_level must be a str"),
]


@pytest.mark.parametrize("name, args, error, message", BAD_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)])
def test_a_wrong_argument_raises_and_leaves_the_state_intact(runtime, name, args, error, message):
    out, logs = [], []
    client = AutoconfigClient(runtime, JsonLinesHandler(out.append, lambda lv, m: logs.append((lv, m))))
    client.on_event("put", put(["a", "b"]), 1000)
    out.clear()
    with pytest.raises(error, match=message):
        getattr(client, name)(*args)
    assert not any(lv == "error" for lv, _ in logs), logs  # no trap, no restart
    # The same instance still knows a and b: a put of b and c deletes a and adds c, nothing more.
    client.on_event("put", put(["b", "c"]), 1001)
    assert [summary(l) for l in out] == ["add c", "delete a", "ready"]


def test_parse_batch_keeps_names_with_unicode_line_separators(runtime):
    # serde_json writes U+2028, U+2029 and U+0085 raw inside strings; only "\n" ends a line.
    name = "Team\u2028A\u2029B\u0085C\x1cD"
    data = json.dumps({"path": "/", "data": {"environments": {"e1": {
        "envId": "e1", "envKey": "k", "envName": name, "mobKey": "m", "projKey": "p",
        "projName": "P", "sdkKey": {"value": "sdk-1"}, "version": 1}}}})
    batches: list[str] = []

    class Logs:
        def log(self, level, message):
            pass

    client = AutoconfigClient(runtime, Logs(), batch=batches.append)
    client.on_event("put", data, 1_800_000_000_000)
    calls = parse_batch("".join(batches))
    assert [c["op"] for c in calls] == ["add", "ready"]
    assert calls[0]["env"]["envName"] == name
