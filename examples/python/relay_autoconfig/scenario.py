"""The shared scenario corpus (tests/scenarios/*.json) run through the component: the Python
counterpart of tests/src/scenario.rs, with the same file format and the same checks (exact
callbacks in their JSON-lines form, restart directive, next deadline, log fragments). An
add/update's ``env`` is compared as a JSON value (key order aside) with the JSON form of the
record the component gave (``env_json``): no list of the record's fields is kept here.

    python -m relay_autoconfig.scenario [--batched] [DIR]
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .component import (
    AutoconfigClient,
    EnvironmentParams,
    Runtime,
    delete_line,
    env_json,
    key_expired_line,
    ready_line,
)

#: <repo>/tests/scenarios
CORPUS_DIR = Path(__file__).resolve().parents[3] / "tests" / "scenarios"

U64_MAX = (1 << 64) - 1


# ---- a strict JSON parser that keeps each value's source text ----
# The Rust runner passes a non-string `data` value to the component as its raw text, byte for
# byte (that matters for size limits), so the scenario files cannot go through json.loads alone.


@dataclass
class Node:
    kind: str  # object, array, string, integer, number, boolean, null
    value: Any
    raw: str = ""
    #: For an object: the first repeated key (allowed in JSON, and in raw `data`; the last wins).
    duplicate: Optional[str] = None


_WS = " \t\n\r"
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"', re.S)


def parse(text: str) -> Node:
    pos = 0

    def fail(msg: str):
        line = text.count("\n", 0, pos) + 1
        raise ValueError(f"{msg} at line {line} (offset {pos})")

    def ws():
        nonlocal pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1

    def string() -> str:
        nonlocal pos
        m = _STRING.match(text, pos)
        if not m:
            fail("bad string")
        pos = m.end()
        return json.loads(m.group(0))

    def value() -> Node:
        nonlocal pos
        ws()
        start = pos
        c = text[pos] if pos < len(text) else ""
        if c == "{":
            pos += 1
            members: dict[str, Node] = {}
            duplicate = None
            ws()
            if text[pos : pos + 1] == "}":
                pos += 1
            else:
                while True:
                    ws()
                    if text[pos : pos + 1] != '"':
                        fail("expected a key")
                    key = string()
                    if key in members and duplicate is None:
                        duplicate = key
                    ws()
                    if text[pos : pos + 1] != ":":
                        fail("expected `:`")
                    pos += 1
                    members[key] = value()
                    ws()
                    c = text[pos : pos + 1]
                    pos += 1
                    if c == "}":
                        break
                    if c != ",":
                        fail("expected `,` or `}`")
            node = Node("object", members, duplicate=duplicate)
        elif c == "[":
            pos += 1
            items: list[Node] = []
            ws()
            if text[pos : pos + 1] == "]":
                pos += 1
            else:
                while True:
                    items.append(value())
                    ws()
                    c = text[pos : pos + 1]
                    pos += 1
                    if c == "]":
                        break
                    if c != ",":
                        fail("expected `,` or `]`")
            node = Node("array", items)
        elif c == '"':
            node = Node("string", string())
        elif c == "-" or c.isdigit():
            m = _NUMBER.match(text, pos)
            if not m:
                fail("bad number")
            pos = m.end()
            if m.group(2) or m.group(3):
                node = Node("number", float(m.group(0)))
            else:
                node = Node("integer", int(m.group(0)))
        elif text.startswith("true", pos):
            pos += 4
            node = Node("boolean", True)
        elif text.startswith("false", pos):
            pos += 5
            node = Node("boolean", False)
        elif text.startswith("null", pos):
            pos += 4
            node = Node("null", None)
        else:
            fail("expected a value")
        node.raw = text[start:pos]
        return node

    root = value()
    ws()
    if pos != len(text):
        fail("trailing characters")
    return root


def canonical(node: Node) -> str:
    """A node as canonical JSON text: object keys sorted at every level, no whitespace, integers
    exact. Two JSON values are equal, whatever their key order, when their canonical texts are.
    Raises ValueError on a duplicate key."""
    if node.kind == "object":
        if node.duplicate is not None:
            raise ValueError(f"duplicate field `{node.duplicate}`")
        members = ",".join(
            f"{json.dumps(k, ensure_ascii=False)}:{canonical(node.value[k])}" for k in sorted(node.value)
        )
        return "{" + members + "}"
    if node.kind == "array":
        return "[" + ",".join(canonical(v) for v in node.value) + "]"
    if node.kind == "string":
        return json.dumps(node.value, ensure_ascii=False)
    if node.kind == "integer":
        return str(node.value)
    return node.raw.strip()  # number (as written), boolean, null


# ---- strict decoding (the Rust structs use deny_unknown_fields) ----


def _fields(node: Node, where: str, allowed: list[str]) -> dict[str, Node]:
    if node.kind != "object":
        raise ValueError(f"{where}: expected an object")
    if node.duplicate is not None:
        raise ValueError(f"{where}: duplicate field `{node.duplicate}`")
    for key in node.value:
        if key not in allowed:
            raise ValueError(f"{where}: unknown field `{key}`, expected one of {', '.join(allowed)}")
    return node.value


def _absent(n: Optional[Node]) -> bool:
    return n is None or n.kind == "null"


def _string(n: Optional[Node], where: str, required: bool = True) -> Optional[str]:
    if _absent(n):
        if required:
            raise ValueError(f"{where}: missing string")
        return None
    if n.kind != "string":
        raise ValueError(f"{where}: expected a string")
    return n.value


def _int(n: Optional[Node], where: str, lo: int, hi: int, required: bool = True) -> Optional[int]:
    if _absent(n):
        if required:
            raise ValueError(f"{where}: missing integer")
        return None
    if n.kind != "integer" or not lo <= n.value <= hi:
        raise ValueError(f"{where}: expected an integer in [{lo}, {hi}]")
    return n.value


def _u64(n, where, required=True):
    return _int(n, where, 0, U64_MAX, required)


def _env_line(op: str, env: Node) -> str:
    """An add/update line with its env in canonical JSON (``canonical``): the corpus's env objects
    and the component's records compare as JSON values."""
    return f'{{"op":"{op}","env":{canonical(env)}}}'


