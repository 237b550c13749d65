//! [`FeatureStore`]: one handle for the embedded store and for SageMaker.
//!
//! The handle only wires the workspace's crates together: feature-group
//! management goes to `fs_local::Store` or to `fs_schema::aws::ControlPlane`,
//! online reads and writes to an [`OnlineStore`], ingest to `fs_ingest` with
//! the right sink. The calls and their results are the same for both
//! backends, so pipeline code does not change between a laptop and AWS.

#[cfg(feature = "local")]
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs_online::OnlineStore;
use fs_schema::{FeatureDefinition, FeatureGroup};

#[cfg(feature = "local")]
use fs_local::{GroupDescription, Store};

/// What went wrong, from whichever crate did the work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A definition, record or value problem, or a control-plane call.
    #[error(transparent)]
    Schema(#[from] fs_schema::Error),
    /// The embedded store.
    #[cfg(feature = "local")]
    #[error(transparent)]
    Local(#[from] fs_local::Error),
    /// An online read or write.
    #[error(transparent)]
    Online(#[from] fs_online::Error),
    /// An ingest run.
    #[cfg(feature = "local")]
    #[error(transparent)]
    Ingest(#[from] fs_ingest::Error),
    /// An offline read: a dataset or a scan.
    #[cfg(feature = "sql")]
    #[error(transparent)]
    Offline(#[from] fs_offline::Error),
    /// A dataset run on Athena.
    #[cfg(all(feature = "sql", feature = "aws"))]
    #[error(transparent)]
    Athena(#[from] fs_offline::athena::AthenaError),
    /// The local cache of S3 offline data.
    #[cfg(all(feature = "sql", feature = "aws"))]
    #[error(transparent)]
    Cache(#[from] fs_offline::cache::CacheError),
    /// The call needs the other backend (for example flushing the embedded
    /// store's outbox on AWS).
    #[error("{0}")]
    Unsupported(String),
}

/// A `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A feature group as [`FeatureStore`] describes it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    /// The definition (as created, plus features added since).
    pub spec: FeatureGroup,
    /// The group's ARN.
    pub arn: String,
    /// `Creating`, `Created`, `CreateFailed`, `Deleting` or `DeleteFailed`.
    pub status: String,
    /// When the group was created, ISO-8601 UTC.
    pub creation_time: String,
    /// When features were last added, ISO-8601 UTC.
    pub last_modified_time: Option<String>,
    /// Where the offline store's data lives: a local directory (embedded
    /// store) or the resolved S3 URI (SageMaker).
    pub offline_location: Option<String>,
}

/// One feature group in a listing.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    /// The group's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Its status.
    pub status: String,
    /// When it was created, ISO-8601 UTC.
    pub creation_time: String,
    /// Number of features and whether the online and offline stores are
    /// enabled: known for the embedded store (SageMaker's list does not say).
    pub details: Option<(usize, bool, bool)>,
}

#[cfg(feature = "local")]
fn iso_millis(ms: i64) -> String {
    fs_schema::EventTime::from_millis(ms)
        .map(|t| t.to_iso())
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(feature = "local")]
impl GroupInfo {
    fn from_local(desc: &GroupDescription, store: &Store) -> GroupInfo {
        GroupInfo {
            spec: desc.spec.clone(),
            arn: desc.arn.clone(),
            status: desc.status().to_owned(),
            creation_time: iso_millis(desc.creation_time_ms),
            last_modified_time: desc.last_modified_time_ms.map(iso_millis),
            offline_location: desc
                .offline_data_dir
                .as_ref()
                .map(|rel| store.dir().join(rel).display().to_string()),
        }
    }
}

/// The store the calls go to.
#[derive(Debug)]
enum Backend {
    #[cfg(feature = "local")]
    Local(Arc<Store>),
    #[cfg(feature = "aws")]
    Aws(Box<crate::aws::AwsBackend>),
}

/// One handle on a feature store: the embedded store in a directory
/// ([`FeatureStore::local`]) or SageMaker Feature Store
/// ([`FeatureStore::aws`], feature `aws`).
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
#[derive(Debug)]
pub struct FeatureStore {
    backend: Backend,
}

impl FeatureStore {
    /// Opens (creating if needed) the embedded store in `dir`. Only one
    /// process may hold a store directory at a time.
    #[cfg(feature = "local")]
    pub fn local(dir: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_local_store(Arc::new(Store::open(dir)?)))
    }

    /// Wraps an embedded store that is already open.
    #[cfg(feature = "local")]
    pub fn from_local_store(store: Arc<Store>) -> Self {
        FeatureStore {
            backend: Backend::Local(store),
        }
    }

    /// SageMaker Feature Store (or a compatible endpoint such as fs-server)
    /// through the configuration the caller built (region, credentials,
    /// `endpoint_url`). Library code never loads configuration itself.
    #[cfg(feature = "aws")]
    pub fn aws(config: &aws_types::SdkConfig, options: crate::aws::AwsOptions) -> Self {
        FeatureStore {
            backend: Backend::Aws(Box::new(crate::aws::AwsBackend::new(config, options))),
        }
    }

    /// The embedded store, if this handle is on one.
    #[cfg(feature = "local")]
    pub fn local_store(&self) -> Option<&Arc<Store>> {
        match &self.backend {
            Backend::Local(store) => Some(store),
            #[cfg(feature = "aws")]
            Backend::Aws(_) => None,
        }
    }

    /// Creates a feature group and waits until it is `Created`.
    pub async fn create_feature_group(&self, spec: FeatureGroup) -> Result<GroupInfo> {
        match &self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => {
                let desc = store.create_feature_group(spec)?;
                Ok(GroupInfo::from_local(&desc, store))
            }
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.create(spec).await,
        }
    }

    /// Describes a feature group.
    pub async fn describe_feature_group(&self, name: &str) -> Result<GroupInfo> {
        match &self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => {
                let desc = store.describe_feature_group(name)?;
                Ok(GroupInfo::from_local(&desc, store))
            }
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.describe(name).await,
        }
    }

    /// Lists every feature group.
    pub async fn list_feature_groups(&self) -> Result<Vec<GroupSummary>> {
        match &self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => Ok(store
                .list_feature_groups()
                .iter()
                .map(|d| GroupSummary {
                    name: d.spec.feature_group_name.clone(),
                    arn: d.arn.clone(),
                    status: d.status().to_owned(),
                    creation_time: iso_millis(d.creation_time_ms),
                    details: Some((
                        d.spec.feature_definitions.len(),
                        d.spec.online_enabled(),
                        d.spec.offline_enabled(),
                    )),
                })
                .collect()),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.list().await,
        }
    }

    /// Adds features to a group (existing features cannot change) and waits
    /// for the update to finish.
    pub async fn add_features(
        &self,
        name: &str,
        additions: &[FeatureDefinition],
    ) -> Result<GroupInfo> {
        match &self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => {
                let desc = store.add_features(name, additions)?;
                Ok(GroupInfo::from_local(&desc, store))
            }
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.add_features(name, additions).await,
        }
    }

    /// Deletes a feature group and waits until it is gone. Offline data
    /// stays where it is (as on SageMaker).
    pub async fn delete_feature_group(&self, name: &str) -> Result<()> {
        match &self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => Ok(store.delete_feature_group(name)?),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.delete(name).await,
        }
    }

    /// The online store: typed Arrow reads with
    /// [`OnlineStoreExt`](fs_online::OnlineStoreExt), puts and deletes.
    pub fn online(&self) -> Arc<dyn OnlineStore> {
        match &self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => Arc::new(fs_online::LocalOnlineStore::new(store.clone())),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.online(),
        }
    }

    /// The sink an ingest of `group` writes through: the embedded store's
    /// bulk writer, or PutRecord requests with `concurrency` in flight.
    #[cfg(feature = "local")]
    pub fn sink(&self, group: &FeatureGroup, concurrency: usize) -> Arc<dyn fs_ingest::Sink> {
        self.sink_with(group, concurrency, WriteApi::PutRecord)
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
    #[cfg(feature = "local")]
    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    pub fn sink_with(
        &self,
        group: &FeatureGroup,
        concurrency: usize,
        api: WriteApi,
    ) -> Arc<dyn fs_ingest::Sink> {
        match &self.backend {
            Backend::Local(store) => Arc::new(fs_ingest::LocalSink::new(store.clone())),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.sink(group, concurrency, api),
        }
    }

    /// Ingests files (CSV, Parquet, JSON Lines; files, directories or
    /// globs) into the group `name`; see [`fs_ingest::Ingest`]. Rows that
    /// fail are in the report (and its failures file), not an error.
    #[cfg(feature = "local")]
    pub async fn ingest(
        &self,
        name: &str,
        inputs: &[PathBuf],
        options: fs_ingest::IngestOptions,
        concurrency: usize,
    ) -> Result<fs_ingest::IngestReport> {
        let group = self.describe_feature_group(name).await?.spec;
        let sink = self.sink(&group, concurrency);
        Ok(fs_ingest::Ingest::new(group, sink, options)
            .run(inputs)
            .await?)
    }

    /// Writes the embedded store's offline outbox to Parquet now (it is
    /// also flushed by size and on close). SageMaker does this on its own,
    /// so on AWS this is an error.
    #[cfg(feature = "local")]
    pub fn flush(&self) -> Result<fs_local::FlushReport> {
        match &self.backend {
            Backend::Local(store) => Ok(store.flush()?),
            #[cfg(feature = "aws")]
            Backend::Aws(_) => Err(Error::Unsupported(
                "flush applies to the embedded store; SageMaker writes the offline store itself"
                    .into(),
            )),
        }
    }

    /// Releases the store: the embedded store flushes its offline outbox to
    /// Parquet and releases its lock (the lock when the last handle on the
    /// store, such as an [`online`](Self::online) store, is dropped).
    pub fn close(self) -> Result<()> {
        match self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => match Arc::try_unwrap(store) {
                Ok(store) => Ok(store.close()?),
                // Other handles (an online store, a sink) keep it open; the
                // lock goes with the last of them, the outbox goes now.
                Err(shared) => {
                    shared.flush()?;
                    Ok(())
                }
            },
            #[cfg(feature = "aws")]
            Backend::Aws(_) => Ok(()),
        }
    }
}

