//! Dataset artifacts read back by a second sub-model from a cold page cache
//! (issue 16), against a raw read of the same bytes and against building
//! the dataset again.
//!
//! ```text
//! cargo bench -p fs-offline --bench artifact [-- --quick] [-- --reps N]
//! ```
//!
//! Writes the `orders` files of the dataset bench (the same generator and
//! seed: 20 features, 1M rows with `--quick`, else 10M, 48 hourly Glue
//! partitions, snappy Parquet) into a temporary directory under
//! `FS_ARTIFACT_BENCH_TMP` (default `<target dir>/bench-tmp`; refused on
//! tmpfs, whose pages cannot be dropped), and builds the latest record per
//! identifier of `orders` once through an `ArtifactEngine` over the
//! embedded engine: the artifact, `<store>/<id>/data.arrow`. Then, `N`
//! times (3 with `--quick`, else 5), alternating the sides in this order:
//!
//! - **ours, `read_all`**: the artifact's files dropped from the page cache
//!   (`posix_fadvise(DONTNEED)`; they are clean, since the build fsynced
//!   them), then a new process (this binary again, [`CHILD`] mode) opens
//!   the artifact (`ArtifactStore::get`), reads it with
//!   `Artifact::read_all` (one read, zero-copy arrays) and touches every
//!   value;
//! - **ours, `stream`**: the same with `Artifact::stream` (batch by batch);
//! - **ours, LZ4**: `read_all` and `stream` again, each cold, on the same
//!   dataset kept with LZ4-compressed buffers (`ArtifactCompression::Lz4`),
//!   to choose the default by measurement;
//! - **anchor, raw read**: the cache dropped the same way, then a new
//!   process reads `data.arrow` sequentially to the end (1 MiB reads),
//!   uncompressed and LZ4;
//! - **anchor, build**: a new process builds the same dataset from the
//!   Parquet files (the embedded engine, every batch consumed and touched
//!   the same way). The Parquet files are warm in the page cache (read once
//!   before the first run), as they are after a sync.
//!
//! Touching every value: the sum of every numeric column (timestamps as
//! integers, booleans as their count of `true`), and a cheap hash (FNV-1a)
//! of every string; each child reports an order-independent checksum of
//! them, and the run fails unless ours and the build agree.
//!
//! Every time is measured inside the child, from the first open (of the
//! store, the file or the engine) to the last value touched: process
//! start-up, and a tokio runtime's, are outside on every side. It prints
//! medians as `RESULT name value unit`: `artifact_read_all_ms`,
//! `artifact_stream_ms`, their `_lz4` twins, `artifact_raw_read_ms` (and
//! `_lz4`), `artifact_build_ms` and each side's `…_first_batch_ms` (the
//! time to its first batch), the rows read (`artifact_rows`) and built
//! (`artifact_build_rows`), and the artifact's size (`artifact_bytes`,
//! `artifact_lz4_bytes`).

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use fs_offline::artifact::{ArtifactCompression, ArtifactEngine, ArtifactOptions, ArtifactStore};
use fs_offline::local::LocalEngine;
use fs_offline::table::OfflineTable;
use fs_offline::{DatasetBuilder, DatasetSpec, EngineOptions};
use futures::StreamExt;

#[path = "support/generate.rs"]
mod generate;
#[path = "support/orders.rs"]
mod orders;
#[path = "support/touch.rs"]
mod touch;

use touch::Touched;

