//! Where commands run: the embedded store, or SageMaker (with `--aws`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use featurestore::ingest::{LocalSink, Sink};
use featurestore::local::{GroupDescription, Store};
use featurestore::online::{LocalOnlineStore, OnlineStore};
use featurestore::schema::{EventTime, FeatureDefinition, FeatureGroup};
use serde_json::{Value, json};

use crate::cli::Global;

/// A feature group as the commands show it.
#[derive(Debug, Clone)]
pub(crate) struct GroupInfo {
    pub(crate) spec: FeatureGroup,
    pub(crate) arn: String,
    pub(crate) status: String,
    /// ISO-8601 UTC.
    pub(crate) creation_time: String,
    pub(crate) last_modified_time: Option<String>,
    /// The offline store's data location: a local directory or an S3 URI.
    pub(crate) offline_location: Option<String>,
}

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

    /// The DescribeFeatureGroup response's shape: the CreateFeatureGroup
    /// fields plus ARN, status and times.
    pub(crate) fn to_json(&self) -> Result<Value> {
        let mut v: Value = serde_json::from_str(&self.spec.to_json()?)?;
        if let Value::Object(map) = &mut v {
            map.insert("FeatureGroupArn".into(), json!(self.arn));
            map.insert("FeatureGroupStatus".into(), json!(self.status));
            map.insert("CreationTime".into(), json!(self.creation_time));
            if let Some(t) = &self.last_modified_time {
                map.insert("LastModifiedTime".into(), json!(t));
            }
            if let Some(loc) = &self.offline_location {
                map.insert("OfflineStoreLocation".into(), json!(loc));
            }
        }
        Ok(v)
    }
}

/// One line of `list-feature-groups`.
#[derive(Debug, Clone)]
pub(crate) struct GroupSummary {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) status: String,
    pub(crate) creation_time: String,
    /// Known for the embedded store (SageMaker's list does not say).
    pub(crate) details: Option<(usize, bool, bool)>,
}

fn iso_millis(ms: i64) -> String {
    EventTime::from_millis(ms)
        .map(|t| t.to_iso())
        .unwrap_or_else(|_| ms.to_string())
}

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
pub(crate) enum Backend {
    /// The embedded store.
    Local(Arc<Store>),
    /// SageMaker Feature Store (or a compatible endpoint).
    #[cfg(feature = "aws")]
    Aws(Box<aws::AwsBackend>),
}

impl Backend {
    /// Connects as the global flags say.
    pub(crate) async fn connect(global: &Global, open: Open) -> Result<Backend> {
        if global.aws {
            #[cfg(feature = "aws")]
            return Ok(Backend::Aws(Box::new(
                aws::AwsBackend::connect(global).await?,
            )));
            #[cfg(not(feature = "aws"))]
            bail!(
                "--aws needs the AWS support, which this build leaves out; \
                 build with `cargo build -p featurestore-cli --features aws`"
            );
        }
        if global.endpoint_url.is_some() || global.region.is_some() {
            bail!("--endpoint-url and --region only apply with --aws");
        }
        Ok(Backend::Local(open_local(&global.store, open)?))
    }

    /// The embedded store, or an error saying that `what` needs it.
    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    pub(crate) fn local(&self, what: &str) -> Result<&Arc<Store>> {
        match self {
            Backend::Local(store) => Ok(store),
            #[cfg(feature = "aws")]
            Backend::Aws(_) => bail!("{what} works on the embedded store only; drop --aws"),
        }
    }

    pub(crate) async fn create(&self, spec: FeatureGroup) -> Result<GroupInfo> {
        match self {
            Backend::Local(store) => {
                let desc = store.create_feature_group(spec)?;
                Ok(GroupInfo::from_local(&desc, store))
            }
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.create(spec).await,
        }
    }

    pub(crate) async fn describe(&self, name: &str) -> Result<GroupInfo> {
        match self {
            Backend::Local(store) => {
                let desc = store.describe_feature_group(name)?;
                Ok(GroupInfo::from_local(&desc, store))
            }
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.describe(name).await,
        }
    }

