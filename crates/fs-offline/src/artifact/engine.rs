//! [`ArtifactEngine`]: any dataset engine, with its datasets kept.

use std::sync::Arc;

use super::{Artifact, ArtifactStore};
use crate::engine::{BatchStream, DatasetEngine, Pinned};
use crate::error::Result;
use crate::spec::DatasetSpec;

/// A [`DatasetEngine`] whose datasets are kept in an [`ArtifactStore`] and
/// reused (see the [module docs](super)). As a `DatasetEngine` it streams
/// the artifact's rows; datasets of an engine that cannot name its inputs
/// (Athena) run on it directly and are not kept.
#[derive(Debug, Clone)]
pub struct ArtifactEngine {
    inner: Arc<dyn DatasetEngine>,
    store: ArtifactStore,
}

impl ArtifactEngine {
    /// `inner`'s datasets, kept in `store`.
    pub fn new(inner: Arc<dyn DatasetEngine>, store: ArtifactStore) -> Self {
        ArtifactEngine { inner, store }
    }

    /// The store the artifacts are kept in.
    pub fn store(&self) -> &ArtifactStore {
        &self.store
    }

    /// The engine that builds them.
    pub fn inner(&self) -> &Arc<dyn DatasetEngine> {
        &self.inner
    }

    /// The id `spec` has over the data as it is now, building nothing
    /// (with the cached engine, its groups are synced first); `None` when
    /// the engine cannot name its inputs.
    pub async fn dataset_id(&self, spec: &DatasetSpec) -> Result<Option<String>> {
        Ok(self.inner.pin(spec).await?.map(|p| p.dataset_id(spec)))
    }

    /// The artifact of `spec` over the data as it is now: the one the store
    /// holds for its id, or one built now and kept; `None` when the engine
    /// cannot name its inputs (nothing is built then).
    ///
    /// Cost: the engine's listing and one `stat` per input file, then
    /// either nothing (reused) or the dataset and one write of its rows.
    pub async fn artifact(&self, spec: &DatasetSpec) -> Result<Option<Artifact>> {
        let Some(pinned) = self.inner.pin(spec).await? else {
            return Ok(None);
        };
        let id = pinned.dataset_id(spec);
        self.store.get_or_build(&id, spec, pinned).await.map(Some)
    }
}

#[async_trait::async_trait]
impl DatasetEngine for ArtifactEngine {
    async fn execute(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        match self.artifact(spec).await? {
            Some(artifact) => artifact.stream(),
            None => self.inner.execute(spec).await,
        }
    }

    async fn sql(&self, spec: &DatasetSpec) -> Result<String> {
        self.inner.sql(spec).await
    }

    async fn pin(&self, spec: &DatasetSpec) -> Result<Option<Pinned>> {
        self.inner.pin(spec).await
    }
}
