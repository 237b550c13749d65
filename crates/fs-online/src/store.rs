//! The `OnlineStore` trait and its Arrow-typed extension.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use fs_schema::runtime::{BatchGetRequest, BatchGetResult, OnlineRecord, RecordIdPage};
use fs_schema::{
    DeletionMode, FeatureGroup, Record, TargetStore, TtlDuration, batch_to_records,
    records_to_batch,
};

use crate::error::Result;

/// Options of a put (PutRecord).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PutOptions {
    /// The stores to write; every store the group has when `None`.
    pub target_stores: Option<Vec<TargetStore>>,
    /// A time to live for this record, overriding the group's default.
    pub ttl: Option<TtlDuration>,
}

impl PutOptions {
    /// Writes only to `stores`.
    pub fn target_stores(mut self, stores: impl IntoIterator<Item = TargetStore>) -> Self {
        self.target_stores = Some(stores.into_iter().collect());
        self
    }

    /// Gives the record its own time to live.
    pub fn ttl(mut self, ttl: TtlDuration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// Options of a delete (DeleteRecord).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteOptions {
    /// Soft (the default) or hard delete.
    pub mode: DeletionMode,
    /// The stores to delete from; every store the group has when `None`.
    pub target_stores: Option<Vec<TargetStore>>,
}

impl DeleteOptions {
    /// A hard delete.
    pub fn hard() -> Self {
        Self {
            mode: DeletionMode::HardDelete,
            ..Self::default()
        }
    }

    /// Deletes only from `stores`.
    pub fn target_stores(mut self, stores: impl IntoIterator<Item = TargetStore>) -> Self {
        self.target_stores = Some(stores.into_iter().collect());
        self
    }
}

/// A store of online features: reads and writes by record identifier.
///
/// Object-safe and `Send + Sync`: hold it as `Arc<dyn OnlineStore>` and pick
/// the backend (embedded or AWS) at start-up. The typed Arrow API is in
/// [`OnlineStoreExt`], implemented for every `OnlineStore`.
#[async_trait]
pub trait OnlineStore: Send + Sync + std::fmt::Debug {
    /// The definition of `group` (implementations cache it).
    async fn feature_group(&self, group: &str) -> Result<Arc<FeatureGroup>>;

    /// Reads one record; `None` when there is none (or it was deleted or has
    /// expired). `features` selects features; all when `None`.
    async fn get_record(
        &self,
        group: &str,
        record_id: &str,
        features: Option<&[String]>,
    ) -> Result<Option<OnlineRecord>>;

    /// Reads any number of records across groups. Records come back in
    /// request order; failures are per identifier in `errors`.
    async fn batch_get_records(&self, requests: &[BatchGetRequest]) -> Result<BatchGetResult>;

    /// Writes one record.
    async fn put_record(&self, group: &str, record: &Record, options: &PutOptions) -> Result<()>;

    /// Deletes a record as of `event_time` (in the group's event-time form).
    async fn delete_record(
        &self,
        group: &str,
        record_id: &str,
        event_time: &str,
        options: &DeleteOptions,
    ) -> Result<()>;

    /// Lists record identifiers, a page (1 to 100) at a time.
    async fn list_records(
        &self,
        group: &str,
        include_soft_deleted: bool,
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<RecordIdPage>;

    /// What [`OnlineStoreExt::get`] returns. The default reads the record
    /// with [`OnlineStore::get_record`] and converts it; a backend that can
    /// decode straight into Arrow overrides it (with the same result).
    async fn get_arrow(
        &self,
        group: &str,
        record_id: &str,
        features: Option<&[String]>,
    ) -> Result<Option<RecordBatch>> {
        get_via_records(self, group, record_id, features).await
    }

    /// What [`OnlineStoreExt::batch_get`] returns. The default reads the
    /// records with [`OnlineStore::batch_get_records`] and converts them; a
    /// backend that can decode straight into Arrow overrides it (with the
    /// same result).
    async fn batch_get_arrow(
        &self,
        group: &str,
        record_ids: &[String],
        features: Option<&[String]>,
    ) -> Result<BatchGetBatch> {
        batch_get_via_records(self, group, record_ids, features).await
    }
}

/// The result of [`OnlineStoreExt::batch_get`].
#[derive(Debug, Clone)]
pub struct BatchGetBatch {
    /// The found records, one row each, in request order, typed as the
    /// group (projected to the selected features).
    pub batch: RecordBatch,
    /// For each row of `batch`, the record identifier it was asked for.
    pub record_ids: Vec<String>,
    /// Identifiers with no record.
    pub missing: Vec<String>,
    /// Identifiers that failed, with the reason.
    pub errors: Vec<(String, String)>,
}

/// Typed Arrow reads and writes for every [`OnlineStore`].
#[async_trait]
pub trait OnlineStoreExt: OnlineStore {
    /// Reads one record as a one-row batch typed as the group (projected to
    /// `features`, in that order, when given); `None` when absent.
    async fn get(
        &self,
        group: &str,
        record_id: &str,
        features: Option<&[String]>,
    ) -> Result<Option<RecordBatch>> {
        self.get_arrow(group, record_id, features).await
    }

