//! The contract every [`Registry`] backend keeps (feature `test-util`).
//!
//! Each function runs one behaviour against a registry and panics, naming
//! what differed, when the backend breaks it. A backend's tests call
//! [`run_all`] (or the functions one by one) with a prefix of group names
//! that no other test uses:
//!
//! ```no_run
//! # async fn example(registry: &dyn fs_schema::registry::Registry) {
//! fs_schema::registry::contract::run_all(registry, "contract_local").await;
//! # }
//! ```

use super::{FeatureGroupStatus, Registry, RegistryError};
use crate::{FeatureDefinition, FeatureGroup, OfflineStoreConfig, OnlineStoreConfig};

/// A group called `name` with an id, an event time and one feature, with
/// an online store and an offline store under `s3://contract-bucket/`.
pub fn sample_group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name, "id", "event_time")
        .feature(FeatureDefinition::string("id"))
        .feature(FeatureDefinition::string("event_time"))
        .feature(FeatureDefinition::fractional("score"))
        .online_store(OnlineStoreConfig::enabled())
        .offline_store(OfflineStoreConfig::new("s3://contract-bucket/offline"))
        .role_arn("arn:aws:iam::000000000000:role/contract")
        .build()
        .expect("the contract's group is valid")
}

/// Runs every check of the contract, each on its own groups named
/// `<prefix>_...`.
pub async fn run_all(registry: &dyn Registry, prefix: &str) {
    create_then_describe(registry, &format!("{prefix}_create")).await;
    create_twice_is_already_exists(registry, &format!("{prefix}_twice")).await;
    list_includes_created(registry, &format!("{prefix}_list")).await;
    add_features_evolves(registry, &format!("{prefix}_add")).await;
    add_existing_feature_fails_unchanged(registry, &format!("{prefix}_add_existing")).await;
    delete_then_not_found(registry, &format!("{prefix}_delete")).await;
    missing_group_is_not_found(registry, &format!("{prefix}_missing")).await;
}

/// Create returns the group `Created`, with its definitions, an ARN naming
/// it and an offline location; describe then returns the same.
pub async fn create_then_describe(registry: &dyn Registry, name: &str) {
    let spec = sample_group(name);
    let created = registry
        .create_feature_group(spec.clone())
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
    assert_eq!(
        created.status,
        FeatureGroupStatus::Created,
        "status after create"
    );
    assert_eq!(created.name(), name);
    assert_eq!(created.spec.feature_definitions, spec.feature_definitions);
    assert_eq!(created.spec.record_identifier_feature_name, "id");
    assert_eq!(created.spec.event_time_feature_name, "event_time");
    assert!(
        created.arn.ends_with(&format!(":feature-group/{name}")),
        "ARN {} names the group",
        created.arn
    );
    assert!(
        created.arn.starts_with("arn:aws:sagemaker:"),
        "ARN {}",
        created.arn
    );
    assert!(created.spec.online_enabled() && created.spec.offline_enabled());
    assert!(
        created.offline_location().is_some(),
        "a group with an offline store says where its data is"
    );
    let described = registry
        .describe_feature_group(name)
        .await
        .unwrap_or_else(|e| panic!("describe {name}: {e}"));
    assert_eq!(described.arn, created.arn);
    assert_eq!(described.status, FeatureGroupStatus::Created);
    assert_eq!(
        described.spec.feature_definitions,
        created.spec.feature_definitions
    );
    assert_eq!(
        described.creation_time.timestamp_millis(),
        created.creation_time.timestamp_millis(),
        "the creation time does not change"
    );
    assert_eq!(described.offline_location(), created.offline_location());
    assert_eq!(described.last_modified_time, None, "never updated");
}

/// A second create of the same name is [`RegistryError::AlreadyExists`]
/// and leaves the first group as it was.
pub async fn create_twice_is_already_exists(registry: &dyn Registry, name: &str) {
    let first = registry
        .create_feature_group(sample_group(name))
        .await
        .unwrap();
    let mut other = sample_group(name);
    other.description = Some("another".into());
    match registry.create_feature_group(other).await {
        Err(RegistryError::AlreadyExists { group }) => assert_eq!(group, name),
        Err(e) => panic!("a second create of {name} should say it exists, not: {e}"),
        Ok(_) => panic!("a second create of {name} succeeded"),
    }
    let now = registry.describe_feature_group(name).await.unwrap();
    assert_eq!(now.arn, first.arn);
    assert_eq!(now.spec.description, first.spec.description);
}

