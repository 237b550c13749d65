//! [`Ingest`]: the run, from inputs to a report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use fs_schema::FeatureGroup;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::options::IngestOptions;
use crate::pipeline::{self, CHANNEL_BATCHES, Plan};
use crate::report::{FailureWriter, IngestReport};
use crate::run::Run;
use crate::shard::split_files;
use crate::sink::{Sink, WriteOptions};
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
    pub(crate) group: Arc<FeatureGroup>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) options: IngestOptions,
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
        // Every batch is checkpointed: its key is no longer needed.
        if let Some(prefix) = run.checkpoint.as_ref().and_then(|(_, cp)| cp.key_prefix())
            && let Err(e) = self.sink.forget_keys(&prefix).await
        {
            tracing::warn!(error = %e, "could not forget the batch keys of this ingest");
        }
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
