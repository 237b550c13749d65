//! # fs-schema
//!
//! The data model of `featurestore`: feature groups and their validation,
//! event times, Arrow schema inference, strict casting of Arrow batches to a
//! group's types, records, schema evolution and the offline-store layout.
//! It does no I/O, except the optional SageMaker control plane behind the
//! `aws` feature.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
//! use fs_schema::{cast_batch, infer_group, CastOptions, OnlineStoreConfig};
//!
//! // Data as it comes: 32-bit ids and ISO event times.
//! let batch = RecordBatch::try_from_iter([
//!     ("id", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
//!     ("ts", Arc::new(StringArray::from(vec!["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"])) as ArrayRef),
//! ])?;
//! // A group inferred from it, then the batch cast to the group's types.
//! let group = infer_group("users", "id", "ts", &batch.schema())?
//!     .online_store(OnlineStoreConfig::enabled())
//!     .build()?;
//! let typed = cast_batch(&batch, &group, &CastOptions::default())?;
//! assert_eq!(typed.schema().field(0).data_type(), &arrow_schema::DataType::Int64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`registry`] holds the [`Registry`](registry::Registry) trait and
//! [`FeatureGroupDescription`](registry::FeatureGroupDescription), the one
//! description of a feature group.
//!
//! Features:
//! - `aws`: [`aws::ControlPlane`], the SageMaker control plane over
//!   `aws-sdk-sagemaker`, and conversions to and from its shapes.
//! - `aws-errors`: [`aws_error::AwsError`], the classification of any AWS
//!   SDK error (not found, validation, throttled, transient...), without
//!   any service SDK; `aws` includes it.
//! - `test-util`: `registry::contract`, the contract suite every
//!   [`Registry`](registry::Registry) backend runs.

// On docs.rs-style builds (`--cfg docsrs`, nightly rustdoc), each item
// gated by a feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cast;
mod error;
mod event_time;
pub mod evolution;
mod group;
mod infer;
pub mod layout;
pub mod limits;
mod name;
mod record;
pub mod registry;
pub mod runtime;
mod schema;
mod stores;
mod types;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws-errors")]
pub mod aws_error;

pub use cast::{CastFailure, CastOptions, CastOutcome, cast_batch, cast_batch_lenient};
pub use error::{Error, Result};
pub use event_time::EventTime;
pub use group::{FeatureGroup, FeatureGroupBuilder};
pub use infer::{infer_definition, infer_definitions, infer_group};
pub use name::{NameKind, is_reserved, validate_name};
pub use record::{FeatureValue, Record, Value, batch_to_records, records_to_batch};
pub use runtime::{DeletionMode, TargetStore};
pub use schema::{arrow_field, arrow_schema};
pub use stores::{
    DataCatalogConfig, OfflineStoreConfig, OnlineStoreConfig, OnlineStoreSecurityConfig,
    S3StorageConfig, StorageType, TableFormat, Tag, ThroughputConfig, ThroughputMode, TtlDuration,
    TtlUnit,
};
pub use types::{Collection, FeatureDefinition, FeatureType};
