//! The dataset engines of SageMaker's offline store, made from one
//! `SdkConfig` (feature `athena`).
//!
//! [`SageMakerEngines`] says where datasets run ([`SageMakerEngines::athena`]
//! or, by default, the S3 cache) and where the clients send their requests;
//! [`build`](SageMakerEngines::build) makes the S3 and Athena clients and
//! returns the engine datasets run on, plus the [`CachedEngine`], which can
//! also sync a group without building a dataset.
//!
//! ```no_run
//! # fn f(sdk: aws_types::SdkConfig, registry: std::sync::Arc<dyn fs_schema::registry::Registry>) {
//! use fs_offline::sagemaker::SageMakerEngines;
//! let (datasets, cached) = SageMakerEngines::new("/mnt/cache/featurestore")
//!     .s3_endpoint_url("http://127.0.0.1:5000")
//!     .build(&sdk, registry);
//! # let _ = (datasets, cached); }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use fs_schema::registry::Registry;

use crate::athena::{AthenaEngine, AthenaOptions};
use crate::cache::{CacheOptions, CachedEngine};
use crate::engine::{BatchStream, DatasetEngine, EngineOptions};
use crate::error::{Error, Result};
use crate::spec::DatasetSpec;

/// How to make the dataset engines of SageMaker's offline store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SageMakerEngines {
    /// The cache directory (shared by the jobs of a machine).
    pub cache_dir: PathBuf,
    /// The cache's options (its size budget).
    pub cache: CacheOptions,
    /// `Some`: datasets run on Athena with these options; `None`: through
    /// the cache and the embedded engine.
    pub athena: Option<AthenaOptions>,
    /// Address S3 buckets by path (`endpoint/bucket/key`), as S3-compatible
    /// servers such as moto or MinIO need.
    pub s3_force_path_style: bool,
    /// Send S3 requests here instead of the configuration's endpoint.
    pub s3_endpoint_url: Option<String>,
    /// Send Athena requests here instead of the configuration's endpoint.
    pub athena_endpoint_url: Option<String>,
    /// How the embedded engine runs the cached engine's datasets (its
    /// memory limit, partitions, native paths).
    pub engine: EngineOptions,
    /// Through the cache, read only the column chunks each dataset needs
    /// ([`CachedEngine::projected`]) instead of syncing whole objects.
    pub projected: bool,
}

impl SageMakerEngines {
    /// Datasets through the cache in `cache_dir`, with the default cache
    /// options and the configuration's endpoints.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        SageMakerEngines {
            cache_dir: cache_dir.into(),
            cache: CacheOptions::default(),
            athena: None,
            s3_force_path_style: false,
            s3_endpoint_url: None,
            athena_endpoint_url: None,
            engine: EngineOptions::default(),
            projected: false,
        }
    }

    /// Runs datasets on Athena with `options` instead of the cache.
    pub fn athena(mut self, options: AthenaOptions) -> Self {
        self.athena = Some(options);
        self
    }

    /// Through the cache, reads only the column chunks each dataset needs
    /// ([`CachedEngine::projected`]).
    pub fn projected(mut self, projected: bool) -> Self {
        self.projected = projected;
        self
    }

    /// These cache options.
    pub fn cache_options(mut self, options: CacheOptions) -> Self {
        self.cache = options;
        self
    }

    /// Sends S3 requests to `url`, addressing buckets by path.
    pub fn s3_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.s3_endpoint_url = Some(url.into());
        self.s3_force_path_style = true;
        self
    }

    /// The engine datasets run on, and the cached engine (the same one
    /// when datasets go through the cache). Options Athena refuses (an
    /// output location that is not `s3://…`) do not fail here: every
    /// dataset on the Athena engine then fails with why.
    pub fn build(
        self,
        config: &aws_types::SdkConfig,
        registry: Arc<dyn Registry>,
    ) -> (Arc<dyn DatasetEngine>, Arc<CachedEngine>) {
        let s3 = self.s3_client(config);
        let cached = Arc::new(
            CachedEngine::new(registry, &self.cache_dir, self.cache.clone(), s3.clone())
                .with_options(self.engine.clone())
                .projected(self.projected),
        );
        let datasets: Arc<dyn DatasetEngine> = match &self.athena {
            Some(options) => {
                match AthenaEngine::new(self.athena_client(config), s3, options.clone()) {
                    Ok(engine) => Arc::new(engine),
                    Err(e) => Arc::new(Unavailable(e.to_string())),
                }
            }
            None => cached.clone(),
        };
        (datasets, cached)
    }

    fn s3_client(&self, config: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
        let mut builder =
            aws_sdk_s3::config::Builder::from(config).force_path_style(self.s3_force_path_style);
        if let Some(url) = &self.s3_endpoint_url {
            builder = builder.endpoint_url(url);
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    fn athena_client(&self, config: &aws_types::SdkConfig) -> aws_sdk_athena::Client {
        let mut builder = aws_sdk_athena::config::Builder::from(config);
        if let Some(url) = &self.athena_endpoint_url {
            builder = builder.endpoint_url(url);
        }
        aws_sdk_athena::Client::from_conf(builder.build())
    }
}

/// An Athena engine that could not be set up (invalid options): every
/// dataset fails with why.
#[derive(Debug)]
struct Unavailable(String);

#[async_trait::async_trait]
impl DatasetEngine for Unavailable {
    async fn execute(&self, _: &DatasetSpec) -> Result<BatchStream> {
        Err(Error::InvalidDataset(self.0.clone()))
    }

    async fn sql(&self, _: &DatasetSpec) -> Result<String> {
        Err(Error::InvalidDataset(self.0.clone()))
    }
}