    pub(crate) async fn list(&self) -> Result<Vec<GroupSummary>> {
        match self {
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

    pub(crate) async fn add_features(
        &self,
        name: &str,
        additions: &[FeatureDefinition],
    ) -> Result<GroupInfo> {
        match self {
            Backend::Local(store) => {
                let desc = store.add_features(name, additions)?;
                Ok(GroupInfo::from_local(&desc, store))
            }
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.add_features(name, additions).await,
        }
    }

    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        match self {
            Backend::Local(store) => Ok(store.delete_feature_group(name)?),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.delete(name).await,
        }
    }

    /// The online store.
    pub(crate) fn online(&self) -> Arc<dyn OnlineStore> {
        match self {
            Backend::Local(store) => Arc::new(LocalOnlineStore::new(store.clone())),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.online.clone(),
        }
    }

    /// The ingest sink for `group`, with `concurrency` puts in flight where
    /// puts are requests.
    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    pub(crate) fn sink(&self, group: &FeatureGroup, concurrency: usize) -> Arc<dyn Sink> {
        match self {
            Backend::Local(store) => Arc::new(LocalSink::new(store.clone())),
            #[cfg(feature = "aws")]
            Backend::Aws(aws) => aws.sink(group, concurrency),
        }
    }

    /// Where ingest checkpoints go by default.
    pub(crate) fn checkpoint_dir(&self) -> PathBuf {
        match self {
            Backend::Local(store) => store.dir().join("checkpoints"),
            #[cfg(feature = "aws")]
            Backend::Aws(_) => PathBuf::from(".featurestore-checkpoints"),
        }
    }

    /// Releases the store: flushes the embedded store's offline outbox and
    /// its lock.
    pub(crate) fn close(self) -> Result<()> {
        match self {
            Backend::Local(store) => match Arc::try_unwrap(store) {
                Ok(store) => Ok(store.close()?),
                Err(_) => Ok(()),
            },
            #[cfg(feature = "aws")]
            Backend::Aws(_) => Ok(()),
        }
    }
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

#[cfg(feature = "aws")]
mod aws {
    //! The `--aws` backend: the control plane and runtime SDK clients.

    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::{Result, bail};
    use featurestore::ingest::{OnlineStoreSink, Sink};
    use featurestore::online::AwsOnlineStore;
    use featurestore::schema::aws::{ControlPlane, FeatureGroupDescription, FeatureGroupStatus};
    use featurestore::schema::{FeatureDefinition, FeatureGroup};

    use super::{GroupInfo, GroupSummary};
    use crate::cli::Global;

    const WAIT: Duration = Duration::from_secs(600);
    const POLL: Duration = Duration::from_secs(2);

    #[derive(Debug)]
    pub(crate) struct AwsBackend {
        control: ControlPlane,
        pub(super) online: Arc<AwsOnlineStore>,
        config: aws_config::SdkConfig,
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
        pub(crate) async fn connect(global: &Global) -> Result<AwsBackend> {
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
            Ok(AwsBackend {
                control: ControlPlane::new(&config),
                online: Arc::new(AwsOnlineStore::new(&config)),
                config,
            })
        }

        pub(crate) async fn create(&self, spec: FeatureGroup) -> Result<GroupInfo> {
            let name = spec.feature_group_name.clone();
            self.control.create_feature_group(&spec).await?;
            let d = self
                .control
                .wait_for_status(&name, FeatureGroupStatus::Created, WAIT, POLL)
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
            Ok(info(self.control.wait_for_update(name, WAIT, POLL).await?))
        }

        pub(crate) async fn delete(&self, name: &str) -> Result<()> {
            self.control.delete_feature_group(name).await?;
            self.control.wait_for_deleted(name, WAIT, POLL).await?;
            Ok(())
        }

        pub(crate) fn sink(&self, group: &FeatureGroup, concurrency: usize) -> Arc<dyn Sink> {
            let online = AwsOnlineStore::new(&self.config).with_group(group.clone());
            Arc::new(OnlineStoreSink::new(Arc::new(online)).with_concurrency(concurrency))
        }
    }
}
