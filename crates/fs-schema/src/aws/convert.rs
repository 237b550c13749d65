//! Conversions between this crate's types and aws-sdk-sagemaker's.
//!
//! Ours → SDK ([`ToSdk`]) cannot fail. SDK → ours ([`FromSdk`]) fails with an
//! [`Error::InvalidConfig`] naming the field and value when the service
//! returns something this crate cannot represent: an enum value added to the
//! service after this version (the SDK's `Unknown(..)` variants), a negative
//! count, or a missing required field.

use aws_sdk_sagemaker::operation::create_feature_group::builders::CreateFeatureGroupFluentBuilder;
use aws_sdk_sagemaker::operation::describe_feature_group::DescribeFeatureGroupOutput;
use aws_sdk_sagemaker::types as sdk;

use crate::error::{Error, Result};
use crate::types::{Collection, FeatureDefinition, FeatureType};
use crate::{
    DataCatalogConfig, FeatureGroup, OfflineStoreConfig, OnlineStoreConfig,
    OnlineStoreSecurityConfig, S3StorageConfig, StorageType, TableFormat, Tag, ThroughputConfig,
    ThroughputMode, TtlDuration, TtlUnit,
};

/// Converts a value of this crate to its aws-sdk-sagemaker counterpart.
pub trait ToSdk {
    /// The SDK type.
    type Sdk;
    /// The SDK value. Integers the SDK models as `i32` saturate at
    /// `i32::MAX`; validated values never come near it.
    fn to_sdk(&self) -> Self::Sdk;
}

/// Converts an aws-sdk-sagemaker value to this crate's type.
pub trait FromSdk<S>: Sized {
    /// The value, or [`Error::InvalidConfig`] naming the field and the value
    /// this crate cannot represent.
    fn from_sdk(sdk: &S) -> Result<Self>;
}

pub(super) fn missing(field: &str) -> Error {
    Error::InvalidConfig {
        field: field.to_owned(),
        reason: "missing from the service's response".into(),
    }
}

pub(super) fn unsupported(field: &str, value: &str, expected: &str) -> Error {
    Error::InvalidConfig {
        field: field.to_owned(),
        reason: format!(
            "the service returned {value:?}, which this version of fs-schema does not support \
             (expected {expected})"
        ),
    }
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn to_u32(v: i32, field: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::InvalidConfig {
        field: field.to_owned(),
        reason: format!("the service returned {v}, which is negative"),
    })
}

/// `ToSdk` and `FromSdk` for a fieldless enum whose variants match the
/// SDK's one to one; other SDK values are refused naming `$field`.
macro_rules! enum_conversions {
    ($ours:ident <=> $sdk:ident, $field:literal, $expected:literal, [$($v:ident),+ $(,)?]) => {
        impl ToSdk for $ours {
            type Sdk = sdk::$sdk;
            fn to_sdk(&self) -> sdk::$sdk {
                match self {
                    $($ours::$v => sdk::$sdk::$v,)+
                }
            }
        }

        impl FromSdk<sdk::$sdk> for $ours {
            fn from_sdk(v: &sdk::$sdk) -> Result<Self> {
                match v {
                    $(sdk::$sdk::$v => Ok($ours::$v),)+
                    other => Err(unsupported($field, other.as_str(), $expected)),
                }
            }
        }
    };
}

enum_conversions!(FeatureType <=> FeatureType, "FeatureType", "Integral, Fractional or String",
    [Integral, Fractional, String]);
enum_conversions!(TtlUnit <=> TtlDurationUnit, "OnlineStoreConfig.TtlDuration.Unit",
    "Seconds, Minutes, Hours, Days or Weeks", [Seconds, Minutes, Hours, Days, Weeks]);
enum_conversions!(StorageType <=> StorageType, "OnlineStoreConfig.StorageType",
    "Standard, Standard_V2 or InMemory", [Standard, StandardV2, InMemory]);
enum_conversions!(TableFormat <=> TableFormat, "OfflineStoreConfig.TableFormat",
    "Default, Glue or Iceberg", [Default, Glue, Iceberg]);
enum_conversions!(ThroughputMode <=> ThroughputMode, "ThroughputConfig.ThroughputMode",
    "OnDemand or Provisioned", [OnDemand, Provisioned]);

impl ToSdk for FeatureDefinition {
    type Sdk = sdk::FeatureDefinition;
    fn to_sdk(&self) -> sdk::FeatureDefinition {
        let mut b = sdk::FeatureDefinition::builder()
            .feature_name(&self.name)
            .feature_type(self.feature_type.to_sdk());
        match self.collection {
            None => {}
            Some(Collection::List) => b = b.collection_type(sdk::CollectionType::List),
            Some(Collection::Set) => b = b.collection_type(sdk::CollectionType::Set),
            Some(Collection::Vector { dimension }) => {
                b = b
                    .collection_type(sdk::CollectionType::Vector)
                    .collection_config(sdk::CollectionConfig::VectorConfig(
                        sdk::VectorConfig::builder()
                            .dimension(to_i32(dimension))
                            .build(),
                    ));
            }
        }
        b.build()
    }
}

