"""Every case of the shared stream corpus (tests/streams/*.json) through the component's
stream-client on wasmtime-py, and checks that the runner itself catches what it must."""

from __future__ import annotations

import json

import pytest

from relay_autoconfig import stream_scenario

FILES = stream_scenario.corpus_files()

T0 = 1796000000000
HEADERS = [["Authorization", "rel-key-0001"], ["Accept", "text/event-stream"], ["Cache-Control", "no-cache"]]


def test_the_corpus_is_not_empty():
    assert FILES, f"no stream case files in {stream_scenario.CORPUS_DIR}"


@pytest.mark.parametrize("body_text", [True, False], ids=["text", "bytes"])
@pytest.mark.parametrize("batched", [False, True], ids=["callbacks", "batched"])
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_stream_case(runtime, path, batched, body_text):
    """Bodies as text (on-body-text, incomplete UTF-8 characters held back: some cases cut
    inside them on purpose) and as bytes (on-body); batched: callbacks and log lines batched."""
    errors = stream_scenario.run(runtime, stream_scenario.load(path), batched, body_text)
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_stream_case_with_wasmtime_pys_own_result_lifting(runtime, path, monkeypatch):
    """The same cases with the fast result lifting (component._lift) switched off: wasmtime-py
    lifts every step itself. Both pass the same expectations, so both lift the same values."""
    from relay_autoconfig import component

    monkeypatch.setattr(component, "_is_step", lambda ty: False)
    errors = stream_scenario.run(runtime, stream_scenario.load(path), True)
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("batched", [False, True], ids=["callbacks", "batched"])
def test_the_runner_catches_a_wrong_callback_in_both_forms(runtime, batched):
    body = {"body": PUT, "now": T0 + 30, "expect": {"calls": [{"op": "delete", "envId": "a"}, {"op": "ready"}],
                                                   "nextDeadline": T0 + 300_030}}
    errors = stream_scenario.run(runtime, stream_scenario.decode(case(START, OPEN, body)), batched)
    assert len(errors) == 1 and "callbacks differ" in errors[0], errors


# ---- the runner on small cases of its own ----


def case(*steps: dict, **top) -> str:
    return json.dumps({"name": "t", **top, "steps": list(steps)})


START = {"start": T0, "expect": {"connect": {"url": "http://stream.test/relay_auto_config", "headers": HEADERS},
                                 "nextDeadline": T0 + 300_000}}
OPEN = {"response": {"status": 200, "contentType": "text/event-stream"}, "now": T0 + 10,
        "expect": {"nextDeadline": T0 + 300_010}}
PUT = 'event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n'


def run(runtime, text: str) -> list[str]:
    return stream_scenario.run(runtime, stream_scenario.decode(text))


def test_a_matching_case_passes(runtime):
    body = {"body": PUT[:20], "now": T0 + 20, "expect": {"nextDeadline": T0 + 300_020}}
    rest = {"bodyHex": PUT[20:].encode().hex(), "now": T0 + 30,
            "expect": {"calls": [{"op": "ready"}], "nextDeadline": T0 + 300_030,
                       "logs": [{"level": "info", "contains": "0 environment"}]}}
    assert run(runtime, case(START, OPEN, body, rest)) == []


@pytest.mark.parametrize("expect, message", [
    ({"calls": [{"op": "ready"}], "nextDeadline": T0 + 300_031}, "next deadline 1796000300030, expected 1796000300031"),
    ({"nextDeadline": T0 + 300_030}, "callbacks differ"),  # the ready call is missing
    ({"calls": [{"op": "ready"}], "nextDeadline": T0 + 300_030, "disconnect": True}, "disconnect False, expected True"),
    ({"calls": [{"op": "ready"}], "nextDeadline": T0 + 300_030, "stop": "invalid-key"}, "stop None"),
    ({"calls": [{"op": "ready"}], "nextDeadline": T0 + 300_030, "lastEventId": "e-1"}, "last event id None, expected 'e-1'"),
    ({"calls": [{"op": "ready"}], "nextDeadline": T0 + 300_030,
      "connect": {"url": "http://x", "headers": []}}, "connect differs"),
    ({"calls": [{"op": "ready"}], "nextDeadline": T0 + 300_030,
      "logs": [{"level": "warn", "contains": "0 environment"}]}, "no warn log containing"),
])
def test_every_field_is_compared(runtime, expect, message):
    errors = run(runtime, case(START, OPEN, {"body": PUT, "now": T0 + 30, "expect": expect}))
    assert len(errors) == 1 and message in errors[0], errors


def test_start_errors(runtime):
    bad = {"start": T0, "options": {"key": ""}, "expect": {"error": "key"}}
    assert run(runtime, case(bad, START)) == []
    wrong = {"start": T0, "options": {"key": ""}, "expect": {"error": "stream-uri"}}
    assert "does not contain 'stream-uri'" in run(runtime, case(wrong))[0]
    missing = {"start": T0, "expect": {"error": "key"}}
    assert "start succeeded, expected an error" in run(runtime, case(missing))[0]
    unexpected = {"start": T0, "options": {"readTimeoutMs": 0}}
    assert "start failed: read-timeout" in run(runtime, case(unexpected))[0]


def test_options_settings_and_step_options(runtime):
    top = {"options": {"key": "rel-key-0002", "streamUri": "http://stream.test/base/", "lastEventId": "e-1"},
           "settings": {"maxMessageBytes": 64, "logLevel": "warn"}}
    first = {"start": T0, "expect": {"connect": {"url": "http://stream.test/base/relay_auto_config", "headers": [
        ["Authorization", "rel-key-0002"], ["Accept", "text/event-stream"], ["Cache-Control", "no-cache"],
        ["Last-Event-ID", "e-1"]]}, "nextDeadline": T0 + 300_000}}
    # A step's own options take the defaults for what they do not give, not the case's options
    # (the component keeps the last event id across a restart, and drops the open request).
    again = {"start": T0 + 1, "options": {"readTimeoutMs": 1000}, "expect": {
        "disconnect": True, "nextDeadline": T0 + 1001,
        "connect": {"url": "http://stream.test/relay_auto_config", "headers": HEADERS + [["Last-Event-ID", "e-1"]]}}}
    assert run(runtime, case(first, again, **top)) == []


@pytest.mark.parametrize("text, message", [
    (case({"start": T0, "expect": {"nextdeadline": 1}}), "unknown field `nextdeadline`"),
    (case({"start": T0, "timeout": T0}), "exactly one of"),
    (case({"body": "x"}), "now: missing integer"),
    (case({"bodyHex": "abc", "now": T0}), "bodyHex: expected pairs of hex digits"),
    (case({"bodyHex": "ef bb", "now": T0}), "bodyHex: expected pairs of hex digits"),
    (case({"response": {"status": 70000}, "now": T0}), "status: expected an integer in [0, 65535]"),
    (case({"timeout": T0, "expect": {"error": "x"}}), "only a start step can expect an error"),
    (case(START, options={"jitterSeed": -1}), "options.jitterSeed"),
    (case(START, settings={"logLevel": "loud"}), "settings.logLevel"),
    ('{"name": "t", "name": "u", "steps": []}', "duplicate field `name`"),
])
def test_malformed_cases_are_refused_with_the_place(text, message):
    with pytest.raises(ValueError) as e:
        stream_scenario.decode(text)
    assert message in str(e.value)
