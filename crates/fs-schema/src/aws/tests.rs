//! Conversion round trips, refusal of values this crate cannot represent, and
//! the polling logic. No network: the client tests use an in-process HTTP
//! client (see `fake`).

use aws_sdk_sagemaker::operation::describe_feature_group::DescribeFeatureGroupOutput;
use aws_sdk_sagemaker::types as sdk;
use aws_smithy_types::DateTime as SdkDateTime;

use super::*;
use crate::Error;
use crate::registry::{
    FeatureGroupDescription, FeatureGroupStatus, FeatureGroupSummary, LastUpdateStatus,
    OfflineStoreStatus,
};
use crate::types::{Collection, FeatureDefinition, FeatureType};
use crate::{
    DataCatalogConfig, FeatureGroup, OfflineStoreConfig, OnlineStoreConfig,
    OnlineStoreSecurityConfig, S3StorageConfig, StorageType, TableFormat, Tag, ThroughputConfig,
    ThroughputMode, TtlDuration, TtlUnit,
};

mod errors;
mod fake;
mod polling;

/// An in-memory group: every online-store field, every collection type.
fn in_memory_group() -> FeatureGroup {
    FeatureGroup {
        feature_group_name: "sessions".into(),
        record_identifier_feature_name: "session_id".into(),
        event_time_feature_name: "event_time".into(),
        feature_definitions: vec![
            FeatureDefinition::string("session_id"),
            FeatureDefinition::fractional("event_time"),
            FeatureDefinition::integral("clicks"),
            FeatureDefinition::string("pages").with_collection(Collection::List),
            FeatureDefinition::integral("items").with_collection(Collection::Set),
            FeatureDefinition::fractional("embedding")
                .with_collection(Collection::Vector { dimension: 768 }),
        ],
        online_store_config: Some(OnlineStoreConfig {
            enable_online_store: Some(true),
            security_config: Some(OnlineStoreSecurityConfig {
                kms_key_id: Some("arn:aws:kms:us-east-1:123456789012:key/online".into()),
            }),
            ttl_duration: Some(TtlDuration::new(TtlUnit::Hours, 36)),
            storage_type: Some(StorageType::InMemory),
        }),
        offline_store_config: None,
        throughput_config: Some(ThroughputConfig {
            throughput_mode: ThroughputMode::OnDemand,
            provisioned_read_capacity_units: None,
            provisioned_write_capacity_units: None,
        }),
        role_arn: Some("arn:aws:iam::123456789012:role/fs".into()),
        description: Some("session features".into()),
        tags: Some(vec![
            Tag {
                key: "team".into(),
                value: "ml".into(),
            },
            Tag {
                key: "empty".into(),
                value: String::new(),
            },
        ]),
    }
}

/// A standard online + Iceberg offline group: every offline-store field,
/// provisioned throughput.
fn offline_group() -> FeatureGroup {
    FeatureGroup {
        feature_group_name: "customers".into(),
        record_identifier_feature_name: "customer_id".into(),
        event_time_feature_name: "event_time".into(),
        feature_definitions: vec![
            FeatureDefinition::integral("customer_id"),
            FeatureDefinition::string("event_time"),
            FeatureDefinition::fractional("lifetime_value"),
        ],
        online_store_config: Some(OnlineStoreConfig {
            enable_online_store: Some(true),
            security_config: None,
            ttl_duration: Some(TtlDuration::new(TtlUnit::Weeks, 2)),
            storage_type: Some(StorageType::StandardV2),
        }),
        offline_store_config: Some(OfflineStoreConfig {
            s3_storage_config: S3StorageConfig {
                s3_uri: "s3://bucket/prefix".into(),
                kms_key_id: Some("alias/offline".into()),
                resolved_output_s3_uri: Some(
                    "s3://bucket/prefix/123456789012/sagemaker/us-east-1/offline-store/customers-1700000000/data"
                        .into(),
                ),
            },
            disable_glue_table_creation: Some(false),
            data_catalog_config: Some(DataCatalogConfig {
                table_name: "customers_1700000000".into(),
                catalog: "AwsDataCatalog".into(),
                database: "sagemaker_featurestore".into(),
            }),
            table_format: Some(TableFormat::Iceberg),
        }),
        throughput_config: Some(ThroughputConfig {
            throughput_mode: ThroughputMode::Provisioned,
            provisioned_read_capacity_units: Some(100),
            provisioned_write_capacity_units: Some(50),
        }),
        role_arn: Some("arn:aws:iam::123456789012:role/fs".into()),
        description: Some("customer features".into()),
        tags: Some(vec![Tag { key: "cost-center".into(), value: "42".into() }]),
    }
}

