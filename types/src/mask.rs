//! Making text from the wire safe to log: keys are shown by their last 4 characters only, and
//! names are escaped and cut short so a hostile stream cannot forge log lines.

use core::fmt::{self, Write};

/// How many characters of a logged name or ID are shown, escapes counted as written (`\n` is 2,
/// `\u{1b}` 6): longer ones are cut there with `…`. So one field of a log line takes at most
/// 121 characters (484 bytes of UTF-8) whatever it holds.
pub const MAX_LOGGED_CHARS: usize = 120;

/// How many characters of a logged message from outside (a decoder error, a network error) are
/// shown, counted like [`MAX_LOGGED_CHARS`]; longer ones are cut with `…`.
pub const MAX_LOGGED_MESSAGE_CHARS: usize = 200;

/// Displays a secret key as `…` plus its last 4 characters (the whole key if it is shorter than
/// 5 characters is still hidden except for those last 4).
#[derive(Debug, Clone, Copy)]
pub struct Last4<'a>(pub &'a str);

impl fmt::Display for Last4<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.chars().count();
        let tail: &str = match self.0.char_indices().nth(count.saturating_sub(4)) {
            Some((start, _)) => &self.0[start..],
            None => self.0,
        };
        for c in tail.chars() {
            write_escaped_char(f, c)?;
        }
        Ok(())
    }
}

/// Debug-formats a secret as `"…"` plus its last 4 characters: for `Debug` impls of types that
/// hold keys, so that `{:?}` never prints a key in full.
#[derive(Clone, Copy)]
pub struct Masked<'a>(pub &'a str);

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"…{}\"", Last4(self.0))
    }
}

/// Implements `Debug` for a struct, showing each `masked` field (a `String`) as `"…"` plus its
/// last 4 characters and the other fields as usual.
///
/// `debug_with_masked_keys!(Type { plain_a, plain_b; masked: secret_a, secret_b });`
#[macro_export]
macro_rules! debug_with_masked_keys {
    ($ty:ident { $($field:ident),* ; masked: $($secret:ident),+ }) => {
        impl ::core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    $(.field(stringify!($secret), &$crate::mask::Masked(&self.$secret)))+
                    .finish()
            }
        }
    };
}

/// Displays a name or ID from the wire: control characters escaped, cut with `…` at
/// [`MAX_LOGGED_CHARS`] characters (escapes counted as written).
#[derive(Debug, Clone, Copy)]
pub struct Safe<'a>(pub &'a str);

impl fmt::Display for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_capped(f, MAX_LOGGED_CHARS, false, |w| w.write_str(self.0))
    }
}

/// Displays a value from the wire like [`Safe`], between double quotes (`"` and `\` inside
/// escaped); the quotes are not counted.
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        write_capped(f, MAX_LOGGED_CHARS, true, |w| w.write_str(self.0))?;
        f.write_char('"')
    }
}

/// Displays a message from outside (a decoder error, a network error, anything `Display`): control
/// characters escaped, cut with `…` at [`MAX_LOGGED_MESSAGE_CHARS`] characters. The value stops
/// being formatted at the cut.
#[derive(Debug, Clone, Copy)]
pub struct SafeMessage<T>(pub T);

impl<T: fmt::Display> fmt::Display for SafeMessage<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_capped(f, MAX_LOGGED_MESSAGE_CHARS, false, |w| {
            write!(w, "{}", self.0)
        })
    }
}

/// Writes what `write` writes to `f`, escaped (control characters, and with `quote` also `"` and
/// `\`), cut with `…` before the character that would take it over `max` characters.
fn write_capped(
    f: &mut impl Write,
    max: usize,
    quote: bool,
    write: impl FnOnce(&mut Capped<'_>) -> fmt::Result,
) -> fmt::Result {
    let mut capped = Capped {
        out: f,
        left: max,
        quote,
        cut: false,
    };
    let result = write(&mut capped);
    if capped.cut {
        // The error was ours, to stop the writer at the cut.
        f.write_char('…')
    } else {
        result
    }
}

/// A writer that escapes and counts what it passes on, and refuses (with `cut` set) the first
/// character over its budget.
struct Capped<'a> {
    out: &'a mut dyn Write,
    /// Characters still allowed.
    left: usize,
    /// Whether `"` and `\` are escaped too.
    quote: bool,
    /// The budget ran out: the text was cut.
    cut: bool,
}

