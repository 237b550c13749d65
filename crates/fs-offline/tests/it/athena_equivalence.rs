//! Both executions give the same rows: each dataset is run by the local
//! engine (DataFusion) and, as the Athena SQL the engine renders, by DuckDB
//! (after sqlglot's Trino → DuckDB transpilation; `run_trino_sql.py`) over
//! the same Parquet files. DuckDB's result is then read back by the Athena
//! engine's own UNLOAD path: the query is started on moto's Athena, the
//! result file put under its UNLOAD prefix in moto's S3, and read and typed
//! by `Query::finish`. The sorted rows must be equal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use fs_offline::athena::{AthenaOptions, output_schema};
use fs_offline::local::LocalEngine;
use fs_offline::table::OfflineTable;
use fs_offline::{DatasetBuilder, DatasetSpec, JoinSpec};
use fs_schema::{
    DataCatalogConfig, EventTime, FeatureDefinition, FeatureGroup, OfflineStoreConfig,
};
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use std::io::Write;

use super::support::*;

/// 2024-01-01T00:00:00Z in milliseconds.
const T0: i64 = 1_704_067_200_000;
const H: i64 = 3_600_000;

fn group(
    name: &str,
    event_time: FeatureDefinition,
    features: Vec<FeatureDefinition>,
) -> FeatureGroup {
    let mut offline = OfflineStoreConfig::new("s3://fs-equivalence/offline");
    offline.data_catalog_config = Some(DataCatalogConfig {
        table_name: format!("{name}-1704067200"),
        catalog: "AwsDataCatalog".into(),
        database: "sagemaker_featurestore".into(),
    });
    let id = FeatureDefinition::string("customer_id");
    FeatureGroup::builder(name, "customer_id", event_time.name.clone())
        .feature(id)
        .feature(event_time)
        .features(features)
        .offline_store(offline)
        .build()
        .expect("a valid group")
}

fn orders() -> FeatureGroup {
    group(
        "orders",
        FeatureDefinition::string("event_time"),
        vec![
            FeatureDefinition::fractional("amount"),
            FeatureDefinition::integral("qty"),
        ],
    )
}

fn profile() -> FeatureGroup {
    group(
        "profile",
        FeatureDefinition::fractional("ts"),
        vec![
            FeatureDefinition::string("tier"),
            FeatureDefinition::integral("score"),
        ],
    )
}

type OrderRow = (
    &'static str,
    &'static str,
    Option<f64>,
    Option<i64>,
    i64,
    i64,
    bool,
);

/// (id, event time, amount, qty, write_time, api_invocation_time, is_deleted).
fn order_rows() -> Vec<OrderRow> {
    let mut rows = orders_with_a_tie_and_a_late_write();
    rows.extend(orders_with_deletes());
    rows.extend(orders_out_of_order_and_null());
    rows
}

/// c1's orders, for the tie-break and write-time rules: two rows at the
/// same instant written differently (the later invocation wins) and a row
/// written late.
fn orders_with_a_tie_and_a_late_write() -> Vec<OrderRow> {
    vec![
        (
            "c1",
            "2024-01-01T00:00:00Z",
            Some(1.0),
            Some(1),
            T0 + 10_000,
            T0 + 1_000,
            false,
        ),
        (
            "c1",
            "2024-01-01T01:00:00.000Z",
            Some(2.0),
            Some(2),
            T0 + 2 * H,
            T0 + H,
            false,
        ),
        // The same instant written differently, invoked later: it wins the tie.
        (
            "c1",
            "2024-01-01T01:00:00Z",
            Some(2.5),
            Some(3),
            T0 + 3 * H,
            T0 + H + 5_000,
            false,
        ),
        // Written late: not there as of T0 + 4h.
        (
            "c1",
            "2024-01-01T02:00:00Z",
            Some(3.0),
            Some(4),
            T0 + 5 * H,
            T0 + 2 * H,
            false,
        ),
    ]
}

/// c2's and c3's orders, for delete markers: one newer than c2's only row
/// (it hides the record), one older than c3's row (it hides nothing).
fn orders_with_deletes() -> Vec<OrderRow> {
    vec![
        (
            "c2",
            "2024-01-01T00:30:00Z",
            Some(10.0),
            Some(1),
            T0 + H,
            T0 + H,
            false,
        ),
        // A delete newer than c2's only row hides it.
        (
            "c2",
            "2024-01-01T01:30:00Z",
            None,
            None,
            T0 + 2 * H,
            T0 + 2 * H,
            true,
        ),
        (
            "c3",
            "2024-01-01T00:15:00Z",
            Some(5.0),
            Some(5),
            T0 + H,
            T0 + H,
            false,
        ),
        // A delete older than c3's row hides nothing.
        (
            "c3",
            "2024-01-01T00:10:00Z",
            None,
            None,
            T0 + H,
            T0 + H,
            true,
        ),
    ]
}

