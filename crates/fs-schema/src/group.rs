//! The feature group specification and its validation.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::limits::{
    MAX_DESCRIPTION_LEN, MAX_FEATURES, MAX_TAG_KEY_LEN, MAX_TAG_VALUE_LEN, MAX_TAGS,
};
use crate::name::{NameKind, validate_name};
use crate::stores::{
    OfflineStoreConfig, OnlineStoreConfig, StorageType, Tag, ThroughputConfig, TtlDuration,
};
use crate::types::{Collection, FeatureDefinition, FeatureType};

/// A feature group specification: the body of a CreateFeatureGroup request.
///
/// It serializes to and from exactly that JSON shape, so a file written for
/// `aws sagemaker create-feature-group --cli-input-json file://group.json`
/// loads with [`FeatureGroup::from_json`].
///
/// ```
/// use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};
///
/// let group = FeatureGroup::builder("customers", "customer_id", "event_time")
///     .feature(FeatureDefinition::integral("customer_id"))
///     .feature(FeatureDefinition::string("event_time"))
///     .feature(FeatureDefinition::fractional("lifetime_value"))
///     .online_store(OnlineStoreConfig::enabled())
///     .offline_store_s3_uri("s3://my-bucket/feature-store")
///     .build()?;
/// assert_eq!(group.record_identifier().name, "customer_id");
/// let json = group.to_json()?;
/// assert_eq!(FeatureGroup::from_json(&json)?, group);
/// # Ok::<(), fs_schema::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FeatureGroup {
    /// The group's name, unique per account and region.
    pub feature_group_name: String,
    /// The feature whose value identifies a record.
    pub record_identifier_feature_name: String,
    /// The feature that holds each record's event time.
    pub event_time_feature_name: String,
    /// All features, including the identifier and event-time features.
    pub feature_definitions: Vec<FeatureDefinition>,
    /// The online store, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_store_config: Option<OnlineStoreConfig>,
    /// The offline store, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_store_config: Option<OfflineStoreConfig>,
    /// On-demand or provisioned throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_config: Option<ThroughputConfig>,
    /// The IAM role the offline store writes with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Free text, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Key-value tags, at most 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

impl FeatureGroup {
    /// Starts a builder for a group with the given name, identifier feature and
    /// event-time feature; add the definitions (including those two) to it.
    pub fn builder(
        name: impl Into<String>,
        record_identifier_feature_name: impl Into<String>,
        event_time_feature_name: impl Into<String>,
    ) -> FeatureGroupBuilder {
        FeatureGroupBuilder {
            group: FeatureGroup {
                feature_group_name: name.into(),
                record_identifier_feature_name: record_identifier_feature_name.into(),
                event_time_feature_name: event_time_feature_name.into(),
                feature_definitions: Vec::new(),
                online_store_config: None,
                offline_store_config: None,
                throughput_config: None,
                role_arn: None,
                description: None,
                tags: None,
            },
        }
    }

    /// Parses and validates a CreateFeatureGroup request body.
    pub fn from_json(json: &str) -> Result<Self> {
        let group: FeatureGroup =
            serde_json::from_str(json).map_err(|source| Error::Json { source })?;
        group.validate()?;
        Ok(group)
    }

