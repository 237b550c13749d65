//! The [`Sink`] contract as a library (feature `test-util`): one plain
//! async function per behaviour every sink must have, in the manner of
//! `object_store`'s `integration` module.
//!
//! Why a library module and not a test file: a sink written outside this
//! crate (another store, a wrapper adding throttling or metrics) can be
//! held to the same bar as the sinks here by calling the same functions,
//! and each backend here (`LocalSink` over the embedded store,
//! `OnlineStoreSink` over the AWS online store, `BatchWriteSink`, the
//! last two through fs-server) runs the one list instead of a copy of it.
//!
//! Each function takes the sink under test and a [`ReadBack`]: a way to
//! create feature groups in the store behind the sink and to read back
//! what reached its online and offline stores. It creates its own group
//! (named `k-...`, so one store can run every check), writes through the
//! sink, and panics with a message when the sink breaks the contract.
//! [`all`] runs every check in turn.
//!
//! ```no_run
//! # async fn example(sink: &dyn fs_ingest::Sink, store: &dyn fs_ingest::contract::ReadBack) {
//! use fs_ingest::contract;
//! contract::every_row_is_written_and_acknowledged_in_order(sink, store).await;
//! contract::a_row_the_store_refuses_fails_alone(sink, store).await;
//! // ... or every check:
//! contract::all(sink, store).await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use async_trait::async_trait;
use fs_schema::{
    FeatureDefinition, FeatureGroup, OnlineStoreConfig, TargetStore, TtlDuration, TtlUnit,
};

use crate::sink::{RowStatus, Sink, WriteOptions};
use crate::source::Provenance;

/// The file name the contract's batches say they come from; an error for a
/// whole batch must name it.
pub const CONTRACT_FILE: &str = "contract.csv";

/// What the contract needs from the store behind a sink under test.
#[async_trait]
pub trait ReadBack: Send + Sync {
    /// Creates a feature group, ready for writes through the sink when this
    /// returns.
    async fn create_group(&self, spec: FeatureGroup);
    /// The online record of `id` as (feature, text) pairs, if there is one
    /// (and it has not expired).
    async fn online(&self, group: &str, id: &str) -> Option<BTreeMap<String, String>>;
    /// The number of offline rows per record identifier, once everything
    /// written is visible offline (for the embedded store: after a flush).
    async fn offline(&self, group: &str) -> BTreeMap<String, usize>;
}

/// The contract's feature group: `customer_id` (Integral, the record
/// identifier), `event_time` (String), `age` (Integral), `lifetime_value`
/// (Fractional) and `city` (String), with both stores.
pub fn customers(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name, "customer_id", "event_time")
        .features([
            FeatureDefinition::integral("customer_id"),
            FeatureDefinition::string("event_time"),
            FeatureDefinition::integral("age"),
            FeatureDefinition::fractional("lifetime_value"),
            FeatureDefinition::string("city"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://bucket/ingest-tests")
        .build()
        .expect("a valid group")
}

/// `n` customers with identifiers `first..first + n`, typed as
/// [`customers`]: customer `i` is `18 + i % 60` years old, worth
/// `i * 1.5`, lives in `city-{i % 7}`, at an event time in June 2024.
pub fn customers_batch(first: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (first..first + n as i64).collect();
    RecordBatch::try_from_iter([
        (
            "customer_id",
            Arc::new(Int64Array::from(ids.clone())) as ArrayRef,
        ),
        (
            "event_time",
            Arc::new(StringArray::from_iter_values(ids.iter().map(|i| {
                format!(
                    "2024-06-{:02}T{:02}:00:00Z",
                    1 + i.rem_euclid(28),
                    i.rem_euclid(24)
                )
            }))),
        ),
        (
            "age",
            Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|i| 18 + i % 60),
            )),
        ),
        (
            "lifetime_value",
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| *i as f64 * 1.5),
            )),
        ),
        (
            "city",
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("city-{}", i % 7)),
            )),
        ),
    ])
    .expect("columns of one length")
}

