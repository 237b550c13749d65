//! The registry's types from the SageMaker SDK's DescribeFeatureGroup and
//! ListFeatureGroups shapes.

use aws_sdk_sagemaker::operation::describe_feature_group::DescribeFeatureGroupOutput;
use aws_sdk_sagemaker::types as sdk;
use chrono::{DateTime, Utc};

use super::convert::{FromSdk, ToSdk, missing};
use crate::FeatureGroup;
use crate::error::{Error, Result};
use crate::registry::{
    FeatureGroupDescription, FeatureGroupStatus, FeatureGroupSummary, LastUpdateStatus,
    OfflineStoreStatus,
};

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
            offline_data_dir: None,
        })
    }
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
