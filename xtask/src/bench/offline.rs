//! Offline reads: the dataset build (ours against DuckDB), the Parquet
//! scan (ours against pyarrow's dataset reader) over the same files, and
//! the S3 cache (a second reader against the cold sync from moto, and a
//! second reader's dataset build against the same build from S3).
//!
//! These consume fs-offline's `dataset` and `cache` benches; a number they
//! do not print makes its row "not available" with the reason.

use std::process::Command;

use std::cell::RefCell;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::Ctx;
use super::build::{Target, bench};
use super::measure::{Results, Side, alternate, median, median_of, python_script, run, written};
use super::table::{Q, Row, Target as Goal, Unit};

/// fs-offline's dataset bench.
pub(crate) const DATASET: Target = bench("fs-offline", "dataset");
/// fs-offline's cache bench.
pub(crate) const CACHE: Target = bench("fs-offline", "cache");

/// Rows of the base group per size.
fn dataset_rows(ctx: &Ctx) -> (usize, &'static str) {
    if ctx.quick {
        (1_000_000, "1M")
    } else {
        (10_000_000, "10M")
    }
}

/// A median as a quantity in `unit`, or why there is none.
fn quantity(side: &Side, name: &str, unit: &str, as_unit: Unit) -> Result<Q, String> {
    match side {
        Ok(runs) => median(runs, name, unit)
            .map(|v| Q(v, as_unit))
            .map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// What our side's runs of the dataset bench said about their data.
#[derive(Default)]
struct BenchData {
    /// Where the bench generated its data (`DATA_DIR <dir>`).
    dir: Option<PathBuf>,
    /// The as-of shapes it ran: (name, features dir, entity file).
    shapes: Vec<(String, PathBuf, PathBuf)>,
    /// Each run's peak RSS, in bytes.
    peaks: Vec<u64>,
}

impl BenchData {
    /// The Parquet files of `group`, as a glob.
    fn files(&self, group: &str) -> Result<String> {
        let dir =
            (self.dir.as_ref()).context("the dataset bench has not said where its data is")?;
        Ok(format!("{}/{group}/data/**/*.parquet", dir.display()))
    }
}

/// `offline-dataset`: fs-offline's `dataset` bench (latest per record, and
/// a point-in-time join, each streamed to Parquet) against the same
/// datasets as DuckDB SQL over the same files; and a scan of those files,
/// ours against pyarrow.dataset.
pub(crate) fn dataset(ctx: &Ctx) -> Vec<Row> {
    let (_, label) = dataset_rows(ctx);
    let out = ctx.scratch.join("duckdb");
    let python = ctx.python();
    let data = RefCell::new(BenchData::default());
    let mut ours = || run_dataset_bench(ctx, label, &data);
    let mut anchor = || {
        let python = python.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        run_duckdb(python, &out, &data.borrow())
    };
    let (ours, anchor) = alternate("offline-dataset", ctx.reps, &mut ours, Some(&mut anchor));
    dataset_table(label, &ours, &anchor, &data.borrow().peaks)
}

/// One run of fs-offline's dataset bench; records where its data is.
fn run_dataset_bench(ctx: &Ctx, label: &str, data: &RefCell<BenchData>) -> Result<Results> {
    let mut cmd = Command::new(ctx.exe(DATASET)?);
    cmd.arg(label);
    let r = run("fs-offline bench dataset", &mut cmd)?;
    if r.results.0.is_empty() {
        bail!("crates/fs-offline/benches/dataset.rs printed no results");
    }
    let dir = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("DATA_DIR "))
        .context("the dataset bench printed no DATA_DIR line")?;
    let mut data = data.borrow_mut();
    data.dir = Some(PathBuf::from(dir.trim()));
    // `ASOF <name> <features dir> <entity file>`: the as-of shapes' data.
    data.shapes = r
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ASOF "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((
                parts.next()?.to_owned(),
                PathBuf::from(parts.next()?),
                PathBuf::from(parts.next()?),
            ))
        })
        .collect();
    *ctx.offline_data.borrow_mut() = Some(PathBuf::from(dir.trim()));
    if let Some(p) = r.peak_rss {
        data.peaks.push(p);
    }
    Ok(r.results)
}

