//! A feature group's description as the store keeps it: an entry of the
//! registry table (`registry`) and of the store's in-memory registry, which
//! the reads, writes, flushes and migrations consult. It stands apart from
//! the registry's calls so that each of those modules, and the store
//! itself, can name it without depending on the registry.

use std::path::{Path, PathBuf};

use fs_schema::FeatureGroup;
use fs_schema::registry::{
    self, FeatureGroupDescription, FeatureGroupStatus, LastUpdateStatus, OfflineStoreStatus,
};
use serde::{Deserialize, Serialize};

/// A feature group as the registry table keeps it (JSON; the format of
/// every store version so far). The public description is
/// [`FeatureGroupDescription`], built by [`GroupDescription::describe`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupDescription {
    /// The group as created (and evolved), with the resolved offline
    /// location and data catalog filled in as the service fills them.
    pub spec: FeatureGroup,
    /// `arn:aws:sagemaker:<region>:<account>:feature-group/<name>`.
    pub arn: String,
    /// Creation time, milliseconds since the epoch.
    pub creation_time_ms: i64,
    /// Last update (feature additions), milliseconds since the epoch.
    pub last_modified_time_ms: Option<i64>,
    /// The offline store's data directory, relative to the store directory.
    pub offline_data_dir: Option<PathBuf>,
}

impl GroupDescription {
    /// The group as
    /// [`Store::describe_feature_group`](crate::Store::describe_feature_group)
    /// describes it, for the store in `dir`. Local groups are created
    /// synchronously, so they are always `Created`; their offline store is
    /// `Active`.
    pub(crate) fn describe(&self, dir: &Path) -> FeatureGroupDescription {
        let mut d = FeatureGroupDescription::new(
            self.spec.clone(),
            self.arn.clone(),
            FeatureGroupStatus::Created,
            registry::from_millis(self.creation_time_ms),
        );
        d.last_modified_time = self.last_modified_time_ms.map(registry::from_millis);
        if self.last_modified_time_ms.is_some() {
            d.last_update_status = Some(LastUpdateStatus::Successful);
        }
        if self.spec.offline_enabled() {
            d.offline_store_status = Some(OfflineStoreStatus::Active);
        }
        d.offline_data_dir = self.offline_data_dir.as_ref().map(|rel| dir.join(rel));
        d
    }
}
