//! The SageMaker backend of [`FeatureStore`](crate::FeatureStore): the
//! control plane over `aws-sdk-sagemaker`, online reads and writes over
//! `aws-sdk-sagemakerfeaturestoreruntime`.

use std::sync::Arc;
use std::time::Duration;

use fs_online::{AwsOnlineStore, OnlineStore};
use fs_schema::aws::{ControlPlane, FeatureGroupDescription, FeatureGroupStatus};
use fs_schema::{FeatureDefinition, FeatureGroup};

use crate::store::{GroupInfo, GroupSummary, Result};

/// Options of the SageMaker backend. Region, credentials and endpoint come
/// from the `SdkConfig` the caller passes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AwsOptions {
    /// How long create, update and delete wait for the group's status.
    pub wait_timeout: Duration,
    /// How often they poll it.
    pub poll_interval: Duration,
    /// Where datasets are built (feature `sql`).
    pub offline_engine: OfflineEngine,
    /// The read-optimised cache of offline data (default
    /// `./.featurestore-cache`); share it between the jobs of a machine.
    pub cache_dir: std::path::PathBuf,
    /// At most this many bytes in the cache (least recently used prefixes
    /// go first); `None`: no limit.
    pub cache_size_budget: Option<u64>,
    /// Address S3 buckets by path (`endpoint/bucket/key`), as S3-compatible
    /// servers such as moto or MinIO need.
    pub s3_force_path_style: bool,
    /// Send S3 requests here instead of the configuration's endpoint (an
    /// S3-compatible server beside a SageMaker-compatible one).
    pub s3_endpoint_url: Option<String>,
    /// Send Athena requests here instead of the configuration's endpoint.
    pub athena_endpoint_url: Option<String>,
    /// Athena settings: workgroup, output location, polling, deadline.
    #[cfg(feature = "sql")]
    pub athena: fs_offline::athena::AthenaOptions,
}

/// Where datasets of SageMaker's offline store are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfflineEngine {
    /// Sync the groups' offline data from S3 into the local cache (only
    /// what is new), then run the embedded SQL engine over it: the fast
    /// path for training jobs that read the same data again and again.
    #[default]
    Cache,
    /// Run the dataset's SQL on Amazon Athena over the Glue tables
    /// SageMaker keeps; large results come back as Parquet (UNLOAD).
    Athena,
}

impl Default for AwsOptions {
    fn default() -> Self {
        Self {
            wait_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(2),
            offline_engine: OfflineEngine::default(),
            cache_dir: std::path::PathBuf::from(".featurestore-cache"),
            cache_size_budget: None,
            s3_force_path_style: false,
            s3_endpoint_url: None,
            athena_endpoint_url: None,
            #[cfg(feature = "sql")]
            athena: fs_offline::athena::AthenaOptions::default(),
        }
    }
}

impl AwsOptions {
    /// Builds datasets with `engine`.
    pub fn offline_engine(mut self, engine: OfflineEngine) -> Self {
        self.offline_engine = engine;
        self
    }

    /// Keeps the offline cache in `dir`.
    pub fn cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cache_dir = dir.into();
        self
    }

    /// Addresses S3 buckets by path (for S3-compatible servers).
    pub fn s3_force_path_style(mut self, yes: bool) -> Self {
        self.s3_force_path_style = yes;
        self
    }

    /// Sends S3 requests to `url`, addressing buckets by path (for
    /// S3-compatible servers).
    pub fn s3_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.s3_endpoint_url = Some(url.into());
        self.s3_force_path_style = true;
        self
    }

    /// Sends Athena requests to `url`.
    pub fn athena_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.athena_endpoint_url = Some(url.into());
        self
    }

    /// These Athena settings.
    #[cfg(feature = "sql")]
    pub fn athena(mut self, athena: fs_offline::athena::AthenaOptions) -> Self {
        self.athena = athena;
        self
    }

    /// Waits for status changes at most `timeout`, polling every `interval`.
    pub fn wait(mut self, timeout: Duration, interval: Duration) -> Self {
        self.wait_timeout = timeout;
        self.poll_interval = interval;
        self
    }
}

#[derive(Debug)]
pub(crate) struct AwsBackend {
    control: ControlPlane,
    online: Arc<AwsOnlineStore>,
    #[cfg_attr(not(any(feature = "local", feature = "sql")), allow(dead_code))]
    config: aws_types::SdkConfig,
    options: AwsOptions,
}

