//! Ingest from memory: a stream of Arrow batches goes through the same
//! cast, report, failures file and resume as a file, with the same result.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow_schema::{ArrowError, SchemaRef};
use fs_ingest::{Error, Ingest, IngestOptions, IngestReport, ShardMode, Stage};
use fs_schema::FeatureGroup;
use futures::StreamExt;

use crate::support::{Env, assert_invariant, customers, customers_batch, write_csv, write_parquet};

/// Runs a stream of batches through a `LocalSink`, checking the invariant.
async fn run_stream(
    env: &Env,
    group: &FeatureGroup,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    options: IngestOptions,
) -> fs_ingest::Result<IngestReport> {
    let result = Ingest::new(group.clone(), env.sink(), options)
        .run_batches_iter(name, schema, batches)
        .await;
    if let Some(r) = result
        .as_ref()
        .ok()
        .or_else(|| result.as_ref().err()?.report())
    {
        assert_invariant(r);
    }
    result
}

/// `batch` with its `age` column as text, `bad` at the given rows.
fn with_text_ages(batch: &RecordBatch, bad: &[(usize, &str)]) -> RecordBatch {
    let age = arrow_cast::cast(
        batch.column_by_name("age").unwrap(),
        &arrow_schema::DataType::Utf8,
    )
    .unwrap();
    let mut ages: Vec<Option<String>> = age
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect();
    for (row, value) in bad {
        ages[*row] = Some((*value).to_owned());
    }
    let i = batch.schema().index_of("age").unwrap();
    let mut columns = batch.columns().to_vec();
    columns[i] = Arc::new(StringArray::from(ages)) as ArrayRef;
    let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
    fields[i] = Arc::new(arrow_schema::Field::new(
        "age",
        arrow_schema::DataType::Utf8,
        true,
    ));
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap()
}

/// `batch` cut into batches of `n` rows.
fn chunks(batch: &RecordBatch, n: usize) -> Vec<RecordBatch> {
    (0..batch.num_rows())
        .step_by(n)
        .map(|at| batch.slice(at, n.min(batch.num_rows() - at)))
        .collect()
}

fn counts(r: &IngestReport) -> (u64, u64, u64) {
    (r.rows_read, r.rows_written, r.rows_failed)
}

#[tokio::test]
async fn a_stream_ingests_as_the_same_rows_through_a_csv_and_a_parquet_file() {
    let data = with_text_ages(&customers_batch(1, 100), &[(6, "thirty"), (57, "1.5")]);
    let (stream_env, csv_env, parquet_env) = (Env::new(), Env::new(), Env::new());
    let group = customers("same-rows");
    for env in [&stream_env, &csv_env, &parquet_env] {
        env.group(group.clone());
    }
    let options = || IngestOptions::default().batch_size(30);
    let streamed = run_stream(
        &stream_env,
        &group,
        "orders",
        data.schema(),
        chunks(&data, 30),
        options(),
    )
    .await
    .unwrap();
    let csv = csv_env.path("orders.csv");
    write_csv(&csv, &data);
    let from_csv = csv_env.ingest(&group, &[csv], options()).await.unwrap();
    let parquet = parquet_env.path("orders.parquet");
    write_parquet(&parquet, &data);
    let from_parquet = parquet_env
        .ingest(&group, &[parquet], options())
        .await
        .unwrap();

    assert_eq!(counts(&streamed), (100, 98, 2));
    assert_eq!(counts(&streamed), counts(&from_csv));
    assert_eq!(counts(&streamed), counts(&from_parquet));
    let failed = |r: &IngestReport| -> Vec<_> {
        r.failures
            .iter()
            .map(|f| (f.row, f.column.clone(), f.value.clone(), f.stage))
            .collect()
    };
    assert_eq!(failed(&streamed), failed(&from_parquet));
    assert_eq!(
        failed(&streamed),
        [
            (7, Some("age".into()), Some("thirty".into()), Stage::Cast),
            (58, Some("age".into()), Some("1.5".into()), Stage::Cast),
        ]
    );
    for id in 1..=100 {
        let id = id.to_string();
        let s = stream_env.online("same-rows", &id);
        assert_eq!(s, csv_env.online("same-rows", &id), "record {id}");
        assert_eq!(s, parquet_env.online("same-rows", &id), "record {id}");
    }
    assert_eq!(
        stream_env.offline_counts("same-rows", "customer_id"),
        csv_env.offline_counts("same-rows", "customer_id")
    );
    assert_eq!(streamed.files.len(), 1);
    assert_eq!(streamed.files[0].file, std::path::Path::new("orders"));
    assert!(streamed.files[0].complete);
}

