//! The `DatasetEngine` contract (feature `test-util`): one plain async
//! function per behaviour, taking any engine through a [`Fixture`]. Every
//! engine runs the same list, unchanged, with
//! [`dataset_contract_suite!`](crate::dataset_contract_suite), in the
//! manner of object_store's `integration` module:
//!
//! ```ignore
//! // In a backend's tests (fs-offline's own run it on `LocalEngine`, on
//! // `RegistryEngine` over the embedded store, and on `CachedEngine` over
//! // fs-server and moto's S3):
//! fs_offline::dataset_contract_suite!(fixture = MyFixture::new());
//! ```
//!
//! The contract writes each group's offline data itself, as SageMaker
//! lays it out (Parquet files under `year=/month=/day=/hour=`, with
//! `write_time`, `api_invocation_time` and `is_deleted`), so that every
//! engine reads the same bytes; the fixture only puts them where its
//! engine reads from (a directory, the embedded store, an S3 bucket). The
//! caller's crate needs `tokio` (with `macros` and `rt-multi-thread`)
//! among its dev-dependencies: each behaviour is a `#[tokio::test]`.

/// Expands to one `#[tokio::test]` per contract function, each calling it
/// with the fixture `$make` builds (an expression, awaited if async), with
/// any extra attributes (such as `#[ignore = ...]`) on every test.
#[macro_export]
macro_rules! dataset_contract_suite {
    ($(#[$attr:meta])* fixture = $make:expr) => {
        $crate::dataset_contract_suite!(@each [$(#[$attr])*] ($make);
            the_latest_row_per_record_wins_and_duplicates_collapse,
            a_delete_marker_hides_the_rows_it_is_not_older_than,
            as_of_reads_only_rows_written_by_then,
            the_event_time_range_keeps_the_base_rows_inside_it,
            a_point_in_time_join_takes_the_newest_row_at_or_before_each_entity_time,
            max_age_and_inner_joins_drop_rows_too_old_or_unmatched,
            sql_renders_the_dataset_in_the_engine_dialect,
            a_dataset_of_an_unknown_group_fails_naming_it,
            a_pinned_dataset_keeps_its_id_and_is_kept_byte_for_byte,
        );
    };
    (@each $attrs:tt ($make:expr); $($name:ident),* $(,)?) => {
        $( $crate::dataset_contract_suite!(@one $attrs ($make) $name); )*
    };
    (@one [$($attr:tt)*] ($make:expr) $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $name() {
            $crate::contract::$name(&$make).await;
        }
    };
}

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use async_trait::async_trait;
use fs_schema::{EventTime, FeatureDefinition, FeatureGroup, OnlineStoreConfig};
use parquet::arrow::ArrowWriter;

use crate::engine::DatasetEngine;
use crate::spec::{
    API_INVOCATION_TIME, DatasetBuilder, DatasetSpec, Entities, EntitySource, IS_DELETED, JoinSpec,
    WRITE_TIME,
};

/// One Parquet file of a group's offline data: its path under the group's
/// offline location (`year=…/month=…/day=…/hour=…/name.parquet`) and its
/// bytes.
pub type OfflineFile = (String, Vec<u8>);

/// What the contract needs from a backend: a way to make feature groups
/// with given offline data, and the engine under test over them.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// Makes every group exist in the backend with `files` as its offline
    /// data (group names are unique per test, so fixtures may share one
    /// server or bucket), and returns the engine under test.
    async fn engine(&self, groups: Vec<(FeatureGroup, Vec<OfflineFile>)>)
    -> Arc<dyn DatasetEngine>;
}

/// A group with both stores: `id` (String), `ts` (String event time),
/// `score` (Fractional), its offline store under `s3://contract-bucket`
/// (fixtures that upload change the URI with
/// [`FeatureGroup::offline_store_config`]).
pub fn group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name, "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::fractional("score"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://contract-bucket/offline")
        .role_arn("arn:aws:iam::000000000000:role/contract")
        .build()
        .expect("the contract's group is valid")
}

/// One offline row of a [`group`].
#[derive(Debug, Clone)]
struct Row {
    id: &'static str,
    event_time: &'static str,
    score: Option<f64>,
    api_invocation_time: i64,
    write_time: i64,
    deleted: bool,
}

