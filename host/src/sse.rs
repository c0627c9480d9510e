//! Sans-IO parser for Server-Sent Events (the `text/event-stream` format of
//! the WHATWG HTML standard, section 9.2 "Server-sent events").
//!
//! Feed the response body with [`Parser::push`] in chunks of any size, split
//! anywhere (even inside a UTF-8 character or between the CR and LF of a
//! CRLF), then pull the parsed [`Item`]s in order with [`Parser::next_item`].
//! The parser does no I/O and reads no clock; reconnect policy is up to the
//! caller, which sends [`Parser::last_event_id`] as `Last-Event-ID` and calls
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

use std::borrow::Cow;
use std::collections::VecDeque;

/// Default limit for one event's data (16 MiB plus 1 KiB of slack), see
/// [`Parser::with_max_event_bytes`].
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024 + 1024;

/// Bytes a single line may hold beyond `max_event_bytes` (room for the field
/// name, the colon and the space), so that the line limit never triggers before
/// the data limit does.
const LINE_SLACK: usize = 64;

/// Above this capacity the line buffer is released after each line, so one
/// huge line does not pin its memory for the rest of the connection.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;

/// The UTF-8 byte order mark.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

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
    line: Vec<u8>,
    /// The current line went over the line limit; its tail was dropped.
    line_overflow: bool,
    /// The last byte seen was a CR ending a line: a LF right after it belongs
    /// to the same line end.
    pending_cr: bool,
    /// Byte order mark detection at the start of a body.
    bom: BomState,
    /// The data buffer of the event being built.
    data: String,
    /// The event type buffer.
    event_type: String,
    /// The last event ID buffer (set by `id:`, committed on a blank line).
    id_buffer: String,
    /// The committed last-event-id string.
    last_event_id: String,
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
        let mut line = std::mem::take(&mut self.line);
        let overflow = std::mem::replace(&mut self.line_overflow, false);
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
        }
        let id = self.last_event_id().map(str::to_owned);
        if self.oversized {
            self.oversized = false;
            self.data = String::new();
            let event = std::mem::take(&mut self.event_type);
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
            event: std::mem::take(&mut self.event_type),
            data: std::mem::take(&mut self.data),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UTF8_BOM: &str = "\u{FEFF}";

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<Item> {
        let mut parser = Parser::new();
        let mut items = Vec::new();
        for chunk in chunks {
            parser.push(chunk);
            while let Some(item) = parser.next_item() {
                items.push(item);
            }
        }
        items
    }

    fn parse(input: &str) -> Vec<Item> {
        parse_chunks(&[input.as_bytes()])
    }

    fn parse_str_chunks(chunks: &[&str]) -> Vec<Item> {
        let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
        parse_chunks(&chunks)
    }

    fn parse_in_pieces(input: &[u8], size: usize) -> Vec<Item> {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        parse_chunks(&chunks)
    }

    fn msg(data: &str) -> Item {
        ev("", data, None)
    }

    fn ev(event: &str, data: &str, id: Option<&str>) -> Item {
        Item::Event(Event {
            event: event.to_owned(),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        })
    }

    fn comment(text: &str) -> Item {
        Item::Comment(text.to_owned())
    }

    // ---- basic parsing ----

    #[test]
    fn one_line_message_in_one_chunk() {
        assert_eq!(parse("data: Hello\n\n"), vec![msg("Hello")]);
    }

    #[test]
    fn one_line_message_in_two_chunks() {
        assert_eq!(
            parse_str_chunks(&["data: Hel", "lo\n\n"]),
            vec![msg("Hello")]
        );
    }

    #[test]
    fn two_messages_in_three_chunks_with_shared_chunk() {
        assert_eq!(
            parse_str_chunks(&["data: test", "test\n\ndata:", "test\n\n"]),
            vec![msg("testtest"), msg("test")]
        );
    }

    #[test]
    fn nothing_before_blank_line() {
        let mut parser = Parser::new();
        parser.push(b"data: Hello\n");
        assert_eq!(parser.next_item(), None);
        parser.push(b"\n");
        assert_eq!(parser.next_item(), Some(msg("Hello")));
        assert_eq!(parser.next_item(), None);
    }

    #[test]
    fn large_message_in_one_and_two_chunks() {
        let data = "x".repeat(1_048_576);
        let input = format!("data: {data}\n\n");
        assert_eq!(parse(&input), vec![msg(&data)]);
        let (a, b) = input.as_bytes().split_at(input.len() / 2);
        assert_eq!(parse_chunks(&[a, b]), vec![msg(&data)]);
    }

    #[test]
    fn payload_size_sweep() {
        for size in [1, 128, 1023, 1024, 1025, 4095, 4096, 4097, 8192, 65536] {
            let data = "y".repeat(size);
            let input = format!("data: {data}\n\n");
            assert_eq!(parse_in_pieces(input.as_bytes(), 4096), vec![msg(&data)]);
        }
    }

    #[test]
    fn two_one_line_messages_in_one_chunk() {
        assert_eq!(
            parse("data: Hello\n\ndata: World\n\n"),
            vec![msg("Hello"), msg("World")]
        );
    }

    #[test]
    fn one_two_line_message() {
        assert_eq!(
            parse("data: Hello\ndata:World\n\n"),
            vec![msg("Hello\nWorld")]
        );
    }

    #[test]
    fn empty_data() {
        assert_eq!(parse("data:\n\n"), vec![msg("")]);
    }

    #[test]
    fn event_with_specific_type() {
        assert_eq!(
            parse("event: greeting\ndata: Hello\n\n"),
            vec![ev("greeting", "Hello", None)]
        );
    }

    #[test]
    fn no_event_field_gives_empty_type() {
        let items = parse("data: Hello\n\n");
        let Some(Item::Event(event)) = items.first() else {
            panic!("expected an event, got {items:?}");
        };
        assert_eq!(event.event, "");
    }

    #[test]
    fn event_type_does_not_leak_into_next_event() {
        assert_eq!(
            parse("event: a\ndata: 1\n\ndata: 2\n\n"),
            vec![ev("a", "1", None), msg("2")]
        );
    }

    #[test]
    fn event_type_without_data_is_reset() {
        assert_eq!(parse("event: a\n\ndata: 2\n\n"), vec![msg("2")]);
    }

    #[test]
    fn event_with_id() {
        assert_eq!(
            parse("id: abc\ndata: Hello\n\n"),
            vec![ev("", "Hello", Some("abc"))]
        );
    }

    #[test]
    fn event_with_type_and_id() {
        assert_eq!(
            parse("event: greeting\nid: abc\ndata: Hello\n\n"),
            vec![ev("greeting", "Hello", Some("abc"))]
        );
    }

    #[test]
    fn id_with_null_is_ignored() {
        let mut parser = Parser::new();
        parser.push(b"id: a\x00bc\ndata: Hello\n\n");
        assert_eq!(parser.next_item(), Some(msg("Hello")));
        assert_eq!(parser.last_event_id(), None);
        parser.push(b"id: x\n\nid: y\x00\ndata: 2\n\n");
        assert_eq!(parser.next_item(), Some(ev("", "2", Some("x"))));
    }

    #[test]
    fn last_id_persists() {
        assert_eq!(
            parse_str_chunks(&["id: abc\ndata: first\n\n", "data: second\n\n"]),
            vec![ev("", "first", Some("abc")), ev("", "second", Some("abc"))]
        );
    }

    #[test]
    fn last_id_overridden_by_empty_value() {
        let mut parser = Parser::new();
        parser.push(b"id: abc\ndata: first\n\n");
        assert_eq!(parser.last_event_id(), Some("abc"));
        parser.push(b"id: \ndata: second\n\n");
        assert_eq!(parser.last_event_id(), None);
        let items: Vec<Item> = parser.drain().collect();
        assert_eq!(items, vec![ev("", "first", Some("abc")), msg("second")]);
        // `id` with no colon clears it too.
        parser.push(b"id: z\n\nid\ndata: third\n\n");
        assert_eq!(parser.drain().last(), Some(msg("third")));
    }

    #[test]
    fn id_is_committed_by_blank_line_without_data() {
        let mut parser = Parser::new();
        parser.push(b"id: 7\n\n");
        assert_eq!(parser.next_item(), None);
        assert_eq!(parser.last_event_id(), Some("7"));
        parser.push(b"data: x\n\n");
        assert_eq!(parser.next_item(), Some(ev("", "x", Some("7"))));
    }

    #[test]
    fn fields_in_reverse_order() {
        assert_eq!(
            parse("data: Hello\nid: abc\nevent: greeting\n\n"),
            vec![ev("greeting", "Hello", Some("abc"))]
        );
    }

    #[test]
    fn unknown_field_ignored() {
        assert_eq!(
            parse("event: greeting\ncolor: blue\ndata: Hello\n\n"),
            vec![ev("greeting", "Hello", None)]
        );
    }

    #[test]
    fn block_of_only_unknown_fields_dispatches_nothing() {
        assert_eq!(
            parse("color: blue\nData: x\nDATA\n\ndata: after\n\n"),
            vec![msg("after")]
        );
    }

    #[test]
    fn fields_without_leading_space() {
        assert_eq!(
            parse("event:greeting\ndata:Hello\n\n"),
            vec![ev("greeting", "Hello", None)]
        );
    }

    #[test]
    fn extra_leading_space_keeps_one() {
        assert_eq!(
            parse("event:  greeting\ndata:  Hello\n\n"),
            vec![ev(" greeting", " Hello", None)]
        );
    }

    #[test]
    fn value_keeps_later_colons_and_trailing_spaces() {
        assert_eq!(parse("data: a: b:c  \n\n"), vec![msg("a: b:c  ")]);
    }

    #[test]
    fn field_with_no_colon() {
        assert_eq!(parse("data\n\ndata\ndata\n\n"), vec![msg(""), msg("\n")]);
    }

    #[test]
    fn multibyte_characters() {
        let input = "data: €豆腐\n\n";
        assert_eq!(parse(input), vec![msg("€豆腐")]);
        assert_eq!(parse_in_pieces(input.as_bytes(), 1), vec![msg("€豆腐")]);
        assert_eq!(parse_in_pieces(input.as_bytes(), 2), vec![msg("€豆腐")]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        let input = b"data: a\xFFb\xE2\x82\n\nevent: \xC3\ndata: \xF0\x9F\x98\x80\n\n";
        let expected = vec![msg("a\u{FFFD}b\u{FFFD}"), ev("\u{FFFD}", "😀", None)];
        assert_eq!(parse_chunks(&[input]), expected);
        assert_eq!(parse_in_pieces(input, 1), expected);
    }

    #[test]
    fn many_messages_in_one_chunk() {
        let mut input = String::new();
        let mut expected = Vec::new();
        for i in 0..100 {
            input.push_str(&format!("data: message {i}\n\n"));
            expected.push(msg(&format!("message {i}")));
        }
        assert_eq!(parse(&input), expected);
    }

    #[test]
    fn default_and_new_agree() {
        let mut parser = Parser::default();
        assert_eq!(parser.max_event_bytes(), DEFAULT_MAX_EVENT_BYTES);
        assert_eq!(parser.last_event_id(), None);
        parser.push(b"data: x\n\n");
        assert_eq!(parser.next_item(), Some(msg("x")));
    }

    // ---- BOM ----

    #[test]
    fn bom_at_start_is_stripped() {
        assert_eq!(
            parse(&format!("{UTF8_BOM}data: Hello\n\n")),
            vec![msg("Hello")]
        );
    }

    #[test]
    fn bom_before_typed_event_with_id() {
        assert_eq!(
            parse(&format!(
                "{UTF8_BOM}event: greeting\nid: abc\ndata: Hello\n\n"
            )),
            vec![ev("greeting", "Hello", Some("abc"))]
        );
    }

    #[test]
    fn bom_stripped_once_with_multiple_messages() {
        assert_eq!(
            parse(&format!("{UTF8_BOM}data: First\n\ndata: Second\n\n")),
            vec![msg("First"), msg("Second")]
        );
    }

    #[test]
    fn bom_in_later_data_is_kept() {
        let later = format!("data: {UTF8_BOM}Second\n\n");
        assert_eq!(
            parse_str_chunks(&["data: First\n\n", &later]),
            vec![msg("First"), msg(&format!("{UTF8_BOM}Second"))]
        );
    }

    #[test]
    fn bom_split_across_two_chunks() {
        assert_eq!(
            parse_chunks(&[b"\xEF\xBB", b"\xBFdata: Hello\n\n"]),
            vec![msg("Hello")]
        );
    }

    #[test]
    fn bom_one_byte_per_chunk() {
        assert_eq!(
            parse_chunks(&[b"\xEF", b"\xBB", b"\xBF", b"data: Hello\n\n"]),
            vec![msg("Hello")]
        );
    }

    #[test]
    fn only_first_bom_is_stripped() {
        assert_eq!(
            parse(&format!("{UTF8_BOM}data: {UTF8_BOM}Hello\n\n")),
            vec![msg(&format!("{UTF8_BOM}Hello"))]
        );
    }

    #[test]
    fn second_bom_at_start_makes_unknown_field() {
        // The second BOM is part of the field name, so the line is ignored.
        assert_eq!(
            parse(&format!("{UTF8_BOM}{UTF8_BOM}data: x\n\ndata: y\n\n")),
            vec![msg("y")]
        );
    }

    #[test]
    fn no_bom_baseline() {
        assert_eq!(parse("data: Hello\n\n"), vec![msg("Hello")]);
    }

    #[test]
    fn bom_with_multi_line_data() {
        assert_eq!(
            parse(&format!("{UTF8_BOM}data: Line1\ndata: Line2\n\n")),
            vec![msg("Line1\nLine2")]
        );
    }

    #[test]
    fn bom_with_comment_at_start() {
        assert_eq!(
            parse(&format!("{UTF8_BOM}:comment\ndata: Hello\n\n")),
            vec![comment("comment"), msg("Hello")]
        );
    }

    #[test]
    fn bom_with_empty_data() {
        assert_eq!(parse(&format!("{UTF8_BOM}data:\n\n")), vec![msg("")]);
    }

    #[test]
    fn partial_bom_is_data() {
        // EF BB then a non-BOM byte: the held bytes are ordinary (invalid)
        // UTF-8 at the start of the first line.
        assert_eq!(
            parse_chunks(&[b"\xEF", b"\xBB", b"data: x\n\ndata: y\n\n"]),
            vec![msg("y")]
        );
        assert_eq!(
            parse_chunks(&[b"\xEF\xBB\n", b"data: y\n\n"]),
            vec![msg("y")]
        );
        assert_eq!(parse_chunks(&[b"\xEF"]), vec![]);
    }

    #[test]
    fn bom_checked_again_after_reset() {
        let mut parser = Parser::new();
        parser.push(b"\xEF\xBB\xBFdata: a\n\n");
        parser.reset_connection();
        parser.push(b"\xEF\xBB");
        parser.push(b"\xBFdata: b\n\n");
        let items: Vec<Item> = parser.drain().collect();
        assert_eq!(items, vec![msg("a"), msg("b")]);
    }

    // ---- comments ----

    #[test]
    fn single_comment() {
        assert_eq!(parse(":Hello\n"), vec![comment("Hello")]);
    }

    #[test]
    fn comment_strips_one_space_only() {
        assert_eq!(
            parse(":  two\n: one\n:\n"),
            vec![comment(" two"), comment("one"), comment("")]
        );
    }

    #[test]
    fn two_comments_in_a_row() {
        let mut parser = Parser::new();
        parser.push(b":Hello\n");
        assert_eq!(parser.next_item(), Some(comment("Hello")));
        parser.push(b":World\n");
        assert_eq!(parser.next_item(), Some(comment("World")));
        assert_eq!(parser.next_item(), None);
    }

    #[test]
    fn comment_before_event() {
        assert_eq!(
            parse_str_chunks(&[":Hello\n", "data: Hello\n\n"]),
            vec![comment("Hello"), msg("Hello")]
        );
    }

    #[test]
    fn comment_after_event() {
        assert_eq!(
            parse_str_chunks(&["data: Hello\n\n", ":Hello\n"]),
            vec![msg("Hello"), comment("Hello")]
        );
    }

    #[test]
    fn comment_inside_event_does_not_break_it() {
        assert_eq!(
            parse("data: a\n:ping\ndata: b\n\n"),
            vec![comment("ping"), msg("a\nb")]
        );
    }

    // ---- line feeds ----

    fn linefeed_cases(t: &str) -> Vec<(String, Vec<Item>)> {
        vec![
            (format!("data: event 1{t}{t}"), vec![msg("event 1")]),
            (
                format!("data: event 1{t}{t}data: event 2 line 1{t}data: event 2 line 2{t}{t}"),
                vec![msg("event 1"), msg("event 2 line 1\nevent 2 line 2")],
            ),
            (
                format!("data:{t}data: line2{t}data: line3{t}{t}"),
                vec![msg("\nline2\nline3")],
            ),
            (
                format!("data: line1{t}data:{t}data: line3{t}{t}"),
                vec![msg("line1\n\nline3")],
            ),
            (
                format!("data: event 1{t}{t}{t}data: event 2{t}{t}"),
                vec![msg("event 1"), msg("event 2")],
            ),
            (
                format!("data: event 1{t}{t}{t}{t}data: event 2{t}{t}"),
                vec![msg("event 1"), msg("event 2")],
            ),
        ]
    }

    fn check_terminator(t: &str) {
        for (input, expected) in linefeed_cases(t) {
            assert_eq!(parse(&input), expected, "whole: {input:?}");
            assert_eq!(
                parse_in_pieces(input.as_bytes(), 1),
                expected,
                "1-byte: {input:?}"
            );
            assert_eq!(
                parse_in_pieces(input.as_bytes(), 2),
                expected,
                "2-byte: {input:?}"
            );
        }
    }

    #[test]
    fn lf_terminator() {
        check_terminator("\n");
    }

    #[test]
    fn crlf_terminator() {
        check_terminator("\r\n");
    }

    #[test]
    fn cr_terminator() {
        check_terminator("\r");
    }

    #[test]
    fn crlf_where_cr_ends_a_chunk() {
        assert_eq!(
            parse_str_chunks(&[
                "data: Hello\r",
                "\ndata: World\r",
                "\n\r\ndata: OK\r",
                "\n",
                "\r",
                "\n",
            ]),
            vec![msg("Hello\nWorld"), msg("OK")]
        );
    }

    #[test]
    fn cr_dispatches_without_waiting_for_next_byte() {
        let mut parser = Parser::new();
        parser.push(b"data: x\r\r");
        assert_eq!(parser.next_item(), Some(msg("x")));
        // A LF after a CR that ended a chunk is swallowed, even after an
        // empty push in between.
        parser.push(b"");
        parser.push(b"\ndata: y\n\n");
        assert_eq!(parser.next_item(), Some(msg("y")));
    }

    #[test]
    fn mixed_terminators() {
        assert_eq!(
            parse("data: a\rdata: b\ndata: c\r\n\r:x\n\ndata: d\r\r\n"),
            vec![msg("a\nb\nc"), comment("x"), msg("d")]
        );
    }

    // ---- retry ----

    #[test]
    fn retry_digits_only() {
        assert_eq!(parse("retry: 5000\n"), vec![Item::Retry(5000)]);
        assert_eq!(parse("retry:0\n"), vec![Item::Retry(0)]);
        for bad in [
            "retry: 5s\n",
            "retry: -1\n",
            "retry: \n",
            "retry: 1.5\n",
            "retry\n",
            "retry:  5\n",
            "retry: +5\n",
        ] {
            assert_eq!(parse(bad), vec![], "{bad:?}");
        }
    }

    #[test]
    fn retry_alone_in_block_emits_no_event() {
        assert_eq!(
            parse("retry: 1000\n\ndata: x\n\n"),
            vec![Item::Retry(1000), msg("x")]
        );
    }

    #[test]
    fn retry_emitted_immediately_inside_event() {
        let mut parser = Parser::new();
        parser.push(b"data: x\nretry: 7\n");
        assert_eq!(parser.next_item(), Some(Item::Retry(7)));
        assert_eq!(parser.next_item(), None);
        parser.push(b"\n");
        assert_eq!(parser.next_item(), Some(msg("x")));
    }

    #[test]
    fn retry_overflow_saturates() {
        assert_eq!(
            parse("retry: 99999999999999999999999999999\n"),
            vec![Item::Retry(u64::MAX)]
        );
        assert_eq!(
            parse("retry: 18446744073709551615\n"),
            vec![Item::Retry(u64::MAX)]
        );
        assert_eq!(
            parse("retry: 18446744073709551614\n"),
            vec![Item::Retry(u64::MAX - 1)]
        );
    }

    // ---- connections ----

    #[test]
    fn partial_event_discarded_on_reset() {
        let mut parser = Parser::new();
        parser.push(b"id: 1\ndata: one\n\n");
        parser.push(b"id: 2\ndata: partial\n");
        parser.push(b"data: cut of");
        parser.reset_connection();
        assert_eq!(parser.last_event_id(), Some("1"));
        parser.push(b"f\n\ndata: two\n\n");
        let items: Vec<Item> = parser.drain().collect();
        // "f" starts a fresh line: an unknown field.
        assert_eq!(
            items,
            vec![ev("", "one", Some("1")), ev("", "two", Some("1"))]
        );
    }

    #[test]
    fn partial_event_type_and_pending_cr_dropped_on_reset() {
        let mut parser = Parser::new();
        parser.push(b"event: old\ndata: x\r");
        parser.reset_connection();
        // The LF is not swallowed by the old connection's CR; it is a blank
        // line that dispatches nothing.
        parser.push(b"\ndata: y\n\n");
        assert_eq!(parser.next_item(), Some(msg("y")));
        assert_eq!(parser.next_item(), None);
    }

    #[test]
    fn last_id_survives_reset() {
        let mut parser = Parser::new();
        parser.push(b"id: abc\ndata: x\n\n");
        parser.reset_connection();
        assert_eq!(parser.last_event_id(), Some("abc"));
        parser.push(b"data: y\n\n");
        let items: Vec<Item> = parser.drain().collect();
        assert_eq!(
            items,
            vec![ev("", "x", Some("abc")), ev("", "y", Some("abc"))]
        );
    }

    #[test]
    fn queued_items_survive_reset() {
        let mut parser = Parser::new();
        parser.push(b"data: x\n\n");
        parser.reset_connection();
        assert_eq!(parser.next_item(), Some(msg("x")));
    }

    #[test]
    fn with_last_event_id_resumes() {
        let mut parser = Parser::with_last_event_id(Some("42".to_owned()));
        assert_eq!(parser.last_event_id(), Some("42"));
        parser.push(b"data: x\n\n");
        assert_eq!(parser.next_item(), Some(ev("", "x", Some("42"))));
        parser.push(b"id: 43\ndata: y\n\n");
        assert_eq!(parser.next_item(), Some(ev("", "y", Some("43"))));
        assert_eq!(Parser::with_last_event_id(None).last_event_id(), None);
        assert_eq!(
            Parser::with_last_event_id(Some(String::new())).last_event_id(),
            None
        );
        assert_eq!(
            Parser::with_last_event_id(Some("a\0b".to_owned())).last_event_id(),
            None
        );
    }

    // ---- limits ----

    #[test]
    fn event_at_limit_is_delivered() {
        // 10 bytes of data: "12345678" + '\n' + ... counted as values plus
        // one '\n' per line: "1234\n" + "5678\n" = 10.
        let mut parser = Parser::with_max_event_bytes(10);
        parser.push(b"data: 1234\ndata: 5678\n\n");
        assert_eq!(parser.next_item(), Some(msg("1234\n5678")));
    }

    #[test]
    fn oversized_event_reported_and_discarded() {
        let mut parser = Parser::with_max_event_bytes(10);
        parser.push(b"event: big\nid: 5\ndata: 1234\ndata: 56789\ndata: more\n");
        assert_eq!(parser.next_item(), None);
        parser.push(b"\ndata: ok\n\n");
        assert_eq!(
            parser.next_item(),
            Some(Item::Oversized {
                event: "big".to_owned(),
                id: Some("5".to_owned())
            })
        );
        assert_eq!(parser.next_item(), Some(ev("", "ok", Some("5"))));
        assert_eq!(parser.next_item(), None);
    }

    #[test]
    fn oversized_single_line_is_bounded() {
        let limit = 1000;
        let mut parser = Parser::with_max_event_bytes(limit);
        parser.push(b"data: ");
        let chunk = vec![b'z'; 4096];
        for _ in 0..256 {
            parser.push(&chunk);
            assert!(parser.line.len() <= limit + LINE_SLACK);
            assert!(parser.data.len() <= limit);
        }
        parser.push(b"\n:still here\nevent: later\n\n");
        assert_eq!(parser.next_item(), Some(comment("still here")));
        assert_eq!(
            parser.next_item(),
            Some(Item::Oversized {
                event: "later".to_owned(),
                id: None
            })
        );
        parser.push(b"data: small\n\n");
        assert_eq!(parser.next_item(), Some(msg("small")));
    }

    #[test]
    fn oversized_comment_and_unknown_lines_are_dropped() {
        let mut parser = Parser::with_max_event_bytes(4);
        let long = "q".repeat(200);
        parser.push(format!(":{long}\n{long}\nid: {long}\nretry: {long}\n\n").as_bytes());
        assert_eq!(parser.next_item(), None);
        assert_eq!(parser.last_event_id(), None);
    }

    #[test]
    fn oversized_event_dropped_by_reset() {
        let mut parser = Parser::with_max_event_bytes(3);
        parser.push(b"data: toolong\n");
        parser.reset_connection();
        parser.push(b"data: ab\n\n");
        assert_eq!(parser.next_item(), Some(msg("ab")));
        assert_eq!(parser.next_item(), None);
    }

    #[test]
    fn zero_limit_makes_every_event_oversized() {
        let mut parser = Parser::new();
        parser.set_max_event_bytes(0);
        parser.push(b"data\n\n:c\n");
        assert_eq!(
            parser.next_item(),
            Some(Item::Oversized {
                event: String::new(),
                id: None
            })
        );
        assert_eq!(parser.next_item(), Some(comment("c")));
    }

    // ---- performance ----

    #[test]
    fn two_megabytes_byte_by_byte_is_linear() {
        let data = "0123456789abcdef".repeat(1024 * 1024 / 16);
        let input = format!("data: {data}\ndata: {data}\n\n");
        let mut parser = Parser::new();
        for byte in input.as_bytes() {
            parser.push(std::slice::from_ref(byte));
        }
        let Some(Item::Event(event)) = parser.next_item() else {
            panic!("expected an event");
        };
        assert_eq!(event.data.len(), data.len() * 2 + 1);
        assert!(event.data.starts_with("0123"));
        assert_eq!(parser.next_item(), None);
    }

    // ---- property tests ----

    #[derive(Debug, Clone)]
    enum Gen {
        Event {
            event: Option<String>,
            data: String,
            id: Option<String>,
        },
        Comment(String),
        Retry(u64),
    }

    /// Text with no CR or LF.
    fn line_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<char>(), 0..12).prop_map(|chars| {
            chars
                .into_iter()
                .filter(|c| *c != '\r' && *c != '\n')
                .collect()
        })
    }

    /// Text with no CR (LF splits it into several `data` lines).
    fn data_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![any::<char>(), Just('\n'), Just(' '), Just(':')],
            0..20,
        )
        .prop_map(|chars| chars.into_iter().filter(|c| *c != '\r').collect())
    }

    fn gen_item() -> impl Strategy<Value = Gen> {
        prop_oneof![
            4 => (
                proptest::option::of(line_text()),
                data_text(),
                proptest::option::of(line_text().prop_map(|s| s.replace('\0', ""))),
            )
                .prop_map(|(event, data, id)| Gen::Event { event, data, id }),
            1 => line_text().prop_map(Gen::Comment),
            1 => any::<u64>().prop_map(Gen::Retry),
        ]
    }

    /// Serializes generated items; returns the lines (without terminators)
    /// and the items the parser must produce.
    fn serialize(items: &[Gen]) -> (Vec<String>, Vec<Item>) {
        let mut lines = Vec::new();
        let mut expected = Vec::new();
        let mut last_id: Option<String> = None;
        for item in items {
            match item {
                Gen::Event { event, data, id } => {
                    if let Some(event) = event {
                        lines.push(format!("event: {event}"));
                    }
                    if let Some(id) = id {
                        lines.push(format!("id: {id}"));
                        last_id = Some(id.clone()).filter(|id| !id.is_empty());
                    }
                    for part in data.split('\n') {
                        lines.push(format!("data: {part}"));
                    }
                    lines.push(String::new());
                    expected.push(Item::Event(Event {
                        event: event.clone().unwrap_or_default(),
                        data: data.clone(),
                        id: last_id.clone(),
                    }));
                }
                Gen::Comment(text) => {
                    lines.push(format!(": {text}"));
                    expected.push(Item::Comment(text.clone()));
                }
                Gen::Retry(ms) => {
                    lines.push(format!("retry: {ms}"));
                    expected.push(Item::Retry(*ms));
                }
            }
        }
        (lines, expected)
    }

    /// Joins lines with the chosen terminators (0 = LF, 1 = CRLF, 2 = CR),
    /// avoiding a CR followed by an empty LF-terminated line, which would
    /// read as one CRLF.
    fn join(lines: &[String], terminators: &[u8], bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(&BOM);
        }
        let mut previous_cr = false;
        for (i, line) in lines.iter().enumerate() {
            out.extend_from_slice(line.as_bytes());
            let mut choice = terminators.get(i % terminators.len().max(1)).copied();
            if previous_cr && line.is_empty() && choice == Some(0) {
                choice = Some(2);
            }
            match choice {
                Some(1) => out.extend_from_slice(b"\r\n"),
                Some(2) => out.push(b'\r'),
                _ => out.push(b'\n'),
            }
            previous_cr = choice == Some(2);
        }
        out
    }

    fn split_at_points(bytes: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(bytes.get(start..cut).unwrap_or(&[]).to_vec());
            start = cut;
        }
        chunks.push(bytes.get(start..).unwrap_or(&[]).to_vec());
        chunks
    }

    fn parse_owned_chunks(chunks: &[Vec<u8>], limit: usize) -> Vec<Item> {
        let mut parser = Parser::with_max_event_bytes(limit);
        let mut items = Vec::new();
        for chunk in chunks {
            parser.push(chunk);
            items.extend(parser.drain());
        }
        items
    }

    proptest! {
        #[test]
        fn roundtrip_with_random_terminators_and_splits(
            items in proptest::collection::vec(gen_item(), 0..12),
            terminators in proptest::collection::vec(0u8..3, 1..8),
            points in proptest::collection::vec(any::<usize>(), 0..10),
            bom in any::<bool>(),
        ) {
            let (lines, expected) = serialize(&items);
            let bytes = join(&lines, &terminators, bom);
            let chunks = split_at_points(&bytes, &points);
            prop_assert_eq!(parse_owned_chunks(&chunks, DEFAULT_MAX_EVENT_BYTES), expected);
        }

        #[test]
        fn random_bytes_never_panic_and_split_does_not_matter(
            bytes in proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    Just(b'\n'),
                    Just(b'\r'),
                    Just(b':'),
                    Just(b' '),
                    Just(0xEF),
                    Just(0xBB),
                    Just(0xBF),
                ],
                0..300,
            ),
            points in proptest::collection::vec(any::<usize>(), 0..10),
            limit in prop_oneof![Just(0usize), 1usize..40, Just(DEFAULT_MAX_EVENT_BYTES)],
        ) {
            let whole = parse_owned_chunks(std::slice::from_ref(&bytes), limit);
            let chunks = split_at_points(&bytes, &points);
            prop_assert_eq!(parse_owned_chunks(&chunks, limit), whole);
        }

        #[test]
        fn field_soup_never_panics(
            lines in proptest::collection::vec(
                (
                    prop_oneof![
                        Just("data"), Just("event"), Just("id"), Just("retry"),
                        Just(""), Just("x"),
                    ],
                    prop_oneof![Just(""), Just(":"), Just(": ")],
                    line_text(),
                    0u8..3,
                ),
                0..40,
            ),
            limit in 0usize..64,
        ) {
            let mut parser = Parser::with_max_event_bytes(limit);
            for (name, sep, value, t) in lines {
                parser.push(name.as_bytes());
                parser.push(sep.as_bytes());
                parser.push(value.as_bytes());
                let terminator: &[u8] = match t {
                    0 => b"\n",
                    1 => b"\r\n",
                    _ => b"\r",
                };
                parser.push(terminator);
                prop_assert!(parser.data.len() <= limit);
                prop_assert!(parser.line.len() <= limit + LINE_SLACK);
            }
            let _ = parser.drain().count();
            parser.reset_connection();
        }
    }
}
