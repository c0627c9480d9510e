"""A sans-IO Server-Sent Events parser (WHATWG HTML "server-sent events"): push bytes in chunks
split anywhere, get back the parsed items in order.

LF, CR and CRLF line ends (a CRLF split across two chunks counts once), a leading BOM, ``:``
comments, a field with no colon, one optional space after the colon, multi-line ``data`` joined
with "\\n", ``id`` (ignored if it holds NUL), ``retry`` (digits only). An event is dispatched on a
blank line if it has data; its type is "" when the block had no ``event:`` field. A partial event
at the end of a connection is discarded by ``reset_connection()``. An event whose data exceeds
``max_event_chars`` is dropped and reported as ``Oversized``.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Optional, Union


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: Optional[str]


@dataclass(frozen=True)
class Comment:
    text: str


@dataclass(frozen=True)
class Retry:
    ms: int


@dataclass(frozen=True)
class Oversized:
    event: str


Item = Union[Event, Comment, Retry, Oversized]


class SseParser:
    def __init__(self, last_event_id: str = "", max_event_chars: int = 16 * 1024 * 1024 + 1024):
        self.last_event_id = "" if "\0" in last_event_id else last_event_id
        self.max_event_chars = max_event_chars
        self.reset_connection()

    def reset_connection(self) -> None:
        """Starts a new response body: drops a partial line or event; keeps the last event id."""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line: list[str] = []
        self._line_len = 0
        self._line_cut = False
        self._pending_cr = False
        self._at_start = True
        self._data: list[str] = []
        self._data_chars = 0
        self._event_type = ""
        self._id_buffer = self.last_event_id
        self._oversized = False

    def push(self, chunk: bytes) -> list[Item]:
        """Feeds the next chunk of the body; returns the items it completed."""
        text = self._decoder.decode(chunk)
        items: list[Item] = []
        if self._at_start and text:
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        i, n = 0, len(text)
        if self._pending_cr and n:
            self._pending_cr = False
            if text[0] == "\n":
                i = 1
        while i < n:
            cr = text.find("\r", i)
            lf = text.find("\n", i)
            j = min(x for x in (cr, lf, n) if x >= 0)
            self._append(text[i:j])
            if j == n:
                break
            line, cut = "".join(self._line), self._line_cut
            self._line, self._line_len, self._line_cut = [], 0, False
            self._process(line, cut, items)
            if text[j] == "\r":
                if j + 1 < n:
                    i = j + 2 if text[j + 1] == "\n" else j + 1
                else:
                    self._pending_cr = True
                    i = j + 1
            else:
                i = j + 1
        return items

    def _append(self, s: str) -> None:
        room = self.max_event_chars + 64 - self._line_len
        if len(s) > room:
            s = s[: max(0, room)]
            self._line_cut = True
        if s:
            self._line.append(s)
            self._line_len += len(s)

    def _process(self, line: str, cut: bool, items: list[Item]) -> None:
        if line == "":
            self._dispatch(items)
            return
        if line[0] == ":":
            text = line[1:]
            items.append(Comment(text[1:] if text.startswith(" ") else text))
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event_type = value
        elif field == "data":
            if cut or self._oversized or self._data_chars + len(value) + 1 > self.max_event_chars:
                self._oversized = True
                self._data, self._data_chars = [], 0
            else:
                self._data.append(value)
                self._data_chars += len(value) + 1
        elif field == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif field == "retry":
            if value and value.isascii() and value.isdigit():
                items.append(Retry(int(value)))

    def _dispatch(self, items: list[Item]) -> None:
        self.last_event_id = self._id_buffer
        if self._oversized:
            items.append(Oversized(self._event_type))
        elif self._data_chars > 0:
            items.append(Event(self._event_type, "\n".join(self._data), self.last_event_id or None))
        self._data, self._data_chars = [], 0
        self._event_type = ""
        self._oversized = False