#[tokio::test]
async fn bad_rows_of_a_stream_name_the_stream_batch_row_column_and_value() {
    let env = Env::new();
    let group = env.group(customers("stream-bad"));
    let data = with_text_ages(&customers_batch(1, 40), &[(16, "abc")]);
    let failures = env.path("failures.csv");
    let report = run_stream(
        &env,
        &group,
        "orders",
        data.schema(),
        chunks(&data, 10),
        IngestOptions::default().failures_file(&failures),
    )
    .await
    .unwrap();
    assert_eq!(counts(&report), (40, 39, 1));
    let f = &report.failures[0];
    assert_eq!((f.row, f.batch), (17, Some(2)));
    let message = f.to_string();
    assert!(
        message.starts_with(r#"stream "orders", batch 2, row 17, column "age", value "abc": "#),
        "{message}"
    );
    assert_eq!(f.values.get_str("customer_id"), Some("17"));
    assert!(env.online("stream-bad", "17").is_none());
    assert!(env.online("stream-bad", "18").is_some());
    // The failures file names the stream where a file's path would be.
    let text = std::fs::read_to_string(&failures).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with("orders,17,age,cast,"), "{text}");
}

#[tokio::test]
async fn a_schema_without_the_record_identifier_fails_naming_the_stream() {
    let env = Env::new();
    let group = env.group(customers("stream-no-id"));
    let data = customers_batch(1, 5);
    let without_id = data.project(&[1, 2, 3, 4]).unwrap();
    let err = run_stream(
        &env,
        &group,
        "orders",
        without_id.schema(),
        vec![without_id],
        IngestOptions::default(),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.contains(r#"stream "orders", its schema"#),
        "{message}"
    );
    assert!(message.contains("customer_id"), "{message}");
    let Error::Stopped { source, report } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(&**source, Error::Stream { stream, batch: 0, column: Some(c), .. }
            if stream == "orders" && c == "customer_id"),
        "{source:?}"
    );
    assert_eq!(report.rows_written, 0);
}

