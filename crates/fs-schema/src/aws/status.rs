//! What DescribeFeatureGroup and ListFeatureGroups say about a group beyond
//! its specification: ARN, status, times, store status.

use std::fmt;

use aws_sdk_sagemaker::operation::describe_feature_group::DescribeFeatureGroupOutput;
use aws_sdk_sagemaker::types as sdk;
use chrono::{DateTime, Utc};

use super::convert::{FromSdk, ToSdk, missing};
use crate::FeatureGroup;
use crate::error::{Error, Result};

/// The status of a feature group (`FeatureGroupStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeatureGroupStatus {
    /// Being created.
    Creating,
    /// Created and usable.
    Created,
    /// Creation failed; see [`FeatureGroupDescription::failure_reason`].
    CreateFailed,
    /// Being deleted.
    Deleting,
    /// Deletion failed; see [`FeatureGroupDescription::failure_reason`].
    DeleteFailed,
    /// A status this version does not know, as the service spelled it.
    Other(String),
}

impl FeatureGroupStatus {
    /// The service's name for the status.
    pub fn as_str(&self) -> &str {
        match self {
            FeatureGroupStatus::Creating => "Creating",
            FeatureGroupStatus::Created => "Created",
            FeatureGroupStatus::CreateFailed => "CreateFailed",
            FeatureGroupStatus::Deleting => "Deleting",
            FeatureGroupStatus::DeleteFailed => "DeleteFailed",
            FeatureGroupStatus::Other(s) => s,
        }
    }

    /// True for `CreateFailed` and `DeleteFailed`.
    pub fn is_failed(&self) -> bool {
        matches!(
            self,
            FeatureGroupStatus::CreateFailed | FeatureGroupStatus::DeleteFailed
        )
    }
}

impl fmt::Display for FeatureGroupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&sdk::FeatureGroupStatus> for FeatureGroupStatus {
    fn from(s: &sdk::FeatureGroupStatus) -> Self {
        match s {
            sdk::FeatureGroupStatus::Creating => FeatureGroupStatus::Creating,
            sdk::FeatureGroupStatus::Created => FeatureGroupStatus::Created,
            sdk::FeatureGroupStatus::CreateFailed => FeatureGroupStatus::CreateFailed,
            sdk::FeatureGroupStatus::Deleting => FeatureGroupStatus::Deleting,
            sdk::FeatureGroupStatus::DeleteFailed => FeatureGroupStatus::DeleteFailed,
            other => FeatureGroupStatus::Other(other.as_str().to_owned()),
        }
    }
}

impl ToSdk for FeatureGroupStatus {
    type Sdk = sdk::FeatureGroupStatus;
    fn to_sdk(&self) -> sdk::FeatureGroupStatus {
        sdk::FeatureGroupStatus::from(self.as_str())
    }
}

/// Whether the offline store is being written (`OfflineStoreStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OfflineStoreStatus {
    /// Records are replicated to the offline store.
    Active,
    /// Replication to the offline store is blocked.
    Blocked {
        /// Why, as the service says.
        reason: Option<String>,
    },
    /// The offline store is disabled.
    Disabled,
    /// A status this version does not know, as the service spelled it.
    Other(String),
}

impl OfflineStoreStatus {
    /// `None` when the service gave no status value.
    fn from_sdk_status(s: &sdk::OfflineStoreStatus) -> Option<Self> {
        Some(match s.status()? {
            sdk::OfflineStoreStatusValue::Active => OfflineStoreStatus::Active,
            sdk::OfflineStoreStatusValue::Blocked => OfflineStoreStatus::Blocked {
                reason: s.blocked_reason().map(str::to_owned),
            },
            sdk::OfflineStoreStatusValue::Disabled => OfflineStoreStatus::Disabled,
            other => OfflineStoreStatus::Other(other.as_str().to_owned()),
        })
    }
}

/// The outcome of the last UpdateFeatureGroup (`LastUpdateStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LastUpdateStatus {
    /// The update was applied.
    Successful,
    /// The update failed.
    Failed {
        /// Why, as the service says.
        reason: Option<String>,
    },
    /// The update is being applied.
    InProgress,
    /// A status this version does not know, as the service spelled it.
    Other(String),
}

impl LastUpdateStatus {
    /// `None` when the service gave no status value.
    fn from_sdk_status(s: &sdk::LastUpdateStatus) -> Option<Self> {
        Some(match s.status()? {
            sdk::LastUpdateStatusValue::Successful => LastUpdateStatus::Successful,
            sdk::LastUpdateStatusValue::Failed => LastUpdateStatus::Failed {
                reason: s.failure_reason().map(str::to_owned),
            },
            sdk::LastUpdateStatusValue::InProgress => LastUpdateStatus::InProgress,
            other => LastUpdateStatus::Other(other.as_str().to_owned()),
        })
    }
}

