//! `create-feature-group --aws --role-arn` with a role SageMaker cannot
//! assume: fs-server stands in for the service (`untrusted_role`), and the
//! CLI's one-line error adds the trust policy the role needs.

use std::sync::Arc;

use crate::support::Env;

#[test]
fn an_untrusted_role_gets_the_services_message_and_the_trust_policy_hint() {
    let env = Env::new();
    let role = "arn:aws:iam::123456789012:role/no-trust";
    let server_dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        let store = Arc::new(featurestore::local::Store::open(server_dir.path()).unwrap());
        fs_server::Server::start(
            store,
            fs_server::ServerOptions::default().untrusted_role(role),
        )
        .await
        .unwrap()
    });
    let definition = env.write(
        "g.json",
        r#"{"FeatureGroupName": "g", "RecordIdentifierFeatureName": "id",
            "EventTimeFeatureName": "ts",
            "FeatureDefinitions": [{"FeatureName": "id", "FeatureType": "String"},
                                   {"FeatureName": "ts", "FeatureType": "String"}],
            "OnlineStoreConfig": {"EnableOnlineStore": true}}"#,
    );
    let url = server.endpoint_url();
    let definition = definition.display().to_string();
    let vars = [
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
    ];
    let run = |role_arn: &str| {
        env.run_env(
            &[
                "--aws",
                "--endpoint-url",
                &url,
                "--region",
                "us-east-1",
                "create-feature-group",
                "g",
                "--definition",
                &definition,
                "--role-arn",
                role_arn,
            ],
            &vars,
        )
    };
    let line = run(role).fails(
        1,
        &[
            "ValidationException",
            &format!("The execution role ARN \"{role}\" is invalid"),
            "hint",
            r#""Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole""#,
        ],
    );
    assert!(line.starts_with("error: "), "{line}");
    // A role SageMaker can assume creates the group, with no hint.
    run("arn:aws:iam::123456789012:role/trusted").ok();
    rt.block_on(server.shutdown());
}