/// One run of the anchors on the bench's data: DuckDB's latest, join and
/// as-of shapes (`duckdb_dataset.py`), and pyarrow's scan.
fn run_duckdb(
    python: &std::path::Path,
    out: &std::path::Path,
    data: &BenchData,
) -> Result<Results> {
    std::fs::create_dir_all(out)?;
    let orders = data.files("orders")?;
    let common = |out_file: &str| -> Vec<String> {
        let out = out.join(out_file).display().to_string();
        [
            "--files", &orders, "--id", "id", "--time", "ts", "--out", &out,
        ]
        .map(String::from)
        .to_vec()
    };
    let duckdb = |what: &str, args: &[String]| -> Result<Results> {
        let what = format!("duckdb_dataset.py ({what})");
        Ok(run(&what, &mut python_script(python, "duckdb_dataset.py", args))?.results)
    };
    let mut r = duckdb("latest", &common("latest.parquet"))?;
    let mut args = common("pit_join.parquet");
    args.extend([
        "--join-files".into(),
        data.files("profiles")?,
        "--prefix".into(),
        "p_".into(),
    ]);
    r.0.extend(duckdb("pit_join", &args)?.0);
    for (name, features, entities) in &data.shapes {
        let glob = format!("{}/**/*.parquet", features.display());
        let entities = entities.display().to_string();
        let out = out.join(format!("{name}.parquet")).display().to_string();
        let args = [
            "--files",
            &glob,
            "--join-files",
            &glob,
            "--id",
            "id",
            "--time",
            "ts",
            "--entities",
            &entities,
            "--name",
            name,
            "--prefix",
            "j_",
            "--out",
            &out,
        ]
        .map(String::from);
        r.0.extend(duckdb(name, &args)?.0);
    }
    let scan = run(
        "pyarrow_scan.py",
        &mut python_script(
            python,
            "pyarrow_scan.py",
            &["--files".into(), orders.clone()],
        ),
    )?;
    r.0.extend(scan.results.0);
    Ok(r)
}

/// The offline-dataset rows from both sides' runs.
fn dataset_table(label: &str, ours: &Side, anchor: &Side, peaks: &[u64]) -> Vec<Row> {
    let sides = DatasetSides {
        label,
        ours,
        anchor,
    };
    let peak_rss = peak_rss(ours, label, peaks);
    let scan_ours = scan_rate(ours);
    vec![
        sides.latest_row(),
        sides.pit_join_row(),
        sides.asof_few_row(),
        sides.asof_skew_row(),
        Row::alone(
            "offline: dataset, peak RSS",
            peak_rss,
            Goal::AtMost(Q(1024.0, Unit::Mib)),
            "the largest of the builds' peaks (latest, point-in-time join and the two as-of \
             shapes), each measured by the bench from /proc (VmHWM, reset before each build)",
        ),
        Row::pair(
            "offline: Parquet scan",
            scan_ours,
            quantity(anchor, "pyarrow_scan", "rows/s", Unit::RowsPerSec),
            Goal::None,
            "every row and column of the `orders` files as Arrow batches; anchor: \
             `pyarrow.dataset` (`to_batches`, threads on)",
        ),
    ]
}

/// Both sides' runs of the dataset builds at one size, from which each
/// build's row is made.
struct DatasetSides<'a> {
    /// The size (`1M`, `10M`), as the bench names its results.
    label: &'a str,
    ours: &'a Side,
    anchor: &'a Side,
}

