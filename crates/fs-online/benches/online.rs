//! Online store benchmarks on the embedded store, in process.
//!
//! Measures latency percentiles (which criterion does not report), so it
//! has its own small harness: each measurement runs a warm-up, then times
//! every call and reports p50, p90 and (over at least 1,000 samples) p99.
//!
//! - `get`: one 100-feature record by id, drawn uniformly with replacement
//!   (record form, and typed Arrow).
//! - `batch_get_1000`: 1,000 distinct ids of the same group in one call,
//!   drawn uniformly without replacement (as the server bench and its boto3
//!   anchor draw them).
//! - `put_batch`: rows/s of 10-feature records written with
//!   `Store::put_records` in batches of 10,000 (one durable transaction each),
//!   to both stores; `flush`: rows/s of the outbox turned into Parquet.
//! - `put_single`: latency of one durable PutRecord.
//!
//! Run with `cargo bench -p fs-online --bench online [-- --quick]
//! [--reads-only]` (the latter skips the write measurements); prints one
//! `RESULT name value unit` line per number for `cargo xtask bench`.

#![allow(missing_docs, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use fs_online::{LocalOnlineStore, OnlineStore, OnlineStoreExt};
use fs_schema::runtime::BatchGetRequest;
use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record};

#[path = "support/sample.rs"]
mod sample;
use sample::{Ids, report};

fn group(name: &str, features: usize) -> FeatureGroup {
    let mut defs = vec![
        FeatureDefinition::string("id"),
        FeatureDefinition::string("ts"),
    ];
    for i in 0..features - 2 {
        defs.push(match i % 3 {
            0 => FeatureDefinition::integral(format!("i{i}")),
            1 => FeatureDefinition::fractional(format!("f{i}")),
            _ => FeatureDefinition::string(format!("s{i}")),
        });
    }
    FeatureGroup::builder(name, "id", "ts")
        .features(defs)
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://bench/offline")
        .build()
        .unwrap()
}

fn record(g: &FeatureGroup, id: usize) -> Record {
    let mut r = Record::new()
        .with("id", format!("id-{id:08}"))
        .with("ts", "2024-06-01T12:00:00.000Z");
    for d in &g.feature_definitions[2..] {
        let v = match d.feature_type {
            fs_schema::FeatureType::Integral => (id as i64 * 31).to_string(),
            fs_schema::FeatureType::Fractional => format!("{}", id as f64 * 0.5),
            fs_schema::FeatureType::String => format!("value-{id}"),
        };
        r.push(d.name.clone(), v);
    }
    r
}

/// How much each measurement does: records read from, single gets timed,
/// batch gets timed, rows written.
struct Sizes {
    records: usize,
    get_samples: usize,
    batch_samples: usize,
    put_rows: usize,
}

impl Sizes {
    /// Small sizes with `--quick`, else enough for a p99 of batch gets.
    fn new(quick: bool) -> Self {
        let (records, get_samples, batch_samples, put_rows) = if quick {
            (5_000, 20_000, 50, 100_000)
        } else {
            // 1,000 batches: a p99 needs 1,000 samples.
            (100_000, 200_000, 1_000, 1_000_000)
        };
        Self {
            records,
            get_samples,
            batch_samples,
            put_rows,
        }
    }
}

/// The record identifier of index `i`.
fn id_of(i: usize) -> String {
    format!("id-{i:08}")
}

/// Creates the 100-feature `wide` group and writes `records` records to
/// its online store, 10,000 per call.
fn load_wide(store: &fs_local::Store, records: usize) {
    let wide = group("wide", 100);
    store.create_feature_group(wide.clone()).unwrap();
    let all: Vec<Record> = (0..records).map(|i| record(&wide, i)).collect();
    for chunk in all.chunks(10_000) {
        store
            .put_records(
                "wide",
                chunk,
                Some(&[fs_schema::TargetStore::OnlineStore]),
                None,
            )
            .unwrap();
    }
}

