//! The `fs-server` binary: port 0 picks a free port and prints it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn the_binary_prints_its_address_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fs-server"))
        .args(["--addr", "127.0.0.1:0", "--store"])
        .arg(dir.path())
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
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    assert_ne!(addr.port(), 0);
    let (status, body) = crate::support::raw_http(
        addr,
        b"GET /_featurestore/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[test]
fn bad_arguments_fail_with_a_one_line_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_fs-server"))
        .args(["--addr", "not-an-address"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("fs-server: --addr \"not-an-address\""),
        "{err}"
    );
}