/// A put of `score` at `event_time`, written at `written` (minutes after
/// 2024-01-01T00:00Z, for both `api_invocation_time` and `write_time`).
fn put(id: &'static str, event_time: &'static str, score: f64, written: i64) -> Row {
    Row {
        id,
        event_time,
        score: Some(score),
        api_invocation_time: minutes(written),
        write_time: minutes(written),
        deleted: false,
    }
}

/// A delete marker at `event_time`, written at `written`.
fn delete(id: &'static str, event_time: &'static str, written: i64) -> Row {
    Row {
        id,
        event_time,
        score: None,
        api_invocation_time: minutes(written),
        write_time: minutes(written),
        deleted: true,
    }
}

fn minutes(m: i64) -> i64 {
    ms("2024-01-01T00:00:00Z") + m * 60_000
}

fn ms(iso: &str) -> i64 {
    EventTime::parse_iso(iso)
        .expect("the contract's times are ISO-8601")
        .as_millis()
}

/// `rows` of `group` as SageMaker's offline store holds them: one Parquet
/// file per event-time hour, with the metadata columns.
fn offline_files(group: &FeatureGroup, rows: &[Row]) -> Vec<OfflineFile> {
    let mut hours: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let at = EventTime::parse_iso(row.event_time).expect("an ISO-8601 event time");
        hours
            .entry(fs_schema::layout::partition(at))
            .or_default()
            .push(row);
    }
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("ts", DataType::Utf8, false),
        Field::new("score", DataType::Float64, true),
        Field::new(WRITE_TIME, ts.clone(), false),
        Field::new(API_INVOCATION_TIME, ts, false),
        Field::new(IS_DELETED, DataType::Boolean, false),
    ]));
    hours
        .into_iter()
        .enumerate()
        .map(|(n, (hour, rows))| {
            let stamps = |f: fn(&Row) -> i64| -> ArrayRef {
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| f(r)))
                        .with_timezone("UTC"),
                )
            };
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id))),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.event_time),
                )),
                Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.score))),
                stamps(|r| r.write_time),
                stamps(|r| r.api_invocation_time),
                Arc::new(BooleanArray::from_iter(
                    rows.iter().map(|r| Some(r.deleted)),
                )),
            ];
            let batch = RecordBatch::try_new(schema.clone(), columns).expect("columns fit");
            let mut bytes = Vec::new();
            let mut writer = ArrowWriter::try_new(&mut bytes, schema.clone(), None).unwrap();
            writer.write(&batch).unwrap();
            writer.close().unwrap();
            let name = format!("{}_{n}.parquet", group.feature_group_name);
            (format!("{hour}/{name}"), bytes)
        })
        .collect()
}

/// Runs `spec` and returns its rows as text, sorted: each row is its
/// `columns`, nulls as `-`, Fractionals as Rust prints them.
async fn rows_of(engine: &dyn DatasetEngine, spec: &DatasetSpec, columns: &[&str]) -> Vec<String> {
    let batches = engine
        .execute(spec)
        .await
        .expect("the dataset runs")
        .collect()
        .await
        .expect("the dataset's rows stream");
    rows_text(&batches, columns)
}

/// The rows of `batches` as text, sorted (see [`rows_of`]).
fn rows_text(batches: &[RecordBatch], columns: &[&str]) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        for i in 0..batch.num_rows() {
            let cells: Vec<String> = columns
                .iter()
                .map(|name| {
                    let column = batch
                        .column_by_name(name)
                        .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()));
                    cell(column.as_ref(), i)
                })
                .collect();
            rows.push(cells.join(" "));
        }
    }
    rows.sort();
    rows
}

fn cell(column: &dyn Array, i: usize) -> String {
    if column.is_null(i) {
        return "-".into();
    }
    match column.data_type() {
        DataType::Float64 => column.as_primitive::<Float64Type>().value(i).to_string(),
        DataType::Utf8 => column.as_string::<i32>().value(i).to_owned(),
        DataType::Boolean => column.as_boolean().value(i).to_string(),
        other => arrow_cast::display::array_value_to_string(column, i)
            .unwrap_or_else(|e| panic!("{other}: {e}")),
    }
}