impl DatasetSides<'_> {
    /// The `latest` build's row: ours on the native latest-per-record path
    /// against DuckDB's window.
    fn latest_row(&self) -> Row {
        let label = self.label;
        let size = format!(
            "fs-offline's `dataset` bench data: `orders`, {label} rows of 20 features (id, ts, \
             9 Fractional, 6 Integral, 3 String; about 5 versions per record) over 48 hourly Glue \
             partitions, snappy Parquet; `profiles`, a fifth as many rows of 5 features (about 2 \
             versions per record); 1% delete markers in both"
        );
        self.counts(
            Row::pair(
                "offline: dataset, latest per record",
                secs(self.ours, &format!("dataset_latest_{label}_seconds")),
                secs(self.anchor, "duckdb_latest_seconds"),
                Goal::RatioAtLeast(1.5),
                format!(
                    "{size}. Ours: the embedded engine's native latest-per-record path (the key \
                     columns into hash tables, then the winners' rows by Parquet row selection) \
                     streaming to Parquet; anchor: \
                     DuckDB (`xtask/bench/duckdb_dataset.py`, a `row_number()` window per id over \
                     event time, api_invocation_time, write_time; delete markers win ties and \
                     remove the record) in `COPY … TO` Parquet."
                ),
            ),
            "latest",
        )
    }

    /// The `pit_join` build's row: ours on the native as-of join against
    /// DuckDB's ASOF LEFT JOIN.
    fn pit_join_row(&self) -> Row {
        let label = self.label;
        self.counts(
            Row::pair(
                "offline: dataset, point-in-time join",
                secs(self.ours, &format!("dataset_pit_join_{label}_seconds")),
                secs(self.anchor, "duckdb_pit_join_seconds"),
                Goal::RatioAtLeast(1.5),
                "every `orders` row (duplicates kept, deletes applied) left-joined with \
                 `profiles` as of its event time; ours: the embedded engine's native as-of \
                 join (an index of each record's event times, the entity rows streamed through \
                 it); anchor: DuckDB's ASOF LEFT JOIN after the same duplicate and delete \
                 steps.",
            ),
            "pit_join",
        )
    }

    /// The `asof_few` shape's row: few identifiers with long histories.
    fn asof_few_row(&self) -> Row {
        let label = self.label;
        self.counts(
            Row::pair(
                "offline: dataset, few identifiers, long histories",
                secs(self.ours, &format!("dataset_asof_few_{label}_seconds")),
                secs(self.anchor, "duckdb_asof_few_seconds"),
                Goal::RatioAtLeast(1.0),
                format!(
                    "a group `readings` of 10 identifiers with a hundredth of {label} versions each \
                     (10 Fractional features), left-joined point-in-time onto an entity Parquet \
                     file of a fifth of {label} rows; ours: the native as-of join; anchor: DuckDB's \
                     ASOF LEFT JOIN after the same duplicate and delete steps.{}",
                    self.rss_note("asof_few")
                ),
            ),
            "asof_few",
        )
    }

    /// The `asof_skew` shape's row: one identifier holding half of both
    /// sides.
    fn asof_skew_row(&self) -> Row {
        let label = self.label;
        self.counts(
            Row::pair(
                "offline: dataset, skew",
                secs(self.ours, &format!("dataset_asof_skew_{label}_seconds")),
                secs(self.anchor, "duckdb_asof_skew_seconds"),
                Goal::RatioAtLeast(1.0),
                format!(
                    "{label} rows of `readings` over a tenth as many identifiers, one of which \
                     holds half of the rows and half of the entity file's (a fifth of {label}) \
                     rows, left-joined point-in-time; ours: the native as-of join; anchor: \
                     DuckDB's ASOF LEFT JOIN.{}",
                    self.rss_note("asof_skew")
                ),
            ),
            "asof_skew",
        )
    }

    /// `row` with the rows each side wrote for `what`: a row whose sides
    /// differ fails.
    fn counts(&self, row: Row, what: &str) -> Row {
        let label = self.label;
        row.with_counts(
            written(self.ours, &format!("dataset_{what}_{label}_rows_out")),
            written(self.anchor, &format!("duckdb_{what}_rows_out")),
        )
    }

    /// A note of our peak RSS in the build `what` for its row's description
    /// (empty when the bench printed none).
    fn rss_note(&self, what: &str) -> String {
        let label = self.label;
        match quantity(
            self.ours,
            &format!("dataset_{what}_{label}_peak_rss"),
            "MB",
            Unit::Mib,
        ) {
            Ok(q) => format!(" Peak RSS of ours: {:.0} MiB.", q.0),
            Err(_) => String::new(),
        }
    }
}

