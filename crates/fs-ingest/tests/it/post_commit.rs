//! Ingests whose answers get lost after the commit (issue 17 §1): fs-server
//! in process answers a share of *committed* writes with a 500, a dropped
//! connection or a held answer the client gives up on, alone and mixed
//! with the faults before the commit (throttling, 503). Through the
//! PutRecord sink (`OnlineStoreSink` over `AwsOnlineStore`) and the
//! BatchWriteRecord sink (`BatchWriteSink`), each compared with a
//! fault-free run of the same input into a fresh server and store:
//!
//! - the online store is the same, record by record;
//! - the latest-per-record dataset (fs-offline's `LocalEngine` over the
//!   flushed offline files) is the same, row by row;
//! - every input row is written or reported, and with retries enough none
//!   fails;
//! - retries after an unknown outcome are counted, and explain every
//!   offline duplicate: each input row is offline at least once, at most
//!   `rows_retried_unknown_outcome` of them more than once, and the rows
//!   beyond the input are at most the retries made. Not at most
//!   `rows_retried_unknown_outcome`: that counts rows, and a row whose
//!   answer is lost twice is retried twice and may be offline three times.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use aws_sdk_sagemakerfeaturestoreruntime::Client;
use aws_sdk_sagemakerfeaturestoreruntime::config::timeout::TimeoutConfig;
use fs_ingest::{BatchWriteSink, IngestOptions, IngestReport, OnlineStoreSink, RetryConfig, Sink};
use fs_offline::DatasetBuilder;
use fs_offline::local::LocalEngine;
use fs_offline::table::OfflineTable;
use fs_online::AwsOnlineStore;
use fs_schema::FeatureGroup;
use fs_server::{Faults, Server, ServerOptions};

use crate::support::{Env, customers, read_parquet_dir, run, write_parquet};

const GROUP: &str = "lost-answers";
/// Record ids, each written in `VERSIONS` versions with distinct event times.
const IDS: usize = 800;
const VERSIONS: usize = 3;
const ROWS: usize = IDS * VERSIONS;
/// How long the client waits for an answer in a faulty run; a post-commit
/// timeout holds the answer back for `HELD`, so the client gives up first.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(200);
const HELD: Duration = Duration::from_millis(800);

/// Which sink writes to fs-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// `OnlineStoreSink` over `AwsOnlineStore`: one PutRecord per row.
    PutRecord,
    /// `BatchWriteSink`: BatchWriteRecord, 25 entries per request.
    BatchWriteRecord,
}

impl Api {
    fn operation(self) -> &'static str {
        match self {
            Api::PutRecord => "PutRecord",
            Api::BatchWriteRecord => "BatchWriteRecord",
        }
    }
}

/// 20% of committed writes answered with a 500, a dropped connection, or
/// an answer held past the client's timeout.
fn post_commit_faults(api: Api) -> Faults {
    Faults::none()
        .post_commit_error_rate(0.08)
        .post_commit_reset_rate(0.08)
        .post_commit_timeout(0.04, HELD)
        .seed(17)
        .only([api.operation()])
}

/// 20% in all: 10% of requests throttled or answered 503 before any work,
/// and 10% of the committed ones answered as in [`post_commit_faults`].
fn mixed_faults(api: Api) -> Faults {
    Faults::none()
        .throttle_rate(0.05)
        .error_rate(0.05)
        .post_commit_error_rate(0.04)
        .post_commit_reset_rate(0.04)
        .post_commit_timeout(0.02, HELD)
        .seed(71)
        .only([api.operation()])
}

/// Enough retries that no row fails under 20% faults (0.2^30 per row).
fn retries() -> RetryConfig {
    RetryConfig::default()
        .max_retries(30)
        .backoff(Duration::from_millis(1), Duration::from_millis(10))
        .deadline(None)
}

/// One row of the input.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    event_time: String,
    age: i64,
    lifetime_value: f64,
    city: Option<String>,
}

