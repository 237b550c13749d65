//! S3 cache benchmark against moto's S3 (`FS_S3_ENDPOINT`).
//!
//! Uploads a dataset in the Glue layout: with `FS_CACHE_BENCH_DIR`, every
//! Parquet file under that directory (`cargo xtask bench` passes the
//! `orders` files of fs-offline's `dataset` bench: 20 features, 1M rows in
//! `--quick`, 10M in the full run); without it, N MB of Parquet-sized
//! synthetic files (8 MiB each, incompressible bytes framed by Parquet's
//! `PAR1` magic). Then, [`RUNS`] times, alternating the sides:
//! - the first reader: a cold sync into an empty cache, and with real
//!   Parquet the dataset build over it (the latest record per identifier
//!   of `orders`, streamed to a Parquet file), timed end to end;
//! - a second reader of the dataset: a sync of the warm cache (nothing to
//!   fetch) and the same build over it, timed end to end;
//! - a second reader of the bytes: a warm sync, `open_for_read`, and every
//!   file read to the end (1 MiB reads), timed end to end;
//! - a plain sequential read of the cached files (`cat`-like) and, with
//!   real Parquet, a decode of every file to Arrow (all columns, and a
//!   3-column projection), one file after another on one thread.
//!
//! Then, through a throttled link to moto (`fs_offline::throttle`: 30 ms to
//! each answer's first byte, 25 MB/s per connection, 200 MB/s in all),
//! [`RUNS`] times alternated: a cold sync with the default options (16
//! GETs in flight, parts of 16 MiB), and the same objects downloaded over
//! one connection, one after another, as a one-thread script does.
//!
//! With real Parquet, then, through the same throttled link: projected
//! reads ([`projected`]): a sub-model building a dataset of 3 of `orders`'
//! 20 features from only the column chunks it reads, and a second one
//! asking for the same; the bytes the proxy carried for each, against a
//! full sync's.
//!
//! It prints medians: `cache_cold_sync_time` (ms) and `cache_cold_sync`
//! (MB/s) of the cold syncs alone; `cache_second_reader_time` (ms);
//! `cache_warm_sync` (ms, the warm sync alone); `cache_raw_read` (MB/s);
//! with real Parquet `cache_cold_build_time` and `cache_warm_build_time`
//! (ms) with the rows each wrote (`cache_cold_build_rows`,
//! `cache_warm_build_rows`), and `cache_warm_decode_{all,3}` (rows/s, and
//! `_time` in ms); and `cache_throttled_sync`, `cache_throttled_single`
//! and `cache_throttled_bound` (MB/s), `cache_throttled_bytes_down`.
//!
//! The cached files are in the page cache (the machine has the memory) on
//! both sides. Run with
//! `FS_S3_ENDPOINT=http://127.0.0.1:5055 cargo bench -p fs-offline --features s3 --bench cache [-- --quick]`
//! (`--quick`: 64 MB instead of 256 of synthetic files; `FS_CACHE_BENCH_MB` overrides).

#![allow(missing_docs, clippy::print_stdout, clippy::print_stderr)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use fs_offline::cache::{Cache, CacheOptions, SyncOptions};
use fs_offline::local::LocalEngine;
use fs_offline::output::{ParquetOptions, write_parquet};
use fs_offline::table::OfflineTable;
use fs_offline::throttle::{Limits, Throttle};
use fs_offline::{DatasetBuilder, EngineOptions};
use fs_schema::FeatureGroup;
use futures::StreamExt;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

#[path = "support/orders.rs"]
mod orders;

const FILE_MB: usize = 8;
/// Warm syncs measured alone.
const REPEATS: usize = 5;

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"PAR1");
    while out.len() < len - 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len - 4);
    out.extend_from_slice(b"PAR1");
    out
}

