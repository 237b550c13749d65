//! The embedded store as a [`Registry`].
//!
//! Each call runs the store's own method on the calling thread: a change
//! is one database transaction (a few milliseconds, with its fsync), and it
//! has finished when the call returns, so there is nothing to wait for.

use fs_schema::registry::{
    FeatureGroupDescription, FeatureGroupSummary, Registry, RegistryError, Result,
};
use fs_schema::{FeatureDefinition, FeatureGroup};

use crate::{Error, Store};

impl From<Error> for RegistryError {
    fn from(e: Error) -> Self {
        match e {
            Error::GroupNotFound { group } => RegistryError::NotFound { group },
            Error::GroupExists { group } => RegistryError::AlreadyExists { group },
            Error::Schema(e) => RegistryError::Invalid(e),
            other => RegistryError::backend(other),
        }
    }
}

#[async_trait::async_trait]
impl Registry for Store {
    async fn create_feature_group(&self, spec: FeatureGroup) -> Result<FeatureGroupDescription> {
        Ok(Store::create_feature_group(self, spec)?)
    }

    async fn describe_feature_group(&self, name: &str) -> Result<FeatureGroupDescription> {
        Ok(Store::describe_feature_group(self, name)?)
    }

    /// Sorted by name (the embedded store's listing order).
    async fn list_feature_groups(&self) -> Result<Vec<FeatureGroupSummary>> {
        Ok(Store::list_feature_groups(self)
            .iter()
            .map(FeatureGroupDescription::summary)
            .collect())
    }

    async fn add_features(
        &self,
        name: &str,
        additions: &[FeatureDefinition],
    ) -> Result<FeatureGroupDescription> {
        Ok(Store::add_features(self, name, additions)?)
    }

    async fn delete_feature_group(&self, name: &str) -> Result<()> {
        Ok(Store::delete_feature_group(self, name)?)
    }
}
