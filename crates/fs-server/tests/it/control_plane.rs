//! The control plane through the real aws-sdk-sagemaker client.

use std::time::Duration;

use fs_schema::FeatureDefinition;
use fs_schema::aws::{AwsErrorKind, ControlPlane, SageMakerRegistry};
use fs_schema::registry::{FeatureGroupStatus, OfflineStoreStatus};

use crate::support::{env, group};

fn kind(e: fs_schema::Error) -> AwsErrorKind {
    match e {
        fs_schema::Error::Aws(a) => a.kind,
        other => panic!("expected an AWS error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_describe_list_evolve_and_delete_a_group() {
    let env = env(3).await;
    let cp = ControlPlane::new(&env.config);
    let arn = cp.create_feature_group(&group("customers")).await.unwrap();
    assert_eq!(
        arn,
        "arn:aws:sagemaker:us-east-1:000000000000:feature-group/customers"
    );
    let d = cp
        .wait_for_status(
            "customers",
            FeatureGroupStatus::Created,
            Duration::from_secs(5),
            Duration::from_millis(10),
        )
        .await
        .unwrap();
    assert_eq!(
        d.spec.feature_definitions,
        group("customers").feature_definitions
    );
    assert_eq!(d.spec.description.as_deref(), Some("a test group"));
    assert_eq!(d.offline_store_status, Some(OfflineStoreStatus::Active));
    assert!(
        d.resolved_output_s3_uri()
            .unwrap()
            .contains("/offline-store/customers-")
    );
    let tags = cp.list_tags(&arn).await.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].key, "team");

    cp.add_features("customers", &[FeatureDefinition::fractional("ltv")])
        .await
        .unwrap();
    let d = cp.describe_feature_group("customers").await.unwrap();
    assert!(d.spec.feature("ltv").is_some());
    assert!(
        env.store
            .describe_feature_group("customers")
            .unwrap()
            .spec
            .feature("ltv")
            .is_some()
    );

    cp.delete_feature_group("customers").await.unwrap();
    cp.wait_for_deleted(
        "customers",
        Duration::from_secs(5),
        Duration::from_millis(10),
    )
    .await
    .unwrap();
    assert_eq!(
        kind(cp.describe_feature_group("customers").await.unwrap_err()),
        AwsErrorKind::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_follows_next_tokens_through_every_page() {
    let env = env(3).await;
    let cp = ControlPlane::new(&env.config);
    for i in 0..23 {
        cp.create_feature_group(&group(&format!("g{i:02}")))
            .await
            .unwrap();
    }
    let all = cp.list_feature_groups().await.unwrap();
    assert_eq!(all.len(), 23);
    assert!(
        env.server.request_count("ListFeatureGroups") >= 3,
        "10 per page by default"
    );
    let some = cp.list_feature_groups_matching("g1").await.unwrap();
    assert_eq!(some.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_back_as_the_sdk_classifies_them() {
    let env = env(3).await;
    let cp = ControlPlane::new(&env.config);
    cp.create_feature_group(&group("dup")).await.unwrap();
    assert_eq!(
        kind(cp.create_feature_group(&group("dup")).await.unwrap_err()),
        AwsErrorKind::ResourceInUse
    );
    assert_eq!(
        kind(cp.describe_feature_group("nope").await.unwrap_err()),
        AwsErrorKind::NotFound
    );
    assert_eq!(
        kind(cp.delete_feature_group("nope").await.unwrap_err()),
        AwsErrorKind::NotFound
    );
    // A clash the client-side check cannot see: adding an existing feature
    // name is refused by the server's own validation.
    let err = cp
        .client()
        .update_feature_group()
        .feature_group_name("dup")
        .feature_additions(
            fs_schema::aws::sdk::types::FeatureDefinition::builder()
                .feature_name("n")
                .feature_type(fs_schema::aws::sdk::types::FeatureType::Integral)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    let e = fs_schema::aws::AwsError::from_sdk("UpdateFeatureGroup", err);
    assert_eq!(e.kind, AwsErrorKind::Validation, "{e}");
    assert!(e.message.contains("duplicate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_reach_the_control_plane_and_are_retried() {
    let env = env(10).await;
    let cp = ControlPlane::new(&env.config);
    env.server.set_faults(
        fs_server::Faults::none()
            .throttle_rate(0.5)
            .seed(3)
            .only(["CreateFeatureGroup"]),
    );
    for i in 0..5 {
        cp.create_feature_group(&group(&format!("f{i}")))
            .await
            .unwrap();
    }
    assert!(env.server.request_count("CreateFeatureGroup") > 5);
    assert_eq!(env.store.list_feature_groups().len(), 5);
}

/// SageMaker's registry (the real aws-sdk-sagemaker client against
/// fs-server) keeps the contract the embedded store keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_registry_contract() {
    let env = env(3).await;
    let registry = SageMakerRegistry::new(&env.config)
        .with_waits(Duration::from_secs(5), Duration::from_millis(10));
    fs_schema::registry::contract::run_all(&registry, "contract").await;
}
