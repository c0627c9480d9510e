//! Sans-IO parser for Server-Sent Events (the `text/event-stream` format of
//! the WHATWG HTML standard, section 9.2 "Server-sent events").
//!
//! Feed the response body with [`Parser::push`] in chunks of any size, split
//! anywhere (even inside a UTF-8 character or between the CR and LF of a
//! CRLF), then pull the parsed [`Item`]s in order with [`Parser::next_item`].
//! The parser does no I/O and reads no clock; [`crate::stream::Stream`] sends
//! [`Parser::last_event_id`] as `Last-Event-ID` and calls
//! [`Parser::reset_connection`] before feeding the next response body.
//!
//! Deviations from a browser `EventSource`, all deliberate:
//! - the event type is `""` when the block had no `event:` field (the browser
//!   default `"message"` is left to the caller);
//! - comments are reported as [`Item::Comment`] (useful as heartbeats);
//! - `retry:` is reported as [`Item::Retry`] instead of being applied;
//! - events larger than [`Parser::max_event_bytes`] are dropped and reported
//!   as [`Item::Oversized`], so memory stays bounded.
//!
//! Work is linear in the input: each byte is looked at a constant number of
//! times, whatever the chunking.

use alloc::borrow::Cow;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

/// Default limit for one event's data (16 MiB plus 1 KiB of slack), see
/// [`Parser::with_max_event_bytes`].
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024 + 1024;

/// Bytes a single line may hold beyond `max_event_bytes` (room for the field
/// name, the colon and the space), so that the line limit never triggers before
/// the data limit does.
pub(crate) const LINE_SLACK: usize = 64;

/// Above this capacity the line buffer is released after each line, so one
/// huge line does not pin its memory for the rest of the connection.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;

/// The UTF-8 byte order mark.
pub(crate) const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The event type from the last `event:` field of the block; `""` when
    /// the block had none (it is *not* defaulted to `"message"`).
    pub event: String,
    /// The data: the values of the block's `data:` fields joined with `'\n'`.
    pub data: String,
    /// The last-event-id string in effect when the event was dispatched
    /// (`None` when it is empty).
    pub id: Option<String>,
}

/// One thing parsed from the stream, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A complete event (a block ended by a blank line, with at least one
    /// `data` field).
    Event(Event),
    /// A comment line: the text after the `':'`, with one leading space
    /// removed. Reported as soon as its line ends (useful as a heartbeat).
    Comment(String),
    /// A valid `retry:` field (ASCII digits only, non-empty): the reconnection
    /// time in milliseconds, saturated at `u64::MAX`. Reported as soon as its
    /// line ends, whether or not the block later dispatches an event.
    Retry(u64),
    /// An event whose data exceeded [`Parser::max_event_bytes`]. Its data was
    /// discarded (the rest of its `data` lines are skipped without being
    /// stored); its other fields were processed normally, so `id:` lines still
    /// move the last event id. Reported in the event's place, when its block
    /// ends with a blank line. Callers should treat it as malformed data.
    Oversized {
        /// The event type in effect when the block ended (`""` if none).
        event: String,
        /// The last-event-id string in effect when the block ended.
        id: Option<String>,
    },
}

/// Where the check for a byte order mark at the start of a body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BomState {
    /// This many bytes of the BOM have been seen at the start of the body.
    Checking(usize),
    /// Past the start of the body: no more stripping.
    Done,
}

/// Incremental SSE parser: push bytes, pull [`Item`]s.
#[derive(Debug, Clone)]
pub struct Parser {
    /// Bytes of the current, not yet terminated line (at most the line limit).
    pub(crate) line: Vec<u8>,
    /// The current line went over the line limit; its tail was dropped.
    line_overflow: bool,
    /// The last byte seen was a CR ending a line: a LF right after it belongs
    /// to the same line end.
    pending_cr: bool,
    /// Byte order mark detection at the start of a body.
    bom: BomState,
    /// The data buffer of the event being built.
    pub(crate) data: String,
    /// The event type buffer.
    event_type: String,
    /// The last event ID buffer (set by `id:`, committed on a blank line).
    id_buffer: String,
    /// The committed last-event-id string.
    last_event_id: String,
    /// Counts the changes of `last_event_id`.
    id_changes: u64,
    /// The event being built went over the limit and its data was dropped.
    oversized: bool,
    /// Limit for one event's data.
    max_event_bytes: usize,
    /// Parsed items not yet pulled.
    items: VecDeque<Item>,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser for a new stream, with no last event id and the default
    /// [`DEFAULT_MAX_EVENT_BYTES`] limit.
    pub fn new() -> Self {
        Self {
            line: Vec::new(),
            line_overflow: false,
            pending_cr: false,
            bom: BomState::Checking(0),
            data: String::new(),
            event_type: String::new(),
            id_buffer: String::new(),
            last_event_id: String::new(),
            id_changes: 0,
            oversized: false,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            items: VecDeque::new(),
        }
    }

