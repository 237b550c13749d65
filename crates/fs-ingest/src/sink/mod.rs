//! Sinks: where typed batches are written.
//!
//! A [`Sink`] takes a batch typed by the group (`fs_schema::arrow_schema`)
//! with the provenance of its rows and answers with one [`RowOutcome`] per
//! row: written, or failed with a reason, and how many retries it took.
//! An `Err` is for failures of the batch as a whole (the store is gone, the
//! group does not exist); it stops the ingest.
//!
//! | sink | writes through |
//! |---|---|
//! | [`LocalSink`] (feature `local`) | `fs_local::Store::put_batch`: the typed batch as it is, one durable transaction per batch (online values, offline rows as Arrow, the batch key), on tokio's blocking pool |
//! | [`OnlineStoreSink`] | any `Arc<dyn fs_online::OnlineStore>`: one put per record, a bounded number in flight, retryable errors retried ([`RetryConfig`](crate::RetryConfig)) |
//! | `BatchWriteSink` (feature `aws`) | BatchWriteRecord: 25 records per request, a bounded number in flight, retryable entries retried, the others failed per row |
//!
//! The AWS path (SageMaker, or fs-server) is either an `OnlineStoreSink`
//! over the AWS online store (PutRecord per row) or a `BatchWriteSink`, as
//! the caller chooses; both report per-record outcomes the same way, and the
//! contract suite (`fs_ingest::contract`, feature `test-util`) is the bar each
//! sink passes.

#[cfg(feature = "aws")]
mod batch_write;
#[cfg(feature = "local")]
mod local;
mod online;
#[cfg(feature = "aws")]
mod sagemaker;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use fs_schema::FeatureGroup;

use crate::error::Result;
use crate::source::Provenance;

#[cfg(feature = "aws")]
pub use batch_write::{BatchWriteSink, DEFAULT_BATCH_WRITE_CONCURRENCY};
#[cfg(feature = "local")]
pub use local::LocalSink;
pub use online::{DEFAULT_CONCURRENCY, OnlineStoreSink};
#[cfg(feature = "aws")]
pub use sagemaker::sagemaker_sink;

/// Which SageMaker API an ingest writes rows with (see `sagemaker_sink`,
/// feature `aws`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteApi {
    /// PutRecord: one request per row. Throughput is requests in flight
    /// over the service's latency.
    #[default]
    PutRecord,
    /// BatchWriteRecord: up to 25 rows per request, entries that fail with
    /// a retryable code sent again; about 25 times PutRecord's throughput
    /// at the same requests in flight.
    BatchWriteRecord,
}

/// Per-write settings, passed through to the store: the target stores and
/// a time to live. The same type as a put's options in fs-online.
pub use fs_online::PutOptions as WriteOptions;

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowStatus {
    /// The store acknowledged it.
    Written,
    /// The store refused it (or retries gave up), and why.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The outcome of one row of a written batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOutcome {
    /// Written or failed.
    pub status: RowStatus,
    /// Retries it took (0 when the first attempt decided).
    pub retries: u32,
    /// Of those, retries made after an attempt whose outcome was unknown (a
    /// 5xx, a timeout, a connection lost while the request was out): that
    /// attempt may have been applied, so the row may be written twice (a
    /// duplicate offline row). Throttled or unprocessed attempts were not
    /// applied and are not counted here.
    pub unknown_outcome_retries: u32,
}

impl RowOutcome {
    /// A row written at the first attempt.
    pub fn written() -> Self {
        Self {
            status: RowStatus::Written,
            retries: 0,
            unknown_outcome_retries: 0,
        }
    }

    /// A row refused at the first attempt.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self {
            status: RowStatus::Failed {
                reason: reason.into(),
            },
            retries: 0,
            unknown_outcome_retries: 0,
        }
    }

    /// The same outcome after `retries` retries.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The same outcome with `n` of its retries made after an unknown
    /// outcome (see [`RowOutcome::unknown_outcome_retries`]).
    pub fn with_unknown_outcome_retries(mut self, n: u32) -> Self {
        self.unknown_outcome_retries = n;
        self
    }

    /// True when written.
    pub fn is_written(&self) -> bool {
        self.status == RowStatus::Written
    }
}

/// Where ingested batches go.
///
/// Object-safe and `Send + Sync`: an ingest holds an `Arc<dyn Sink>`.
/// Implementations must return exactly one outcome per row of the batch,
/// in row order, and return only once every `Written` row is durable in
/// the store (the ingest's checkpoint counts on it).
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Writes `batch` (typed as `group`) and reports each row's outcome.
    async fn write(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
    ) -> Result<Vec<RowOutcome>>;

    /// Writes `batch` like [`Sink::write`], naming it with `key`: the same
    /// key for the same rows in every run of one ingest (the ingest's id,
    /// the file and the batch's last row). A sink that can record the key
    /// with the rows, atomically, acknowledges a batch sent again with a
    /// key it has seen without writing it twice ([`LocalSink`] does). The
    /// default ignores the key.
    async fn write_keyed(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
        key: &str,
    ) -> Result<Vec<RowOutcome>> {
        let _ = key;
        self.write(group, batch, provenance, options).await
    }

    /// Forgets the keys beginning with `prefix` (an ingest's id): called
    /// once an ingest has finished and checkpointed every batch, so that
    /// keys do not pile up. The default does nothing.
    async fn forget_keys(&self, prefix: &str) -> Result<()> {
        let _ = prefix;
        Ok(())
    }

    /// Makes everything written visible in every store (for the embedded
    /// store: the offline outbox to Parquet). Called once at the end of an
    /// ingest.
    async fn flush(&self) -> Result<()>;
}
