//! # fs-online
//!
//! Online feature reads and writes, typed as Arrow. One object-safe
//! [`OnlineStore`] trait with one implementation per backend, so that
//! inference code is written once and pointed at the embedded store in
//! development and at SageMaker Feature Store in production.
//!
//! | feature | implementation |
//! |---|---|
//! | `local` (default) | [`LocalOnlineStore`] over the embedded store (`fs-local`) |
//! | `aws` | `AwsOnlineStore` over SageMaker Feature Store's runtime API (`aws-sdk-sagemakerfeaturestoreruntime`); group definitions registered by the caller |
//! | `aws-describe` | `aws`, plus fetching unknown group definitions with DescribeFeatureGroup (`aws-sdk-sagemaker`) |
//! | `test-util` | [`contract`]: the `OnlineStore` contract suite, one async function per behaviour, for the tests of any implementation |
//!
//! ```
//! use std::sync::Arc;
//! use fs_online::{LocalOnlineStore, OnlineStore, OnlineStoreExt, PutOptions};
//! use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(fs_local::Store::open(dir.path())?);
//! store.create_feature_group(
//!     FeatureGroup::builder("users", "id", "ts")
//!         .features([FeatureDefinition::integral("id"), FeatureDefinition::string("ts"),
//!                    FeatureDefinition::fractional("score")])
//!         .online_store(OnlineStoreConfig::enabled())
//!         .build()?,
//! )?;
//! let online: Arc<dyn OnlineStore> = Arc::new(LocalOnlineStore::new(store));
//! let record = Record::new().with("id", "7").with("ts", "2024-01-01T00:00:00Z").with("score", "0.25");
//! online.put_record("users", &record, &PutOptions::default()).await?;
//! let batch = online.get("users", "7", None).await?.expect("present");
//! assert_eq!(batch.num_rows(), 1); // columns typed Int64, Utf8, Float64
//! # Ok(())
//! # }
//! ```

// On docs.rs-style builds (`--cfg docsrs`, nightly rustdoc), each item
// gated by a feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "test-util")]
pub mod contract;
mod error;
#[cfg(feature = "local")]
mod local;
mod store;

#[cfg(feature = "aws")]
pub use aws::{AwsOnlineStore, AwsOptions};
pub use error::{Error, Result};
#[cfg(feature = "local")]
pub use local::LocalOnlineStore;
pub use store::{BatchGetBatch, DeleteOptions, OnlineStore, OnlineStoreExt, PutOptions};