    /// A parser that resumes a stream: `id` becomes the committed last event
    /// id, so it is reported by [`Parser::last_event_id`] and attached to
    /// events until the stream sets another. `None`, an empty string, or a
    /// string containing U+0000 (which the stream itself could never set)
    /// mean no id.
    pub fn with_last_event_id(id: Option<String>) -> Self {
        let mut parser = Self::new();
        if let Some(id) = id.filter(|id| !id.contains('\0')) {
            parser.id_buffer.clone_from(&id);
            parser.last_event_id = id;
        }
        parser
    }

    /// A parser whose events may hold at most `limit` bytes of data (the
    /// UTF-8 decoded `data` values plus one `'\n'` per `data` line). A larger
    /// event is reported as [`Item::Oversized`]; a single line is also cut
    /// off at `limit` + 64 bytes, so memory stays bounded whatever arrives.
    pub fn with_max_event_bytes(limit: usize) -> Self {
        let mut parser = Self::new();
        parser.max_event_bytes = limit;
        parser
    }

    /// Changes the limit set by [`Parser::with_max_event_bytes`]; it applies
    /// to data added from now on.
    pub fn set_max_event_bytes(&mut self, limit: usize) {
        self.max_event_bytes = limit;
    }

    /// The limit for one event's data, in bytes.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// Feeds the next chunk of the response body. Chunks may be of any size
    /// (including empty) and split anywhere. Complete items become available
    /// through [`Parser::next_item`].
    pub fn push(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        while let BomState::Checking(matched) = self.bom {
            let Some((&byte, rest)) = bytes.split_first() else {
                return;
            };
            if BOM.get(matched) == Some(&byte) {
                bytes = rest;
                self.bom = if matched + 1 >= BOM.len() {
                    BomState::Done
                } else {
                    BomState::Checking(matched + 1)
                };
            } else {
                // Not a BOM after all: the bytes held back are ordinary data
                // (they hold no CR or LF, so they just start the first line).
                self.bom = BomState::Done;
                let held = BOM.get(..matched).unwrap_or(&[]);
                self.feed(held);
            }
        }
        self.feed(bytes);
    }

    /// The next parsed item, oldest first, or `None` when more input is
    /// needed.
    pub fn next_item(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    /// Takes all parsed items at once, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = Item> + '_ {
        self.items.drain(..)
    }

    /// The committed last-event-id string (set when a block ends with a blank
    /// line), to send as `Last-Event-ID` when reconnecting; `None` when empty.
    pub fn last_event_id(&self) -> Option<&str> {
        (!self.last_event_id.is_empty()).then_some(self.last_event_id.as_str())
    }

    /// How many times the committed last-event-id string changed: compare two readings to
    /// know whether it changed in between.
    pub fn id_changes(&self) -> u64 {
        self.id_changes
    }

    /// Prepares for a new connection's body: drops the partial line and the
    /// block not yet ended by a blank line (an `id:` in it is forgotten),
    /// checks for a BOM again, and keeps the committed last event id, the
    /// limit and the items already parsed but not yet pulled.
    pub fn reset_connection(&mut self) {
        if self.line.capacity() > KEEP_LINE_CAPACITY {
            self.line = Vec::new();
        } else {
            self.line.clear();
        }
        self.line_overflow = false;
        self.pending_cr = false;
        self.bom = BomState::Checking(0);
        self.data = String::new();
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
        self.oversized = false;
    }

