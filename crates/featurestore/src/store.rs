//! [`FeatureStore`]: one handle for the embedded store and for SageMaker.
//!
//! The handle holds one implementation of each of the workspace's seams
//! and forwards to it: a [`Registry`] for feature groups, an
//! [`OnlineStore`] for records, a `DatasetEngine` for datasets (feature
//! `sql`) and the ingest sinks. Its two constructors choose the
//! implementations ([`FeatureStore::local`], `FeatureStore::aws`); nothing
//! else in it knows which backend it is on.

#[cfg(any(feature = "local", feature = "aws"))]
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs_online::OnlineStore;
use fs_schema::registry::{FeatureGroupDescription, FeatureGroupSummary, Registry, RegistryError};
use fs_schema::{FeatureDefinition, FeatureGroup};

#[cfg(feature = "local")]
use fs_local::Store;

/// What went wrong, from whichever crate did the work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A definition, record or value problem.
    #[error(transparent)]
    Schema(#[from] fs_schema::Error),
    /// A feature-group call: not found, already exists, invalid, or the
    /// backend failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The embedded store.
    #[cfg(feature = "local")]
    #[error(transparent)]
    Local(#[from] fs_local::Error),
    /// An online read or write.
    #[error(transparent)]
    Online(#[from] fs_online::Error),
    /// An ingest run.
    #[cfg(any(feature = "local", feature = "aws"))]
    #[error(transparent)]
    Ingest(#[from] fs_ingest::Error),
    /// A dataset, a scan, or a sync of the S3 cache.
    #[cfg(feature = "sql")]
    #[error(transparent)]
    Offline(#[from] fs_offline::Error),
    /// The call needs the other backend (for example flushing the embedded
    /// store's outbox on AWS).
    #[error("{0}")]
    Unsupported(String),
}

/// A `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Makes the sink an ingest of a group writes through.
#[cfg(any(feature = "local", feature = "aws"))]
pub(crate) type SinkFn =
    dyn Fn(&FeatureGroup, usize, fs_ingest::WriteApi) -> Arc<dyn fs_ingest::Sink> + Send + Sync;

/// One handle on a feature store: the embedded store in a directory
/// ([`FeatureStore::local`]) or SageMaker Feature Store
/// (`FeatureStore::aws`, feature `aws`).
///
/// ```
/// use featurestore::FeatureStore;
/// use featurestore::schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record};
/// use featurestore::online::OnlineStoreExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = FeatureStore::local(dir.path().join("store"))?;
/// let group = FeatureGroup::builder("customers", "customer_id", "event_time")
///     .feature(FeatureDefinition::integral("customer_id"))
///     .feature(FeatureDefinition::string("event_time"))
///     .feature(FeatureDefinition::fractional("lifetime_value"))
///     .online_store(OnlineStoreConfig::enabled())
///     .build()?;
/// store.create_feature_group(group).await?;
///
/// let online = store.online();
/// let record = Record::new()
///     .with("customer_id", "42")
///     .with("event_time", "2024-05-01T08:00:00Z")
///     .with("lifetime_value", "1250.5");
/// online.put_record("customers", &record, &Default::default()).await?;
/// let batch = online.get("customers", "42", None).await?.expect("just put");
/// assert_eq!(batch.num_rows(), 1);
/// store.close()?;
/// # Ok(())
/// # }
/// ```
pub struct FeatureStore {
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) online: Arc<dyn OnlineStore>,
    #[cfg(feature = "sql")]
    pub(crate) datasets: Arc<dyn fs_offline::DatasetEngine>,
    /// The cached engine, which can also sync without a dataset.
    #[cfg(all(feature = "sql", feature = "aws"))]
    pub(crate) cache: Option<Arc<fs_offline::cache::CachedEngine>>,
    /// Datasets kept and reused (`None`: every dataset is built afresh).
    #[cfg(feature = "sql")]
    pub(crate) artifacts: Option<fs_offline::artifact::ArtifactEngine>,
    #[cfg(any(feature = "local", feature = "aws"))]
    pub(crate) sinks: Arc<SinkFn>,
    #[cfg(feature = "local")]
    pub(crate) local: Option<Arc<Store>>,
    /// Where ingest checkpoints go unless the options say otherwise.
    #[cfg(any(feature = "local", feature = "aws"))]
    pub(crate) checkpoint_dir: PathBuf,
}

impl std::fmt::Debug for FeatureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureStore")
            .field("registry", &self.registry)
            .field("online", &self.online)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "local")]
impl FeatureStore {
    /// Opens (creating if needed) the embedded store in `dir`. Only one
    /// process may hold a store directory at a time.
    pub fn local(dir: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_local_store(Arc::new(Store::open(dir)?)))
    }

    /// Wraps an embedded store that is already open.
    ///
    /// Datasets are kept as artifacts in `<store dir>/datasets` (see
    /// [`FeatureStore::dataset_artifact`]).
    pub fn from_local_store(store: Arc<Store>) -> Self {
        Self::from_local_store_with(
            store,
            #[cfg(feature = "sql")]
            fs_offline::EngineOptions::default(),
        )
    }

    /// Wraps an embedded store that is already open, building datasets
    /// with these embedded-engine options (a memory limit, for instance).
    pub fn from_local_store_with(
        store: Arc<Store>,
        #[cfg(feature = "sql")] options: fs_offline::EngineOptions,
    ) -> Self {
        let sink_store = store.clone();
        #[cfg(feature = "sql")]
        let datasets: Arc<dyn fs_offline::DatasetEngine> = Arc::new(
            fs_offline::local::RegistryEngine::with_options(store.clone(), options),
        );
        FeatureStore {
            registry: store.clone(),
            online: Arc::new(fs_online::LocalOnlineStore::new(store.clone())),
            #[cfg(feature = "sql")]
            artifacts: Some(fs_offline::artifact::ArtifactEngine::new(
                datasets.clone(),
                fs_offline::artifact::ArtifactStore::new(
                    store.dir().join("datasets"),
                    fs_offline::artifact::ArtifactOptions::default(),
                ),
            )),
            #[cfg(feature = "sql")]
            datasets,
            #[cfg(all(feature = "sql", feature = "aws"))]
            cache: None,
            // One transaction per batch whatever the API asked for.
            sinks: Arc::new(move |_: &FeatureGroup, _: usize, _: fs_ingest::WriteApi| {
                Arc::new(fs_ingest::LocalSink::new(sink_store.clone())) as Arc<dyn fs_ingest::Sink>
            }),
            checkpoint_dir: store.dir().join("checkpoints"),
            local: Some(store),
        }
    }

    /// The embedded store, if this handle is on one.
    pub fn local_store(&self) -> Option<&Arc<Store>> {
        self.local.as_ref()
    }

    /// Writes the embedded store's offline outbox to Parquet now (it is
    /// also flushed by size and on close). SageMaker does this on its own,
    /// so on AWS this is an error.
    pub fn flush(&self) -> Result<fs_local::FlushReport> {
        let store = self.local.as_ref().ok_or_else(|| {
            Error::Unsupported(
                "flush applies to the embedded store; SageMaker writes the offline store itself"
                    .into(),
            )
        })?;
        Ok(store.flush()?)
    }
}

