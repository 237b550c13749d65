//! S3 cache benchmark against moto's S3 (`FS_S3_ENDPOINT`).
//!
//! Uploads a dataset in the Glue layout: with `FS_CACHE_BENCH_DIR`, every
//! Parquet file under that directory (`cargo xtask bench` passes the
//! `orders` files of fs-offline's `dataset` bench: 20 features, 1M rows in
//! `--quick`, 10M in the full run); without it, N MB of Parquet-sized
//! synthetic files (8 MiB each, incompressible bytes framed by Parquet's
//! `PAR1` magic). Then it measures:
//! - `cache_cold_sync`: MB/s of the first sync into an empty cache;
//! - `cache_warm_sync`: ms of a second sync that finds nothing to fetch
//!   (one listing, a stat of each file);
//! - `cache_warm_read`: MB/s of a second reader: `open_for_read`, then
//!   every file read to the end (1 MiB reads);
//! - `cache_raw_read`: MB/s of plain sequential reads of the same files
//!   (`cat`-like), the anchor;
//! - `cache_warm_vs_raw`: warm read / raw read (DESIGN.md: at least 0.5);
//! - `cache_second_reader_vs_cold`: cold sync time / (warm sync + warm
//!   read) time, what a second sub-model pays against the first
//!   (DESIGN.md: at least 20);
//! - with real Parquet: `cache_warm_decode_all` and `cache_warm_decode_3`:
//!   rows/s of decoding every file of the cached copy to Arrow, all
//!   columns and a 3-column projection (only those column chunks are
//!   read), one file after another on one thread.
//!
//! Reads are of files in the page cache (the machine has the memory): both
//! sides read the same bytes the same way, so the ratio is the cache's own
//! overhead. Run with
//! `FS_S3_ENDPOINT=http://127.0.0.1:5055 cargo bench -p fs-offline --features s3 --bench cache [-- --quick]`
//! (`--quick`: 64 MB instead of 256 of synthetic files; `FS_CACHE_BENCH_MB` overrides).

#![allow(missing_docs, clippy::print_stdout, clippy::print_stderr)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use fs_offline::cache::{Cache, CacheOptions, SyncOptions};
use futures::StreamExt;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const FILE_MB: usize = 8;
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
    let total_mb: usize = std::env::var("FS_CACHE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 64 } else { 256 });
    let config = fs_server::client_config(&endpoint, 3);
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("fs-cache-bench-{}", std::process::id());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let base = "acct/sagemaker/us-east-1/offline-store/bench-1700000000/data/";
    // (key under `base`, local file or synthetic seed)
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
    let real = matches!(sources[0].1, Source::File(_));
    let files = sources.len();
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
    let uri = format!("s3://{bucket}/{base}");
    eprintln!("uploaded {files} files to {uri}");

    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), CacheOptions::default()).unwrap();
    let started = Instant::now();
    let cold = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    let cold_time = started.elapsed();
    assert_eq!(cold.objects_fetched, files as u64);
    let total = cold.bytes_fetched;

    let mut warm_syncs = Vec::new();
    for _ in 0..REPEATS {
        let t = Instant::now();
        let r = cache
            .sync(&client, &uri, &SyncOptions::new())
            .await
            .unwrap();
        warm_syncs.push(t.elapsed());
        assert_eq!(r.objects_fetched, 0);
    }
    let warm_sync = median(warm_syncs);

    let raw_paths = files_under(&cache.local_path(&uri).unwrap());
    let (mut warm, mut raw) = (Vec::new(), Vec::new());
    let (mut decode_all, mut decode_3) = (Vec::new(), Vec::new());
    let mut rows = 0;
    // Alternate, so both see the same page-cache state.
    for _ in 0..REPEATS {
        if real {
            for (projection, samples) in [(None, &mut decode_all), (Some(3), &mut decode_3)] {
                let t = Instant::now();
                let reader = cache.open_for_read(&uri).unwrap();
                rows = reader
                    .files()
                    .iter()
                    .map(|f| decode(&f.path, projection))
                    .sum();
                drop(reader);
                samples.push(t.elapsed());
            }
        }

        let t = Instant::now();
        let reader = cache.open_for_read(&uri).unwrap();
        let paths: Vec<PathBuf> = reader.files().iter().map(|f| f.path.clone()).collect();
        assert_eq!(read_all(&paths), total);
        drop(reader);
        warm.push(t.elapsed());

        let t = Instant::now();
        assert_eq!(read_all(&raw_paths), total);
        raw.push(t.elapsed());
    }
    let (warm, raw) = (median(warm), median(raw));
    let (warm_mb_s, raw_mb_s) = (mb_s(total, warm), mb_s(total, raw));
    println!("RESULT cache_bytes {total} bytes");
    println!("RESULT cache_cold_sync {:.1} MB/s", mb_s(total, cold_time));
    println!(
        "RESULT cache_cold_sync_time {:.0} ms",
        cold_time.as_secs_f64() * 1e3
    );
    println!(
        "RESULT cache_warm_sync {:.1} ms",
        warm_sync.as_secs_f64() * 1e3
    );
    println!("RESULT cache_warm_read {warm_mb_s:.0} MB/s");
    println!("RESULT cache_raw_read {raw_mb_s:.0} MB/s");
    println!("RESULT cache_warm_vs_raw {:.2} ratio", warm_mb_s / raw_mb_s);
    println!(
        "RESULT cache_second_reader_vs_cold {:.1} ratio",
        cold_time.as_secs_f64() / (warm_sync + warm).as_secs_f64()
    );
    if real {
        println!("RESULT cache_rows {rows} rows");
        for (name, samples) in [("all", decode_all), ("3", decode_3)] {
            let t = median(samples);
            println!(
                "RESULT cache_warm_decode_{name} {:.0} rows/s",
                rows as f64 / t.as_secs_f64()
            );
            println!(
                "RESULT cache_warm_decode_{name}_time {:.1} ms",
                t.as_secs_f64() * 1e3
            );
        }
    }
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
