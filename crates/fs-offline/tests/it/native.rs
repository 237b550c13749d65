//! The native latest-per-record path against the SQL plan: the same rows,
//! whatever the data's shape (random ties and deletes, many row groups and
//! files, identifier tables split over passes, files of other writers), and
//! errors naming the file, row and column.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use fs_offline::DatasetBuilder;
use fs_offline::EngineOptions;
use fs_offline::local::LocalEngine;
use fs_offline::spec::DatasetSpec;
use fs_offline::table::OfflineTable;
use fs_schema::{EventTime, FeatureType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

use crate::random::{at, builder, random_rows, random_spec};
use crate::support::{
    Cell, Row, group, ms, names, rows, runtime, total_rows, write_batch, write_rows,
    write_rows_grouped,
};

fn engine(table: &OfflineTable, options: EngineOptions) -> LocalEngine {
    LocalEngine::with_options(options).with_table(table.clone())
}

fn native() -> EngineOptions {
    EngineOptions::default()
}

fn sql() -> EngineOptions {
    EngineOptions {
        native_latest: false,
        ..EngineOptions::default()
    }
}

fn run(engine: &LocalEngine, spec: &DatasetSpec) -> Vec<RecordBatch> {
    runtime().block_on(engine.collect(spec)).unwrap()
}

/// Runs `spec` both ways; asserts equal schemas and rows; returns the rows.
fn both_ways(table: &OfflineTable, spec: &DatasetSpec, options: EngineOptions) -> Vec<Vec<Cell>> {
    let ours = run(&engine(table, options), spec);
    let theirs = run(&engine(table, sql()), spec);
    let schema = |b: &[RecordBatch]| b.first().map(|b| b.schema().fields().clone());
    if let (Some(a), Some(b)) = (schema(&ours), schema(&theirs)) {
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!(
                (x.name(), x.data_type()),
                (y.name(), y.data_type()),
                "{spec:?}"
            );
        }
        assert_eq!(a.len(), b.len());
    }
    let columns = if ours.is_empty() {
        names(&theirs)
    } else {
        names(&ours)
    };
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let got = rows(&ours, &columns);
    assert_eq!(got, rows(&theirs, &columns), "{spec:?}");
    got
}

#[test]
fn native_and_sql_latest_agree_on_random_data_with_ties_and_deletes() {
    for seed in [11u64, 12, 13] {
        let mut rng = StdRng::seed_from_u64(seed);
        let g = group("g", FeatureType::String);
        let data = random_rows(&mut rng, 400, 0);
        let dir = TempDir::new().unwrap();
        write_rows(dir.path(), &g, &data);
        let table = OfflineTable::new(g.clone(), dir.path());
        let mut nonempty = 0;
        for _ in 0..16 {
            let mut s = random_spec(&mut rng);
            s.n = [None, Some(1)][rng.random_range(0..2)];
            if s.n.is_none() {
                s.include_duplicated = false;
            }
            let mut b = builder(g.clone(), &s);
            if rng.random_bool(0.5) {
                b = b.include_metadata();
            }
            if rng.random_bool(0.3) {
                b = b.features(["s", "a"]);
            }
            let spec = b.build().unwrap();
            let got = both_ways(&table, &spec, native());
            nonempty += usize::from(!got.is_empty());
        }
        assert!(nonempty > 5, "seed {seed}: too few non-empty cases");
    }
}

