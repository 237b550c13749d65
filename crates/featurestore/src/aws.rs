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
}

impl Default for AwsOptions {
    fn default() -> Self {
        Self {
            wait_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(2),
        }
    }
}

impl AwsOptions {
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
    ) -> Arc<dyn fs_ingest::Sink> {
        let online = AwsOnlineStore::new(&self.config).with_group(group.clone());
        Arc::new(fs_ingest::OnlineStoreSink::new(Arc::new(online)).with_concurrency(concurrency))
    }
}
