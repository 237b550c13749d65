//! The Athena execution (`fs_offline::athena`): API mechanics against
//! moto's Athena (states, deadline and cancellation, queued results, UNLOAD
//! read-back from moto's S3) and MiniStack's (which runs the SQL on DuckDB:
//! pagination, failures); the rendered SQL's equivalence with the local
//! engine is in `athena_equivalence.rs`.

#[path = "athena_equivalence.rs"]
mod equivalence;
#[path = "athena_support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use aws_sdk_athena::types::QueryExecutionState;
use fs_offline::athena::{AthenaError, AthenaOptions, Backoff, Fetch, QueryState};
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use support::*;

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

#[tokio::test]
#[ignore = "needs moto (FS_S3_ENDPOINT); run by cargo xtask it"]
async fn a_query_is_polled_through_its_states_until_it_succeeds() {
    let moto = moto();
    moto_manual_transitions(&moto, 2);
    let region = "eu-west-1";
    moto_queue_result(&moto, region, &[("n", "bigint")], &[vec![Some("1")]]);
    let (engine, athena, _) = engine(
        &moto,
        region,
        "fs-athena-states",
        AthenaOptions::default().backoff(fast_backoff()),
    )
    .await;

    let query = engine.start("SELECT 1 AS n").await.expect("started");
    let id = query.id().to_owned();
    let finished = query.wait().await.expect("succeeds");

    // Two calls per transition: QUEUED, RUNNING (2nd), RUNNING, SUCCEEDED (4th).
    assert_eq!(finished.query_id, id);
    assert_eq!(finished.polls, 4);
    assert_eq!(
        finished.states,
        [
            QueryState::Queued,
            QueryState::Running,
            QueryState::Succeeded
        ]
    );
    assert_eq!(finished.statement_type.as_deref(), Some("DML"));
    let sent = athena
        .get_query_execution()
        .query_execution_id(&id)
        .send()
        .await
        .expect("described");
    let execution = sent.query_execution().expect("an execution");
    assert_eq!(execution.query(), Some("SELECT 1 AS n"));
    assert_eq!(
        execution
            .result_configuration()
            .and_then(|r| r.output_location())
            .map(|l| l.starts_with("s3://fs-athena-states/results/")),
        Some(true)
    );
}

#[tokio::test]
#[ignore = "needs moto (FS_S3_ENDPOINT); run by cargo xtask it"]
async fn queued_results_are_read_as_typed_batches_without_the_header() {
    let moto = moto();
    moto_manual_transitions(&moto, 2);
    let region = "eu-west-2";
    let columns = [
        ("customer_id", "varchar"),
        ("amount", "double"),
        ("qty", "bigint"),
        ("write_time", "timestamp"),
        ("is_deleted", "boolean"),
    ];
    let rows = vec![
        vec![
            Some("c1"),
            Some("1.5"),
            Some("3"),
            Some("2024-01-31 12:00:00.123"),
            Some("false"),
        ],
        vec![Some("c2"), None, Some("-1"), None, Some("true")],
        vec![
            Some(""),
            Some("1.0E10"),
            None,
            Some("1970-01-01 00:00:00.000"),
            None,
        ],
    ];
    moto_queue_result(&moto, region, &columns, &rows);
    let (engine, _, _) = engine(
        &moto,
        region,
        "fs-athena-typed",
        AthenaOptions::default().backoff(fast_backoff()),
    )
    .await;
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, true),
        Field::new("qty", DataType::Int64, true),
        Field::new("write_time", utc_ms(), true),
        Field::new("is_deleted", DataType::Boolean, true),
    ]));

    let dataset = engine
        .run_sql("SELECT …", Fetch::Results, Some(schema.clone()))
        .await
        .expect("runs");
    assert_eq!(dataset.schema(), schema);
    let batches: Vec<RecordBatch> = dataset.try_collect().await.expect("reads");
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 3, "the header row is not data");
    assert_eq!(
        b.column(0).as_string::<i32>().iter().collect::<Vec<_>>(),
        [Some("c1"), Some("c2"), Some("")]
    );
    let amount = b.column(1).as_primitive::<Float64Type>();
    assert_eq!(
        (amount.value(0), amount.is_null(1), amount.value(2)),
        (1.5, true, 1.0e10)
    );
    let qty = b.column(2).as_primitive::<Int64Type>();
    assert_eq!((qty.value(0), qty.value(1), qty.is_null(2)), (3, -1, true));
    let wt = b.column(3).as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        (wt.value(0), wt.is_null(1), wt.value(2)),
        (1_706_702_400_123, true, 0)
    );
    let del = b.column(4).as_boolean();
    assert_eq!(
        (del.value(0), del.value(1), del.is_null(2)),
        (false, true, true)
    );

    // Without a schema the types come from Athena's column info.
    moto_queue_result(&moto, region, &columns, &rows);
    let dataset = engine
        .run_sql("SELECT …", Fetch::Results, None)
        .await
        .expect("runs");
    let types: Vec<DataType> = dataset
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Utf8,
            DataType::Float64,
            DataType::Int64,
            DataType::Timestamp(TimeUnit::Millisecond, None),
            DataType::Boolean
        ]
    );
}