#[test]
fn many_files_and_row_groups_and_split_identifier_tables_give_the_sql_rows() {
    // 12,000 identifiers need about 1.7 MB of identifier tables: a 2 MB
    // memory limit (a 1 MB budget) makes the native path split them over
    // passes; the default budget does it in one.
    let g = group("g", FeatureType::String);
    let mut rng = StdRng::seed_from_u64(5);
    let data: Vec<Row> = (0..30_000)
        .map(|i| {
            let id = format!("c{:05}", rng.random_range(0..12_000));
            let et = at(rng.random_range(0..300));
            let api = et + rng.random_range(0..3);
            // Unique write times: no two rows of a record tie on every key.
            let wt = api + 60_000 + i;
            if rng.random_bool(0.05) {
                Row::delete(&id, et, api, wt)
            } else {
                Row::put(&id, et, i, api, wt)
            }
        })
        .collect();
    let dir = TempDir::new().unwrap();
    let files = write_rows_grouped(dir.path(), &g, &data, Some(997));
    assert!(files.len() >= 4, "{} files", files.len());
    let table = OfflineTable::new(g.clone(), dir.path());
    let spec = DatasetBuilder::from_group(g.clone())
        .include_metadata()
        .build()
        .unwrap();
    let split = EngineOptions {
        memory_limit: Some(2 << 20),
        target_partitions: 3,
        batch_size: 500,
        ..native()
    };
    let got = both_ways(&table, &spec, split);
    assert!(got.len() > 9_000, "{} rows", got.len());
    assert_eq!(both_ways(&table, &spec, native()), got);

    // Every row is the newest of its identifier, and no identifier repeats.
    let ids: std::collections::BTreeSet<&Cell> = got.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), got.len());

    // A limit stops early but keeps rows whole.
    let limited = DatasetBuilder::from_group(g).limit(1234).build().unwrap();
    let out = run(&engine(&table, native()), &limited);
    assert_eq!(total_rows(&out), 1234);
}

#[test]
fn files_of_other_writers_and_older_definitions_read_as_the_table_declares() {
    let dir = TempDir::new().unwrap();
    let g = group("g", FeatureType::String);
    let t = ms("2024-01-01T00:10:00Z");
    // Microsecond write times without a zone, second api times, no `b`/`s`.
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(StringArray::from(vec!["1", "1"])) as ArrayRef,
        ),
        (
            "ts",
            Arc::new(StringArray::from(vec![
                "2024-01-01T00:10:00Z",
                "2024-01-01T00:09:00.000Z",
            ])) as ArrayRef,
        ),
        ("a", Arc::new(Int64Array::from(vec![5, 4])) as ArrayRef),
        (
            "write_time",
            Arc::new(arrow_array::TimestampMicrosecondArray::from(vec![
                (t + 7) * 1000,
                (t + 9) * 1000,
            ])) as ArrayRef,
        ),
        (
            "api_invocation_time",
            Arc::new(
                arrow_array::TimestampSecondArray::from(vec![t / 1000, t / 1000])
                    .with_timezone("UTC"),
            ) as ArrayRef,
        ),
        (
            "is_deleted",
            Arc::new(BooleanArray::from(vec![false, false])) as ArrayRef,
        ),
    ])
    .unwrap();
    let hour = dir.path().join("year=2024/month=01/day=01/hour=00");
    write_batch(&hour.join("spark.parquet"), &batch);
    // Record 2 in a file with INT96 times, as Spark and Hive write them.
    crate::scan::write_int96_file(&hour.join("int96.parquet"), t + 1);
    let table = OfflineTable::new(g.clone(), dir.path());
    let spec = DatasetBuilder::from_group(g)
        .include_metadata()
        .build()
        .unwrap();
    let got = both_ways(&table, &spec, native());
    let cells: Vec<Vec<Cell>> = got.iter().map(|r| r[..6].to_vec()).collect();
    assert_eq!(
        cells,
        vec![
            vec![
                Cell::Str("1".into()),
                Cell::Str("2024-01-01T00:10:00Z".into()),
                Cell::Int(5),
                Cell::Null,
                Cell::Null,
                Cell::Millis(t + 7),
            ],
            vec![
                Cell::Str("2".into()),
                Cell::Str("2024-01-01T00:10:00.001Z".into()),
                Cell::Int(6),
                Cell::Null,
                Cell::Null,
                Cell::Millis(t + 1),
            ],
        ]
    );
}

