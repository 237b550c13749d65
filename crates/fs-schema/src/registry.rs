//! The feature-group registry: the [`Registry`] trait (create, describe,
//! list, evolve and delete feature groups, waiting for each change to
//! finish) and what it returns, [`FeatureGroupDescription`] and
//! [`FeatureGroupSummary`].
//!
//! The embedded store (`fs_local::Store`) and the SageMaker control plane
//! (`aws::SageMakerRegistry`, feature `aws`) implement it; the contract suite
//! (`registry::contract`, feature `test-util`) holds both to the same
//! behaviour.
//!
//! ```
//! use fs_schema::registry::{FeatureGroupDescription, FeatureGroupStatus, TimeFormat, from_millis};
//! use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};
//!
//! let spec = FeatureGroup::builder("customers", "customer_id", "event_time")
//!     .feature(FeatureDefinition::integral("customer_id"))
//!     .feature(FeatureDefinition::string("event_time"))
//!     .online_store(OnlineStoreConfig::enabled())
//!     .build()?;
//! let desc = FeatureGroupDescription::new(
//!     spec,
//!     "arn:aws:sagemaker:us-east-1:000000000000:feature-group/customers",
//!     FeatureGroupStatus::Created,
//!     from_millis(1_733_090_360_131),
//! );
//! let json = desc.to_json(TimeFormat::IsoMillis);
//! assert_eq!(json["CreationTime"], "2024-12-01T21:59:20.131Z");
//! assert_eq!(json["FeatureGroupStatus"], "Created");
//! // Fractional seconds from the wire print as they were sent.
//! let wire = chrono::DateTime::from_timestamp(1_733_090_360, 130_999_999).unwrap();
//! assert_eq!(fs_schema::registry::iso_millis(&wire), "2024-12-01T21:59:20.131Z");
//! # Ok::<(), fs_schema::Error>(())
//! ```

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::{FeatureDefinition, FeatureGroup};

#[cfg(feature = "test-util")]
pub mod contract;

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
    /// The `OfflineStoreStatus` object of a DescribeFeatureGroup response.
    fn to_json(&self) -> serde_json::Value {
        match self {
            OfflineStoreStatus::Active => json!({ "Status": "Active" }),
            OfflineStoreStatus::Blocked { reason: None } => json!({ "Status": "Blocked" }),
            OfflineStoreStatus::Blocked { reason: Some(r) } => {
                json!({ "Status": "Blocked", "BlockedReason": r })
            }
            OfflineStoreStatus::Disabled => json!({ "Status": "Disabled" }),
            OfflineStoreStatus::Other(s) => json!({ "Status": s }),
        }
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
    /// The `LastUpdateStatus` object of a DescribeFeatureGroup response.
    fn to_json(&self) -> serde_json::Value {
        match self {
            LastUpdateStatus::Successful => json!({ "Status": "Successful" }),
            LastUpdateStatus::Failed { reason: None } => json!({ "Status": "Failed" }),
            LastUpdateStatus::Failed { reason: Some(r) } => {
                json!({ "Status": "Failed", "FailureReason": r })
            }
            LastUpdateStatus::InProgress => json!({ "Status": "InProgress" }),
            LastUpdateStatus::Other(s) => json!({ "Status": s }),
        }
    }
}

/// A feature group as DescribeFeatureGroup describes it: the one
/// description type of the workspace, returned by every [`Registry`].
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
    /// Where the embedded store writes the group's offline Parquet files
    /// (an absolute directory); `None` on SageMaker, whose offline data is
    /// under [`resolved_output_s3_uri`](Self::resolved_output_s3_uri).
    pub offline_data_dir: Option<PathBuf>,
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

    /// A description of a group in `status`, created at `creation_time`,
    /// with nothing else known yet (set the other fields after).
    pub fn new(
        spec: FeatureGroup,
        arn: impl Into<String>,
        status: FeatureGroupStatus,
        creation_time: DateTime<Utc>,
    ) -> Self {
        FeatureGroupDescription {
            spec,
            arn: arn.into(),
            status,
            creation_time,
            last_modified_time: None,
            failure_reason: None,
            offline_store_status: None,
            last_update_status: None,
            online_store_total_size_bytes: None,
            offline_data_dir: None,
        }
    }

    /// Where the group's offline data lives: the embedded store's directory,
    /// or the resolved S3 URI on SageMaker; `None` without an offline store.
    pub fn offline_location(&self) -> Option<String> {
        match &self.offline_data_dir {
            Some(dir) => Some(dir.display().to_string()),
            None => self.resolved_output_s3_uri().map(str::to_owned),
        }
    }

    /// The ListFeatureGroups entry of this group.
    pub fn summary(&self) -> FeatureGroupSummary {
        FeatureGroupSummary {
            name: self.name().to_owned(),
            arn: self.arn.clone(),
            creation_time: self.creation_time,
            status: self.status.clone(),
            offline_store_status: self.offline_store_status.clone(),
        }
    }

    /// The DescribeFeatureGroup response body of this description: the
    /// CreateFeatureGroup fields (without `Tags`, which the response does
    /// not carry) plus ARN, status, times, failure reason and store status.
    ///
    /// This is the one serializer of descriptions: fs-server answers
    /// DescribeFeatureGroup with it ([`TimeFormat::EpochSeconds`], the wire
    /// format) and the CLI prints it ([`TimeFormat::IsoMillis`]).
    pub fn to_json(&self, times: TimeFormat) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.spec).expect("a feature group serializes");
        let obj = v.as_object_mut().expect("a feature group is a JSON object");
        obj.remove("Tags");
        obj.insert("FeatureGroupArn".into(), json!(self.arn));
        obj.insert("FeatureGroupStatus".into(), json!(self.status.as_str()));
        obj.insert("CreationTime".into(), times.value(&self.creation_time));
        if let Some(t) = &self.last_modified_time {
            obj.insert("LastModifiedTime".into(), times.value(t));
        }
        if let Some(reason) = &self.failure_reason {
            obj.insert("FailureReason".into(), json!(reason));
        }
        if let Some(status) = &self.last_update_status {
            obj.insert("LastUpdateStatus".into(), status.to_json());
        }
        if let Some(status) = &self.offline_store_status {
            obj.insert("OfflineStoreStatus".into(), status.to_json());
        }
        if let Some(bytes) = self.online_store_total_size_bytes {
            obj.insert("OnlineStoreTotalSizeBytes".into(), json!(bytes));
        }
        v
    }
}