/// c4's orders, out of event-time order and one with a null feature, and
/// c5's only order, with no feature values: nulls are values, not deletes.
fn orders_out_of_order_and_null() -> Vec<OrderRow> {
    vec![
        (
            "c4",
            "2024-01-01T03:00:00Z",
            Some(7.0),
            Some(7),
            T0 + 4 * H,
            T0 + 3 * H,
            false,
        ),
        (
            "c4",
            "2024-01-01T01:45:00Z",
            Some(6.0),
            None,
            T0 + 2 * H,
            T0 + 2 * H,
            false,
        ),
        (
            "c5",
            "2024-01-01T00:00:00Z",
            None,
            None,
            T0 + H,
            T0 + H,
            false,
        ),
    ]
}

/// (id, ts seconds, tier, score, write_time, api_invocation_time, is_deleted).
type ProfileRow = (
    &'static str,
    f64,
    Option<&'static str>,
    Option<i64>,
    i64,
    i64,
    bool,
);

fn profile_rows() -> Vec<ProfileRow> {
    let s = |ms: i64| ms as f64 / 1000.0;
    vec![
        ("c1", s(T0), Some("gold"), Some(1), T0, T0, false),
        (
            "c1",
            s(T0 + H) + 0.5,
            Some("platinum"),
            Some(2),
            T0 + H,
            T0 + H,
            false,
        ),
        ("c2", s(T0), Some("silver"), Some(3), T0, T0, false),
        ("c3", s(T0 + 2 * H), Some("bronze"), Some(4), T0, T0, false),
        ("c4", s(T0 - 24 * H), Some("old"), Some(5), T0, T0, false),
        ("c5", s(T0 - 60_000), Some("tin"), Some(6), T0, T0, false),
        ("c5", s(T0 + 60_000), None, None, T0 + H, T0 + H, true),
    ]
}

fn ts(ms: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(ms).with_timezone("UTC"))
}

fn write_parquet(dir: &Path, partition: &str, batch: &RecordBatch) {
    let dir = dir.join(partition);
    std::fs::create_dir_all(&dir).expect("partition directory");
    let file =
        std::fs::File::create(dir.join("20240101T000000Z_0123456789abcdef.parquet")).expect("file");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(batch).expect("written");
    writer.close().expect("closed");
}