#[cfg(feature = "sql")]
impl FeatureStore {
    /// A [`DatasetBuilder`](fs_offline::DatasetBuilder) of the group `name`
    /// as it is defined now.
    pub async fn dataset_builder(&self, name: &str) -> Result<fs_offline::DatasetBuilder> {
        let group = self.describe_feature_group(name).await?.spec;
        Ok(fs_offline::DatasetBuilder::from_group(group))
    }

    /// The SQL a dataset runs as (the embedded engine's dialect on the
    /// embedded store), for reading and tuning.
    pub async fn dataset_sql(&self, spec: &fs_offline::DatasetSpec) -> Result<String> {
        match &self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => Ok(local_engine(store, spec)?.sql(spec).await?),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.dataset_sql(spec).await,
        }
    }

    /// Builds a dataset and streams its rows: on the embedded store with the
    /// embedded SQL engine over its offline Parquet files.
    pub async fn dataset(
        &self,
        spec: &fs_offline::DatasetSpec,
    ) -> Result<fs_offline::scan::BatchStream> {
        match &self.backend {
            #[cfg(feature = "local")]
            Backend::Local(store) => Ok(local_engine(store, spec)?.execute(spec).await?),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.dataset(spec).await,
        }
    }
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
        match &self.backend {
            Backend::Aws(aws) => aws.sync(name, options).await,
            #[cfg(feature = "local")]
            Backend::Local(_) => Err(Error::Unsupported(
                "sync copies SageMaker's offline store from S3; the embedded store's offline files are local already".into(),
            )),
        }
    }
}

