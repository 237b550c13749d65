//! The contract suite, unchanged, against [`AwsOnlineStore`]: the real
//! `aws-sdk-sagemakerfeaturestoreruntime` client over HTTP to fs-server on
//! loopback; plus retry behaviour under injected throttling and 5xx.

use async_trait::async_trait;
use aws_types::SdkConfig;
use fs_online::{AwsOnlineStore, OnlineStore, PutOptions};
use fs_schema::FeatureGroup;
use fs_schema::aws::ControlPlane;
use fs_server::{Faults, Server, ServerOptions};
use std::sync::Arc;

use fs_online::contract::{self, Fixture};

/// The SDK configuration for a local server (see `fs_server::client_config`).
pub(crate) fn sdk_config(endpoint: &str, max_attempts: u32) -> SdkConfig {
    fs_server::client_config(endpoint, max_attempts)
}

pub(crate) struct Aws {
    _dir: tempfile::TempDir,
    pub(crate) server: Server,
    pub(crate) store: Arc<fs_local::Store>,
    online: Arc<AwsOnlineStore>,
    control: ControlPlane,
}

impl Aws {
    pub(crate) async fn new(max_attempts: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(fs_local::Store::open(dir.path()).unwrap());
        let options = ServerOptions::default().fault_injection(true);
        let server = Server::start(store.clone(), options).await.unwrap();
        let config = sdk_config(&server.endpoint_url(), max_attempts);
        Self {
            _dir: dir,
            online: Arc::new(AwsOnlineStore::new(&config)),
            control: ControlPlane::new(&config),
            server,
            store,
        }
    }
}

#[async_trait]
impl Fixture for Aws {
    fn store(&self) -> Arc<dyn OnlineStore> {
        self.online.clone()
    }

    async fn create_group(&self, spec: FeatureGroup) {
        self.control.create_feature_group(&spec).await.unwrap();
    }
}

fs_online::contract_suite!(fixture = Aws::new(3).await);

fn rec(id: &str) -> fs_schema::Record {
    fs_schema::Record::new()
        .with("id", id)
        .with("ts", "2024-01-01T00:00:00Z")
        .with("n", "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_injected_throttling_and_5xx_every_put_lands_once() {
    let f = Aws::new(10).await;
    f.create_group(contract::spec("retry")).await;
    f.server.set_faults(
        Faults::none()
            .throttle_rate(0.1)
            .error_rate(0.1)
            .seed(7)
            .only(["PutRecord", "BatchGetRecord"]),
    );
    let s = f.store();
    for i in 0..200 {
        s.put_record("retry", &rec(&format!("r{i}")), &PutOptions::default())
            .await
            .unwrap();
    }
    let puts = f.server.request_count("PutRecord");
    assert!(
        puts > 200,
        "expected retries, saw {puts} requests for 200 puts"
    );
    // Every record is there, once (one online record per id; offline exactly once each).
    let ids: Vec<String> = (0..200).map(|i| format!("r{i}")).collect();
    let got = s
        .batch_get_records(&[fs_schema::runtime::BatchGetRequest {
            group: "retry".into(),
            record_ids: ids,
            features: None,
        }])
        .await
        .unwrap();
    assert_eq!(got.records.len(), 200);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    f.store.flush().unwrap();
    assert_eq!(f.store.flush().unwrap().rows, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_are_not_retried() {
    let f = Aws::new(10).await;
    f.create_group(contract::spec("no-retry")).await;
    let bad = rec("a").with("nope", "1");
    let err = f
        .store()
        .put_record("no-retry", &bad, &PutOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_validation() && !err.is_retryable(), "{err}");
    assert_eq!(f.server.request_count("PutRecord"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_surface_retryable_errors_of_the_right_kind() {
    let f = Aws::new(2).await;
    f.create_group(contract::spec("exhaust")).await;
    f.server
        .set_faults(Faults::none().throttle_rate(1.0).only(["GetRecord"]));
    let err = f
        .store()
        .get_record("exhaust", "a", None)
        .await
        .unwrap_err();
    assert!(matches!(err, fs_online::Error::Throttled { .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(f.server.request_count("GetRecord"), 2);
    f.server
        .set_faults(Faults::none().error_rate(1.0).only(["GetRecord"]));
    let err = f
        .store()
        .get_record("exhaust", "a", None)
        .await
        .unwrap_err();
    assert!(matches!(err, fs_online::Error::Transient { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_definitions_need_no_control_plane() {
    let f = Aws::new(3).await;
    let spec = contract::spec("registered");
    f.create_group(spec.clone()).await;
    let endpoint = f.server.endpoint_url();
    let runtime_only = AwsOnlineStore::from_client(
        aws_sdk_sagemakerfeaturestoreruntime::Client::new(&sdk_config(&endpoint, 3)),
    );
    let err = runtime_only.feature_group("registered").await.unwrap_err();
    assert!(err.to_string().contains("with_group"), "{err}");
    let s = runtime_only.with_group(spec);
    s.put_record("registered", &rec("a"), &PutOptions::default())
        .await
        .unwrap();
    assert!(
        s.get_record("registered", "a", None)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(f.server.request_count("DescribeFeatureGroup"), 0);
}

/// The same contract against the `fs-server` binary running as its own
/// process, as `cargo xtask it` starts it (`FS_SERVER_ENDPOINT`).
mod external {
    use super::*;

    struct External {
        online: Arc<AwsOnlineStore>,
        control: ControlPlane,
    }

    impl External {
        fn new() -> Self {
            let endpoint = std::env::var("FS_SERVER_ENDPOINT")
                .expect("FS_SERVER_ENDPOINT is not set; run this through `cargo xtask it`");
            let config = sdk_config(&endpoint, 3);
            Self {
                online: Arc::new(AwsOnlineStore::new(&config)),
                control: ControlPlane::new(&config),
            }
        }
    }

    #[async_trait]
    impl Fixture for External {
        fn store(&self) -> Arc<dyn OnlineStore> {
            self.online.clone()
        }

        async fn create_group(&self, spec: FeatureGroup) {
            self.control.create_feature_group(&spec).await.unwrap();
        }
    }

    fs_online::contract_suite!(
        #[ignore = "needs FS_SERVER_ENDPOINT (the fs-server binary); run by `cargo xtask it`"]
        fixture = External::new()
    );
}