fn provenance(rows: std::ops::Range<u64>) -> Provenance {
    Provenance {
        file: Path::new(CONTRACT_FILE).into(),
        rows: rows.collect(),
    }
}

/// Writes `batch` as rows `1..=n`, flushes, and checks there is one
/// outcome per row.
async fn write_all(
    sink: &dyn Sink,
    group: &FeatureGroup,
    batch: RecordBatch,
    options: &WriteOptions,
) -> Vec<RowStatus> {
    let n = batch.num_rows() as u64;
    let outcomes = sink
        .write(group, batch, &provenance(1..n + 1), options)
        .await
        .unwrap_or_else(|e| panic!("the sink failed a valid batch: {e}"));
    sink.flush()
        .await
        .unwrap_or_else(|e| panic!("the sink failed to flush: {e}"));
    assert_eq!(outcomes.len() as u64, n, "one outcome per row");
    outcomes.into_iter().map(|o| o.status).collect()
}

/// Every check below, in turn.
pub async fn all(sink: &dyn Sink, store: &dyn ReadBack) {
    every_row_is_written_and_acknowledged_in_order(sink, store).await;
    an_empty_batch_writes_nothing(sink, store).await;
    a_row_the_store_refuses_fails_alone(sink, store).await;
    offline_only_writes_leave_the_online_store_alone(sink, store).await;
    online_only_writes_nothing_offline(sink, store).await;
    the_ttl_is_passed_to_the_store(sink, store).await;
    resending_a_batch_keeps_the_latest_event_time_online(sink, store).await;
    an_unknown_group_fails_the_batch(sink, store).await;
}

/// A batch of 40 rows: 40 `Written` outcomes, each row online with its
/// values and offline once.
pub async fn every_row_is_written_and_acknowledged_in_order(sink: &dyn Sink, store: &dyn ReadBack) {
    let group = customers("k-every-row");
    store.create_group(group.clone()).await;
    let statuses = write_all(
        sink,
        &group,
        customers_batch(1, 40),
        &WriteOptions::default(),
    )
    .await;
    assert!(
        statuses.iter().all(|s| *s == RowStatus::Written),
        "{statuses:?}"
    );
    let got = store
        .online("k-every-row", "7")
        .await
        .expect("written online");
    assert_eq!(got["age"], "25");
    assert_eq!(got["lifetime_value"], "10.5");
    assert_eq!(got["city"], "city-0");
    let offline = store.offline("k-every-row").await;
    assert_eq!(offline.len(), 40);
    assert!(offline.values().all(|&c| c == 1), "{offline:?}");
}

/// A batch of no rows: no outcomes, nothing written.
pub async fn an_empty_batch_writes_nothing(sink: &dyn Sink, store: &dyn ReadBack) {
    let group = customers("k-empty");
    store.create_group(group.clone()).await;
    let statuses = write_all(
        sink,
        &group,
        customers_batch(1, 0),
        &WriteOptions::default(),
    )
    .await;
    assert!(statuses.is_empty());
    assert!(store.offline("k-empty").await.is_empty());
}

/// A row the store refuses (no event time) fails alone, with a reason
/// naming the event time; the rows around it are written.
pub async fn a_row_the_store_refuses_fails_alone(sink: &dyn Sink, store: &dyn ReadBack) {
    let group = customers("k-refused");
    store.create_group(group.clone()).await;
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
    .expect("columns of one length");
    let statuses = write_all(sink, &group, batch, &WriteOptions::default()).await;
    assert_eq!(statuses[0], RowStatus::Written);
    assert!(
        matches!(&statuses[1], RowStatus::Failed { reason } if reason.contains("event time")),
        "{statuses:?}"
    );
    assert_eq!(statuses[2], RowStatus::Written);
    assert!(store.online("k-refused", "1").await.is_some());
    assert!(store.online("k-refused", "2").await.is_none());
    assert!(store.online("k-refused", "3").await.is_some());
    assert_eq!(store.offline("k-refused").await.len(), 2);
}

