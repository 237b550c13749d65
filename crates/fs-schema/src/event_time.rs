//! Event times: parsing, formatting and normalisation.
//!
//! The service accepts an event time as a `String` feature in one of two
//! ISO-8601 UTC forms, `yyyy-MM-dd'T'HH:mm:ssZ` and
//! `yyyy-MM-dd'T'HH:mm:ss.SSSZ`, or as a `Fractional` feature holding seconds
//! since the Unix epoch. It keeps millisecond precision, and event times must
//! lie in `[0000-01-01T00:00:00.000Z, 9999-12-31T23:59:59.999Z]`.
//!
//! [`EventTime`] is that normalised form: milliseconds since the epoch, UTC.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};

use crate::error::{Error, Result};
use crate::types::FeatureType;

/// A normalised event time: whole milliseconds since the Unix epoch, UTC,
/// within the service's range.
///
/// ```
/// use fs_schema::EventTime;
/// let a = EventTime::parse_iso("2024-03-01T12:30:00Z")?;
/// let b = EventTime::from_fractional_seconds(1709296200.0)?;
/// assert_eq!(a, b);
/// assert_eq!(a.to_iso(), "2024-03-01T12:30:00.000Z");
/// assert!(EventTime::parse_iso("2024-03-01 12:30:00").is_err());
/// # Ok::<(), fs_schema::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(i64);

/// `0000-01-01T00:00:00.000Z` in milliseconds since the epoch.
const MIN_MILLIS: i64 = -62_167_219_200_000;
/// `9999-12-31T23:59:59.999Z` in milliseconds since the epoch.
const MAX_MILLIS: i64 = 253_402_300_799_999;

const FORMATS: &str = "yyyy-MM-dd'T'HH:mm:ssZ or yyyy-MM-dd'T'HH:mm:ss.SSSZ";

impl EventTime {
    /// The earliest event time the service accepts, `0000-01-01T00:00:00.000Z`.
    pub const MIN: EventTime = EventTime(MIN_MILLIS);
    /// The latest event time the service accepts, `9999-12-31T23:59:59.999Z`.
    pub const MAX: EventTime = EventTime(MAX_MILLIS);

    /// An event time from milliseconds since the epoch, checked against the range.
    pub fn from_millis(millis: i64) -> Result<Self> {
        if (MIN_MILLIS..=MAX_MILLIS).contains(&millis) {
            Ok(EventTime(millis))
        } else {
            Err(Error::InvalidEventTime {
                value: format!("{millis} ms since the epoch"),
                reason: out_of_range(),
            })
        }
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(&self) -> i64 {
        self.0
    }

    /// Parses one of the two accepted ISO-8601 forms, strictly: four-digit
    /// year, `T`, optional exactly-three-digit milliseconds, and a literal `Z`.
    pub fn parse_iso(s: &str) -> Result<Self> {
        let err = |reason: String| Error::InvalidEventTime {
            value: s.to_owned(),
            reason,
        };
        let b = s.as_bytes();
        let shape_ok = (b.len() == 20 || b.len() == 24)
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[b.len() - 1] == b'Z'
            && (b.len() == 20 || b[19] == b'.');
        if !shape_ok {
            return Err(err(format!("expected {FORMATS} (UTC)")));
        }
        let num = |range: std::ops::Range<usize>| -> Result<u32> {
            let part = &b[range];
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part
                    .iter()
                    .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
            } else {
                Err(err(format!("expected {FORMATS} (UTC)")))
            }
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let millis = if b.len() == 24 { num(20..23)? } else { 0 };
        let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(|| {
            err(format!(
                "{year:04}-{month:02}-{day:02} is not a calendar date"
            ))
        })?;
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err(format!(
                "{hour:02}:{minute:02}:{second:02} is not a time of day"
            )));
        }
        let dt = date
            .and_hms_milli_opt(hour, minute, second, millis)
            .ok_or_else(|| err("not a time of day".into()))?;
        Self::from_millis(dt.and_utc().timestamp_millis()).map_err(|_| err(out_of_range()))
    }

    /// Parses a `Fractional` event time written as text (seconds since the epoch).
    pub fn parse_fractional(s: &str) -> Result<Self> {
        let secs: f64 = s.trim().parse().map_err(|_| Error::InvalidEventTime {
            value: s.to_owned(),
            reason: "expected seconds since the Unix epoch as a number".into(),
        })?;
        Self::from_fractional_seconds(secs)
    }

    /// An event time from fractional seconds since the epoch, rounded to the
    /// nearest millisecond (so that `1700000000.123`, stored as
    /// `1700000000.12299990654`, stays `.123`).
    pub fn from_fractional_seconds(secs: f64) -> Result<Self> {
        if !secs.is_finite() {
            return Err(Error::InvalidEventTime {
                value: secs.to_string(),
                reason: "it is not a finite number".into(),
            });
        }
        let millis = (secs * 1000.0).round();
        if millis < MIN_MILLIS as f64 || millis > MAX_MILLIS as f64 {
            return Err(Error::InvalidEventTime {
                value: format_seconds(secs),
                reason: out_of_range(),
            });
        }
        Ok(EventTime(millis as i64))
    }

    /// Parses an event time given as text, in the form `feature_type` calls
    /// for: ISO-8601 for `String`, seconds for `Fractional`.
    pub fn parse(value: &str, feature_type: FeatureType) -> Result<Self> {
        match feature_type {
            FeatureType::String => Self::parse_iso(value),
            FeatureType::Fractional => Self::parse_fractional(value),
            FeatureType::Integral => Err(Error::InvalidEventTime {
                value: value.to_owned(),
                reason: "an event time feature must be String or Fractional, not Integral".into(),
            }),
        }
    }

    /// An event time from a chrono timestamp, truncated to milliseconds.
    pub fn from_datetime(dt: DateTime<Utc>) -> Result<Self> {
        Self::from_millis(dt.timestamp_millis())
    }

    /// The event time as a chrono timestamp.
    pub fn to_datetime(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .expect("event times in range are valid chrono timestamps")
    }

    /// Formats as `yyyy-MM-dd'T'HH:mm:ss.SSSZ`.
    pub fn to_iso(&self) -> String {
        let dt = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            self.0.rem_euclid(1000)
        )
    }

    /// Seconds since the epoch, as the `Fractional` form holds them.
    pub fn to_fractional_seconds(&self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Formats in the form `feature_type` calls for (see [`parse`](Self::parse)).
    pub fn format(&self, feature_type: FeatureType) -> String {
        match feature_type {
            FeatureType::Fractional => format_seconds(self.to_fractional_seconds()),
            _ => self.to_iso(),
        }
    }
}