impl FeatureStore {
    /// The feature-group registry.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.registry
    }

    /// Creates a feature group and waits until it is `Created`.
    pub async fn create_feature_group(
        &self,
        spec: FeatureGroup,
    ) -> Result<FeatureGroupDescription> {
        Ok(self.registry.create_feature_group(spec).await?)
    }

    /// Describes a feature group.
    pub async fn describe_feature_group(&self, name: &str) -> Result<FeatureGroupDescription> {
        Ok(self.registry.describe_feature_group(name).await?)
    }

    /// Lists every feature group.
    pub async fn list_feature_groups(&self) -> Result<Vec<FeatureGroupSummary>> {
        Ok(self.registry.list_feature_groups().await?)
    }

    /// Adds features to a group (existing features cannot change) and waits
    /// for the update to finish.
    pub async fn add_features(
        &self,
        name: &str,
        additions: &[FeatureDefinition],
    ) -> Result<FeatureGroupDescription> {
        Ok(self.registry.add_features(name, additions).await?)
    }

    /// Deletes a feature group and waits until it is gone. Offline data
    /// stays where it is (as on SageMaker).
    pub async fn delete_feature_group(&self, name: &str) -> Result<()> {
        Ok(self.registry.delete_feature_group(name).await?)
    }

    /// The online store: typed Arrow reads with
    /// [`OnlineStoreExt`](fs_online::OnlineStoreExt), puts and deletes.
    pub fn online(&self) -> Arc<dyn OnlineStore> {
        self.online.clone()
    }

    /// Releases the store: the embedded store flushes its offline outbox to
    /// Parquet and releases its lock (the lock when the last handle on the
    /// store, such as an [`online`](Self::online) store, is dropped).
    pub fn close(self) -> Result<()> {
        #[cfg(feature = "local")]
        if let Some(store) = self.local {
            // Other handles (an online store, a sink) keep it open; the
            // lock goes with the last of them, the outbox goes now.
            store.flush()?;
        }
        Ok(())
    }
}

