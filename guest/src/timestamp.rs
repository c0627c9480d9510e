//! Formatting wall-clock milliseconds for log lines, without a clock or a date library.

use core::fmt;

/// Displays ms since the Unix epoch as an RFC 3339 UTC time, e.g. `2026-11-30T05:41:04.123Z`.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339(pub u64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 % 1000;
        let secs = self.0 / 1000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

/// The proleptic Gregorian date of `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format!("{}", Rfc3339(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format!("{}", Rfc3339(951_782_400_000)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format!("{}", Rfc3339(1_796_017_264_123)),
            "2026-11-30T05:41:04.123Z"
        );
        // The largest value must not overflow.
        let max = format!("{}", Rfc3339(u64::MAX));
        assert!(max.ends_with(".615Z"), "{max}");
    }
}
