//! `--aws` (feature `aws`): the real AWS SDK clients against `featurestore
//! serve` on loopback, with dummy credentials; no request leaves the machine.

use serde_json::Value;

use crate::support::{Env, Out, Served};

/// Dummy credentials and no profile or instance metadata lookups.
const VARS: [(&str, &str); 5] = [
    ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/aws-credentials",
    ),
];

fn aws(env: &Env, served: &Served, args: &[&str]) -> Out {
    let mut all = vec![
        "--aws",
        "--endpoint-url",
        &served.url,
        "--region",
        "us-east-1",
        "--json",
    ];
    all.extend_from_slice(args);
    env.run_env(&all, &VARS)
}

#[test]
fn aws_commands_against_a_local_server() {
    let env = Env::new();
    let data = env.customers(120).display().to_string();
    let local = env
        .run(&["--json", "get", "customers", "1", "2"])
        .ok()
        .json();
    let served = Served::start(&env);

    let list = aws(&env, &served, &["list-feature-groups"]).ok().json();
    assert_eq!(
        list["FeatureGroupSummaries"][0]["FeatureGroupName"],
        "customers"
    );
    let described = aws(&env, &served, &["describe-feature-group", "customers"])
        .ok()
        .json();
    assert_eq!(
        described["FeatureDefinitions"].as_array().map(Vec::len),
        Some(8)
    );
    let got = aws(&env, &served, &["get", "customers", "1", "2"])
        .ok()
        .json();
    assert_eq!(got["records"], local["records"]);
    let one = aws(&env, &served, &["get", "customers", "1"]).ok().json();
    assert_eq!(one["records"][0], local["records"][0]);

    // A group created, filled, evolved and deleted through the SDKs.
    let created = aws(
        &env,
        &served,
        &[
            "create-feature-group",
            "copy",
            "--from-data",
            &data,
            "--record-id",
            "customer_id",
            "--event-time",
            "event_time",
        ],
    )
    .ok()
    .json();
    assert_eq!(created["FeatureGroupStatus"], "Created");
    let ingested = aws(
        &env,
        &served,
        &["ingest", "copy", &data, "--concurrency", "8"],
    )
    .ok()
    .json();
    assert_eq!(ingested["rows_written"], 120);
    let copied = aws(&env, &served, &["get", "copy", "1", "2"]).ok().json();
    assert_eq!(copied["records"], local["records"]);
    let added = aws(
        &env,
        &served,
        &["add-features", "copy", "--feature", "segment:String"],
    )
    .ok()
    .json();
    assert_eq!(
        added["FeatureDefinitions"].as_array().map(Vec::len),
        Some(9)
    );
    aws(&env, &served, &["delete-feature-group", "copy"]).ok();
    aws(&env, &served, &["describe-feature-group", "copy"]).fails(1, &["copy"]);

    // Errors are one line too.
    aws(&env, &served, &["get", "nope", "1"]).fails(1, &["nope"]);
    aws(&env, &served, &["flush"]).fails(1, &["embedded store", "--aws"]);
    aws(
        &env,
        &served,
        &[
            "ingest",
            "customers",
            &crate::support::bad("wrong-types.csv").display().to_string(),
        ],
    )
    .fails(1, &["wrong-types.csv", "row 2", "nothing was written"]);
    let status = served.terminate();
    assert!(status.success());
    let after: Value = env.run(&["--json", "list-feature-groups"]).ok().json();
    assert_eq!(
        after["FeatureGroupSummaries"].as_array().map(Vec::len),
        Some(1)
    );
}
