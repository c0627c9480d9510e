"""The SSE parser: line ends, chunking, fields."""

from relay_autoconfig.sse import Comment, Event, Oversized, Retry, SseParser

STREAM = "\ufeff: comment\n\nevent: put\nid: 7\ndata: a\ndata:b\n\ndata: no type\n\nevent: reconnect\ndata\n\n"
EXPECTED = [Event("put", "a\nb", "7"), Event("", "no type", "7"), Event("reconnect", "", "7")]


def parse_all(data: bytes, chunk: int):
    p = SseParser()
    items = []
    for i in range(0, len(data), chunk):
        items += p.push(data[i : i + chunk])
    return p, items


def test_line_ends_and_chunking():
    for eol in ("\n", "\r\n", "\r"):
        data = STREAM.replace("\n", eol).encode()
        for chunk in (len(data), 1, 2, 3):
            _, items = parse_all(data, chunk)
            assert [i for i in items if isinstance(i, Event)] == EXPECTED, (eol, chunk)


def test_split_utf8_and_fields():
    p, items = parse_all(": hi\nretry: 2500\nretry: x1\nid: a\0b\nevent: x\n\ndata: é€\n\ndata: tail".encode(), 1)
    assert items == [Comment("hi"), Retry(2500), Event("", "é€", None)]
    assert p.last_event_id == ""
    p.reset_connection()
    assert p.push(b"\n\n") == []


def test_oversized():
    p = SseParser(max_event_chars=10)
    assert p.push(b"event: put\ndata: 0123456789abc\n\ndata: ok\n\n") == [Oversized("put"), Event("", "ok", None)]