/// `TargetStores` offline only: nothing online, every row offline.
pub async fn offline_only_writes_leave_the_online_store_alone(
    sink: &dyn Sink,
    store: &dyn ReadBack,
) {
    let group = customers("k-offline-only");
    store.create_group(group.clone()).await;
    let options = WriteOptions::default().target_stores([TargetStore::OfflineStore]);
    let statuses = write_all(sink, &group, customers_batch(1, 5), &options).await;
    assert!(statuses.iter().all(|s| *s == RowStatus::Written));
    assert!(store.online("k-offline-only", "1").await.is_none());
    assert_eq!(store.offline("k-offline-only").await.len(), 5);
}

/// `TargetStores` online only: the rows online, nothing offline.
pub async fn online_only_writes_nothing_offline(sink: &dyn Sink, store: &dyn ReadBack) {
    let group = customers("k-online-only");
    store.create_group(group.clone()).await;
    let options = WriteOptions::default().target_stores([TargetStore::OnlineStore]);
    write_all(sink, &group, customers_batch(1, 5), &options).await;
    assert!(store.online("k-online-only", "3").await.is_some());
    assert!(store.offline("k-online-only").await.is_empty());
}

/// The write's TTL reaches the store: event times in 2024 with a one-day
/// TTL have expired online (offline keeps them); a TTL of 100 years keeps
/// them online.
pub async fn the_ttl_is_passed_to_the_store(sink: &dyn Sink, store: &dyn ReadBack) {
    let group = customers("k-ttl");
    store.create_group(group.clone()).await;
    let options = WriteOptions::default().ttl(TtlDuration::new(TtlUnit::Days, 1));
    write_all(sink, &group, customers_batch(1, 3), &options).await;
    assert!(store.online("k-ttl", "1").await.is_none());
    assert_eq!(store.offline("k-ttl").await.len(), 3);
    let options = WriteOptions::default().ttl(TtlDuration::new(TtlUnit::Weeks, 5200));
    write_all(sink, &group, customers_batch(1, 3), &options).await;
    assert!(store.online("k-ttl", "1").await.is_some());
}

/// The same batch sent again, around an older version of its rows: the
/// latest event time stays online; offline, which is append-only, has
/// every put.
pub async fn resending_a_batch_keeps_the_latest_event_time_online(
    sink: &dyn Sink,
    store: &dyn ReadBack,
) {
    let group = customers("k-resend");
    store.create_group(group.clone()).await;
    let newer = customers_batch(1, 3);
    let mut older = customers_batch(1, 3);
    // The same ids a year earlier, with other values.
    let ts: StringArray = (0..3).map(|_| Some("2023-01-01T00:00:00Z")).collect();
    let mut cols = older.columns().to_vec();
    cols[1] = Arc::new(ts);
    cols[2] = Arc::new(Int64Array::from(vec![99, 99, 99]));
    older = RecordBatch::try_new(older.schema(), cols).expect("the same schema");
    for batch in [newer.clone(), older, newer] {
        write_all(sink, &group, batch, &WriteOptions::default()).await;
    }
    assert_eq!(
        store.online("k-resend", "1").await.expect("online")["age"],
        "19"
    );
    assert!(store.offline("k-resend").await.values().all(|&c| c == 3));
}

/// A group the store does not have fails the batch as a whole
/// ([`crate::Error::Sink`]), naming the batch's file.
pub async fn an_unknown_group_fails_the_batch(sink: &dyn Sink, _store: &dyn ReadBack) {
    let group = customers("k-never-created");
    let result = sink
        .write(
            &group,
            customers_batch(1, 2),
            &provenance(1..3),
            &WriteOptions::default(),
        )
        .await;
    let err = result.expect_err("no such group");
    assert!(matches!(err, crate::Error::Sink { .. }), "{err}");
    assert!(err.to_string().contains(CONTRACT_FILE), "{err}");
}
