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

/// A server with fault injection on, and clients making `max_attempts`.
pub(crate) async fn env(max_attempts: u32) -> Env {
    env_with(max_attempts, ServerOptions::default().fault_injection(true)).await
}

/// A server started with `options`.
pub(crate) async fn env_with(max_attempts: u32, options: ServerOptions) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(fs_local::Store::open(dir.path()).unwrap());
    let server = Server::start(store.clone(), options).await.unwrap();
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
    let (status, _, body) = raw_http_full(addr, request).await;
    (status, body)
}

/// A raw HTTP/1.1 request on loopback; returns (status, head, body).
pub(crate) async fn raw_http_full(
    addr: std::net::SocketAddr,
    request: &[u8],
) -> (u16, String, String) {
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
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

/// A POST of `body` to `path` with `headers` (each ending in CRLF) as raw
/// HTTP on a connection closed after the answer.
pub(crate) fn post(path: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
