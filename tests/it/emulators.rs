//! The emulators answer as the AWS SDKs expect: the fs-server binary and
//! moto's S3, each started by `cargo xtask it`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The endpoint `cargo xtask it` exported in `var`.
fn endpoint(var: &str) -> std::net::SocketAddr {
    let url = std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set; run this through `cargo xtask it`"));
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{var}={url}: {e}"))
}

async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let length = if method == "GET" {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    // moto does not check signatures, but treats requests without one as
    // anonymous (and private objects as forbidden to them).
    let auth = "Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n";
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{length}Connection: close\r\n{headers}\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
#[ignore = "needs FS_S3_ENDPOINT (moto's S3); run by `cargo xtask it`"]
async fn moto_s3_stores_and_returns_objects() {
    let s3 = endpoint("FS_S3_ENDPOINT");
    let (status, body) = http(s3, "PUT", "/it-bucket", "", b"").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(
        s3,
        "PUT",
        "/it-bucket/offline/a.parquet",
        "Content-Type: application/octet-stream\r\n",
        b"PAR1 hello",
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = http(s3, "GET", "/it-bucket/offline/a.parquet", "", b"").await;
    assert_eq!((status, body.as_str()), (200, "PAR1 hello"));
    let (status, body) = http(s3, "GET", "/it-bucket?list-type=2&prefix=offline/", "", b"").await;
    assert_eq!(status, 200);
    assert!(body.contains("<Key>offline/a.parquet</Key>"), "{body}");
}

#[tokio::test]
#[ignore = "needs FS_SERVER_ENDPOINT (the fs-server binary); run by `cargo xtask it`"]
async fn the_fs_server_binary_speaks_the_control_plane_protocol() {
    let server = endpoint("FS_SERVER_ENDPOINT");
    let group = r#"{"FeatureGroupName":"it-binary","RecordIdentifierFeatureName":"id","EventTimeFeatureName":"ts",
        "FeatureDefinitions":[{"FeatureName":"id","FeatureType":"String"},{"FeatureName":"ts","FeatureType":"String"}],
        "OnlineStoreConfig":{"EnableOnlineStore":true}}"#;
    let json11 = "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: SageMaker.CreateFeatureGroup\r\n";
    let (status, body) = http(server, "POST", "/", json11, group.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("feature-group/it-binary"), "{body}");
    let put = r#"{"Record":[{"FeatureName":"id","ValueAsString":"a"},{"FeatureName":"ts","ValueAsString":"2024-01-01T00:00:00Z"}]}"#;
    let (status, body) = http(
        server,
        "PUT",
        "/FeatureGroup/it-binary",
        "Content-Type: application/json\r\n",
        put.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        server,
        "GET",
        "/FeatureGroup/it-binary?RecordIdentifierValueAsString=a",
        "",
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""ValueAsString":"a""#), "{body}");
}
