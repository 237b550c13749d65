//! [`RegistryEngine`]: the embedded engine over the offline directories a
//! registry describes.

use std::sync::Arc;

use fs_schema::registry::Registry;

use super::LocalEngine;
use crate::engine::{BatchStream, DatasetEngine, EngineOptions, Pinned};
use crate::error::{Error, Result};
use crate::spec::DatasetSpec;
use crate::table::OfflineTable;

/// The embedded engine over a [`Registry`] whose groups keep their offline
/// data in local directories (the embedded store, `fs_local::Store`).
///
/// Each run describes the groups the dataset reads (one
/// DescribeFeatureGroup per group), reads each with its current definition
/// from its `offline_data_dir`, then runs as [`LocalEngine`] does.
///
/// ```no_run
/// # async fn f(store: std::sync::Arc<dyn fs_schema::registry::Registry>, spec: fs_offline::DatasetSpec) -> fs_offline::Result<()> {
/// use fs_offline::DatasetEngine;
/// use fs_offline::local::RegistryEngine;
///
/// let engine = RegistryEngine::new(store);
/// let batches = engine.execute(&spec).await?.collect().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RegistryEngine {
    registry: Arc<dyn Registry>,
    options: EngineOptions,
}

impl RegistryEngine {
    /// The engine over `registry`, with default options.
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        Self::with_options(registry, EngineOptions::default())
    }

    /// The engine over `registry`, with `options`.
    pub fn with_options(registry: Arc<dyn Registry>, options: EngineOptions) -> Self {
        RegistryEngine { registry, options }
    }

    /// A [`LocalEngine`] holding the offline table of every group `spec`
    /// reads.
    pub async fn engine_for(&self, spec: &DatasetSpec) -> Result<LocalEngine> {
        let mut engine = LocalEngine::with_options(self.options.clone());
        for name in spec.group_names() {
            let desc = self.registry.describe_feature_group(name).await?;
            let dir = desc.offline_data_dir.clone().ok_or_else(|| {
                Error::InvalidDataset(match desc.resolved_output_s3_uri() {
                    Some(uri) => format!(
                        "feature group `{name}` keeps its offline data in S3 ({uri}), not in a \
                         local directory: build its datasets with the cached or Athena engine"
                    ),
                    None => format!(
                        "feature group `{name}` has no offline store, so it has no datasets"
                    ),
                })
            })?;
            engine.register(OfflineTable::new(desc.spec, dir));
        }
        Ok(engine)
    }
}

#[async_trait::async_trait]
impl DatasetEngine for RegistryEngine {
    async fn execute(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        self.engine_for(spec).await?.execute(spec).await
    }

    async fn sql(&self, spec: &DatasetSpec) -> Result<String> {
        self.engine_for(spec).await?.sql(spec).await
    }

    async fn pin(&self, spec: &DatasetSpec) -> Result<Option<Pinned>> {
        self.engine_for(spec).await?.pin(spec).map(Some)
    }
}