/// A client that never sends anything (building a request needs one).
fn offline_client() -> aws_sdk_sagemaker::Client {
    let conf = aws_sdk_sagemaker::Config::builder()
        .behavior_version(aws_sdk_sagemaker::config::BehaviorVersion::latest())
        .region(aws_sdk_sagemaker::config::Region::new("us-east-1"))
        .build();
    aws_sdk_sagemaker::Client::from_conf(conf)
}

/// What DescribeFeatureGroup would return for a group created from `group`'s
/// CreateFeatureGroup request.
fn describe_output_for(group: &FeatureGroup) -> DescribeFeatureGroupOutput {
    let req = apply_create_feature_group(offline_client().create_feature_group(), group);
    let input = req.as_input();
    let throughput = input.get_throughput_config().as_ref().map(|t| {
        sdk::ThroughputConfigDescription::builder()
            .set_throughput_mode(t.throughput_mode().cloned())
            .set_provisioned_read_capacity_units(t.provisioned_read_capacity_units())
            .set_provisioned_write_capacity_units(t.provisioned_write_capacity_units())
            .build()
    });
    DescribeFeatureGroupOutput::builder()
        .feature_group_arn(format!(
            "arn:aws:sagemaker:us-east-1:123456789012:feature-group/{}",
            group.feature_group_name
        ))
        .set_feature_group_name(input.get_feature_group_name().clone())
        .set_record_identifier_feature_name(input.get_record_identifier_feature_name().clone())
        .set_event_time_feature_name(input.get_event_time_feature_name().clone())
        .set_feature_definitions(input.get_feature_definitions().clone())
        .set_online_store_config(input.get_online_store_config().clone())
        .set_offline_store_config(input.get_offline_store_config().clone())
        .set_throughput_config(throughput)
        .set_role_arn(input.get_role_arn().clone())
        .set_description(input.get_description().clone())
        .creation_time(SdkDateTime::from_secs_and_nanos(1_700_000_000, 250_000_000))
        .feature_group_status(sdk::FeatureGroupStatus::Created)
        .offline_store_status(
            sdk::OfflineStoreStatus::builder()
                .status(sdk::OfflineStoreStatusValue::Blocked)
                .blocked_reason("bucket policy")
                .build(),
        )
        .last_update_status(
            sdk::LastUpdateStatus::builder()
                .status(sdk::LastUpdateStatusValue::Failed)
                .failure_reason("feature limit")
                .build(),
        )
        .online_store_total_size_bytes(4096)
        .build()
}

