//! The registry of feature groups: its table, the store's create,
//! describe, list, evolve and delete calls, and the store as a
//! [`Registry`].
//!
//! Each call runs the store's own method on the calling thread: a change
//! is one database transaction (a few milliseconds, with its fsync), and it
//! has finished when the call returns, so there is nothing to wait for.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use fs_schema::registry::{
    FeatureGroupDescription, FeatureGroupSummary, Registry, RegistryError, Result,
};
use fs_schema::{DataCatalogConfig, FeatureDefinition, FeatureGroup, evolution};
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::description::GroupDescription;
use crate::error::db;
use crate::online::ONLINE;
use crate::{Error, Store};

/// The registry: group name -> [`GroupDescription`] as JSON.
const GROUPS: TableDefinition<'_, &str, &str> = TableDefinition::new("groups");

/// Loads the registry of the store in `txn` into `cache`.
pub(crate) fn load(
    txn: &WriteTransaction,
    cache: &mut HashMap<String, Arc<GroupDescription>>,
) -> crate::Result<()> {
    let groups = txn.open_table(GROUPS).map_err(db("initialising"))?;
    for entry in groups.iter().map_err(db("reading the registry"))? {
        let (name, json) = entry.map_err(db("reading the registry"))?;
        let desc: GroupDescription =
            serde_json::from_str(json.value()).map_err(|e| Error::Corrupt {
                what: format!("registry entry {:?}: {e}", name.value()),
            })?;
        cache.insert(name.value().to_owned(), Arc::new(desc));
    }
    Ok(())
}

impl Store {
    /// The absolute offline data directory of `group`, if it has an offline store.
    pub fn offline_data_dir(&self, group: &str) -> crate::Result<Option<PathBuf>> {
        let desc = self.group(group)?;
        Ok(desc
            .offline_data_dir
            .as_ref()
            .map(|rel| self.dir().join(rel)))
    }

    /// The description of `group`, from the in-memory registry.
    pub fn describe_feature_group(&self, group: &str) -> crate::Result<FeatureGroupDescription> {
        Ok(self.group(group)?.describe(self.dir()))
    }

    /// The registry entry of `group`.
    pub(crate) fn group(&self, group: &str) -> crate::Result<Arc<GroupDescription>> {
        self.groups
            .read()
            .expect("group cache lock")
            .get(group)
            .cloned()
            .ok_or_else(|| Error::GroupNotFound {
                group: group.to_owned(),
            })
    }

