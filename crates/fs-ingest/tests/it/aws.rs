//! The AWS path: the same files ingested through `OnlineStoreSink` over
//! `AwsOnlineStore` (the real runtime SDK client) into fs-server, and into
//! the embedded store directly, read back identical; and under injected
//! throttling and 5xx, every row written or reported, none written twice.

use std::sync::Arc;

use fs_ingest::{IngestOptions, OnlineStoreSink, RetryConfig};
use fs_online::AwsOnlineStore;
use fs_server::{Faults, Server, ServerOptions};

use crate::support::{Env, customers, customers_batch, run, write_csv, write_parquet};

/// fs-server over its own embedded store, and an AWS sink pointed at it.
struct Remote {
    env: Env,
    server: Server,
}

impl Remote {
    async fn new() -> Self {
        let env = Env::new();
        let options = ServerOptions::default().fault_injection(true);
        let server = Server::start(env.store.clone(), options).await.unwrap();
        Self { env, server }
    }

    fn sink(&self, group: &fs_schema::FeatureGroup, sdk_attempts: u32) -> OnlineStoreSink {
        let config = fs_server::client_config(&self.server.endpoint_url(), sdk_attempts);
        let store =
            AwsOnlineStore::from_client(aws_sdk_sagemakerfeaturestoreruntime::Client::new(&config))
                .with_group(group.clone());
        OnlineStoreSink::new(Arc::new(store)).with_concurrency(8)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_files_ingested_locally_and_through_the_aws_path_read_back_identical() {
    let local = Env::new();
    let remote = Remote::new().await;
    let group = local.group(customers("same"));
    remote.env.group(customers("same"));
    let csv = local.path("part-1.csv");
    let parquet = local.path("part-2.parquet");
    write_csv(&csv, &customers_batch(0, 150));
    write_parquet(&parquet, &customers_batch(100, 150)); // ids 100..150 again, same values
    let inputs = [csv, parquet];

    let a = local
        .ingest(&group, &inputs, IngestOptions::default())
        .await
        .unwrap();
    let b = run(
        &group,
        Arc::new(remote.sink(&group, 3)),
        &inputs,
        IngestOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!((a.rows_read, a.rows_written, a.rows_failed), (300, 300, 0));
    assert_eq!((b.rows_read, b.rows_written, b.rows_failed), (300, 300, 0));
    for id in 0..250 {
        let id = id.to_string();
        let l = local.online("same", &id).expect("local record");
        let r = remote.env.online("same", &id).expect("remote record");
        assert_eq!(l, r, "record {id}");
    }
    assert_eq!(
        local.offline_counts("same", "customer_id"),
        remote.env.offline_counts("same", "customer_id")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_20_percent_throttling_and_5xx_every_row_is_written_or_reported_once() {
    let remote = Remote::new().await;
    let group = remote.env.group(customers("faults"));
    let file = remote.env.path("customers.parquet");
    write_parquet(&file, &customers_batch(0, 400));
    remote.server.set_faults(
        Faults::none()
            .throttle_rate(0.1)
            .error_rate(0.1)
            .seed(11)
            .only(["PutRecord"]),
    );
    // SDK retries off: the sink's own retry policy does the work and counts it.
    let sink = Arc::new(remote.sink(&group, 1).with_retry(
        RetryConfig::default().max_retries(8).backoff(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(10),
        ),
    ));
    let report = run(&group, sink, &[file], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(report.rows_read, 400);
    assert!(
        report.retries > 0,
        "faults were injected, so some puts were retried"
    );
    assert!(remote.server.request_count("PutRecord") > 400);
    // 5xx answers leave the outcome unknown: those retries are counted
    // (possible offline duplicates); throttled ones are not.
    assert!(
        report.rows_retried_unknown_outcome > 0
            && report.rows_retried_unknown_outcome < report.rows_retried,
        "{} of {} retried rows after an unknown outcome",
        report.rows_retried_unknown_outcome,
        report.rows_retried
    );
    // Written rows are online and offline exactly once; reported ones nowhere.
    let offline = remote.env.offline_counts("faults", "customer_id");
    assert_eq!(offline.len() as u64, report.rows_written);
    assert!(
        offline.values().all(|&c| c == 1),
        "a row was written twice: {offline:?}"
    );
    let failed: std::collections::HashSet<u64> = report.failures.iter().map(|f| f.row).collect();
    for id in 0..400u64 {
        let online = remote.env.online("faults", &id.to_string()).is_some();
        assert_eq!(online, !failed.contains(&(id + 1)), "customer {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_retries_are_not_counted_as_unknown_outcomes() {
    let remote = Remote::new().await;
    let group = remote.env.group(customers("throttled"));
    let file = remote.env.path("customers.parquet");
    write_parquet(&file, &customers_batch(0, 200));
    remote.server.set_faults(
        Faults::none()
            .throttle_rate(0.3)
            .seed(5)
            .only(["PutRecord"]),
    );
    let sink = Arc::new(remote.sink(&group, 1).with_retry(
        RetryConfig::default().max_retries(20).backoff(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(5),
        ),
    ));
    let report = run(&group, sink, &[file], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(report.rows_written, 200);
    assert!(report.rows_retried > 0, "throttling was injected");
    assert_eq!(
        report.rows_retried_unknown_outcome, 0,
        "a throttled put was not applied"
    );
}