def record_line(op: str, p: EnvironmentParams) -> str:
    """The comparable line of an add/update callback: the record's JSON form, canonical."""
    return _env_line(op, parse(env_json(p)))


class Recorder:
    """A handler that writes each callback down as its comparable line (add/update by
    ``record_line``, the others as the JSON-lines form prints them), and each log line. Its
    ``batch`` is the batch sink of the batched form: each JSON line the component wrote is
    parsed strictly (duplicate or unknown fields refused) and written down as its comparable
    line, the same way as an expected call of the corpus."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.logs: list[tuple[str, str]] = []
        self.batches = 0

    def batch(self, text: str) -> None:
        if not text.endswith("\n"):
            raise ValueError(f"a batch does not end with a newline: {text[-80:]!r}")
        self.batches += 1
        for i, line in enumerate(text[:-1].split("\n")):
            where = f"batch line {i}"
            try:
                node = parse(line)
            except ValueError as e:
                raise ValueError(f"{where}: {e}: {line[:200]!r}") from None
            self.calls.append(_expected_line(node, where))

    def add_environment(self, p: EnvironmentParams) -> None:
        self.calls.append(record_line("add", p))

    def update_environment(self, p: EnvironmentParams) -> None:
        self.calls.append(record_line("update", p))

    def delete_environment(self, env_id: str) -> None:
        self.calls.append(delete_line(env_id))

    def received_all_environments(self) -> None:
        self.calls.append(ready_line())

    def key_expired(self, env_id: str, old_key: str) -> None:
        self.calls.append(key_expired_line(env_id, old_key))

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))


class _NoCallbacks(Recorder):
    """The recorder of the batched form: a callback that still arrives as a call is an error."""

    def _called(self, *_args: Any) -> None:
        raise AssertionError("a handler callback was called in batched mode")

    add_environment = update_environment = delete_environment = _called  # type: ignore[assignment]
    received_all_environments = key_expired = _called  # type: ignore[assignment]


def _expected_line(node: Node, where: str) -> str:
    if node.kind != "object":
        raise ValueError(f"{where}: expected an object")
    op = _string(node.value.get("op"), f"{where}.op")
    if op in ("add", "update"):
        f = _fields(node, where, ["op", "env"])
        if "env" not in f:
            raise ValueError(f"{where}: missing field `env`")
        if f["env"].kind != "object":
            raise ValueError(f"{where}.env: expected an object")
        try:
            return _env_line(op, f["env"])
        except ValueError as e:
            raise ValueError(f"{where}.env: {e}") from None
    if op == "delete":
        f = _fields(node, where, ["op", "envId"])
        return delete_line(_string(f.get("envId"), f"{where}.envId"))
    if op == "ready":
        _fields(node, where, ["op"])
        return ready_line()
    if op == "key-expired":
        f = _fields(node, where, ["op", "envId", "oldKey"])
        return key_expired_line(
            _string(f.get("envId"), f"{where}.envId"), _string(f.get("oldKey"), f"{where}.oldKey")
        )
    raise ValueError(f"{where}: unknown op `{op}`")


@dataclass
class LogExpect:
    level: str
    contains: str


@dataclass
class Expect:
    calls: list[str]
    restart: Optional[str]
    next_deadline: Optional[int]
    logs: list[LogExpect]


@dataclass
class Step:
    event: Optional[str]
    data: Optional[Node]
    now: Optional[int]
    tick: Optional[int]
    expect: Expect

    def data_text(self) -> str:
        """A JSON string as is, any other JSON value as its source text."""
        if self.data is None:
            return ""
        if self.data.kind == "string":
            try:
                self.data.value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ValueError(f"bad data string: {e}") from e
            return self.data.value
        return self.data.raw


@dataclass
class Scenario:
    name: str
    description: str = ""
    max_message_bytes: Optional[int] = None
    steps: list[Step] = field(default_factory=list)


def decode(text: str) -> Scenario:
    """Decodes a scenario file's text; raises on anything the Rust runner would reject."""
    top = _fields(parse(text), "scenario", ["name", "description", "settings", "steps"])
    scenario = Scenario(
        name=_string(top.get("name"), "name"),
        description=_string(top.get("description"), "description", False) or "",
    )
    if not _absent(top.get("settings")):
        s = _fields(top["settings"], "settings", ["maxMessageBytes"])
        scenario.max_message_bytes = _u64(s.get("maxMessageBytes"), "settings.maxMessageBytes")
    steps = top.get("steps")
    if steps is None or steps.kind != "array":
        raise ValueError("steps: expected an array")
    for index, node in enumerate(steps.value):
        where = f"steps[{index}]"
        f = _fields(node, where, ["event", "data", "now", "tick", "expect"])
        if "expect" not in f:
            raise ValueError(f"{where}: missing field `expect`")
        x = _fields(f["expect"], f"{where}.expect", ["calls", "restart", "nextDeadline", "logs"])
        calls = x.get("calls")
        if calls is None or calls.kind != "array":
            raise ValueError(f"{where}.expect.calls: expected an array")
        logs = x.get("logs")
        if logs is not None and logs.kind != "array":
            raise ValueError(f"{where}.expect.logs: expected an array")
        log_expects = []
        for i, l in enumerate(logs.value if logs else []):
            lw = f"{where}.expect.logs[{i}]"
            lf = _fields(l, lw, ["level", "contains"])
            log_expects.append(
                LogExpect(_string(lf.get("level"), f"{lw}.level"), _string(lf.get("contains"), f"{lw}.contains"))
            )
        scenario.steps.append(
            Step(
                event=_string(f.get("event"), f"{where}.event", False),
                data=None if _absent(f.get("data")) else f["data"],
                now=_u64(f.get("now"), f"{where}.now", False),
                tick=_u64(f.get("tick"), f"{where}.tick", False),
                expect=Expect(
                    calls=[_expected_line(c, f"{where}.expect.calls[{i}]") for i, c in enumerate(calls.value)],
                    restart=_string(x.get("restart"), f"{where}.expect.restart", False),
                    next_deadline=_u64(x.get("nextDeadline"), f"{where}.expect.nextDeadline", False),
                    logs=log_expects,
                ),
            )
        )
    return scenario