    /// Serializes to the CreateFeatureGroup request body (pretty-printed).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| Error::Json { source })
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.feature_group_name
    }

    /// The definition of the feature called `name`.
    pub fn feature(&self, name: &str) -> Option<&FeatureDefinition> {
        self.feature_definitions.iter().find(|f| f.name == name)
    }

    /// The record identifier feature.
    ///
    /// # Panics
    /// If the group has not been validated and lacks the feature.
    pub fn record_identifier(&self) -> &FeatureDefinition {
        self.feature(&self.record_identifier_feature_name)
            .expect("validated group has its record identifier feature")
    }

    /// The event-time feature.
    ///
    /// # Panics
    /// If the group has not been validated and lacks the feature.
    pub fn event_time(&self) -> &FeatureDefinition {
        self.feature(&self.event_time_feature_name)
            .expect("validated group has its event time feature")
    }

    /// True when the online store is enabled.
    pub fn online_enabled(&self) -> bool {
        self.online_store_config
            .as_ref()
            .and_then(|c| c.enable_online_store)
            .unwrap_or(false)
    }

    /// True when the group has an offline store.
    pub fn offline_enabled(&self) -> bool {
        self.offline_store_config.is_some()
    }

    /// The online store's default time to live, if any.
    pub fn ttl(&self) -> Option<TtlDuration> {
        self.online_store_config
            .as_ref()
            .and_then(|c| c.ttl_duration)
    }

    /// The online storage type (`Standard` unless set).
    pub fn storage_type(&self) -> StorageType {
        self.online_store_config
            .as_ref()
            .and_then(|c| c.storage_type)
            .unwrap_or(StorageType::Standard)
    }

    /// Checks every documented rule; the first broken one is returned.
    ///
    /// Rules: the group name's pattern; 1 to 2,500 features; each feature's
    /// name (pattern, reserved names) and collection constraints; no two
    /// features with the same name (ignoring ASCII case, as the offline
    /// store's catalog does); the record identifier is a scalar feature; the event-time feature is a scalar `String` or
    /// `Fractional` feature and not the identifier; at least one store;
    /// collection features only with the `InMemory` online store; TTL of at
    /// least one unit; an `s3://` offline URI, catalog names of 1 to 255
    /// characters, Iceberg only with Glue table creation; at most one `Vector`
    /// and no offline store with `InMemory`; description, tag and role limits.
    pub fn validate(&self) -> Result<()> {
        validate_name(NameKind::FeatureGroup, &self.feature_group_name)?;
        validate_definitions(&self.feature_definitions, MAX_FEATURES)?;

        let id = self
            .feature(&self.record_identifier_feature_name)
            .ok_or_else(|| Error::MissingFeature {
                role: "record identifier",
                feature: self.record_identifier_feature_name.clone(),
            })?;
        if id.is_collection() {
            return Err(Error::InvalidFeatureRole {
                role: "record identifier",
                feature: id.name.clone(),
                reason: format!("it is {}; it must be a scalar feature", describe_type(id)),
            });
        }
        let et =
            self.feature(&self.event_time_feature_name)
                .ok_or_else(|| Error::MissingFeature {
                    role: "event time",
                    feature: self.event_time_feature_name.clone(),
                })?;
        if et.is_collection() || et.feature_type == FeatureType::Integral {
            return Err(Error::InvalidFeatureRole {
                role: "event time",
                feature: et.name.clone(),
                reason: format!(
                    "it is {}; it must be a scalar String or Fractional feature",
                    describe_type(et)
                ),
            });
        }
        if et.name == id.name {
            return Err(Error::InvalidFeatureRole {
                role: "event time",
                feature: et.name.clone(),
                reason: "it is also the record identifier".into(),
            });
        }

        if !self.online_enabled() && !self.offline_enabled() {
            return Err(Error::InvalidConfig {
                field: "OnlineStoreConfig/OfflineStoreConfig".into(),
                reason: "a feature group needs an enabled online store, an offline store, or both"
                    .into(),
            });
        }
        self.validate_storage()?;
        if let Some(ttl) = self.ttl() {
            ttl.validate()?;
        }
        if let Some(off) = &self.offline_store_config {
            off.validate()?;
        }
        if let Some(d) = &self.description
            && d.chars().count() > MAX_DESCRIPTION_LEN
        {
            return Err(Error::InvalidConfig {
                field: "Description".into(),
                reason: format!(
                    "it has {} characters; at most {MAX_DESCRIPTION_LEN} are allowed",
                    d.chars().count()
                ),
            });
        }
        if let Some(tags) = &self.tags {
            validate_tags(tags)?;
        }
        if let Some(arn) = &self.role_arn {
            validate_role_arn(arn)?;
        }
        Ok(())
    }
}

impl FeatureGroup {
    /// Collection features need the `InMemory` online store, which holds at
    /// most one `Vector` feature and has no offline store.
    fn validate_storage(&self) -> Result<()> {
        let in_memory = self.online_enabled() && self.storage_type() == StorageType::InMemory;
        if let Some(c) = self.feature_definitions.iter().find(|f| f.is_collection())
            && !in_memory
        {
            return Err(Error::InvalidDefinition {
                feature: c.name.clone(),
                reason: format!(
                    "collection type {} needs an enabled online store with StorageType InMemory",
                    c.collection.map(|c| c.type_name()).unwrap_or_default()
                ),
            });
        }
        let mut vectors = self
            .feature_definitions
            .iter()
            .filter(|f| matches!(f.collection, Some(Collection::Vector { .. })));
        if let (Some(_), Some(second)) = (vectors.next(), vectors.next()) {
            return Err(Error::InvalidDefinition {
                feature: second.name.clone(),
                reason: "an InMemory feature group holds at most one Vector feature".into(),
            });
        }
        if in_memory && self.offline_enabled() {
            return Err(Error::InvalidConfig {
                field: "OfflineStoreConfig".into(),
                reason: "an InMemory online store has no offline store; remove one of them".into(),
            });
        }
        Ok(())
    }
}

