//! Durations on the command line, in Go's `time.ParseDuration` syntax as ld-relay takes them
//! (`500ms`, `1.5s`, `1m30s`, `2h`), without negative values. The same cases
//! (`tests/durations.json`) are checked against the Node.js and Python hosts' parsers.

use std::time::Duration;

/// The longest duration accepted: about 31 years.
const MAX_NANOS: u128 = 1_000_000_000_000_000_000;

/// Why a duration was refused; each message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing was given.
    #[error("the duration is empty: use one like 500ms, 1.5s or 1m30s")]
    Empty,
    /// A leading `-`.
    #[error("{0:?} is negative")]
    Negative(String),
    /// Not the syntax at all.
    #[error("{0:?} is invalid: use a duration like 500ms, 1.5s or 1m30s")]
    Invalid(String),
    /// A number without its unit (a bare `5`).
    #[error("{0:?} has a missing unit (ns, us, ms, s, m or h)")]
    MissingUnit(String),
    /// A unit that is not one of Go's.
    #[error("{text:?} has an unknown unit {unit:?} (use ns, us, ms, s, m or h)")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit.
        unit: String,
    },
    /// Longer than about 31 years.
    #[error("{0:?} is out of range")]
    OutOfRange(String),
}

/// Parses a duration: a sequence of decimal numbers, each with an optional fraction and a unit
/// (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), optionally signed with `+`; or a lone `0`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative(text.to_owned()));
    }
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = rest.as_bytes();
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
        let whole_len = digits(rest);
        let whole = rest.get(..whole_len).unwrap_or(&[]);
        rest = rest.get(whole_len..).unwrap_or(&[]);
        let mut fraction: &[u8] = &[];
        if let Some(after) = rest.strip_prefix(b".") {
            let len = digits(after);
            fraction = after.get(..len).unwrap_or(&[]);
            rest = after.get(len..).unwrap_or(&[]);
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .iter()
            .take_while(|b| !(b.is_ascii_digit() || **b == b'.'))
            .count();
        let unit = rest.get(..unit_len).unwrap_or(&[]);
        rest = rest.get(unit_len..).unwrap_or(&[]);
        let scale: u128 = match unit {
            b"" => return Err(DurationError::MissingUnit(text.to_owned())),
            b"ns" => 1,
            // `us`, `µs` (U+00B5) and `μs` (U+03BC), as Go takes them.
            b"us" | [0xC2, 0xB5, b's'] | [0xCE, 0xBC, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            other if other.iter().any(|b| b.is_ascii_whitespace()) => return Err(invalid()),
            other => {
                return Err(DurationError::UnknownUnit {
                    text: text.to_owned(),
                    unit: String::from_utf8_lossy(other).into_owned(),
                });
            }
        };
        let number = |d: &[u8]| -> Option<u128> {
            d.iter().try_fold(0u128, |acc, b| {
                acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
            })
        };
        let out_of_range = || DurationError::OutOfRange(text.to_owned());
        let whole = number(whole).ok_or_else(out_of_range)?;
        // Only the first 18 fraction digits can matter at nanosecond precision.
        let fraction = fraction.get(..fraction.len().min(18)).unwrap_or(&[]);
        let frac_value = number(fraction).ok_or_else(out_of_range)?;
        let frac_nanos = frac_value * scale / 10u128.pow(fraction.len() as u32);
        total = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_nanos))
            .and_then(|v| total.checked_add(v))
            .filter(|t| *t <= MAX_NANOS)
            .ok_or_else(out_of_range)?;
    }
    let nanos = u64::try_from(total).map_err(|_| DurationError::OutOfRange(text.to_owned()))?;
    Ok(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_cases() {
        let cases: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/durations.json")).expect("valid JSON");
        let cases = cases["cases"].as_array().expect("cases");
        assert!(cases.len() > 20);
        for case in cases {
            let text = case["text"].as_str().expect("text");
            match (case["ms"].as_u64(), case["error"].as_str()) {
                (Some(ms), None) => assert_eq!(
                    parse_duration(text).map(|d| d.as_millis()),
                    Ok(u128::from(ms)),
                    "{text:?}"
                ),
                (None, Some(fragment)) => {
                    let err = parse_duration(text).expect_err(text).to_string();
                    assert!(err.contains(fragment), "{text:?}: {err}");
                }
                _ => panic!("bad case {case}"),
            }
        }
    }
}
