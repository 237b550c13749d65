//! Where the offline store keeps its files.
//!
//! For the Glue table format the service writes under
//!
//! ```text
//! <S3Uri>/<account id>/sagemaker/<region>/offline-store/<group>-<creation time>/data/
//!     year=YYYY/month=MM/day=DD/hour=HH/<YYYYMMDDTHHMMSSZ>_<16 random characters>.parquet
//! ```
//!
//! where the creation time is in seconds since the epoch, the partition is
//! the event time's UTC hour, and the file name's timestamp is the latest
//! event time in the file. The Iceberg format keeps the same prefix, a
//! daily `<event time feature>_trunc=YYYY-MM-DD` partition under a random
//! 8-character directory, and its table metadata under `.../metadata/`.
//! The embedded store uses the Glue layout under its own directory.

use chrono::{Datelike, Timelike};

use crate::event_time::EventTime;

/// The prefix the service resolves an offline store to
/// (`ResolvedOutputS3Uri`): everything up to and including `/data`.
///
/// ```
/// use fs_schema::layout::resolved_output_uri;
/// assert_eq!(
///     resolved_output_uri("s3://bucket/prefix/", "123456789012", "us-east-1", "customers", 1593511200),
///     "s3://bucket/prefix/123456789012/sagemaker/us-east-1/offline-store/customers-1593511200/data"
/// );
/// ```
pub fn resolved_output_uri(
    s3_uri: &str,
    account_id: &str,
    region: &str,
    group_name: &str,
    creation_time_secs: i64,
) -> String {
    format!(
        "{}/{account_id}/sagemaker/{region}/offline-store/{group_name}-{creation_time_secs}/data",
        s3_uri.trim_end_matches('/')
    )
}

/// The Glue partition of an event time: `year=YYYY/month=MM/day=DD/hour=HH`.
pub fn partition(event_time: EventTime) -> String {
    let dt = event_time.to_datetime();
    format!(
        "year={:04}/month={:02}/day={:02}/hour={:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour()
    )
}

/// The Iceberg partition of an event time: `<feature>_trunc=YYYY-MM-DD`.
pub fn iceberg_partition(event_time_feature_name: &str, event_time: EventTime) -> String {
    let dt = event_time.to_datetime();
    format!(
        "{event_time_feature_name}_trunc={:04}-{:02}-{:02}",
        dt.year(),
        dt.month(),
        dt.day()
    )
}

/// The lock file in each embedded offline data directory (beside its
/// `year=` partitions) that makes a flush appear whole to readers.
///
/// A flush writes and fsyncs all its files under temporary names, then
/// renames them into place while it holds an exclusive lock on this file
/// of every group it writes (taken in path order). A reader lists a
/// group's files while it holds a shared lock, so it sees each flush
/// entirely or not at all. The name starts with `.`, so listings of data
/// files skip it.
pub const PUBLISH_LOCK: &str = ".publish.lock";

/// A data file's name: the latest event time in it as `YYYYMMDDTHHMMSSZ`,
/// `_`, a unique suffix (the service uses 16 random alphanumerics), and
/// `.parquet`.
pub fn file_name(latest_event_time: EventTime, unique_suffix: &str) -> String {
    format!(
        "{}_{unique_suffix}.parquet",
        latest_event_time.to_datetime().format("%Y%m%dT%H%M%SZ")
    )
}

/// The full key of a data file under a resolved prefix:
/// `<prefix>/<partition of the latest event time>/<file name>`.
pub fn file_path(
    resolved_prefix: &str,
    latest_event_time: EventTime,
    unique_suffix: &str,
) -> String {
    format!(
        "{}/{}/{}",
        resolved_prefix.trim_end_matches('/'),
        partition(latest_event_time),
        file_name(latest_event_time, unique_suffix)
    )
}

/// The hour a partition path (or any path containing one) covers, as the
/// half-open event-time range `[start, start + 1h)`; `None` when the path
/// has no complete `year=/month=/day=/hour=` partition. Used to prune files
/// by event time.
pub fn partition_range(path: &str) -> Option<(EventTime, EventTime)> {
    let mut parts = [None; 4];
    for segment in path.split('/') {
        for (i, key) in ["year=", "month=", "day=", "hour="].iter().enumerate() {
            if let Some(v) = segment.strip_prefix(key) {
                parts[i] = v.parse::<u32>().ok();
            }
        }
    }
    let [Some(y), Some(m), Some(d), Some(h)] = parts else {
        return None;
    };
    let start = chrono::NaiveDate::from_ymd_opt(y as i32, m, d)?
        .and_hms_opt(h, 0, 0)?
        .and_utc();
    let start = EventTime::from_datetime(start).ok()?;
    let end = EventTime::from_millis(start.as_millis() + 3_600_000).unwrap_or(EventTime::MAX);
    Some((start, end))
}
