//! Crash safety: a writer killed with SIGKILL in the middle of acknowledged
//! puts (single records, Arrow batches and BatchWriteRecord-style puts)
//! loses none of them and duplicates none, online or offline, and leaves
//! nothing behind that a reopen and a flush do not clean up: one writer
//! thread flushing in the foreground, and eight writer threads sharing
//! group commits while the store flushes in the background.
//!
//! Each test re-runs its own test binary as the child writer (the
//! environment variable names the store), which prints `ack ID…` once the
//! put of those ids has returned; the parent kills it after a varying
//! number of acknowledgements.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fs_local::{BatchOptions, RecordPut, Store, StoreOptions};

use crate::batch::batch;
use crate::support::{all_files, group, offline_id_counts, read_parquet, record, stray_files};

const CHILD_ENV: &str = "FS_LOCAL_CRASH_CHILD_DIR";

/// How long a child may take to reach its kill point before the test
/// kills it and fails (it normally takes well under a second).
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// The child of the single-writer test: puts records 0, 1, 2... one
/// transaction each (even ones as records, odd ones as one-row Arrow
/// batches), flushing every 25.
fn run_single_writer(dir: &str) {
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
    const TEST_NAME: &str = "crash::killed_writers_lose_and_duplicate_nothing";
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_single_writer(&dir);
        return;
    }
    for run in 0..20u64 {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .create_feature_group(group("g"))
            .unwrap();
        // Kill after a varying number of acknowledged puts (pseudo-random, seeded by the run).
        let kill_after = 20 + (run * 7919 + 13) % 160;
        let killed = run_and_kill(TEST_NAME, dir.path(), kill_after as usize);
        check_after_kill(run, dir.path(), &killed.acked);
    }
}

/// Writer threads of the loaded child.
const WRITERS: usize = 8;