/// The first argument of a child process: this binary, re-run to measure
/// one side in a process of its own.
const CHILD: &str = "--artifact-bench-child";
/// The size of the raw reader's reads.
const READ_SIZE: usize = 1 << 20;
/// `statfs`'s file-system type of tmpfs.
const TMPFS_MAGIC: i128 = 0x0102_1994;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == CHILD) {
        child(&args[2..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let reps = reps(&args).unwrap_or(if quick { 3 } else { 5 });
    let rows = if quick { 1_000_000 } else { 10_000_000 };
    let scratch = scratch_dir();
    let orders_dir = scratch.path().join("orders/data");
    let t = Instant::now();
    generate::generate(
        &orders_dir,
        &orders::orders_group(),
        rows,
        rows / 5,
        0.01,
        1,
    );
    note(&format!(
        "generated {rows} rows of orders in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let setup = Setup::build(&orders_dir, &scratch.path().join("datasets"));
    // The build anchor reads the Parquet files warm, as after a sync.
    assert!(read_file_tree(&orders_dir) > 0, "no Parquet files");
    let samples = setup.measure(reps);
    samples.print(&setup);
}

/// `--reps N`, when given.
fn reps(args: &[OsString]) -> Option<usize> {
    let i = args.iter().position(|a| a == "--reps")?;
    let n = args.get(i + 1)?.to_str()?.parse().ok()?;
    assert!(n > 0, "--reps must be at least 1");
    Some(n)
}

/// A temporary directory under `FS_ARTIFACT_BENCH_TMP` (else
/// `<target dir>/bench-tmp`), not on tmpfs.
fn scratch_dir() -> tempfile::TempDir {
    let base = std::env::var_os("FS_ARTIFACT_BENCH_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("bench-tmp"));
    std::fs::create_dir_all(&base).expect("creating the scratch directory");
    let fs_type = rustix::fs::statfs(&base).expect("statfs").f_type;
    assert!(
        i128::from(fs_type) != TMPFS_MAGIC,
        "{} is on tmpfs: its pages cannot be dropped from the page cache; \
         set FS_ARTIFACT_BENCH_TMP to a directory on a disk",
        base.display()
    );
    tempfile::Builder::new()
        .prefix("artifact-bench-")
        .tempdir_in(&base)
        .expect("creating a temporary directory")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The dataset of every side: the latest record per identifier of `orders`.
fn latest_spec() -> DatasetSpec {
    DatasetBuilder::from_group(orders::orders_group())
        .build()
        .expect("the latest-per-record spec")
}

/// The embedded engine over the `orders` files under `dir`.
fn engine(dir: &Path) -> LocalEngine {
    LocalEngine::with_options(EngineOptions::default())
        .with_table(OfflineTable::new(orders::orders_group(), dir))
}

/// One kept copy of the dataset: a store holding its artifact.
struct Kept {
    /// The artifact store's directory.
    store_dir: PathBuf,
    /// Its Arrow IPC file.
    data_path: PathBuf,
    /// Its `info.json` (read by `ArtifactStore::get`, so dropped too).
    info_path: PathBuf,
    /// The file's size.
    bytes: u64,
}

impl Kept {
    /// Drops the artifact's files from the page cache (they are clean: the
    /// build fsynced them).
    fn drop_from_page_cache(&self) {
        for path in [&self.data_path, &self.info_path] {
            let file = File::open(path).expect("opening the artifact");
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
                .unwrap_or_else(|e| panic!("posix_fadvise({}): {e}", path.display()));
        }
    }
}

/// The data and the artifacts every run reads: the dataset kept
/// uncompressed (the default) and LZ4-compressed, under one id.
struct Setup {
    /// The `orders` files.
    orders_dir: PathBuf,
    /// The artifact's id.
    id: String,
    /// Its rows.
    rows: u64,
    /// Kept uncompressed.
    plain: Kept,
    /// Kept with LZ4-compressed buffers.
    lz4: Kept,
}

impl Setup {
    /// Builds the artifact of [`latest_spec`] over `orders_dir` into the
    /// stores `<stores>/plain` and `<stores>/lz4`.
    fn build(orders_dir: &Path, stores: &Path) -> Setup {
        let runtime = runtime();
        let mut kept = Vec::new();
        let (mut id, mut rows) = (String::new(), 0);
        for (name, compression) in [
            ("plain", ArtifactCompression::None),
            ("lz4", ArtifactCompression::Lz4),
        ] {
            let store_dir = stores.join(name);
            let options = ArtifactOptions::default().compression(compression);
            let store = ArtifactStore::new(&store_dir, options);
            let engine = ArtifactEngine::new(Arc::new(engine(orders_dir)), store);
            let t = Instant::now();
            let artifact = runtime
                .block_on(engine.artifact(&latest_spec()))
                .expect("building the artifact")
                .expect("the embedded engine names its inputs");
            let data_path = artifact.data_path();
            let bytes = std::fs::metadata(&data_path)
                .expect("the artifact's size")
                .len();
            (id, rows) = (artifact.id().to_owned(), artifact.info().rows);
            note(&format!(
                "built the artifact {id} ({name}: {rows} rows, {bytes} bytes) in {:.1} s",
                t.elapsed().as_secs_f64()
            ));
            say(&format!("ARTIFACT {id} {}", data_path.display()));
            kept.push(Kept {
                store_dir,
                info_path: data_path.with_file_name("info.json"),
                data_path,
                bytes,
            });
        }
        let lz4 = kept.pop().expect("the LZ4 copy");
        let plain = kept.pop().expect("the uncompressed copy");
        Setup {
            orders_dir: orders_dir.to_path_buf(),
            id,
            rows,
            plain,
            lz4,
        }
    }

    /// Every side `reps` times, alternated (A B C D … A B C D …).
    fn measure(&self, reps: usize) -> Samples {
        let mut samples = Samples::default();
        for rep in 0..reps {
            note(&format!("run {} of {reps}", rep + 1));
            samples
                .read_all
                .push(self.cold_reader(&self.plain, "read-all"));
            samples.stream.push(self.cold_reader(&self.plain, "stream"));
            samples
                .read_all_lz4
                .push(self.cold_reader(&self.lz4, "read-all"));
            samples
                .stream_lz4
                .push(self.cold_reader(&self.lz4, "stream"));
            for (kept, side) in [
                (&self.plain, &mut samples.raw),
                (&self.lz4, &mut samples.raw_lz4),
            ] {
                kept.drop_from_page_cache();
                side.push(run_child(&["raw".into(), kept.data_path.clone().into()]));
            }
            samples
                .build
                .push(run_child(&["build".into(), self.orders_dir.clone().into()]));
        }
        samples
    }

    /// Ours: the artifact of `kept` dropped from the page cache, then read
    /// by a new process in `mode` (`read-all` or `stream`).
    fn cold_reader(&self, kept: &Kept, mode: &str) -> Sample {
        kept.drop_from_page_cache();
        run_child(&[
            mode.into(),
            kept.store_dir.clone().into(),
            self.id.clone().into(),
        ])
    }
}

/// One child's measurement.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// From the first open to the last value touched.
    total: Duration,
    /// From the first open to the first batch in hand.
    first_batch: Duration,
    /// What it touched (the raw reader: bytes as rows, no checksum).
    touched: Touched,
}

/// Runs this binary as a child in `args`' mode and reads its `SAMPLE` line.
fn run_child(args: &[OsString]) -> Sample {
    let exe = std::env::current_exe().expect("the bench's own executable");
    let out = Command::new(exe)
        .arg(CHILD)
        .args(args)
        .output()
        .expect("starting a child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child {args:?} failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SAMPLE "))
        .unwrap_or_else(|| panic!("child {args:?} printed no SAMPLE line: {stdout}"));
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|w| w.parse().expect("a number"))
        .collect();
    let [total, first, rows, checksum] = v[..] else {
        panic!("a SAMPLE line of 4 numbers: {line}");
    };
    Sample {
        total: Duration::from_nanos(total),
        first_batch: Duration::from_nanos(first),
        touched: Touched { rows, checksum },
    }
}

/// Every run's samples, by side.
#[derive(Default)]
struct Samples {
    read_all: Vec<Sample>,
    stream: Vec<Sample>,
    read_all_lz4: Vec<Sample>,
    stream_lz4: Vec<Sample>,
    raw: Vec<Sample>,
    raw_lz4: Vec<Sample>,
    build: Vec<Sample>,
}

impl Samples {
    /// Checks that every side read what it should, then prints the medians.
    fn print(&self, setup: &Setup) {
        let built = self.build[0].touched;
        let readers = [
            &self.read_all,
            &self.stream,
            &self.read_all_lz4,
            &self.stream_lz4,
        ];
        for s in readers.into_iter().flatten().chain(&self.build) {
            assert_eq!(s.touched, built, "every reader touched the same values");
        }
        for (raw, kept) in [(&self.raw, &setup.plain), (&self.raw_lz4, &setup.lz4)] {
            for s in raw {
                assert_eq!(s.touched.rows, kept.bytes, "the raw reader read every byte");
            }
        }
        assert_eq!(
            built.rows, setup.rows,
            "the build wrote the artifact's rows"
        );
        for (name, side) in [
            ("read_all", &self.read_all),
            ("stream", &self.stream),
            ("read_all_lz4", &self.read_all_lz4),
            ("stream_lz4", &self.stream_lz4),
            ("raw_read", &self.raw),
            ("raw_read_lz4", &self.raw_lz4),
            ("build", &self.build),
        ] {
            let total = median(side.iter().map(|s| s.total));
            let first = median(side.iter().map(|s| s.first_batch));
            say(&format!("RESULT artifact_{name}_ms {:.1} ms", ms(total)));
            if !name.starts_with("raw_read") {
                say(&format!(
                    "RESULT artifact_{name}_first_batch_ms {:.1} ms",
                    ms(first)
                ));
            }
        }
        say(&format!(
            "RESULT artifact_rows {} rows",
            self.read_all[0].touched.rows
        ));
        say(&format!("RESULT artifact_build_rows {} rows", built.rows));
        say(&format!(
            "RESULT artifact_bytes {} bytes",
            setup.plain.bytes
        ));
        say(&format!(
            "RESULT artifact_lz4_bytes {} bytes",
            setup.lz4.bytes
        ));
    }
}

fn median(v: impl Iterator<Item = Duration>) -> Duration {
    let mut v: Vec<Duration> = v.collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Reads every file under `dir` once (warming the page cache); returns
/// the bytes read.
fn read_file_tree(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("listing").flatten() {
        let path = entry.path();
        total += if path.is_dir() {
            read_file_tree(&path)
        } else {
            read_to_end(&path)
        };
    }
    total
}

/// Reads `path` sequentially to the end in [`READ_SIZE`] reads; returns
/// the bytes read.
fn read_to_end(path: &Path) -> u64 {
    let mut file = File::open(path).expect("opening a file to read");
    let mut buf = vec![0u8; READ_SIZE];
    let mut total = 0;
    loop {
        match file.read(&mut buf).expect("reading") {
            0 => return total,
            n => total += n as u64,
        }
    }
}

/// A child process: measures one side (`read-all STORE ID`, `stream STORE
/// ID`, `raw FILE` or `build ORDERS_DIR`) and prints `SAMPLE total_ns
/// first_batch_ns rows checksum`.
fn child(args: &[OsString]) {
    let mode = args.first().and_then(|m| m.to_str()).expect("a child mode");
    let path = |i: usize| PathBuf::from(args.get(i).expect("a child argument"));
    let (total, first, touched) = match mode {
        "read-all" => child_read_all(&path(1), &path(2).to_string_lossy()),
        "stream" => child_stream(&path(1), &path(2).to_string_lossy()),
        "raw" => child_raw(&path(1)),
        "build" => child_build(&path(1)),
        other => panic!("no child mode {other:?}"),
    };
    say(&format!(
        "SAMPLE {} {} {} {}",
        total.as_nanos(),
        first.as_nanos(),
        touched.rows,
        touched.checksum
    ));
}

/// Opens the artifact `id` of the store `dir`, reads it with `read_all`
/// and touches every value.
fn child_read_all(dir: &Path, id: &str) -> (Duration, Duration, Touched) {
    let t = Instant::now();
    let store = ArtifactStore::new(dir, ArtifactOptions::default());
    let artifact = store.get(id).expect("opening").expect("the artifact");
    let batches = artifact.read_all().expect("reading the artifact");
    let first = t.elapsed();
    let mut touched = Touched::default();
    for batch in &batches {
        touched.batch(batch);
    }
    (t.elapsed(), first, touched)
}

/// Opens the artifact `id` of the store `dir`, streams it batch by batch
/// and touches every value.
fn child_stream(dir: &Path, id: &str) -> (Duration, Duration, Touched) {
    let runtime = runtime();
    let t = Instant::now();
    let store = ArtifactStore::new(dir, ArtifactOptions::default());
    let artifact = store.get(id).expect("opening").expect("the artifact");
    // `stream` reads on tokio's blocking pool: it runs inside the runtime.
    let (first, touched) = runtime.block_on(async {
        let stream = artifact.stream().expect("streaming the artifact");
        touch_stream(stream, t).await
    });
    (t.elapsed(), first, touched)
}

/// Reads `file` sequentially to the end ([`READ_SIZE`] reads).
fn child_raw(file: &Path) -> (Duration, Duration, Touched) {
    let t = Instant::now();
    let bytes = read_to_end(file);
    let total = t.elapsed();
    let touched = Touched {
        rows: bytes,
        checksum: 0,
    };
    (total, total, touched)
}

/// Builds [`latest_spec`] over the `orders` files under `dir` with the
/// embedded engine and touches every value.
fn child_build(dir: &Path) -> (Duration, Duration, Touched) {
    let runtime = runtime();
    let t = Instant::now();
    let engine = engine(dir);
    let (first, touched) = runtime.block_on(async {
        let stream = fs_offline::DatasetEngine::execute(&engine, &latest_spec())
            .await
            .expect("building the dataset");
        touch_stream(stream, t).await
    });
    (t.elapsed(), first, touched)
}

/// Touches every value of `stream`; returns the time from `t` to its first
/// batch, and what it touched.
async fn touch_stream(mut stream: fs_offline::BatchStream, t: Instant) -> (Duration, Touched) {
    let mut first = None;
    let mut touched = Touched::default();
    while let Some(batch) = stream.next().await {
        let batch: RecordBatch = batch.expect("a batch");
        first.get_or_insert_with(|| t.elapsed());
        touched.batch(&batch);
    }
    (first.unwrap_or_else(|| t.elapsed()), touched)
}

#[expect(
    clippy::print_stdout,
    reason = "a bench binary reports its `RESULT` lines on standard output"
)]
fn say(line: &str) {
    println!("{line}");
}

#[expect(
    clippy::print_stderr,
    reason = "a bench binary reports its progress on standard error"
)]
fn note(line: &str) {
    eprintln!("artifact bench: {line}");
}