/// A side's median seconds of `name`, as a quantity.
fn secs(side: &Side, name: &str) -> Result<Q, String> {
    quantity(side, name, "s", Unit::Secs)
}

/// The largest peak RSS of our builds (as the bench printed them; else
/// the runs' own peaks).
fn peak_rss(ours: &Side, label: &str, peaks: &[u64]) -> Result<Q, String> {
    let peak = |what: &str| {
        let name = format!("dataset_{what}_{label}_peak_rss");
        quantity(ours, &name, "MB", Unit::Mib)
    };
    let shape_peaks = ["asof_few", "asof_skew"]
        .iter()
        .filter_map(|w| peak(w).ok())
        .map(|q| q.0)
        .fold(0.0f64, f64::max);
    match (peak("latest"), peak("pit_join")) {
        (Ok(a), Ok(b)) => Ok(Q(a.0.max(b.0).max(shape_peaks), Unit::Mib)),
        (Err(e), _) | (_, Err(e)) => match peaks.iter().max() {
            Some(p) => Ok(Q(*p as f64 / 1_048_576.0, Unit::Mib)),
            None => Err(e),
        },
    }
}

/// Our plain scan's rows per second, from the first `scan…` row the
/// dataset bench prints.
fn scan_rate(ours: &Side) -> Result<Q, String> {
    let runs = ours.as_ref().map_err(|e| format!("{e:#}"))?;
    let name = runs
        .first()
        .and_then(|r| {
            r.0.keys()
                .find(|k| k.starts_with("scan") && r.0[*k].1 == "rows/s")
                .cloned()
        })
        .ok_or_else(|| {
            "no bench of ours times a plain scan of the offline files yet \
             (crates/fs-offline/benches/dataset.rs prints no `scan…` rows/s)"
                .to_owned()
        })?;
    quantity(ours, &name, "rows/s", Unit::RowsPerSec)
}

/// What a dataset build from the cache must reach against the same build
/// from S3. Both sides run the same build, so the ratio is 1 + (what the
/// cache saves) / (the build): on this loopback S3 the cold sync of the
/// 10M `orders` files costs about a third of the build, so 1.2 fails when
/// the second reader pays back more than about half of the download.
const BUILD_FROM_CACHE_RATIO: f64 = 1.2;

