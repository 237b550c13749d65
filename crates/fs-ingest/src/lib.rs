//! # fs-ingest
//!
//! Local files, or Arrow batches held in memory, into the feature store,
//! fast and without losing a row.
//!
//! CSV, Parquet and JSON Lines files (a file, a directory or a glob) are
//! read as Arrow batches of bounded size, cast to the feature group's
//! types by fs-schema's strict cast, and written through a [`Sink`]. Every
//! row read ends either written or in the [`IngestReport`]'s failures, with
//! its file, row number, column, reason and original values:
//! `rows_read == rows_written + rows_failed`. A stream of `RecordBatch`es
//! (DataFusion, Polars, a DataFrame) is one more source
//! ([`Ingest::run_batches`]): the same cast, report, failures file and
//! resume, with the stream's name where a file's path would be.
//!
//! | module | holds |
//! |---|---|
//! | [`source`] | inputs to files ([`expand_inputs`]), formats, reading files as [`SourceBatch`]es with row provenance |
//! | [`infer_group_from_source`] | a feature group inferred from a file (CSV types from a sample) |
//! | [`Ingest`], [`IngestOptions`] | the run, over files ([`Ingest::run`]) or a stream of batches ([`Ingest::run_batches`]): lenient or strict, target stores, TTL, shard, failures file, checkpoint and resume, progress |
//! | [`sink`] | the [`Sink`] trait, [`LocalSink`] (feature `local`), [`OnlineStoreSink`] over any `OnlineStore` (PutRecord), `BatchWriteSink` (feature `aws`) |
//! | [`report`] | [`IngestReport`], [`Failure`], the failures file ([`FailureWriter`]) |
//! | [`Checkpoint`] | per-file (and per-stream) acknowledged rows, written atomically, for resume |
//! | [`shard`] | the deterministic split of an input among workers |
//! | [`RetryConfig`] | retries with capped backoff, full jitter and a deadline for sinks that need them (from `fs-retry`, the workspace's one retry module) |
//!
//! | feature | adds |
//! |---|---|
//! | `local` (default) | [`LocalSink`] over the embedded store (`fs-local`) |
//! | `aws` | `BatchWriteSink`: BatchWriteRecord over `aws-sdk-sagemakerfeaturestoreruntime` |
//! | `test-util` | `contract`: the sink contract suite, one async function per behaviour, to run against any [`Sink`] in its tests |
//!
//! ```
//! use std::sync::Arc;
//! use fs_ingest::{Ingest, IngestOptions, LocalSink};
//! use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let input = dir.path().join("customers.csv");
//! std::fs::write(&input, "customer_id,event_time,age\n\
//!                         1,2024-05-01T08:00:00Z,34\n\
//!                         2,2024-05-01T08:05:00Z,thirty\n")?;
//!
//! let store = Arc::new(fs_local::Store::open(dir.path().join("store"))?);
//! let group = FeatureGroup::builder("customers", "customer_id", "event_time")
//!     .features([FeatureDefinition::integral("customer_id"), FeatureDefinition::string("event_time"),
//!                FeatureDefinition::integral("age")])
//!     .online_store(OnlineStoreConfig::enabled())
//!     .offline_store_s3_uri("s3://bucket/prefix")
//!     .build()?;
//! store.create_feature_group(group.clone())?;
//!
//! let options = IngestOptions::default().failures_file(dir.path().join("failures.csv"));
//! let report = Ingest::new(group, Arc::new(LocalSink::new(store.clone())), options)
//!     .run(&[input])
//!     .await?;
//! assert_eq!((report.rows_read, report.rows_written, report.rows_failed), (2, 1, 1));
//! let bad = &report.failures[0];
//! assert_eq!((bad.row, bad.column.as_deref(), bad.value.as_deref()), (2, Some("age"), Some("thirty")));
//! assert!(store.get_record("customers", "1", None)?.is_some());
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/ingest.md` for the formats, the failures file, resume and
//! scaling out to several workers.

// On docs.rs-style builds (`--cfg docsrs`, nightly rustdoc), each item
// gated by a feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod checkpoint;
#[cfg(feature = "test-util")]
pub mod contract;
mod error;
mod infer;
mod ingest;
mod options;
mod pipeline;
pub mod report;
mod run;
pub mod shard;
pub mod sink;
pub mod source;

/// The runtime SDK [`BatchWriteSink`] is built on (feature `aws`).
#[cfg(feature = "aws")]
pub use aws_sdk_sagemakerfeaturestoreruntime;
pub use checkpoint::{Checkpoint, FileProgress};
pub use error::{BoxError, Error, Result};
pub use fs_retry::{GaveUp, Retried, RetryConfig};
pub use infer::{
    InferOptions, infer_group_from_source, infer_group_from_source_with, infer_schema,
};
pub use ingest::Ingest;
pub use options::{
    DEFAULT_BATCH_SIZE, DEFAULT_WRITES_IN_FLIGHT, IngestOptions, Progress, ProgressFn,
};
pub use report::{
    Counts, FAILURE_COLUMNS, Failure, FailureWriter, FileError, FileSummary, IngestReport,
    ShardMode, Stage,
};
#[cfg(feature = "local")]
pub use sink::LocalSink;
#[cfg(feature = "aws")]
pub use sink::sagemaker_sink;
#[cfg(feature = "aws")]
pub use sink::{BatchWriteSink, DEFAULT_BATCH_WRITE_CONCURRENCY};
pub use sink::{OnlineStoreSink, RowOutcome, RowStatus, Sink, WriteApi, WriteOptions};
pub use source::{
    CsvOptions, FileBatches, Format, Provenance, SourceBatch, SourceFile, expand_inputs, read_file,
};
