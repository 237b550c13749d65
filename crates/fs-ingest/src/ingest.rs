//! [`Ingest`]: the run, from inputs to a report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use fs_schema::FeatureGroup;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::options::{IngestOptions, Progress};
use crate::pipeline::{self, CHANNEL_BATCHES, Item, Plan, Prepared};
use crate::report::{Counts, Failure, FailureWriter, FileError, FileSummary, IngestReport, Stage};
use crate::shard::split_files;
use crate::sink::{RowStatus, Sink, WriteOptions};
use crate::source::{SourceFile, expand_inputs};

/// An ingest of files into one feature group through one sink.
///
/// ```no_run
/// # async fn example(group: fs_schema::FeatureGroup, sink: std::sync::Arc<dyn fs_ingest::Sink>) -> fs_ingest::Result<()> {
/// use fs_ingest::{Ingest, IngestOptions};
/// let report = Ingest::new(group, sink, IngestOptions::default().failures_file("failures.csv"))
///     .run(&["data/".into()])
///     .await?;
/// assert_eq!(report.rows_read, report.rows_written + report.rows_failed);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Ingest {
    group: Arc<FeatureGroup>,
    sink: Arc<dyn Sink>,
    options: IngestOptions,
}

impl Ingest {
    /// An ingest into `group` (as the store knows it) through `sink`.
    pub fn new(group: FeatureGroup, sink: Arc<dyn Sink>, options: IngestOptions) -> Self {
        Self {
            group: Arc::new(group),
            sink,
            options,
        }
    }

    /// The options.
    pub fn options(&self) -> &IngestOptions {
        &self.options
    }

    /// Reads every file `inputs` name (files, directories, globs), casts
    /// each batch, writes the good rows through the sink and reports the
    /// rest. In lenient mode (the default) bad rows and unreadable files
    /// are reported and the run goes on; it fails only when the sink fails
    /// a whole batch, a checkpoint or failures file cannot be written, or
    /// the options are invalid. See [`Error::Strict`],
    /// [`Error::TooManyFailures`] and [`Error::Stopped`] for runs that stop
    /// part way: each carries the report of what was done.
    pub async fn run(&self, inputs: &[PathBuf]) -> Result<IngestReport> {
        let span = tracing::info_span!("ingest", group = %self.group.feature_group_name);
        self.run_inner(inputs).instrument(span).await
    }