/// Writes both groups' offline files (two hour partitions for orders) and
/// returns their data directories.
fn write_data(root: &Path) -> (PathBuf, PathBuf) {
    let orders_dir = root.join("orders/data");
    let rows = order_rows();
    for (partition, hours) in [
        ("year=2024/month=01/day=01/hour=00", 0..1),
        ("year=2024/month=01/day=01/hour=01", 1..4),
    ] {
        let part: Vec<&OrderRow> = rows
            .iter()
            .filter(|r| hours.contains(&(r.1[11..13].parse::<i32>().expect("hour"))))
            .collect();
        let batch = RecordBatch::try_from_iter([
            (
                "customer_id",
                Arc::new(StringArray::from(
                    part.iter().map(|r| r.0).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            (
                "event_time",
                Arc::new(StringArray::from(
                    part.iter().map(|r| r.1).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Float64Array::from(
                    part.iter().map(|r| r.2).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            (
                "qty",
                Arc::new(Int64Array::from(
                    part.iter().map(|r| r.3).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            ("write_time", ts(part.iter().map(|r| r.4).collect())),
            (
                "api_invocation_time",
                ts(part.iter().map(|r| r.5).collect()),
            ),
            (
                "is_deleted",
                Arc::new(BooleanArray::from(
                    part.iter().map(|r| r.6).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
        ])
        .expect("orders batch");
        write_parquet(&orders_dir, partition, &batch);
    }
    let profile_dir = root.join("profile/data");
    let rows = profile_rows();
    let batch = RecordBatch::try_from_iter([
        (
            "customer_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "ts",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "tier",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "score",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        ("write_time", ts(rows.iter().map(|r| r.4).collect())),
        (
            "api_invocation_time",
            ts(rows.iter().map(|r| r.5).collect()),
        ),
        (
            "is_deleted",
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.6).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
    ])
    .expect("profile batch");
    write_parquet(&profile_dir, "year=2023/month=12/day=31/hour=00", &batch);
    (orders_dir, profile_dir)
}

fn at(ms: i64) -> EventTime {
    EventTime::from_millis(ms).expect("a valid instant")
}

/// The datasets compared, by name.
fn specs() -> Vec<(&'static str, DatasetSpec)> {
    let base = || DatasetBuilder::from_group(orders());
    let profile_join = || JoinSpec::new(profile()).features(["tier", "score"]);
    let build = |b: DatasetBuilder| b.build().expect("a valid spec");
    vec![
        ("latest per record", build(base())),
        (
            "latest per record with metadata",
            build(base().include_metadata()),
        ),
        (
            "every row, deletes and duplicates included",
            build(
                base()
                    .include_deleted_records()
                    .include_duplicated_records()
                    .include_metadata(),
            ),
        ),
        (
            "duplicates kept, deletes applied",
            build(base().include_duplicated_records()),
        ),
        ("as of T0 + 4h", build(base().as_of(at(T0 + 4 * H)))),
        (
            "event-time range 00:10 to 02:30",
            build(base().event_time_range(Some(at(T0 + 600_000)), Some(at(T0 + 150 * 60_000)))),
        ),
        (
            "2 most recent per record",
            build(base().recent_records_per_id(2)),
        ),
        (
            "2 most recent, deletes included",
            build(base().recent_records_per_id(2).include_deleted_records()),
        ),
        ("features subset", build(base().features(["qty"]))),
        (
            "point-in-time join, inner",
            build(base().include_duplicated_records().join(profile_join())),
        ),
        (
            "point-in-time join, left, max age 2h, prefixed",
            build(
                base().recent_records_per_id(3).join(
                    profile_join()
                        .left()
                        .max_age(Duration::from_secs(2 * 3600))
                        .prefix("p_"),
                ),
            ),
        ),
    ]
}

#[tokio::test]
#[ignore = "needs moto (FS_S3_ENDPOINT) and the it-venv's DuckDB (FS_IT_PYTHON); run by cargo xtask it"]
async fn athena_sql_run_on_duckdb_gives_the_local_engines_rows() {
    let moto = moto();
    moto_manual_transitions(&moto, 2);
    let region = "ca-central-1";
    let bucket = "fs-athena-equivalence";
    let (engine, _, s3) = engine(
        &moto,
        region,
        bucket,
        AthenaOptions::default().backoff(fast_backoff()),
    )
    .await;
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let (orders_dir, profile_dir) = write_data(tmp.path());
    let local = LocalEngine::new()
        .with_table(OfflineTable::new(orders(), &orders_dir))
        .with_table(OfflineTable::new(profile(), &profile_dir));

    // Start every UNLOAD on moto, and have DuckDB run every SELECT at once.
    let specs = specs();
    let mut queries = Vec::new();
    let mut request = Vec::new();
    for (i, (name, spec)) in specs.iter().enumerate() {
        let select = engine
            .render(spec)
            .unwrap_or_else(|e| panic!("{name}: rendering failed: {e}"));
        let query = engine.start_unload(&select).await.expect("started");
        assert!(
            query.sql().contains(&select),
            "{name}: the UNLOAD wraps the rendered SELECT"
        );
        let out = tmp.path().join(format!("duckdb-{i}.parquet"));
        request.push(serde_json::json!({"sql": select, "out": out}));
        queries.push((query, out));
    }
    let tables: Vec<_> = [(orders(), &orders_dir), (profile(), &profile_dir)]
        .iter()
        .map(|(g, dir)| {
            let parts = engine.table_ref(g).expect("a Glue table").parts().to_vec();
            serde_json::json!({"parts": parts, "files": format!("{}/**/*.parquet", dir.display())})
        })
        .collect();
    run_trino_sql(&serde_json::json!({"tables": tables, "queries": request}));

    let mut checked = 0;
    for ((name, spec), (query, out)) in specs.iter().zip(queries) {
        let location = query.unload_location().expect("UNLOAD").to_owned();
        let key = format!(
            "{}part-0.parquet",
            location
                .strip_prefix(&format!("s3://{bucket}/"))
                .expect("in the bucket")
        );
        let body = std::fs::read(&out).expect("DuckDB's result");
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("put");
        let schema = output_schema(spec, None)
            .expect("a schema")
            .expect("known for a group base");
        let athena: Vec<RecordBatch> = query
            .finish(Some(schema))
            .await
            .expect("finished")
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let local: Vec<RecordBatch> = local
            .collect(spec)
            .await
            .unwrap_or_else(|e| panic!("{name}: local: {e}"));
        let (athena, local) = (sorted_rows(&athena), sorted_rows(&local));
        assert!(
            !local.is_empty(),
            "{name}: the local result is empty, which proves little"
        );
        assert_eq!(
            athena, local,
            "{name}: DuckDB running the Athena SQL and the local engine differ"
        );
        checked += 1;
    }
    assert_eq!(checked, specs.len());
}

/// Runs `run_trino_sql.py` with `request` on stdin; panics with its output on failure.
fn run_trino_sql(request: &serde_json::Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/run_trino_sql.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("request written");
    let out = child.wait_with_output().expect("the script ran");
    assert!(
        out.status.success(),
        "run_trino_sql.py failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
