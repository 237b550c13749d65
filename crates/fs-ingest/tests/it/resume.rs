//! Resume: an ingest killed with SIGKILL and run again with `resume`
//! writes every row exactly once (offline, read back from Parquet), also
//! when the kill lands between a batch's commit and its checkpoint, and
//! its totals add up; the failures file holds each failure once.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::RecordBatch;
use async_trait::async_trait;
use fs_ingest::{Error, IngestOptions, LocalSink, Provenance, RowOutcome, Sink, WriteOptions};
use fs_local::Store;
use fs_schema::FeatureGroup;

use crate::support::{
    Env, assert_invariant, customers, customers_batch, run, write_csv, write_parquet,
};

const CHILD_ENV: &str = "FS_INGEST_RESUME_CHILD_DIR";
const PAUSE_ENV: &str = "FS_INGEST_RESUME_PAUSE_AT";
const TEST_NAME: &str = "resume::a_killed_ingest_resumes_without_losing_or_repeating_a_row";
const GROUP: &str = "resumed";
const BATCH: usize = 40;
const ROWS_PER_FILE: i64 = 600;

/// Three files: CSV, Parquet, and CSV with a bad age on every 50th row.
fn make_inputs(dir: &Path) -> (PathBuf, BTreeSet<i64>, BTreeSet<i64>) {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    write_csv(
        &input.join("part-0.csv"),
        &customers_batch(0, ROWS_PER_FILE as usize),
    );
    write_parquet(
        &input.join("part-1.parquet"),
        &customers_batch(ROWS_PER_FILE, ROWS_PER_FILE as usize),
    );
    let mut text = String::from("customer_id,event_time,age,lifetime_value,city\n");
    let (mut good, mut bad) = (BTreeSet::new(), BTreeSet::new());
    good.extend(0..2 * ROWS_PER_FILE);
    for id in 2 * ROWS_PER_FILE..3 * ROWS_PER_FILE {
        let age = if id % 50 == 0 {
            bad.insert(id);
            "bad".to_owned()
        } else {
            good.insert(id);
            (id % 90).to_string()
        };
        text.push_str(&format!("{id},2024-07-01T00:00:00Z,{age},1.5,Turin\n"));
    }
    std::fs::write(input.join("part-2.csv"), text).unwrap();
    (input, good, bad)
}

fn options(dir: &Path) -> IngestOptions {
    IngestOptions::default()
        .batch_size(BATCH)
        .checkpoint(dir.join("checkpoint.json"))
        .failures_file(dir.join("failures.jsonl"))
        .resume(true)
}

/// Where the parent kills the child.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// Paused right after the checkpoint of batch N.
    AfterCheckpoint(usize),
    /// Paused right after the store committed batch N, before the ingest
    /// recorded it: the window a resumed run sends a batch again in.
    AfterCommit(usize),
    /// `delay_ms` after the checkpoint of batch N, wherever it then is (in a
    /// read, a cast, a store commit or a checkpoint).
    Anywhere(usize, u64),
}

/// Writes through the embedded store and, after the store has committed
/// the `pause_after`-th batch, says so and sleeps (to be killed) before
/// the ingest hears of it.
#[derive(Debug)]
struct PauseAfterCommit {
    inner: LocalSink,
    pause_after: Option<usize>,
    committed: AtomicUsize,
}

