//! Running the built `featurestore` binary in a temporary directory.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use featurestore::arrow::array::{Array, BooleanArray, Int64Array};
use featurestore::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_featurestore");

/// The shared bad inputs (`tests/data/cli-bad/` at the workspace root).
pub(crate) fn bad(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/cli-bad")
        .join(name)
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) args: Vec<String>,
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    /// Asserts a successful run.
    #[track_caller]
    pub(crate) fn ok(&self) -> &Self {
        assert!(
            self.status.success(),
            "featurestore {:?} failed ({}):\nstderr: {}\nstdout: {}",
            self.args,
            self.status,
            self.stderr,
            self.stdout
        );
        self
    }

    /// Stdout as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "featurestore {:?}: stdout is not JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }

    /// Asserts a failed run with exit code `code` and exactly one stderr
    /// line, `error: ...`, containing each of `parts`; returns that line.
    #[track_caller]
    pub(crate) fn fails(&self, code: i32, parts: &[&str]) -> String {
        assert_eq!(
            self.status.code(),
            Some(code),
            "featurestore {:?}: expected exit code {code}, got {}:\nstderr: {}\nstdout: {}",
            self.args,
            self.status,
            self.stderr,
            self.stdout
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "featurestore {:?}: expected one line on stderr, got:\n{}",
            self.args,
            self.stderr
        );
        let line = lines[0];
        assert!(
            line.starts_with("error: "),
            "featurestore {:?}: {line}",
            self.args
        );
        for bad in ["panicked", "RUST_BACKTRACE", "internal error"] {
            assert!(!line.contains(bad), "featurestore {:?}: {line}", self.args);
        }
        for part in parts {
            assert!(
                line.contains(part),
                "featurestore {:?}: the error does not mention {part:?}: {line}",
                self.args
            );
        }
        line.to_owned()
    }
}

/// A temporary directory with a store in `store/`.
pub(crate) struct Env {
    pub(crate) dir: TempDir,
}

impl Env {
    pub(crate) fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// A path in the directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The store directory.
    pub(crate) fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// Runs `featurestore --store <store> ARGS` in the directory.
    pub(crate) fn run<S: AsRef<str>>(&self, args: &[S]) -> Out {
        let store = self.store().display().to_string();
        let mut all = vec!["--store".to_owned(), store];
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        self.run_raw(&all)
    }

    /// Runs `featurestore ARGS` in the directory.
    pub(crate) fn run_raw<S: AsRef<str>>(&self, args: &[S]) -> Out {
        self.run_env(args, &[])
    }

    /// Runs `featurestore ARGS` in the directory with `vars` set.
    pub(crate) fn run_env<S: AsRef<str>>(&self, args: &[S], vars: &[(&str, &str)]) -> Out {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
        let out = Command::new(BIN)
            .args(&args)
            .envs(vars.iter().copied())
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run featurestore");
        Out {
            args,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Writes a file in the directory.
    pub(crate) fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).expect("write a test file");
        path
    }

    /// A dataset of `rows` rows (seed 42) in `customers.csv`, the group
    /// `customers` inferred from it, and the dataset ingested.
    pub(crate) fn customers(&self, rows: u64) -> PathBuf {
        let data = self.path("customers.csv");
        let d = data.display().to_string();
        let n = rows.to_string();
        self.run(&["create-dataset", "--rows", &n, "--out", &d])
            .ok();
        self.run(&[
            "create-feature-group",
            "customers",
            "--from-data",
            &d,
            "--record-id",
            "customer_id",
            "--event-time",
            "event_time",
        ])
        .ok();
        self.run(&["ingest", "customers", &d]).ok();
        data
    }

    /// What the store shows: its groups, their definitions, and a few
    /// records; also checks that no offline row waits in the outbox (so a
    /// later comparison also covers the offline store).
    pub(crate) fn snapshot(&self) -> Value {
        let list = self.run(&["--json", "list-feature-groups"]);
        list.ok();
        let list = list.json();
        let mut groups = Vec::new();
        for g in list["FeatureGroupSummaries"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = g["FeatureGroupName"].as_str().expect("a name");
            let describe = self.run(&["--json", "describe-feature-group", name]);
            describe.ok();
            let get = self.run(&["--json", "get", name, "1", "2", "3", "9001", "9002"]);
            groups.push(serde_json::json!({
                "describe": describe.json(),
                "records": get.json()["records"],
            }));
        }
        let flush = self.run(&["--json", "flush"]);
        flush.ok();
        assert_eq!(
            flush.json()["rows"],
            0,
            "offline rows were waiting in the outbox"
        );
        serde_json::json!({ "list": list, "groups": groups })
    }
}

/// A `featurestore serve` process, killed when dropped.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Served {
    /// Starts `featurestore --store <store> serve` on a free loopback port
    /// and waits for its first line.
    pub(crate) fn start(env: &Env) -> Served {
        let mut child = Command::new(BIN)
            .args(["--store", &env.store().display().to_string(), "serve"])
            .args(["--addr", "127.0.0.1:0"])
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn featurestore serve");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("read the first line");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        Served { child, url }
    }

    /// The address, `127.0.0.1:PORT`.
    pub(crate) fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Stops the server with SIGTERM (it flushes and releases the store).
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        self.child.wait().expect("wait for serve")
    }

    /// Kills the server (SIGKILL): nothing is flushed.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP request to `addr`; returns the status code and body.
pub(crate) fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to serve");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read the response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The rows of a CSV file as maps from column to text.
pub(crate) fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).expect("open the CSV");
    let header: Vec<String> = r
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    r.records()
        .map(|rec| {
            let rec = rec.expect("a row");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn parquet_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the offline directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            parquet_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
}

/// Rows and distinct customer ids of the offline Parquet files under `dir`.
pub(crate) fn offline_rows(dir: &Path) -> (u64, usize, usize) {
    let mut files = Vec::new();
    parquet_files(dir, &mut files);
    let mut rows = 0;
    let mut ids = HashSet::new();
    for f in &files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(f).expect("open"))
            .expect("a Parquet file")
            .build()
            .expect("a reader");
        for batch in reader {
            let batch = batch.expect("a batch");
            rows += batch.num_rows() as u64;
            let id = batch
                .column_by_name("customer_id")
                .expect("customer_id")
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("Int64")
                .clone();
            ids.extend(id.iter().flatten());
        }
    }
    (rows, ids.len(), files.len())
}

/// The customer ids of the offline rows under `dir` that are delete
/// markers (`is_deleted` true), sorted, one per marker.
pub(crate) fn deleted_ids(dir: &Path) -> Vec<i64> {
    let mut files = Vec::new();
    parquet_files(dir, &mut files);
    let mut ids = Vec::new();
    for f in &files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(f).expect("open"))
            .expect("a Parquet file")
            .build()
            .expect("a reader");
        for batch in reader {
            let batch = batch.expect("a batch");
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap_or_else(|| panic!("{}: no column {name}", f.display()))
                    .clone()
            };
            let id = column("customer_id");
            let id = id.as_any().downcast_ref::<Int64Array>().expect("Int64");
            let deleted = column("is_deleted");
            let deleted = deleted
                .as_any()
                .downcast_ref::<BooleanArray>()
                .expect("Boolean");
            ids.extend(
                (0..batch.num_rows())
                    .filter(|&i| deleted.value(i))
                    .map(|i| id.value(i)),
            );
        }
    }
    ids.sort_unstable();
    ids
}