/// The listing holds every created group once, with its ARN and status.
pub async fn list_includes_created(registry: &dyn Registry, name: &str) {
    let a = format!("{name}_a");
    let b = format!("{name}_b");
    let created_a = registry
        .create_feature_group(sample_group(&a))
        .await
        .unwrap();
    registry
        .create_feature_group(sample_group(&b))
        .await
        .unwrap();
    let list = registry.list_feature_groups().await.unwrap();
    for (group, arn) in [(&a, Some(&created_a.arn)), (&b, None)] {
        let found: Vec<_> = list.iter().filter(|s| &s.name == group).collect();
        assert_eq!(found.len(), 1, "{group} is listed once: {list:?}");
        assert_eq!(found[0].status, FeatureGroupStatus::Created);
        if let Some(arn) = arn {
            assert_eq!(&found[0].arn, arn);
        }
    }
}

/// Added features follow the existing ones; the group records when it
/// was modified.
pub async fn add_features_evolves(registry: &dyn Registry, name: &str) {
    let created = registry
        .create_feature_group(sample_group(name))
        .await
        .unwrap();
    let added = [
        FeatureDefinition::integral("clicks"),
        FeatureDefinition::string("segment"),
    ];
    let evolved = registry
        .add_features(name, &added)
        .await
        .unwrap_or_else(|e| panic!("add features to {name}: {e}"));
    let names: Vec<&str> = evolved
        .spec
        .feature_definitions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["id", "event_time", "score", "clicks", "segment"]);
    assert!(
        evolved.last_modified_time.is_some(),
        "an update sets LastModifiedTime"
    );
    assert_eq!(evolved.arn, created.arn);
    let described = registry.describe_feature_group(name).await.unwrap();
    assert_eq!(
        described.spec.feature_definitions,
        evolved.spec.feature_definitions
    );
}

/// Adding a feature that exists fails, and the group keeps its features.
pub async fn add_existing_feature_fails_unchanged(registry: &dyn Registry, name: &str) {
    registry
        .create_feature_group(sample_group(name))
        .await
        .unwrap();
    let result = registry
        .add_features(name, &[FeatureDefinition::integral("score")])
        .await;
    assert!(result.is_err(), "re-adding `score` to {name} succeeded");
    let described = registry.describe_feature_group(name).await.unwrap();
    assert_eq!(
        described.spec.feature_definitions,
        sample_group(name).feature_definitions
    );
}

/// After delete, describe and a second delete are
/// [`RegistryError::NotFound`], and the name can be created again.
pub async fn delete_then_not_found(registry: &dyn Registry, name: &str) {
    registry
        .create_feature_group(sample_group(name))
        .await
        .unwrap();
    registry
        .delete_feature_group(name)
        .await
        .unwrap_or_else(|e| panic!("delete {name}: {e}"));
    assert!(
        matches!(
            registry.describe_feature_group(name).await,
            Err(RegistryError::NotFound { .. })
        ),
        "{name} is gone after delete"
    );
    assert!(
        matches!(
            registry.delete_feature_group(name).await,
            Err(RegistryError::NotFound { .. })
        ),
        "a second delete of {name} is not found"
    );
    let listed = registry.list_feature_groups().await.unwrap();
    assert!(
        listed.iter().all(|s| s.name != name),
        "{name} is not listed after delete"
    );
    registry
        .create_feature_group(sample_group(name))
        .await
        .unwrap_or_else(|e| panic!("create {name} again after delete: {e}"));
}

/// Describing, evolving or deleting a group that never existed is
/// [`RegistryError::NotFound`] naming it.
pub async fn missing_group_is_not_found(registry: &dyn Registry, name: &str) {
    match registry.describe_feature_group(name).await {
        Err(RegistryError::NotFound { group }) => assert_eq!(group, name),
        other => panic!("describe of missing {name}: {other:?}"),
    }
    assert!(matches!(
        registry
            .add_features(name, &[FeatureDefinition::integral("x")])
            .await,
        Err(RegistryError::NotFound { .. })
    ));
    assert!(matches!(
        registry.delete_feature_group(name).await,
        Err(RegistryError::NotFound { .. })
    ));
}