#[tokio::test]
#[ignore = "needs moto (FS_S3_ENDPOINT); run by cargo xtask it"]
async fn a_query_past_its_deadline_is_stopped_and_reported() {
    let moto = moto();
    moto_manual_transitions(&moto, 2);
    let region = "ap-south-1";
    // With the first delay as long as the deadline there are at most two
    // polls (one before, one at the deadline); moto needs four to finish, so
    // the query is still QUEUED or RUNNING when time is up.
    let deadline = Duration::from_millis(200);
    let options = AthenaOptions::default()
        .backoff(Backoff::new(deadline, deadline, 1.0))
        .deadline(Some(deadline));
    let (engine, athena, _) = engine(&moto, region, "fs-athena-deadline", options).await;

    let query = engine.start("SELECT slow FROM big").await.expect("started");
    let id = query.id().to_owned();
    let err = query.wait().await.unwrap_err();
    match &err {
        AthenaError::Timeout {
            query_id,
            deadline,
            last_state,
            stopped,
        } => {
            assert_eq!(query_id, &id);
            assert_eq!(*deadline, Duration::from_millis(200));
            assert!(
                matches!(last_state, QueryState::Queued | QueryState::Running),
                "{last_state}"
            );
            assert!(stopped, "StopQueryExecution succeeded");
        }
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(err.to_string().contains(&id), "{err}");
    let state = athena
        .get_query_execution()
        .query_execution_id(&id)
        .send()
        .await
        .expect("described");
    let state = state
        .query_execution()
        .and_then(|e| e.status())
        .and_then(|s| s.state())
        .cloned();
    assert_eq!(
        state,
        Some(QueryExecutionState::Cancelled),
        "the engine stopped the query"
    );
}

fn parquet_object(batch: &RecordBatch, compression: Compression) -> Vec<u8> {
    let props = WriterProperties::builder()
        .set_compression(compression)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("writer");
    writer.write(batch).expect("written");
    writer.close().expect("closed");
    out
}

/// A batch as Athena's UNLOAD writes it: lower-case names, nanosecond
/// timestamps without zone.
fn unload_batch(
    ids: &[&str],
    amounts: &[Option<f64>],
    qty: &[i64],
    write_ms: &[i64],
) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "customerid",
            Arc::new(StringArray::from(ids.to_vec())) as ArrayRef,
        ),
        (
            "amount",
            Arc::new(Float64Array::from(amounts.to_vec())) as ArrayRef,
        ),
        ("qty", Arc::new(Int64Array::from(qty.to_vec())) as ArrayRef),
        (
            "write_time",
            Arc::new(TimestampNanosecondArray::from(
                write_ms.iter().map(|m| m * 1_000_000).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
    ])
    .expect("a batch")
}