/// `IDS` ids in `VERSIONS` versions each, version `v` in hours `2v` and
/// `2v + 1`, shuffled so that an older version often comes after a newer
/// one; a few cities missing.
fn input_rows() -> Vec<Row> {
    let mut rows: Vec<(u64, Row)> = Vec::with_capacity(ROWS);
    for i in 0..IDS {
        for v in 0..VERSIONS {
            let hour = 2 * v + i % 2;
            let row = Row {
                id: i as i64,
                event_time: format!("2024-06-01T{hour:02}:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                age: 18 + ((i * 7 + v * 13) % 60) as i64,
                lifetime_value: i as f64 * 1.5 + v as f64 * 0.25,
                city: ((i + v) % 13 != 0).then(|| format!("city-{}-{v}", i % 7)),
            };
            rows.push((mix((i * VERSIONS + v) as u64), row));
        }
    }
    rows.sort_by_key(|(k, _)| *k);
    rows.into_iter().map(|(_, r)| r).collect()
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn batch(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "customer_id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))) as ArrayRef,
        ),
        (
            "event_time",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.event_time.as_str()),
            )),
        ),
        (
            "age",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.age))),
        ),
        (
            "lifetime_value",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.lifetime_value),
            )),
        ),
        (
            "city",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.city.clone()))),
        ),
    ])
    .unwrap()
}

/// fs-server with fault injection over its own fresh store, with the group.
struct Remote {
    env: Env,
    server: Server,
    group: FeatureGroup,
}

impl Remote {
    async fn new() -> Self {
        let env = Env::new();
        let group = env.group(customers(GROUP));
        let options = ServerOptions::default().fault_injection(true);
        let server = Server::start(env.store.clone(), options).await.unwrap();
        Self { env, server, group }
    }

    /// A runtime client with the SDK's own retries off (the sink's policy
    /// decides and counts), giving up on an answer after `timeout`.
    fn client(&self, timeout: Option<Duration>) -> Client {
        let config = fs_server::client_config(&self.server.endpoint_url(), 1);
        let mut builder = aws_sdk_sagemakerfeaturestoreruntime::config::Builder::from(&config);
        if let Some(t) = timeout {
            builder = builder.timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(t)
                    .build(),
            );
        }
        Client::from_conf(builder.build())
    }

    fn sink(&self, api: Api, retry: RetryConfig, timeout: Option<Duration>) -> Arc<dyn Sink> {
        let client = self.client(timeout);
        match api {
            Api::PutRecord => {
                let store = AwsOnlineStore::from_client(client).with_group(self.group.clone());
                Arc::new(
                    OnlineStoreSink::new(Arc::new(store))
                        .with_concurrency(16)
                        .with_retry(retry),
                )
            }
            Api::BatchWriteRecord => Arc::new(
                BatchWriteSink::new(client)
                    .with_concurrency(4)
                    .with_retry(retry),
            ),
        }
    }

    /// Every record id's online record (feature -> value as text).
    fn online(&self) -> BTreeMap<i64, Option<BTreeMap<String, String>>> {
        (0..IDS as i64)
            .map(|id| (id, self.env.online(GROUP, &id.to_string())))
            .collect()
    }

    /// After a flush, the offline rows per (record id, event time).
    fn offline_rows(&self) -> BTreeMap<(String, String), usize> {
        self.env.store.flush().unwrap();
        let dir = self.env.store.offline_data_dir(GROUP).unwrap().unwrap();
        let mut counts = BTreeMap::new();
        for b in read_parquet_dir(&dir) {
            let ids = arrow_cast::cast(b.column_by_name("customer_id").unwrap(), &DataType::Utf8)
                .unwrap();
            let times = b.column_by_name("event_time").unwrap().as_string::<i32>();
            for (id, t) in ids.as_string::<i32>().iter().zip(times.iter()) {
                let key = (id.unwrap().to_owned(), t.unwrap().to_owned());
                *counts.entry(key).or_default() += 1;
            }
        }
        counts
    }

    /// After a flush, the latest-per-record dataset of the offline store
    /// (fs-offline's embedded engine over the Parquet files), each row as
    /// text, sorted.
    async fn latest_per_record(&self) -> Vec<Vec<Option<String>>> {
        self.env.store.flush().unwrap();
        let table =
            OfflineTable::from_store_dir(self.env.dir.path().join("store"), self.group.clone())
                .unwrap();
        let engine = LocalEngine::new().with_table(table);
        let spec = DatasetBuilder::from_group(self.group.clone())
            .build()
            .unwrap();
        let mut rows = Vec::new();
        for b in engine.collect(&spec).await.unwrap() {
            let columns: Vec<ArrayRef> = b
                .columns()
                .iter()
                .map(|c| arrow_cast::cast(c, &DataType::Utf8).unwrap())
                .collect();
            for i in 0..b.num_rows() {
                rows.push(
                    columns
                        .iter()
                        .map(|c| {
                            let c = c.as_string::<i32>();
                            c.is_valid(i).then(|| c.value(i).to_owned())
                        })
                        .collect(),
                );
            }
        }
        rows.sort();
        rows
    }
}