/// Single gets of `wide`: a warm-up of 1,000, then `samples` timed as
/// records and a quarter as many timed as Arrow.
async fn measure_gets(online: &LocalOnlineStore, ids: &mut Ids, samples_wanted: usize) {
    for _ in 0..1_000 {
        online
            .get_record("wide", &id_of(ids.pick()), None)
            .await
            .unwrap()
            .unwrap();
    }
    let mut samples = Vec::with_capacity(samples_wanted);
    for _ in 0..samples_wanted {
        let id = id_of(ids.pick());
        let t = Instant::now();
        let r = online.get_record("wide", &id, None).await.unwrap();
        samples.push(t.elapsed());
        assert!(r.is_some());
    }
    report("get_100_features_record", samples);

    let mut samples = Vec::with_capacity(samples_wanted / 4);
    for _ in 0..samples_wanted / 4 {
        let id = id_of(ids.pick());
        let t = Instant::now();
        let b = online.get("wide", &id, None).await.unwrap();
        samples.push(t.elapsed());
        assert!(b.is_some());
    }
    report("get_100_features_arrow", samples);
}

/// Batch gets of 1,000 distinct ids of `wide`, `samples_wanted` timed as
/// records, then as many as Arrow.
async fn measure_batch_gets(online: &LocalOnlineStore, ids: &mut Ids, samples_wanted: usize) {
    let mut samples = Vec::with_capacity(samples_wanted);
    for _ in 0..samples_wanted {
        let batch: Vec<String> = ids.distinct(1_000).into_iter().map(id_of).collect();
        let req = [BatchGetRequest {
            group: "wide".into(),
            record_ids: batch,
            features: None,
        }];
        let t = Instant::now();
        let r = online.batch_get_records(&req).await.unwrap();
        samples.push(t.elapsed());
        assert_eq!(r.records.len(), 1_000);
    }
    report("batch_get_1000_record", samples);

    let mut samples = Vec::with_capacity(samples_wanted);
    for _ in 0..samples_wanted {
        let batch: Vec<String> = ids.distinct(1_000).into_iter().map(id_of).collect();
        let t = Instant::now();
        let r = online.batch_get("wide", &batch, None).await.unwrap();
        samples.push(t.elapsed());
        assert_eq!(r.batch.num_rows(), 1_000);
    }
    report("batch_get_1000_arrow", samples);
}

/// Writes: `put_rows` 10-feature records to both stores, 10,000 per
/// transaction, then their flush to Parquet, then 200 single durable puts.
fn measure_writes(store: &fs_local::Store, put_rows: usize) {
    let narrow = group("narrow", 10);
    store.create_feature_group(narrow.clone()).unwrap();
    let rows: Vec<Record> = (0..put_rows).map(|i| record(&narrow, i)).collect();
    let t = Instant::now();
    for chunk in rows.chunks(10_000) {
        store.put_records("narrow", chunk, None, None).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "RESULT put_batch_10_features {:.0} rows/s",
        put_rows as f64 / secs
    );
    let t = Instant::now();
    store.flush().unwrap();
    println!(
        "RESULT flush_10_features {:.0} rows/s",
        put_rows as f64 / t.elapsed().as_secs_f64()
    );

    let mut samples = Vec::with_capacity(200);
    for i in 0..200 {
        let r = record(&narrow, put_rows + i);
        let t = Instant::now();
        store.put_record("narrow", &r, None, None).unwrap();
        samples.push(t.elapsed());
    }
    report("put_single_durable", samples);
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reads_only = std::env::args().any(|a| a == "--reads-only");
    let sizes = Sizes::new(quick);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A threshold above the rows written, so that the flush is measured on its own.
    let store = Arc::new(
        fs_local::Store::open_with(
            dir.path(),
            fs_local::StoreOptions::default().flush_threshold_rows(u64::MAX),
        )
        .unwrap(),
    );

    // Reads: a 100-feature group with `records` records.
    load_wide(&store, sizes.records);
    let online = LocalOnlineStore::new(store.clone());
    let mut ids = Ids::new(0x2545_f491_4f6c_dd1d, sizes.records);
    rt.block_on(async {
        measure_gets(&online, &mut ids, sizes.get_samples).await;
        measure_batch_gets(&online, &mut ids, sizes.batch_samples).await;
    });

    if reads_only {
        return;
    }

    // Writes: 10-feature records, both stores, 10,000 per transaction.
    measure_writes(&store, sizes.put_rows);
}