impl PauseAfterCommit {
    fn committed(&self) {
        let n = self.committed.fetch_add(1, Ordering::SeqCst) + 1;
        if self.pause_after == Some(n) {
            let mut out = std::io::stdout().lock();
            writeln!(out, "committed {n}").unwrap();
            out.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}

#[async_trait]
impl Sink for PauseAfterCommit {
    async fn write(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
    ) -> fs_ingest::Result<Vec<RowOutcome>> {
        let written = self.inner.write(group, batch, provenance, options).await;
        self.committed();
        written
    }

    async fn write_keyed(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
        key: &str,
    ) -> fs_ingest::Result<Vec<RowOutcome>> {
        let written = self
            .inner
            .write_keyed(group, batch, provenance, options, key)
            .await;
        self.committed();
        written
    }

    async fn forget_keys(&self, prefix: &str) -> fs_ingest::Result<()> {
        self.inner.forget_keys(prefix).await
    }

    async fn flush(&self) -> fs_ingest::Result<()> {
        self.inner.flush().await
    }
}

/// The child: ingests, printing `ack N` after each checkpointed batch
/// (N rows read so far); pauses (to be killed) as PAUSE_ENV says:
/// `checkpoint:ROWS` once N reaches ROWS, `commit:BATCHES` once the store
/// has committed that many batches.
fn run_child(dir: &Path) {
    let pause = std::env::var(PAUSE_ENV).unwrap_or_default();
    let arg = |prefix: &str| {
        pause
            .strip_prefix(prefix)
            .map(|n| n.parse::<u64>().unwrap())
    };
    let pause_at = arg("checkpoint:");
    let pause_after_commit = arg("commit:").map(|n| n as usize);
    let store = Arc::new(Store::open(dir.join("store")).unwrap());
    let group = store.describe_feature_group(GROUP).unwrap().spec.clone();
    let options = options(dir).on_progress(move |p| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {}", p.rows_read).unwrap();
        out.flush().unwrap();
        if pause_at.is_some_and(|n| p.rows_read >= n) {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Arc::new(PauseAfterCommit {
        inner: LocalSink::new(store),
        pause_after: pause_after_commit,
        committed: AtomicUsize::new(0),
    });
    rt.block_on(fs_ingest::Ingest::new(group, sink, options).run(&[dir.join("in")]))
        .unwrap();
}

/// Runs this test binary as a child ingest over `dir`, told where to pause
/// by `kill`, and SIGKILLs it there.
fn kill_child(dir: &Path, run_no: u64, kill: Kill) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", TEST_NAME, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match kill {
        Kill::AfterCheckpoint(n) => {
            cmd.env(PAUSE_ENV, format!("checkpoint:{}", n * BATCH));
        }
        Kill::AfterCommit(n) => {
            cmd.env(PAUSE_ENV, format!("commit:{n}"));
        }
        Kill::Anywhere(..) => {}
    }
    let mut child = cmd.spawn().unwrap();
    let (mut acks, mut killed) = (0, false);
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        // libtest may print "test <name> ... " before the first ack, on its line.
        let line = line.unwrap();
        acks += usize::from(line.contains("ack "));
        let now = match kill {
            Kill::AfterCheckpoint(n) => acks >= n,
            Kill::AfterCommit(_) => line.contains("committed "),
            Kill::Anywhere(n, delay_ms) => {
                if acks >= n {
                    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                }
                acks >= n
            }
        };
        if now {
            child.kill().unwrap(); // SIGKILL
            killed = true;
            break;
        }
    }
    child.wait().unwrap();
    assert!(killed, "run {run_no}: the child finished before {kill:?}");
}

/// Every good row is offline exactly once, wherever the kill landed (a
/// batch committed but not checkpointed is sent again with its key and
/// not written twice), the batch keys are forgotten, and each failure is
/// in the failures file once, across both runs.
fn assert_each_row_once(
    env: &Env,
    good: &BTreeSet<i64>,
    bad: &BTreeSet<i64>,
    run_no: u64,
    kill: Kill,
) {
    let counts = env.offline_counts(GROUP, "customer_id");
    let ids: BTreeSet<i64> = counts.keys().map(|k| k.parse().unwrap()).collect();
    assert_eq!(&ids, good, "run {run_no}: offline ids");
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).collect();
    assert!(
        twice.is_empty(),
        "run {run_no} ({kill:?}): rows written twice: {twice:?}"
    );
    // The finished ingest forgot its batch keys.
    assert_eq!(
        env.store.forget_idempotency_keys("ingest/").unwrap(),
        0,
        "run {run_no}"
    );
    // Each failure is in the failures file once, across both runs.
    let text = std::fs::read_to_string(env.path("failures.jsonl")).unwrap();
    let failed: Vec<i64> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["customer_id"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(
        &failed.iter().copied().collect::<BTreeSet<_>>(),
        bad,
        "run {run_no}"
    );
    assert_eq!(
        failed.len(),
        bad.len(),
        "run {run_no}: a failure written twice"
    );
}

/// Kills a child ingest as `kill` says, then resumes in this process.
fn kill_and_resume(run_no: u64, kill: Kill) {
    let dir = tempfile::tempdir().unwrap();
    let (input, good, bad) = make_inputs(dir.path());
    Store::open(dir.path().join("store"))
        .unwrap()
        .create_feature_group(customers(GROUP))
        .unwrap();
    kill_child(dir.path(), run_no, kill);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = Env {
        store: Arc::new(Store::open(dir.path().join("store")).unwrap()),
        dir,
    };
    let report = rt
        .block_on(run(
            &customers(GROUP),
            env.sink(),
            &[input],
            options(env.dir.path()),
        ))
        .unwrap_or_else(|e| panic!("run {run_no}: resume failed: {e}"));
    assert_invariant(&report);

    // The totals add up over both runs, and nothing acknowledged was read again.
    let previous = report.previous.expect("resumed from a checkpoint");
    let total = report.total();
    assert_eq!(total.rows_read, 3 * ROWS_PER_FILE as u64, "run {run_no}");
    assert_eq!(total.rows_written, good.len() as u64, "run {run_no}");
    assert_eq!(total.rows_failed, bad.len() as u64, "run {run_no}");
    assert_eq!(report.rows_resumed, previous.rows_read, "run {run_no}");
    if let Kill::AfterCheckpoint(n) = kill {
        assert!(previous.rows_read >= (n * BATCH) as u64, "run {run_no}");
    }

    assert_each_row_once(&env, &good, &bad, run_no, kill);
}

#[test]
fn a_killed_ingest_resumes_without_losing_or_repeating_a_row() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_child(Path::new(&dir));
        return;
    }
    // Killed right after a checkpoint: in the first file, at a file
    // boundary, and among the bad rows of the last file.
    for (run_no, n) in [(0, 4), (1, 15), (2, 37)] {
        kill_and_resume(run_no, Kill::AfterCheckpoint(n));
    }
    // Killed after the store committed a batch and before its checkpoint.
    for (run_no, n) in [(3, 3), (4, 16), (5, 38)] {
        kill_and_resume(run_no, Kill::AfterCommit(n));
    }
    // Killed at whatever moment the signal lands.
    for run_no in 6..10 {
        kill_and_resume(
            run_no,
            Kill::Anywhere(2 + (run_no as usize * 13) % 40, run_no * 17 % 60),
        );
    }
}

