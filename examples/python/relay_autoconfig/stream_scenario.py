"""The shared stream corpus (tests/streams/*.json) run through the component's ``stream``
export: the Python counterpart of the Rust runner, with the same file format (see
tests/streams/README.md) and the same checks (exact callbacks in their JSON-lines form,
disconnect, the request to open, stop, next deadline, last event id, start errors, log fragments).

    python -m relay_autoconfig.stream_scenario [--batched] [--bytes] [DIR]
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from .component import (
    LEVELS,
    U16_MAX,
    U32_MAX,
    InvalidOptions,
    Request,
    Runtime,
    Step,
    StreamClient,
    StreamOptions,
)
from .scenario import Node, Recorder, _absent, _expected_line, _fields, _int, _NoCallbacks, _string, _u64, parse

#: <repo>/tests/streams
CORPUS_DIR = Path(__file__).resolve().parents[3] / "tests" / "streams"

#: The options a case gets for every field it does not give.
DEFAULT_OPTIONS = StreamOptions(
    key="rel-key-0001",
    stream_uri="http://stream.test",
    initial_retry_delay_ms=1000,
    read_timeout_ms=300_000,
    jitter_seed=1,
    last_event_id=None,
    prior_failures=0,
)

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_KINDS = ("start", "response", "body", "bodyHex", "closed", "timeout")


@dataclass
class LogExpect:
    level: str
    contains: str


@dataclass
class Expect:
    calls: list[str] = field(default_factory=list)
    disconnect: bool = False
    connect: Optional[Request] = None
    stop: Optional[str] = None
    next_deadline: Optional[int] = None
    last_event_id: Optional[str] = None
    error: Optional[str] = None
    logs: list[LogExpect] = field(default_factory=list)


@dataclass
class Start:
    now: int
    options: StreamOptions


@dataclass
class Response:
    status: int
    content_type: Optional[str]
    location: Optional[str]
    now: int


@dataclass
class Body:
    chunk: bytes
    now: int


@dataclass
class Closed:
    error: Optional[str]
    now: int


@dataclass
class Timeout:
    now: int


Action = Union[Start, Response, Body, Closed, Timeout]


@dataclass
class StreamStep:
    action: Action
    expect: Expect


@dataclass
class StreamCase:
    name: str
    description: str = ""
    max_message_bytes: Optional[int] = None
    log_level: str = "debug"
    steps: list[StreamStep] = field(default_factory=list)


# ---- strict decoding (unknown fields are errors, as in the Rust runner) ----


def _options(node: Optional[Node], where: str) -> StreamOptions:
    if _absent(node):
        return DEFAULT_OPTIONS
    f = _fields(
        node,
        where,
        ["key", "streamUri", "initialRetryDelayMs", "readTimeoutMs", "jitterSeed", "lastEventId", "priorFailures"],
    )
    d = DEFAULT_OPTIONS

    def u64(name: str, default: int) -> int:
        value = _u64(f.get(name), f"{where}.{name}", False)
        return default if value is None else value

    prior = _int(f.get("priorFailures"), f"{where}.priorFailures", 0, U32_MAX, False)
    return StreamOptions(
        key=_string(f["key"], f"{where}.key") if "key" in f else d.key,
        stream_uri=_string(f["streamUri"], f"{where}.streamUri") if "streamUri" in f else d.stream_uri,
        initial_retry_delay_ms=u64("initialRetryDelayMs", d.initial_retry_delay_ms),
        read_timeout_ms=u64("readTimeoutMs", d.read_timeout_ms),
        jitter_seed=u64("jitterSeed", d.jitter_seed),
        last_event_id=_string(f.get("lastEventId"), f"{where}.lastEventId", False),
        prior_failures=d.prior_failures if prior is None else prior,
    )


def _bool(node: Optional[Node], where: str, default: bool) -> bool:
    if _absent(node):
        return default
    if node.kind != "boolean":
        raise ValueError(f"{where}: expected a boolean")
    return node.value


def _request(node: Optional[Node], where: str) -> Optional[Request]:
    if _absent(node):
        return None
    f = _fields(node, where, ["url", "headers"])
    headers = f.get("headers")
    if headers is None or headers.kind != "array":
        raise ValueError(f"{where}.headers: expected an array of [name, value] pairs")
    pairs = []
    for i, pair in enumerate(headers.value):
        w = f"{where}.headers[{i}]"
        if pair.kind != "array" or len(pair.value) != 2:
            raise ValueError(f"{w}: expected a [name, value] pair")
        pairs.append((_string(pair.value[0], f"{w}[0]"), _string(pair.value[1], f"{w}[1]")))
    return Request(_string(f.get("url"), f"{where}.url"), tuple(pairs))


def _expect(node: Optional[Node], where: str) -> Expect:
    if _absent(node):
        return Expect()
    x = _fields(node, where, ["calls", "disconnect", "connect", "stop", "nextDeadline", "lastEventId", "error", "logs"])
    calls = x.get("calls")
    if not _absent(calls) and calls.kind != "array":
        raise ValueError(f"{where}.calls: expected an array")
    logs = x.get("logs")
    if not _absent(logs) and logs.kind != "array":
        raise ValueError(f"{where}.logs: expected an array")
    log_expects = []
    for i, l in enumerate([] if _absent(logs) else logs.value):
        lw = f"{where}.logs[{i}]"
        lf = _fields(l, lw, ["level", "contains"])
        level = _string(lf.get("level"), f"{lw}.level")
        if level not in LEVELS:
            raise ValueError(f"{lw}.level: expected one of {', '.join(LEVELS)}")
        log_expects.append(LogExpect(level, _string(lf.get("contains"), f"{lw}.contains")))
    stop = _string(x.get("stop"), f"{where}.stop", False)
    if stop not in (None, "invalid-key"):
        raise ValueError(f"{where}.stop: expected null or \"invalid-key\"")
    return Expect(
        calls=[] if _absent(calls) else [_expected_line(c, f"{where}.calls[{i}]") for i, c in enumerate(calls.value)],
        disconnect=_bool(x.get("disconnect"), f"{where}.disconnect", False),
        connect=_request(x.get("connect"), f"{where}.connect"),
        stop=stop,
        next_deadline=_u64(x.get("nextDeadline"), f"{where}.nextDeadline", False),
        last_event_id=_string(x.get("lastEventId"), f"{where}.lastEventId", False),
        error=_string(x.get("error"), f"{where}.error", False),
        logs=log_expects,
    )


def _step(node: Node, where: str) -> StreamStep:
    if node.kind != "object":
        raise ValueError(f"{where}: expected an object")
    kinds = [k for k in _KINDS if k in node.value]
    if len(kinds) != 1:
        raise ValueError(f"{where}: give exactly one of {', '.join(_KINDS)}")
    kind = kinds[0]
    allowed = {
        "start": ["start", "options", "expect"],
        "timeout": ["timeout", "expect"],
    }.get(kind, [kind, "now", "expect"])
    f = _fields(node, where, allowed)
    now = lambda: _u64(f.get("now"), f"{where}.now")  # noqa: E731
    action: Action
    if kind == "start":
        action = Start(_u64(f["start"], f"{where}.start"), _options(f.get("options"), f"{where}.options"))
    elif kind == "timeout":
        action = Timeout(_u64(f["timeout"], f"{where}.timeout"))
    elif kind == "response":
        r = _fields(f["response"], f"{where}.response", ["status", "contentType", "location"])
        action = Response(
            status=_int(r.get("status"), f"{where}.response.status", 0, U16_MAX),
            content_type=_string(r.get("contentType"), f"{where}.response.contentType", False),
            location=_string(r.get("location"), f"{where}.response.location", False),
            now=now(),
        )
    elif kind == "body":
        text = _string(f["body"], f"{where}.body")
        try:
            chunk = text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"{where}.body: not valid Unicode ({e.reason}); use bodyHex for raw bytes") from None
        action = Body(chunk, now())
    elif kind == "bodyHex":
        text = _string(f["bodyHex"], f"{where}.bodyHex")
        if not _HEX.fullmatch(text):
            raise ValueError(f"{where}.bodyHex: expected pairs of hex digits")
        action = Body(bytes.fromhex(text), now())
    else:
        action = Closed(_string(f["closed"], f"{where}.closed", False), now())
    expect = _expect(f.get("expect"), f"{where}.expect")
    if expect.error is not None and kind != "start":
        raise ValueError(f"{where}.expect.error: only a start step can expect an error")
    return StreamStep(action, expect)


def decode(text: str) -> StreamCase:
    """Decodes a stream case file's text; raises ``ValueError`` naming the first problem."""
    top = _fields(parse(text), "case", ["name", "description", "settings", "options", "steps"])
    case = StreamCase(
        name=_string(top.get("name"), "name"),
        description=_string(top.get("description"), "description", False) or "",
    )
    if not _absent(top.get("settings")):
        s = _fields(top["settings"], "settings", ["maxMessageBytes", "logLevel"])
        case.max_message_bytes = _u64(s.get("maxMessageBytes"), "settings.maxMessageBytes", False)
        level = _string(s.get("logLevel"), "settings.logLevel", False)
        if level is not None:
            if level not in LEVELS:
                raise ValueError(f"settings.logLevel: expected one of {', '.join(LEVELS)}")
            case.log_level = level
    options = _options(top.get("options"), "options")
    steps = top.get("steps")
    if steps is None or steps.kind != "array":
        raise ValueError("steps: expected an array")
    for index, node in enumerate(steps.value):
        step = _step(node, f"steps[{index}]")
        if isinstance(step.action, Start) and "options" not in node.value:
            step.action.options = options
        case.steps.append(step)
    return case