/// One group named `name` holding `rows`, and the engine over it.
async fn one_group(
    f: &dyn Fixture,
    name: &str,
    rows: &[Row],
) -> (FeatureGroup, Arc<dyn DatasetEngine>) {
    let group = group(name);
    let files = offline_files(&group, rows);
    let engine = f.engine(vec![(group.clone(), files)]).await;
    (group, engine)
}

/// Checks that a dataset keeps the newest row of each record, and that
/// rows of one record and event time collapse to the one invoked last,
/// then written last.
pub async fn the_latest_row_per_record_wins_and_duplicates_collapse(f: &dyn Fixture) {
    let rows = [
        put("a", "2024-01-01T01:00:00Z", 1.0, 70),
        put("a", "2024-01-01T02:00:00Z", 2.0, 130),
        // The same event time, invoked later but written earlier: it wins.
        Row {
            api_invocation_time: minutes(140),
            write_time: minutes(125),
            ..put("a", "2024-01-01T02:00:00Z", 3.0, 0)
        },
        put("b", "2024-01-01T01:00:00Z", 5.0, 70),
        // The same event time and invocation, written later: it wins.
        Row {
            write_time: minutes(90),
            ..put("b", "2024-01-01T01:00:00Z", 6.0, 70)
        },
    ];
    let (group, engine) = one_group(f, "dc-latest", &rows).await;
    let spec = DatasetBuilder::from_group(group).build().unwrap();
    assert_eq!(
        rows_of(engine.as_ref(), &spec, &["id", "ts", "score"]).await,
        ["a 2024-01-01T02:00:00Z 3", "b 2024-01-01T01:00:00Z 6"]
    );
}

/// Checks that a delete marker hides a record's rows at or before its
/// event time, and that a newer put brings the record back.
pub async fn a_delete_marker_hides_the_rows_it_is_not_older_than(f: &dyn Fixture) {
    let rows = [
        put("a", "2024-01-01T01:00:00Z", 1.0, 70),
        delete("a", "2024-01-01T02:00:00Z", 130),
        delete("c", "2024-01-01T01:00:00Z", 70),
        put("c", "2024-01-01T02:00:00Z", 7.0, 130),
        put("d", "2024-01-01T01:00:00Z", 4.0, 70),
    ];
    let (group, engine) = one_group(f, "dc-deletes", &rows).await;
    let spec = DatasetBuilder::from_group(group.clone()).build().unwrap();
    assert_eq!(
        rows_of(engine.as_ref(), &spec, &["id", "score"]).await,
        ["c 7", "d 4"]
    );
    let with_deleted = DatasetBuilder::from_group(group)
        .include_deleted_records()
        .include_metadata()
        .build()
        .unwrap();
    let got = rows_of(engine.as_ref(), &with_deleted, &["id", IS_DELETED]).await;
    assert!(
        got.contains(&"a true".to_owned()),
        "with deleted records, a's marker is a row: {got:?}"
    );
}

/// Checks that `as_of` reads the offline store as it was: rows written
/// after it are not there.
pub async fn as_of_reads_only_rows_written_by_then(f: &dyn Fixture) {
    let rows = [
        put("a", "2024-01-01T01:00:00Z", 1.0, 70),
        put("a", "2024-01-01T02:00:00Z", 2.0, 500),
        put("b", "2024-01-01T01:30:00Z", 5.0, 400),
    ];
    let (group, engine) = one_group(f, "dc-as-of", &rows).await;
    let now = DatasetBuilder::from_group(group.clone()).build().unwrap();
    assert_eq!(
        rows_of(engine.as_ref(), &now, &["id", "score"]).await,
        ["a 2", "b 5"]
    );
    let then = DatasetBuilder::from_group(group)
        .as_of(EventTime::from_millis(minutes(300)).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        rows_of(engine.as_ref(), &then, &["id", "score"]).await,
        ["a 1"]
    );
}

