//! ARNs and resolved S3 URIs name the region the client signed for (or the
//! server's `region`/`account`), through the real aws-sdk-sagemaker client;
//! roles SageMaker cannot assume are refused as the service refuses them.

use fs_schema::aws::sdk::Client;
use fs_server::ServerOptions;

use crate::support::{Env, env, env_with, group};

/// The real SageMaker client for `env`, signing for `region`.
fn client(env: &Env, region: &'static str) -> Client {
    let config = env
        .config
        .to_builder()
        .region(aws_types::region::Region::new(region))
        .build();
    Client::new(&config)
}

async fn create(client: &Client, name: &str) -> String {
    fs_schema::aws::ControlPlane::from_client(client.clone())
        .create_feature_group(&group(name))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_in_ap_southeast_2_sees_its_region_in_arns_and_s3_uris() {
    let env = env(1).await;
    let sydney = client(&env, "ap-southeast-2");
    let arn = create(&sydney, "g").await;
    assert_eq!(
        arn,
        "arn:aws:sagemaker:ap-southeast-2:000000000000:feature-group/g"
    );
    let d = sydney
        .describe_feature_group()
        .feature_group_name("g")
        .send()
        .await
        .unwrap();
    assert_eq!(d.feature_group_arn(), Some(arn.as_str()));
    let resolved = d
        .offline_store_config()
        .and_then(|o| o.s3_storage_config())
        .and_then(|s| s.resolved_output_s3_uri())
        .unwrap();
    assert!(
        resolved.starts_with(
            "s3://bucket/prefix/000000000000/sagemaker/ap-southeast-2/offline-store/g-"
        ),
        "{resolved}"
    );
    let listed = sydney.list_feature_groups().send().await.unwrap();
    assert_eq!(
        listed.feature_group_summaries()[0].feature_group_arn(),
        Some(arn.as_str())
    );
    let tags = sydney.list_tags().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1);
    // The same group, seen from another region, names that region.
    let ireland = client(&env, "eu-west-1");
    let d = ireland
        .describe_feature_group()
        .feature_group_name("g")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.feature_group_arn(),
        Some("arn:aws:sagemaker:eu-west-1:000000000000:feature-group/g")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_region_and_account_win_over_the_signature() {
    let options = ServerOptions::default()
        .region("ap-southeast-2")
        .account("123456789012");
    let env = env_with(1, options).await;
    let virginia = client(&env, "us-east-1");
    let arn = create(&virginia, "g").await;
    assert_eq!(
        arn,
        "arn:aws:sagemaker:ap-southeast-2:123456789012:feature-group/g"
    );
    let d = virginia
        .describe_feature_group()
        .feature_group_name("g")
        .send()
        .await
        .unwrap();
    let resolved = d
        .offline_store_config()
        .and_then(|o| o.s3_storage_config())
        .and_then(|s| s.resolved_output_s3_uri())
        .unwrap();
    assert!(
        resolved.contains("/123456789012/sagemaker/ap-southeast-2/offline-store/"),
        "{resolved}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_sagemaker_cannot_assume_is_refused_with_the_services_message() {
    let role = "arn:aws:iam::123456789012:role/no-trust";
    let env = env_with(1, ServerOptions::default().untrusted_role(role)).await;
    let cp = fs_schema::aws::ControlPlane::new(&env.config);
    let mut spec = group("g");
    spec.role_arn = Some(role.into());
    let err = cp.create_feature_group(&spec).await.unwrap_err();
    let fs_schema::Error::Aws(e) = err else {
        panic!("expected an AWS error, got {err}");
    };
    assert_eq!(e.kind, fs_schema::aws::AwsErrorKind::Validation, "{e}");
    assert!(
        e.message
            .contains(&format!("The execution role ARN \"{role}\" is invalid"))
            && e.message.contains("sts:AssumeRole")
            && e.message.contains("sagemaker.amazonaws.com"),
        "{e}"
    );
    assert!(env.store.list_feature_groups().is_empty());
    // Another role is fine.
    spec.role_arn = Some("arn:aws:iam::123456789012:role/trusted".into());
    cp.create_feature_group(&spec).await.unwrap();
}
