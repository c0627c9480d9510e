//! The SSE parser: the WHATWG rules, the SSE contract-test cases, limits and chunking.

use crate::stream::sse::*;
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
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