impl FromSdk<sdk::FeatureDefinition> for FeatureDefinition {
    fn from_sdk(d: &sdk::FeatureDefinition) -> Result<Self> {
        let name = d
            .feature_name()
            .ok_or_else(|| missing("FeatureDefinitions.FeatureName"))?;
        let in_feature = |field: &str| format!("FeatureDefinitions.{field} of feature {name:?}");
        let feature_type = match d.feature_type() {
            None => return Err(missing(&in_feature("FeatureType"))),
            Some(t) => FeatureType::from_sdk(t).map_err(|e| match e {
                Error::InvalidConfig { reason, .. } => Error::InvalidConfig {
                    field: in_feature("FeatureType"),
                    reason,
                },
                e => e,
            })?,
        };
        let vector_dimension = match d.collection_config() {
            None => None,
            Some(sdk::CollectionConfig::VectorConfig(v)) => {
                let field = in_feature("CollectionConfig.VectorConfig.Dimension");
                let dim = v.dimension().ok_or_else(|| missing(&field))?;
                Some(to_u32(dim, &field)?)
            }
            Some(_) => {
                return Err(unsupported(
                    &in_feature("CollectionConfig"),
                    "an unknown collection configuration",
                    "VectorConfig",
                ));
            }
        };
        let collection = match (d.collection_type(), vector_dimension) {
            (None, None) => None,
            (Some(sdk::CollectionType::List), None) => Some(Collection::List),
            (Some(sdk::CollectionType::Set), None) => Some(Collection::Set),
            (Some(sdk::CollectionType::Vector), Some(dimension)) => {
                Some(Collection::Vector { dimension })
            }
            (Some(sdk::CollectionType::Vector), None) => {
                return Err(missing(&in_feature("CollectionConfig.VectorConfig")));
            }
            (Some(t @ (sdk::CollectionType::List | sdk::CollectionType::Set)), Some(_)) => {
                return Err(Error::InvalidConfig {
                    field: in_feature("CollectionConfig"),
                    reason: format!(
                        "a VectorConfig is only valid with CollectionType Vector, not {}",
                        t.as_str()
                    ),
                });
            }
            (None, Some(_)) => {
                return Err(Error::InvalidConfig {
                    field: in_feature("CollectionConfig"),
                    reason: "given without a CollectionType".into(),
                });
            }
            (Some(other), _) => {
                return Err(unsupported(
                    &in_feature("CollectionType"),
                    other.as_str(),
                    "List, Set or Vector",
                ));
            }
        };
        Ok(FeatureDefinition {
            name: name.to_owned(),
            feature_type,
            collection,
        })
    }
}

impl ToSdk for TtlDuration {
    type Sdk = sdk::TtlDuration;
    fn to_sdk(&self) -> sdk::TtlDuration {
        sdk::TtlDuration::builder()
            .unit(self.unit.to_sdk())
            .value(to_i32(self.value))
            .build()
    }
}

impl FromSdk<sdk::TtlDuration> for TtlDuration {
    fn from_sdk(t: &sdk::TtlDuration) -> Result<Self> {
        let unit = t
            .unit()
            .ok_or_else(|| missing("OnlineStoreConfig.TtlDuration.Unit"))?;
        let value = t
            .value()
            .ok_or_else(|| missing("OnlineStoreConfig.TtlDuration.Value"))?;
        Ok(TtlDuration {
            unit: TtlUnit::from_sdk(unit)?,
            value: to_u32(value, "OnlineStoreConfig.TtlDuration.Value")?,
        })
    }
}

impl ToSdk for OnlineStoreSecurityConfig {
    type Sdk = sdk::OnlineStoreSecurityConfig;
    fn to_sdk(&self) -> sdk::OnlineStoreSecurityConfig {
        sdk::OnlineStoreSecurityConfig::builder()
            .set_kms_key_id(self.kms_key_id.clone())
            .build()
    }
}

impl FromSdk<sdk::OnlineStoreSecurityConfig> for OnlineStoreSecurityConfig {
    fn from_sdk(c: &sdk::OnlineStoreSecurityConfig) -> Result<Self> {
        Ok(OnlineStoreSecurityConfig {
            kms_key_id: c.kms_key_id().map(str::to_owned),
        })
    }
}