/// Puts what Athena's UNLOAD would have written under `prefix` (three
/// Parquet files in three compressions, one in a sub-directory, and a
/// `_SUCCESS` marker) and a Parquet file outside it, which must not be read.
async fn put_unload_output(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) {
    let objects = [
        (
            "a.parquet",
            parquet_object(
                &unload_batch(
                    &["c1", "c2", "c3"],
                    &[Some(1.0), None, Some(3.0)],
                    &[1, 2, 3],
                    &[1000, 2000, 3000],
                ),
                Compression::SNAPPY,
            ),
        ),
        (
            "b.parquet",
            parquet_object(
                &unload_batch(&["c4"], &[Some(4.5)], &[4], &[4000]),
                Compression::GZIP(GzipLevel::default()),
            ),
        ),
        (
            "sub/c.parquet",
            parquet_object(
                &unload_batch(
                    &["c5", "c6"],
                    &[Some(5.0), Some(6.0)],
                    &[5, 6],
                    &[5000, 6000],
                ),
                Compression::ZSTD(ZstdLevel::default()),
            ),
        ),
        ("_SUCCESS", Vec::new()),
    ];
    for (name, body) in objects {
        s3.put_object()
            .bucket(bucket)
            .key(format!("{prefix}{name}"))
            .body(body.into())
            .send()
            .await
            .expect("put");
    }
    let stray = parquet_object(
        &unload_batch(&["x"], &[None], &[0], &[0]),
        Compression::SNAPPY,
    );
    s3.put_object()
        .bucket(bucket)
        .key("results/unload/other.parquet")
        .body(stray.into())
        .send()
        .await
        .expect("put");
}

/// The schema the UNLOAD test reads its result as: the group's names and
/// types, not UNLOAD's lower-case names and nanosecond timestamps.
fn unload_read_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("CustomerId", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, true),
        Field::new("qty", DataType::Int64, true),
        Field::new("write_time", utc_ms(), true),
    ]))
}

/// The rows of every file under the UNLOAD prefix, sorted, as
/// [`sorted_rows`] shows them.
fn unload_expected_rows() -> Vec<Vec<String>> {
    [
        ["c1", "1.0", "1", "1970-01-01T00:00:01Z"],
        ["c2", "∅", "2", "1970-01-01T00:00:02Z"],
        ["c3", "3.0", "3", "1970-01-01T00:00:03Z"],
        ["c4", "4.5", "4", "1970-01-01T00:00:04Z"],
        ["c5", "5.0", "5", "1970-01-01T00:00:05Z"],
        ["c6", "6.0", "6", "1970-01-01T00:00:06Z"],
    ]
    .iter()
    .map(|r| r.iter().map(|s| s.to_string()).collect())
    .collect()
}

