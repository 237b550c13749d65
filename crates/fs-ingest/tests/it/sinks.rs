//! The sink contract (`fs_ingest::contract`) against `LocalSink` and
//! against `OnlineStoreSink` over `LocalOnlineStore`; retries of
//! `OnlineStoreSink`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fs_ingest::{IngestOptions, LocalSink, OnlineStoreSink, RetryConfig, Sink, Stage};
use fs_online::{DeleteOptions, LocalOnlineStore, OnlineStore, PutOptions};
use fs_schema::runtime::{BatchGetRequest, BatchGetResult, OnlineRecord, RecordIdPage};
use fs_schema::{FeatureGroup, Record};

use crate::support::{Env, customers, customers_batch, run, write_csv};
use fs_ingest::contract::ReadBack;

/// The embedded store behind a sink under test.
struct Local(Env);

#[async_trait]
impl ReadBack for Local {
    async fn create_group(&self, spec: FeatureGroup) {
        self.0.group(spec);
    }
    async fn online(&self, group: &str, id: &str) -> Option<BTreeMap<String, String>> {
        self.0.online(group, id)
    }
    async fn offline(&self, group: &str) -> BTreeMap<String, usize> {
        // SageMaker writes its offline store itself; locally, flush it.
        self.0.offline_counts(group, "customer_id")
    }
}

/// `LocalSink` over the store.
fn local_sink(env: &Local) -> Arc<dyn Sink> {
    Arc::new(LocalSink::new(env.0.store.clone()))
}

/// `OnlineStoreSink` over `LocalOnlineStore` over the store.
fn online_store_sink(env: &Local) -> Arc<dyn Sink> {
    let store: Arc<dyn OnlineStore> = Arc::new(LocalOnlineStore::new(env.0.store.clone()));
    Arc::new(OnlineStoreSink::new(store).with_concurrency(4))
}

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod local_sink {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::Local(crate::support::Env::new());
                    fs_ingest::contract::$name(&*super::local_sink(&store), &store).await;
                }
            )*
        }
        mod online_store_sink {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::Local(crate::support::Env::new());
                    fs_ingest::contract::$name(&*super::online_store_sink(&store), &store).await;
                }
            )*
        }
    };
}

contract_tests!(
    every_row_is_written_and_acknowledged_in_order,
    an_empty_batch_writes_nothing,
    a_row_the_store_refuses_fails_alone,
    offline_only_writes_leave_the_online_store_alone,
    online_only_writes_nothing_offline,
    the_ttl_is_passed_to_the_store,
    resending_a_batch_keeps_the_latest_event_time_online,
    an_unknown_group_fails_the_batch,
);

/// `all` runs every check against one store.
#[tokio::test]
async fn the_whole_contract_runs_against_one_store() {
    let store = Local(Env::new());
    fs_ingest::contract::all(&*local_sink(&store), &store).await;
}

/// An online store that throttles the first `failures` puts of each record
/// (or every put, with `usize::MAX`).
#[derive(Debug)]
struct Throttling {
    inner: LocalOnlineStore,
    failures: usize,
    attempts: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[async_trait]
impl OnlineStore for Throttling {
    async fn feature_group(&self, group: &str) -> fs_online::Result<Arc<FeatureGroup>> {
        self.inner.feature_group(group).await
    }
    async fn get_record(
        &self,
        group: &str,
        record_id: &str,
        features: Option<&[String]>,
    ) -> fs_online::Result<Option<OnlineRecord>> {
        self.inner.get_record(group, record_id, features).await
    }
    async fn batch_get_records(
        &self,
        requests: &[BatchGetRequest],
    ) -> fs_online::Result<BatchGetResult> {
        self.inner.batch_get_records(requests).await
    }
    async fn put_record(
        &self,
        group: &str,
        record: &Record,
        options: &PutOptions,
    ) -> fs_online::Result<()> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let id = record.get_str("customer_id").unwrap_or_default().to_owned();
        let attempt = {
            let mut a = self.attempts.lock().unwrap();
            let n = a.entry(id).or_default();
            *n += 1;
            *n
        };
        tokio::time::sleep(Duration::from_millis(2)).await;
        let result = if attempt <= self.failures {
            Err(fs_online::Error::Throttled {
                message: "Rate exceeded".into(),
            })
        } else {
            self.inner.put_record(group, record, options).await
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
    async fn delete_record(
        &self,
        group: &str,
        record_id: &str,
        event_time: &str,
        options: &DeleteOptions,
    ) -> fs_online::Result<()> {
        self.inner
            .delete_record(group, record_id, event_time, options)
            .await
    }
    async fn list_records(
        &self,
        group: &str,
        include_soft_deleted: bool,
        max_results: usize,
        next_token: Option<&str>,
    ) -> fs_online::Result<RecordIdPage> {
        self.inner
            .list_records(group, include_soft_deleted, max_results, next_token)
            .await
    }
}

fn throttling(env: &Env, failures: usize) -> Arc<Throttling> {
    Arc::new(Throttling {
        inner: LocalOnlineStore::new(env.store.clone()),
        failures,
        attempts: Mutex::new(HashMap::new()),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    })
}

fn fast_retries(n: u32) -> RetryConfig {
    RetryConfig::default()
        .max_retries(n)
        .backoff(Duration::from_millis(1), Duration::from_millis(4))
}

#[tokio::test]
async fn throttled_puts_are_retried_counted_and_bounded_in_concurrency() {
    let env = Env::new();
    let group = env.group(customers("retried"));
    let input = env.path("in.csv");
    write_csv(&input, &customers_batch(1, 30));
    let store = throttling(&env, 2);
    let sink = OnlineStoreSink::new(store.clone())
        .with_concurrency(3)
        .with_retry(fast_retries(5));
    let report = run(&group, Arc::new(sink), &[input], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(report.rows_written, 30);
    assert_eq!(report.rows_retried, 30);
    assert_eq!(report.retries, 60);
    assert_eq!(store.max_in_flight.load(Ordering::SeqCst), 3);
    assert!(env.online("retried", "30").is_some());
}

#[tokio::test]
async fn puts_that_stay_throttled_fail_their_rows_with_the_reason() {
    let env = Env::new();
    let group = env.group(customers("gave-up"));
    let input = env.path("in.csv");
    write_csv(&input, &customers_batch(1, 4));
    let sink = OnlineStoreSink::new(throttling(&env, usize::MAX)).with_retry(fast_retries(2));
    let report = run(&group, Arc::new(sink), &[input], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!((report.rows_written, report.rows_failed), (0, 4));
    let f = &report.failures[0];
    assert_eq!((f.row, f.stage), (1, Stage::Write));
    assert!(f.reason.contains("gave up after 2 retries"), "{}", f.reason);
    assert!(f.reason.contains("Rate exceeded"), "{}", f.reason);
    // The original values travel with the failure, to be ingested again.
    assert_eq!(f.values.get_str("customer_id"), Some("1"));
    assert_eq!(f.values.get_str("city"), Some("city-1"));
}