impl Write for Capped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Formatting a log line is on the path of every environment of a `put`. The common case
        // first: printable ASCII that fits, with nothing to escape, goes on in one piece.
        let quote = self.quote;
        if s.len() <= self.left
            && s.bytes()
                .all(|b| matches!(b, 0x20..=0x7e) && !(quote && (b == b'"' || b == b'\\')))
        {
            self.left -= s.len();
            return self.out.write_str(s);
        }
        // Otherwise plain characters pass on in runs, one `write_str` per run.
        let mut run = 0;
        for (i, c) in s.char_indices() {
            let control = needs_escape(c);
            let escaped = control || (self.quote && (c == '"' || c == '\\'));
            let width = if control {
                c.escape_default().len()
            } else if escaped {
                2
            } else {
                1
            };
            if width > self.left || escaped {
                self.out.write_str(&s[run..i])?;
                run = i + c.len_utf8();
            }
            if width > self.left {
                self.cut = true;
                return Err(fmt::Error);
            }
            self.left -= width;
            if control {
                write!(self.out, "{}", c.escape_default())?;
            } else if escaped {
                self.out.write_char('\\')?;
                self.out.write_char(c)?;
            }
        }
        self.out.write_str(&s[run..])
    }
}

/// Control characters, and the invisible ones that reorder or break what a terminal shows
/// (bidirectional marks, overrides and isolates, line and paragraph separators).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{2028}' | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

fn write_escaped_char(f: &mut impl Write, c: char) -> fmt::Result {
    if needs_escape(c) {
        write!(f, "{}", c.escape_default())
    } else {
        f.write_char(c)
    }
}

/// Writes `text` with the content of every double-quoted run replaced by `…` and its last 4
/// characters: decoder messages quote the offending value, which might be a key.
///
/// The quoted runs are Rust `Debug` strings (as serde quotes a value): inside them `\` escapes
/// the character after it, so an escaped quote never ends a run, and an escape (`\"`, `\\`,
/// `\n`, `\u{1b}`) counts as one character and is never cut. An unterminated run is masked to
/// the end of the text.
pub fn write_masking_quoted(f: &mut impl Write, text: &str) -> fmt::Result {
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        f.write_str(&rest[..=open])?;
        let (tail, after) = quoted_tail(&rest[open + 1..]);
        f.write_char('…')?;
        for c in tail.chars() {
            write_escaped_char(f, c)?;
        }
        match after {
            Some(after) => {
                f.write_char('"')?;
                rest = after;
            }
            None => return Ok(()),
        }
    }
    f.write_str(rest)
}

