//! Crash safety: a writer killed with SIGKILL in the middle of acknowledged
//! puts (single records and Arrow batches) loses none of them and
//! duplicates none, online or offline.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fs_local::{BatchOptions, Store};

use crate::batch::batch;
use crate::support::{group, offline_id_counts, record};

const CHILD_ENV: &str = "FS_LOCAL_CRASH_CHILD_DIR";
const TEST_NAME: &str = "crash::killed_writers_lose_and_duplicate_nothing";

/// The child: puts records 0, 1, 2... one transaction each (even ones as
/// records, odd ones as one-row Arrow batches), flushing every 25, and
/// prints `ack N` once put N has returned.
fn run_child(dir: &str) {
    use std::io::Write;
    let store = Store::open(dir).unwrap();
    let mut out = std::io::stdout().lock();
    const T: &str = "2024-01-01T00:00:00Z";
    for i in 0..100_000i64 {
        let id = i.to_string();
        if i % 2 == 0 {
            store
                .put_record("g", &record(&id, T, i), None, None)
                .unwrap();
        } else {
            let b = batch(&[(Some(&id), Some(T), Some(i), Some(i as f64 + 0.5))]);
            let w = store.put_batch("g", &b, &BatchOptions::default()).unwrap();
            assert_eq!(w.rows_written, 1);
        }
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
        if i % 25 == 24 {
            store.flush().unwrap();
        }
    }
}

#[test]
fn killed_writers_lose_and_duplicate_nothing() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_child(&dir);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for run in 0..20u64 {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .create_feature_group(group("g"))
            .unwrap();
        let mut child = Command::new(&exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill after a varying number of acknowledged puts (pseudo-random, seeded by the run).
        let kill_after = 20 + (run * 7919 + 13) % 160;
        let mut acked = Vec::new();
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ack ") {
                acked.push(n.parse::<i64>().unwrap());
                if acked.len() as u64 >= kill_after {
                    child.kill().unwrap(); // SIGKILL
                    break;
                }
            }
        }
        child.wait().unwrap();
        assert!(
            !acked.is_empty(),
            "run {run}: the child acknowledged nothing"
        );

        // Reopens without repair by hand; every acknowledged put is online...
        let store =
            Store::open(dir.path()).unwrap_or_else(|e| panic!("run {run}: reopen failed: {e}"));
        for i in &acked {
            let got = store.get_record("g", &i.to_string(), None).unwrap();
            assert!(
                got.is_some(),
                "run {run}: acknowledged put {i} is missing online"
            );
        }
        // ...and, after a flush, offline exactly once (unacknowledged ones at most once).
        store.flush().unwrap();
        let counts = offline_id_counts(&store.offline_data_dir("g").unwrap().unwrap());
        for i in &acked {
            assert_eq!(
                counts.get(&i.to_string()),
                Some(&1),
                "run {run}: put {i} offline"
            );
        }
        assert!(
            counts.values().all(|&c| c == 1),
            "run {run}: duplicates offline: {counts:?}"
        );
    }
}