/// Checks a list of definitions on their own: count, each definition, and
/// duplicate names (ignoring ASCII case).
pub(crate) fn validate_definitions(defs: &[FeatureDefinition], max: usize) -> Result<()> {
    if defs.is_empty() {
        return Err(Error::InvalidConfig {
            field: "FeatureDefinitions".into(),
            reason: "at least one feature is required".into(),
        });
    }
    if defs.len() > max {
        return Err(Error::TooManyFeatures {
            count: defs.len(),
            max,
        });
    }
    let mut seen: HashMap<String, &str> = HashMap::with_capacity(defs.len());
    for d in defs {
        d.validate()?;
        if let Some(first) = seen.insert(d.name.to_ascii_lowercase(), &d.name) {
            return Err(Error::DuplicateFeature {
                name: d.name.clone(),
                other: first.to_owned(),
            });
        }
    }
    Ok(())
}

fn describe_type(d: &FeatureDefinition) -> String {
    match d.collection {
        Some(c) => format!("a {} of {}", c.type_name(), d.feature_type),
        None => d.feature_type.to_string(),
    }
}

fn validate_tags(tags: &[Tag]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidConfig {
            field: "Tags".into(),
            reason: format!("{} tags given; at most {MAX_TAGS} are allowed", tags.len()),
        });
    }
    for t in tags {
        let klen = t.key.chars().count();
        if klen == 0 || klen > MAX_TAG_KEY_LEN {
            return Err(Error::InvalidConfig {
                field: "Tags.Key".into(),
                reason: format!(
                    "tag key {:?} must have 1 to {MAX_TAG_KEY_LEN} characters",
                    t.key
                ),
            });
        }
        if t.value.chars().count() > MAX_TAG_VALUE_LEN {
            return Err(Error::InvalidConfig {
                field: "Tags.Value".into(),
                reason: format!(
                    "the value of tag {:?} has more than {MAX_TAG_VALUE_LEN} characters",
                    t.key
                ),
            });
        }
    }
    Ok(())
}

fn validate_role_arn(arn: &str) -> Result<()> {
    // arn:<partition>:iam::<12-digit account>:role/<path and name>
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|r| !r.is_empty());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: "RoleArn".into(),
            reason: format!("{arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
        })
    }
}

/// Builds a [`FeatureGroup`] and validates it in [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct FeatureGroupBuilder {
    group: FeatureGroup,
}

impl FeatureGroupBuilder {
    /// Adds one feature definition.
    pub fn feature(mut self, definition: FeatureDefinition) -> Self {
        self.group.feature_definitions.push(definition);
        self
    }

    /// Adds feature definitions.
    pub fn features(mut self, definitions: impl IntoIterator<Item = FeatureDefinition>) -> Self {
        self.group.feature_definitions.extend(definitions);
        self
    }

    /// Sets the online store configuration.
    pub fn online_store(mut self, config: OnlineStoreConfig) -> Self {
        self.group.online_store_config = Some(config);
        self
    }

    /// Sets the offline store configuration.
    pub fn offline_store(mut self, config: OfflineStoreConfig) -> Self {
        self.group.offline_store_config = Some(config);
        self
    }

    /// Enables the offline store under `s3_uri` with default settings.
    pub fn offline_store_s3_uri(self, s3_uri: impl Into<String>) -> Self {
        self.offline_store(OfflineStoreConfig::new(s3_uri))
    }

    /// Sets the throughput configuration.
    pub fn throughput(mut self, config: ThroughputConfig) -> Self {
        self.group.throughput_config = Some(config);
        self
    }

    /// Sets the IAM role ARN.
    pub fn role_arn(mut self, arn: impl Into<String>) -> Self {
        self.group.role_arn = Some(arn.into());
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.group.description = Some(description.into());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.group.tags.get_or_insert_with(Vec::new).push(Tag {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Validates and returns the group.
    pub fn build(self) -> Result<FeatureGroup> {
        self.group.validate()?;
        Ok(self.group)
    }
}

impl FeatureGroup {
    /// This group narrowed to `features`, in the order given, for typing
    /// batches of selected features ([`crate::arrow_schema()`] and
    /// [`crate::records_to_batch`] of the result). The result is a view for
    /// typing data, not a valid group definition: it may lack the record
    /// identifier or event-time feature.
    pub fn project(&self, features: &[String]) -> Result<FeatureGroup> {
        let mut defs = Vec::with_capacity(features.len());
        for f in features {
            let def = self.feature(f).ok_or_else(|| Error::UnknownFeature {
                group: self.feature_group_name.clone(),
                feature: f.clone(),
            })?;
            defs.push(def.clone());
        }
        Ok(FeatureGroup {
            feature_definitions: defs,
            ..self.clone()
        })
    }
}
