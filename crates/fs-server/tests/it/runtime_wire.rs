//! Wire details of the runtime API: modeled errors, ARNs as names, limits.

use aws_sdk_sagemakerfeaturestoreruntime::Client;
use aws_sdk_sagemakerfeaturestoreruntime::types::{BatchGetRecordIdentifier, FeatureValue};
use fs_schema::aws::ControlPlane;

use crate::support::{Env, env, group, raw_http};

fn fv(name: &str, value: &str) -> FeatureValue {
    FeatureValue::builder()
        .feature_name(name)
        .value_as_string(value)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modeled_errors_match_in_the_sdk() {
    let env = env(1).await;
    let client = Client::new(&env.config);
    let err = client
        .get_record()
        .feature_group_name("missing")
        .record_identifier_value_as_string("a")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_resource_not_found(),
        "{err:?}"
    );
    ControlPlane::new(&env.config)
        .create_feature_group(&group("g"))
        .await
        .unwrap();
    let err = client
        .put_record()
        .feature_group_name("g")
        .record(fv("id", "a"))
        .record(fv("ts", "not a time"))
        .send()
        .await
        .unwrap_err();
    let service = err.as_service_error().unwrap();
    assert!(service.is_validation_error(), "{err:?}");
    assert!(format!("{service}").contains("not a time"), "{service}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_may_be_arns_and_batch_limits_are_enforced() {
    let env = env(1).await;
    let arn = ControlPlane::new(&env.config)
        .create_feature_group(&group("g"))
        .await
        .unwrap();
    let client = Client::new(&env.config);
    client
        .put_record()
        .feature_group_name(&arn)
        .record(fv("id", "a"))
        .record(fv("ts", "2024-01-01T00:00:00Z"))
        .send()
        .await
        .unwrap();
    let out = client
        .get_record()
        .feature_group_name("g")
        .record_identifier_value_as_string("a")
        .send()
        .await
        .unwrap();
    assert_eq!(out.record().len(), 2);
    let too_many = BatchGetRecordIdentifier::builder()
        .feature_group_name("g")
        .set_record_identifiers_value_as_string(Some((0..101).map(|i| i.to_string()).collect()))
        .build();
    let err = client
        .batch_get_record()
        .identifiers(too_many)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_validation_error(),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_write_reports_failed_entries_and_writes_the_rest() {
    use aws_sdk_sagemakerfeaturestoreruntime::types::BatchWriteRecordEntry;
    let env = env(1).await;
    ControlPlane::new(&env.config)
        .create_feature_group(&group("g"))
        .await
        .unwrap();
    let client = Client::new(&env.config);
    let entry = |id: &str, n: &str| {
        BatchWriteRecordEntry::builder()
            .feature_group_name("g")
            .record(fv("id", id))
            .record(fv("ts", "2024-01-01T00:00:00Z"))
            .record(fv("n", n))
            .build()
    };
    let out = client
        .batch_write_record()
        .entries(entry("a", "1"))
        .entries(entry("b", "two"))
        .entries(entry("c", "3"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].error_code(), Some("ValidationError"));
    assert!(env.store.get_record("g", "a", None).unwrap().is_some());
    assert!(env.store.get_record("g", "b", None).unwrap().is_none());
    assert!(env.store.get_record("g", "c", None).unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_oversize_bodies_and_unknown_targets_are_refused() {
    let env = env(1).await;
    let addr = env.server.addr();
    let (status, body) = raw_http(
        addr,
        b"GET /FeatureGroup/..%2F..%2Fetc?RecordIdentifierValueAsString=a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("ValidationError") && body.contains("feature group name"),
        "{body}"
    );

    let big = vec![b'x'; 17 << 20];
    let mut req = format!(
        "POST /BatchWriteRecord HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let (status, _) = raw_http(addr, &req).await;
    assert_eq!(status, 413);

    let (status, body) = raw_http(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.CreateModel\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_can_be_set_per_operation_over_http() {
    let env = env(1).await;
    ControlPlane::new(&env.config)
        .create_feature_group(&group("g"))
        .await
        .unwrap();
    let addr = env.server.addr();
    let body = r#"{"throttle_rate":1.0,"operations":["GetRecord"]}"#;
    let req = format!(
        "POST /_featurestore/faults HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _) = raw_http(addr, req.as_bytes()).await;
    assert_eq!(status, 200);
    let client = Client::new(&env.config);
    let err = client
        .get_record()
        .feature_group_name("g")
        .record_identifier_value_as_string("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sagemakerfeaturestoreruntime::error::ProvideErrorMetadata::code(&err),
        Some("ThrottlingException")
    );
    // Other operations are unaffected.
    client
        .list_records()
        .feature_group_name("g")
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_report_counts_and_the_mean_time_in_the_server_per_operation() {
    let env = env(1).await;
    ControlPlane::new(&env.config)
        .create_feature_group(&group("g"))
        .await
        .unwrap();
    env.server.set_faults(
        fs_server::Faults::default()
            .latency(std::time::Duration::from_millis(30))
            .only(["PutRecord"]),
    );
    put_records(&env, 0..3).await;
    let stats = server_stats(&env).await;
    assert_eq!(stats["PutRecord"], 3, "{stats:?}");
    assert_eq!(stats["PutRecord.answered"], 3, "{stats:?}");
    // Every answer waited for the injected latency at least.
    assert!(stats["PutRecord.mean_micros"] >= 30_000, "{stats:?}");
    assert_eq!(stats["CreateFeatureGroup.answered"], 1, "{stats:?}");
    assert!(
        stats["CreateFeatureGroup.mean_micros"] < 30_000,
        "{stats:?}"
    );
}

/// fs-server's `/_featurestore/stats`.
async fn server_stats(env: &Env) -> std::collections::BTreeMap<String, u64> {
    let (status, body) = raw_http(
        env.server.addr(),
        b"GET /_featurestore/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Puts the records `ids` of group `g`, one at a time.
async fn put_records(env: &Env, ids: std::ops::Range<u32>) {
    let client = Client::new(&env.config);
    for i in ids {
        client
            .put_record()
            .feature_group_name("g")
            .record(fv("id", &i.to_string()))
            .record(fv("ts", "2024-01-01T00:00:00Z"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_time_holds_answers_back_with_the_servers_own_work_inside_it() {
    use std::time::Duration;
    let env = env(1).await;
    ControlPlane::new(&env.config)
        .create_feature_group(&group("g"))
        .await
        .unwrap();
    env.server.set_faults(
        fs_server::Faults::default()
            .service_time(Duration::from_millis(30))
            .only(["PutRecord"]),
    );
    let started = std::time::Instant::now();
    put_records(&env, 0..3).await;
    assert!(started.elapsed() >= Duration::from_millis(90));
    let stats = server_stats(&env).await;
    // Each answer waited for the service time, and the work measured is
    // the part before that wait.
    assert!(stats["PutRecord.mean_micros"] >= 30_000, "{stats:?}");
    assert!(
        stats["PutRecord.mean_work_micros"] < stats["PutRecord.mean_micros"],
        "{stats:?}"
    );
    let (total, work) = (
        stats["PutRecord.total_micros"],
        stats["PutRecord.work_micros"],
    );

    // With a 50 ms latency before the work, the 30 ms have passed when the
    // work is done: the service time is a floor, not added on top (which
    // would make each answer take 80 ms and more).
    env.server.set_faults(
        fs_server::Faults::default()
            .latency(Duration::from_millis(50))
            .service_time(Duration::from_millis(30))
            .only(["PutRecord"]),
    );
    put_records(&env, 3..6).await;
    let stats = server_stats(&env).await;
    let mean = (stats["PutRecord.total_micros"] - total) / 3;
    assert!((50_000..80_000).contains(&mean), "{mean} µs: {stats:?}");
    assert!(
        stats["PutRecord.work_micros"] - work >= 3 * 50_000,
        "{stats:?}"
    );
}
