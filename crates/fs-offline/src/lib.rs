//! # fs-offline
//!
//! Offline feature reads for training and batch inference.
//!
//! - [`spec`]: [`DatasetBuilder`] describes a dataset (latest record per
//!   identifier, deleted and duplicated records, `as_of`, event-time range,
//!   n most recent, point-in-time joins onto an entity table) as a
//!   [`DatasetSpec`], independent of where it runs.

pub mod error;
pub mod spec;

pub use error::{Error, Result};
pub use spec::{DatasetBuilder, DatasetSpec, Entities, EntitySource, JoinSpec, JoinType};