    /// Reads many records of one group as one batch: one row per requested
    /// identifier that has a record, in request order (an identifier asked
    /// for twice gives two rows).
    async fn batch_get(
        &self,
        group: &str,
        record_ids: &[String],
        features: Option<&[String]>,
    ) -> Result<BatchGetBatch> {
        self.batch_get_arrow(group, record_ids, features).await
    }

    /// Writes every row of `batch` (cast to the group with
    /// `fs_schema::cast_batch` first) and returns how many were written.
    async fn put_batch(
        &self,
        group: &str,
        batch: &RecordBatch,
        options: &PutOptions,
    ) -> Result<usize> {
        let records = batch_to_records(batch)?;
        for record in &records {
            self.put_record(group, record, options).await?;
        }
        Ok(records.len())
    }
}

impl<T: OnlineStore + ?Sized> OnlineStoreExt for T {}

fn view_of(spec: &FeatureGroup, features: Option<&[String]>) -> Result<FeatureGroup> {
    Ok(match features {
        Some(f) => spec.project(f)?,
        None => spec.clone(),
    })
}

/// [`OnlineStore::get_arrow`] through [`OnlineStore::get_record`].
pub(crate) async fn get_via_records<S: OnlineStore + ?Sized>(
    store: &S,
    group: &str,
    record_id: &str,
    features: Option<&[String]>,
) -> Result<Option<RecordBatch>> {
    let spec = store.feature_group(group).await?;
    let Some(found) = store.get_record(group, record_id, features).await? else {
        return Ok(None);
    };
    let view = view_of(&spec, features)?;
    Ok(Some(records_to_batch(
        &view,
        std::slice::from_ref(&found.record),
    )?))
}

/// [`OnlineStore::batch_get_arrow`] through
/// [`OnlineStore::batch_get_records`].
pub(crate) async fn batch_get_via_records<S: OnlineStore + ?Sized>(
    store: &S,
    group: &str,
    record_ids: &[String],
    features: Option<&[String]>,
) -> Result<BatchGetBatch> {
    let spec = store.feature_group(group).await?;
    let request = BatchGetRequest {
        group: group.to_owned(),
        record_ids: record_ids.to_vec(),
        features: features.map(<[String]>::to_vec),
    };
    let result = store
        .batch_get_records(std::slice::from_ref(&request))
        .await?;
    let by_id: HashMap<&str, &Record> = result
        .records
        .iter()
        .map(|r| (r.record_id.as_str(), &r.record.record))
        .collect();
    let mut records = Vec::with_capacity(result.records.len());
    let mut ids = Vec::with_capacity(result.records.len());
    let mut missing = Vec::new();
    let failed: HashMap<&str, &str> = result
        .errors
        .iter()
        .map(|e| (e.record_id.as_str(), e.message.as_str()))
        .collect();
    for id in record_ids {
        match by_id.get(id.as_str()) {
            Some(&r) => {
                records.push(r.clone());
                ids.push(id.clone());
            }
            None if !failed.contains_key(id.as_str()) => missing.push(id.clone()),
            None => {}
        }
    }
    let view = view_of(&spec, features)?;
    Ok(BatchGetBatch {
        batch: records_to_batch(&view, &records)?,
        record_ids: ids,
        missing,
        errors: result
            .errors
            .iter()
            .map(|e| (e.record_id.clone(), e.message.clone()))
            .collect(),
    })
}
