//! The offline store layout: prefixes, partitions, file names and pruning.

use fs_schema::EventTime;
use fs_schema::layout::{
    file_name, file_path, iceberg_partition, partition, partition_range, resolved_output_uri,
};

fn at(iso: &str) -> EventTime {
    EventTime::parse_iso(iso).unwrap()
}

const PREFIX: &str =
    "s3://bucket/prefix/123456789012/sagemaker/us-east-1/offline-store/customers-1593511200/data";

#[test]
fn resolved_output_uri_follows_the_service_layout_with_or_without_a_trailing_slash() {
    for s3_uri in [
        "s3://bucket/prefix",
        "s3://bucket/prefix/",
        "s3://bucket/prefix//",
    ] {
        assert_eq!(
            resolved_output_uri(
                s3_uri,
                "123456789012",
                "us-east-1",
                "customers",
                1_593_511_200
            ),
            PREFIX
        );
    }
    assert_eq!(
        resolved_output_uri("s3://bucket", "123456789012", "eu-west-1", "g", 0),
        "s3://bucket/123456789012/sagemaker/eu-west-1/offline-store/g-0/data"
    );
}

#[test]
fn partition_is_the_zero_padded_utc_hour() {
    assert_eq!(
        partition(at("2024-03-01T05:07:09.999Z")),
        "year=2024/month=03/day=01/hour=05"
    );
    assert_eq!(
        partition(at("2024-12-31T23:59:59Z")),
        "year=2024/month=12/day=31/hour=23"
    );
    assert_eq!(
        partition(at("0042-01-02T00:00:00Z")),
        "year=0042/month=01/day=02/hour=00"
    );
}

#[test]
fn partition_covers_years_0000_and_9999() {
    assert_eq!(
        partition(EventTime::MIN),
        "year=0000/month=01/day=01/hour=00"
    );
    assert_eq!(
        partition(EventTime::MAX),
        "year=9999/month=12/day=31/hour=23"
    );
}

#[test]
fn partition_of_a_time_before_the_epoch_is_its_own_hour() {
    assert_eq!(
        partition(EventTime::from_millis(-1).unwrap()),
        "year=1969/month=12/day=31/hour=23"
    );
}

#[test]
fn file_name_carries_the_latest_event_time_to_the_second() {
    assert_eq!(
        file_name(at("2024-03-01T05:07:09.999Z"), "AbCdEfGh12345678"),
        "20240301T050709Z_AbCdEfGh12345678.parquet"
    );
    assert_eq!(file_name(EventTime::MIN, "x"), "00000101T000000Z_x.parquet");
    assert_eq!(file_name(EventTime::MAX, "x"), "99991231T235959Z_x.parquet");
}

#[test]
fn file_path_joins_prefix_partition_and_file_name() {
    let expected = format!("{PREFIX}/year=2024/month=03/day=01/hour=05/20240301T050709Z_u.parquet");
    assert_eq!(file_path(PREFIX, at("2024-03-01T05:07:09Z"), "u"), expected);
    assert_eq!(
        file_path(&format!("{PREFIX}/"), at("2024-03-01T05:07:09Z"), "u"),
        expected
    );
}

#[test]
fn iceberg_partition_is_the_daily_truncation_of_the_event_time() {
    assert_eq!(
        iceberg_partition("event_time", at("2024-03-01T23:59:59.999Z")),
        "event_time_trunc=2024-03-01"
    );
    assert_eq!(
        iceberg_partition("ts", EventTime::MIN),
        "ts_trunc=0000-01-01"
    );
    assert_eq!(
        iceberg_partition("ts", EventTime::MAX),
        "ts_trunc=9999-12-31"
    );
}

#[test]
fn partition_range_is_the_hour_of_the_partition_in_a_path() {
    let path = file_path(PREFIX, at("2024-03-01T05:07:09Z"), "u");
    assert_eq!(
        partition_range(&path),
        Some((at("2024-03-01T05:00:00Z"), at("2024-03-01T06:00:00Z")))
    );
    assert_eq!(
        partition_range("year=2024/month=12/day=31/hour=23"),
        Some((at("2024-12-31T23:00:00Z"), at("2025-01-01T00:00:00Z")))
    );
    // Unpadded numbers are read too.
    assert_eq!(
        partition_range("data/year=2024/month=3/day=1/hour=5/"),
        Some((at("2024-03-01T05:00:00Z"), at("2024-03-01T06:00:00Z")))
    );
}

#[test]
fn partition_range_of_each_event_time_contains_it() {
    for t in [
        at("2024-03-01T05:00:00Z"),
        at("2024-03-01T05:59:59.999Z"),
        EventTime::MIN,
        at("1969-12-31T23:30:00Z"),
    ] {
        let (start, end) = partition_range(&partition(t)).unwrap();
        assert!(start <= t && t < end, "{t} not in [{start}, {end})");
        assert_eq!(end.as_millis() - start.as_millis(), 3_600_000);
    }
}

#[test]
fn partition_range_at_the_bounds_stays_within_the_event_time_range() {
    assert_eq!(
        partition_range("year=0000/month=01/day=01/hour=00"),
        Some((EventTime::MIN, at("0000-01-01T01:00:00Z")))
    );
    // The last hour ends at the last representable event time (an hour later
    // is outside the range), so the range is closed there.
    assert_eq!(
        partition_range("year=9999/month=12/day=31/hour=23"),
        Some((at("9999-12-31T23:00:00Z"), EventTime::MAX))
    );
}

#[test]
fn partition_range_is_none_without_a_complete_valid_partition() {
    for path in [
        "",
        PREFIX,
        "s3://bucket/data/20240301T050709Z_u.parquet",
        "year=2024/month=03/day=01",
        "year=2024/month=03/hour=05",
        "year=2024/month=13/day=01/hour=05",
        "year=2024/month=02/day=30/hour=05",
        "year=2024/month=03/day=01/hour=24",
        "year=2024/month=03/day=01/hour=x",
        "year=-1/month=03/day=01/hour=05",
        "year=10000/month=01/day=01/hour=00",
    ] {
        assert_eq!(partition_range(path), None, "{path:?}");
    }
}
