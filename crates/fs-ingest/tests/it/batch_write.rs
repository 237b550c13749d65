//! `BatchWriteSink` (BatchWriteRecord, the real runtime SDK client) against
//! fs-server in process: the sink contract (also run for `OnlineStoreSink`
//! over `AwsOnlineStore`, the PutRecord path), per-entry faults retried or
//! reported, the retry deadline, and the same files read back identical.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fs_ingest::{BatchWriteSink, IngestOptions, OnlineStoreSink, RetryConfig, Sink, Stage};
use fs_online::AwsOnlineStore;
use fs_schema::FeatureGroup;
use fs_server::{Faults, Server, ServerOptions};

use crate::support::{Env, customers, customers_batch, run, write_csv, write_parquet};
use fs_ingest::contract::ReadBack;

/// fs-server over its own embedded store.
struct Remote {
    env: Env,
    server: Server,
    /// The AWS online store of the PutRecord sink (`OnlineStoreSink` over
    /// `AwsOnlineStore`), which learns each group the contract creates.
    aws: Arc<AwsOnlineStore>,
}

impl Remote {
    async fn new() -> Self {
        let env = Env::new();
        let options = ServerOptions::default().fault_injection(true);
        let server = Server::start(env.store.clone(), options).await.unwrap();
        let config = fs_server::client_config(&server.endpoint_url(), 1);
        let aws = Arc::new(AwsOnlineStore::from_client(
            aws_sdk_sagemakerfeaturestoreruntime::Client::new(&config),
        ));
        Self { env, server, aws }
    }

    /// PutRecord per row: `OnlineStoreSink` over `AwsOnlineStore`.
    fn put_record_sink(&self) -> Arc<dyn Sink> {
        Arc::new(
            OnlineStoreSink::new(self.aws.clone())
                .with_concurrency(4)
                .with_retry(fast_retries()),
        )
    }

    /// A runtime client with the SDK's own retries off.
    fn client(&self) -> aws_sdk_sagemakerfeaturestoreruntime::Client {
        let config = fs_server::client_config(&self.server.endpoint_url(), 1);
        aws_sdk_sagemakerfeaturestoreruntime::Client::new(&config)
    }

    fn batch_sink(&self, retry: RetryConfig) -> BatchWriteSink {
        BatchWriteSink::new(self.client())
            .with_concurrency(4)
            .with_retry(retry)
    }
}

fn fast_retries() -> RetryConfig {
    RetryConfig::default()
        .max_retries(20)
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
}

#[async_trait]
impl ReadBack for Remote {
    async fn create_group(&self, spec: FeatureGroup) {
        self.aws.register_group(spec.clone());
        self.env.group(spec);
    }
    async fn online(&self, group: &str, id: &str) -> Option<BTreeMap<String, String>> {
        self.env.online(group, id)
    }
    async fn offline(&self, group: &str) -> BTreeMap<String, usize> {
        self.env.offline_counts(group, "customer_id")
    }
}

macro_rules! remote_contract_tests {
    ($($name:ident),* $(,)?) => {
        mod batch_write_sink {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let remote = super::Remote::new().await;
                    let sink = remote.batch_sink(super::fast_retries());
                    fs_ingest::contract::$name(&sink, &remote).await;
                }
            )*
        }
        mod aws_put_record_sink {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let remote = super::Remote::new().await;
                    fs_ingest::contract::$name(&*remote.put_record_sink(), &remote).await;
                }
            )*
        }
    };
}