/// Checks that an event-time range keeps only the base rows inside it
/// (both ends included) before the newest row per record is taken.
pub async fn the_event_time_range_keeps_the_base_rows_inside_it(f: &dyn Fixture) {
    let rows = [
        put("a", "2024-01-01T01:00:00Z", 1.0, 70),
        put("a", "2024-01-01T03:00:00Z", 3.0, 190),
        put("b", "2024-01-01T02:00:00Z", 2.0, 130),
        put("c", "2024-01-01T04:00:00Z", 4.0, 250),
    ];
    let (group, engine) = one_group(f, "dc-range", &rows).await;
    let spec = DatasetBuilder::from_group(group)
        .event_time_range(
            Some(EventTime::parse_iso("2024-01-01T01:00:00Z").unwrap()),
            Some(EventTime::parse_iso("2024-01-01T02:00:00Z").unwrap()),
        )
        .build()
        .unwrap();
    assert_eq!(
        rows_of(engine.as_ref(), &spec, &["id", "score"]).await,
        ["a 1", "b 2"]
    );
}

/// Entities `(id, at)` in memory, `at` as ISO-8601 text.
fn entities(rows: &[(&str, &str)]) -> Entities {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer", DataType::Utf8, false),
        Field::new("at", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    )
    .unwrap();
    Entities {
        source: EntitySource::Batches {
            schema,
            batches: vec![batch],
        },
        id_column: "customer".into(),
        time_column: "at".into(),
    }
}

/// The feature rows the join tests read: `a` twice; `b` once, deleted,
/// then put again.
fn join_rows() -> [Row; 5] {
    [
        put("a", "2024-01-01T01:00:00Z", 1.0, 70),
        put("a", "2024-01-01T02:00:00Z", 2.0, 130),
        put("b", "2024-01-01T01:00:00Z", 5.0, 70),
        delete("b", "2024-01-01T02:00:00Z", 130),
        put("b", "2024-01-01T03:00:00Z", 6.0, 190),
    ]
}

/// The entity rows the join tests join onto.
const ENTITIES: [(&str, &str); 7] = [
    ("a", "2024-01-01T01:30:00Z"),
    ("a", "2024-01-01T03:00:00Z"),
    ("a", "2024-01-01T00:30:00Z"),
    ("b", "2024-01-01T01:30:00Z"),
    ("b", "2024-01-01T02:30:00Z"),
    ("b", "2024-01-01T03:30:00Z"),
    ("z", "2024-01-01T03:00:00Z"),
];

/// Checks that a left point-in-time join gives each entity row the
/// newest feature row at or before its time, and nulls where there is
/// none: before the record's first row, at a delete marker, before it (a
/// marker hides every row of its record not newer than it), or for an
/// identifier the group does not hold.
pub async fn a_point_in_time_join_takes_the_newest_row_at_or_before_each_entity_time(
    f: &dyn Fixture,
) {
    let (group, engine) = one_group(f, "dc-pit", &join_rows()).await;
    let spec = DatasetBuilder::from_entities(entities(&ENTITIES))
        .join(JoinSpec::new(group).left())
        .build()
        .unwrap();
    assert_eq!(
        rows_of(engine.as_ref(), &spec, &["customer", "at", "score"]).await,
        [
            "a 2024-01-01T00:30:00Z -",
            "a 2024-01-01T01:30:00Z 1",
            "a 2024-01-01T03:00:00Z 2",
            "b 2024-01-01T01:30:00Z -",
            "b 2024-01-01T02:30:00Z -",
            "b 2024-01-01T03:30:00Z 6",
            "z 2024-01-01T03:00:00Z -",
        ]
    );
}

/// Checks that `max_age` drops feature rows older than the entity time
/// minus it, and that an inner join drops the entity rows left unmatched.
pub async fn max_age_and_inner_joins_drop_rows_too_old_or_unmatched(f: &dyn Fixture) {
    let (group, engine) = one_group(f, "dc-pit-age", &join_rows()).await;
    let spec = DatasetBuilder::from_entities(entities(&ENTITIES))
        .join(JoinSpec::new(group).max_age(Duration::from_secs(45 * 60)))
        .build()
        .unwrap();
    assert_eq!(
        rows_of(engine.as_ref(), &spec, &["customer", "at", "score"]).await,
        ["a 2024-01-01T01:30:00Z 1", "b 2024-01-01T03:30:00Z 6"]
    );
}