/// The groups a dataset reads: its base group and every joined group.
#[cfg(feature = "sql")]
pub(crate) fn spec_groups(spec: &fs_offline::DatasetSpec) -> Vec<&str> {
    let mut names: Vec<&str> = spec
        .base_group()
        .into_iter()
        .chain(spec.joins.iter().map(|j| &j.group))
        .map(|g| g.feature_group_name.as_str())
        .collect();
    names.dedup();
    names
}

/// The embedded engine over the embedded store's offline tables of the
/// groups `spec` reads.
#[cfg(all(feature = "sql", feature = "local"))]
fn local_engine(
    store: &Store,
    spec: &fs_offline::DatasetSpec,
) -> Result<fs_offline::local::LocalEngine> {
    let mut engine = fs_offline::local::LocalEngine::new();
    for group in spec_groups(spec) {
        engine.register(local_table(store, group)?);
    }
    Ok(engine)
}

/// The embedded store's offline table of `name`, read with the group's
/// current definition.
#[cfg(all(feature = "sql", feature = "local"))]
fn local_table(store: &Store, name: &str) -> Result<fs_offline::table::OfflineTable> {
    let desc = store.describe_feature_group(name)?;
    let dir = store.offline_data_dir(name)?.ok_or_else(|| {
        Error::Unsupported(format!(
            "feature group `{name}` has no offline store, so it has no datasets"
        ))
    })?;
    Ok(fs_offline::table::OfflineTable::new(desc.spec.clone(), dir))
}

/// Which SageMaker API an ingest writes rows with (see
/// [`FeatureStore::sink_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteApi {
    /// PutRecord: one request per row. Throughput is requests in flight
    /// over the service's latency.
    #[default]
    PutRecord,
    /// BatchWriteRecord: up to 25 rows per request, entries that fail with
    /// a retryable code sent again; about 25 times PutRecord's throughput
    /// at the same requests in flight.
    BatchWriteRecord,
}
