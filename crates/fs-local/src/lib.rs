//! # fs-local
//!
//! The embedded feature store: the same calls and the same semantics as
//! Amazon SageMaker Feature Store, on a local directory (default
//! `./.featurestore`), with no AWS account.
//!
//! - a **registry** of feature groups (create, describe, list, add
//!   features, delete), persisted in the store's database;
//! - the **online store** in [redb](https://docs.rs/redb), an embedded,
//!   crash-safe, pure-Rust database: one record per identifier per group,
//!   the latest event time winning, with soft and hard deletes and TTL;
//! - the **offline store** as Parquet files in the SageMaker Glue layout
//!   under `<store>/offline/`, with `write_time`, `api_invocation_time` and
//!   `is_deleted` columns, fed by a durable outbox that is written in the
//!   same transaction as the online value and flushed idempotently.
//!
//! Writes come as records (`put_record`, `put_records`, as the runtime API
//! carries them) or as typed Arrow batches (`put_batch`, for bulk loads:
//! no per-row text, the outbox keeps the rows as Arrow, and an optional
//! idempotency key makes a batch sent twice land once). Concurrent writers
//! share durable transactions (group commit), each with its own result.
//!
//! ```
//! use fs_local::Store;
//! use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! store.create_feature_group(
//!     FeatureGroup::builder("customers", "id", "ts")
//!         .features([FeatureDefinition::string("id"), FeatureDefinition::string("ts"),
//!                    FeatureDefinition::integral("age")])
//!         .online_store(OnlineStoreConfig::enabled())
//!         .offline_store_s3_uri("s3://bucket/prefix")
//!         .build()?,
//! )?;
//! let put = |ts: &str, age: &str| Record::new().with("id", "c1").with("ts", ts).with("age", age);
//! store.put_record("customers", &put("2024-01-02T00:00:00Z", "31"), None, None)?;
//! store.put_record("customers", &put("2024-01-01T00:00:00Z", "30"), None, None)?; // older: offline only
//! let got = store.get_record("customers", "c1", None)?.expect("stored");
//! assert_eq!(got.record.get_str("age"), Some("31"));
//! assert_eq!(store.flush()?.rows, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// On docs.rs-style builds (`--cfg docsrs`, nightly rustdoc), each item
// gated by a feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod codec;
mod columns;
mod commit;
mod description;
mod error;
mod migrate;
mod offline;
mod online;
mod online_arrow;
mod open;
mod outbox;
mod publish;
mod registry;
mod store;
mod write;

pub use batch::RefusedRow;
pub use commit::CommitStats;
pub use error::{BadValue, Error, Result};
pub use offline::FlushReport;
pub use offline::parquet_files::{API_INVOCATION_TIME, IS_DELETED, WRITE_TIME, offline_schema};
pub use online_arrow::OnlineBatch;
pub use store::{DEFAULT_DIR, Store, StoreOptions};
pub use write::{BatchOptions, BatchWrite, RecordPut};
