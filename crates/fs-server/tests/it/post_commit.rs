//! Faults after the commit: the client sees an error (a 500, a connection
//! closed without an answer, or a timeout) for a write that is in the
//! store, as when a real service's answer is lost.

use std::time::Duration;

use aws_sdk_sagemakerfeaturestoreruntime::Client;
use aws_sdk_sagemakerfeaturestoreruntime::types::{BatchWriteRecordEntry, FeatureValue};
use fs_server::Faults;

use crate::support::{Env, env, group};

fn fv(name: &str, value: &str) -> FeatureValue {
    FeatureValue::builder()
        .feature_name(name)
        .value_as_string(value)
        .build()
}

async fn put(client: &Client, id: &str) -> Result<(), String> {
    client
        .put_record()
        .feature_group_name("g")
        .record(fv("id", id))
        .record(fv("ts", "2024-01-01T00:00:00Z"))
        .record(fv("n", "1"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// Whether `id` is online, read through the server with no faults.
async fn online(env: &Env, client: &Client, id: &str) -> bool {
    env.server.set_faults(Faults::none());
    let out = client
        .get_record()
        .feature_group_name("g")
        .record_identifier_value_as_string(id)
        .send()
        .await
        .unwrap();
    !out.record().is_empty()
}

async fn setup() -> (Env, Client) {
    let env = env(1).await;
    env.store.create_feature_group(group("g")).unwrap();
    let client = Client::new(&env.config);
    (env, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_after_the_commit_leaves_the_record_written() {
    let (env, client) = setup().await;
    env.server
        .set_faults(Faults::none().post_commit_error_rate(1.0));
    let err = put(&client, "a").await.unwrap_err();
    assert!(err.contains("InternalFailure"), "{err}");
    assert!(online(&env, &client, "a").await);
    // The offline outbox got the row too, once.
    assert_eq!(env.store.outbox_len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_after_the_commit_leaves_the_record_written() {
    let (env, client) = setup().await;
    env.server
        .set_faults(Faults::none().post_commit_reset_rate(1.0));
    let err = put(&client, "a").await.unwrap_err();
    assert!(err.contains("DispatchFailure"), "no answer at all: {err}");
    assert!(online(&env, &client, "a").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_after_the_commit_leaves_the_record_written() {
    let (env, _) = setup().await;
    env.server
        .set_faults(Faults::none().post_commit_timeout(1.0, Duration::from_secs(2)));
    let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(300))
        .build();
    let impatient = Client::from_conf(
        aws_sdk_sagemakerfeaturestoreruntime::config::Builder::from(&env.config)
            .timeout_config(timeouts)
            .build(),
    );
    let err = put(&impatient, "a").await.unwrap_err();
    assert!(err.contains("TimeoutError"), "{err}");
    let client = Client::new(&env.config);
    assert!(online(&env, &client, "a").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_put_after_a_lost_answer_overwrites_online_and_adds_an_offline_row() {
    let (env, client) = setup().await;
    env.server
        .set_faults(Faults::none().post_commit_reset_rate(1.0));
    assert!(put(&client, "a").await.is_err());
    env.server.set_faults(Faults::none());
    put(&client, "a").await.unwrap();
    let r = env.store.get_record("g", "a", None).unwrap().unwrap();
    assert_eq!(r.record.get_str("ts"), Some("2024-01-01T00:00:00Z"));
    // Two offline rows of the same (id, event time): the dataset builder's
    // dedupe collapses them.
    assert_eq!(env.store.outbox_len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_writes_and_deletes_fail_after_their_commit_too() {
    let (env, client) = setup().await;
    env.server.set_faults(
        Faults::none()
            .post_commit_error_rate(1.0)
            .only(["BatchWriteRecord", "DeleteRecord"]),
    );
    let entries: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            BatchWriteRecordEntry::builder()
                .feature_group_name("g")
                .record(fv("id", id))
                .record(fv("ts", "2024-01-01T00:00:00Z"))
                .build()
        })
        .collect();
    let err = client
        .batch_write_record()
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sagemakerfeaturestoreruntime::error::ProvideErrorMetadata::code(&err),
        Some("InternalFailure")
    );
    for id in ["a", "b", "c"] {
        assert!(
            env.store.get_record("g", id, None).unwrap().is_some(),
            "{id}"
        );
    }
    // PutRecord is not affected here.
    put(&client, "d").await.unwrap();
    let err = client
        .delete_record()
        .feature_group_name("g")
        .record_identifier_value_as_string("a")
        .event_time("2024-01-02T00:00:00Z")
        .deletion_mode(aws_sdk_sagemakerfeaturestoreruntime::types::DeletionMode::HardDelete)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sagemakerfeaturestoreruntime::error::ProvideErrorMetadata::code(&err),
        Some("InternalFailure")
    );
    assert!(
        !online(&env, &client, "a").await,
        "the delete was committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_of_post_commit_faults_hits_some_writes_and_every_write_lands() {
    let (env, client) = setup().await;
    env.server.set_faults(
        Faults::none()
            .post_commit_error_rate(0.1)
            .post_commit_reset_rate(0.1)
            .seed(11),
    );
    let mut failed = 0;
    for i in 0..100 {
        if put(&client, &i.to_string()).await.is_err() {
            failed += 1;
        }
    }
    assert!((5..40).contains(&failed), "{failed} of 100 failed");
    for i in 0..100 {
        assert!(
            env.store
                .get_record("g", &i.to_string(), None)
                .unwrap()
                .is_some(),
            "{i}"
        );
    }
}
