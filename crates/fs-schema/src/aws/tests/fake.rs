//! [`ControlPlane`] over an in-process HTTP client that answers with
//! scripted SageMaker (awsJson1.1) responses and records the requests. No
//! network, fixed fake credentials.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_sdk_sagemaker::config::retry::RetryConfig;
use aws_sdk_sagemaker::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};

use super::*;

const FAKE_KEY_ID: &str = "AKIDFAKEFORTESTS";
const FAKE_SECRET: &str = "fake-secret-never-shown";

#[derive(Debug, Default)]
struct State {
    responses: VecDeque<(u16, Value)>,
    /// (operation from X-Amz-Target, JSON body)
    requests: Vec<(String, Value)>,
}

#[derive(Debug, Clone, Default)]
struct Fake(Arc<Mutex<State>>);

impl Fake {
    fn new(responses: impl IntoIterator<Item = (u16, Value)>) -> Self {
        let fake = Fake::default();
        fake.0.lock().unwrap().responses.extend(responses);
        fake
    }

    fn control_plane(&self) -> ControlPlane {
        let conf = aws_sdk_sagemaker::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                FAKE_KEY_ID,
                FAKE_SECRET,
                None,
                None,
                "fs-schema-tests",
            ))
            .retry_config(RetryConfig::disabled())
            .http_client(self.clone())
            .build();
        ControlPlane::from_client(aws_sdk_sagemaker::Client::from_conf(conf))
    }

    fn requests(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().requests.clone()
    }

    fn operations(&self) -> Vec<String> {
        self.requests().into_iter().map(|(op, _)| op).collect()
    }
}

