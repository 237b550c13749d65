//! `cargo xtask bench [--quick] [--only NAME[,NAME…]] [--reps N] [--no-write]`:
//! every performance target of DESIGN.md measured against its anchor, on
//! the same data, in the same run, and one table of the results.
//!
//! - The Rust bench binaries (`crates/*/benches`, `harness = false`, each
//!   printing `RESULT name value unit` lines), fs-server and the
//!   `featurestore` CLI are built once in release, then run directly.
//! - The anchors are Python scripts (`xtask/bench/*.py`) run from a
//!   virtual environment this command creates, `bench-venv` in the target
//!   directory (`CARGO_TARGET_DIR`, else `target/`: DuckDB, pyarrow, boto3,
//!   the SageMaker Python SDK); moto comes from `it-venv` beside it, as for
//!   `cargo xtask it`.
//! - Each pair runs `--reps` times (3 with `--quick`, else 5), alternating
//!   ours and the anchor (A B A B …) so that both see the same machine;
//!   the table shows the median of each, their ratio (how many times
//!   better ours is), the target and pass or fail.
//! - The table goes to standard output and, unless `--only` or `--no-write`
//!   is given, into `docs/benchmarks.md` between the
//!   `<!-- bench-table:start -->` and `<!-- bench-table:end -->` markers,
//!   with the machine and the date.
//!
//! Pairs (`--only` takes these names, or `online`, `ingest`, `offline`):
//! `online-local`, `online-server`, `ingest-local`, `ingest-aws`,
//! `offline-dataset` (with the Parquet scan), `offline-cache`,
//! `offline-artifact`.

use std::path::PathBuf;

use anyhow::{Result, bail};

mod artifact;
mod build;
mod ingest;
mod ingest_runs;
mod measure;
mod offline;
mod online;
mod table;

use build::{Exes, Target};
use table::Row;

/// The requirements of `bench-venv` (files of `xtask/`, every
/// version pinned): the anchors' packages...
const REQUIREMENTS: &str = "requirements-bench.txt";
/// ...and the SageMaker Python SDK on top, v2 (v3 moved the feature store
/// elsewhere).
const SAGEMAKER: &str = "requirements-sagemaker.txt";

/// What every pair needs.
pub(crate) struct Ctx {
    pub(crate) quick: bool,
    pub(crate) reps: usize,
    pub(crate) exes: Exes,
    /// The bench venv's python, or why there is none.
    pub(crate) python: Result<PathBuf, String>,
    /// Whether the SageMaker SDK is installed (else why not).
    pub(crate) sagemaker: Result<(), String>,
    /// A scratch directory for this run's data and stores.
    pub(crate) scratch: PathBuf,
    /// fs-ingest's bench runs, once `ingest-local` has made them (they also
    /// hold its in-process AWS sink numbers, `ingest-aws`'s fallback).
    pub(crate) ingest_runs: std::cell::RefCell<Option<Vec<measure::Results>>>,
    /// The offline files `offline-dataset` made (its `DATA_DIR`), which
    /// `offline-cache` syncs.
    pub(crate) offline_data: std::cell::RefCell<Option<PathBuf>>,
}

impl Ctx {
    /// The executable of `t`.
    pub(crate) fn exe(&self, t: Target) -> Result<PathBuf> {
        build::exe(&self.exes, t)
    }

    /// The bench venv's python.
    pub(crate) fn python(&self) -> Result<PathBuf> {
        self.python.clone().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// `--quick` when quick: the bench binaries' small sizes.
    pub(crate) fn size_args(&self) -> Vec<String> {
        if self.quick {
            vec!["--quick".into()]
        } else {
            Vec::new()
        }
    }
}

/// A pair: its name, the targets it runs, and the function measuring it.
struct Pair {
    name: &'static str,
    targets: &'static [Target],
    run: fn(&Ctx) -> Vec<Row>,
    /// Whether it may run Python from `bench-venv` (made, which can take
    /// minutes, only when a selected pair may).
    python: bool,
}

const PAIRS: &[Pair] = &[
    Pair {
        name: "online-local",
        targets: &[online::ONLINE],
        run: online::local,
        python: true,
    },
    Pair {
        name: "online-server",
        targets: &[online::SERVER, online::FS_SERVER],
        run: online::server,
        python: true,
    },
    Pair {
        name: "ingest-local",
        targets: &[ingest::INGEST],
        run: ingest::local,
        python: true,
    },
    Pair {
        name: "ingest-aws",
        targets: &[ingest::CLI, online::FS_SERVER],
        run: ingest_runs::aws,
        python: true,
    },
    Pair {
        name: "offline-dataset",
        targets: &[offline::DATASET],
        run: offline::dataset,
        python: true,
    },
    Pair {
        name: "offline-cache",
        targets: &[offline::CACHE],
        run: offline::cache,
        python: true,
    },
    Pair {
        name: "offline-artifact",
        targets: &[artifact::ARTIFACT],
        run: artifact::artifact,
        python: false,
    },
];

struct Options {
    quick: bool,
    only: Option<Vec<String>>,
    reps: Option<usize>,
    write: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        quick: false,
        only: None,
        reps: None,
        write: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--no-write" => o.write = false,
            "--only" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--only needs NAME"))?;
                let names: Vec<String> = v.split(',').map(str::to_owned).collect();
                for n in &names {
                    if !PAIRS.iter().any(|p| selected(p.name, n)) {
                        let all: Vec<&str> = PAIRS.iter().map(|p| p.name).collect();
                        bail!("--only {n:?}: no such pair (pairs: {})", all.join(", "));
                    }
                }
                o.only = Some(names);
            }
            "--reps" => {
                let v = it.next().ok_or_else(|| anyhow::anyhow!("--reps needs N"))?;
                let n: usize = v
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--reps {v:?}: {e}"))?;
                if n == 0 {
                    bail!("--reps must be at least 1");
                }
                o.reps = Some(n);
            }
            other => bail!(
                "unknown argument {other:?} (usage: cargo xtask bench [--quick] [--only NAME[,NAME]] [--reps N] [--no-write])"
            ),
        }
    }
    Ok(o)
}