#[test]
fn full_groups_round_trip_through_the_sdk() {
    for group in [in_memory_group(), offline_group()] {
        let out = describe_output_for(&group);
        let d = FeatureGroupDescription::from_sdk(&out).unwrap();
        // DescribeFeatureGroup does not return tags; everything else survives.
        assert_eq!(
            d.spec,
            FeatureGroup {
                tags: None,
                ..group.clone()
            }
        );
        assert_eq!(d.name(), group.feature_group_name);
        assert!(
            d.arn
                .ends_with(&format!("feature-group/{}", group.feature_group_name))
        );
        assert_eq!(d.status, FeatureGroupStatus::Created);
        assert_eq!(d.creation_time.timestamp(), 1_700_000_000);
        assert_eq!(d.creation_time.timestamp_subsec_millis(), 250);
        assert_eq!(
            d.offline_store_status,
            Some(OfflineStoreStatus::Blocked {
                reason: Some("bucket policy".into())
            })
        );
        assert_eq!(
            d.last_update_status,
            Some(LastUpdateStatus::Failed {
                reason: Some("feature limit".into())
            })
        );
        assert_eq!(d.online_store_total_size_bytes, Some(4096));

        // Tags go through the request unchanged.
        let req = apply_create_feature_group(offline_client().create_feature_group(), &group);
        let tags: Vec<Tag> = req
            .as_input()
            .get_tags()
            .as_deref()
            .unwrap()
            .iter()
            .map(|t| Tag::from_sdk(t).unwrap())
            .collect();
        assert_eq!(Some(tags), group.tags);
    }
    let d = FeatureGroupDescription::from_sdk(&describe_output_for(&offline_group())).unwrap();
    assert!(
        d.resolved_output_s3_uri()
            .unwrap()
            .ends_with("/offline-store/customers-1700000000/data")
    );
    let d = FeatureGroupDescription::from_sdk(&describe_output_for(&in_memory_group())).unwrap();
    assert_eq!(d.resolved_output_s3_uri(), None);
}

#[test]
fn sdk_shapes_are_the_documented_ones() {
    let v = FeatureDefinition::fractional("emb")
        .with_collection(Collection::Vector { dimension: 3 })
        .to_sdk();
    assert_eq!(v.feature_name(), Some("emb"));
    assert_eq!(v.feature_type(), Some(&sdk::FeatureType::Fractional));
    assert_eq!(v.collection_type(), Some(&sdk::CollectionType::Vector));
    let dim = v
        .collection_config()
        .unwrap()
        .as_vector_config()
        .unwrap()
        .dimension();
    assert_eq!(dim, Some(3));
    let scalar = FeatureDefinition::string("s").to_sdk();
    assert_eq!(
        (scalar.collection_type(), scalar.collection_config()),
        (None, None)
    );
    assert_eq!(TableFormat::Default.to_sdk(), sdk::TableFormat::Default);
    assert_eq!(StorageType::StandardV2.to_sdk().as_str(), "Standard_V2");
    assert_eq!(
        FeatureGroupStatus::Deleting.to_sdk(),
        sdk::FeatureGroupStatus::Deleting
    );
}