    async fn run_inner(&self, inputs: &[PathBuf]) -> Result<IngestReport> {
        let started = Instant::now();
        let opts = &self.options;
        opts.validate()?;
        let mut files = expand_inputs(inputs)?;
        exclude_own_files(&mut files, opts);
        let mut report = IngestReport {
            group: self.group.feature_group_name.clone(),
            ..IngestReport::default()
        };
        let mut record_shard = None;
        if let Some((index, count)) = opts.shard {
            let (mine, mode) = split_files(files, index, count);
            files = mine;
            report.shard_mode = Some(mode);
            if mode == crate::report::ShardMode::ByRecordIdentifier {
                record_shard = Some((index, count));
            }
        }
        let (checkpoint, resumed) = self.load_checkpoint(&files)?;
        if resumed {
            report.previous = checkpoint.as_ref().map(|(_, cp)| cp.totals);
        }
        let failures = match &opts.failures_file {
            None => None,
            Some(path) => Some(open_failures(path, &self.group, checkpoint.as_ref())?),
        };
        let done: Vec<(u64, bool)> = files
            .iter()
            .map(|f| {
                checkpoint
                    .as_ref()
                    .and_then(|(_, cp)| cp.progress(f))
                    .map_or((0, false), |p| (p.rows_done, p.complete))
            })
            .collect();
        tracing::info!(files = files.len(), shard = ?opts.shard, resume = opts.resume, "ingest starting");

        let mut run = Run {
            ingest: self,
            started,
            report,
            summary_of: vec![None; files.len()],
            files_done: 0,
            checkpoint,
            failures,
            write: write_options(opts),
            files: files.clone(),
        };
        for (i, (rows_done, complete)) in done.iter().enumerate() {
            if *complete {
                run.summary(i).rows_resumed = *rows_done;
                run.summary(i).complete = true;
                run.report.rows_resumed += rows_done;
                run.files_done += 1;
            }
        }

        let (tx, mut rx) = mpsc::channel(CHANNEL_BATCHES);
        let plan = Plan {
            files,
            done,
            record_shard,
        };
        let (group, reader_opts) = (self.group.clone(), opts.clone());
        let span = tracing::Span::current();
        let reader = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            pipeline::read_all(plan, group, reader_opts, tx);
        });
        let result = run.consume(&mut rx).await;
        drop(rx);
        let joined = reader.await;
        let synced = run.sync_failures();
        result?;
        synced.map_err(|e| run.stop(e))?;
        if let Err(e) = joined {
            return Err(run.stop(Error::Read {
                file: PathBuf::from("(the reading thread)"),
                row: None,
                source: Box::new(e),
            }));
        }
        if let Err(e) = self.sink.flush().await {
            return Err(run.stop(e));
        }
        run.save_checkpoint().map_err(|e| run.stop(e))?;
        run.report.elapsed = started.elapsed();
        run.progress(true);
        let r = &run.report;
        tracing::info!(
            rows_read = r.rows_read,
            rows_written = r.rows_written,
            rows_failed = r.rows_failed,
            files = r.files.len(),
            file_errors = r.file_errors.len(),
            rows_per_sec = r.rows_per_sec() as u64,
            "ingest done"
        );
        Ok(run.report)
    }

    /// The checkpoint to keep, and whether it was loaded to resume from.
    fn load_checkpoint(
        &self,
        files: &[SourceFile],
    ) -> Result<(Option<(PathBuf, Checkpoint)>, bool)> {
        let opts = &self.options;
        let Some(path) = &opts.checkpoint else {
            return Ok((None, false));
        };
        let name = &self.group.feature_group_name;
        if opts.resume
            && let Some(cp) = Checkpoint::load(path)?
        {
            cp.check(path, name, opts.shard, files)?;
            tracing::info!(checkpoint = %path.display(), "resuming");
            return Ok((Some((path.clone(), cp)), true));
        }
        Ok((
            Some((path.clone(), Checkpoint::new(name, opts.shard))),
            false,
        ))
    }
}

/// Leaves the ingest's own failures and checkpoint files out of its input.
fn exclude_own_files(files: &mut Vec<SourceFile>, opts: &IngestOptions) {
    let own: Vec<PathBuf> = [&opts.failures_file, &opts.checkpoint]
        .into_iter()
        .flatten()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    if !own.is_empty() {
        files.retain(|f| {
            std::fs::canonicalize(&f.path)
                .map(|p| !own.contains(&p))
                .unwrap_or(true)
        });
    }
}

fn open_failures(
    path: &Path,
    group: &FeatureGroup,
    checkpoint: Option<&(PathBuf, Checkpoint)>,
) -> Result<FailureWriter> {
    let resumed_len = checkpoint.and_then(|(_, cp)| cp.failures_file_len);
    match resumed_len {
        Some(len) if len > 0 => {
            let actual = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if actual < len {
                return Err(Error::Checkpoint {
                    path: checkpoint.map(|(p, _)| p.clone()).unwrap_or_default(),
                    reason: format!(
                        "the failures file {} has {actual} bytes, fewer than the {len} checkpointed",
                        path.display()
                    ),
                });
            }
            FailureWriter::append_at(path, group, len)
        }
        _ => FailureWriter::create(path, group),
    }
}

/// The state of a run on the writing side.
struct Run<'a> {
    ingest: &'a Ingest,
    started: Instant,
    report: IngestReport,
    /// Index into `report.files` of each planned file, once started.
    summary_of: Vec<Option<usize>>,
    files_done: usize,
    checkpoint: Option<(PathBuf, Checkpoint)>,
    failures: Option<FailureWriter>,
    write: WriteOptions,
    files: Vec<SourceFile>,
}

