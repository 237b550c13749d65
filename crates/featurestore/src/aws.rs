//! The SageMaker backend of [`FeatureStore`](crate::FeatureStore): the
//! control plane over `aws-sdk-sagemaker`, online reads and writes over
//! `aws-sdk-sagemakerfeaturestoreruntime`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fs_online::AwsOnlineStore;
use fs_schema::FeatureGroup;
use fs_schema::aws::SageMakerRegistry;
use fs_schema::registry::Registry;

use crate::store::FeatureStore;

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
    /// Datasets the cached engine builds are kept in its `.fs-datasets`
    /// directory (see `FeatureStore::dataset_artifact`).
    pub cache_dir: std::path::PathBuf,
    /// At most this many bytes in the cache (least recently used prefixes
    /// go first), and as many again of kept datasets (least recently used
    /// first); `None`: no limit.
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
    /// How the embedded engine runs datasets built through the cache (its
    /// memory limit above all; see `fs_offline::EngineOptions`).
    #[cfg(feature = "sql")]
    pub engine: fs_offline::EngineOptions,
}

/// Where datasets of SageMaker's offline store are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfflineEngine {
    /// Sync the groups' offline data from S3 into the local cache (only
    /// what is new), then run the embedded SQL engine over it: the fast
    /// path for training jobs that read the same data again and again.
    #[default]
    Cache,
    /// Read only the column chunks each dataset needs straight from S3
    /// (ranged GETs after each object's footer), keep them in the cache
    /// so that none is fetched twice, then run the embedded SQL engine:
    /// the fast path for a job that needs a few columns of wide groups on
    /// a fresh machine. See `fs_offline::cache::Cache::sync_projected`.
    Projected,
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
            #[cfg(feature = "sql")]
            engine: fs_offline::EngineOptions::default(),
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

    /// Runs datasets built through the cache with these embedded-engine
    /// options (a memory limit, for instance).
    #[cfg(feature = "sql")]
    pub fn engine_options(mut self, options: fs_offline::EngineOptions) -> Self {
        self.engine = options;
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

impl FeatureStore {
    /// SageMaker Feature Store (or a compatible endpoint such as fs-server)
    /// through the configuration the caller built (region, credentials,
    /// `endpoint_url`). Library code never loads configuration itself.
    pub fn aws(config: &aws_types::SdkConfig, options: AwsOptions) -> Self {
        let registry: Arc<dyn Registry> = Arc::new(
            SageMakerRegistry::new(config).with_waits(options.wait_timeout, options.poll_interval),
        );
        // The engine datasets run on, and the cached engine (which also syncs).
        #[cfg(feature = "sql")]
        let (datasets, cache) = {
            let mut engines = fs_offline::sagemaker::SageMakerEngines::new(&options.cache_dir);
            engines.cache.size_budget = options.cache_size_budget;
            engines.s3_force_path_style = options.s3_force_path_style;
            engines.s3_endpoint_url = options.s3_endpoint_url.clone();
            engines.athena_endpoint_url = options.athena_endpoint_url.clone();
            engines.engine = options.engine.clone();
            engines.projected = options.offline_engine == OfflineEngine::Projected;
            if options.offline_engine == OfflineEngine::Athena {
                engines = engines.athena(options.athena.clone());
            }
            let (datasets, cached) = engines.build(config, registry.clone());
            (datasets, Some(cached))
        };
        // Datasets the cached engine builds are kept beside the cache, under
        // its budget (a name no bucket can have, as the cache's own `.fs-cache`).
        #[cfg(feature = "sql")]
        let artifacts = (options.offline_engine != OfflineEngine::Athena).then(|| {
            let mut keep = fs_offline::artifact::ArtifactOptions::default();
            keep.size_budget = options.cache_size_budget;
            fs_offline::artifact::ArtifactEngine::new(
                datasets.clone(),
                fs_offline::artifact::ArtifactStore::new(
                    options.cache_dir.join(".fs-datasets"),
                    keep,
                ),
            )
        });
        let sink_config = config.clone();
        FeatureStore {
            // Fetches definitions it has not seen with DescribeFeatureGroup.
            online: Arc::new(AwsOnlineStore::new(config)),
            #[cfg(feature = "sql")]
            datasets,
            #[cfg(feature = "sql")]
            cache,
            #[cfg(feature = "sql")]
            artifacts,
            sinks: Arc::new(move |group: &FeatureGroup, concurrency, api| {
                fs_ingest::sagemaker_sink(&sink_config, group, concurrency, api)
            }),
            #[cfg(feature = "local")]
            local: None,
            checkpoint_dir: PathBuf::from(".featurestore-checkpoints"),
            registry,
        }
    }
}
