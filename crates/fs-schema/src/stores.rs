//! Store, time-to-live, throughput and tag settings of a feature group.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Online store settings (`OnlineStoreConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OnlineStoreConfig {
    /// Whether the online store exists; the service's default is `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_online_store: Option<bool>,
    /// Encryption at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_config: Option<OnlineStoreSecurityConfig>,
    /// Default time to live of online records: `ExpiresAt = EventTime + TtlDuration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_duration: Option<TtlDuration>,
    /// `Standard` (the default) or `InMemory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageType>,
}

impl OnlineStoreConfig {
    /// An enabled online store with the default (`Standard`) storage.
    pub fn enabled() -> Self {
        Self {
            enable_online_store: Some(true),
            ..Self::default()
        }
    }

    /// This config with a time to live.
    pub fn with_ttl(mut self, ttl: TtlDuration) -> Self {
        self.ttl_duration = Some(ttl);
        self
    }

    /// This config with a storage type.
    pub fn with_storage_type(mut self, storage_type: StorageType) -> Self {
        self.storage_type = Some(storage_type);
        self
    }
}

/// Online store encryption settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OnlineStoreSecurityConfig {
    /// The KMS key that encrypts the online store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// Online storage type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageType {
    /// The default storage; scalar features only.
    Standard,
    /// The second-generation standard storage, which also allows partial
    /// updates (`UpdateRecord`).
    #[serde(rename = "Standard_V2")]
    StandardV2,
    /// In-memory storage; allows the collection types List, Set and Vector.
    InMemory,
}

/// A time to live (`TtlDuration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TtlDuration {
    /// The unit of `value`.
    pub unit: TtlUnit,
    /// How many units; at least 1.
    pub value: u32,
}

impl TtlDuration {
    /// A time to live of `value` units.
    pub fn new(unit: TtlUnit, value: u32) -> Self {
        Self { unit, value }
    }

    /// The time to live as a [`Duration`].
    pub fn as_duration(&self) -> Duration {
        let unit_secs: u64 = match self.unit {
            TtlUnit::Seconds => 1,
            TtlUnit::Minutes => 60,
            TtlUnit::Hours => 3_600,
            TtlUnit::Days => 86_400,
            TtlUnit::Weeks => 604_800,
        };
        Duration::from_secs(unit_secs * u64::from(self.value))
    }

    /// Checks that the value is at least one unit.
    pub fn validate(&self) -> Result<()> {
        if self.value == 0 {
            return Err(Error::InvalidConfig {
                field: "TtlDuration.Value".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// The unit of a [`TtlDuration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtlUnit {
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Days.
    Days,
    /// Weeks.
    Weeks,
}

/// Offline store settings (`OfflineStoreConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OfflineStoreConfig {
    /// Where the offline store's Parquet files go.
    pub s3_storage_config: S3StorageConfig,
    /// When true, no Glue table is created for the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_glue_table_creation: Option<bool>,
    /// The Glue catalog table the offline store is registered in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_catalog_config: Option<DataCatalogConfig>,
    /// `Glue` (the default) or `Iceberg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_format: Option<TableFormat>,
}

impl OfflineStoreConfig {
    /// An offline store under `s3_uri` with the default table format.
    pub fn new(s3_uri: impl Into<String>) -> Self {
        Self {
            s3_storage_config: S3StorageConfig {
                s3_uri: s3_uri.into(),
                kms_key_id: None,
                resolved_output_s3_uri: None,
            },
            disable_glue_table_creation: None,
            data_catalog_config: None,
            table_format: None,
        }
    }

    /// The table format in effect: `Glue` unless `Iceberg` was chosen (the
    /// service's `Default` means `Glue`).
    pub fn table_format(&self) -> TableFormat {
        match self.table_format {
            Some(TableFormat::Iceberg) => TableFormat::Iceberg,
            _ => TableFormat::Glue,
        }
    }
}

/// The S3 location of an offline store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct S3StorageConfig {
    /// The S3 URI given at creation (`s3://bucket/prefix`).
    #[serde(rename = "S3Uri")]
    pub s3_uri: String,
    /// The KMS key that encrypts the Parquet files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The full prefix the service writes under; set by DescribeFeatureGroup.
    #[serde(
        rename = "ResolvedOutputS3Uri",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resolved_output_s3_uri: Option<String>,
}

/// The Glue Data Catalog table of an offline store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DataCatalogConfig {
    /// The table's name.
    pub table_name: String,
    /// The catalog's name (usually `AwsDataCatalog`).
    pub catalog: String,
    /// The database's name (usually `sagemaker_featurestore`).
    pub database: String,
}

/// The offline store's table format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableFormat {
    /// The service's default, which is `Glue`.
    Default,
    /// Hive-style partitioned Parquet registered in Glue (the default).
    Glue,
    /// An Apache Iceberg table.
    Iceberg,
}

/// Throughput settings (`ThroughputConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ThroughputConfig {
    /// `OnDemand` or `Provisioned`.
    pub throughput_mode: ThroughputMode,
    /// Read capacity units when provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_read_capacity_units: Option<i32>,
    /// Write capacity units when provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_write_capacity_units: Option<i32>,
}

/// The throughput mode of a feature group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThroughputMode {
    /// Pay per request.
    OnDemand,
    /// Provisioned read and write capacity.
    Provisioned,
}

/// A key-value tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    /// The tag's key.
    pub key: String,
    /// The tag's value.
    pub value: String,
}

impl OfflineStoreConfig {
    /// Checks the S3 URI, the catalog names and the table format settings.
    pub fn validate(&self) -> Result<()> {
        validate_s3_uri(&self.s3_storage_config.s3_uri)?;
        if let Some(c) = &self.data_catalog_config {
            for (field, v) in [
                ("DataCatalogConfig.TableName", &c.table_name),
                ("DataCatalogConfig.Catalog", &c.catalog),
                ("DataCatalogConfig.Database", &c.database),
            ] {
                let n = v.chars().count();
                if n == 0 || n > 255 {
                    return Err(Error::InvalidConfig {
                        field: field.into(),
                        reason: format!("{v:?} must have 1 to 255 characters"),
                    });
                }
            }
        }
        if self.table_format() == TableFormat::Iceberg
            && self.disable_glue_table_creation == Some(true)
        {
            return Err(Error::InvalidConfig {
                field: "OfflineStoreConfig.TableFormat".into(),
                reason: "the Iceberg table format needs DisableGlueTableCreation to be false"
                    .into(),
            });
        }
        Ok(())
    }
}

fn validate_s3_uri(uri: &str) -> Result<()> {
    let rest = uri
        .strip_prefix("s3://")
        .or_else(|| uri.strip_prefix("https://"));
    let bucket = rest.map(|r| r.split('/').next().unwrap_or(""));
    match bucket {
        Some(b) if !b.is_empty() => Ok(()),
        _ => Err(Error::InvalidConfig {
            field: "OfflineStoreConfig.S3StorageConfig.S3Uri".into(),
            reason: format!("{uri:?} is not an s3://bucket[/prefix] URI"),
        }),
    }
}