/// Reads `run`, the text after an opening quote, up to its closing quote: returns the last 4
/// characters of the content (an escape counting as one) and the text after the closing quote,
/// `None` if there is none.
fn quoted_tail(run: &str) -> (&str, Option<&str>) {
    // Where each of the last 4 characters started, indexed by the character count modulo 4.
    let mut starts = [0; 4];
    let mut count = 0;
    let mut chars = run.char_indices().peekable();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                end = Some(i);
                break;
            }
            // An escape is one character: `\` and the character after it, or all of `\u{…}`.
            '\\' => match chars.next() {
                Some((_, 'u')) if chars.next_if(|&(_, c)| c == '{').is_some() => {
                    while chars.next_if(|(_, c)| c.is_ascii_hexdigit()).is_some() {}
                    chars.next_if(|&(_, c)| c == '}');
                }
                _ => {}
            },
            _ => {}
        }
        starts[count % 4] = i;
        count += 1;
    }
    let start = if count < 4 { 0 } else { starts[count % 4] };
    match end {
        Some(end) => (&run[start..end], Some(&run[end + 1..])),
        None => (&run[start..], None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::borrow::ToOwned;
    use alloc::format;
    use alloc::string::String;

    /// The character-at-a-time escaping and cutting that [`Capped`] must reproduce.
    fn reference(text: &str, max: usize, quote: bool) -> String {
        let mut out = String::new();
        let mut left = max;
        for c in text.chars() {
            let escaped = needs_escape(c) || (quote && (c == '"' || c == '\\'));
            let shown = if needs_escape(c) {
                format!("{}", c.escape_default())
            } else if escaped {
                format!("\\{c}")
            } else {
                format!("{c}")
            };
            let width = shown.chars().count();
            if width > left {
                out.push('…');
                return out;
            }
            left -= width;
            out.push_str(&shown);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn safe_and_quoted_match_the_reference(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("plain ascii".to_owned()),
                    proptest::strategy::Just("\"q\\".to_owned()),
                    proptest::strategy::Just("\n\u{1b}\u{202e}\u{2028}é🦀".to_owned()),
                    "[ -~]{0,40}",
                    proptest::prelude::any::<String>(),
                ],
                0..12,
            ),
        ) {
            let text: String = parts.concat();
            proptest::prop_assert_eq!(format!("{}", Safe(&text)), reference(&text, MAX_LOGGED_CHARS, false));
            proptest::prop_assert_eq!(
                format!("{}", Quoted(&text)),
                format!("\"{}\"", reference(&text, MAX_LOGGED_CHARS, true))
            );
        }
    }

    #[test]
    fn last4_keeps_only_the_tail() {
        assert_eq!(format!("{}", Last4("sdk-12345678")), "5678");
        assert_eq!(format!("{}", Last4("abc")), "abc");
        assert_eq!(format!("{}", Last4("")), "");
        assert_eq!(format!("{}", Last4("ééééé")), "éééé");
        assert_eq!(format!("{}", Last4("xx\n\u{1b}")), "xx\\n\\u{1b}");
    }

    #[test]
    fn masked_debug_shows_the_tail_only() {
        assert_eq!(format!("{:?}", Masked("sdk-12345678")), "\"…5678\"");
    }

    #[test]
    fn safe_escapes_and_truncates() {
        assert_eq!(format!("{}", Safe("a\nb")), "a\\nb");
        let long = "x".repeat(500);
        let shown = format!("{}", Safe(&long));
        assert_eq!(shown.chars().count(), MAX_LOGGED_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn quoted_wraps_and_escapes() {
        assert_eq!(format!("{}", Quoted("a\"b\n")), "\"a\\\"b\\n\"");
    }

    #[test]
    fn caps_count_escapes_as_written() {
        // 150 control characters: 20 escapes of 6 characters fill the 120.
        let controls = "\u{1b}".repeat(150);
        let shown = format!("{}", Safe(&controls));
        assert_eq!(shown, format!("{}…", "\\u{1b}".repeat(20)));
        // Exactly at the limit: not cut.
        let exact = "x".repeat(MAX_LOGGED_CHARS);
        assert_eq!(format!("{}", Safe(&exact)), exact);
        // An escape that would not fit whole is not started.
        let almost = format!("{}\n", "x".repeat(MAX_LOGGED_CHARS - 1));
        assert_eq!(
            format!("{}", Safe(&almost)),
            format!("{}…", "x".repeat(MAX_LOGGED_CHARS - 1))
        );
        // Quotes inside count as two; the surrounding ones not at all.
        let quotes = "\"".repeat(100);
        let shown = format!("{}", Quoted(&quotes));
        assert_eq!(shown, format!("\"{}…\"", "\\\"".repeat(60)));
        // Astral characters count as one each.
        let crabs = "🦀".repeat(1000);
        assert_eq!(
            format!("{}", Safe(&crabs)).chars().count(),
            MAX_LOGGED_CHARS + 1
        );
    }

    #[test]
    fn safe_message_caps_any_display() {
        let long = format!("bad\n{}", "y".repeat(150_000));
        let shown = format!("{}", SafeMessage(&long));
        assert!(shown.starts_with("bad\\ny"), "{shown}");
        assert_eq!(shown.chars().count(), MAX_LOGGED_MESSAGE_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(
            format!("{}", SafeMessage(format_args!("{}-{}", 1, 2))),
            "1-2"
        );
    }

    #[test]
    fn quoted_values_are_masked() {
        let mut out = String::new();
        write_masking_quoted(
            &mut out,
            r#"invalid type: string "sdk-secret-1234", expected i64"#,
        )
        .expect("write");
        assert_eq!(out, r#"invalid type: string "…1234", expected i64"#);
        let mut out = String::new();
        write_masking_quoted(&mut out, r#"a "unterminated-9999"#).expect("write");
        assert_eq!(out, r#"a "…9999"#);
    }

    #[test]
    fn invisible_reordering_characters_are_escaped() {
        let shown = format!("{}", Safe("a\u{202e}b\u{2028}c\u{2066}d"));
        assert!(
            !shown.contains('\u{202e}') && !shown.contains('\u{2028}'),
            "{shown}"
        );
        assert!(shown.contains("\\u{202e}"), "{shown}");
    }
}