impl ToSdk for OnlineStoreConfig {
    type Sdk = sdk::OnlineStoreConfig;
    fn to_sdk(&self) -> sdk::OnlineStoreConfig {
        sdk::OnlineStoreConfig::builder()
            .set_enable_online_store(self.enable_online_store)
            .set_security_config(self.security_config.as_ref().map(ToSdk::to_sdk))
            .set_ttl_duration(self.ttl_duration.as_ref().map(ToSdk::to_sdk))
            .set_storage_type(self.storage_type.as_ref().map(ToSdk::to_sdk))
            .build()
    }
}

impl FromSdk<sdk::OnlineStoreConfig> for OnlineStoreConfig {
    fn from_sdk(c: &sdk::OnlineStoreConfig) -> Result<Self> {
        Ok(OnlineStoreConfig {
            enable_online_store: c.enable_online_store(),
            security_config: c
                .security_config()
                .map(OnlineStoreSecurityConfig::from_sdk)
                .transpose()?,
            ttl_duration: c.ttl_duration().map(TtlDuration::from_sdk).transpose()?,
            storage_type: c.storage_type().map(StorageType::from_sdk).transpose()?,
        })
    }
}

impl ToSdk for S3StorageConfig {
    type Sdk = sdk::S3StorageConfig;
    fn to_sdk(&self) -> sdk::S3StorageConfig {
        sdk::S3StorageConfig::builder()
            .s3_uri(&self.s3_uri)
            .set_kms_key_id(self.kms_key_id.clone())
            .set_resolved_output_s3_uri(self.resolved_output_s3_uri.clone())
            .build()
    }
}

impl FromSdk<sdk::S3StorageConfig> for S3StorageConfig {
    fn from_sdk(c: &sdk::S3StorageConfig) -> Result<Self> {
        Ok(S3StorageConfig {
            s3_uri: c
                .s3_uri()
                .ok_or_else(|| missing("OfflineStoreConfig.S3StorageConfig.S3Uri"))?
                .to_owned(),
            kms_key_id: c.kms_key_id().map(str::to_owned),
            resolved_output_s3_uri: c.resolved_output_s3_uri().map(str::to_owned),
        })
    }
}

impl ToSdk for DataCatalogConfig {
    type Sdk = sdk::DataCatalogConfig;
    fn to_sdk(&self) -> sdk::DataCatalogConfig {
        sdk::DataCatalogConfig::builder()
            .table_name(&self.table_name)
            .catalog(&self.catalog)
            .database(&self.database)
            .build()
    }
}

impl FromSdk<sdk::DataCatalogConfig> for DataCatalogConfig {
    fn from_sdk(c: &sdk::DataCatalogConfig) -> Result<Self> {
        let get = |v: Option<&str>, field: &str| {
            v.map(str::to_owned)
                .ok_or_else(|| missing(&format!("OfflineStoreConfig.DataCatalogConfig.{field}")))
        };
        Ok(DataCatalogConfig {
            table_name: get(c.table_name(), "TableName")?,
            catalog: get(c.catalog(), "Catalog")?,
            database: get(c.database(), "Database")?,
        })
    }
}

impl ToSdk for OfflineStoreConfig {
    type Sdk = sdk::OfflineStoreConfig;
    fn to_sdk(&self) -> sdk::OfflineStoreConfig {
        sdk::OfflineStoreConfig::builder()
            .s3_storage_config(self.s3_storage_config.to_sdk())
            .set_disable_glue_table_creation(self.disable_glue_table_creation)
            .set_data_catalog_config(self.data_catalog_config.as_ref().map(ToSdk::to_sdk))
            .set_table_format(self.table_format.as_ref().map(ToSdk::to_sdk))
            .build()
    }
}

impl FromSdk<sdk::OfflineStoreConfig> for OfflineStoreConfig {
    fn from_sdk(c: &sdk::OfflineStoreConfig) -> Result<Self> {
        let s3 = c
            .s3_storage_config()
            .ok_or_else(|| missing("OfflineStoreConfig.S3StorageConfig"))?;
        Ok(OfflineStoreConfig {
            s3_storage_config: S3StorageConfig::from_sdk(s3)?,
            disable_glue_table_creation: c.disable_glue_table_creation(),
            data_catalog_config: c
                .data_catalog_config()
                .map(DataCatalogConfig::from_sdk)
                .transpose()?,
            table_format: c.table_format().map(TableFormat::from_sdk).transpose()?,
        })
    }
}

impl ToSdk for ThroughputConfig {
    type Sdk = sdk::ThroughputConfig;
    fn to_sdk(&self) -> sdk::ThroughputConfig {
        sdk::ThroughputConfig::builder()
            .throughput_mode(self.throughput_mode.to_sdk())
            .set_provisioned_read_capacity_units(self.provisioned_read_capacity_units)
            .set_provisioned_write_capacity_units(self.provisioned_write_capacity_units)
            .build()
    }
}

