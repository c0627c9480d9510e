"""Every scenario file of the shared corpus, through the component on wasmtime-py."""

import json

import pytest

from relay_autoconfig import AutoconfigClient, JsonLinesHandler, parse_batch, scenario

FILES = scenario.corpus_files()


def test_the_corpus_is_not_empty():
    assert FILES, f"no scenario files in {scenario.CORPUS_DIR}"


@pytest.mark.parametrize("batched, batch_logs", [(False, False), (False, True), (True, True), (True, False)],
                         ids=["callbacks", "callbacks-logs-batched", "batched", "batched-logs-live"])
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_scenario(runtime, path, batched, batch_logs):
    """Every mode passes the same expectations, the log fragments included (batched logs: each
    line of batch.take-logs passed to the handler's log after the call)."""
    errors = scenario.run(runtime, scenario.load(path), batched, batch_logs)
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_scenario_unmetered(unmetered_runtime, path):
    """Without fuel metering the component does exactly the same: the same expectations."""
    errors = scenario.run(unmetered_runtime, scenario.load(path), False, False)
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_scenario_with_wasmtime_pys_own_result_lifting(runtime, path, monkeypatch):
    """With the fast result lifting (component._lift) off, wasmtime-py lifts every directive and
    deadline itself: the same expectations pass."""
    from relay_autoconfig import component

    monkeypatch.setattr(component, "_is_step", lambda ty: False)
    errors = scenario.run(runtime, scenario.load(path), True)
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_batched_lines_are_byte_for_byte_the_json_lines_of_each_callback(runtime, path):
    """Step by step, the batched form's text is exactly what JsonLinesHandler writes for the
    same callbacks (the lines autoconfig-host prints), and the results are the same."""
    sc = scenario.load(path)
    lines, batches, logs = [], [], []
    per_callback = AutoconfigClient(runtime, JsonLinesHandler(lines.append))
    batched = AutoconfigClient(runtime, JsonLinesHandler(_unexpected, lambda lv, m: logs.append(m)),
                               batch=batches.append)
    if sc.max_message_bytes is not None:
        per_callback.configure(sc.max_message_bytes)
        batched.configure(sc.max_message_bytes)
    for index, step in enumerate(sc.steps):
        if step.event is not None:
            results = [c.on_event(step.event, step.data_text(), step.now) for c in (per_callback, batched)]
        else:
            results = [c.tick(step.tick) for c in (per_callback, batched)]
        assert results[0] == results[1], f"step {index}"
        want = "".join(line + "\n" for line in lines)
        assert batches == ([want] if want else []), f"step {index}"
        assert parse_batch(want) == [json.loads(line) for line in lines]
        lines.clear()
        batches.clear()
    assert not any("trapped" in m for m in logs)


def _unexpected(line):
    raise AssertionError(f"a callback was called in batched mode: {line}")


def test_runner_compares_an_env_as_a_json_value(runtime):
    """Key order is free; a wrong, missing or extra field is reported; a duplicate is refused."""
    env = {
        "envId": "e", "envKey": "k", "envName": "n", "projectKey": "p", "projectName": "pn", "sdkKey": "new",
        "mobileKey": "m", "expiringSdkKey": {"key": "old", "expiresAt": 1796000009000}, "defaultTtlMinutes": 5,
        "secureMode": True, "version": 2,
    }
    wire = {
        "envId": "e", "envKey": "k", "envName": "n", "projKey": "p", "projName": "pn", "mobKey": "m", "defaultTtl": 5,
        "secureMode": True, "version": 2, "sdkKey": {"value": "new", "expiring": {"value": "old", "timestamp": 1796000009000}},
    }

    def run(expected):
        step = {
            "event": "put", "now": 1796000000000, "data": {"path": "/", "data": {"environments": {"e": wire}}},
            "expect": {"calls": [{"op": "add", "env": expected}, {"op": "ready"}], "nextDeadline": 1796000009000},
        }
        return scenario.run(runtime, scenario.decode(json.dumps({"name": "runner check", "steps": [step]})))

    reversed_env = dict(reversed(env.items()), expiringSdkKey={"expiresAt": 1796000009000, "key": "old"})
    assert run(env) == []
    assert run(reversed_env) == []
    missing = {k: v for k, v in env.items() if k != "version"}
    for wrong in (
        {**env, "expiringSdkKey": {"key": "old", "expiresAt": 1796000009001}},
        {**env, "expiringSdkKey": {"key": "old"}},
        {**env, "expiringSdkKey": None},
        {**env, "version": "2"},
        {**env, "extra": 1},
        missing,
    ):
        errors = run(wrong)
        assert len(errors) == 1 and errors[0].startswith("step 0: callbacks differ"), errors
    with pytest.raises(ValueError, match=r"steps\[0\]\.expect\.calls\[0\]\.env: duplicate field `envId`"):
        scenario.decode('{"name":"x","steps":[{"tick":1,"expect":{"calls":[{"op":"add","env":{"envId":"a","envId":"b"}}]}}]}')