impl std::fmt::Display for EventTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_iso())
    }
}

impl std::str::FromStr for EventTime {
    type Err = Error;

    /// Parses the ISO-8601 form, or else seconds since the epoch.
    fn from_str(s: &str) -> Result<Self> {
        Self::parse_iso(s).or_else(|iso_err| Self::parse_fractional(s).map_err(|_| iso_err))
    }
}

/// Formats seconds as the shortest text that reads back to the same `f64`.
pub(crate) fn format_seconds(secs: f64) -> String {
    let s = format!("{secs:?}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

fn out_of_range() -> String {
    "event times must lie in [0000-01-01T00:00:00.000Z, 9999-12-31T23:59:59.999Z]".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_iso_forms_parse_to_the_same_millisecond_clock() {
        let a = EventTime::parse_iso("2020-02-29T23:59:59Z").unwrap();
        let b = EventTime::parse_iso("2020-02-29T23:59:59.000Z").unwrap();
        assert_eq!(a, b);
        let c = EventTime::parse_iso("2020-02-29T23:59:59.123Z").unwrap();
        assert_eq!(c.as_millis() - a.as_millis(), 123);
        assert_eq!(c.to_iso(), "2020-02-29T23:59:59.123Z");
    }

    #[test]
    fn bad_iso_strings_are_refused_with_the_formats_named() {
        for s in [
            "2020-02-29 23:59:59Z",
            "2020-02-29T23:59:59",
            "2020-02-29T23:59:59+00:00",
            "2020-02-29T23:59:59.1Z",
            "2020-02-29T23:59:59.123456Z",
            "20-02-29T23:59:59Z",
            "yesterday",
            "",
        ] {
            let err = EventTime::parse_iso(s).unwrap_err().to_string();
            assert!(err.contains("yyyy-MM-dd'T'HH:mm:ssZ"), "{s:?}: {err}");
        }
        for (s, needle) in [
            ("2021-02-29T00:00:00Z", "calendar date"),
            ("2021-13-01T00:00:00Z", "calendar date"),
            ("2021-01-01T24:00:00Z", "time of day"),
            ("2021-01-01T00:60:00Z", "time of day"),
        ] {
            let err = EventTime::parse_iso(s).unwrap_err().to_string();
            assert!(err.contains(needle), "{s:?}: {err}");
        }
    }

    #[test]
    fn range_bounds_are_inclusive() {
        assert_eq!(
            EventTime::parse_iso("0000-01-01T00:00:00.000Z").unwrap(),
            EventTime::MIN
        );
        assert_eq!(
            EventTime::parse_iso("9999-12-31T23:59:59.999Z").unwrap(),
            EventTime::MAX
        );
        assert_eq!(EventTime::MIN.to_iso(), "0000-01-01T00:00:00.000Z");
        assert!(EventTime::from_millis(MAX_MILLIS + 1).is_err());
        assert!(EventTime::from_millis(MIN_MILLIS - 1).is_err());
        let err = EventTime::from_fractional_seconds(1e15)
            .unwrap_err()
            .to_string();
        assert!(err.contains("9999-12-31"), "{err}");
    }

    #[test]
    fn fractional_seconds_round_to_the_millisecond() {
        let t = EventTime::from_fractional_seconds(1_700_000_000.123).unwrap();
        assert_eq!(t.as_millis(), 1_700_000_000_123);
        assert_eq!(t.format(FeatureType::Fractional), "1700000000.123");
        assert_eq!(
            EventTime::parse_fractional("1700000000").unwrap().to_iso(),
            "2023-11-14T22:13:20.000Z"
        );
        assert!(EventTime::from_fractional_seconds(f64::NAN).is_err());
        assert!(EventTime::from_fractional_seconds(f64::INFINITY).is_err());
        assert!(
            EventTime::parse_fractional("abc")
                .unwrap_err()
                .to_string()
                .contains("seconds")
        );
        let before_epoch = EventTime::from_fractional_seconds(-1.5).unwrap();
        assert_eq!(before_epoch.to_iso(), "1969-12-31T23:59:58.500Z");
    }

    #[test]
    fn parse_follows_the_feature_type() {
        let iso = EventTime::parse("2023-11-14T22:13:20Z", FeatureType::String).unwrap();
        let frac = EventTime::parse("1700000000", FeatureType::Fractional).unwrap();
        assert_eq!(iso, frac);
        assert!(EventTime::parse("1700000000", FeatureType::String).is_err());
        assert!(EventTime::parse("1700000000", FeatureType::Integral).is_err());
        assert_eq!("1700000000".parse::<EventTime>().unwrap(), frac);
    }
}
