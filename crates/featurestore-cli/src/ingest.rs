//! `ingest`: files into a feature group through fs-ingest, with a progress
//! bar and a summary.
//!
//! Without `--failures`, a first pass reads and checks every row (the
//! strict cast, then the same record validation the store applies) through
//! a sink that writes nothing; only when no row and no file fails does the
//! second pass write. So a bad input leaves the store as it was, and the
//! error names the first problem's file, row and column. With
//! `--failures FILE`, one lenient pass writes the good rows and lists the
//! bad ones in FILE.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use featurestore::arrow::array::RecordBatch;
use featurestore::ingest::{
    CsvOptions, Format, Ingest, IngestOptions, IngestReport, Provenance, RowOutcome, Sink,
    WriteOptions, expand_inputs,
};
use featurestore::schema::{FeatureGroup, batch_to_records};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::backend::{Backend, Open};
use crate::cli::{Global, IngestArgs, TargetStores};
use crate::output::{count, duration, interactive, key_values, millis, print_json};

/// An ingest that finished with failed rows (exit code 3).
#[derive(Debug)]
pub(crate) struct RowsFailed(pub(crate) String);

impl std::fmt::Display for RowsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RowsFailed {}

/// A sink that writes nothing: it checks each row as the embedded store
/// would before writing it.
#[derive(Debug)]
struct CheckSink;

#[async_trait]
impl Sink for CheckSink {
    async fn write(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        _provenance: &Provenance,
        _options: &WriteOptions,
    ) -> featurestore::ingest::Result<Vec<RowOutcome>> {
        let records = match batch_to_records(&batch) {
            Ok(r) => r,
            Err(e) => return Ok(vec![RowOutcome::failed(e.to_string()); batch.num_rows()]),
        };
        Ok(records
            .iter()
            .map(
                |r| match r.validate(group).and_then(|()| r.event_time(group)) {
                    Ok(_) => RowOutcome::written(),
                    Err(e) => RowOutcome::failed(e.to_string()),
                },
            )
            .collect())
    }

    async fn flush(&self) -> featurestore::ingest::Result<()> {
        Ok(())
    }
}

/// What to ingest and how.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) group: String,
    pub(crate) inputs: Vec<PathBuf>,
    pub(crate) concurrency: usize,
    pub(crate) failures: Option<PathBuf>,
    pub(crate) resume: bool,
    pub(crate) checkpoint: Option<PathBuf>,
    pub(crate) shard: Option<(u32, u32)>,
    pub(crate) batch_size: usize,
    pub(crate) progress: bool,
    /// With --aws: PutRecord per row or BatchWriteRecord.
    pub(crate) write_api: featurestore::WriteApi,
    pub(crate) target_stores: Option<Vec<featurestore::schema::TargetStore>>,
    pub(crate) ttl: Option<featurestore::schema::TtlDuration>,
}

/// What an ingest did.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) report: IngestReport,
    pub(crate) files: usize,
    /// The checking pass's time, when there was one.
    pub(crate) checked_in: Option<Duration>,
    pub(crate) elapsed: Duration,
    pub(crate) failures_file: Option<PathBuf>,
}

impl Done {
    /// The summary as JSON.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let r = &self.report;
        json!({
            "group": r.group,
            "files": self.files,
            "rows_read": r.rows_read,
            "rows_written": r.rows_written,
            "rows_failed": r.rows_failed,
            "rows_resumed": r.rows_resumed,
            "rows_retried": r.rows_retried,
            "rows_retried_unknown_outcome": r.rows_retried_unknown_outcome,
            "rows_other_shards": r.rows_other_shards,
            "file_errors": r.file_errors.iter().map(|e| json!({
                "file": e.file, "row": e.row, "column": e.column, "reason": e.reason,
            })).collect::<Vec<_>>(),
            "failures": r.failures.iter().take(20).map(|f| json!({
                "file": f.file, "row": f.row, "column": f.column, "stage": f.stage.as_str(),
                "reason": f.reason, "value": f.value,
            })).collect::<Vec<_>>(),
            "failures_file": self.failures_file,
            "check_ms": self.checked_in.map(millis),
            "write_ms": millis(r.elapsed),
            "total_ms": millis(self.elapsed),
            "rows_per_sec": r.rows_per_sec().round(),
        })
    }

    /// The summary for people.
    pub(crate) fn text(&self) -> String {
        let r = &self.report;
        let mut lines = vec![
            ("feature group", r.group.clone()),
            ("files", count(self.files as u64)),
            ("rows read", count(r.rows_read)),
            ("rows written", count(r.rows_written)),
            ("rows failed", count(r.rows_failed)),
        ];
        if r.rows_read == 0
            && r.rows_resumed == 0
            && r.rows_other_shards == 0
            && r.file_errors.is_empty()
        {
            lines.push((
                "note",
                "the input has no data rows (a header or schema only): nothing to write".into(),
            ));
        }
        if r.rows_resumed > 0 {
            lines.push(("rows resumed", count(r.rows_resumed)));
        }
        if r.rows_retried > 0 {
            lines.push(("rows retried", count(r.rows_retried)));
            // Possible offline duplicates: the first attempt may have landed.
            lines.push((
                "after an unknown outcome",
                count(r.rows_retried_unknown_outcome),
            ));
        }
        if r.rows_other_shards > 0 {
            lines.push(("other shards' rows", count(r.rows_other_shards)));
        }
        if let Some(t) = self.checked_in {
            lines.push(("checked in", duration(t)));
        }
        lines.push((
            "written in",
            format!(
                "{} ({} rows/s)",
                duration(r.elapsed),
                count(r.rows_per_sec().round() as u64)
            ),
        ));
        if let Some(f) = &self.failures_file
            && r.rows_failed > 0
        {
            lines.push(("failures file", f.display().to_string()));
        }
        key_values(&lines)
    }
}