#[tokio::test]
async fn a_finished_ingest_resumed_reads_nothing_and_a_changed_file_is_refused() {
    let env = Env::new();
    let group = env.group(customers("finished"));
    let input = env.path("in.csv");
    write_csv(&input, &customers_batch(1, 30));
    let options = || {
        IngestOptions::default()
            .batch_size(7)
            .checkpoint(env.path("cp.json"))
            .resume(true)
    };
    let first = env
        .ingest(&group, std::slice::from_ref(&input), options())
        .await
        .unwrap();
    assert_eq!(first.rows_written, 30);
    let second = env
        .ingest(&group, std::slice::from_ref(&input), options())
        .await
        .unwrap();
    assert_eq!((second.rows_read, second.rows_resumed), (0, 30));
    assert_eq!(second.total().rows_written, 30);
    assert_eq!(env.offline_counts("finished", "customer_id").len(), 30);

    write_csv(&input, &customers_batch(1, 31));
    let err = env
        .ingest(&group, std::slice::from_ref(&input), options())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("changed since it was checkpointed"),
        "{err}"
    );
    // Without resume, the checkpoint starts over.
    let again = env
        .ingest(&group, &[input], options().resume(false))
        .await
        .unwrap();
    assert_eq!(again.rows_written, 31);

    // Another group's checkpoint is refused.
    let other = env.group(customers("other"));
    let err = env
        .ingest(&other, &[env.path("in.csv")], options())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("made for feature group"), "{err}");
}