fn throughput(
    mode: Option<&sdk::ThroughputMode>,
    read: Option<i32>,
    write: Option<i32>,
) -> Result<ThroughputConfig> {
    let mode = mode.ok_or_else(|| missing("ThroughputConfig.ThroughputMode"))?;
    Ok(ThroughputConfig {
        throughput_mode: ThroughputMode::from_sdk(mode)?,
        provisioned_read_capacity_units: read,
        provisioned_write_capacity_units: write,
    })
}

impl FromSdk<sdk::ThroughputConfig> for ThroughputConfig {
    fn from_sdk(c: &sdk::ThroughputConfig) -> Result<Self> {
        throughput(
            c.throughput_mode(),
            c.provisioned_read_capacity_units(),
            c.provisioned_write_capacity_units(),
        )
    }
}

/// The throughput configuration DescribeFeatureGroup returns.
impl FromSdk<sdk::ThroughputConfigDescription> for ThroughputConfig {
    fn from_sdk(c: &sdk::ThroughputConfigDescription) -> Result<Self> {
        throughput(
            c.throughput_mode(),
            c.provisioned_read_capacity_units(),
            c.provisioned_write_capacity_units(),
        )
    }
}

impl ToSdk for Tag {
    type Sdk = sdk::Tag;
    fn to_sdk(&self) -> sdk::Tag {
        sdk::Tag::builder()
            .key(&self.key)
            .value(&self.value)
            .build()
    }
}

/// A missing value becomes the empty string.
impl FromSdk<sdk::Tag> for Tag {
    fn from_sdk(t: &sdk::Tag) -> Result<Self> {
        Ok(Tag {
            key: t.key().ok_or_else(|| missing("Tags.Key"))?.to_owned(),
            value: t.value().unwrap_or_default().to_owned(),
        })
    }
}

/// Sets every field of a CreateFeatureGroup request from `group`, replacing
/// whatever the builder held. The group is not validated here;
/// [`ControlPlane::create_feature_group`](super::ControlPlane::create_feature_group)
/// validates it first.
pub fn apply_create_feature_group(
    builder: CreateFeatureGroupFluentBuilder,
    group: &FeatureGroup,
) -> CreateFeatureGroupFluentBuilder {
    builder
        .feature_group_name(&group.feature_group_name)
        .record_identifier_feature_name(&group.record_identifier_feature_name)
        .event_time_feature_name(&group.event_time_feature_name)
        .set_feature_definitions(Some(
            group
                .feature_definitions
                .iter()
                .map(ToSdk::to_sdk)
                .collect(),
        ))
        .set_online_store_config(group.online_store_config.as_ref().map(ToSdk::to_sdk))
        .set_offline_store_config(group.offline_store_config.as_ref().map(ToSdk::to_sdk))
        .set_throughput_config(group.throughput_config.as_ref().map(ToSdk::to_sdk))
        .set_role_arn(group.role_arn.clone())
        .set_description(group.description.clone())
        .set_tags(
            group
                .tags
                .as_ref()
                .map(|t| t.iter().map(ToSdk::to_sdk).collect()),
        )
}

/// The group's specification as DescribeFeatureGroup returns it. `Tags` are
/// not part of that response, so `tags` is `None` (see
/// [`ControlPlane::list_tags`](super::ControlPlane::list_tags)). The result
/// is not validated: it is what the service has.
impl FromSdk<DescribeFeatureGroupOutput> for FeatureGroup {
    fn from_sdk(out: &DescribeFeatureGroupOutput) -> Result<Self> {
        let req = |v: Option<&str>, field: &str| v.map(str::to_owned).ok_or_else(|| missing(field));
        Ok(FeatureGroup {
            feature_group_name: req(out.feature_group_name(), "FeatureGroupName")?,
            record_identifier_feature_name: req(
                out.record_identifier_feature_name(),
                "RecordIdentifierFeatureName",
            )?,
            event_time_feature_name: req(out.event_time_feature_name(), "EventTimeFeatureName")?,
            feature_definitions: out
                .feature_definitions()
                .iter()
                .map(FeatureDefinition::from_sdk)
                .collect::<Result<_>>()?,
            online_store_config: out
                .online_store_config()
                .map(OnlineStoreConfig::from_sdk)
                .transpose()?,
            offline_store_config: out
                .offline_store_config()
                .map(OfflineStoreConfig::from_sdk)
                .transpose()?,
            throughput_config: out
                .throughput_config()
                .map(ThroughputConfig::from_sdk)
                .transpose()?,
            role_arn: out.role_arn().map(str::to_owned),
            description: out.description().map(str::to_owned),
            tags: None,
        })
    }
}
