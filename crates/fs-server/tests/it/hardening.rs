//! The server's defences over raw HTTP: header size limit, header, idle
//! and request timeouts, malformed JSON, and fault injection only when it
//! was asked for, with bounded waits.

use std::time::{Duration, Instant};

use fs_server::{Faults, FaultsError, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{env, env_with, group, post, raw_http, raw_http_full};

/// Reads until the server closes `s`; returns what it sent and how long
/// that took (at most `limit`, else panics).
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(limit, s.read_to_end(&mut out))
        .await
        .unwrap_or_else(|_| panic!("the server kept the connection open for {limit:?}"))
        .unwrap_or_default();
    (out, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_over_64_kib_get_431() {
    let env = env(1).await;
    let big = "a".repeat(70 << 10);
    let req = format!(
        "GET /_featurestore/health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
    );
    let (status, _) = raw_http(env.server.addr(), req.as_bytes()).await;
    assert_eq!(status, 431);
    // Just under the limit is fine.
    let fits = "a".repeat(60 << 10);
    let req = format!(
        "GET /_featurestore/health HTTP/1.1\r\nHost: x\r\nX-Big: {fits}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw_http(env.server.addr(), req.as_bytes()).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_head_is_cut_off_after_the_header_timeout() {
    let options = ServerOptions::default()
        .header_read_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_secs(30));
    let env = env_with(1, options).await;
    let mut s = TcpStream::connect(env.server.addr()).await.unwrap();
    // A head that never ends: one header line every 100 ms.
    s.write_all(b"GET /_featurestore/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if s.write_all(format!("X-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let started = Instant::now();
    trickle.await;
    let elapsed = started.elapsed();
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(
        elapsed < Duration::from_secs(3),
        "the connection was closed after {elapsed:?}, not after the 300 ms header timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_after_the_idle_timeout_not_the_header_timeout() {
    let options = ServerOptions::default()
        .header_read_timeout(Duration::from_millis(200))
        .idle_timeout(Duration::from_millis(1500));
    let env = env_with(1, options).await;
    let health = b"GET /_featurestore/health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut s = TcpStream::connect(env.server.addr()).await.unwrap();
    for _ in 0..2 {
        // Idle for longer than the header timeout: the connection stays.
        tokio::time::sleep(Duration::from_millis(600)).await;
        s.write_all(health).await.unwrap();
        let mut buf = vec![0; 1024];
        let n = s.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    }
    // Idle past the idle timeout: closed, without an answer.
    let (answer, elapsed) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(answer.is_empty());
    assert!(
        (Duration::from_millis(1200)..Duration::from_secs(5)).contains(&elapsed),
        "closed after {elapsed:?}"
    );
    // A connection that never sends a byte is idle too.
    let mut quiet = TcpStream::connect(env.server.addr()).await.unwrap();
    let (_, elapsed) = read_until_closed(&mut quiet, Duration::from_secs(10)).await;
    assert!(
        elapsed >= Duration::from_millis(1200),
        "closed after {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_request_timeout_gets_a_retryable_503() {
    let options = ServerOptions::default()
        .request_timeout(Duration::from_millis(200))
        .faults(
            Faults::none()
                .latency(Duration::from_secs(5))
                .only(["ListFeatureGroups"]),
        );
    let env = env_with(1, options).await;
    let started = Instant::now();
    let (status, head, body) = raw_http_full(
        env.server.addr(),
        &post("/", "X-Amz-Target: SageMaker.ListFeatureGroups\r\n", "{}"),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status, 503, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-amzn-errortype: serviceunavailable"),
        "{head}"
    );
    assert!(body.contains("request timeout of 200 ms"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_gets_400_in_the_service_error_shape() {
    let env = env(1).await;
    env.store.create_feature_group(group("g")).unwrap();
    let addr = env.server.addr();
    // The runtime API: PutRecord with a body cut short.
    let req = b"PUT /FeatureGroup/g HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"Record\": [";
    let (status, head, body) = raw_http_full(addr, req).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-amzn-errortype: validationerror"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["__type"], "ValidationError", "{body}");
    assert!(
        v["Message"]
            .as_str()
            .unwrap()
            .contains("invalid request body"),
        "{body}"
    );
    // BatchWriteRecord with something that is not JSON at all.
    let (status, body) = raw_http(addr, &post("/BatchWriteRecord", "", "not json")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ValidationError"), "{body}");
    // The control plane names it ValidationException.
    let (status, head, body) = raw_http_full(
        addr,
        &post(
            "/",
            "X-Amz-Target: SageMaker.CreateFeatureGroup\r\n",
            "{\"FeatureGroupName\": ",
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-amzn-errortype: validationexception"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["__type"], "ValidationException", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_is_off_unless_asked_for() {
    let env = env_with(1, ServerOptions::default()).await;
    let body = r#"{"throttle_rate":1.0}"#;
    let (status, body) =
        raw_http(env.server.addr(), &post("/_featurestore/faults", "", body)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--faults"), "{body}");
    assert_eq!(
        env.server.try_set_faults(Faults::none().error_rate(1.0)),
        Err(FaultsError::Disabled)
    );
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(fs_local::Store::open(dir.path()).unwrap());
    let mut options = ServerOptions::default();
    options.faults = Faults::none().error_rate(1.0);
    let err = fs_server::Server::start(store, options).await.unwrap_err();
    assert!(err.to_string().contains("fault injection is off"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_waits_are_bounded() {
    let env = env(1).await;
    let too_long = r#"{"latency_ms":61000}"#;
    let (status, body) = raw_http(
        env.server.addr(),
        &post("/_featurestore/faults", "", too_long),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("latency of 61000 ms is over the limit of 60000 ms"),
        "{body}"
    );
    let err = env
        .server
        .try_set_faults(Faults::none().post_commit_timeout(0.5, Duration::from_secs(61)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            FaultsError::TooLong {
                what: "post_commit_delay",
                ..
            }
        ),
        "{err}"
    );
    env.server
        .try_set_faults(Faults::none().latency(Faults::MAX_LATENCY))
        .unwrap();
}
