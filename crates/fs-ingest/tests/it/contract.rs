//! The `Sink` contract: one plain async function per behaviour, taking
//! any sink through a [`Fixture`]. Every sink runs the same list (see
//! `sinks.rs`); the AWS sink will run it against fs-server.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use async_trait::async_trait;
use fs_ingest::{Provenance, RowStatus, Sink, WriteOptions};
use fs_schema::{FeatureGroup, TargetStore, TtlDuration, TtlUnit};

use crate::support::{customers, customers_batch};

/// What the contract needs from a sink under test: the sink, a way to
/// create groups, and ways to read back what reached each store.
#[async_trait]
pub(crate) trait Fixture: Send + Sync {
    /// The sink under test.
    fn sink(&self) -> Arc<dyn Sink>;
    /// Creates a feature group, ready for use when this returns.
    async fn create_group(&self, spec: FeatureGroup);
    /// The online record of `id` as (feature, text) pairs, if any.
    async fn online(&self, group: &str, id: &str) -> Option<BTreeMap<String, String>>;
    /// Offline rows per record id, once everything written is flushed.
    async fn offline(&self, group: &str) -> BTreeMap<String, usize>;
}

fn provenance(rows: std::ops::Range<u64>) -> Provenance {
    Provenance {
        file: std::path::Path::new("contract.csv").into(),
        rows: rows.collect(),
    }
}

async fn write_all(
    f: &dyn Fixture,
    group: &FeatureGroup,
    batch: RecordBatch,
    options: &WriteOptions,
) -> Vec<RowStatus> {
    let n = batch.num_rows() as u64;
    let sink = f.sink();
    let outcomes = sink
        .write(group, batch, &provenance(1..n + 1), options)
        .await
        .unwrap();
    sink.flush().await.unwrap();
    assert_eq!(outcomes.len() as u64, n, "one outcome per row");
    outcomes.into_iter().map(|o| o.status).collect()
}

pub(crate) async fn every_row_is_written_and_acknowledged_in_order(f: &dyn Fixture) {
    let group = customers("k-every-row");
    f.create_group(group.clone()).await;
    let statuses = write_all(f, &group, customers_batch(1, 40), &WriteOptions::default()).await;
    assert!(
        statuses.iter().all(|s| *s == RowStatus::Written),
        "{statuses:?}"
    );
    let got = f.online("k-every-row", "7").await.expect("written online");
    assert_eq!(got["age"], "25");
    assert_eq!(got["lifetime_value"], "10.5");
    assert_eq!(got["city"], "city-0");
    let offline = f.offline("k-every-row").await;
    assert_eq!(offline.len(), 40);
    assert!(offline.values().all(|&c| c == 1), "{offline:?}");
}

pub(crate) async fn an_empty_batch_writes_nothing(f: &dyn Fixture) {
    let group = customers("k-empty");
    f.create_group(group.clone()).await;
    let statuses = write_all(f, &group, customers_batch(1, 0), &WriteOptions::default()).await;
    assert!(statuses.is_empty());
    assert!(f.offline("k-empty").await.is_empty());
}

pub(crate) async fn a_row_the_store_refuses_fails_alone(f: &dyn Fixture) {
    let group = customers("k-refused");
    f.create_group(group.clone()).await;
    // Row 1 has no event time: the store refuses it, the others are written.
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("event_time", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
            Arc::new(StringArray::from(vec![
                Some("2024-01-01T00:00:00Z"),
                None,
                Some("2024-01-01T00:00:00Z"),
            ])),
        ],
    )
    .unwrap();
    let statuses = write_all(f, &group, batch, &WriteOptions::default()).await;
    assert_eq!(statuses[0], RowStatus::Written);
    assert!(
        matches!(&statuses[1], RowStatus::Failed { reason } if reason.contains("event time")),
        "{statuses:?}"
    );
    assert_eq!(statuses[2], RowStatus::Written);
    assert!(f.online("k-refused", "1").await.is_some());
    assert!(f.online("k-refused", "2").await.is_none());
    assert!(f.online("k-refused", "3").await.is_some());
    assert_eq!(f.offline("k-refused").await.len(), 2);
}

pub(crate) async fn offline_only_writes_leave_the_online_store_alone(f: &dyn Fixture) {
    let group = customers("k-offline-only");
    f.create_group(group.clone()).await;
    let options = WriteOptions::default().target_stores([TargetStore::OfflineStore]);
    let statuses = write_all(f, &group, customers_batch(1, 5), &options).await;
    assert!(statuses.iter().all(|s| *s == RowStatus::Written));
    assert!(f.online("k-offline-only", "1").await.is_none());
    assert_eq!(f.offline("k-offline-only").await.len(), 5);
}

pub(crate) async fn online_only_writes_nothing_offline(f: &dyn Fixture) {
    let group = customers("k-online-only");
    f.create_group(group.clone()).await;
    let options = WriteOptions::default().target_stores([TargetStore::OnlineStore]);
    write_all(f, &group, customers_batch(1, 5), &options).await;
    assert!(f.online("k-online-only", "3").await.is_some());
    assert!(f.offline("k-online-only").await.is_empty());
}

pub(crate) async fn the_ttl_is_passed_to_the_store(f: &dyn Fixture) {
    let group = customers("k-ttl");
    f.create_group(group.clone()).await;
    // Event times in 2024 with a one-day TTL: expired long ago, so not
    // returned online; offline keeps them.
    let options = WriteOptions::default().ttl(TtlDuration::new(TtlUnit::Days, 1));
    write_all(f, &group, customers_batch(1, 3), &options).await;
    assert!(f.online("k-ttl", "1").await.is_none());
    assert_eq!(f.offline("k-ttl").await.len(), 3);
    // A TTL long enough keeps them.
    let options = WriteOptions::default().ttl(TtlDuration::new(TtlUnit::Weeks, 5200));
    write_all(f, &group, customers_batch(1, 3), &options).await;
    assert!(f.online("k-ttl", "1").await.is_some());
}

pub(crate) async fn resending_a_batch_keeps_the_latest_event_time_online(f: &dyn Fixture) {
    let group = customers("k-resend");
    f.create_group(group.clone()).await;
    let newer = customers_batch(1, 3);
    let mut older = customers_batch(1, 3);
    // The same ids a year earlier, with other values.
    let ts: StringArray = (0..3).map(|_| Some("2023-01-01T00:00:00Z")).collect();
    let mut cols = older.columns().to_vec();
    cols[1] = Arc::new(ts);
    cols[2] = Arc::new(Int64Array::from(vec![99, 99, 99]));
    older = RecordBatch::try_new(older.schema(), cols).unwrap();
    for batch in [newer.clone(), older, newer] {
        write_all(f, &group, batch, &WriteOptions::default()).await;
    }
    assert_eq!(f.online("k-resend", "1").await.unwrap()["age"], "19");
    // Offline is append-only: every put is there.
    assert!(f.offline("k-resend").await.values().all(|&c| c == 3));
}

pub(crate) async fn an_unknown_group_fails_the_batch(f: &dyn Fixture) {
    let group = customers("k-never-created");
    let result = f
        .sink()
        .write(
            &group,
            customers_batch(1, 2),
            &provenance(1..3),
            &WriteOptions::default(),
        )
        .await;
    let err = result.expect_err("no such group");
    assert!(matches!(err, fs_ingest::Error::Sink { .. }), "{err}");
    assert!(err.to_string().contains("contract.csv"), "{err}");
}