def corpus_files(directory: Path = CORPUS_DIR) -> list[Path]:
    """The case files, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if p.suffix == ".json"), key=lambda p: p.name.encode())


def load(path: Path) -> StreamCase:
    try:
        return decode(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


# ---- running ----


def _show_request(r: Optional[Request]) -> str:
    if r is None:
        return "null"
    return f"{r.url} {[list(h) for h in r.headers]}"


def _call(client: StreamClient, action: Action) -> Step:
    if isinstance(action, Start):
        return client.start(action.options, action.now)
    if isinstance(action, Response):
        return client.on_response(action.status, action.content_type, action.location, action.now)
    if isinstance(action, Body):
        return client.on_body(action.chunk, action.now)
    if isinstance(action, Closed):
        return client.on_closed(action.error, action.now)
    return client.on_timeout(action.now)


def run(runtime: Runtime, case: StreamCase, batched: bool = False, body_text: bool = True,
        batch_logs: Optional[bool] = None) -> list[str]:
    """Runs a case on a fresh instance; returns every mismatch (empty: passed). Raises
    ``ValueError`` on a trap, as the Rust runner fails. ``batched``: through the batched form
    (``StreamClient(batch=...)``), the callbacks read from its JSON lines, and (unless
    ``batch_logs`` says otherwise) the log lines batched too. ``body_text``: body chunks go in
    as text where they are UTF-8 (the default), else always as bytes."""
    rec = _NoCallbacks() if batched else Recorder()
    client = StreamClient(runtime, rec, log_level=case.log_level, batch=rec.batch if batched else None,
                          batch_logs=batched if batch_logs is None else batch_logs, body_text=body_text)
    if case.max_message_bytes is not None:
        client.configure(case.max_message_bytes, case.log_level)
    errors: list[str] = []
    for index, step in enumerate(case.steps):
        want = step.expect
        rec.logs.clear()
        rec.calls.clear()
        where = f"step {index} ({type(step.action).__name__.lower()})"
        try:
            got: Union[Step, str] = _call(client, step.action)
        except InvalidOptions as e:
            got = str(e)
        except Exception as e:
            raise ValueError(f"{where}: {type(e).__name__}: {e}") from e
        if want.error is not None or isinstance(got, str):
            if not isinstance(got, str):
                errors.append(f"{where}: start succeeded, expected an error containing {want.error!r}")
            elif want.error is None:
                errors.append(f"{where}: start failed: {got}")
            elif want.error not in got:
                errors.append(f"{where}: start error {got!r} does not contain {want.error!r}")
            continue
        if rec.calls != want.calls:
            errors.append(
                f"{where}: callbacks differ\n  expected: [{', '.join(want.calls)}]\n"
                f"  actual:   [{', '.join(rec.calls)}]"
            )
        if got.disconnect != want.disconnect:
            errors.append(f"{where}: disconnect {got.disconnect}, expected {want.disconnect}")
        if got.connect != want.connect:
            errors.append(
                f"{where}: connect differs\n  expected: {_show_request(want.connect)}\n"
                f"  actual:   {_show_request(got.connect)}"
            )
        if got.stop != want.stop:
            errors.append(f"{where}: stop {got.stop!r}, expected {want.stop!r}")
        if got.next_deadline != want.next_deadline:
            errors.append(f"{where}: next deadline {got.next_deadline}, expected {want.next_deadline}")
        if got.last_event_id != want.last_event_id:
            errors.append(f"{where}: last event id {got.last_event_id!r}, expected {want.last_event_id!r}")
        for log in want.logs:
            if not any(l == log.level and log.contains in m for l, m in rec.logs):
                errors.append(f"{where}: no {log.level} log containing {log.contains!r}; logs: {rec.logs!r}")
    return errors


def main(argv: list[str]) -> int:
    batched = "--batched" in argv
    body_text = "--bytes" not in argv
    argv = [a for a in argv if a not in ("--batched", "--bytes")]
    directory = Path(argv[0]) if argv else CORPUS_DIR
    files = corpus_files(directory)
    if not files:
        print(f"no stream case files in {directory}", file=sys.stderr)
        return 1
    runtime = Runtime()
    failed = 0
    for path in files:
        try:
            errors = run(runtime, load(path), batched, body_text)
        except ValueError as e:
            errors = [str(e)]
        if errors:
            failed += 1
            print(f"FAIL {path.name}\n" + "\n".join(errors))
        else:
            print(f"ok   {path.name}")
    print(f"{len(files) - failed} of {len(files)} stream cases passed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
