//! Helpers of the Athena tests: clients for moto, moto's control API
//! (state transitions, queued results), a MiniStack started per test, and
//! the virtual environment's Python.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use fs_offline::athena::{AthenaEngine, AthenaOptions, Backoff};

/// moto's endpoint (`FS_S3_ENDPOINT`, set by `cargo xtask it`).
pub(crate) fn moto() -> String {
    std::env::var("FS_S3_ENDPOINT")
        .expect("FS_S3_ENDPOINT (moto's endpoint) must be set: run these tests with cargo xtask it")
}

/// The Python of the tests' virtual environment (`FS_IT_PYTHON`), with
/// moto, MiniStack, DuckDB and sqlglot.
pub(crate) fn python() -> PathBuf {
    PathBuf::from(std::env::var("FS_IT_PYTHON").expect(
        "FS_IT_PYTHON (the it-venv's python with ministack, duckdb, sqlglot) must be set: run these tests with cargo xtask it",
    ))
}

/// Athena and S3 clients for `endpoint` in `region` (each moto test uses its
/// own region: moto keeps queued Athena results per region, and tests run
/// in parallel).
pub(crate) fn clients(
    endpoint: &str,
    region: &'static str,
) -> (aws_sdk_athena::Client, aws_sdk_s3::Client) {
    // S3 stays in us-east-1, where buckets need no location constraint.
    let sdk = fs_server::client_config(endpoint, 3);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let athena = sdk
        .to_builder()
        .region(aws_types::region::Region::from_static(region))
        .build();
    (aws_sdk_athena::Client::new(&athena), s3)
}

/// Fast polling for tests: 5 ms growing to 50 ms.
pub(crate) fn fast_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(50), 2.0)
}

/// An engine on `endpoint` in `region`, results under `s3://<bucket>/results/`.
pub(crate) async fn engine(
    endpoint: &str,
    region: &'static str,
    bucket: &str,
    options: AthenaOptions,
) -> (AthenaEngine, aws_sdk_athena::Client, aws_sdk_s3::Client) {
    let (athena, s3) = clients(endpoint, region);
    if let Err(e) = s3.create_bucket().bucket(bucket).send().await {
        let e = aws_sdk_s3::error::DisplayErrorContext(e);
        assert!(
            format!("{e}").contains("BucketAlready"),
            "creating bucket {bucket}: {e}"
        );
    }
    let options = options.output_location(format!("s3://{bucket}/results/"));
    let engine = AthenaEngine::new(athena.clone(), s3.clone(), options).expect("valid options");
    (engine, athena, s3)
}

/// POSTs JSON to `endpoint` + `path`; returns the HTTP status.
pub(crate) fn post_json(endpoint: &str, path: &str, body: &serde_json::Value) -> u16 {
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = body.to_string();
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sending the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("reading the response");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {response:?}"))
}

/// Makes moto's Athena executions advance one state every `times`
/// GetQueryExecution calls (QUEUED → RUNNING → SUCCEEDED). Every moto test
/// sets the same value, as the setting is global to the server.
pub(crate) fn moto_manual_transitions(endpoint: &str, times: u32) {
    let status = post_json(
        endpoint,
        "/moto-api/state-manager/set-transition",
        &serde_json::json!({
            "model_name": "athena::execution",
            "transition": {"progression": "manual", "times": times},
        }),
    );
    assert_eq!(status, 201, "moto refused the state transition");
}

/// Queues a result in moto for the next query started in `region`: a
/// header row of the column names (as Athena returns for a SELECT), then
/// `rows` (`None` is SQL NULL: a Datum without VarCharValue).
pub(crate) fn moto_queue_result(
    endpoint: &str,
    region: &str,
    columns: &[(&str, &str)],
    rows: &[Vec<Option<&str>>],
) {
    let datum = |v: &Option<&str>| match v {
        Some(s) => serde_json::json!({"VarCharValue": s}),
        None => serde_json::json!({}),
    };
    let mut all = vec![
        serde_json::json!({"Data": columns.iter().map(|(n, _)| serde_json::json!({"VarCharValue": n})).collect::<Vec<_>>()}),
    ];
    all.extend(
        rows.iter()
            .map(|r| serde_json::json!({"Data": r.iter().map(datum).collect::<Vec<_>>()})),
    );
    let column_info: Vec<_> = columns
        .iter()
        .map(|(name, ty)| serde_json::json!({"Name": name, "Label": name, "Type": ty, "Nullable": "UNKNOWN"}))
        .collect();
    let status = post_json(
        endpoint,
        "/moto-api/static/athena/query-results",
        &serde_json::json!({
            "region": region,
            "results": [{"rows": all, "column_info": column_info}],
        }),
    );
    assert_eq!(status, 201, "moto refused the queued result");
}

/// A MiniStack (Athena on DuckDB, S3) on a free loopback port, stopped on drop.
pub(crate) struct MiniStack {
    child: Child,
    /// Its endpoint.
    pub(crate) endpoint: String,
    _data: tempfile::TempDir,
}

impl MiniStack {
    pub(crate) fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = tempfile::tempdir().expect("a temporary directory");
        let child = Command::new(python())
            .args(["-m", "ministack"])
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("SERVICES", "athena,s3,glue")
            .env("IOT_MTLS_ENABLED", "0")
            .env("SFTP_ENABLED", "0")
            .env("S3_DATA_DIR", data.path())
            // Its pid file and Athena's scratch directories go there too.
            .env("TMPDIR", data.path())
            .env("LOG_LEVEL", "WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting python -m ministack");
        let mut ministack = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            _data: data,
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = ministack.child.try_wait() {
                panic!("ministack exited with {status} before listening on port {port}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "ministack did not listen on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ministack
    }
}

impl Drop for MiniStack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every row of `batches` as text, one string per value ("∅" for null), sorted.
pub(crate) fn sorted_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("∅");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formattable"))
            .collect();
        for r in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    rows.sort();
    rows
}
