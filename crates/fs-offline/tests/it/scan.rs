//! Scans: partition pruning, exact range filtering, projection, batch
//! sizes, and files written by other tools.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    TimestampSecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use fs_offline::scan::Scan;
use fs_offline::table::OfflineTable;
use fs_schema::{EventTime, FeatureType};
use futures::TryStreamExt;
use tempfile::TempDir;

use crate::support::{Cell, Row, group, ms, rows, runtime, write_batch, write_rows};

fn iso(s: &str) -> EventTime {
    EventTime::parse_iso(s).unwrap()
}

/// Rows at minutes 0, 30, ... of hours 00–05 on 2024-01-01 (`a` = minutes).
fn hourly(dir: &std::path::Path) -> OfflineTable {
    let g = group("g", FeatureType::String);
    let base = ms("2024-01-01T00:00:00Z");
    let data: Vec<Row> = (0..12)
        .map(|i| Row::put(&format!("r{i}"), base + i * 30 * 60_000, i * 30, 1, 1))
        .collect();
    write_rows(dir, &g, &data);
    OfflineTable::new(g, dir)
}

fn corrupt(path: std::path::PathBuf) -> std::path::PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![0x5a_u8; 4096]).unwrap();
    path
}

#[test]
fn files_outside_the_range_are_never_opened_and_rows_are_filtered_exactly() {
    let dir = TempDir::new().unwrap();
    let table = hourly(dir.path());
    let bad = [
        corrupt(
            dir.path()
                .join("year=2024/month=01/day=01/hour=05/bad.parquet"),
        ),
        corrupt(
            dir.path()
                .join("year=2023/month=12/day=31/hour=23/bad.parquet"),
        ),
        corrupt(
            dir.path()
                .join("year=2024/month=02/day=01/hour=00/bad.parquet"),
        ),
        corrupt(dir.path().join("year=2024/month=01/day=02/bad.parquet")),
    ];
    // Hidden and underscore files inside the range are not data files.
    corrupt(
        dir.path()
            .join("year=2024/month=01/day=01/hour=02/.part.parquet.tmp"),
    );
    corrupt(
        dir.path()
            .join("year=2024/month=01/day=01/hour=02/_SUCCESS.parquet"),
    );

    let scan = Scan::new(table.clone()).event_time_range(
        Some(iso("2024-01-01T01:30:00Z")),
        Some(iso("2024-01-01T03:30:00.000Z")),
    );
    let files = scan.files().unwrap();
    assert_eq!(files.len(), 3, "hours 01, 02 and 03: {files:?}");
    assert!(files.iter().all(|f| !bad.contains(&f.path)));
    let out = runtime()
        .block_on(async { scan.stream().await?.collect().await })
        .unwrap();
    let a: Vec<Vec<Cell>> = rows(&out, &["a"]);
    // 01:30 to 03:30 inclusive; 01:00 shares a partition but is filtered.
    assert_eq!(
        a,
        [90, 120, 150, 180, 210]
            .map(|m| vec![Cell::Int(m)])
            .to_vec()
    );

    // The corrupt files are real: a scan that reaches them fails, naming the scan.
    let err = runtime()
        .block_on(async { Scan::new(table).stream().await?.collect().await })
        .unwrap_err();
    assert!(
        err.to_string().contains("scanning feature group `g`"),
        "{err}"
    );
}

#[test]
fn a_scan_projects_columns_and_bounds_batch_sizes() {
    let dir = TempDir::new().unwrap();
    let g = group("g", FeatureType::String);
    let base = ms("2024-01-01T00:00:00Z");
    let data: Vec<Row> = (0..1000)
        .map(|i| Row::put(&format!("r{i}"), base + i * 1000, i, 1, 1))
        .collect();
    write_rows(dir.path(), &g, &data);
    let table = OfflineTable::new(g, dir.path());
    let scan = Scan::new(table)
        .columns(["s", "id"])
        .batch_size(64)
        .parallelism(2);
    let schema = scan.schema().unwrap();
    assert_eq!(
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>(),
        ["s", "id"]
    );
    let batches = runtime()
        .block_on(async { scan.stream().await?.try_collect::<Vec<_>>().await })
        .unwrap();
    assert!(
        batches
            .iter()
            .all(|b| b.num_rows() <= 64 && b.num_columns() == 2)
    );
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
    assert!(batches.len() >= 1000 / 64);
    let got = rows(&batches, &["id", "s"]);
    assert_eq!(got[0], vec![Cell::Str("r0".into()), Cell::Str("s0".into())]);
    assert!(
        Scan::new(OfflineTable::new(
            group("g", FeatureType::String),
            dir.path()
        ))
        .columns(["nope"])
        .schema()
        .is_err()
    );
}

