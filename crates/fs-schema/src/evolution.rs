//! Schema evolution: which changes to a feature group are allowed.
//!
//! The service lets a feature group gain features (at most 100 per
//! `UpdateFeatureGroup` call, up to the 2,500-feature limit) and nothing
//! else: features cannot be removed, renamed or retyped, and the name,
//! record identifier, event-time feature and stores are fixed at creation.

use crate::FeatureGroup;
use crate::error::{Error, Result};
use crate::group::validate_definitions;
use crate::limits::{MAX_FEATURE_ADDITIONS, MAX_FEATURES};
use crate::types::FeatureDefinition;

/// Checks that `additions` may be added to `group`: 1 to 100 of them, each
/// valid, none clashing with an existing feature or with each other, the
/// total within 2,500, and collection features only where the group's
/// storage allows them.
///
/// ```
/// use fs_schema::{evolution::check_additions, FeatureDefinition, FeatureGroup, OnlineStoreConfig};
/// let group = FeatureGroup::builder("g", "id", "ts")
///     .features([FeatureDefinition::string("id"), FeatureDefinition::string("ts")])
///     .online_store(OnlineStoreConfig::enabled())
///     .build()?;
/// check_additions(&group, &[FeatureDefinition::integral("age")])?;
/// assert!(check_additions(&group, &[FeatureDefinition::integral("ID")]).is_err());
/// # Ok::<(), fs_schema::Error>(())
/// ```
pub fn check_additions(group: &FeatureGroup, additions: &[FeatureDefinition]) -> Result<()> {
    apply_additions(group, additions).map(|_| ())
}

/// `group` with `additions` appended, after [`check_additions`]' checks.
pub fn apply_additions(
    group: &FeatureGroup,
    additions: &[FeatureDefinition],
) -> Result<FeatureGroup> {
    if additions.is_empty() {
        return Err(Error::InvalidConfig {
            field: "FeatureAdditions".into(),
            reason: "at least one feature must be added".into(),
        });
    }
    if additions.len() > MAX_FEATURE_ADDITIONS {
        return Err(Error::InvalidConfig {
            field: "FeatureAdditions".into(),
            reason: format!(
                "{} features given; one update adds at most {MAX_FEATURE_ADDITIONS}",
                additions.len()
            ),
        });
    }
    let mut evolved = group.clone();
    evolved.feature_definitions.extend_from_slice(additions);
    validate_definitions(&evolved.feature_definitions, MAX_FEATURES)?;
    evolved.validate()?;
    Ok(evolved)
}

/// Compares a group with a proposed new version of it and returns the
/// features to add. Refuses, with the reason, every change the service does
/// not allow: a different name, record identifier, event-time feature or
/// store configuration; a removed feature; a feature whose type or
/// collection type changed.
pub fn plan_update(
    current: &FeatureGroup,
    proposed: &FeatureGroup,
) -> Result<Vec<FeatureDefinition>> {
    let fixed = |what: &str, a: &str, b: &str| Error::Evolution {
        feature: b.to_owned(),
        reason: format!("the {what} is fixed at creation ({a:?} cannot become {b:?})"),
    };
    if current.feature_group_name != proposed.feature_group_name {
        return Err(fixed(
            "feature group name",
            &current.feature_group_name,
            &proposed.feature_group_name,
        ));
    }
    if current.record_identifier_feature_name != proposed.record_identifier_feature_name {
        return Err(fixed(
            "record identifier feature",
            &current.record_identifier_feature_name,
            &proposed.record_identifier_feature_name,
        ));
    }
    if current.event_time_feature_name != proposed.event_time_feature_name {
        return Err(fixed(
            "event time feature",
            &current.event_time_feature_name,
            &proposed.event_time_feature_name,
        ));
    }
    if current.online_enabled() != proposed.online_enabled()
        || current.storage_type() != proposed.storage_type()
        || current
            .offline_store_config
            .as_ref()
            .map(|c| &c.s3_storage_config.s3_uri)
            != proposed
                .offline_store_config
                .as_ref()
                .map(|c| &c.s3_storage_config.s3_uri)
    {
        return Err(Error::Evolution {
            feature: current.feature_group_name.clone(),
            reason: "online and offline store settings are fixed at creation (only the TTL can be updated)".into(),
        });
    }
    for old in &current.feature_definitions {
        match proposed.feature(&old.name) {
            None => {
                return Err(Error::Evolution {
                    feature: old.name.clone(),
                    reason: "features cannot be removed from a feature group".into(),
                });
            }
            Some(new) if new != old => {
                return Err(Error::Evolution {
                    feature: old.name.clone(),
                    reason: format!(
                        "its type is fixed ({} cannot become {})",
                        describe(old),
                        describe(new)
                    ),
                });
            }
            Some(_) => {}
        }
    }
    let additions: Vec<FeatureDefinition> = proposed
        .feature_definitions
        .iter()
        .filter(|d| current.feature(&d.name).is_none())
        .cloned()
        .collect();
    if !additions.is_empty() {
        check_additions(current, &additions)?;
    }
    Ok(additions)
}

fn describe(d: &FeatureDefinition) -> String {
    match d.collection {
        Some(c) => format!("{} of {}", c.type_name(), d.feature_type),
        None => d.feature_type.to_string(),
    }
}