impl HttpConnector for Fake {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.trim_start_matches("SageMaker.").to_owned();
        let body = request
            .body()
            .bytes()
            .map(|b| serde_json::from_slice(b).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        let mut state = self.0.lock().unwrap();
        state.requests.push((operation.clone(), body));
        let Some((status, body)) = state.responses.pop_front() else {
            let msg = format!("no scripted response for {operation}");
            return HttpConnectorFuture::ready(Err(ConnectorError::other(msg.into(), None)));
        };
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(body.to_string()),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        response
            .headers_mut()
            .insert("x-amzn-requestid", "fake-request-id");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Fake {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

fn error(code: &str, message: &str) -> Value {
    json!({"__type": code, "Message": message})
}

fn summary(name: &str) -> Value {
    json!({
        "FeatureGroupName": name,
        "FeatureGroupArn": format!("arn:aws:sagemaker:us-east-1:123456789012:feature-group/{name}"),
        "CreationTime": 1_700_000_000.5,
        "FeatureGroupStatus": "Created",
        "OfflineStoreStatus": {"Status": "Active"},
    })
}

fn describe(status: &str, definitions: Value, next_token: Option<&str>) -> Value {
    let mut v = json!({
        "FeatureGroupArn": "arn:aws:sagemaker:us-east-1:123456789012:feature-group/customers",
        "FeatureGroupName": "customers",
        "RecordIdentifierFeatureName": "customer_id",
        "EventTimeFeatureName": "event_time",
        "FeatureDefinitions": definitions,
        "CreationTime": 1_700_000_000.5,
        "OnlineStoreConfig": {"EnableOnlineStore": true},
        "OfflineStoreConfig": {
            "S3StorageConfig": {
                "S3Uri": "s3://bucket/prefix",
                "ResolvedOutputS3Uri": "s3://bucket/prefix/123456789012/sagemaker/us-east-1/offline-store/customers-1700000000/data"
            },
            "DisableGlueTableCreation": false,
            "DataCatalogConfig": {
                "TableName": "customers_1700000000",
                "Catalog": "AwsDataCatalog",
                "Database": "sagemaker_featurestore"
            }
        },
        "ThroughputConfig": {"ThroughputMode": "OnDemand"},
        "FeatureGroupStatus": status,
        "OfflineStoreStatus": {"Status": "Active"},
        "OnlineStoreTotalSizeBytes": 1024,
    });
    if let Some(t) = next_token {
        v["NextToken"] = json!(t);
    }
    v
}

fn base_definitions() -> Value {
    json!([
        {"FeatureName": "customer_id", "FeatureType": "Integral"},
        {"FeatureName": "event_time", "FeatureType": "String"},
    ])
}

#[tokio::test]
async fn list_follows_next_token_through_all_pages() {
    let fake = Fake::new([
        (
            200,
            json!({"FeatureGroupSummaries": [summary("customers"), summary("customers_v2")], "NextToken": "page-2"}),
        ),
        (
            200,
            json!({"FeatureGroupSummaries": [summary("customers_v3")]}),
        ),
    ]);
    let groups = fake
        .control_plane()
        .list_feature_groups_matching("customers")
        .await
        .unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["customers", "customers_v2", "customers_v3"]);
    assert_eq!(groups[0].status, FeatureGroupStatus::Created);
    assert_eq!(
        groups[0].offline_store_status,
        Some(OfflineStoreStatus::Active)
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].0, "ListFeatureGroups");
    assert_eq!(requests[0].1["NameContains"], "customers");
    assert_eq!(requests[1].1["NextToken"], "page-2");
}

#[tokio::test]
async fn describe_reads_every_page_of_feature_definitions() {
    let fake = Fake::new([
        (200, describe("Created", base_definitions(), Some("defs-2"))),
        (
            200,
            describe(
                "Created",
                json!([{"FeatureName": "ltv", "FeatureType": "Fractional"}]),
                None,
            ),
        ),
    ]);
    let d = fake
        .control_plane()
        .describe_feature_group("customers")
        .await
        .unwrap();
    let names: Vec<&str> = d
        .spec
        .feature_definitions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["customer_id", "event_time", "ltv"]);
    assert_eq!(d.status, FeatureGroupStatus::Created);
    assert_eq!(d.online_store_total_size_bytes, Some(1024));
    assert!(
        d.resolved_output_s3_uri()
            .unwrap()
            .ends_with("customers-1700000000/data")
    );
    let requests = fake.requests();
    assert_eq!(requests[0].1, json!({"FeatureGroupName": "customers"}));
    assert_eq!(
        requests[1].1,
        json!({"FeatureGroupName": "customers", "NextToken": "defs-2"})
    );
}

#[tokio::test]
async fn add_features_describes_checks_then_updates() {
    let fake = Fake::new([
        (200, describe("Created", base_definitions(), None)),
        (200, json!({})),
    ]);
    let additions = [
        FeatureDefinition::fractional("ltv"),
        FeatureDefinition::string("tags").with_collection(Collection::List),
    ];
    // A List feature needs an InMemory store: refused before any update.
    let err = fake
        .control_plane()
        .add_features("customers", &additions)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tags"), "{err}");
    assert_eq!(fake.operations(), ["DescribeFeatureGroup"]);

    let fake = Fake::new([
        (200, describe("Created", base_definitions(), None)),
        (200, json!({})),
    ]);
    fake.control_plane()
        .add_features("customers", &additions[..1])
        .await
        .unwrap();
    assert_eq!(
        fake.operations(),
        ["DescribeFeatureGroup", "UpdateFeatureGroup"]
    );
    assert_eq!(
        fake.requests()[1].1,
        json!({"FeatureGroupName": "customers",
               "FeatureAdditions": [{"FeatureName": "ltv", "FeatureType": "Fractional"}]})
    );
}

