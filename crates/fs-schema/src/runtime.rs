//! Shapes of the Feature Store runtime API shared by every backend.

use serde::{Deserialize, Serialize};

use crate::{EventTime, Record};

/// A store a write goes to (`TargetStores` in PutRecord and DeleteRecord).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetStore {
    /// The online (key-value) store.
    OnlineStore,
    /// The offline (Parquet) store.
    OfflineStore,
}

/// How DeleteRecord deletes a record online.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeletionMode {
    /// The default: the record stays as a tombstone with the delete's event
    /// time (reads no longer return it; older puts cannot revive it).
    #[default]
    SoftDelete,
    /// The record is removed from the online store entirely; the delete's
    /// event time must be newer than the stored record's.
    HardDelete,
}

/// A record read from the online store.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineRecord {
    /// The record's values (only the selected features, if a selection was given).
    pub record: Record,
    /// Its event time.
    pub event_time: EventTime,
    /// When it expires (`EventTime + TtlDuration`), if it has a time to live.
    pub expires_at: Option<EventTime>,
}

/// One entry of a batch get: identifiers of one group, optionally only
/// some features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchGetRequest {
    /// The feature group.
    pub group: String,
    /// Record identifiers, in the order results are wanted.
    pub record_ids: Vec<String>,
    /// Features to return; all when `None`.
    pub features: Option<Vec<String>>,
}

/// A found record of a batch get.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchGetRecord {
    /// The feature group.
    pub group: String,
    /// The record identifier.
    pub record_id: String,
    /// The record.
    pub record: OnlineRecord,
}

/// A per-identifier failure of a batch get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchGetError {
    /// The feature group.
    pub group: String,
    /// The record identifier.
    pub record_id: String,
    /// The service's error code (`ResourceNotFound`, `ValidationError`).
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

/// The result of a batch get: found records in request order, and errors.
/// Identifiers with no record appear in neither list, as with the service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchGetResult {
    /// Records found, in request order.
    pub records: Vec<BatchGetRecord>,
    /// Identifiers that could not be read, with why.
    pub errors: Vec<BatchGetError>,
}

/// One page of ListRecords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordIdPage {
    /// Record identifiers, in ascending order.
    pub record_ids: Vec<String>,
    /// Pass to the next call for the next page; `None` on the last page.
    pub next_token: Option<String>,
}
