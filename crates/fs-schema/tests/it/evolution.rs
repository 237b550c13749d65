//! Schema evolution: which feature additions and group changes are allowed.

use fs_schema::evolution::{apply_additions, check_additions, plan_update};
use fs_schema::limits::{MAX_FEATURE_ADDITIONS, MAX_FEATURES};
use fs_schema::{
    Collection, Error, FeatureDefinition, FeatureGroup, OfflineStoreConfig, OnlineStoreConfig,
    StorageType, ThroughputConfig, ThroughputMode, TtlDuration, TtlUnit,
};

use crate::{assert_mentions, builder, in_memory_group, online_group};

fn numbered(prefix: &str, n: usize) -> Vec<FeatureDefinition> {
    (0..n)
        .map(|i| FeatureDefinition::integral(format!("{prefix}{i}")))
        .collect()
}

fn group() -> FeatureGroup {
    online_group([FeatureDefinition::integral("age")])
}

#[track_caller]
fn assert_evolution_refused(err: &Error, feature: &str, reason: &str) {
    assert!(
        matches!(err, Error::Evolution { feature: f, .. } if f == feature),
        "{err:?}"
    );
    assert_mentions(err, &[&format!("{feature:?}"), reason]);
}

// ---------------------------------------------------------------- check_additions / apply_additions

#[test]
fn valid_additions_are_appended_in_order() {
    let g = group();
    let additions = [
        FeatureDefinition::fractional("score"),
        FeatureDefinition::string("city"),
    ];
    check_additions(&g, &additions).unwrap();
    let evolved = apply_additions(&g, &additions).unwrap();
    let names: Vec<&str> = evolved
        .feature_definitions
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["id", "ts", "age", "score", "city"]);
    assert_eq!(
        g.feature_definitions.len(),
        3,
        "the original group is unchanged"
    );
    evolved.validate().unwrap();
}

#[test]
fn no_additions_are_refused() {
    let err = check_additions(&group(), &[]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "FeatureAdditions"),
        "{err:?}"
    );
    assert_mentions(&err, &["FeatureAdditions", "at least one"]);
}

#[test]
fn one_update_adds_at_most_100_features() {
    check_additions(&group(), &numbered("f", MAX_FEATURE_ADDITIONS)).unwrap();
    let err = check_additions(&group(), &numbered("f", MAX_FEATURE_ADDITIONS + 1)).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "FeatureAdditions"),
        "{err:?}"
    );
    assert_mentions(&err, &["101 features", "at most 100"]);
}

#[test]
fn addition_clashing_with_an_existing_feature_ignoring_case_is_refused() {
    for name in ["age", "AGE", "Id"] {
        let err = check_additions(&group(), &[FeatureDefinition::integral(name)]).unwrap_err();
        assert!(
            matches!(&err, Error::DuplicateFeature { name: n, .. } if n == name),
            "{name}: {err:?}"
        );
        assert_mentions(&err, &[&format!("{name:?}")]);
    }
    check_additions(&group(), &[FeatureDefinition::integral("age_bucket")]).unwrap();
}

#[test]
fn additions_clashing_with_each_other_are_refused() {
    let err = check_additions(
        &group(),
        &[
            FeatureDefinition::integral("city"),
            FeatureDefinition::string("City"),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateFeature { name, other } if name == "City" && other == "city"),
        "{err:?}"
    );
}

#[test]
fn additions_beyond_2500_features_are_refused() {
    // 3 features, then 2,497 more in 25 updates: the group is full.
    let mut g = group();
    let mut added = 0;
    while g.feature_definitions.len() < MAX_FEATURES {
        let n = (MAX_FEATURES - g.feature_definitions.len()).min(MAX_FEATURE_ADDITIONS);
        g = apply_additions(&g, &numbered(&format!("u{added}_"), n)).unwrap();
        added += 1;
    }
    assert_eq!(g.feature_definitions.len(), 2_500);
    let err = check_additions(&g, &[FeatureDefinition::integral("one_more")]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyFeatures {
                count: 2_501,
                max: 2_500
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["2501", "2500"]);
}

#[test]
fn invalid_addition_is_refused_naming_it() {
    let err = check_additions(&group(), &[FeatureDefinition::integral("write_time")]).unwrap_err();
    assert!(matches!(err, Error::ReservedName { .. }), "{err:?}");
    let err = check_additions(&group(), &[FeatureDefinition::integral("bad name")]).unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
    assert_mentions(&err, &["\"bad name\""]);
}

#[test]
fn collection_addition_on_a_standard_store_is_refused() {
    let list = FeatureDefinition::string("history").with_collection(Collection::List);
    let err = check_additions(&group(), std::slice::from_ref(&list)).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "history"),
        "{err:?}"
    );
    assert_mentions(&err, &["\"history\"", "InMemory"]);
    check_additions(&in_memory_group([]), &[list]).unwrap();
}

#[test]
fn second_vector_addition_is_refused() {
    let vector = |name: &str| {
        FeatureDefinition::fractional(name).with_collection(Collection::Vector { dimension: 4 })
    };
    let g = in_memory_group([vector("emb")]);
    let err = check_additions(&g, &[vector("emb2")]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "emb2"),
        "{err:?}"
    );
    check_additions(&in_memory_group([]), &[vector("emb")]).unwrap();
}

// ---------------------------------------------------------------- plan_update

#[test]
fn unchanged_group_plans_no_additions() {
    assert!(plan_update(&group(), &group()).unwrap().is_empty());
}

