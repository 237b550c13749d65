//! The `fs-server` binary: port 0 picks a free port and prints it; its
//! flags; SIGTERM drains the requests in flight and exits 0.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary on a free port over `store` with `extra` flags;
/// returns the child and its address (from the first stdout line).
fn start(store: &std::path::Path, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fs-server"))
        .args(["--addr", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, url.trim_start_matches("http://").parse().unwrap())
}

#[tokio::test]
async fn the_binary_prints_its_address_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(dir.path(), &[]);
    assert_ne!(addr.port(), 0);
    let (status, body) = crate::support::raw_http(
        addr,
        b"GET /_featurestore/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    // Without --faults there is no fault injection.
    let (faults, _) = crate::support::raw_http(
        addr,
        &crate::support::post("/_featurestore/faults", "", r#"{"error_rate":1.0}"#),
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(faults, 403);
}

/// Runs the binary with `args`; returns its stderr, after checking it failed.
fn fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fs-server"))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_arguments_fail_naming_the_flag_and_the_value() {
    let err = fails(&["--addr", "not-an-address"]);
    assert!(
        err.contains("--addr") && err.contains("not-an-address"),
        "{err}"
    );
    // Fault flags need --faults.
    let err = fails(&["--latency-ms", "10"]);
    assert!(err.contains("--faults"), "{err}");
    // Latency is bounded.
    let err = fails(&["--faults", "--latency-ms", "61000"]);
    assert!(
        err.contains("61000 ms is over the limit of 60000 ms"),
        "{err}"
    );
    let err = fails(&["--faults", "--throttle-rate", "1.5"]);
    assert!(err.contains("1.5 is not a share from 0 to 1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(
        dir.path(),
        &[
            "--faults",
            "--latency-ms",
            "1500",
            "--fault-ops",
            "ListFeatureGroups",
        ],
    );
    let slow = tokio::spawn(crate::support::raw_http(
        addr,
        crate::support::post("/", "X-Amz-Target: SageMaker.ListFeatureGroups\r\n", "{}").leak(),
    ));
    // Let the request arrive, then ask the server to stop.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, 200, "the request in flight is answered: {body}");
    assert!(body.contains("FeatureGroupSummaries"), "{body}");
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(code.code(), Some(0), "{code:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The store was released: it opens again.
    fs_local::Store::open(dir.path()).unwrap();
}
