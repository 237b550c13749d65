//! [`SageMakerRegistry`]: the [`Registry`] over the SageMaker control plane.

use std::time::Duration;

use aws_types::SdkConfig;

use super::ControlPlane;
use crate::aws_error::AwsErrorKind;
use crate::registry::{
    FeatureGroupDescription, FeatureGroupStatus, FeatureGroupSummary, Registry, RegistryError,
    Result,
};
use crate::{Error, FeatureDefinition, FeatureGroup};

/// The [`Registry`] of SageMaker Feature Store (or a compatible endpoint
/// such as fs-server): each change is a control-plane call followed by
/// DescribeFeatureGroup polls every `poll_interval` until the change has
/// finished, for at most `wait_timeout`.
///
/// ```no_run
/// # async fn example(config: aws_types::SdkConfig, group: fs_schema::FeatureGroup) -> fs_schema::registry::Result<()> {
/// use std::time::Duration;
/// use fs_schema::aws::SageMakerRegistry;
/// use fs_schema::registry::Registry;
///
/// let registry = SageMakerRegistry::new(&config)
///     .with_waits(Duration::from_secs(600), Duration::from_secs(2));
/// let created = registry.create_feature_group(group).await?;
/// assert_eq!(created.status.as_str(), "Created");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SageMakerRegistry {
    control: ControlPlane,
    wait_timeout: Duration,
    poll_interval: Duration,
}

impl SageMakerRegistry {
    /// The registry over a SageMaker client built from `config`, waiting at
    /// most 10 minutes for each change and polling every 2 seconds.
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_control_plane(ControlPlane::new(config))
    }

    /// The registry over `control`.
    pub fn from_control_plane(control: ControlPlane) -> Self {
        SageMakerRegistry {
            control,
            wait_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(2),
        }
    }

    /// Waits at most `timeout` for each change, polling every `interval`.
    pub fn with_waits(mut self, timeout: Duration, interval: Duration) -> Self {
        self.wait_timeout = timeout;
        self.poll_interval = interval;
        self
    }

    /// The control plane underneath, for the calls the trait leaves out
    /// (tags, filtered listings).
    pub fn control_plane(&self) -> &ControlPlane {
        &self.control
    }
}

/// `e`, from a call about `group`, as a registry error: not found and
/// name-in-use become [`RegistryError::NotFound`] and
/// [`RegistryError::AlreadyExists`], other service failures stay whole in
/// [`RegistryError::Backend`], definition problems are
/// [`RegistryError::Invalid`].
fn registry_error(group: &str, creating: bool, e: Error) -> RegistryError {
    match e {
        Error::Aws(aws) => match aws.kind {
            AwsErrorKind::NotFound => RegistryError::NotFound {
                group: group.to_owned(),
            },
            AwsErrorKind::ResourceInUse if creating => RegistryError::AlreadyExists {
                group: group.to_owned(),
            },
            _ => RegistryError::backend(aws),
        },
        other => RegistryError::Invalid(Box::new(other)),
    }
}

#[async_trait::async_trait]
impl Registry for SageMakerRegistry {
    async fn create_feature_group(&self, spec: FeatureGroup) -> Result<FeatureGroupDescription> {
        let name = spec.feature_group_name.clone();
        let err = |e| registry_error(&name, true, e);
        self.control
            .create_feature_group(&spec)
            .await
            .map_err(err)?;
        self.control
            .wait_for_status(
                &name,
                FeatureGroupStatus::Created,
                self.wait_timeout,
                self.poll_interval,
            )
            .await
            .map_err(err)
    }

    async fn describe_feature_group(&self, name: &str) -> Result<FeatureGroupDescription> {
        self.control
            .describe_feature_group(name)
            .await
            .map_err(|e| registry_error(name, false, e))
    }

    async fn list_feature_groups(&self) -> Result<Vec<FeatureGroupSummary>> {
        self.control
            .list_feature_groups()
            .await
            .map_err(|e| registry_error("", false, e))
    }

    async fn add_features(
        &self,
        name: &str,
        additions: &[FeatureDefinition],
    ) -> Result<FeatureGroupDescription> {
        let err = |e| registry_error(name, false, e);
        self.control
            .add_features(name, additions)
            .await
            .map_err(err)?;
        self.control
            .wait_for_update(name, self.wait_timeout, self.poll_interval)
            .await
            .map_err(err)
    }

    async fn delete_feature_group(&self, name: &str) -> Result<()> {
        let err = |e| registry_error(name, false, e);
        self.control.delete_feature_group(name).await.map_err(err)?;
        self.control
            .wait_for_deleted(name, self.wait_timeout, self.poll_interval)
            .await
            .map_err(err)
    }
}