fn info(d: FeatureGroupDescription) -> GroupInfo {
    GroupInfo {
        offline_location: d.resolved_output_s3_uri().map(str::to_owned),
        arn: d.arn,
        status: d.status.as_str().to_owned(),
        creation_time: d.creation_time.to_rfc3339(),
        last_modified_time: d.last_modified_time.map(|t| t.to_rfc3339()),
        spec: d.spec,
    }
}

impl AwsBackend {
    pub(crate) fn new(config: &aws_types::SdkConfig, options: AwsOptions) -> Self {
        AwsBackend {
            control: ControlPlane::new(config),
            // Fetches definitions it has not seen with DescribeFeatureGroup.
            online: Arc::new(AwsOnlineStore::new(config)),
            config: config.clone(),
            options,
        }
    }

    pub(crate) async fn create(&self, spec: FeatureGroup) -> Result<GroupInfo> {
        let name = spec.feature_group_name.clone();
        self.control.create_feature_group(&spec).await?;
        let d = self
            .control
            .wait_for_status(
                &name,
                FeatureGroupStatus::Created,
                self.options.wait_timeout,
                self.options.poll_interval,
            )
            .await?;
        Ok(info(d))
    }

    pub(crate) async fn describe(&self, name: &str) -> Result<GroupInfo> {
        Ok(info(self.control.describe_feature_group(name).await?))
    }

    pub(crate) async fn list(&self) -> Result<Vec<GroupSummary>> {
        Ok(self
            .control
            .list_feature_groups()
            .await?
            .into_iter()
            .map(|s| GroupSummary {
                status: s.status.as_str().to_owned(),
                creation_time: s.creation_time.to_rfc3339(),
                name: s.name,
                arn: s.arn,
                details: None,
            })
            .collect())
    }

    pub(crate) async fn add_features(
        &self,
        name: &str,
        additions: &[FeatureDefinition],
    ) -> Result<GroupInfo> {
        self.control.add_features(name, additions).await?;
        let d = self
            .control
            .wait_for_update(name, self.options.wait_timeout, self.options.poll_interval)
            .await?;
        Ok(info(d))
    }

    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        self.control.delete_feature_group(name).await?;
        self.control
            .wait_for_deleted(name, self.options.wait_timeout, self.options.poll_interval)
            .await?;
        Ok(())
    }

    pub(crate) fn online(&self) -> Arc<dyn OnlineStore> {
        self.online.clone()
    }

    #[cfg(feature = "local")]
    pub(crate) fn sink(
        &self,
        group: &FeatureGroup,
        concurrency: usize,
        api: crate::store::WriteApi,
    ) -> Arc<dyn fs_ingest::Sink> {
        use fs_ingest::aws_sdk_sagemakerfeaturestoreruntime as runtime;
        match api {
            crate::store::WriteApi::PutRecord => {
                let online = AwsOnlineStore::new(&self.config).with_group(group.clone());
                Arc::new(
                    fs_ingest::OnlineStoreSink::new(Arc::new(online)).with_concurrency(concurrency),
                )
            }
            crate::store::WriteApi::BatchWriteRecord => {
                // The sink's own policy retries entries (and counts them).
                let config = runtime::config::Builder::from(&self.config)
                    .retry_config(runtime::config::retry::RetryConfig::disabled())
                    .build();
                Arc::new(
                    fs_ingest::BatchWriteSink::new(runtime::Client::from_conf(config))
                        .with_concurrency(concurrency),
                )
            }
        }
    }
}

#[cfg(feature = "sql")]
mod offline {
    //! Datasets and the cache on SageMaker's offline store.

    use fs_offline::DatasetSpec;
    use fs_offline::athena::{AthenaEngine, Fetch};
    use fs_offline::aws_sdk_s3;
    use fs_offline::cache::{Cache, CacheOptions, CachedPrefix, SyncOptions, SyncReport};
    use fs_offline::local::LocalEngine;
    use fs_offline::scan::BatchStream;
    use fs_offline::table::OfflineTable;
    use fs_schema::EventTime;
    use futures::TryStreamExt;

    use super::{AwsBackend, OfflineEngine};
    use crate::store::{Error, Result, spec_groups};