/// A file as another tool might write it: microsecond and second
/// timestamps without the UTC zone, a missing feature, `is_deleted` present.
#[test]
fn timestamps_of_any_unit_and_missing_features_are_normalised() {
    let dir = TempDir::new().unwrap();
    let g = group("g", FeatureType::String);
    let t = ms("2024-01-01T00:10:00Z");
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["1"])) as ArrayRef),
        (
            "ts",
            Arc::new(StringArray::from(vec!["2024-01-01T00:10:00Z"])) as ArrayRef,
        ),
        ("a", Arc::new(Int64Array::from(vec![5])) as ArrayRef),
        (
            "write_time",
            Arc::new(TimestampMicrosecondArray::from(vec![(t + 7) * 1000])) as ArrayRef,
        ),
        (
            "api_invocation_time",
            Arc::new(TimestampSecondArray::from(vec![t / 1000]).with_timezone("UTC")) as ArrayRef,
        ),
        (
            "is_deleted",
            Arc::new(BooleanArray::from(vec![false])) as ArrayRef,
        ),
    ])
    .unwrap();
    write_batch(
        &dir.path()
            .join("year=2024/month=01/day=01/hour=00/spark.parquet"),
        &batch,
    );
    write_int96_file(
        &dir.path()
            .join("year=2024/month=01/day=01/hour=00/int96.parquet"),
        t + 1,
    );
    let table = OfflineTable::new(g, dir.path());
    let out = runtime()
        .block_on(async { Scan::new(table).stream().await?.collect().await })
        .unwrap();
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let schema = out[0].schema();
    assert_eq!(
        schema.field_with_name("write_time").unwrap().data_type(),
        &ts
    );
    assert_eq!(
        schema
            .field_with_name("api_invocation_time")
            .unwrap()
            .data_type(),
        &ts
    );
    assert_eq!(
        rows(&out, &["id", "a", "b", "write_time", "api_invocation_time"]),
        vec![
            vec![
                Cell::Str("1".into()),
                Cell::Int(5),
                Cell::Null,
                Cell::Millis(t + 7),
                Cell::Millis(t)
            ],
            vec![
                Cell::Str("2".into()),
                Cell::Int(6),
                Cell::Null,
                Cell::Millis(t + 1),
                Cell::Millis(t + 1)
            ],
        ]
    );
}

/// Writes one row with `write_time` and `api_invocation_time` as Parquet
/// `INT96` (as Spark and Hive do), through the low-level writer.
pub(crate) fn write_int96_file(path: &std::path::Path, millis: i64) {
    use parquet::column::writer::ColumnWriter;
    use parquet::data_type::{ByteArray, Int96};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let schema = parse_message_type(
        "message spark { required binary id (UTF8); required binary ts (UTF8); optional int64 a; \
         required int96 write_time; required int96 api_invocation_time; required boolean is_deleted; }",
    )
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(
        file,
        Arc::new(schema),
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let days = millis.div_euclid(86_400_000);
    let nanos = (millis.rem_euclid(86_400_000) * 1_000_000) as u64;
    let mut int96 = Int96::new();
    int96.set_data(
        nanos as u32,
        (nanos >> 32) as u32,
        (days + 2_440_588) as u32,
    );
    let mut rg = writer.next_row_group().unwrap();
    let mut i = 0;
    while let Some(mut col) = rg.next_column().unwrap() {
        match col.untyped() {
            ColumnWriter::ByteArrayColumnWriter(w) => {
                let v = if i == 0 {
                    "2"
                } else {
                    "2024-01-01T00:10:00.001Z"
                };
                w.write_batch(&[ByteArray::from(v)], None, None).unwrap();
            }
            ColumnWriter::Int64ColumnWriter(w) => {
                w.write_batch(&[6], Some(&[1]), None).unwrap();
            }
            ColumnWriter::Int96ColumnWriter(w) => {
                w.write_batch(&[int96], None, None).unwrap();
            }
            ColumnWriter::BoolColumnWriter(w) => {
                w.write_batch(&[false], None, None).unwrap();
            }
            _ => panic!("unexpected column"),
        }
        col.close().unwrap();
        i += 1;
    }
    rg.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn an_offline_table_is_found_in_an_fs_local_store_directory() {
    let dir = TempDir::new().unwrap();
    let store = fs_local::Store::open(dir.path()).unwrap();
    let g = group("found", FeatureType::Fractional);
    store.create_feature_group(g.clone()).unwrap();
    let r = fs_schema::Record::new()
        .with("id", "x")
        .with("ts", "1704067200.5")
        .with("a", "3");
    store.put_record("found", &r, None, None).unwrap();
    store.flush().unwrap();
    let table = OfflineTable::from_store_dir(dir.path(), g.clone()).unwrap();
    assert_eq!(
        Some(table.dir().to_path_buf()),
        store.offline_data_dir("found").unwrap()
    );
    let out = runtime()
        .block_on(async {
            Scan::new(table)
                .columns(["id", "ts", "a"])
                .stream()
                .await?
                .collect()
                .await
        })
        .unwrap();
    assert_eq!(
        rows(&out, &["id", "ts", "a"]),
        vec![vec![
            Cell::Str("x".into()),
            Cell::Float("1704067200.5".into()),
            Cell::Int(3)
        ]]
    );
    assert!(OfflineTable::from_store_dir(dir.path(), group("other", FeatureType::String)).is_err());
}