/// `offline-cache`: fs-offline's cache bench against moto's S3. The bench
/// measures every side itself, end to end and alternating, three times per
/// process: a second reader (a warm sync, then every byte read) against
/// the cold sync, and a second reader's dataset build over the cache
/// against a cold sync plus the same build.
pub(crate) fn cache(ctx: &Ctx) -> Vec<Row> {
    // The dataset bench's `orders` files when `offline-dataset` ran (a real
    // dataset), else the cache bench's synthetic files.
    let dataset = ctx
        .offline_data
        .borrow()
        .as_ref()
        .map(|d| d.join("orders/data"))
        .filter(|d| d.is_dir());
    let runs = cache_runs(ctx, dataset.as_ref());
    let q = |name: &str, unit: &str, as_unit: Unit| quantity(&runs, name, unit, as_unit);
    let ms = |name: &str| q(name, "ms", Unit::Millis);
    let data = match &dataset {
        Some(d) => format!(
            "the `orders` files of the dataset bench ({}, {} rows of 20 features, 48 Parquet \
             files)",
            d.canonicalize()
                .ok()
                .and_then(|c| c.strip_prefix(crate::root()).ok().map(PathBuf::from))
                .unwrap_or_else(|| d.clone())
                .display(),
            dataset_rows(ctx).1
        ),
        None => format!(
            "{} MB of synthetic Parquet-sized files (8 MiB each; run with `offline-dataset` \
             for a real dataset)",
            if ctx.quick { 64 } else { 256 }
        ),
    };
    let no_dataset = || {
        Err(
            "needs a real dataset: run with the `offline-dataset` pair, whose `orders` files \
             this build reads"
                .to_owned(),
        )
    };
    let build = |name: &str| {
        if dataset.is_some() {
            ms(name)
        } else {
            no_dataset()
        }
    };
    let mut rows = vec![
        Row::pair(
            "offline: cache second reader vs cold sync",
            ms("cache_second_reader_time"),
            ms("cache_cold_sync_time"),
            Goal::RatioAtLeast(20.0),
            format!(
                "{data} in moto's S3. Ours: a second reader, end to end: a sync of the warm \
                 cache (a listing of the prefix, nothing to fetch), `open_for_read`, and every \
                 byte read; anchor: the first sync into an empty cache. Both sides measured \
                 three times per run, alternated; medians"
            ),
        ),
        Row::pair(
            "offline: cache second reader's dataset build vs the build from S3",
            build("cache_warm_build_time"),
            build("cache_cold_build_time"),
            Goal::RatioAtLeast(BUILD_FROM_CACHE_RATIO),
            format!(
                "the same files; the latest record per identifier of `orders` (the embedded \
                 engine, streamed to Parquet), end to end on both sides. Ours: a second reader \
                 (a sync of the warm cache, nothing fetched, then the build over the cached \
                 files); anchor: a first reader (a cold sync into an empty cache, then the \
                 same build). Alternated, three times per run; medians. The target: both \
                 sides run the same build, so the ratio is 1 + the saved download / the \
                 build, {BUILD_FROM_CACHE_RATIO}× when the cache saves about half of a \
                 download that costs a third of the build here."
            ),
        )
        .with_counts(
            written(&runs, "cache_warm_build_rows"),
            written(&runs, "cache_cold_build_rows"),
        ),
        Row::alone(
            "offline: cache cold sync",
            q("cache_cold_sync", "MB/s", Unit::MbPerSec),
            Goal::None,
            "the anchor above as a rate: the bytes of the files over the cold sync's time",
        ),
        Row::pair(
            "offline: cache cold sync through a throttled S3 vs the link's bound",
            q("cache_throttled_sync", "MB/s", Unit::MbPerSec),
            q("cache_throttled_bound", "MB/s", Unit::MbPerSec),
            Goal::RatioAtLeast(0.8),
            format!(
                "the same files through a throttled link to moto (`fs_offline::throttle`, in \
                 the bench's process: 30 ms to each answer's first byte, 25 MB/s per \
                 connection, 200 MB/s in all; half the rates of issue 16's example so that \
                 moto and the proxy on {} cores are not what limits). Ours: a cold sync with \
                 the default options (16 GETs in flight, objects over 16 MiB in ranged \
                 parts), three times per run alternated with the row below; medians. The \
                 anchor is the bound min(link, 16 connections × per-connection cap)",
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            ),
        ),
        Row::pair(
            "offline: cache cold sync through a throttled S3 vs one connection",
            q("cache_throttled_sync", "MB/s", Unit::MbPerSec),
            q("cache_throttled_single", "MB/s", Unit::MbPerSec),
            Goal::RatioAtLeast(5.0),
            "the same runs; the anchor downloads the same objects through the same link over \
             one connection, one after another, each body streamed to a file (what a \
             one-thread script does), alternated with ours",
        ),
    ];
    if dataset.is_some() {
        rows.extend(decode_rows(&runs));
        rows.extend(projected_rows(&runs));
    }
    rows
}