#[tokio::test]
#[ignore = "needs moto (FS_S3_ENDPOINT); run by cargo xtask it"]
async fn unload_reads_every_parquet_object_under_the_query_prefix() {
    let moto = moto();
    moto_manual_transitions(&moto, 2);
    let region = "sa-east-1";
    let bucket = "fs-athena-unload";
    let options = AthenaOptions::default()
        .backoff(fast_backoff())
        .parallelism(2)
        .batch_size(2);
    let (engine, _, s3) = engine(&moto, region, bucket, options).await;

    let query = engine
        .start_unload("SELECT customerid, amount, qty, write_time FROM t")
        .await
        .expect("started");
    let location = query.unload_location().expect("an UNLOAD query").to_owned();
    assert!(
        location.starts_with(&format!("s3://{bucket}/results/unload/fs-offline-")),
        "{location}"
    );
    assert_eq!(
        query.sql(),
        format!(
            "UNLOAD (SELECT customerid, amount, qty, write_time FROM t) TO '{location}' WITH (format = 'PARQUET', compression = 'SNAPPY')"
        )
    );
    // What Athena would have written while the query ran: three files in
    // three compressions, a marker, and a file outside the prefix.
    let prefix = location
        .strip_prefix(&format!("s3://{bucket}/"))
        .expect("in the bucket");
    put_unload_output(&s3, bucket, prefix).await;

    let schema = unload_read_schema();
    let dataset = query.finish(Some(schema.clone())).await.expect("finished");
    let batches: Vec<RecordBatch> = dataset.try_collect().await.expect("read back");
    assert!(
        batches
            .iter()
            .all(|b| b.schema() == schema && b.num_rows() <= 2),
        "batches of the schema, at most batch_size rows"
    );
    let rows = sorted_rows(&batches);
    let expected = unload_expected_rows();
    assert_eq!(rows, expected);

    // A corrupt object is reported with its URI.
    let query = engine
        .start_unload("SELECT customerid, amount, qty, write_time FROM t")
        .await
        .expect("started");
    let location = query.unload_location().expect("UNLOAD").to_owned();
    let key = format!(
        "{}bad.parquet",
        location
            .strip_prefix(&format!("s3://{bucket}/"))
            .expect("in the bucket")
    );
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(b"not parquet".to_vec().into())
        .send()
        .await
        .expect("put");
    let err = query
        .finish(Some(schema))
        .await
        .expect("finished")
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("s3://{bucket}/{key}")),
        "{err}"
    );
}

#[tokio::test]
#[ignore = "needs the it-venv's MiniStack (FS_IT_PYTHON); run by cargo xtask it"]
async fn results_are_read_across_several_pages() {
    let ms = MiniStack::start();
    let options = AthenaOptions::default()
        .backoff(fast_backoff())
        .page_size(4);
    let (engine, _, _) = engine(&ms.endpoint, "us-east-1", "fs-athena-pages", options).await;
    let values: Vec<String> = (0..10).map(|i| format!("({i}, 'v{i}', {i}.5)")).collect();
    let sql = format!(
        "SELECT n, s, x FROM (VALUES {}) AS t(n, s, x) ORDER BY n",
        values.join(", ")
    );

    let dataset = engine
        .run_sql(&sql, Fetch::Results, None)
        .await
        .expect("runs on DuckDB");
    let batches: Vec<RecordBatch> = dataset.try_collect().await.expect("every page");
    assert!(
        batches.len() >= 3,
        "10 rows in pages of at most 4 rows: {} batches",
        batches.len()
    );
    let n: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            arrow_cast::cast(b.column(0), &DataType::Int64)
                .expect("ints")
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(n, (0..10).collect::<Vec<i64>>(), "every row once, in order");
    let s: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            b.column(1)
                .as_string::<i32>()
                .iter()
                .map(|v| v.expect("set").to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(s[9], "v9");
}

#[tokio::test]
#[ignore = "needs the it-venv's MiniStack (FS_IT_PYTHON); run by cargo xtask it"]
async fn a_failed_query_reports_athenas_reason() {
    let ms = MiniStack::start();
    let (engine, _, _) = engine(
        &ms.endpoint,
        "us-east-1",
        "fs-athena-fail",
        AthenaOptions::default().backoff(fast_backoff()),
    )
    .await;

    let query = engine
        .start("SELECT no_such_column FROM (VALUES (1)) AS t(n)")
        .await
        .expect("started");
    let id = query.id().to_owned();
    let err = query.finish(None).await.unwrap_err();
    match &err {
        AthenaError::QueryFailed {
            query_id,
            state,
            reason,
            ..
        } => {
            assert_eq!(query_id, &id);
            assert_eq!(*state, QueryState::Failed);
            let reason = reason.as_deref().expect("a reason");
            assert!(reason.contains("no_such_column"), "{reason}");
        }
        other => panic!("expected a failed query, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&id) && msg.contains("FAILED") && msg.contains("no_such_column"),
        "{msg}"
    );
}