    /// Splits bytes (past the BOM check) into lines.
    fn feed(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        if self.pending_cr {
            match bytes.split_first() {
                None => return,
                Some((b'\n', rest)) => bytes = rest,
                Some(_) => {}
            }
            self.pending_cr = false;
        }
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (segment, rest) = bytes.split_at(pos);
            self.append_to_line(segment);
            let Some((&terminator, rest)) = rest.split_first() else {
                return;
            };
            bytes = rest;
            self.end_line();
            if terminator == b'\r' {
                match bytes.split_first() {
                    Some((b'\n', rest)) => bytes = rest,
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
        }
        self.append_to_line(bytes);
    }

    /// Adds bytes to the current line, up to the line limit.
    fn append_to_line(&mut self, segment: &[u8]) {
        if self.line_overflow || segment.is_empty() {
            return;
        }
        let cap = self.max_event_bytes.saturating_add(LINE_SLACK);
        let room = cap.saturating_sub(self.line.len());
        if segment.len() > room {
            self.line
                .extend_from_slice(segment.get(..room).unwrap_or(&[]));
            self.line_overflow = true;
        } else {
            self.line.extend_from_slice(segment);
        }
    }

    /// Processes the current line, which has just been terminated.
    fn end_line(&mut self) {
        let mut line = core::mem::take(&mut self.line);
        let overflow = core::mem::replace(&mut self.line_overflow, false);
        self.process_line(&line, overflow);
        if line.capacity() > KEEP_LINE_CAPACITY {
            line = Vec::new();
        } else {
            line.clear();
        }
        self.line = line;
    }

    /// Interprets one line; `overflow` means its tail was cut off.
    fn process_line(&mut self, line: &[u8], overflow: bool) {
        if line.is_empty() && !overflow {
            self.dispatch();
            return;
        }
        if let Some(comment) = line.strip_prefix(b":") {
            // A truncated comment is dropped rather than reported cut short.
            if !overflow {
                let text = decode(strip_one_space(comment)).into_owned();
                self.items.push_back(Item::Comment(text));
            }
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => (
                line.get(..colon).unwrap_or(&[]),
                strip_one_space(line.get(colon + 1..).unwrap_or(&[])),
            ),
            None => (line, &[][..]),
        };
        match name {
            b"event" | b"data" if overflow => self.mark_oversized(),
            b"event" => self.event_type = decode(value).into_owned(),
            b"data" => self.append_data(value),
            b"id" if !overflow && !value.contains(&0) => {
                self.id_buffer = decode(value).into_owned();
            }
            b"retry" if !overflow && !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let ms = value.iter().fold(0u64, |acc, &digit| {
                    acc.saturating_mul(10)
                        .saturating_add(u64::from(digit.saturating_sub(b'0')))
                });
                self.items.push_back(Item::Retry(ms));
            }
            _ => {}
        }
    }

    /// Appends one `data` value (and a `'\n'`) unless that would take the
    /// event over the limit.
    fn append_data(&mut self, value: &[u8]) {
        if self.oversized {
            return;
        }
        let text = decode(value);
        let needed = self.data.len().saturating_add(text.len()).saturating_add(1);
        if needed > self.max_event_bytes {
            self.mark_oversized();
        } else {
            // One growth for the value and its '\n': pushing the '\n' onto a buffer the value
            // just filled would double it (a 16 MiB event held 32 MiB).
            self.data.reserve(text.len() + 1);
            self.data.push_str(&text);
            self.data.push('\n');
        }
    }

    /// Drops the data of the event being built and remembers it was too big.
    fn mark_oversized(&mut self) {
        self.oversized = true;
        self.data = String::new();
    }

    /// The blank-line step of the standard's "dispatch the event".
    fn dispatch(&mut self) {
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
            self.id_changes = self.id_changes.wrapping_add(1);
        }
        let id = self.last_event_id().map(String::from);
        if self.oversized {
            self.oversized = false;
            self.data = String::new();
            let event = core::mem::take(&mut self.event_type);
            self.items.push_back(Item::Oversized { event, id });
            return;
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        let event = Event {
            event: core::mem::take(&mut self.event_type),
            data: core::mem::take(&mut self.data),
            id,
        };
        self.items.push_back(Item::Event(event));
    }
}

/// Removes one leading U+0020 SPACE, if any.
fn strip_one_space(value: &[u8]) -> &[u8] {
    value.strip_prefix(b" ").unwrap_or(value)
}

/// UTF-8 decoding with U+FFFD for invalid sequences.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