fn bar(show: bool, total_bytes: u64, phase: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total_bytes.max(1));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:30}] {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(phase);
    pb
}

fn options(plan: &Plan, csv: &CsvOptions, pb: &ProgressBar) -> IngestOptions {
    let mut o = IngestOptions::default()
        .batch_size(plan.batch_size)
        .csv(csv.clone());
    if let Some((i, n)) = plan.shard {
        o = o.shard(i, n);
    }
    if let Some(stores) = &plan.target_stores {
        o = o.target_stores(stores.iter().copied());
    }
    if let Some(ttl) = plan.ttl {
        o = o.ttl(ttl);
    }
    let pb = pb.clone();
    o.on_progress(move |p| {
        pb.set_position(p.bytes_read);
        pb.set_message(format!(
            "{} rows, {} failed, {} rows/s",
            count(p.rows_read),
            count(p.rows_failed),
            count(p.rows_per_sec.round() as u64)
        ));
    })
}

/// The first problem of a report, for a one-line error.
fn first_problem(r: &IngestReport) -> Option<String> {
    if let Some(e) = r.file_errors.first() {
        let mut s = e.file.display().to_string();
        if let Some(row) = e.row {
            s.push_str(&format!(", row {row}"));
        }
        if let Some(c) = &e.column {
            s.push_str(&format!(", column {c:?}"));
        }
        return Some(format!("{s}: {}", e.reason));
    }
    r.failures.first().map(|f| f.to_string())
}

fn problems(r: &IngestReport) -> u64 {
    r.rows_failed + r.file_errors.len() as u64
}

/// Whether an input without rows is an ingest of zero rows: when a file
/// declares its columns (a CSV header, a Parquet schema), as pandas and the
/// SageMaker SDK read an empty table; an input of only empty JSON Lines
/// files is an error.
fn zero_rows_allowed(files: &[featurestore::ingest::SourceFile]) -> bool {
    files
        .iter()
        .any(|f| matches!(f.format, Format::Csv | Format::Parquet))
}

/// Runs an ingest on `backend`, with the default CSV options.
pub(crate) async fn run(backend: &Backend, plan: &Plan) -> Result<Done> {
    run_with(backend, plan, &CsvOptions::default()).await
}