#[test]
fn new_features_are_planned_as_additions() {
    let mut proposed = group();
    proposed
        .feature_definitions
        .push(FeatureDefinition::fractional("score"));
    proposed
        .feature_definitions
        .push(FeatureDefinition::string("city"));
    assert_eq!(
        plan_update(&group(), &proposed).unwrap(),
        [
            FeatureDefinition::fractional("score"),
            FeatureDefinition::string("city")
        ]
    );
}

#[test]
fn ttl_description_tags_and_throughput_may_change() {
    let mut proposed = group();
    proposed.online_store_config =
        Some(OnlineStoreConfig::enabled().with_ttl(TtlDuration::new(TtlUnit::Days, 7)));
    proposed.description = Some("now with a description".into());
    proposed.tags = Some(vec![]);
    proposed.throughput_config = Some(ThroughputConfig {
        throughput_mode: ThroughputMode::Provisioned,
        provisioned_read_capacity_units: Some(10),
        provisioned_write_capacity_units: Some(10),
    });
    assert!(plan_update(&group(), &proposed).unwrap().is_empty());
}

#[test]
fn removing_a_feature_is_refused() {
    let mut proposed = group();
    proposed.feature_definitions.retain(|d| d.name != "age");
    let err = plan_update(&group(), &proposed).unwrap_err();
    assert_evolution_refused(&err, "age", "cannot be removed");
}

#[test]
fn renaming_a_feature_is_refused_as_a_removal() {
    let mut proposed = group();
    proposed.feature_definitions[2].name = "Age".into();
    let err = plan_update(&group(), &proposed).unwrap_err();
    assert_evolution_refused(&err, "age", "cannot be removed");
}

#[test]
fn changing_a_feature_type_is_refused_naming_both_types() {
    let mut proposed = group();
    proposed.feature_definitions[2] = FeatureDefinition::fractional("age");
    let err = plan_update(&group(), &proposed).unwrap_err();
    assert_evolution_refused(&err, "age", "Integral cannot become Fractional");

    let current =
        in_memory_group([FeatureDefinition::string("tags").with_collection(Collection::List)]);
    let mut proposed = current.clone();
    proposed.feature_definitions[2] =
        FeatureDefinition::string("tags").with_collection(Collection::Set);
    let err = plan_update(&current, &proposed).unwrap_err();
    assert_evolution_refused(&err, "tags", "List of String cannot become Set of String");
    proposed.feature_definitions[2] = FeatureDefinition::string("tags");
    let err = plan_update(&current, &proposed).unwrap_err();
    assert_evolution_refused(&err, "tags", "List of String cannot become String");
}

#[test]
fn changing_the_record_identifier_is_refused() {
    let mut proposed = group();
    proposed.record_identifier_feature_name = "age".into();
    let err = plan_update(&group(), &proposed).unwrap_err();
    assert_evolution_refused(
        &err,
        "age",
        "record identifier feature is fixed at creation",
    );
    assert_mentions(&err, &["\"id\" cannot become \"age\""]);
}

#[test]
fn changing_the_event_time_feature_or_group_name_is_refused() {
    let mut proposed = builder([
        FeatureDefinition::integral("age"),
        FeatureDefinition::string("ts2"),
    ])
    .online_store(OnlineStoreConfig::enabled())
    .build()
    .unwrap();
    let current = proposed.clone();
    proposed.event_time_feature_name = "ts2".into();
    let err = plan_update(&current, &proposed).unwrap_err();
    assert_evolution_refused(&err, "ts2", "event time feature is fixed at creation");

    let mut renamed = group();
    renamed.feature_group_name = "g2".into();
    let err = plan_update(&group(), &renamed).unwrap_err();
    assert_evolution_refused(&err, "g2", "feature group name is fixed at creation");
}

#[test]
fn changing_the_stores_is_refused() {
    let current = group();
    let mut with_offline = current.clone();
    with_offline.offline_store_config = Some(OfflineStoreConfig::new("s3://bucket"));
    let mut in_memory = current.clone();
    in_memory.online_store_config =
        Some(OnlineStoreConfig::enabled().with_storage_type(StorageType::InMemory));
    let mut disabled = current.clone();
    disabled.online_store_config = Some(OnlineStoreConfig::default());
    disabled.offline_store_config = Some(OfflineStoreConfig::new("s3://bucket"));
    for proposed in [with_offline, in_memory, disabled] {
        let err = plan_update(&current, &proposed).unwrap_err();
        assert_evolution_refused(&err, "g", "store settings are fixed at creation");
    }
    let offline = builder([])
        .offline_store_s3_uri("s3://bucket/a")
        .build()
        .unwrap();
    let mut moved = offline.clone();
    moved.offline_store_config = Some(OfflineStoreConfig::new("s3://bucket/b"));
    let err = plan_update(&offline, &moved).unwrap_err();
    assert_evolution_refused(&err, "g", "store settings are fixed at creation");
}

#[test]
fn planned_additions_are_checked() {
    let mut proposed = group();
    proposed
        .feature_definitions
        .extend(numbered("f", MAX_FEATURE_ADDITIONS + 1));
    let err = plan_update(&group(), &proposed).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if field == "FeatureAdditions"),
        "{err:?}"
    );
    let mut proposed = group();
    proposed
        .feature_definitions
        .push(FeatureDefinition::string("history").with_collection(Collection::Set));
    let err = plan_update(&group(), &proposed).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidDefinition { feature, .. } if feature == "history"),
        "{err:?}"
    );
    let mut proposed = group();
    proposed
        .feature_definitions
        .push(FeatureDefinition::integral("AGE"));
    let err = plan_update(&group(), &proposed).unwrap_err();
    assert!(matches!(err, Error::DuplicateFeature { .. }), "{err:?}");
}
