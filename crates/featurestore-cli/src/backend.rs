//! Where commands run: the embedded store, or SageMaker (with `--aws`),
//! through the facade's [`FeatureStore`] handle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use featurestore::FeatureStore;
use featurestore::ingest::Sink;
use featurestore::local::Store;
use featurestore::offline::EngineOptions;
use featurestore::online::OnlineStore;
pub(crate) use featurestore::schema::registry::FeatureGroupDescription;
use featurestore::schema::registry::TimeFormat;
use featurestore::schema::{FeatureDefinition, FeatureGroup};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::cli::{Engine, Global};

/// The DescribeFeatureGroup response's shape (the one serializer of
/// descriptions, with times as every command prints them), plus where the
/// offline data lives.
pub(crate) fn group_json(desc: &FeatureGroupDescription) -> Result<Value> {
    let mut v = desc.to_json(TimeFormat::IsoMillis);
    if let (Value::Object(map), Some(loc)) = (&mut v, desc.offline_location()) {
        map.insert("OfflineStoreLocation".into(), json!(loc));
    }
    Ok(v)
}

/// DescribeFeatureGroup calls in flight while `list-feature-groups`
/// fills in what ListFeatureGroups leaves out.
pub(crate) const DESCRIBES_IN_FLIGHT: usize = 8;

/// Whether a command may create the embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Open {
    /// Create the store directory if it does not exist.
    OrCreate,
    /// The store must exist.
    Existing,
}

/// The store the commands run against.
#[derive(Debug)]
pub(crate) struct Backend {
    store: FeatureStore,
}

impl Backend {
    /// Connects as the global flags say.
    pub(crate) async fn connect(global: &Global, open: Open) -> Result<Backend> {
        Self::connect_with(global, open, Engine::Cache, EngineOptions::default()).await
    }

    /// Connects as the global flags say, building `--aws` datasets with
    /// `engine`, and datasets of the embedded engine with `options`.
    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    pub(crate) async fn connect_with(
        global: &Global,
        open: Open,
        engine: Engine,
        options: EngineOptions,
    ) -> Result<Backend> {
        if global.aws {
            #[cfg(feature = "aws")]
            return Ok(Backend {
                store: FeatureStore::aws(
                    &aws_config(global).await?,
                    aws_options(global, engine).engine_options(options),
                ),
            });
            #[cfg(not(feature = "aws"))]
            bail!(
                "--aws needs the AWS support, which this build leaves out; \
                 build with `cargo build -p featurestore-cli --features aws`"
            );
        }
        if global.endpoint_url.is_some() || global.region.is_some() {
            bail!("--endpoint-url and --region only apply with --aws");
        }
        Ok(Backend {
            store: FeatureStore::from_local_store_with(open_local(&global.store, open)?, options),
        })
    }

    /// The embedded store, already open.
    pub(crate) fn from_local(store: Arc<Store>) -> Backend {
        Backend {
            store: FeatureStore::from_local_store(store),
        }
    }

    /// The facade handle.
    pub(crate) fn store(&self) -> &FeatureStore {
        &self.store
    }

    /// The embedded store, or an error saying that `what` needs it.
    pub(crate) fn local(&self, what: &str) -> Result<&Arc<Store>> {
        match self.store.local_store() {
            Some(store) => Ok(store),
            None => bail!("{what} works on the embedded store only; drop --aws"),
        }
    }

    /// Creates a feature group (and waits until it is created).
    pub(crate) async fn create(&self, spec: FeatureGroup) -> Result<FeatureGroupDescription> {
        Ok(self.store.create_feature_group(spec).await?)
    }

    /// Describes a feature group.
    pub(crate) async fn describe(&self, name: &str) -> Result<FeatureGroupDescription> {
        Ok(self.store.describe_feature_group(name).await?)
    }

    /// Lists the feature groups, each described (features and stores).
    ///
    /// ListFeatureGroups gives names, status and times only, so each group
    /// is described too, [`DESCRIBES_IN_FLIGHT`] at a time: one table
    /// whatever the backend, for one request per group on SageMaker (the
    /// embedded store describes from memory).
    pub(crate) async fn list(&self) -> Result<Vec<FeatureGroupDescription>> {
        let groups = self.store.list_feature_groups().await?;
        futures::stream::iter(groups.iter().map(|g| self.describe(&g.name)))
            .buffered(DESCRIBES_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Adds features to a group (and waits for the update).
    pub(crate) async fn add_features(
        &self,
        name: &str,
        additions: &[FeatureDefinition],
    ) -> Result<FeatureGroupDescription> {
        Ok(self.store.add_features(name, additions).await?)
    }

    /// Deletes a feature group (and waits until it is gone).
    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        Ok(self.store.delete_feature_group(name).await?)
    }

    /// The online store.
    pub(crate) fn online(&self) -> Arc<dyn OnlineStore> {
        self.store.online()
    }

    /// The ingest sink for `group`, with `concurrency` requests in flight
    /// where writes are requests (`api`: which ones).
    pub(crate) fn sink(
        &self,
        group: &FeatureGroup,
        concurrency: usize,
        api: featurestore::WriteApi,
    ) -> Arc<dyn Sink> {
        self.store.sink_with(group, concurrency, api)
    }

    /// Where ingest checkpoints go by default.
    pub(crate) fn checkpoint_dir(&self) -> PathBuf {
        self.store.checkpoint_dir().to_path_buf()
    }

    /// Releases the store: flushes the embedded store's offline outbox and
    /// its lock.
    pub(crate) fn close(self) -> Result<()> {
        Ok(self.store.close()?)
    }
}

/// The AWS configuration the standard chain loads, with `--region` and
/// `--endpoint-url` applied.
#[cfg(feature = "aws")]
pub(crate) async fn aws_config(global: &Global) -> Result<aws_config::SdkConfig> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &global.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = &global.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        bail!("no AWS region: pass --region or set AWS_REGION");
    }
    Ok(config)
}

/// The `--aws` options from the global flags.
#[cfg(feature = "aws")]
fn aws_options(global: &Global, engine: Engine) -> featurestore::AwsOptions {
    let mut athena = featurestore::offline::athena::AthenaOptions::default();
    if let Some(w) = &global.athena_workgroup {
        athena = athena.workgroup(w.clone());
    }
    if let Some(o) = &global.athena_output {
        athena = athena.output_location(o.clone());
    }
    let mut options = featurestore::AwsOptions::default()
        .cache_dir(global.cache.clone())
        .athena(athena)
        .offline_engine(match engine {
            Engine::Cache => featurestore::OfflineEngine::Cache,
            Engine::Projected => featurestore::OfflineEngine::Projected,
            Engine::Athena => featurestore::OfflineEngine::Athena,
        });
    if let Some(url) = &global.s3_endpoint_url {
        options = options.s3_endpoint_url(url.clone());
    }
    if let Some(url) = &global.athena_endpoint_url {
        options = options.athena_endpoint_url(url.clone());
    }
    options
}

/// Opens the embedded store in `dir`.
pub(crate) fn open_local(dir: &Path, open: Open) -> Result<Arc<Store>> {
    if open == Open::Existing && !dir.is_dir() {
        bail!(
            "no feature store at {} (create a feature group first, or pass --store DIR)",
            dir.display()
        );
    }
    let store = Store::open(dir)?;
    Ok(Arc::new(store))
}

/// Reads a file to a string, naming it in the error.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))
}