#[tokio::test]
async fn create_validates_before_sending() {
    let fake = Fake::new([]);
    let mut group = offline_group();
    group.record_identifier_feature_name = "missing".into();
    let err = fake
        .control_plane()
        .create_feature_group(&group)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingFeature { .. }), "{err:?}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn create_sends_the_spec_and_returns_the_arn() {
    let arn = "arn:aws:sagemaker:us-east-1:123456789012:feature-group/customers";
    let fake = Fake::new([(200, json!({"FeatureGroupArn": arn}))]);
    let group = FeatureGroup::builder("customers", "customer_id", "event_time")
        .features([
            FeatureDefinition::integral("customer_id"),
            FeatureDefinition::string("event_time"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .tag("team", "ml")
        .build()
        .unwrap();
    assert_eq!(
        fake.control_plane()
            .create_feature_group(&group)
            .await
            .unwrap(),
        arn
    );
    let (op, body) = fake.requests().remove(0);
    assert_eq!(op, "CreateFeatureGroup");
    // The request body is the group's own JSON shape.
    assert_eq!(body, serde_json::to_value(&group).unwrap());
}

#[tokio::test]
async fn service_errors_are_classified_and_hold_no_credentials() {
    let fake = Fake::new([(
        400,
        error(
            "ResourceInUse",
            "Resource Already Exists: FeatureGroup with name customers already exists",
        ),
    )]);
    let err = fake
        .control_plane()
        .create_feature_group(&offline_group())
        .await;
    let Err(Error::Aws(err)) = err else {
        panic!("expected an AwsError, got {err:?}")
    };
    assert_eq!(err.kind, AwsErrorKind::ResourceInUse);
    assert_eq!(err.operation, "CreateFeatureGroup");
    assert_eq!(err.code.as_deref(), Some("ResourceInUse"));
    assert_eq!(err.http_status, Some(400));
    assert_eq!(err.request_id.as_deref(), Some("fake-request-id"));
    assert_eq!(
        err.to_string(),
        "CreateFeatureGroup failed (ResourceInUse): ResourceInUse: Resource Already Exists: \
         FeatureGroup with name customers already exists"
    );
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(
            !text.contains(FAKE_SECRET) && !text.contains(FAKE_KEY_ID),
            "{text}"
        );
    }

    let fake = Fake::new([
        (400, error("ThrottlingException", "Rate exceeded")),
        (503, error("ServiceUnavailable", "try later")),
        (400, error("ResourceNotFound", "Resource Not Found")),
    ]);
    let cp = fake.control_plane();
    let kind = |r: crate::Result<FeatureGroupDescription>| match r {
        Err(Error::Aws(e)) => (e.kind, e.is_retryable()),
        other => panic!("expected an AwsError, got {other:?}"),
    };
    assert_eq!(
        kind(cp.describe_feature_group("x").await),
        (AwsErrorKind::Throttled, true)
    );
    assert_eq!(
        kind(cp.describe_feature_group("x").await),
        (AwsErrorKind::Transient, true)
    );
    assert_eq!(
        kind(cp.describe_feature_group("x").await),
        (AwsErrorKind::NotFound, false)
    );
}

#[tokio::test]
async fn wait_for_deleted_ends_on_not_found() {
    let fake = Fake::new([
        (200, describe("Deleting", base_definitions(), None)),
        (400, error("ResourceNotFound", "Resource Not Found")),
    ]);
    fake.control_plane()
        .wait_for_deleted(
            "customers",
            std::time::Duration::from_secs(10),
            std::time::Duration::from_millis(1),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.operations(),
        ["DescribeFeatureGroup", "DescribeFeatureGroup"]
    );
}

#[tokio::test]
async fn wait_for_status_returns_the_reached_description() {
    let fake = Fake::new([
        (200, describe("Creating", base_definitions(), None)),
        (200, describe("Created", base_definitions(), None)),
    ]);
    let d = fake
        .control_plane()
        .wait_for_status(
            "customers",
            FeatureGroupStatus::Created,
            std::time::Duration::from_secs(10),
            std::time::Duration::from_millis(1),
        )
        .await
        .unwrap();
    assert_eq!(d.status, FeatureGroupStatus::Created);
}