/// A feature group as DescribeFeatureGroup describes it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FeatureGroupDescription {
    /// The specification, rebuilt from the response (without `Tags`, which
    /// DescribeFeatureGroup does not return). The offline store's
    /// `ResolvedOutputS3Uri` is set.
    pub spec: FeatureGroup,
    /// The group's ARN.
    pub arn: String,
    /// The group's status.
    pub status: FeatureGroupStatus,
    /// When the group was created.
    pub creation_time: DateTime<Utc>,
    /// When the group was last updated, if ever.
    pub last_modified_time: Option<DateTime<Utc>>,
    /// Why creation or deletion failed, if it did.
    pub failure_reason: Option<String>,
    /// The offline store's status, when the group has one.
    pub offline_store_status: Option<OfflineStoreStatus>,
    /// The outcome of the last UpdateFeatureGroup, if any.
    pub last_update_status: Option<LastUpdateStatus>,
    /// The size of the online store in bytes, when it has one.
    pub online_store_total_size_bytes: Option<i64>,
}

impl FeatureGroupDescription {
    /// The S3 prefix the offline store writes under
    /// (`s3://bucket/prefix/<account>/sagemaker/<region>/offline-store/<group>-<timestamp>/data`),
    /// when the group has an offline store.
    pub fn resolved_output_s3_uri(&self) -> Option<&str> {
        self.spec
            .offline_store_config
            .as_ref()
            .and_then(|c| c.s3_storage_config.resolved_output_s3_uri.as_deref())
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        self.spec.name()
    }
}

impl FromSdk<DescribeFeatureGroupOutput> for FeatureGroupDescription {
    fn from_sdk(out: &DescribeFeatureGroupOutput) -> Result<Self> {
        Ok(FeatureGroupDescription {
            spec: FeatureGroup::from_sdk(out)?,
            arn: out
                .feature_group_arn()
                .ok_or_else(|| missing("FeatureGroupArn"))?
                .to_owned(),
            status: out
                .feature_group_status()
                .map(FeatureGroupStatus::from)
                .ok_or_else(|| missing("FeatureGroupStatus"))?,
            creation_time: to_chrono(out.creation_time(), "CreationTime")?,
            last_modified_time: out
                .last_modified_time()
                .map(|t| to_chrono(Some(t), "LastModifiedTime"))
                .transpose()?,
            failure_reason: out.failure_reason().map(str::to_owned),
            offline_store_status: out
                .offline_store_status()
                .and_then(OfflineStoreStatus::from_sdk_status),
            last_update_status: out
                .last_update_status()
                .and_then(LastUpdateStatus::from_sdk_status),
            online_store_total_size_bytes: out.online_store_total_size_bytes(),
        })
    }
}

/// One entry of ListFeatureGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeatureGroupSummary {
    /// The group's name.
    pub name: String,
    /// The group's ARN.
    pub arn: String,
    /// When the group was created.
    pub creation_time: DateTime<Utc>,
    /// The group's status.
    pub status: FeatureGroupStatus,
    /// The offline store's status, when the group has one.
    pub offline_store_status: Option<OfflineStoreStatus>,
}

impl FromSdk<sdk::FeatureGroupSummary> for FeatureGroupSummary {
    fn from_sdk(s: &sdk::FeatureGroupSummary) -> Result<Self> {
        Ok(FeatureGroupSummary {
            name: s
                .feature_group_name()
                .ok_or_else(|| missing("FeatureGroupSummaries.FeatureGroupName"))?
                .to_owned(),
            arn: s
                .feature_group_arn()
                .ok_or_else(|| missing("FeatureGroupSummaries.FeatureGroupArn"))?
                .to_owned(),
            creation_time: to_chrono(s.creation_time(), "FeatureGroupSummaries.CreationTime")?,
            status: s
                .feature_group_status()
                .map(FeatureGroupStatus::from)
                .ok_or_else(|| missing("FeatureGroupSummaries.FeatureGroupStatus"))?,
            offline_store_status: s
                .offline_store_status()
                .and_then(OfflineStoreStatus::from_sdk_status),
        })
    }
}

fn to_chrono(t: Option<&aws_smithy_types::DateTime>, field: &str) -> Result<DateTime<Utc>> {
    let t = t.ok_or_else(|| missing(field))?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).ok_or_else(|| Error::InvalidConfig {
        field: field.to_owned(),
        reason: format!("the service returned {t}, which is out of range"),
    })
}