/// Whether `--only n` selects the pair `name` (its name, or its group before the dash).
fn selected(name: &str, n: &str) -> bool {
    name == n || name.split('-').next() == Some(n)
}

/// `bench-venv` (in the target directory): the anchors' python, and
/// whether the SDK is in it.
fn bench_venv() -> (Result<PathBuf, String>, Result<(), String>) {
    let root = crate::root();
    let venv = crate::target_dir().join("bench-venv");
    let check = "import duckdb, pyarrow, boto3, sagemaker.feature_store.feature_group";
    match crate::procs::venv_python(&root, &venv, check, &[REQUIREMENTS, SAGEMAKER]) {
        Ok(p) => (Ok(p), Ok(())),
        Err(e) => {
            eprintln!("xtask bench: {e:#}; trying without the SageMaker SDK");
            let sdk = Err(format!("xtask/{SAGEMAKER} did not install: {e:#}"));
            match crate::procs::venv_python(
                &root,
                &venv,
                "import duckdb, pyarrow, boto3",
                &[REQUIREMENTS],
            ) {
                Ok(p) => (Ok(p), sdk),
                Err(e) => (Err(format!("{e:#}")), sdk),
            }
        }
    }
}

/// Runs `cargo xtask bench`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let pairs: Vec<&Pair> = PAIRS
        .iter()
        .filter(|p| {
            o.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|n| selected(p.name, n)))
        })
        .collect();
    let load_before = table::load_average();
    // One cargo invocation for every target: built on its own, fs-offline
    // would resolve DataFusion and the S3 SDK with a second feature set
    // (the CLI already builds them with its own) and compile them again,
    // about half an hour on 2 cores.
    let mut targets: Vec<Target> = Vec::new();
    for t in pairs.iter().flat_map(|p| p.targets.iter().copied()) {
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    let exes = build::build_all(&targets, ingest::CLI_FEATURES)?;
    let (python, sagemaker) = if pairs.iter().any(|p| p.python) {
        bench_venv()
    } else {
        let why = "no selected pair runs Python".to_owned();
        (Err(why.clone()), Err(why))
    };
    let scratch = crate::target_dir()
        .join("bench-tmp")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&scratch)?;
    let ctx = Ctx {
        quick: o.quick,
        reps: o.reps.unwrap_or(if o.quick { 3 } else { 5 }),
        exes,
        python,
        sagemaker,
        scratch: scratch.clone(),
        ingest_runs: std::cell::RefCell::new(None),
        offline_data: std::cell::RefCell::new(None),
    };
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    for p in &pairs {
        let t = std::time::Instant::now();
        eprintln!("==> pair {}", p.name);
        rows.extend((p.run)(&ctx));
        eprintln!("<== pair {} ({:.0?})", p.name, t.elapsed());
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let elapsed = started.elapsed();
    let section = format!(
        "## `cargo xtask bench{}` (generated)\n\n\
         {}; {}. Load average {load_before} before, {} after; {:.0} s of \
         measurement (builds excluded). Each pair ran {} times, alternating ours \
         and the anchor; medians shown. The ratio is how many times better ours \
         is (a rate over the anchor's, or the anchor's time over ours).\n\n{}",
        if o.quick { " --quick" } else { "" },
        table::today(),
        table::machine(),
        table::load_average(),
        elapsed.as_secs_f64(),
        ctx.reps,
        table::markdown(&rows)
    );
    println!("\n{section}");
    if o.write && o.only.is_none() {
        let path = crate::root().join("docs").join("benchmarks.md");
        table::write_docs(&path, &section)?;
        eprintln!("==> wrote the table into {}", path.display());
    }
    Ok(())
}
