//! Durations on the command line, in Go's `time.ParseDuration` syntax as ld-relay takes them
//! (`500ms`, `1.5s`, `1m30s`, `2h`), without negative values. The same cases
//! (`tests/durations.json`) are checked against the Node.js and Python hosts' parsers.

use std::time::Duration;

/// The longest duration accepted: about 31 years.
const MAX_NANOS: u128 = 1_000_000_000_000_000_000;

/// Parses a duration: a sequence of decimal numbers, each with an optional fraction and a unit
/// (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), optionally signed with `+`; or a lone `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is invalid: use a duration like 500ms, 1.5s or 1m30s");
    if text.is_empty() {
        return Err("the duration is empty: use one like 500ms, 1.5s or 1m30s".into());
    }
    if text.starts_with('-') {
        return Err(format!("{text:?} is negative"));
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
            b"" => {
                return Err(format!(
                    "{text:?} has a missing unit (ns, us, ms, s, m or h)"
                ));
            }
            b"ns" => 1,
            // `us`, `µs` (U+00B5) and `μs` (U+03BC), as Go takes them.
            b"us" | [0xC2, 0xB5, b's'] | [0xCE, 0xBC, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            other if other.iter().any(|b| b.is_ascii_whitespace()) => return Err(invalid()),
            other => {
                return Err(format!(
                    "{text:?} has an unknown unit {:?} (use ns, us, ms, s, m or h)",
                    String::from_utf8_lossy(other)
                ));
            }
        };
        let number = |d: &[u8]| -> Option<u128> {
            d.iter().try_fold(0u128, |acc, b| {
                acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
            })
        };
        let out_of_range = || format!("{text:?} is out of range");
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
    let nanos = u64::try_from(total).map_err(|_| format!("{text:?} is out of range"))?;
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
                    let err = parse_duration(text).expect_err(text);
                    assert!(err.contains(fragment), "{text:?}: {err}");
                }
                _ => panic!("bad case {case}"),
            }
        }
    }
}