/// Reads every file to the end; returns the bytes read.
fn read_all(paths: &[PathBuf]) -> u64 {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for p in paths {
        let mut f = std::fs::File::open(p).unwrap();
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    total
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let Ok(endpoint) = std::env::var("FS_S3_ENDPOINT") else {
        eprintln!("FS_S3_ENDPOINT is not set: start moto (docs/testing.md) and point it there");
        std::process::exit(2);
    };
    let quick = std::env::args().any(|a| a == "--quick");
    let config = fs_server::client_config(&endpoint, 3);
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let sources = sources(quick);
    let real = matches!(sources[0].1, Source::File(_));
    let files = sources.len();
    let uri = upload(&client, sources).await;
    eprintln!("uploaded {files} files to {uri}");

    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("latest.parquet");
    let warm = Cache::open(scratch.path().join("warm"), CacheOptions::default()).unwrap();
    let total = warm
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap()
        .bytes_fetched;
    let group = real.then(orders::orders_group);
    let mut samples = Samples::default();
    // Alternate, so that every side sees the same machine and page cache.
    for run in 0..RUNS {
        let dir = scratch.path().join(format!("cold-{run}"));
        let cold = Cache::open(&dir, CacheOptions::default()).unwrap();
        let first = reader(&cold, &client, &uri, group.as_ref(), &out).await;
        assert_eq!(
            first.fetched, files as u64,
            "the cold sync fetched every file"
        );
        samples.cold_sync.push(first.sync);
        samples.cold_build.push((first.total, first.rows));
        drop(cold);
        std::fs::remove_dir_all(&dir).unwrap();

        let second = reader(&warm, &client, &uri, group.as_ref(), &out).await;
        assert_eq!(second.fetched, 0, "the warm sync fetched nothing");
        samples.warm_build.push((second.total, second.rows));
        samples
            .second_reader
            .push(second_reader(&warm, &client, &uri, total).await);
        samples.raw.push(raw_read(&warm, &uri, total));
        if real {
            decode_runs(&warm, &uri, &mut samples);
        }
    }
    for _ in 0..REPEATS {
        let t = Instant::now();
        let r = warm.sync(&client, &uri, &SyncOptions::new()).await.unwrap();
        samples.warm_sync.push(t.elapsed());
        assert_eq!(r.objects_fetched, 0);
    }
    samples.print(total, real);
    let full_down = throttled(&endpoint, &uri, total, scratch.path()).await;
    if let Some(group) = &group {
        projected(&endpoint, &uri, group, &warm, full_down, scratch.path()).await;
    }
}

/// The features of `orders` a sub-model reads in [`projected`]: one of
/// each type.
const PROJECTED_FEATURES: [&str; 3] = ["f0", "f9", "f15"];

/// Projected reads through the throttled link, [`RUNS`] times: a first
/// sub-model on an empty cache builds the latest record per identifier of
/// `orders` with 3 of its 20 features (`Cache::sync_projected` of the
/// columns the spec reads, then the embedded engine over the copies),
/// then a second one, in a fresh cache handle on the same directory, asks
/// for the same. Prints the bytes the proxy carried down for each
/// (`cache_projected_down`, `cache_projected_second_down`), the object
/// bytes each fetched (`cache_projected_second_fetched`), the first's time
/// end to end (`cache_projected_time`), the rows it wrote and those of the
/// same spec built over the whole synced files (`cache_projected_rows`,
/// `cache_projected_full_rows`), and the full sync's bytes down again
/// (`cache_projected_full_down`).
async fn projected(
    endpoint: &str,
    uri: &str,
    group: &FeatureGroup,
    warm: &Cache,
    full_down: u64,
    scratch: &Path,
) {
    let moto: std::net::SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("FS_S3_ENDPOINT is http://HOST:PORT");
    let throttle = Throttle::start(moto, throttle_limits()).await.unwrap();
    let config = fs_server::client_config(&throttle.endpoint_url(), 3);
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let spec = DatasetBuilder::from_group(group.clone())
        .features(PROJECTED_FEATURES)
        .build()
        .unwrap();
    let columns = spec.columns_read(&group.feature_group_name);
    let out = scratch.join("projected.parquet");
    let build = |dir: &Path| {
        let engine = LocalEngine::with_options(EngineOptions::default())
            .with_table(OfflineTable::new(group.clone(), dir));
        let (spec, out) = (spec.clone(), out.clone());
        async move {
            let stream = engine.execute(&spec).await.unwrap();
            write_parquet(stream, &out, ParquetOptions::default())
                .await
                .unwrap()
                .rows
        }
    };
    let full_rows = {
        let opened = warm.open_for_read(uri).unwrap();
        build(opened.path()).await
    };
    let (mut down, mut times, mut second_down, mut second_fetched) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut rows = 0;
    for run in 0..RUNS {
        let dir = scratch.join(format!("projected-{run}"));
        let cache = Cache::open(&dir, CacheOptions::default()).unwrap();
        let before = throttle.bytes_down();
        let t = Instant::now();
        let (report, copies) = cache
            .sync_projected(&client, uri, &columns, &SyncOptions::new())
            .await
            .unwrap();
        rows = build(copies.path()).await;
        times.push(t.elapsed());
        down.push(throttle.bytes_down() - before);
        assert!(report.bytes_fetched > 0);
        drop(cache);

        let cache = Cache::open(&dir, CacheOptions::default()).unwrap();
        let before = throttle.bytes_down();
        let (again, _) = cache
            .sync_projected(&client, uri, &columns, &SyncOptions::new())
            .await
            .unwrap();
        second_down.push(throttle.bytes_down() - before);
        second_fetched.push(again.bytes_fetched);
        drop(cache);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let mid = |mut v: Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    println!("RESULT cache_projected_down {} bytes", mid(down));
    println!("RESULT cache_projected_full_down {full_down} bytes");
    println!(
        "RESULT cache_projected_second_down {} bytes",
        mid(second_down)
    );
    println!(
        "RESULT cache_projected_second_fetched {} bytes",
        mid(second_fetched)
    );
    println!(
        "RESULT cache_projected_time {:.1} ms",
        median(times).as_secs_f64() * 1e3
    );
    println!("RESULT cache_projected_rows {rows} rows");
    println!("RESULT cache_projected_full_rows {full_rows} rows");
}

/// The throttled link of [`throttled`]: half the per-connection and link
/// rates of issue 16's example (50 and 400 MB/s), with its 30 ms first-byte
/// latency, so that on 2 cores moto and the proxy are not what limits; the
/// same 8 connections fill the link.
fn throttle_limits() -> Limits {
    Limits::default()
        .first_byte_latency(Duration::from_millis(30))
        .per_connection(25_000_000)
        .link(200_000_000)
}

/// Cold syncs through a throttled link to moto ([`throttle_limits`]),
/// alternated with a one-connection download of the same objects, one
/// after another (what a one-thread script does), [`RUNS`] times each.
/// Prints `cache_throttled_sync` and `cache_throttled_single` (MB/s,
/// medians), `cache_throttled_bound` (MB/s: min(link, 16 connections ×
/// per-connection), the sync's default concurrency) and the bytes the
/// proxy carried down during ours (`cache_throttled_bytes_down`), which it
/// returns.
async fn throttled(endpoint: &str, uri: &str, total: u64, scratch: &Path) -> u64 {
    let moto: std::net::SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("FS_S3_ENDPOINT is http://HOST:PORT");
    let limits = throttle_limits();
    let throttle = Throttle::start(moto, limits).await.unwrap();
    let config = fs_server::client_config(&throttle.endpoint_url(), 3);
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let options = SyncOptions::new();
    let (mut ours, mut single, mut down) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        let dir = scratch.join(format!("throttled-{run}"));
        let cache = Cache::open(&dir, CacheOptions::default()).unwrap();
        let before = throttle.bytes_down();
        let t = Instant::now();
        let report = cache.sync(&client, uri, &options).await.unwrap();
        ours.push(t.elapsed());
        down.push(throttle.bytes_down() - before);
        assert_eq!(
            report.bytes_fetched, total,
            "the throttled sync fetched every byte"
        );
        drop(cache);
        std::fs::remove_dir_all(&dir).unwrap();

        let dir = scratch.join(format!("single-{run}"));
        let t = Instant::now();
        let got = one_connection(&client, uri, &dir).await;
        single.push(t.elapsed());
        assert_eq!(got, total, "the one-connection download fetched every byte");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let bound = limits.bound(options.concurrency).unwrap_or(u64::MAX);
    println!(
        "RESULT cache_throttled_sync {:.1} MB/s",
        mb_s(total, median(ours))
    );
    println!(
        "RESULT cache_throttled_single {:.1} MB/s",
        mb_s(total, median(single))
    );
    println!(
        "RESULT cache_throttled_bound {:.1} MB/s",
        bound as f64 / 1e6
    );
    down.sort_unstable();
    println!(
        "RESULT cache_throttled_bytes_down {} bytes",
        down[down.len() / 2]
    );
    down[down.len() / 2]
}

/// Downloads every object under `uri` into `dir` over one connection, one
/// object after another, each body streamed to its file; returns the bytes.
async fn one_connection(client: &Client, uri: &str, dir: &Path) -> u64 {
    let (bucket, prefix) = uri
        .trim_start_matches("s3://")
        .split_once('/')
        .expect("s3://bucket/prefix");
    std::fs::create_dir_all(dir).unwrap();
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("{}/", prefix.trim_end_matches('/')))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        keys.extend(
            page.unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    let mut total = 0u64;
    for (i, key) in keys.iter().enumerate() {
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let mut body = out.body;
        let mut file = std::fs::File::create(dir.join(i.to_string())).unwrap();
        while let Some(chunk) = body.try_next().await.unwrap() {
            std::io::Write::write_all(&mut file, &chunk).unwrap();
            total += chunk.len() as u64;
        }
    }
    total
}

/// Cold syncs, warm syncs and second readers measured [`RUNS`] times.
const RUNS: usize = 3;

/// Every run's measurements.
#[derive(Default)]
struct Samples {
    cold_sync: Vec<Duration>,
    /// A first reader's sync and build, end to end, and the rows it wrote.
    cold_build: Vec<(Duration, u64)>,
    /// A second reader's sync and build, end to end, and the rows it wrote.
    warm_build: Vec<(Duration, u64)>,
    warm_sync: Vec<Duration>,
    second_reader: Vec<Duration>,
    raw: Vec<Duration>,
    decode_all: Vec<Duration>,
    decode_3: Vec<Duration>,
    /// The rows of the cached files.
    rows: usize,
}

impl Samples {
    /// Prints every median as a `RESULT` line.
    fn print(self, total: u64, real: bool) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cold_sync = median(self.cold_sync);
        println!("RESULT cache_bytes {total} bytes");
        println!("RESULT cache_cold_sync {:.1} MB/s", mb_s(total, cold_sync));
        println!("RESULT cache_cold_sync_time {:.1} ms", ms(cold_sync));
        println!(
            "RESULT cache_warm_sync {:.1} ms",
            ms(median(self.warm_sync))
        );
        let second = median(self.second_reader);
        println!("RESULT cache_second_reader_time {:.1} ms", ms(second));
        println!(
            "RESULT cache_raw_read {:.0} MB/s",
            mb_s(total, median(self.raw))
        );
        if !real {
            return;
        }
        for (name, runs) in [("cold", self.cold_build), ("warm", self.warm_build)] {
            let rows = runs.iter().map(|r| r.1).min().unwrap_or(0);
            let time = median(runs.into_iter().map(|r| r.0).collect());
            println!("RESULT cache_{name}_build_time {:.1} ms", ms(time));
            println!("RESULT cache_{name}_build_rows {rows} rows");
        }
        println!("RESULT cache_rows {} rows", self.rows);
        for (name, samples) in [("all", self.decode_all), ("3", self.decode_3)] {
            let t = median(samples);
            println!(
                "RESULT cache_warm_decode_{name} {:.0} rows/s",
                self.rows as f64 / t.as_secs_f64()
            );
            println!("RESULT cache_warm_decode_{name}_time {:.1} ms", ms(t));
        }
    }
}

/// What one reader of the dataset took.
struct Reader {
    /// Its sync alone.
    sync: Duration,
    /// Its sync and build, end to end.
    total: Duration,
    /// The objects its sync fetched.
    fetched: u64,
    /// The rows its build wrote (0 without a group).
    rows: u64,
}

/// A reader of the dataset through `cache`: a sync and open of `uri`, then
/// with `group` the latest record per identifier over the cached files,
/// streamed to the Parquet file `out`, as `CachedEngine` runs it.
async fn reader(
    cache: &Cache,
    client: &Client,
    uri: &str,
    group: Option<&FeatureGroup>,
    out: &Path,
) -> Reader {
    let t = Instant::now();
    let (report, opened) = cache
        .sync_and_open(client, uri, &SyncOptions::new())
        .await
        .unwrap();
    let sync = t.elapsed();
    let mut rows = 0;
    if let Some(group) = group {
        let engine = LocalEngine::with_options(EngineOptions::default())
            .with_table(OfflineTable::new(group.clone(), opened.path()));
        let spec = DatasetBuilder::from_group(group.clone()).build().unwrap();
        let stream = engine.execute(&spec).await.unwrap();
        rows = write_parquet(stream, out, ParquetOptions::default())
            .await
            .unwrap()
            .rows;
    }
    drop(opened);
    Reader {
        sync,
        total: t.elapsed(),
        fetched: report.objects_fetched,
        rows,
    }
}

/// A second reader of the bytes, end to end: a warm sync, `open_for_read`,
/// every file read to the end.
async fn second_reader(cache: &Cache, client: &Client, uri: &str, total: u64) -> Duration {
    let t = Instant::now();
    let r = cache.sync(client, uri, &SyncOptions::new()).await.unwrap();
    assert_eq!(r.objects_fetched, 0);
    let reader = cache.open_for_read(uri).unwrap();
    let paths: Vec<PathBuf> = reader.files().iter().map(|f| f.path.clone()).collect();
    assert_eq!(read_all(&paths), total);
    drop(reader);
    t.elapsed()
}

/// A plain sequential read of the cached files, timed.
fn raw_read(cache: &Cache, uri: &str, total: u64) -> Duration {
    let paths = files_under(&cache.local_path(uri).unwrap());
    let t = Instant::now();
    assert_eq!(read_all(&paths), total);
    t.elapsed()
}

/// Decodes every cached file to Arrow, all columns and then 3, timed.
fn decode_runs(cache: &Cache, uri: &str, samples: &mut Samples) {
    for projection in [None, Some(3)] {
        let t = Instant::now();
        let reader = cache.open_for_read(uri).unwrap();
        samples.rows = reader
            .files()
            .iter()
            .map(|f| decode(&f.path, projection))
            .sum();
        drop(reader);
        let d = t.elapsed();
        match projection {
            None => samples.decode_all.push(d),
            Some(_) => samples.decode_3.push(d),
        }
    }
}

/// The objects to upload: the files under `FS_CACHE_BENCH_DIR` (keys
/// relative to it), or synthetic ones.
fn sources(quick: bool) -> Vec<(String, Source)> {
    let total_mb: usize = std::env::var("FS_CACHE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 64 } else { 256 });
    let sources: Vec<(String, Source)> = match std::env::var_os("FS_CACHE_BENCH_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            files_under(&dir)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                .map(|p| {
                    let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
                    (rel, Source::File(p))
                })
                .collect()
        }
        None => (0..(total_mb / FILE_MB).max(1))
            .map(|i| {
                let key = format!(
                    "year=2024/month=03/day={:02}/hour={:02}/20240310T000000Z_{i:016}.parquet",
                    1 + i / 24 % 28,
                    i % 24
                );
                (key, Source::Synthetic(i as u64))
            })
            .collect(),
    };
    assert!(!sources.is_empty(), "no Parquet files to upload");
    sources
}