    impl AwsBackend {
        fn s3(&self) -> aws_sdk_s3::Client {
            let mut config = aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(self.options.s3_force_path_style);
            if let Some(url) = &self.options.s3_endpoint_url {
                config = config.endpoint_url(url);
            }
            aws_sdk_s3::Client::from_conf(config.build())
        }

        fn athena(&self) -> Result<AthenaEngine> {
            let mut config = fs_offline::aws_sdk_athena::config::Builder::from(&self.config);
            if let Some(url) = &self.options.athena_endpoint_url {
                config = config.endpoint_url(url);
            }
            let athena = fs_offline::aws_sdk_athena::Client::from_conf(config.build());
            Ok(AthenaEngine::new(
                athena,
                self.s3(),
                self.options.athena.clone(),
            )?)
        }

        fn cache(&self) -> Result<Cache> {
            let mut options = CacheOptions::default();
            if let Some(budget) = self.options.cache_size_budget {
                options = options.size_budget(budget);
            }
            Ok(Cache::open(&self.options.cache_dir, options)?)
        }

        /// The resolved S3 location of `name`'s offline data.
        async fn offline_uri(&self, name: &str) -> Result<(fs_schema::FeatureGroup, String)> {
            let info = self.describe(name).await?;
            let uri = info.offline_location.ok_or_else(|| {
                Error::Unsupported(format!(
                    "feature group `{name}` has no offline store, so it has no datasets"
                ))
            })?;
            Ok((info.spec, uri))
        }

        /// Brings the cache's copy of `name`'s offline data up to date.
        pub(crate) async fn sync(&self, name: &str, options: &SyncOptions) -> Result<SyncReport> {
            let (_, uri) = self.offline_uri(name).await?;
            Ok(self.cache()?.sync(&self.s3(), &uri, options).await?)
        }

        /// Syncs every group `spec` reads and returns the embedded engine
        /// over the cached copies, with the guards that keep eviction away.
        async fn cached_engine(
            &self,
            spec: &DatasetSpec,
        ) -> Result<(LocalEngine, Vec<CachedPrefix>)> {
            let cache = self.cache()?;
            let s3 = self.s3();
            let base = spec.base_group().map(|g| g.feature_group_name.clone());
            let mut engine = LocalEngine::new();
            let mut guards = Vec::new();
            for name in spec_groups(spec) {
                let (group, uri) = self.offline_uri(name).await?;
                // The base group's event-time range limits what is fetched;
                // joined groups need their history up to the range's end.
                let range: (Option<EventTime>, Option<EventTime>) = if base.as_deref() == Some(name)
                {
                    (spec.event_time_from, spec.event_time_to)
                } else {
                    (None, None)
                };
                let options = SyncOptions::new().event_time_range(range.0, range.1);
                let (_, opened) = cache.sync_and_open(&s3, &uri, &options).await?;
                engine.register(OfflineTable::new(group, opened.path()));
                guards.push(opened);
            }
            Ok((engine, guards))
        }

        pub(crate) async fn dataset(&self, spec: &DatasetSpec) -> Result<BatchStream> {
            match self.options.offline_engine {
                OfflineEngine::Cache => {
                    let (engine, guards) = self.cached_engine(spec).await?;
                    let stream = engine.execute(spec).await?;
                    let schema = stream.schema();
                    // The cached files stay (no eviction) while the stream reads them.
                    Ok(BatchStream::new(
                        schema,
                        stream.inspect_ok(move |_| {
                            let _ = &guards;
                        }),
                    ))
                }
                OfflineEngine::Athena => {
                    let result = self
                        .athena()?
                        .run(
                            spec,
                            Fetch::Auto {
                                expected_rows: None,
                            },
                        )
                        .await?;
                    let schema = result.schema();
                    Ok(BatchStream::new(
                        schema,
                        result
                            .into_stream()
                            .map_err(|e| fs_offline::Error::Athena(Box::new(e))),
                    ))
                }
            }
        }

        pub(crate) async fn dataset_sql(&self, spec: &DatasetSpec) -> Result<String> {
            match self.options.offline_engine {
                OfflineEngine::Cache => {
                    let (engine, _guards) = self.cached_engine(spec).await?;
                    Ok(engine.sql(spec).await?)
                }
                OfflineEngine::Athena => Ok(self.athena()?.render(spec)?),
            }
        }
    }
}