/// The projected-read rows: the bytes a sub-model reading 3 of `orders`'
/// 20 features downloads, against a full sync, and what a second one
/// asking for the same downloads.
fn projected_rows(runs: &Side) -> Vec<Row> {
    let mb = |name: &str| quantity(runs, name, "bytes", Unit::Mb).map(|Q(v, u)| Q(v / 1e6, u));
    let written = |name: &str| match runs {
        Ok(r) => median(r, name, "rows").ok(),
        Err(_) => None,
    };
    vec![
        Row::pair(
            "offline: projected read of 3 of `orders`' 20 features vs a full sync, bytes down",
            mb("cache_projected_down"),
            mb("cache_projected_full_down"),
            Goal::RatioAtLeast(4.0),
            "the same files through the same throttled link; ours: a sub-model on an empty \
             cache building the latest record per identifier with 3 features (f0, f9, f15: \
             Fractional, Integral, String) from only the column chunks the spec reads \
             (`Cache::sync_projected`: footers, then ranged GETs of the chunks of id, ts, \
             the 3 features and the 3 metadata columns), bytes counted by the proxy, \
             listings included; anchor: the full cold syncs of the rows above, counted the \
             same way. The target, ≥ 4×, is issue 16's ≤ 25% of a full sync's bytes. The \
             rows it wrote are compared with the same spec built over the whole files",
        )
        .with_counts(
            written("cache_projected_rows"),
            written("cache_projected_full_rows"),
        ),
        Row::alone(
            "offline: a second sub-model's projected read of the same features, object bytes",
            mb("cache_projected_second_fetched"),
            Goal::AtMost(Q(0.0, Unit::Mb)),
            "a fresh cache handle on the first one's directory (a new process's view) asking \
             for the same columns: the object bytes it fetched, which must be none (the \
             listing of the prefix still comes down; `cache_projected_second_down` in the \
             raw results has the proxy's count)",
        ),
    ]
}

/// The cache's decode rows (information): a second reader decoding the
/// cached files to Arrow against a plain read of the same bytes.
fn decode_rows(runs: &Side) -> Vec<Row> {
    // Reading every byte at the raw rate, in ms: the decode rows' anchor.
    let raw_ms = match runs {
        Ok(r) => r
            .iter()
            .map(|r| {
                Ok(r.get("cache_bytes", "bytes")? / 1e6 / r.get("cache_raw_read", "MB/s")? * 1e3)
            })
            .collect::<Result<Vec<f64>>>()
            .map_err(|e| format!("{e:#}"))
            .and_then(|v| median_of(v).ok_or_else(|| "no runs".to_owned()))
            .map(|v| Q(v, Unit::Millis)),
        Err(e) => Err(format!("{e:#}")),
    };
    [("all", "every column"), ("3", "a 3-column projection")]
        .into_iter()
        .map(|(name, what)| {
            Row::pair(
                format!("offline: cache warm decode, {what}"),
                quantity(
                    runs,
                    &format!("cache_warm_decode_{name}_time"),
                    "ms",
                    Unit::Millis,
                ),
                raw_ms.clone(),
                Goal::None,
                format!(
                    "ours: a second reader decoding {what} of every cached file to Arrow \
                     (one thread, only the projected column chunks read); anchor: a plain \
                     sequential read of every cached byte (1 MiB reads, `cat`'s access \
                     pattern), in the same runs"
                ),
            )
        })
        .collect()
}

/// fs-offline's cache bench, `ctx.reps` times, against moto's S3 (over
/// `dataset`'s files when given).
fn cache_runs(ctx: &Ctx, dataset: Option<&PathBuf>) -> Side {
    let exe = ctx.exe(CACHE)?;
    let moto = crate::procs::moto_python(&crate::root())?;
    let (_moto, url) = crate::procs::start_moto(&moto)?;
    let (runs, _) = alternate(
        "offline-cache",
        ctx.reps,
        || {
            let mut cmd = Command::new(&exe);
            cmd.args(ctx.size_args()).env("FS_S3_ENDPOINT", &url);
            if let Some(dir) = dataset {
                cmd.env("FS_CACHE_BENCH_DIR", dir);
            }
            let r = run("fs-offline bench cache", &mut cmd)?.results;
            if r.0.is_empty() {
                bail!("crates/fs-offline/benches/cache.rs printed no results");
            }
            Ok(r)
        },
        None,
    );
    runs
}
