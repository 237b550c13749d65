//! [`LocalOnlineStore`]: the online store of the embedded store.

use std::sync::Arc;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use fs_local::Store;
use fs_schema::FeatureGroup;
use fs_schema::runtime::{BatchGetRequest, BatchGetResult, OnlineRecord, RecordIdPage};

use crate::error::{Error, Result};
use crate::store::{BatchGetBatch, DeleteOptions, OnlineStore, PutOptions, batch_get_via_records};

/// An [`OnlineStore`] over an embedded [`fs_local::Store`].
///
/// Reads run on the calling task (they are in-memory lookups of a few
/// microseconds); writes, which wait for the disk, run on tokio's blocking
/// pool.
#[derive(Debug, Clone)]
pub struct LocalOnlineStore {
    store: Arc<Store>,
}

impl LocalOnlineStore {
    /// Wraps an open store.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> fs_local::Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| Error::Other {
                message: format!("a store task failed: {e}"),
                source: Some(Box::new(e)),
            })?
            .map_err(Error::from)
    }
}

#[async_trait]
impl OnlineStore for LocalOnlineStore {
    async fn feature_group(&self, group: &str) -> Result<Arc<FeatureGroup>> {
        Ok(Arc::new(
            self.store.describe_feature_group(group)?.spec.clone(),
        ))
    }

    async fn get_record(
        &self,
        group: &str,
        record_id: &str,
        features: Option<&[String]>,
    ) -> Result<Option<OnlineRecord>> {
        Ok(self.store.get_record(group, record_id, features)?)
    }

    async fn batch_get_records(&self, requests: &[BatchGetRequest]) -> Result<BatchGetResult> {
        Ok(self.store.batch_get(requests)?)
    }

    /// Decodes the stored values straight into Arrow
    /// ([`Store::get_batch`]).
    async fn get_arrow(
        &self,
        group: &str,
        record_id: &str,
        features: Option<&[String]>,
    ) -> Result<Option<RecordBatch>> {
        let found = self.store.get_batch(group, &[record_id], features)?;
        Ok((!found.rows.is_empty()).then_some(found.batch))
    }

    /// Decodes the stored values straight into Arrow
    /// ([`Store::get_batch`]). A group without an online store or an
    /// unknown feature fails every identifier: those answers come from
    /// [`OnlineStore::batch_get_records`], as for every backend.
    async fn batch_get_arrow(
        &self,
        group: &str,
        record_ids: &[String],
        features: Option<&[String]>,
    ) -> Result<BatchGetBatch> {
        let found = match self.store.get_batch(group, record_ids, features) {
            Ok(found) => found,
            Err(e) if e.is_not_found() => return Err(e.into()),
            Err(_) => return batch_get_via_records(self, group, record_ids, features).await,
        };
        let mut ids = Vec::with_capacity(found.rows.len());
        let mut missing = Vec::new();
        let mut rows = found.rows.iter().peekable();
        for (i, id) in record_ids.iter().enumerate() {
            if rows.next_if_eq(&&i).is_some() {
                ids.push(id.clone());
            } else {
                missing.push(id.clone());
            }
        }
        Ok(BatchGetBatch {
            batch: found.batch,
            record_ids: ids,
            missing,
            errors: Vec::new(),
        })
    }

    async fn put_record(
        &self,
        group: &str,
        record: &fs_schema::Record,
        options: &PutOptions,
    ) -> Result<()> {
        let (group, record, options) = (group.to_owned(), record.clone(), options.clone());
        self.blocking(move |s| {
            s.put_record(
                &group,
                &record,
                options.target_stores.as_deref(),
                options.ttl,
            )
        })
        .await
    }

    async fn delete_record(
        &self,
        group: &str,
        record_id: &str,
        event_time: &str,
        options: &DeleteOptions,
    ) -> Result<()> {
        let (group, id, t, options) = (
            group.to_owned(),
            record_id.to_owned(),
            event_time.to_owned(),
            options.clone(),
        );
        self.blocking(move |s| {
            s.delete_record(
                &group,
                &id,
                &t,
                options.mode,
                options.target_stores.as_deref(),
            )
        })
        .await
    }

    async fn list_records(
        &self,
        group: &str,
        include_soft_deleted: bool,
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<RecordIdPage> {
        Ok(self
            .store
            .list_records(group, include_soft_deleted, max_results, next_token)?)
    }
}