/// Runs an ingest on `backend`, reading CSV files per `csv`.
pub(crate) async fn run_with(backend: &Backend, plan: &Plan, csv: &CsvOptions) -> Result<Done> {
    let started = Instant::now();
    if let Some(f) = &plan.failures
        && !matches!(Format::from_path(f), Some(Format::Csv | Format::JsonLines))
    {
        bail!(
            "--failures {}: the failures file must end in .csv or .jsonl",
            f.display()
        );
    }
    let group = backend.describe(&plan.group).await?.spec;
    let files = expand_inputs(&plan.inputs)?;
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let mut checked_in = None;
    if plan.failures.is_none() {
        let pb = bar(plan.progress, total_bytes, "checking");
        let check = Ingest::new(group.clone(), Arc::new(CheckSink), options(plan, csv, &pb));
        let report = check.run(&plan.inputs).await;
        pb.finish_and_clear();
        let report = report?;
        if let Some(first) = first_problem(&report) {
            let n = problems(&report);
            let more = if n > 1 {
                format!(" ({} problems in all)", count(n))
            } else {
                String::new()
            };
            bail!(
                "{first}{more}; nothing was written (pass --failures FILE to write the good rows and list the bad ones)"
            );
        }
        if plan.shard.is_none() && report.rows_read == 0 && !zero_rows_allowed(&files) {
            bail!("{}: no rows to ingest (the input is empty)", names(&files));
        }
        checked_in = Some(report.elapsed);
    }
    let pb = bar(plan.progress, total_bytes, "writing");
    let mut opts = options(plan, csv, &pb).resume(plan.resume);
    let checkpoint = match &plan.checkpoint {
        Some(p) => p.clone(),
        None => default_checkpoint(backend, plan),
    };
    if let Some(dir) = checkpoint.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    opts = opts.checkpoint(checkpoint);
    if let Some(f) = &plan.failures {
        opts = opts.failures_file(f.clone());
    }
    let sink = backend.sink(&group, plan.concurrency, plan.write_api);
    let report = Ingest::new(group, sink, opts).run(&plan.inputs).await;
    pb.finish_and_clear();
    let report = report?;
    if plan.shard.is_none()
        && report.rows_read == 0
        && report.rows_resumed == 0
        && report.file_errors.is_empty()
        && !zero_rows_allowed(&files)
    {
        bail!("{}: no rows to ingest (the input is empty)", names(&files));
    }
    Ok(Done {
        report,
        files: files.len(),
        checked_in,
        elapsed: started.elapsed(),
        failures_file: plan.failures.clone(),
    })
}

/// The first few file names, for messages.
fn names(files: &[featurestore::ingest::SourceFile]) -> String {
    let mut s: Vec<String> = files
        .iter()
        .take(3)
        .map(|f| f.path.display().to_string())
        .collect();
    if files.len() > 3 {
        s.push(format!("and {} more files", files.len() - 3));
    }
    s.join(", ")
}

/// `<dir>/<group>[.shard-I-of-N]-<hash of the inputs>.json`: one checkpoint
/// per group, shard and set of inputs, so that `--resume` finds the one of
/// the same ingest.
fn default_checkpoint(backend: &Backend, plan: &Plan) -> PathBuf {
    // FNV-1a: stable across runs and releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for input in &plan.inputs {
        let path = std::fs::canonicalize(input).unwrap_or_else(|_| input.clone());
        for b in path.to_string_lossy().bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let shard = match plan.shard {
        Some((i, n)) => format!(".shard-{i}-of-{n}"),
        None => String::new(),
    };
    backend
        .checkpoint_dir()
        .join(format!("{}{shard}-{h:016x}.json", plan.group))
}

/// The error for a finished ingest with failed rows, if any failed.
pub(crate) fn failed_rows(done: &Done) -> Option<RowsFailed> {
    let r = &done.report;
    let first = first_problem(r)?;
    let mut what = Vec::new();
    if r.rows_failed > 0 {
        let listed = match &done.failures_file {
            Some(f) => format!(" (listed in {})", f.display()),
            None => String::new(),
        };
        what.push(format!(
            "{} of {} rows failed{listed}",
            count(r.rows_failed),
            count(r.rows_read)
        ));
    }
    if !r.file_errors.is_empty() {
        what.push(format!(
            "{} of {} files could not be read",
            count(r.file_errors.len() as u64),
            count(done.files as u64)
        ));
    }
    Some(RowsFailed(format!(
        "{}; the other rows were written (first problem: {first})",
        what.join(" and ")
    )))
}

/// `ingest`.
pub(crate) async fn command(global: &Global, args: &IngestArgs) -> Result<()> {
    let backend = Backend::connect(global, Open::Existing).await?;
    let plan = Plan {
        group: args.group.clone(),
        inputs: args.inputs.clone(),
        concurrency: args.concurrency as usize,
        failures: args.failures.clone(),
        resume: args.resume,
        checkpoint: args.checkpoint.clone(),
        shard: args.shard,
        batch_size: args.batch_size,
        progress: interactive(global.json),
        write_api: if args.batch_write {
            featurestore::WriteApi::BatchWriteRecord
        } else {
            featurestore::WriteApi::PutRecord
        },
        target_stores: args.target_stores.map(TargetStores::stores),
        ttl: args.ttl,
    };
    let csv = CsvOptions::default().keep_empty_strings(args.keep_empty_strings);
    let done = run_with(&backend, &plan, &csv).await?;
    backend.close()?;
    if global.json {
        print_json(&done.to_json())?;
    } else {
        println!("{}", done.text());
    }
    match failed_rows(&done) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