/// The child of the loaded test: eight threads put at once (so that they
/// share group commits) with a low flush threshold (so that background
/// flushes run among the puts), each put acknowledged on its own line.
/// Thread `t` puts ids `t-0`, `t-1`..., over three event-time hours (three
/// files per flush): a record, a three-row Arrow batch, or a
/// BatchWriteRecord-style put of two records, in turn. Thread 0 also
/// reports the store's commit statistics now and then.
fn run_loaded_writers(dir: &str) {
    let options = StoreOptions::default().flush_threshold_rows(40);
    let store = Arc::new(Store::open_with(dir, options).unwrap());
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (store, out) = (store.clone(), out.clone());
            std::thread::spawn(move || {
                for i in 0..20_000i64 {
                    let ts = format!("2024-01-01T0{}:00:00Z", i % 3);
                    let id = |k: &str| format!("{t}-{i}{k}");
                    let ids = match i % 3 {
                        0 => {
                            store
                                .put_record("g", &record(&id(""), &ts, i), None, None)
                                .unwrap();
                            vec![id("")]
                        }
                        1 => {
                            let ids = [id("a"), id("b"), id("c")];
                            let rows: Vec<_> = ids
                                .iter()
                                .map(|id| (Some(id.as_str()), Some(ts.as_str()), Some(i), None))
                                .collect();
                            let w = store
                                .put_batch("g", &batch(&rows), &BatchOptions::default())
                                .unwrap();
                            assert_eq!(w.rows_written, 3);
                            ids.to_vec()
                        }
                        _ => {
                            let (a, b) = (record(&id("a"), &ts, i), record(&id("b"), &ts, i));
                            let put = |record| RecordPut {
                                group: "g",
                                record,
                                target_stores: None,
                                ttl: None,
                            };
                            for r in store.put_records_each(&[put(&a), put(&b)]) {
                                r.unwrap();
                            }
                            vec![id("a"), id("b")]
                        }
                    };
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ack {}", ids.join(" ")).unwrap();
                    if t == 0 && i % 10 == 9 {
                        let s = store.commit_stats();
                        writeln!(out, "stats {} {}", s.transactions, s.writes).unwrap();
                    }
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn killed_group_committing_writers_with_background_flushes_lose_and_duplicate_nothing() {
    const TEST_NAME: &str =
        "crash::killed_group_committing_writers_with_background_flushes_lose_and_duplicate_nothing";
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_loaded_writers(&dir);
        return;
    }
    let (mut transactions, mut writes, mut flushed_before_kill) = (0, 0, 0);
    const RUNS: u64 = 8;
    for run in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .create_feature_group(group("g"))
            .unwrap();
        let kill_after = 60 + (run * 7919 + 13) % 300;
        let killed = run_and_kill(TEST_NAME, dir.path(), kill_after as usize);
        transactions += killed.transactions;
        writes += killed.writes;
        let files = all_files(dir.path());
        if files
            .iter()
            .any(|p| p.extension().is_some_and(|x| x == "parquet"))
        {
            flushed_before_kill += 1;
        }
        check_after_kill(run, dir.path(), &killed.acked);
    }
    // The load this test is about happened: writers shared transactions,
    // and background flushes wrote files among the puts.
    assert!(
        transactions > 0 && transactions < writes,
        "{writes} writes in {transactions} transactions: no group commit was shared"
    );
    assert!(
        flushed_before_kill * 2 >= RUNS,
        "background flushes wrote files before the kill in only {flushed_before_kill} of {RUNS} runs"
    );
}

/// What the parent saw of a child before it killed it.
#[derive(Default)]
struct Killed {
    /// Every id acknowledged.
    acked: Vec<String>,
    /// The last commit statistics the child reported.
    transactions: u64,
    writes: u64,
}

/// Runs the test `test_name` of this binary as a child writer on the store
/// `dir` and kills it with SIGKILL once it has acknowledged `kill_after`
/// puts. Fails when the child ends by itself first, or does not get there
/// within [`CHILD_DEADLINE`] (then it is killed too).
fn run_and_kill(test_name: &str, dir: &std::path::Path, kill_after: usize) -> Killed {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(&exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Arc::new(Mutex::new(child));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (child, done) = (child.clone(), done.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(Ordering::SeqCst) {
                if start.elapsed() > CHILD_DEADLINE {
                    let _ = child.lock().unwrap().kill();
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        })
    };
    let mut killed = Killed::default();
    let mut puts = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(ids) = line.strip_prefix("ack ") {
            killed.acked.extend(ids.split(' ').map(str::to_owned));
            puts += 1;
            if puts >= kill_after {
                child.lock().unwrap().kill().unwrap(); // SIGKILL
                break;
            }
        } else if let Some(stats) = line.strip_prefix("stats ") {
            let (t, w) = stats.split_once(' ').unwrap();
            killed.transactions = t.parse().unwrap();
            killed.writes = w.parse().unwrap();
        }
    }
    done.store(true, Ordering::SeqCst);
    let timed_out = watchdog.join().unwrap();
    let status = child.lock().unwrap().wait().unwrap();
    assert!(
        !timed_out,
        "the child acknowledged {puts} of {kill_after} puts in {CHILD_DEADLINE:?}"
    );
    assert!(
        puts >= kill_after,
        "the child ended by itself ({status}) after {puts} of {kill_after} puts"
    );
    killed
}

/// After a kill: the store reopens without repair by hand; every
/// acknowledged put is online; after a flush every acknowledged put is
/// offline exactly once (the others at most once), every Parquet file
/// parses, and no file other than the database, the lock and the Parquet
/// files is left (a flush's temporary files among them).
fn check_after_kill(run: u64, dir: &std::path::Path, acked: &[String]) {
    assert!(
        !acked.is_empty(),
        "run {run}: the child acknowledged nothing"
    );
    let store = Store::open(dir).unwrap_or_else(|e| panic!("run {run}: reopen failed: {e}"));
    for id in acked {
        let got = store.get_record("g", id, None).unwrap();
        assert!(
            got.is_some(),
            "run {run}: acknowledged put {id} is missing online"
        );
    }
    store.flush().unwrap();
    assert_eq!(store.outbox_len(), 0, "run {run}: rows left after a flush");
    let stray = stray_files(dir);
    assert!(
        stray.is_empty(),
        "run {run}: left in the store after reopen and flush: {stray:?}"
    );
    // Every file left but the publish lock is Parquet that parses and
    // holds rows.
    let data = store.offline_data_dir("g").unwrap().unwrap();
    let lock = data.join(fs_schema::layout::PUBLISH_LOCK);
    for file in all_files(&data).into_iter().filter(|f| *f != lock) {
        let rows: usize = read_parquet(&file).iter().map(|b| b.num_rows()).sum();
        assert!(rows > 0, "run {run}: {} holds no rows", file.display());
    }
    let counts = offline_id_counts(&data);
    let wrong: Vec<(&String, usize)> = acked
        .iter()
        .map(|id| (id, counts.get(id).copied().unwrap_or(0)))
        .filter(|&(_, n)| n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "run {run}: acknowledged puts not offline exactly once (id, rows) of {} acknowledged: {wrong:?}; files: {:?}",
        acked.len(),
        all_files(&data)
    );
    assert!(
        counts.values().all(|&c| c == 1),
        "run {run}: duplicates offline: {counts:?}"
    );
}