#[cfg(any(feature = "local", feature = "aws"))]
impl FeatureStore {
    /// The sink an ingest of `group` writes through: the embedded store's
    /// bulk writer, or PutRecord requests with `concurrency` in flight.
    pub fn sink(&self, group: &FeatureGroup, concurrency: usize) -> Arc<dyn fs_ingest::Sink> {
        self.sink_with(group, concurrency, fs_ingest::WriteApi::PutRecord)
    }

    /// The sink an ingest of `group` writes through, on SageMaker with the
    /// write API `api` and `concurrency` requests in flight. The embedded
    /// store always writes whole batches in one transaction, whatever `api`.
    ///
    /// ```no_run
    /// # async fn f(store: featurestore::FeatureStore) -> featurestore::Result<()> {
    /// use featurestore::WriteApi;
    /// use featurestore::ingest::{Ingest, IngestOptions};
    ///
    /// let group = store.describe_feature_group("customers").await?.spec;
    /// let sink = store.sink_with(&group, 8, WriteApi::BatchWriteRecord);
    /// let report = Ingest::new(group, sink, IngestOptions::default())
    ///     .run(&["customers.parquet".into()])
    ///     .await?;
    /// assert_eq!(report.rows_read, report.rows_written + report.rows_failed);
    /// # Ok(()) }
    /// ```
    pub fn sink_with(
        &self,
        group: &FeatureGroup,
        concurrency: usize,
        api: fs_ingest::WriteApi,
    ) -> Arc<dyn fs_ingest::Sink> {
        (self.sinks)(group, concurrency, api)
    }

    /// Where ingest checkpoints go by default: `checkpoints/` in the
    /// embedded store, `.featurestore-checkpoints` on AWS.
    pub fn checkpoint_dir(&self) -> &Path {
        &self.checkpoint_dir
    }

    /// Ingests files (CSV, Parquet, JSON Lines; files, directories or
    /// globs) into the group `name`; see [`fs_ingest::Ingest`]. Rows that
    /// fail are in the report (and its failures file), not an error.
    pub async fn ingest(
        &self,
        name: &str,
        inputs: &[PathBuf],
        options: fs_ingest::IngestOptions,
        concurrency: usize,
    ) -> Result<fs_ingest::IngestReport> {
        let ingest = self.ingest_of(name, options, concurrency).await?;
        Ok(ingest.run(inputs).await?)
    }

    /// Ingests a stream of Arrow batches (from DataFusion, Polars, a
    /// DataFrame) into the group `name`, through the same strict cast,
    /// report, failures file and resume as files; `stream_name` names the
    /// stream in errors, failure lines and the checkpoint. See
    /// [`Ingest::run_batches`](fs_ingest::Ingest::run_batches).
    pub async fn ingest_batches<S, E>(
        &self,
        name: &str,
        stream_name: &str,
        schema: arrow::datatypes::SchemaRef,
        batches: S,
        options: fs_ingest::IngestOptions,
        concurrency: usize,
    ) -> Result<fs_ingest::IngestReport>
    where
        S: futures::Stream<Item = std::result::Result<arrow::record_batch::RecordBatch, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let ingest = self.ingest_of(name, options, concurrency).await?;
        Ok(ingest.run_batches(stream_name, schema, batches).await?)
    }

    /// An [`Ingest`](fs_ingest::Ingest) into the group `name` as it is
    /// defined now, through [`sink`](Self::sink): for sources other than
    /// files (Arrow batches) and for its other calls.
    pub async fn ingest_of(
        &self,
        name: &str,
        options: fs_ingest::IngestOptions,
        concurrency: usize,
    ) -> Result<fs_ingest::Ingest> {
        let group = self.describe_feature_group(name).await?.spec;
        let sink = self.sink(&group, concurrency);
        Ok(fs_ingest::Ingest::new(group, sink, options))
    }
}

#[cfg(feature = "sql")]
impl FeatureStore {
    /// The dataset engine: the embedded engine on the embedded store, the
    /// cached or Athena engine on AWS.
    pub fn datasets(&self) -> &Arc<dyn fs_offline::DatasetEngine> {
        &self.datasets
    }

    /// A [`DatasetBuilder`](fs_offline::DatasetBuilder) of the group `name`
    /// as it is defined now.
    pub async fn dataset_builder(&self, name: &str) -> Result<fs_offline::DatasetBuilder> {
        let group = self.describe_feature_group(name).await?.spec;
        Ok(fs_offline::DatasetBuilder::from_group(group))
    }