impl Run<'_> {
    fn summary(&mut self, file: usize) -> &mut FileSummary {
        let i = *self.summary_of[file].get_or_insert_with(|| {
            self.report.files.push(FileSummary {
                file: self.files[file].path.clone(),
                counts: Counts::default(),
                rows_resumed: 0,
                complete: false,
            });
            self.report.files.len() - 1
        });
        &mut self.report.files[i]
    }

    /// A snapshot of the report for an error that stops the run.
    fn snapshot(&self) -> Box<IngestReport> {
        let mut r = self.report.clone();
        r.elapsed = self.started.elapsed();
        Box::new(r)
    }

    fn stop(&self, source: Error) -> Error {
        Error::Stopped {
            source: Box::new(source),
            report: self.snapshot(),
        }
    }

    async fn consume(&mut self, rx: &mut mpsc::Receiver<Item>) -> Result<()> {
        while let Some(item) = rx.recv().await {
            match item {
                Item::FileStart(i) => {
                    self.summary(i);
                }
                Item::Batch(p) => self.batch(p).await?,
                Item::FileError(i, e) => {
                    if self.ingest.options.strict {
                        return Err(self.stop(e));
                    }
                    let (row, column) = match &e {
                        Error::Read { row, .. } => (*row, None),
                        Error::Schema { column, .. } => (None, column.clone()),
                        _ => (None, None),
                    };
                    self.report.file_errors.push(FileError {
                        file: self.files[i].path.clone(),
                        row,
                        column,
                        reason: match &e {
                            Error::Read { source, .. } | Error::Schema { source, .. } => {
                                source.to_string()
                            }
                            other => other.to_string(),
                        },
                    });
                    self.files_done += 1;
                }
                Item::FileEnd(i) => {
                    self.summary(i).complete = true;
                    self.files_done += 1;
                    if let Some((_, cp)) = &mut self.checkpoint {
                        cp.progress_mut(&self.files[i]).complete = true;
                    }
                    self.save_checkpoint().map_err(|e| self.stop(e))?;
                }
            }
        }
        Ok(())
    }

    async fn batch(&mut self, p: Prepared) -> Result<()> {
        let opts = &self.ingest.options;
        let Prepared {
            file,
            mut typed,
            mut provenance,
            mut failures,
            mut rows_read,
            mut last_row,
            bytes,
            rows_resumed,
            rows_other_shards,
        } = p;
        // Strict: write the rows before the first failure, report it, stop.
        let mut stop_at = None;
        if opts.strict
            && let Some(first) = failures.first().cloned()
        {
            let k = provenance.rows.partition_point(|&r| r < first.row);
            typed = typed.slice(0, k);
            provenance.rows = provenance.rows[..k].into();
            failures.truncate(1);
            rows_read = k as u64 + 1;
            last_row = first.row;
            stop_at = Some(first);
        }
        let mut counts = Counts {
            rows_read,
            bytes_read: bytes,
            ..Counts::default()
        };
        let mut retries = 0u64;
        if typed.num_rows() > 0 {
            let group = &self.ingest.group;
            let outcomes = match self
                .ingest
                .sink
                .write(group, typed.clone(), &provenance, &self.write)
                .await
            {
                Ok(o) => o,
                Err(e) => return Err(self.stop(e)),
            };
            if outcomes.len() != typed.num_rows() {
                return Err(self.stop(Error::Sink {
                    file: provenance.file.to_path_buf(),
                    first_row: provenance.first_row(),
                    source: format!(
                        "the sink returned {} outcomes for {} rows",
                        outcomes.len(),
                        typed.num_rows()
                    )
                    .into(),
                }));
            }
            let mut refused = Vec::new();
            for (i, o) in outcomes.into_iter().enumerate() {
                retries += u64::from(o.retries);
                counts.rows_retried += u64::from(o.retries > 0);
                match o.status {
                    RowStatus::Written => counts.rows_written += 1,
                    RowStatus::Failed { reason } => refused.push(Failure {
                        file: provenance.file.to_path_buf(),
                        row: provenance.rows[i],
                        column: None,
                        stage: Stage::Write,
                        reason,
                        value: None,
                        values: pipeline::row_values(&typed, i),
                    }),
                }
            }
            if opts.strict && stop_at.is_none() {
                stop_at = refused.first().cloned();
            }
            if !refused.is_empty() {
                failures.extend(refused);
                failures.sort_by_key(|f| f.row);
            }
        }
        counts.rows_failed = failures.len() as u64;
        self.record(
            file,
            counts,
            retries,
            rows_resumed,
            rows_other_shards,
            failures,
            last_row,
        )?;
        tracing::debug!(
            file = %provenance.file.display(), first_row = provenance.first_row(),
            written = counts.rows_written, failed = counts.rows_failed, "batch done"
        );
        self.progress(false);
        if let Some(limit) = opts.max_failures
            && self.report.rows_failed > limit
        {
            return Err(Error::TooManyFailures {
                limit,
                report: self.snapshot(),
            });
        }
        if let Some(failure) = stop_at {
            return Err(Error::Strict {
                failure: Box::new(failure),
                report: self.snapshot(),
            });
        }
        Ok(())
    }

    /// Adds a batch's outcome to the report, the failures file and the checkpoint.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        file: usize,
        counts: Counts,
        retries: u64,
        rows_resumed: u64,
        rows_other_shards: u64,
        failures: Vec<Failure>,
        last_row: u64,
    ) -> Result<()> {
        let summary = self.summary(file);
        summary.counts.add(&counts);
        summary.rows_resumed += rows_resumed;
        let r = &mut self.report;
        r.rows_read += counts.rows_read;
        r.rows_written += counts.rows_written;
        r.rows_failed += counts.rows_failed;
        r.rows_retried += counts.rows_retried;
        r.retries += retries;
        r.bytes_read += counts.bytes_read;
        r.rows_resumed += rows_resumed;
        r.rows_other_shards += rows_other_shards;
        if let Some(w) = &mut self.failures
            && let Err(e) = failures.iter().try_for_each(|f| w.write(f))
        {
            return Err(self.stop(e));
        }
        self.report.failures.extend(failures);
        if let Some((_, cp)) = &mut self.checkpoint {
            let p = cp.progress_mut(&self.files[file]);
            p.rows_done = p.rows_done.max(last_row);
        }
        self.save_checkpoint().map_err(|e| self.stop(e))
    }

    /// Flushes and syncs the failures file, if any.
    fn sync_failures(&mut self) -> Result<()> {
        match &mut self.failures {
            Some(w) => w.sync().map(|_| ()),
            None => Ok(()),
        }
    }

    /// Syncs the failures file, then saves the checkpoint with the totals.
    fn save_checkpoint(&mut self) -> Result<()> {
        let Some((path, cp)) = &mut self.checkpoint else {
            return Ok(());
        };
        if let Some(w) = &mut self.failures {
            cp.failures_file_len = Some(w.sync()?);
        }
        let mut totals = self.report.previous.unwrap_or_default();
        totals.add(&self.report.counts());
        cp.totals = totals;
        cp.save(path)
    }

    fn progress(&self, finished: bool) {
        let Some(f) = &self.ingest.options.progress else {
            return;
        };
        let elapsed = self.started.elapsed();
        let r = &self.report;
        let secs = elapsed.as_secs_f64();
        f(&Progress {
            rows_read: r.rows_read,
            rows_written: r.rows_written,
            rows_failed: r.rows_failed,
            bytes_read: r.bytes_read,
            files_done: self.files_done,
            files_total: self.files.len(),
            elapsed,
            rows_per_sec: if secs > 0.0 {
                r.rows_written as f64 / secs
            } else {
                0.0
            },
            finished,
        });
    }
}

/// The options every write of this ingest carries.
fn write_options(opts: &IngestOptions) -> WriteOptions {
    let mut write = WriteOptions::default();
    if let Some(stores) = &opts.target_stores {
        write = write.target_stores(stores.iter().copied());
    }
    if let Some(ttl) = opts.ttl {
        write = write.ttl(ttl);
    }
    write
}
