//! The `fs-server` binary killed with SIGKILL under load: 64 concurrent
//! writers put records through the real
//! `aws-sdk-sagemakerfeaturestoreruntime` client (56 with PutRecord, 8
//! with BatchWriteRecord of three entries, so that the server's writer
//! thread and its blocking-pool commits share the store), 20 times over the
//! same store directory.
//!
//! A put is *acknowledged* when a 200 reached the client, and has an
//! *unknown outcome* when its request failed (the server died with it in
//! flight, or before it was sent). After every kill the store opens without
//! repair by hand and every acknowledged put is online (or overwritten by a
//! later put of its record); every fifth kill the store is flushed there
//! and then, so that later rounds write on top of flushed files. After the
//! last kill the server is started again and answers GetRecord with the
//! same records; after a last flush every acknowledged put is offline
//! exactly once, an unknown one at most once, nothing else is there, every
//! file of the store is the database, its lock or a Parquet file that
//! parses, and no temporary file is left.
//!
//! Every put has its own event time (and `n`), so rows are counted per
//! (record id, event time). Each writer owns eight record ids and puts them
//! in turn with increasing event times, so that puts overwrite each other
//! online and the record online must be the latest put that may have
//! landed, not older than the latest acknowledged one.
//!
//! The server opens its store with the default flush threshold (100,000
//! rows), which these rounds do not reach, so the kills land among puts and
//! group commits, not in a flush; fs-local's own crash tests kill a writer
//! in its flushes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use aws_sdk_sagemakerfeaturestoreruntime::Client;
use aws_sdk_sagemakerfeaturestoreruntime::types::{BatchWriteRecordEntry, FeatureValue};
use fs_schema::aws::ControlPlane;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::support::group;

/// Concurrent writers; every `BATCH_EVERY`th writes with BatchWriteRecord.
const WRITERS: usize = 64;
const BATCH_EVERY: usize = 8;
const BATCH_ENTRIES: i64 = 3;
/// Record ids per writer, put in turn.
const IDS_PER_WRITER: i64 = 8;
const ROUNDS: u64 = 20;
/// Every this many kills the store is flushed before the next round.
const FLUSH_EVERY: u64 = 5;
/// How long writers run before the kill, at random in this range (ms),
/// counted from the round's first acknowledged put.
const RUN_MS: std::ops::Range<u64> = 50..600;
/// Bounds on anything that waits, so that a hung server fails the test.
const DEADLINE: Duration = Duration::from_secs(20);
/// At most this many puts per writer per round (never reached in time).
const MAX_PUTS_PER_WRITER: usize = 20_000;
const GROUP: &str = "g";

/// What became of one put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A 200 reached the client.
    Acked,
    /// The request failed: it may or may not have been written.
    Unknown,
}

/// Every put made, by `n` (which also fixes its event time).
#[derive(Default)]
struct Ledger {
    puts: BTreeMap<i64, (String, Outcome)>,
}

impl Ledger {
    fn count(&self, outcome: Outcome) -> usize {
        self.puts.values().filter(|(_, o)| *o == outcome).count()
    }
}

