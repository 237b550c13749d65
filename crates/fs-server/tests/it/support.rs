//! A server on a temporary store, and SDK configurations pointing at it.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::SdkConfig;
use aws_types::region::Region;
use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};
use fs_server::{Server, ServerOptions};

pub(crate) struct Env {
    _dir: tempfile::TempDir,
    pub(crate) store: Arc<fs_local::Store>,
    pub(crate) server: Server,
    pub(crate) config: SdkConfig,
}

pub(crate) async fn env(max_attempts: u32) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(fs_local::Store::open(dir.path()).unwrap());
    let server = Server::start(store.clone(), ServerOptions::default())
        .await
        .unwrap();
    let config = sdk_config(&server.endpoint_url(), max_attempts);
    Env {
        _dir: dir,
        store,
        server,
        config,
    }
}

pub(crate) fn sdk_config(endpoint: &str, max_attempts: u32) -> SdkConfig {
    use aws_sdk_sagemakerfeaturestoreruntime::config::BehaviorVersion;
    use aws_sdk_sagemakerfeaturestoreruntime::config::retry::RetryConfig;
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::from_keys(
            "AKIDLOCALTEST",
            "local-test-secret",
            None,
        )))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(2))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .build()
}

pub(crate) fn group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name, "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::integral("n"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://bucket/prefix")
        .description("a test group")
        .tag("team", "ml")
        .build()
        .unwrap()
}

/// A raw HTTP/1.1 request on loopback; returns (status, body).
pub(crate) async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}
