//! Durations as users write them, read one way everywhere: the library's
//! `LEAKTRACE_INTERVAL` and leakreport's `--older-than`.
//!
//! A number, decimals allowed, then a unit: `ns`, `us`, `ms`, `s`, `m` or
//! `min`, `h`, `d` (any case, a space between allowed); a bare number is
//! seconds. `30s`, `500ms`, `1.5h`, `12`.

use std::time::Duration;

/// The units and their length in seconds.
const UNITS: [(&str, f64); 9] = [
    ("", 1.0),
    ("ns", 1e-9),
    ("us", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("min", 60.0),
    ("h", 3600.0),
    ("d", 86400.0),
];

/// The units accepted, for messages.
pub const DURATION_UNITS: &str = "ns, us, ms, s, m (or min), h, d; a bare number is seconds";

/// `text` as a duration; `None` for anything else (a negative or empty
/// number, an unknown unit, a duration too long to represent).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let (_, scale) = UNITS.iter().find(|(u, _)| u.eq_ignore_ascii_case(unit))?;
    let n: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(n * scale).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn units() {
        let s = |text| parse_duration(text).map(|d| d.as_secs_f64());
        assert_eq!(s("30s"), Some(30.0));
        assert_eq!(s("500ms"), Some(0.5));
        assert_eq!(s("1.5s"), Some(1.5));
        assert_eq!(s("5m"), Some(300.0));
        assert_eq!(s("5min"), Some(300.0));
        assert_eq!(s("2h"), Some(7200.0));
        assert_eq!(s("1d"), Some(86400.0));
        assert_eq!(s("12"), Some(12.0));
        assert_eq!(s(" 10 S "), Some(10.0));
        assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Some(Duration::from_nanos(7)));
        for bad in ["", "s", "soon", "-3s", "3 weeks", "1e3s", "..s", "1e400"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