#[test]
fn an_event_time_that_is_not_a_time_is_named_with_its_file_row_and_column() {
    let dir = TempDir::new().unwrap();
    let g = group("g", FeatureType::String);
    let t = ms("2024-01-01T00:10:00Z");
    let mut data = vec![
        Row::put("x", t, 1, t, t + 60_000),
        Row::put("y", t, 2, t, t + 60_000),
        Row::put("z", t, 3, t, t + 60_000),
    ];
    data[2] = data[2].clone().with_text("yesterday");
    let files = write_rows(dir.path(), &g, &data);
    let table = OfflineTable::new(g.clone(), dir.path());
    let spec = DatasetBuilder::from_group(g).build().unwrap();
    let err = runtime()
        .block_on(engine(&table, native()).collect(&spec))
        .unwrap_err()
        .to_string();
    for part in [
        files[0].display().to_string(),
        "row 2".into(),
        "`ts`".into(),
        "`yesterday`".into(),
    ] {
        assert!(err.contains(&part), "{err:?} does not name {part}");
    }
}

#[test]
fn the_native_path_honours_as_of_and_the_event_time_range() {
    let g = group("g", FeatureType::Fractional);
    let t = |m: i64| at(m * 10);
    let data = vec![
        Row::put("a", t(0), 1, t(0), t(100)),
        Row::put("a", t(20), 2, t(20), t(300)),
        Row::put("b", t(5), 3, t(5), t(100)),
        Row::delete("b", t(6), t(6), t(300)),
    ];
    let dir = TempDir::new().unwrap();
    write_rows(dir.path(), &g, &data);
    let table = OfflineTable::new(g.clone(), dir.path());
    let as_of = |m| EventTime::from_millis(t(m)).unwrap();
    let id_a = |spec: &DatasetSpec| -> Vec<(Cell, Cell)> {
        both_ways(&table, spec, native())
            .into_iter()
            .map(|r| (r[0].clone(), r[2].clone()))
            .collect()
    };
    let s = |c: &str| Cell::Str(c.into());
    // Now: a's newest is 2; b is deleted.
    let spec = DatasetBuilder::from_group(g.clone()).build().unwrap();
    assert_eq!(id_a(&spec), vec![(s("a"), Cell::Int(2))]);
    // As of before the second writes: a is 1 and b is 3.
    let spec = DatasetBuilder::from_group(g.clone())
        .as_of(as_of(200))
        .build()
        .unwrap();
    assert_eq!(
        id_a(&spec),
        vec![(s("a"), Cell::Int(1)), (s("b"), Cell::Int(3))]
    );
    // Event times up to t(10): a's 1; b's delete marker (t(6)) still wins.
    let spec = DatasetBuilder::from_group(g.clone())
        .event_time_range(None, Some(as_of(10)))
        .build()
        .unwrap();
    assert_eq!(id_a(&spec), vec![(s("a"), Cell::Int(1))]);
    // With deleted records included, the marker is b's row.
    let spec = DatasetBuilder::from_group(g)
        .include_deleted_records()
        .build()
        .unwrap();
    assert_eq!(
        id_a(&spec),
        vec![(s("a"), Cell::Int(2)), (s("b"), Cell::Null)]
    );
}

#[test]
fn long_identifiers_sharing_their_first_bytes_are_distinct_records() {
    let g = group("g", FeatureType::String);
    let prefix = "customer-0000000000000000-";
    let data: Vec<Row> = (0..40)
        .map(|i| {
            let id = format!("{prefix}{}", i % 10);
            let et = at(i);
            Row::put(&id, et, i, et, et + 60_000)
        })
        .chain([Row::put("short", at(0), 99, at(0), at(1))])
        .collect();
    let dir = TempDir::new().unwrap();
    write_rows(dir.path(), &g, &data);
    let table = OfflineTable::new(g.clone(), dir.path());
    let spec = DatasetBuilder::from_group(g).build().unwrap();
    let got: Vec<(Cell, Cell)> = both_ways(&table, &spec, native())
        .into_iter()
        .map(|r| (r[0].clone(), r[2].clone()))
        .collect();
    let mut want: Vec<(Cell, Cell)> = (30..40)
        .map(|i| (Cell::Str(format!("{prefix}{}", i % 10)), Cell::Int(i)))
        .collect();
    want.push((Cell::Str("short".into()), Cell::Int(99)));
    want.sort();
    assert_eq!(got, want);
}
