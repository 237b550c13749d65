//! The Rust SDK client (`aws-sdk-sagemakerfeaturestoreruntime` through
//! [`AwsOnlineStore`]) against fs-server on loopback: GetRecord p50/p99 and
//! a 1,000-id batch get (10 BatchGetRecord calls run concurrently), with
//! the ids drawn as `xtask/bench/online_boto3.py` draws them (a get's id
//! with replacement, a batch's 1,000 distinct ids without) and p99 only
//! over at least 1,000 samples (p90 always; see `support/sample.rs`).
//!
//! Run with `cargo bench -p fs-online --bench server --features aws [-- --quick]`;
//! prints one `RESULT name value unit` line per number.
//!
//! Against a server run elsewhere (so that another client, e.g. boto3 in
//! `cargo xtask bench`, can be measured against the same process):
//! `server --populate DIR [--quick]` writes the group `bench` and its
//! records (`id-0` … `id-N-1`, 20 features) into an embedded store at DIR
//! and exits; start fs-server over DIR, then
//! `server --endpoint URL [--quick]` measures against it.

#![allow(missing_docs, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use fs_online::{AwsOnlineStore, OnlineStore};
use fs_schema::runtime::BatchGetRequest;
use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record, TargetStore};

#[path = "support/sample.rs"]
mod sample;
use sample::{Ids, report};

/// The benchmark's group: `id`, `ts` and 18 fractional features.
fn bench_group() -> FeatureGroup {
    let mut defs = vec![
        FeatureDefinition::string("id"),
        FeatureDefinition::string("ts"),
    ];
    defs.extend((0..18).map(|i| FeatureDefinition::fractional(format!("f{i}"))));
    FeatureGroup::builder("bench", "id", "ts")
        .features(defs)
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap()
}

/// Writes the group and `records` records into `store`.
fn populate(store: &fs_local::Store, records: usize) {
    store.create_feature_group(bench_group()).unwrap();
    let all: Vec<Record> = (0..records)
        .map(|i| {
            let mut r = Record::new()
                .with("id", format!("id-{i}"))
                .with("ts", "2024-06-01T00:00:00Z");
            for f in 0..18 {
                r.push(format!("f{f}"), format!("{}", i as f64 * 0.25 + f as f64));
            }
            r
        })
        .collect();
    for chunk in all.chunks(10_000) {
        store
            .put_records("bench", chunk, Some(&[TargetStore::OnlineStore]), None)
            .unwrap();
    }
}

/// GetRecord and 1,000-id batch gets through the SDK client at `endpoint`.
async fn measure(endpoint: &str, records: usize, gets: usize, batches: usize) {
    // Retries off: every sample is one request.
    let config = fs_server::client_config(endpoint, 1);
    let online =
        AwsOnlineStore::from_client(aws_sdk_sagemakerfeaturestoreruntime::Client::new(&config))
            .with_group(bench_group());
    let mut ids = Ids::new(88172645463325252, records);
    let mut next = || format!("id-{}", ids.pick());
    for _ in 0..200 {
        online.get_record("bench", &next(), None).await.unwrap();
    }
    let mut samples = Vec::with_capacity(gets);
    for _ in 0..gets {
        let id = next();
        let t = Instant::now();
        let r = online.get_record("bench", &id, None).await.unwrap();
        samples.push(t.elapsed());
        assert!(r.is_some());
    }
    report("sdk_get_record_20_features", samples);
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches {
        let ids: Vec<String> = ids
            .distinct(1_000)
            .iter()
            .map(|i| format!("id-{i}"))
            .collect();
        let req = [BatchGetRequest {
            group: "bench".into(),
            record_ids: ids,
            features: None,
        }];
        let t = Instant::now();
        let r = online.batch_get_records(&req).await.unwrap();
        samples.push(t.elapsed());
        assert_eq!(r.records.len(), 1_000);
    }
    report("sdk_batch_get_1000", samples);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args.get(i + 1).expect("a value after the flag").clone())
    };
    // The full run's batches: a p99 needs 1,000 samples.
    let (records, gets, batches) = if quick {
        (2_000, 2_000, 30)
    } else {
        (20_000, 20_000, 1_000)
    };
    if let Some(dir) = value("--populate") {
        let store = fs_local::Store::open(&dir).unwrap();
        populate(&store, records);
        store.close().unwrap();
        println!("RESULT populated {records} records");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(endpoint) = value("--endpoint") {
        rt.block_on(measure(&endpoint, records, gets, batches));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(fs_local::Store::open(dir.path()).unwrap());
    populate(&store, records);
    rt.block_on(async {
        let server = fs_server::Server::start(store.clone(), fs_server::ServerOptions::default())
            .await
            .unwrap();
        measure(&server.endpoint_url(), records, gets, batches).await;
        server.shutdown().await;
    });
}
