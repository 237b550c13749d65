//! Dataset artifacts (issue 16): a second sub-model reading a kept dataset
//! from a cold page cache, against a raw read of the same bytes and
//! against building the dataset again from the Parquet files.
//!
//! This consumes fs-offline's `artifact` bench, which alternates every
//! side itself (`--reps` times, each cold read in a new process after the
//! artifact is dropped from the page cache) and prints medians; a number
//! it does not print makes its row "not available" with the reason.

use std::process::Command;

use anyhow::{Result, bail};

use super::Ctx;
use super::build::{Target, bench};
use super::measure::{Side, median, run, written};
use super::table::{Q, Row, Target as Goal, Unit};

/// fs-offline's artifact bench.
pub(crate) const ARTIFACT: Target = bench("fs-offline", "artifact");

/// How our second reader reads the artifact, as the bench names its
/// results: `read_all` (one aligned read, zero-copy arrays) or `stream`
/// (batch by batch). `stream` is the faster from a cold page cache: its
/// reading thread overlaps the disk with the touching of the values
/// (2026-12-07, `--quick`: 38.5 ms in full against `read_all`'s 69.0 ms).
const OURS: &str = "stream";

/// `offline-artifact`: one run of the artifact bench, every side
/// alternated `ctx.reps` times inside it.
pub(crate) fn artifact(ctx: &Ctx) -> Vec<Row> {
    let runs = artifact_run(ctx);
    let ms = |name: &str| match &runs {
        Ok(r) => median(r, name, "ms")
            .map(|v| Q(v, Unit::Millis))
            .map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    };
    let bytes = |name: &str| match &runs {
        Ok(r) => median(r, name, "bytes")
            .map(|v| Q(v / (1 << 20) as f64, Unit::Mib))
            .map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    };
    let size = if ctx.quick { "1M" } else { "10M" };
    let data = format!(
        "the latest record per identifier of `orders` ({size} rows of 20 features, the dataset \
         bench's generator, 48 snappy Parquet files), kept as an artifact (uncompressed Arrow \
         IPC). Cold: before each read the artifact's files are dropped from the page cache \
         (`posix_fadvise(DONTNEED)`), and the reader is a new process; times are measured \
         inside each process from the first open to the last byte or value, alternated \
         {} times in one run, medians",
        ctx.reps
    );
    let ours = ms(&format!("artifact_{OURS}_ms"));
    vec![
        Row::pair(
            "offline: artifact second reader (cold page cache) vs raw read",
            ours.clone(),
            ms("artifact_raw_read_ms"),
            Goal::RatioAtLeast(0.5),
            format!(
                "{data}. Ours: `ArtifactStore::get`, `Artifact::{OURS}()`, and every value \
                 touched (each numeric column summed, each string hashed); anchor: a sequential \
                 read of `data.arrow` to the end (1 MiB reads), from the same cold start"
            ),
        ),
        Row::pair(
            "offline: artifact second reader vs build from Parquet",
            ours,
            ms("artifact_build_ms"),
            Goal::RatioAtLeast(20.0),
            "the same second reader; anchor: a new process building the same dataset with \
             the embedded engine from the Parquet files, warm in the page cache (as after a \
             sync), every batch touched the same way; the checksums of the values must agree",
        )
        .with_counts(
            written(&runs, "artifact_rows"),
            written(&runs, "artifact_build_rows"),
        ),
        Row::pair(
            "offline: artifact kept LZ4-compressed vs uncompressed, cold stream",
            ms("artifact_stream_lz4_ms"),
            ms("artifact_stream_ms"),
            Goal::None,
            format!(
                "the same dataset kept with LZ4-frame compressed buffers \
                 (`ArtifactCompression::Lz4`, {} against {} uncompressed), read the same way \
                 by `Artifact::stream()` from a cold page cache, alternated with the \
                 uncompressed reads; `read_all` of it: {} (uncompressed: {}). Information: \
                 what chooses the default compression",
                show(bytes("artifact_lz4_bytes")),
                show(bytes("artifact_bytes")),
                show(ms("artifact_read_all_lz4_ms")),
                show(ms("artifact_read_all_ms")),
            ),
        ),
        Row::pair(
            "offline: artifact second reader, time to first batch",
            ms("artifact_stream_first_batch_ms"),
            ms("artifact_build_first_batch_ms"),
            Goal::None,
            format!(
                "ours: `Artifact::stream()` from the cold page cache, from the open to its \
                 first batch (in full: {}); anchor: the build's first batch. \
                 `read_all` has its first batch once it has read everything ({})",
                show(ms("artifact_stream_ms")),
                show(ms("artifact_read_all_first_batch_ms")),
            ),
        ),
    ]
}

/// A quantity for a note, or `?`.
fn show(q: Result<Q, String>) -> String {
    q.map_or_else(|_| "?".into(), |q| q.to_string())
}

/// One run of the artifact bench (it alternates the sides itself).
fn artifact_run(ctx: &Ctx) -> Side {
    let mut cmd = Command::new(ctx.exe(ARTIFACT)?);
    cmd.args(ctx.size_args())
        .args(["--reps".to_owned(), ctx.reps.to_string()])
        .env("FS_ARTIFACT_BENCH_TMP", &ctx.scratch);
    let r = run("fs-offline bench artifact", &mut cmd)?;
    if r.results.0.is_empty() {
        bail!("crates/fs-offline/benches/artifact.rs printed no results");
    }
    Ok(vec![r.results])
}