impl FeatureGroupSummary {
    /// This entry as a `FeatureGroupSummaries` element of a
    /// ListFeatureGroups response (see [`FeatureGroupDescription::to_json`]).
    pub fn to_json(&self, times: TimeFormat) -> serde_json::Value {
        let mut v = json!({
            "FeatureGroupName": self.name,
            "FeatureGroupArn": self.arn,
            "CreationTime": times.value(&self.creation_time),
            "FeatureGroupStatus": self.status.as_str(),
        });
        if let Some(status) = &self.offline_store_status {
            v["OfflineStoreStatus"] = status.to_json();
        }
        v
    }
}

/// How [`FeatureGroupDescription::to_json`] writes times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// Seconds since the epoch with a fraction, as the SageMaker API sends
    /// them (`1733090360.131`).
    EpochSeconds,
    /// ISO-8601 UTC with milliseconds (`2024-12-01T22:39:20.131Z`), as every
    /// CLI command prints times.
    IsoMillis,
}

impl TimeFormat {
    fn value(self, t: &DateTime<Utc>) -> serde_json::Value {
        match self {
            TimeFormat::EpochSeconds => json!(t.timestamp_millis() as f64 / 1000.0),
            TimeFormat::IsoMillis => json!(iso_millis(t)),
        }
    }
}

/// `t` as ISO-8601 UTC with milliseconds and `Z`
/// (`2024-12-01T22:39:20.131Z`), rounded to the nearest millisecond: a
/// time that came over the wire as fractional seconds
/// (`1733090360.131` parses to `…20.130999…`) prints as it was sent.
pub fn iso_millis(t: &DateTime<Utc>) -> String {
    let round_up = t.timestamp_subsec_nanos() % 1_000_000 >= 500_000;
    let ms = t.timestamp_millis() + i64::from(round_up);
    from_millis(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `ms` milliseconds since the epoch as a UTC time (the epoch itself when
/// out of range).
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
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

/// What a [`Registry`] call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The feature group does not exist (`ResourceNotFound`).
    #[error("feature group {group:?} not found")]
    NotFound {
        /// The group.
        group: String,
    },
    /// A feature group of that name exists already (`ResourceInUse`).
    #[error("feature group {group:?} already exists")]
    AlreadyExists {
        /// The group.
        group: String,
    },
    /// The definition or the change is invalid: a bad name or type, a
    /// feature that exists, too many features.
    #[error(transparent)]
    Invalid(Box<crate::Error>),
    /// The backend failed: the embedded store's database or files, or a
    /// SageMaker call (throttling, access, a wait that timed out or ended
    /// in a failed status). The source is the backend's own error.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl RegistryError {
    /// `e` as a backend failure.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        RegistryError::Backend(Box::new(e))
    }
}

impl From<crate::Error> for RegistryError {
    fn from(e: crate::Error) -> Self {
        RegistryError::Invalid(Box::new(e))
    }
}

/// A `Result` with [`RegistryError`].
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Where feature groups are defined: create, describe, list, add features
/// and delete, each call returning when the change has finished (the
/// group is `Created`, the update applied, the group gone).
///
/// Object safe: hold it as `Arc<dyn Registry>`. Every backend passes the
/// same contract suite (feature `test-util`).
#[async_trait::async_trait]
pub trait Registry: Send + Sync + fmt::Debug {
    /// Creates `spec` and waits until it is `Created`.
    async fn create_feature_group(&self, spec: FeatureGroup) -> Result<FeatureGroupDescription>;

    /// Describes the group `name`.
    async fn describe_feature_group(&self, name: &str) -> Result<FeatureGroupDescription>;

    /// Lists every feature group, in the backend's order (the embedded
    /// store: by name; SageMaker: as ListFeatureGroups pages them).
    async fn list_feature_groups(&self) -> Result<Vec<FeatureGroupSummary>>;

    /// Adds features to `name` (existing features cannot change) and waits
    /// until the update is applied.
    async fn add_features(
        &self,
        name: &str,
        additions: &[FeatureDefinition],
    ) -> Result<FeatureGroupDescription>;

    /// Deletes `name` and waits until it is gone. Offline data stays where
    /// it is, as on SageMaker.
    async fn delete_feature_group(&self, name: &str) -> Result<()>;
}