/// An ingest of the input into a fresh server through `api`.
struct Ingested {
    remote: Remote,
    report: IngestReport,
}

/// Writes the input (two Parquet files) into `env`'s directory.
fn input_files(env: &Env, rows: &[Row]) -> Vec<PathBuf> {
    let (a, b) = rows.split_at(rows.len() / 2);
    let files = vec![env.path("part-1.parquet"), env.path("part-2.parquet")];
    write_parquet(&files[0], &batch(a));
    write_parquet(&files[1], &batch(b));
    files
}

/// Ingests the input through `api` into a fresh server with `faults` (none
/// for the fault-free run, whose client waits as long as it takes).
async fn ingest(api: Api, faults: Option<Faults>, retry: RetryConfig) -> Ingested {
    let remote = Remote::new().await;
    let files = input_files(&remote.env, &input_rows());
    let timeout = faults.as_ref().map(|_| ATTEMPT_TIMEOUT);
    if let Some(f) = faults {
        remote.server.set_faults(f);
    }
    let sink = remote.sink(api, retry, timeout);
    let report = run(&remote.group, sink, &files, IngestOptions::default())
        .await
        .unwrap();
    remote.server.set_faults(Faults::none());
    Ingested { remote, report }
}

/// The fault-free run: every row written once, online and offline, no
/// retry; the online store holds each id's latest version.
fn check_fault_free_run(clean: &Ingested) {
    let r = &clean.report;
    assert_eq!(
        (r.rows_read, r.rows_written, r.rows_failed, r.retries),
        (ROWS as u64, ROWS as u64, 0, 0),
        "the fault-free run"
    );
    let offline = clean.remote.offline_rows();
    assert_eq!(offline.len(), ROWS);
    assert!(offline.values().all(|&n| n == 1));
    let mut latest: BTreeMap<i64, Row> = BTreeMap::new();
    for row in input_rows() {
        let e = latest.entry(row.id).or_insert_with(|| row.clone());
        if row.event_time > e.event_time {
            *e = row;
        }
    }
    for (id, record) in clean.remote.online() {
        let record = record.unwrap_or_else(|| panic!("record {id} is not online"));
        let want = &latest[&id];
        assert_eq!(record["event_time"], want.event_time, "record {id}");
        assert_eq!(record["age"], want.age.to_string(), "record {id}");
        assert_eq!(record.get("city"), want.city.as_ref(), "record {id}");
    }
}

/// The online store equals the fault-free run's: every record id with
/// the same event time and values.
fn check_online_equal(faulty: &Ingested, clean: &Ingested) {
    let (got, want) = (faulty.remote.online(), clean.remote.online());
    let differ: Vec<_> = want
        .iter()
        .filter(|(id, w)| got.get(id) != Some(w))
        .map(|(id, w)| (id, w, got.get(id)))
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {IDS} online records differ from the fault-free run's, e.g. (id, fault-free, faulty) {:?}",
        differ.len(),
        differ.first()
    );
}

/// The latest-per-record dataset equals the fault-free run's.
async fn check_latest_per_record_equal(faulty: &Ingested, clean: &Ingested) {
    let got = faulty.remote.latest_per_record().await;
    let want = clean.remote.latest_per_record().await;
    assert_eq!(want.len(), IDS, "one row per record id");
    let first_difference = got.iter().zip(&want).position(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && first_difference.is_none(),
        "the latest-per-record dataset differs: {} rows, fault-free {}; first different row {:?} vs {:?}",
        got.len(),
        want.len(),
        first_difference.map(|i| &got[i]),
        first_difference.map(|i| &want[i]),
    );
}