def corpus_files(directory: Path = CORPUS_DIR) -> list[Path]:
    """The scenario files, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if p.suffix == ".json"), key=lambda p: p.name.encode())


def load(path: Path) -> Scenario:
    try:
        return decode(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def run(runtime: Runtime, scenario: Scenario, batched: bool = False, batch_logs: Optional[bool] = None) -> list[str]:
    """Runs a scenario on a fresh instance; returns every mismatch (empty: passed). Raises on a
    malformed step or a trap, as the Rust runner fails. ``batched``: through the batched form
    (``AutoconfigClient(batch=...)``), the callbacks read from its JSON lines; a per-callback
    call would then be an error (``_NoCallbacks``). The log lines are batched too
    (``batch_logs=True``, each line passed to ``log`` after the call) unless ``batch_logs``
    says otherwise."""
    rec = _NoCallbacks() if batched else Recorder()
    client = AutoconfigClient(runtime, rec, batch=rec.batch if batched else None,
                              batch_logs=batched if batch_logs is None else batch_logs)
    if scenario.max_message_bytes is not None:
        client.configure(scenario.max_message_bytes)
    errors: list[str] = []
    for index, step in enumerate(scenario.steps):
        rec.logs.clear()
        try:
            if step.event is not None and step.tick is None:
                if step.now is None:
                    raise ValueError("an event step needs `now`")
                d = client.on_event(step.event, step.data_text(), step.now)
                restart, deadline = d.restart, d.next_deadline
            elif step.event is None and step.tick is not None:
                restart, deadline = None, client.tick(step.tick)
            else:
                raise ValueError("give exactly one of `event` and `tick`")
        except Exception as e:
            raise ValueError(f"step {index}: {e}") from e
        actual, rec.calls = rec.calls, []
        if actual != step.expect.calls:
            errors.append(
                f"step {index}: callbacks differ\n  expected: [{', '.join(step.expect.calls)}]\n"
                f"  actual:   [{', '.join(actual)}]"
            )
        if restart != step.expect.restart:
            errors.append(f"step {index}: restart {restart!r}, expected {step.expect.restart!r}")
        if deadline != step.expect.next_deadline:
            errors.append(f"step {index}: next deadline {deadline}, expected {step.expect.next_deadline}")
        for want in step.expect.logs:
            if not any(l == want.level and want.contains in m for l, m in rec.logs):
                errors.append(
                    f"step {index}: no {want.level} log containing {want.contains!r}; logs: {rec.logs!r}"
                )
    return errors


def main(argv: list[str]) -> int:
    batched = "--batched" in argv
    argv = [a for a in argv if a != "--batched"]
    directory = Path(argv[0]) if argv else CORPUS_DIR
    files = corpus_files(directory)
    if not files:
        print(f"no scenario files in {directory}", file=sys.stderr)
        return 1
    runtime = Runtime()
    failed = 0
    for path in files:
        try:
            errors = run(runtime, load(path), batched)
        except ValueError as e:
            errors = [str(e)]
        if errors:
            failed += 1
            print(f"FAIL {path.name}\n" + "\n".join(errors))
        else:
            print(f"ok   {path.name}")
    print(f"{len(files) - failed} of {len(files)} scenarios passed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