/// Checks that the SQL an engine gives for a dataset is a query over the
/// dataset's columns, and that rendering it does not run it.
pub async fn sql_renders_the_dataset_in_the_engine_dialect(f: &dyn Fixture) {
    let (group, engine) =
        one_group(f, "dc-sql", &[put("a", "2024-01-01T01:00:00Z", 1.0, 70)]).await;
    let spec = DatasetBuilder::from_group(group).build().unwrap();
    let sql = engine.sql(&spec).await.expect("the dataset renders");
    let upper = sql.to_uppercase();
    assert!(upper.contains("SELECT"), "{sql}");
    for column in ["score", IS_DELETED, API_INVOCATION_TIME] {
        assert!(sql.contains(column), "the SQL reads {column}: {sql}");
    }
}

/// Checks that a dataset of a group the backend does not have fails, and
/// that the error names the group.
pub async fn a_dataset_of_an_unknown_group_fails_naming_it(f: &dyn Fixture) {
    let (_, engine) = one_group(f, "dc-known", &[put("a", "2024-01-01T01:00:00Z", 1.0, 70)]).await;
    let spec = DatasetBuilder::from_group(group("dc-never-created"))
        .build()
        .unwrap();
    let err = match engine.execute(&spec).await {
        Ok(stream) => stream
            .collect()
            .await
            .expect_err("a dataset of a group that does not exist"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("dc-never-created"), "{err}");
}

/// Checks that an engine that can name its inputs
/// ([`DatasetEngine::pin`]) gives a dataset the same id while its data is
/// unchanged, that the pinned dataset has the rows of `execute`, and that
/// the artifact kept from it is read back with the same bytes and rows
/// without running the dataset again. Engines that cannot name their
/// inputs (Athena) answer `None` and keep nothing.
pub async fn a_pinned_dataset_keeps_its_id_and_is_kept_byte_for_byte(f: &dyn Fixture) {
    let rows = [
        put("a", "2024-01-01T01:00:00Z", 1.0, 70),
        put("a", "2024-01-01T02:00:00Z", 2.0, 130),
        put("b", "2024-01-01T01:00:00Z", 5.0, 70),
    ];
    let (group, engine) = one_group(f, "dc-pinned", &rows).await;
    let spec = DatasetBuilder::from_group(group).build().unwrap();
    let columns = ["id", "ts", "score"];
    let Some(pinned) = engine.pin(&spec).await.expect("pinning runs") else {
        return;
    };
    assert!(
        pinned.inputs().iter().any(|i| i.role == "group:dc-pinned"),
        "the inputs name the group's files: {:?}",
        pinned.inputs()
    );
    let id = pinned.dataset_id(&spec);
    let again = engine.pin(&spec).await.unwrap().expect("pinned again");
    assert_eq!(again.dataset_id(&spec), id, "unchanged data keeps its id");
    let pinned_rows = pinned
        .execute(&spec)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let expected = ["a 2024-01-01T02:00:00Z 2", "b 2024-01-01T01:00:00Z 5"];
    assert_eq!(rows_text(&pinned_rows, &columns), expected);
    assert_eq!(rows_of(engine.as_ref(), &spec, &columns).await, expected);

    let dir = tempfile::tempdir().unwrap();
    let kept = crate::artifact::ArtifactEngine::new(
        engine.clone(),
        crate::artifact::ArtifactStore::new(dir.path(), Default::default()),
    );
    let built = kept
        .artifact(&spec)
        .await
        .unwrap()
        .expect("a pinning engine keeps");
    assert_eq!(built.id(), id);
    assert!(!built.reused());
    let read = kept.artifact(&spec).await.unwrap().expect("kept");
    assert!(read.reused(), "the second request reads the kept artifact");
    assert_eq!(
        std::fs::read(read.data_path()).unwrap(),
        std::fs::read(built.data_path()).unwrap()
    );
    assert_eq!(rows_text(&read.read_all().unwrap(), &columns), expected);
}
