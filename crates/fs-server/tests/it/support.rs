//! A server on a temporary store, and SDK configurations pointing at it.

use aws_types::SdkConfig;
use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};
use fs_server::{Server, ServerOptions};
use std::sync::Arc;

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
    let config = fs_server::client_config(&server.endpoint_url(), max_attempts);
    Env {
        _dir: dir,
        store,
        server,
        config,
    }
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
