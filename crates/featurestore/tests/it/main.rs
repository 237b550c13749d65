//! The facade's own tests: one workflow — create, describe, list, ingest a
//! file and Arrow batches, read online, evolve, delete — run the same way
//! on the embedded store and on SageMaker's API (fs-server, through the
//! real AWS SDK clients).

use std::path::Path;
use std::sync::Arc;

use featurestore::arrow::array::{ArrayRef, Float64Array, StringArray};
use featurestore::arrow::record_batch::RecordBatch;
use featurestore::ingest::IngestOptions;
use featurestore::online::OnlineStoreExt;
use featurestore::schema::registry::{FeatureGroupStatus, RegistryError};
use featurestore::schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};
use featurestore::{AwsOptions, Error, FeatureStore, WriteApi};

fn group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name, "id", "event_time")
        .feature(FeatureDefinition::string("id"))
        .feature(FeatureDefinition::string("event_time"))
        .feature(FeatureDefinition::fractional("score"))
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://facade-bucket/offline")
        .role_arn("arn:aws:iam::000000000000:role/facade")
        .build()
        .unwrap()
}

/// The workflow every backend runs; `dir` holds its input files.
async fn workflow(store: &FeatureStore, dir: &Path) {
    let created = store.create_feature_group(group("orders")).await.unwrap();
    assert_eq!(created.status, FeatureGroupStatus::Created);
    assert!(created.arn.ends_with(":feature-group/orders"));
    let described = store.describe_feature_group("orders").await.unwrap();
    assert_eq!(described.arn, created.arn);
    let listed = store.list_feature_groups().await.unwrap();
    assert_eq!(listed.iter().filter(|g| g.name == "orders").count(), 1);

    // A file, with one bad row that goes to the report.
    let csv = dir.join("orders.csv");
    std::fs::write(
        &csv,
        "id,event_time,score\n\
         a,2024-01-01T00:00:00Z,1.5\n\
         b,2024-01-01T00:00:00Z,not-a-number\n\
         c,2024-01-01T00:00:00Z,3.5\n",
    )
    .unwrap();
    let options = IngestOptions::default().failures_file(dir.join("failures.jsonl"));
    let report = store.ingest("orders", &[csv], options, 4).await.unwrap();
    assert_eq!(
        (report.rows_read, report.rows_written, report.rows_failed),
        (3, 2, 1)
    );

    // Arrow batches from memory, newer than the file's rows.
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(StringArray::from(vec!["a", "d"])) as ArrayRef,
        ),
        (
            "event_time",
            Arc::new(StringArray::from(vec!["2024-01-02T00:00:00Z"; 2])) as ArrayRef,
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![10.0, 4.0])) as ArrayRef,
        ),
    ])
    .unwrap();
    let schema = batch.schema();
    let batches = futures::stream::iter([Ok::<_, featurestore::arrow::error::ArrowError>(batch)]);
    let report = store
        .ingest_batches(
            "orders",
            "memory",
            schema,
            batches,
            IngestOptions::default(),
            4,
        )
        .await
        .unwrap();
    assert_eq!((report.rows_read, report.rows_written), (2, 2));

    let online = store.online();
    let scores: Vec<Option<f64>> = {
        let mut out = Vec::new();
        for id in ["a", "b", "c", "d"] {
            let got = online.get("orders", id, None).await.unwrap();
            out.push(got.map(|b| {
                b.column_by_name("score")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap()
                    .value(0)
            }));
        }
        out
    };
    assert_eq!(scores, [Some(10.0), None, Some(3.5), Some(4.0)]);

    let evolved = store
        .add_features("orders", &[FeatureDefinition::integral("clicks")])
        .await
        .unwrap();
    assert!(evolved.spec.feature("clicks").is_some());
    assert!(evolved.last_modified_time.is_some());

    store.delete_feature_group("orders").await.unwrap();
    match store.describe_feature_group("orders").await {
        Err(Error::Registry(RegistryError::NotFound { group })) => assert_eq!(group, "orders"),
        other => panic!("describe after delete: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::local(dir.path().join("store")).unwrap();
    workflow(&store, dir.path()).await;
    store.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_on_sagemaker_through_fs_server() {
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(featurestore::local::Store::open(dir.path().join("server")).unwrap());
    let server = fs_server::Server::start(local, fs_server::ServerOptions::default())
        .await
        .unwrap();
    let config = fs_server::client_config(&server.endpoint_url(), 3);
    let options = AwsOptions::default()
        .wait(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_millis(10),
        )
        .cache_dir(dir.path().join("cache"));
    let store = FeatureStore::aws(&config, options);
    workflow(&store, dir.path()).await;
    assert!(
        !dir.path().join("cache").exists(),
        "a handle that builds no dataset creates no cache directory"
    );
    store.close().unwrap();
    server.shutdown().await;
}

/// The BatchWriteRecord sink writes what the PutRecord sink writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_write_record_ingests_through_fs_server() {
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(featurestore::local::Store::open(dir.path().join("server")).unwrap());
    let server = fs_server::Server::start(local, fs_server::ServerOptions::default())
        .await
        .unwrap();
    let config = fs_server::client_config(&server.endpoint_url(), 3);
    let store = FeatureStore::aws(
        &config,
        AwsOptions::default().wait(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_millis(10),
        ),
    );
    let spec = store
        .create_feature_group(group("clicks"))
        .await
        .unwrap()
        .spec;
    let csv = dir.path().join("clicks.csv");
    let rows: String = (0..100)
        .map(|i| format!("id{i},2024-01-01T00:00:00Z,{i}\n"))
        .collect();
    std::fs::write(&csv, format!("id,event_time,score\n{rows}")).unwrap();
    let sink = store.sink_with(&spec, 4, WriteApi::BatchWriteRecord);
    let report = featurestore::ingest::Ingest::new(spec, sink, IngestOptions::default())
        .run(&[csv])
        .await
        .unwrap();
    assert_eq!(report.rows_written, 100);
    assert_eq!(
        server.request_count("BatchWriteRecord"),
        4,
        "25 rows per request"
    );
    let got = store.online().get("clicks", "id99", None).await.unwrap();
    assert!(got.is_some());
    server.shutdown().await;
}