fn invalid_config(e: Error) -> (String, String) {
    match e {
        Error::InvalidConfig { field, reason } => (field, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn unknown_enum_values_are_refused_with_field_and_value() {
    let def = |t: sdk::FeatureType, c: Option<sdk::CollectionType>| {
        sdk::FeatureDefinition::builder()
            .feature_name("f")
            .feature_type(t)
            .set_collection_type(c)
            .build()
    };
    let (field, reason) =
        invalid_config(FeatureDefinition::from_sdk(&def("Complex".into(), None)).unwrap_err());
    assert!(
        field.contains("FeatureType") && field.contains("\"f\""),
        "{field}"
    );
    assert!(reason.contains("\"Complex\""), "{reason}");
    assert!(
        reason.contains("Integral, Fractional or String"),
        "{reason}"
    );

    let err = FeatureDefinition::from_sdk(&def(sdk::FeatureType::String, Some("Bag".into())))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CollectionType") && err.contains("\"Bag\""),
        "{err}"
    );

    let cases: Vec<(Error, &str, &str)> = vec![
        (
            StorageType::from_sdk(&"Quantum".into()).unwrap_err(),
            "OnlineStoreConfig.StorageType",
            "Quantum",
        ),
        (
            TtlUnit::from_sdk(&"Fortnights".into()).unwrap_err(),
            "OnlineStoreConfig.TtlDuration.Unit",
            "Fortnights",
        ),
        (
            TableFormat::from_sdk(&"Delta".into()).unwrap_err(),
            "OfflineStoreConfig.TableFormat",
            "Delta",
        ),
        (
            ThroughputMode::from_sdk(&"Burst".into()).unwrap_err(),
            "ThroughputConfig.ThroughputMode",
            "Burst",
        ),
    ];
    for (err, field_name, value) in cases {
        let text = err.to_string();
        let (field, reason) = invalid_config(err);
        assert_eq!(field, field_name);
        assert!(reason.contains(&format!("{value:?}")), "{text}");
    }

    // Unknown values nested in a describe response name their field too.
    let mut out = describe_output_for(&in_memory_group());
    out.online_store_config.as_mut().unwrap().storage_type = Some("Quantum".into());
    let err = FeatureGroupDescription::from_sdk(&out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OnlineStoreConfig.StorageType") && err.contains("Quantum"),
        "{err}"
    );

    // Statuses are open-ended: unknown ones are kept, not refused.
    let mut out = describe_output_for(&in_memory_group());
    out.feature_group_status = Some("Archived".into());
    let d = FeatureGroupDescription::from_sdk(&out).unwrap();
    assert_eq!(d.status, FeatureGroupStatus::Other("Archived".into()));
    assert_eq!(d.status.to_string(), "Archived");
}

#[test]
fn malformed_responses_are_refused() {
    let vector = |dim: Option<i32>| {
        sdk::FeatureDefinition::builder()
            .feature_name("emb")
            .feature_type(sdk::FeatureType::Fractional)
            .collection_type(sdk::CollectionType::Vector)
            .set_collection_config(dim.map(|d| {
                sdk::CollectionConfig::VectorConfig(
                    sdk::VectorConfig::builder().dimension(d).build(),
                )
            }))
            .build()
    };
    let err = FeatureDefinition::from_sdk(&vector(None))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("VectorConfig") && err.contains("missing"),
        "{err}"
    );
    let err = FeatureDefinition::from_sdk(&vector(Some(-1)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Dimension") && err.contains("-1"), "{err}");
    assert_eq!(
        FeatureDefinition::from_sdk(&vector(Some(4))).unwrap(),
        FeatureDefinition::new("emb", FeatureType::Fractional)
            .with_collection(Collection::Vector { dimension: 4 })
    );

    let mut out = describe_output_for(&offline_group());
    out.creation_time = None;
    let err = FeatureGroupDescription::from_sdk(&out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("CreationTime"), "{err}");
    let mut out = describe_output_for(&offline_group());
    out.offline_store_config.as_mut().unwrap().s3_storage_config = None;
    let err = FeatureGroupDescription::from_sdk(&out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("OfflineStoreConfig.S3StorageConfig"), "{err}");
}

#[test]
fn summaries_convert() {
    let s = sdk::FeatureGroupSummary::builder()
        .feature_group_name("users")
        .feature_group_arn("arn:aws:sagemaker:us-east-1:123456789012:feature-group/users")
        .creation_time(SdkDateTime::from_secs(1_600_000_000))
        .feature_group_status(sdk::FeatureGroupStatus::Creating)
        .offline_store_status(
            sdk::OfflineStoreStatus::builder()
                .status(sdk::OfflineStoreStatusValue::Active)
                .build(),
        )
        .build();
    let ours = FeatureGroupSummary::from_sdk(&s).unwrap();
    assert_eq!(ours.name, "users");
    assert_eq!(ours.status, FeatureGroupStatus::Creating);
    assert_eq!(ours.creation_time.timestamp(), 1_600_000_000);
    assert_eq!(ours.offline_store_status, Some(OfflineStoreStatus::Active));

    let no_name = sdk::FeatureGroupSummary::builder().build();
    let err = FeatureGroupSummary::from_sdk(&no_name)
        .unwrap_err()
        .to_string();
    assert!(err.contains("FeatureGroupName"), "{err}");
}
