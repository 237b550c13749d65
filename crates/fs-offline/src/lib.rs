//! # fs-offline
//!
//! Offline feature reads for training and batch inference.
//!
//! - [`spec`]: [`DatasetBuilder`] describes a dataset (latest record per
//!   identifier, deleted and duplicated records, `as_of`, event-time range,
//!   n most recent, point-in-time joins onto an entity table) as a
//!   [`DatasetSpec`], independent of where it runs.
//! - [`table`]: an [`OfflineTable`](table::OfflineTable) is a group and the
//!   local directory of its offline Parquet files (SageMaker's Glue layout);
//!   [`scan`] reads one with partition pruning, projection and a bounded
//!   stream of batches.
//! - [`sql`]: a spec rendered as SQL for DataFusion or Athena (Trino), with
//!   every identifier and literal escaped.
//! - [`local`]: [`LocalEngine`](local::LocalEngine) runs a spec with
//!   DataFusion over local files and streams the result; [`output`] writes
//!   a stream to Parquet, CSV or Arrow IPC atomically, with bounded memory.
//! - [`artifact`]: datasets kept as Arrow IPC files under their
//!   [dataset id](inputs::dataset_id) (a hash of the spec and the exact
//!   inputs), so that every later sub-model asking for the same data reads
//!   it instead of building it again.
//!
//! See `docs/offline.md` for the design and performance notes.
//!
//! ```
//! use fs_offline::{DatasetBuilder, local::LocalEngine, table::OfflineTable};
//! use fs_schema::{FeatureDefinition, FeatureGroup, Record};
//!
//! // An embedded store with a few writes, flushed to offline Parquet.
//! let dir = tempfile::tempdir()?;
//! let store = fs_local::Store::open(dir.path())?;
//! let group = FeatureGroup::builder("orders", "customer_id", "ts")
//!     .feature(FeatureDefinition::string("customer_id"))
//!     .feature(FeatureDefinition::string("ts"))
//!     .feature(FeatureDefinition::fractional("amount"))
//!     .offline_store_s3_uri("s3://bucket/prefix")
//!     .build()?;
//! store.create_feature_group(group.clone())?;
//! for (ts, amount) in [("2024-05-01T08:00:00Z", "12.5"), ("2024-05-02T08:00:00Z", "20")] {
//!     let record = Record::new().with("customer_id", "c1").with("ts", ts).with("amount", amount);
//!     store.put_record("orders", &record, None, None)?;
//! }
//! store.flush()?;
//!
//! // The latest record per customer, built by the embedded engine.
//! let table = OfflineTable::new(group.clone(), store.offline_data_dir("orders")?.unwrap());
//! let engine = LocalEngine::new().with_table(table);
//! let spec = DatasetBuilder::from_group(group).build()?;
//! let batches = tokio::runtime::Runtime::new()?.block_on(engine.collect(&spec))?;
//! assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// On docs.rs-style builds (`--cfg docsrs`, nightly rustdoc), each item
// gated by a feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod artifact;
mod asof;
#[cfg(feature = "athena")]
pub mod athena;
#[cfg(feature = "s3")]
pub mod cache;
mod columns;
#[cfg(feature = "test-util")]
pub mod contract;
mod engine;
pub mod error;
pub mod inputs;
mod latest;
pub mod local;
mod memory;
pub mod output;
mod passes;
mod read;
#[cfg(feature = "athena")]
pub mod sagemaker;
pub mod scan;
pub mod spec;
pub mod sql;
pub mod table;
#[cfg(feature = "test-util")]
pub mod throttle;

/// The Athena SDK the Athena engine takes a client of.
#[cfg(feature = "athena")]
pub use aws_sdk_athena;
/// The S3 SDK the cache and the Athena engine take clients of.
#[cfg(feature = "s3")]
pub use aws_sdk_s3;
pub use engine::{BatchStream, DatasetEngine, EngineOptions, Pinned};
pub use error::{Error, Result};
pub use spec::{DatasetBuilder, DatasetSpec, Entities, EntitySource, JoinSpec, JoinType};