#[tokio::test]
async fn a_batch_that_drifts_from_the_stream_schema_fails_naming_the_batch() {
    let env = Env::new();
    let group = env.group(customers("stream-drift"));
    let good = customers_batch(1, 10);
    let no_id = customers_batch(11, 10).project(&[1, 2, 3, 4]).unwrap();
    let err = run_stream(
        &env,
        &group,
        "orders",
        good.schema(),
        vec![good.clone(), no_id],
        IngestOptions::default(),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(r#"stream "orders", batch 2, row 11, column "customer_id""#),
        "{message}"
    );
    // The batch before it is written and reported.
    assert_eq!(err.report().unwrap().rows_written, 10);
    assert!(env.online("stream-drift", "10").is_some());
}

#[tokio::test]
async fn a_column_of_a_type_no_feature_can_hold_fails_naming_it() {
    let env = Env::new();
    let group = env.group(customers("stream-binary"));
    let data = customers_batch(1, 3);
    let mut columns = data.columns().to_vec();
    columns[4] = Arc::new(BinaryArray::from_iter_values([b"a", b"b", b"c"])) as ArrayRef;
    let mut fields: Vec<_> = data.schema().fields().iter().cloned().collect();
    fields[4] = Arc::new(arrow_schema::Field::new(
        "city",
        arrow_schema::DataType::Binary,
        false,
    ));
    let batch = RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap();
    let err = run_stream(
        &env,
        &group,
        "orders",
        batch.schema(),
        vec![batch],
        IngestOptions::default(),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains(r#"stream "orders""#), "{message}");
    assert!(message.contains(r#"column "city""#), "{message}");
    assert!(message.contains("Binary"), "{message}");
}

#[tokio::test]
async fn an_error_of_the_stream_stops_the_run_and_names_the_batch() {
    let env = Env::new();
    let group = env.group(customers("stream-err"));
    let data = customers_batch(1, 20);
    let batches = futures::stream::iter([
        Ok(data.slice(0, 10)),
        Err(ArrowError::ComputeError("the query failed".into())),
        Ok(data.slice(10, 10)),
    ]);
    let err = Ingest::new(group, env.sink(), IngestOptions::default())
        .run_batches("orders", data.schema(), batches)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(r#"stream "orders", batch 2, row 11: "#)
            && message.contains("the query failed"),
        "{message}"
    );
    assert_eq!(err.report().unwrap().rows_written, 10);
    assert!(env.online("stream-err", "11").is_none());
}

/// A resumed stream: the first run is cut off part way (its future
/// dropped while the stream waits, as a killed process would stop), the
/// second replays the same stream and skips what the first committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_stream_skips_the_committed_rows_and_loses_none() {
    let env = Env::new();
    let group = env.group(customers("stream-resume"));
    let data = with_text_ages(&customers_batch(1, 200), &[(3, "x"), (150, "y")]);
    let batches = chunks(&data, 20);
    let options = IngestOptions::default()
        .checkpoint(env.path("checkpoint.json"))
        .failures_file(env.path("failures.jsonl"))
        .resume(true);
    let ingest = Ingest::new(group.clone(), env.sink(), options.clone());

    // Seven batches, then the stream hangs: the run is cut off there.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch, ArrowError>>(1);
    let first = tokio::spawn({
        let ingest = ingest.clone();
        let schema = data.schema();
        async move {
            let stream = tokio_stream_of(rx);
            ingest.run_batches("orders", schema, stream).await
        }
    });
    for b in &batches[..7] {
        tx.send(Ok(b.clone())).await.unwrap();
    }
    // Once most of them are checkpointed, kill the run.
    let checkpointed = || {
        fs_ingest::Checkpoint::load(&env.path("checkpoint.json"))
            .ok()
            .flatten()
            .and_then(|cp| cp.stream_progress("orders").map(|p| p.rows_done))
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while checkpointed() < 100 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    drop(tx);
    let cp = fs_ingest::Checkpoint::load(&env.path("checkpoint.json"))
        .unwrap()
        .unwrap();
    let done = cp.stream_progress("orders").unwrap().rows_done;
    assert!((100..=140).contains(&done), "rows done {done}");

    let second = ingest
        .run_batches_iter("orders", data.schema(), batches.clone())
        .await
        .unwrap();
    assert_invariant(&second);
    assert_eq!(second.rows_resumed, done);
    assert_eq!(second.rows_read, 200 - done);
    let total = second.total();
    assert_eq!(
        (total.rows_read, total.rows_written, total.rows_failed),
        (200, 198, 2)
    );
    // No duplicates, none lost.
    let offline = env.offline_counts("stream-resume", "customer_id");
    assert_eq!(offline.len(), 198);
    assert!(offline.values().all(|&c| c == 1), "{offline:?}");
    assert!(!offline.contains_key("4") && !offline.contains_key("151"));
    // The failures file holds each failure once.
    let text = std::fs::read_to_string(env.path("failures.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");

    // A finished stream resumed reads nothing (and pulls nothing).
    let third = ingest
        .run_batches_iter("orders", data.schema(), Vec::new())
        .await
        .unwrap();
    assert_eq!((third.rows_read, third.rows_resumed), (0, 200));
}

/// A `Stream` over a channel's receiver.
fn tokio_stream_of<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
}

#[tokio::test]
async fn workers_sharding_one_stream_ingest_disjoint_shares_of_it() {
    let env = Env::new();
    let group = env.group(customers("stream-shards"));
    let data = customers_batch(1, 300);
    let mut written = 0;
    for index in 0..3 {
        let report = run_stream(
            &env,
            &group,
            "orders",
            data.schema(),
            chunks(&data, 64),
            IngestOptions::default().shard(index, 3),
        )
        .await
        .unwrap();
        assert_eq!(report.shard_mode, Some(ShardMode::ByRecordIdentifier));
        assert_eq!(report.rows_read + report.rows_other_shards, 300);
        assert!(report.rows_read > 50, "{}", report.rows_read);
        written += report.rows_written;
    }
    assert_eq!(written, 300);
    let offline = env.offline_counts("stream-shards", "customer_id");
    assert_eq!(offline.len(), 300);
    assert!(offline.values().all(|&c| c == 1), "{offline:?}");
}

#[test]
fn the_future_of_a_stream_ingest_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let env = Env::new();
    let ingest = Ingest::new(customers("send"), env.sink(), IngestOptions::default());
    let stream = futures::stream::empty::<Result<RecordBatch, ArrowError>>().boxed();
    let schema = customers_batch(1, 1).schema();
    let future = ingest.run_batches("orders", schema, stream);
    assert_send(&future);
}