/// Every input row written or reported; with retries enough, none failed.
fn check_every_row_written(faulty: &Ingested) {
    let r = &faulty.report;
    assert_eq!(r.rows_read, ROWS as u64);
    assert_eq!(r.rows_written + r.rows_failed, ROWS as u64);
    assert_eq!(r.failures.len() as u64, r.rows_failed);
    assert_eq!(
        r.rows_failed,
        0,
        "no row should fail with {} retries: {:?}",
        retries().max_retries,
        r.failures.first()
    );
}

/// Retries after an unknown outcome are counted and explain every offline
/// duplicate.
#[expect(clippy::print_stderr, reason = "the test reports what the faults did")]
fn check_unknown_outcomes_counted(faulty: &Ingested, api: Api) {
    let r = &faulty.report;
    let faulty_requests = faulty.remote.server.request_count(api.operation());
    assert!(
        r.retries > 0,
        "faults were injected, so writes were retried"
    );
    assert!(
        r.rows_retried_unknown_outcome > 0,
        "writes were answered with errors after their commit: {} rows retried, none counted as an unknown outcome",
        r.rows_retried
    );
    assert!(r.rows_retried_unknown_outcome <= r.rows_retried);
    let offline = faulty.remote.offline_rows();
    let total: usize = offline.values().sum();
    let duplicated = offline.values().filter(|&&n| n > 1).count();
    let inputs: std::collections::BTreeSet<(String, String)> = input_rows()
        .into_iter()
        .map(|r| (r.id.to_string(), r.event_time))
        .collect();
    // Every input row offline, nothing else.
    assert!(
        offline.keys().eq(inputs.iter()),
        "the offline store holds other (id, event time) keys than the input's"
    );
    assert!(total >= ROWS, "{total} offline rows for {ROWS} input rows");
    // A duplicate comes only from a retry after an unknown outcome: the
    // rows duplicated are at most the rows so retried, and each retry adds
    // at most one row.
    assert!(
        duplicated as u64 <= r.rows_retried_unknown_outcome,
        "{duplicated} input rows are offline more than once, but only {} were retried after an unknown outcome",
        r.rows_retried_unknown_outcome
    );
    assert!(
        (total - ROWS) as u64 <= r.retries,
        "{} offline rows beyond the input's {ROWS}, more than the {} retries made",
        total - ROWS,
        r.retries
    );
    assert!(
        duplicated > 0,
        "committed writes were answered with errors and retried, so some rows are offline twice"
    );
    eprintln!(
        "{api:?}: {faulty_requests} requests; {} rows retried ({} retries), {} after an unknown outcome; \
         {total} offline rows ({} beyond the input), {duplicated} rows duplicated",
        r.rows_retried,
        r.retries,
        r.rows_retried_unknown_outcome,
        total - ROWS
    );
}

/// An ingest through `api` under `faults`, checked against a fault-free
/// run of the same input.
async fn check(api: Api, faults: Faults) {
    let clean = ingest(api, None, retries()).await;
    check_fault_free_run(&clean);
    let faulty = ingest(api, Some(faults), retries()).await;
    check_every_row_written(&faulty);
    check_online_equal(&faulty, &clean);
    check_latest_per_record_equal(&faulty, &clean).await;
    check_unknown_outcomes_counted(&faulty, api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_record_under_20_percent_post_commit_faults_matches_a_fault_free_run() {
    check(Api::PutRecord, post_commit_faults(Api::PutRecord)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_record_under_20_percent_pre_and_post_commit_faults_matches_a_fault_free_run() {
    check(Api::PutRecord, mixed_faults(Api::PutRecord)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_write_under_20_percent_post_commit_faults_matches_a_fault_free_run() {
    check(
        Api::BatchWriteRecord,
        post_commit_faults(Api::BatchWriteRecord),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_write_under_20_percent_pre_and_post_commit_faults_matches_a_fault_free_run() {
    check(Api::BatchWriteRecord, mixed_faults(Api::BatchWriteRecord)).await;
}
