//! Which partition directories an event-time range needs.
//!
//! Glue layout: `year=YYYY/month=MM/day=DD/hour=HH` (the event time's UTC
//! hour); Iceberg layout: `<feature>_trunc=YYYY-MM-DD` (its UTC day). A
//! partition path covers a half-open interval of event times; a range
//! (both ends inclusive, either open) selects the partitions whose
//! interval overlaps it.

use chrono::{Months, NaiveDate, TimeDelta};

/// An inclusive event-time range in ms since the epoch; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TimeRange {
    pub(crate) from_ms: Option<i64>,
    pub(crate) to_ms: Option<i64>,
}

/// The partition fields seen so far along a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PartitionPath {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    hour: Option<u32>,
    iceberg_day: Option<NaiveDate>,
}

/// Year, month, day, hour: the leading fields present, in order.
type Fields = (i32, Option<u32>, Option<u32>, Option<u32>);

/// How a partition's interval relates to a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlap {
    /// No event time of the partition is in the range: skip it.
    Disjoint,
    /// Some are: look inside (its sub-partitions).
    Partial,
    /// All are (or the partition is an hour or an Iceberg day, the finest
    /// level): take everything under it.
    Whole,
}

impl PartitionPath {
    /// The fields of every partition segment of `path` (`a/year=2024/month=01/`).
    pub(crate) fn of_path(path: &str) -> Self {
        path.split('/')
            .fold(Self::default(), |p, seg| p.with_segment(seg).unwrap_or(p))
    }

    /// This path extended by one directory name, or `None` when the name is
    /// not a (valid) partition segment.
    pub(crate) fn with_segment(mut self, segment: &str) -> Option<Self> {
        let (name, value) = segment.split_once('=')?;
        let num = |v: &str| v.parse::<u32>().ok();
        match name {
            "year" => self.year = Some(value.parse::<i32>().ok()?),
            "month" => self.month = Some(num(value).filter(|m| (1..=12).contains(m))?),
            "day" => self.day = Some(num(value).filter(|d| (1..=31).contains(d))?),
            "hour" => self.hour = Some(num(value).filter(|h| *h < 24)?),
            n if n.ends_with("_trunc") => {
                self.iceberg_day = Some(NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?)
            }
            _ => return None,
        }
        Some(self)
    }

    /// True at the finest level (hour, or an Iceberg day).
    fn is_leaf(&self) -> bool {
        self.iceberg_day.is_some() || self.interval_fields().is_some_and(|f| f.3.is_some())
    }

    fn interval_fields(&self) -> Option<Fields> {
        let year = self.year?;
        // Only the leading fields in order count: day=DD without month=MM
        // says nothing more than the year.
        let month = self.month;
        let day = month.and(self.day);
        let hour = day.and(self.hour);
        Some((year, month, day, hour))
    }

    /// The half-open interval `[start, end)` in ms the partition covers;
    /// `None` when the path holds no partition (no constraint).
    pub(crate) fn interval(&self) -> Option<(i64, i64)> {
        if let Some(d) = self.iceberg_day {
            let start = d.and_hms_opt(0, 0, 0)?.and_utc();
            return Some((
                start.timestamp_millis(),
                (start + TimeDelta::days(1)).timestamp_millis(),
            ));
        }
        let (year, month, day, hour) = self.interval_fields()?;
        let date = NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?;
        let start = date.and_hms_opt(hour.unwrap_or(0), 0, 0)?.and_utc();
        let end = match (month, day, hour) {
            (None, _, _) => start.checked_add_months(Months::new(12))?,
            (Some(_), None, _) => start.checked_add_months(Months::new(1))?,
            (Some(_), Some(_), None) => start + TimeDelta::days(1),
            (Some(_), Some(_), Some(_)) => start + TimeDelta::hours(1),
        };
        Some((start.timestamp_millis(), end.timestamp_millis()))
    }

    /// How this partition relates to `range`.
    pub(crate) fn overlap(&self, range: &TimeRange) -> Overlap {
        let Some((start, end)) = self.interval() else {
            return Overlap::Partial;
        };
        let from = range.from_ms.unwrap_or(i64::MIN);
        let to = range.to_ms.unwrap_or(i64::MAX);
        if end <= from || start > to {
            Overlap::Disjoint
        } else if self.is_leaf() || (start >= from && end - 1 <= to) {
            Overlap::Whole
        } else {
            Overlap::Partial
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_schema::EventTime;

    fn ms(s: &str) -> i64 {
        EventTime::parse_iso(s).unwrap().as_millis()
    }

    fn overlap(path: &str, from: &str, to: &str) -> Overlap {
        let range = TimeRange {
            from_ms: Some(ms(from)),
            to_ms: Some(ms(to)),
        };
        PartitionPath::of_path(path).overlap(&range)
    }

    #[test]
    fn intervals() {
        let p = PartitionPath::of_path("data/year=2024/month=02/day=29/hour=23/");
        assert_eq!(
            p.interval(),
            Some((ms("2024-02-29T23:00:00Z"), ms("2024-03-01T00:00:00Z")))
        );
        let p = PartitionPath::of_path("data/year=2024/month=12");
        assert_eq!(
            p.interval(),
            Some((ms("2024-12-01T00:00:00Z"), ms("2025-01-01T00:00:00Z")))
        );
        let p = PartitionPath::of_path("x/ev_trunc=2024-03-05/");
        assert_eq!(
            p.interval(),
            Some((ms("2024-03-05T00:00:00Z"), ms("2024-03-06T00:00:00Z")))
        );
        assert_eq!(PartitionPath::of_path("data/other=1/").interval(), None);
        assert_eq!(PartitionPath::default().with_segment("month=13"), None);
        assert_eq!(PartitionPath::default().with_segment("data"), None);
    }

    #[test]
    fn overlaps() {
        let (from, to) = ("2024-03-10T05:30:00Z", "2024-03-12T00:00:00Z");
        assert_eq!(overlap("year=2023", from, to), Overlap::Disjoint);
        assert_eq!(overlap("year=2024", from, to), Overlap::Partial);
        assert_eq!(overlap("year=2024/month=04", from, to), Overlap::Disjoint);
        assert_eq!(
            overlap("year=2024/month=03/day=09", from, to),
            Overlap::Disjoint
        );
        assert_eq!(
            overlap("year=2024/month=03/day=10", from, to),
            Overlap::Partial
        );
        assert_eq!(
            overlap("year=2024/month=03/day=10/hour=04", from, to),
            Overlap::Disjoint
        );
        // The hour holding `from` overlaps it; the range starts inside it.
        assert_eq!(
            overlap("year=2024/month=03/day=10/hour=05", from, to),
            Overlap::Whole
        );
        assert_eq!(
            overlap("year=2024/month=03/day=11", from, to),
            Overlap::Whole
        );
        // `to` is inclusive: the first millisecond of day 12 is in range.
        assert_eq!(
            overlap("year=2024/month=03/day=12", from, to),
            Overlap::Partial
        );
        assert_eq!(
            overlap("year=2024/month=03/day=12/hour=01", from, to),
            Overlap::Disjoint
        );
        let open = TimeRange {
            from_ms: Some(ms(from)),
            to_ms: None,
        };
        assert_eq!(
            PartitionPath::of_path("year=2025").overlap(&open),
            Overlap::Whole
        );
        assert_eq!(
            PartitionPath::of_path("year=2024").overlap(&open),
            Overlap::Partial
        );
    }
}
