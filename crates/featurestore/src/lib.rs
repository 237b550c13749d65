//! # featurestore
//!
//! Typed, Arrow-native access to Amazon SageMaker Feature Store, and an
//! embedded local store with the same semantics. This facade re-exports the
//! workspace's crates so that applications depend on one crate and choose
//! backends with features, and [`FeatureStore`] holds one implementation of
//! each seam (`Registry`, `OnlineStore`, `DatasetEngine`, ingest sinks) for
//! the backend it was opened on:
//!
//! | feature | what it adds |
//! |---|---|
//! | (always) | [`schema`]: feature groups, validation, event times, strict Arrow casting, records; [`online`]: the `OnlineStore` trait and its typed Arrow calls |
//! | `local` (default) | [`local`]: the embedded store and [`FeatureStore::local`]; [`online::LocalOnlineStore`]; [`ingest`]: CSV, Parquet, JSON Lines files and Arrow batches into a store, with a failure report and resume |
//! | `sql` | [`offline`]: datasets (latest record, deletes, `as_of`, point-in-time joins) built by the embedded SQL engine over Parquet; [`FeatureStore::dataset`] |
//! | `aws` | `FeatureStore::aws`; `schema::aws`: the SageMaker control plane and its registry over `aws-sdk-sagemaker`; `online::AwsOnlineStore` over the runtime SDK; [`ingest`] through PutRecord or BatchWriteRecord (without `local`, no embedded store is compiled) |
//!
//! It also re-exports [`arrow`] and [`parquet`], so that applications use the
//! same versions as the library.
//!
//! ```
//! use featurestore::schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record, records_to_batch};
//!
//! let group = FeatureGroup::builder("customers", "customer_id", "event_time")
//!     .feature(FeatureDefinition::integral("customer_id"))
//!     .feature(FeatureDefinition::string("event_time"))
//!     .feature(FeatureDefinition::fractional("lifetime_value"))
//!     .online_store(OnlineStoreConfig::enabled())
//!     .build()?;
//! let record = Record::new()
//!     .with("customer_id", "42")
//!     .with("event_time", "2024-05-01T08:00:00Z")
//!     .with("lifetime_value", "1250.5");
//! record.validate(&group)?;
//! let batch: featurestore::arrow::record_batch::RecordBatch = records_to_batch(&group, &[record])?;
//! assert_eq!(batch.num_rows(), 1);
//! # Ok::<(), featurestore::schema::Error>(())
//! ```

// On docs.rs-style builds (`--cfg docsrs`, nightly rustdoc), each item
// gated by a feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "aws")]
mod aws;
mod store;

#[cfg(feature = "aws")]
pub use aws::{AwsOptions, OfflineEngine};
#[cfg(any(feature = "local", feature = "aws"))]
pub use fs_ingest::WriteApi;
pub use store::{Error, FeatureStore, Result};

pub use arrow;
#[cfg(any(feature = "local", feature = "aws"))]
pub use fs_ingest as ingest;
#[cfg(feature = "local")]
pub use fs_local as local;
#[cfg(feature = "sql")]
pub use fs_offline as offline;
pub use fs_online as online;
pub use fs_schema as schema;
pub use parquet;