remote_contract_tests!(
    every_row_is_written_and_acknowledged_in_order,
    an_empty_batch_writes_nothing,
    a_row_the_store_refuses_fails_alone,
    offline_only_writes_leave_the_online_store_alone,
    online_only_writes_nothing_offline,
    the_ttl_is_passed_to_the_store,
    resending_a_batch_keeps_the_latest_event_time_online,
    an_unknown_group_fails_the_batch,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_files_through_batch_write_and_locally_read_back_identical() {
    let local = Env::new();
    let remote = Remote::new().await;
    let group = local.group(customers("same-bw"));
    remote.env.group(customers("same-bw"));
    let csv = local.path("part-1.csv");
    let parquet = local.path("part-2.parquet");
    write_csv(&csv, &customers_batch(0, 130));
    write_parquet(&parquet, &customers_batch(100, 130)); // ids 100..130 again
    let inputs = [csv, parquet];
    let options = || IngestOptions::default().batch_size(60);
    let a = local.ingest(&group, &inputs, options()).await.unwrap();
    let sink = Arc::new(remote.batch_sink(fast_retries()));
    let b = run(&group, sink, &inputs, options()).await.unwrap();
    assert_eq!((a.rows_written, b.rows_written), (260, 260));
    for id in 0..230 {
        let id = id.to_string();
        let l = local.online("same-bw", &id).expect("local record");
        let r = remote.env.online("same-bw", &id).expect("remote record");
        assert_eq!(l, r, "record {id}");
    }
    assert_eq!(
        local.offline_counts("same-bw", "customer_id"),
        remote.env.offline_counts("same-bw", "customer_id")
    );
    // 25 entries per request: each file's batches of 60, 60 and 10 rows take 3, 3 and 1.
    assert_eq!(remote.server.request_count("BatchWriteRecord"), 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_unprocessed_entries_are_retried_and_bad_rows_reported_once() {
    let remote = Remote::new().await;
    let group = remote.env.group(customers("bw-faults"));
    let file = remote.env.path("customers.csv");
    // Every 37th row has an age that is not a number: the server refuses it.
    let mut text = String::from("customer_id,event_time,age,lifetime_value,city\n");
    let mut bad = HashSet::new();
    for id in 0..500u64 {
        let age = if id % 37 == 5 {
            bad.insert(id + 1); // the data row number
            "old".to_owned()
        } else {
            (id % 90).to_string()
        };
        text.push_str(&format!("{id},2024-07-01T00:00:00Z,{age},1.5,Oslo\n"));
    }
    std::fs::write(&file, text).unwrap();
    // The CSV is read as text: keep the bad ages for the server to refuse.
    let group_as_text = {
        let mut g = group.clone();
        for d in &mut g.feature_definitions {
            if d.name == "age" {
                *d = fs_schema::FeatureDefinition::string("age");
            }
        }
        g
    };
    remote.server.set_faults(
        Faults::none()
            .throttle_rate(0.1)
            .error_rate(0.1)
            .entry_throttle_rate(0.1)
            .entry_error_rate(0.1)
            .unprocessed_rate(0.1)
            .seed(7)
            .only(["BatchWriteRecord"]),
    );
    let sink = Arc::new(remote.batch_sink(fast_retries()));
    let report = run(
        &group_as_text,
        sink,
        &[file],
        IngestOptions::default().batch_size(100),
    )
    .await
    .unwrap();
    assert_eq!(report.rows_read, 500);
    assert!(
        report.retries > 0,
        "faults were injected, so entries were retried"
    );
    // Whole-request 5xx and InternalFailure entries may have been written:
    // their retries are counted; throttled and unprocessed entries are not.
    assert!(
        report.rows_retried_unknown_outcome > 0
            && report.rows_retried_unknown_outcome < report.rows_retried,
        "{} of {} retried rows after an unknown outcome",
        report.rows_retried_unknown_outcome,
        report.rows_retried
    );
    // Every good row written, every bad one reported (once) with the server's reason.
    let failed: HashSet<u64> = report.failures.iter().map(|f| f.row).collect();
    assert_eq!(failed, bad);
    for f in &report.failures {
        assert_eq!(f.stage, Stage::Write);
        assert!(
            f.reason.contains("ValidationError") && f.reason.contains("old"),
            "{}",
            f.reason
        );
    }
    assert_eq!(report.rows_written, 500 - bad.len() as u64);
    let offline = remote.env.offline_counts("bw-faults", "customer_id");
    assert_eq!(offline.len() as u64, report.rows_written);
    assert!(
        offline.values().all(|&c| c == 1),
        "a row was written twice: {offline:?}"
    );
    for id in 0..500u64 {
        let online = remote.env.online("bw-faults", &id.to_string()).is_some();
        assert_eq!(online, !bad.contains(&(id + 1)), "customer {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_still_failing_at_the_deadline_are_reported_with_the_reason() {
    let remote = Remote::new().await;
    let group = remote.env.group(customers("bw-deadline"));
    let file = remote.env.path("customers.parquet");
    write_parquet(&file, &customers_batch(0, 30));
    // Every entry throttled, forever: only the deadline ends the retries.
    remote
        .server
        .set_faults(Faults::none().entry_throttle_rate(1.0).seed(1));
    let retry = RetryConfig::default()
        .max_retries(1_000_000)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .deadline(Some(Duration::from_millis(300)));
    let sink = Arc::new(remote.batch_sink(retry));
    let report = run(&group, sink, &[file], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!((report.rows_written, report.rows_failed), (0, 30));
    for f in &report.failures {
        assert!(
            f.reason.contains("retry deadline of 300ms")
                && f.reason.contains("ThrottlingException"),
            "{}",
            f.reason
        );
    }
    assert!(report.retries > 0);
    assert_eq!(
        report.rows_retried_unknown_outcome, 0,
        "throttled entries were not written"
    );
    let requests = remote.server.request_count("BatchWriteRecord");
    assert!(
        requests < 1_000,
        "the deadline, not the retry count, stopped it: {requests} requests"
    );
    assert!(
        remote
            .env
            .offline_counts("bw-deadline", "customer_id")
            .is_empty()
    );
}