    /// The SQL a dataset runs as (the embedded engine's dialect on the
    /// embedded store), for reading and tuning.
    pub async fn dataset_sql(&self, spec: &fs_offline::DatasetSpec) -> Result<String> {
        Ok(self.datasets.sql(spec).await?)
    }

    /// Builds a dataset and streams its rows; when datasets are kept
    /// ([`Self::dataset_artifacts`]), the artifact of the same spec over the
    /// same data is read instead, or the new one kept.
    pub async fn dataset(&self, spec: &fs_offline::DatasetSpec) -> Result<fs_offline::BatchStream> {
        match &self.artifacts {
            Some(artifacts) => Ok(fs_offline::DatasetEngine::execute(artifacts, spec).await?),
            None => self.dataset_fresh(spec).await,
        }
    }

    /// Builds a dataset and streams its rows, neither reading nor keeping
    /// an artifact.
    pub async fn dataset_fresh(
        &self,
        spec: &fs_offline::DatasetSpec,
    ) -> Result<fs_offline::BatchStream> {
        Ok(self.datasets.execute(spec).await?)
    }

    /// The artifact of a dataset: the one kept for the same spec over the
    /// same data (nothing is recomputed; the bytes are those of the first
    /// build), or one built now and kept. Its [id](fs_offline::artifact::Artifact::id)
    /// is what a training run records to be reproduced. An error where
    /// datasets are not kept (on Athena, or after
    /// [`Self::with_dataset_artifacts`]`(None)`).
    ///
    /// ```
    /// # async fn f(store: featurestore::FeatureStore) -> featurestore::Result<()> {
    /// let spec = store.dataset_builder("customers").await?.build()?;
    /// let artifact = store.dataset_artifact(&spec).await?;
    /// println!("dataset {} ({} rows)", artifact.id(), artifact.info().rows);
    /// let batches = artifact.read_all()?;
    /// # Ok(()) }
    /// ```
    pub async fn dataset_artifact(
        &self,
        spec: &fs_offline::DatasetSpec,
    ) -> Result<fs_offline::artifact::Artifact> {
        let artifacts = self.artifacts.as_ref().ok_or_else(no_artifacts)?;
        artifacts.artifact(spec).await?.ok_or_else(no_artifacts)
    }

    /// The id a dataset has over the data as it is now, building nothing;
    /// `None` where datasets are not kept.
    pub async fn dataset_id(&self, spec: &fs_offline::DatasetSpec) -> Result<Option<String>> {
        match &self.artifacts {
            Some(artifacts) => Ok(artifacts.dataset_id(spec).await?),
            None => Ok(None),
        }
    }

    /// Where datasets are kept (to list, show, remove and collect them);
    /// `None` where they are not.
    pub fn dataset_artifacts(&self) -> Option<&fs_offline::artifact::ArtifactStore> {
        self.artifacts.as_ref().map(|a| a.store())
    }

    /// Keeps datasets in `store` instead (another directory or budget), or
    /// with `None` keeps none.
    pub fn with_dataset_artifacts(
        mut self,
        store: Option<fs_offline::artifact::ArtifactStore>,
    ) -> Self {
        self.artifacts =
            store.map(|s| fs_offline::artifact::ArtifactEngine::new(self.datasets.clone(), s));
        self
    }
}

/// Why [`FeatureStore::dataset_artifact`] has nothing to return.
#[cfg(feature = "sql")]
fn no_artifacts() -> Error {
    Error::Unsupported(
        "datasets are not kept as artifacts here: they are kept on the embedded store and with \
         the cached engine on AWS, not on Athena or after with_dataset_artifacts(None)"
            .into(),
    )
}

#[cfg(all(feature = "sql", feature = "aws"))]
impl FeatureStore {
    /// Brings the local cache's copy of the group's offline data (S3) up to
    /// date: only new or changed objects are fetched, many processes may
    /// call it at once, files appear whole. See `fs_offline::cache`.
    /// The embedded store's offline files are local already: an error there.
    pub async fn sync(
        &self,
        name: &str,
        options: &fs_offline::cache::SyncOptions,
    ) -> Result<fs_offline::cache::SyncReport> {
        let cache = self.cache.as_ref().ok_or_else(|| {
            Error::Unsupported(
                "sync copies SageMaker's offline store from S3 into the cache; the embedded \
                 store's offline files are local already"
                    .into(),
            )
        })?;
        Ok(cache.sync(name, options).await?)
    }
}