    /// Every feature group, sorted by name.
    pub fn list_feature_groups(&self) -> Vec<FeatureGroupDescription> {
        let mut all: Vec<_> = self
            .groups
            .read()
            .expect("group cache lock")
            .values()
            .map(|g| g.describe(self.dir()))
            .collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Creates a feature group. The spec is validated; the offline location
    /// and data catalog are resolved as the service resolves them (the
    /// offline store lives under `<store>/offline/` in the SageMaker layout).
    pub fn create_feature_group(
        &self,
        spec: FeatureGroup,
    ) -> crate::Result<FeatureGroupDescription> {
        spec.validate()?;
        let name = spec.feature_group_name.clone();
        let now = Utc::now().timestamp_millis();
        let mut spec = spec;
        let offline_data_dir = spec.offline_store_config.as_mut().map(|off| {
            let rel = PathBuf::from(fs_schema::layout::resolved_output_uri(
                "offline",
                &self.options().account_id,
                &self.options().region,
                &name,
                now.div_euclid(1000),
            ));
            // As the service reports it; the files themselves are under
            // the store directory (`offline_data_dir`).
            off.s3_storage_config.resolved_output_s3_uri =
                Some(fs_schema::layout::resolved_output_uri(
                    &off.s3_storage_config.s3_uri,
                    &self.options().account_id,
                    &self.options().region,
                    &name,
                    now.div_euclid(1000),
                ));
            if off.disable_glue_table_creation != Some(true) && off.data_catalog_config.is_none() {
                off.data_catalog_config = Some(DataCatalogConfig {
                    table_name: format!("{}_{}", name.replace('-', "_"), now.div_euclid(1000)),
                    catalog: "AwsDataCatalog".into(),
                    database: "sagemaker_featurestore".into(),
                });
            }
            rel
        });
        let desc = GroupDescription {
            arn: format!(
                "arn:aws:sagemaker:{}:{}:feature-group/{}",
                self.options().region,
                self.options().account_id,
                name.to_ascii_lowercase()
            ),
            spec,
            creation_time_ms: now,
            last_modified_time_ms: None,
            offline_data_dir,
        };
        let txn = self.write_txn("creating a feature group")?;
        {
            let mut groups = txn
                .open_table(GROUPS)
                .map_err(db("creating a feature group"))?;
            if groups
                .get(name.as_str())
                .map_err(db("creating a feature group"))?
                .is_some()
            {
                return Err(Error::GroupExists { group: name });
            }
            let json = serde_json::to_string(&desc).expect("descriptions serialize");
            groups
                .insert(name.as_str(), json.as_str())
                .map_err(db("creating a feature group"))?;
        }
        txn.commit().map_err(db("creating a feature group"))?;
        if let Some(rel) = &desc.offline_data_dir {
            // Readers lock it; the first flush would create it too.
            if let Err(e) = crate::publish::create_publish_lock(&self.dir().join(rel)) {
                tracing::warn!(group = %name, error = %e, "could not create the offline publish lock");
            }
        }
        let described = desc.describe(self.dir());
        self.groups
            .write()
            .expect("group cache lock")
            .insert(name, Arc::new(desc));
        tracing::info!(group = %described.name(), "created feature group");
        Ok(described)
    }

    /// Adds features to a group (UpdateFeatureGroup's FeatureAdditions).
    /// Existing records read the new features as null.
    pub fn add_features(
        &self,
        group: &str,
        additions: &[FeatureDefinition],
    ) -> crate::Result<FeatureGroupDescription> {
        let current = self.group(group)?;
        let spec = evolution::apply_additions(&current.spec, additions)?;
        let desc = GroupDescription {
            spec,
            last_modified_time_ms: Some(Utc::now().timestamp_millis()),
            ..(*current).clone()
        };
        let txn = self.write_txn("updating a feature group")?;
        {
            let mut groups = txn
                .open_table(GROUPS)
                .map_err(db("updating a feature group"))?;
            let json = serde_json::to_string(&desc).expect("descriptions serialize");
            groups
                .insert(group, json.as_str())
                .map_err(db("updating a feature group"))?;
        }
        txn.commit().map_err(db("updating a feature group"))?;
        let described = desc.describe(self.dir());
        self.groups
            .write()
            .expect("group cache lock")
            .insert(group.to_owned(), Arc::new(desc));
        tracing::info!(group, added = additions.len(), "added features");
        Ok(described)
    }

    /// Deletes a group: its registry entry and online records. Rows waiting
    /// for the offline store are flushed first; offline files stay on disk,
    /// as the service leaves them in S3.
    pub fn delete_feature_group(&self, group: &str) -> crate::Result<()> {
        self.group(group)?;
        self.flush()?;
        let txn = self.write_txn("deleting a feature group")?;
        {
            let mut groups = txn
                .open_table(GROUPS)
                .map_err(db("deleting a feature group"))?;
            groups
                .remove(group)
                .map_err(db("deleting a feature group"))?;
            let mut online = txn
                .open_table(ONLINE)
                .map_err(db("deleting a feature group"))?;
            online
                .retain_in((group, "")..=(group, "\u{10FFFF}"), |k, _| k.0 != group)
                .map_err(db("deleting a feature group"))?;
        }
        txn.commit().map_err(db("deleting a feature group"))?;
        self.groups.write().expect("group cache lock").remove(group);
        tracing::info!(group, "deleted feature group");
        Ok(())
    }
}

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