/// Uploads `sources` into a new bucket in the Glue layout; returns the
/// S3 URI of their prefix.
async fn upload(client: &Client, sources: Vec<(String, Source)>) -> String {
    let bucket = format!("fs-cache-bench-{}", std::process::id());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let base = "acct/sagemaker/us-east-1/offline-store/bench-1700000000/data/";
    futures::stream::iter(sources)
        .map(|(key, source)| {
            let (client, bucket) = (client.clone(), bucket.clone());
            async move {
                let body = match source {
                    Source::File(p) => std::fs::read(&p).unwrap(),
                    Source::Synthetic(seed) => bytes(seed, FILE_MB << 20),
                };
                client
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("{base}{key}"))
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    format!("s3://{bucket}/{base}")
}

/// Where an uploaded object's bytes come from.
enum Source {
    /// A Parquet file of a real dataset.
    File(PathBuf),
    /// Synthetic bytes from this seed.
    Synthetic(u64),
}

/// Decodes a Parquet file to Arrow batches, every column or the first
/// `columns` of them; returns the rows.
fn decode(path: &Path, columns: Option<usize>) -> usize {
    let file = std::fs::File::open(path).unwrap();
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    if let Some(n) = columns {
        let mask = ProjectionMask::roots(builder.parquet_schema(), 0..n);
        builder = builder.with_projection(mask);
    }
    builder
        .with_batch_size(8192)
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum()
}
