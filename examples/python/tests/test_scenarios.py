"""Every scenario file of the shared corpus, through the component on wasmtime-py."""

import json

import pytest

from relay_autoconfig import scenario

FILES = scenario.corpus_files()


def test_the_corpus_is_not_empty():
    assert FILES, f"no scenario files in {scenario.CORPUS_DIR}"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_scenario(runtime, path):
    errors = scenario.run(runtime, scenario.load(path))
    assert errors == [], "\n".join(errors)


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