/// The event time of put `n`: `n` seconds after 2024-01-01T00:00:00Z.
fn event_time(n: i64) -> String {
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp(1_704_067_200 + n, 0).unwrap();
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn fv(name: &str, value: &str) -> FeatureValue {
    FeatureValue::builder()
        .feature_name(name)
        .value_as_string(value)
        .build()
}

fn record(id: &str, n: i64) -> Vec<FeatureValue> {
    vec![
        fv("id", id),
        fv("ts", &event_time(n)),
        fv("n", &n.to_string()),
    ]
}

/// SplitMix64: the kill times, seeded by the round.
fn random(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The binary, running on a store.
struct Running {
    child: Child,
    endpoint: String,
}

impl Drop for Running {
    /// Kills the server if a failed check left it running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free loopback port over `store`, its stderr
/// appended to `log` (outside the store, whose files the test lists).
fn start(store: &Path, log: &Path) -> Running {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fs-server"))
        .args(["--addr", "127.0.0.1:0", "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(url) = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
    else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "no address in {line:?}; stderr: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    };
    Running {
        endpoint: url.to_owned(),
        child,
    }
}

/// A client making one attempt per request, bounded in time.
fn client(endpoint: &str) -> Client {
    let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
        .operation_timeout(DEADLINE / 2)
        .build();
    Client::from_conf(
        aws_sdk_sagemakerfeaturestoreruntime::config::Builder::from(&fs_server::client_config(
            endpoint, 1,
        ))
        .timeout_config(timeouts)
        .build(),
    )
}

/// What the writers of a round share.
struct Shared {
    /// The `n` of the next put, across rounds.
    next: Arc<AtomicI64>,
    /// Set just before the kill.
    stop: Arc<AtomicBool>,
    /// Requests acknowledged this round.
    acked: Arc<AtomicUsize>,
}

/// One writer until `stop` (or its first failed request: the server is
/// gone): returns its puts as `(n, id, outcome)`.
async fn write_until_stopped(
    client: Client,
    writer: usize,
    Shared { next, stop, acked }: Shared,
) -> Vec<(i64, String, Outcome)> {
    let batch = writer.is_multiple_of(BATCH_EVERY);
    let mut out = Vec::new();
    while !stop.load(Ordering::SeqCst) && out.len() < MAX_PUTS_PER_WRITER {
        let k = if batch { BATCH_ENTRIES } else { 1 };
        let first = next.fetch_add(k, Ordering::SeqCst);
        let puts: Vec<(i64, String)> = (first..first + k)
            .map(|n| (n, format!("w{writer}-{}", n % IDS_PER_WRITER)))
            .collect();
        let ok = if batch {
            let entries = puts
                .iter()
                .map(|(n, id)| {
                    BatchWriteRecordEntry::builder()
                        .feature_group_name(GROUP)
                        .set_record(Some(record(id, *n)))
                        .build()
                })
                .collect();
            match client
                .batch_write_record()
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(o) => {
                    assert!(
                        o.errors().is_empty() && o.unprocessed_entries().is_empty(),
                        "a BatchWriteRecord without faults failed entries: {o:?}"
                    );
                    true
                }
                Err(_) => false,
            }
        } else {
            let (n, id) = &puts[0];
            client
                .put_record()
                .feature_group_name(GROUP)
                .set_record(Some(record(id, *n)))
                .send()
                .await
                .is_ok()
        };
        let outcome = if ok {
            acked.fetch_add(1, Ordering::SeqCst);
            Outcome::Acked
        } else {
            Outcome::Unknown
        };
        out.extend(puts.into_iter().map(|(n, id)| (n, id, outcome)));
        if !ok {
            break;
        }
    }
    out
}

/// One round: the server on `store`, 64 writers, SIGKILL after a random
/// time. Adds every put to `ledger`; returns how many were in flight (or
/// started) when the server died.
async fn round(
    store: &Path,
    log: &Path,
    seed: u64,
    next: &Arc<AtomicI64>,
    ledger: &mut Ledger,
) -> usize {
    let mut server = start(store, log);
    let client = client(&server.endpoint);
    if ledger.puts.is_empty() {
        ControlPlane::new(&fs_server::client_config(&server.endpoint, 1))
            .create_feature_group(&group(GROUP))
            .await
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let shared = Shared {
                next: next.clone(),
                stop: stop.clone(),
                acked: acked.clone(),
            };
            tokio::spawn(write_until_stopped(client.clone(), w, shared))
        })
        .collect();
    // Let the first puts land, then kill after a random time.
    let waiting = Instant::now();
    while acked.load(Ordering::SeqCst) == 0 && waiting.elapsed() < DEADLINE {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let run = RUN_MS.start + random(seed) % (RUN_MS.end - RUN_MS.start);
    tokio::time::sleep(Duration::from_millis(run)).await;
    stop.store(true, Ordering::SeqCst);
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let mut unknown = 0;
    for w in writers {
        let puts = tokio::time::timeout(DEADLINE, w)
            .await
            .expect("a writer hung after the kill")
            .unwrap();
        for (n, id, outcome) in puts {
            unknown += usize::from(outcome == Outcome::Unknown);
            assert!(ledger.puts.insert(n, (id, outcome)).is_none());
        }
    }
    unknown
}

/// The record online for `id`, as (event time, n), read by `get`.
type Online = Option<(String, i64)>;

/// Checks that the record online for each id is the latest put of it that
/// may have landed, and not older than its latest acknowledged put.
fn check_online(when: &str, ledger: &Ledger, mut get: impl FnMut(&str) -> Online) {
    let mut by_id: BTreeMap<&str, Vec<(i64, Outcome)>> = BTreeMap::new();
    for (n, (id, outcome)) in &ledger.puts {
        by_id.entry(id).or_default().push((*n, *outcome));
    }
    for (id, puts) in by_id {
        let latest_acked = puts.iter().rev().find(|(_, o)| *o == Outcome::Acked);
        let got = get(id);
        let Some((ts, n)) = got else {
            assert!(
                latest_acked.is_none(),
                "{when}: acknowledged put {latest_acked:?} of {id} is not online"
            );
            continue;
        };
        assert_eq!(ts, event_time(n), "{when}: {id} online has n {n} but {ts}");
        assert!(
            puts.iter().any(|(m, _)| *m == n),
            "{when}: {id} online is put {n}, which was never made for it: {puts:?}"
        );
        if let Some((acked, _)) = latest_acked {
            assert!(
                n >= *acked,
                "{when}: {id} online is put {n}, older than its acknowledged put {acked}"
            );
        }
    }
}

/// The record online for `id`, read from the store itself.
fn online_in_store(store: &fs_local::Store, id: &str) -> Online {
    let r = store.get_record(GROUP, id, None).unwrap()?;
    Some((
        r.record.get_str("ts").unwrap().to_owned(),
        r.record.get_str("n").unwrap().parse().unwrap(),
    ))
}

/// Every file under `dir`, whatever its name.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// After a flush: nothing but the database, the lock and the group's
/// Parquet files is in the store; every Parquet file parses and holds
/// rows; every acknowledged put is offline once, an unknown one at most
/// once, and nothing else is there. Returns how many puts of unknown
/// outcome are there.
fn check_offline(when: &str, store: &fs_local::Store, ledger: &Ledger) -> usize {
    store.flush().unwrap();
    assert_eq!(store.outbox_len(), 0, "{when}: rows left after a flush");
    let data = store.offline_data_dir(GROUP).unwrap().unwrap();
    let (mut parquet, mut stray) = (Vec::new(), Vec::new());
    for file in all_files(store.dir()) {
        let name = file.file_name().unwrap().to_string_lossy();
        let top = file.parent() == Some(store.dir());
        if top && (name == "store.redb" || name == "LOCK")
            || file == data.join(fs_schema::layout::PUBLISH_LOCK)
        {
            continue;
        }
        if file.starts_with(&data) && name.ends_with(".parquet") && !name.starts_with('.') {
            parquet.push(file);
        } else {
            stray.push(file);
        }
    }
    assert!(stray.is_empty(), "{when}: left in the store: {stray:?}");
    let mut rows: BTreeMap<(String, String), usize> = BTreeMap::new();
    for file in &parquet {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
            .unwrap_or_else(|e| panic!("{when}: {}: {e}", file.display()))
            .build()
            .unwrap();
        let mut in_file = 0;
        for b in reader {
            let b = b.unwrap_or_else(|e| panic!("{when}: {}: {e}", file.display()));
            let ids = b.column_by_name("id").unwrap().as_string::<i32>();
            let ts = b.column_by_name("ts").unwrap().as_string::<i32>();
            for (id, ts) in ids.iter().zip(ts.iter()) {
                let key = (id.unwrap().to_owned(), ts.unwrap().to_owned());
                *rows.entry(key).or_default() += 1;
                in_file += 1;
            }
        }
        assert!(in_file > 0, "{when}: {} holds no rows", file.display());
    }
    let (mut wrong, mut landed) = (Vec::new(), 0);
    for (n, (id, outcome)) in &ledger.puts {
        let count = rows.remove(&(id.clone(), event_time(*n))).unwrap_or(0);
        landed += usize::from(count == 1 && *outcome == Outcome::Unknown);
        if count > 1 || (count == 0 && *outcome == Outcome::Acked) {
            wrong.push((n, id, outcome, count));
        }
    }
    assert!(
        wrong.is_empty(),
        "{when}: puts offline not as often as they should be (n, id, outcome, rows): {wrong:?}"
    );
    assert!(
        rows.is_empty(),
        "{when}: offline rows of puts never made: {rows:?}"
    );
    landed
}

#[test]
#[expect(clippy::print_stderr, reason = "the test reports what it did")]
fn sigkilled_under_64_writers_the_server_loses_and_duplicates_no_acknowledged_put() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (store_dir, log) = (dir.path().join("store"), logs.path().join("fs-server.log"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let next = Arc::new(AtomicI64::new(0));
    let mut ledger = Ledger::default();
    let mut in_flight_rounds = 0;
    for r in 0..ROUNDS {
        let acked_before = ledger.count(Outcome::Acked);
        let unknown = rt.block_on(round(&store_dir, &log, r, &next, &mut ledger));
        in_flight_rounds += u64::from(unknown > 0);
        assert!(
            ledger.count(Outcome::Acked) > acked_before,
            "round {r}: no put was acknowledged"
        );
        let when = format!("after kill {}", r + 1);
        let store = fs_local::Store::open(&store_dir)
            .unwrap_or_else(|e| panic!("{when}: the store does not open: {e}"));
        check_online(&when, &ledger, |id| online_in_store(&store, id));
        if r % FLUSH_EVERY == FLUSH_EVERY - 1 && r + 1 < ROUNDS {
            check_offline(&when, &store, &ledger);
        }
    }
    // The server serves the same records after the last kill.
    let mut server = start(&store_dir, &log);
    let client = client(&server.endpoint);
    let online: BTreeMap<String, Online> = rt.block_on(async {
        let mut out = BTreeMap::new();
        for (id, _) in ledger.puts.values() {
            if out.contains_key(id) {
                continue;
            }
            let got = client
                .get_record()
                .feature_group_name(GROUP)
                .record_identifier_value_as_string(id)
                .send()
                .await
                .unwrap();
            let value = |name: &str| {
                got.record()
                    .iter()
                    .find(|v| v.feature_name() == Some(name))
                    .and_then(|v| v.value_as_string())
                    .map(str::to_owned)
            };
            let record = value("ts").map(|ts| (ts, value("n").unwrap().parse().unwrap()));
            out.insert(id.clone(), record);
        }
        out
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    check_online("through the restarted server", &ledger, |id| {
        online[id].clone()
    });
    let store = fs_local::Store::open(&store_dir).unwrap();
    let landed = check_offline("after the last kill", &store, &ledger);
    // The kills happened under load.
    assert!(
        in_flight_rounds * 2 >= ROUNDS,
        "puts were in flight at only {in_flight_rounds} of {ROUNDS} kills"
    );
    eprintln!(
        "{ROUNDS} kills: {} puts acknowledged, {} with an unknown outcome ({landed} of them landed), in {:?}",
        ledger.count(Outcome::Acked),
        ledger.count(Outcome::Unknown),
        started.elapsed()
    );
}
