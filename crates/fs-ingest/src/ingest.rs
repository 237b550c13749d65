//! [`Ingest`]: the run, from inputs to a report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use fs_schema::FeatureGroup;
use futures::Stream;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::checkpoint::Checkpoint;
use crate::error::{BoxError, Error, Result};
use crate::options::IngestOptions;
use crate::pipeline::{self, CHANNEL_BATCHES, Plan, StreamPlan};
use crate::report::{FailureWriter, IngestReport, ShardMode};
use crate::run::Run;
use crate::shard::split_files;
use crate::sink::{Sink, WriteOptions};
use crate::source::{Input, SourceFile, expand_inputs};

/// An ingest of files ([`Ingest::run`]) or of a stream of Arrow batches
/// ([`Ingest::run_batches`]) into one feature group through one sink.
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
        self.run_files(inputs).instrument(span).await
    }

    /// Ingests a stream of Arrow batches held in memory (from DataFusion,
    /// Polars, a DataFrame) as [`Ingest::run`] ingests a file: the same
    /// strict cast, report, failures file and checkpoint, without writing
    /// the batches to disk first.
    ///
    /// `name` stands for the stream where a file's path would: in errors
    /// and failures (`stream "orders", batch 3, row 17, column "price",
    /// value "abc": ...`, rows counted from 1 over the whole stream), in
    /// the failures file's `_ingest_file` column, in [`IngestReport::files`]
    /// and in the checkpoint. Every batch must have the columns of
    /// `schema` (names and types); the batches are cast as Parquet columns
    /// are (see `docs/type-mapping.md`).
    ///
    /// Rows that fail the cast are reported and the run goes on, as for a
    /// file. The stream failing (an `Err` item), a batch whose columns do
    /// not fit the group as a whole (no record identifier or event-time
    /// column, an unknown column, a column of a type no feature can hold)
    /// or differ from `schema` stop the run with [`Error::Stopped`] around
    /// an [`Error::Stream`] naming the stream, the batch, its first row and
    /// the column. What was done before it is written, reported and
    /// checkpointed.
    ///
    /// **Resume**: with a checkpoint, the rows of the stream done are
    /// recorded under `name`; a run with `resume(true)` and the same name
    /// skips that many rows of the stream it is given (and pulls nothing
    /// when the stream was complete). The caller must replay the same
    /// stream: the same rows in the same order; nothing can check that.
    /// With the same batch boundaries too, a batch the embedded store
    /// committed just before a crash is recognised by its key and not
    /// written twice (the key holds the batch's last row).
    ///
    /// **Sharding**: with `shard(index, count)`, every worker replays the
    /// whole stream and keeps the rows whose record identifier hashes to
    /// its shard (by record identifier, as for fewer files than workers).
    /// `writes_in_flight` applies as for files; the stream is pulled one
    /// batch at a time, each cast on tokio's blocking pool while earlier
    /// ones are written. `batch_size` does not apply: batches are written
    /// as the stream yields them.
    ///
    /// ```no_run
    /// # async fn example(ingest: fs_ingest::Ingest, batch: arrow_array::RecordBatch) -> fs_ingest::Result<()> {
    /// let schema = batch.schema();
    /// let batches = futures::stream::iter([Ok::<_, arrow_schema::ArrowError>(batch)]);
    /// let report = ingest.run_batches("orders", schema, batches).await?;
    /// assert_eq!(report.rows_read, report.rows_written + report.rows_failed);
    /// # Ok(()) }
    /// ```
    pub async fn run_batches<S, E>(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: S,
    ) -> Result<IngestReport>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>> + Send,
        E: Into<BoxError>,
    {
        let span = tracing::info_span!(
            "ingest",
            group = %self.group.feature_group_name,
            stream = name
        );
        self.run_stream(name, schema, batches)
            .instrument(span)
            .await
    }

    /// [`Ingest::run_batches`] over batches already in memory (a
    /// `Vec<RecordBatch>`, say); `schema` is that of every batch.
    pub async fn run_batches_iter<I>(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: I,
    ) -> Result<IngestReport>
    where
        I: IntoIterator<Item = RecordBatch>,
        I::IntoIter: Send,
    {
        let batches = futures::stream::iter(batches.into_iter().map(Ok::<_, BoxError>));
        self.run_batches(name, schema, batches).await
    }

    async fn run_files(&self, inputs: &[PathBuf]) -> Result<IngestReport> {
        let started = Instant::now();
        let opts = &self.options;
        opts.validate()?;
        let mut files = expand_inputs(inputs)?;
        exclude_own_files(&mut files, opts);
        let (mut shard_mode, mut record_shard) = (None, None);
        if let Some((index, count)) = opts.shard {
            let (mine, mode) = split_files(files, index, count);
            files = mine;
            shard_mode = Some(mode);
            if mode == ShardMode::ByRecordIdentifier {
                record_shard = Some((index, count));
            }
        }
        let inputs = files.iter().cloned().map(Input::File).collect();
        let (mut run, done) = self.start(started, inputs, shard_mode)?;
        tracing::info!(files = files.len(), shard = ?opts.shard, resume = opts.resume, "ingest starting");

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
        let joined = reader.await.map_err(|e| Error::Read {
            file: PathBuf::from("(the reading thread)"),
            row: None,
            source: Box::new(e),
        });
        self.finish(run, result, joined).await
    }

    async fn run_stream<S, E>(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: S,
    ) -> Result<IngestReport>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>> + Send,
        E: Into<BoxError>,
    {
        let started = Instant::now();
        let opts = &self.options;
        opts.validate()?;
        if name.is_empty() {
            return Err(Error::options(
                "run_batches",
                "the stream needs a name (it stands for a file's path)",
            ));
        }
        // One stream is fewer inputs than workers: shard by record.
        let record_shard = opts.shard;
        let shard_mode = opts.shard.map(|_| ShardMode::ByRecordIdentifier);
        let (mut run, done) =
            self.start(started, vec![Input::Stream(name.to_owned())], shard_mode)?;
        tracing::info!(shard = ?opts.shard, resume = opts.resume, "ingest of a stream starting");

        let (tx, mut rx) = mpsc::channel(CHANNEL_BATCHES);
        let plan = StreamPlan {
            name,
            schema,
            done: done[0],
            record_shard,
        };
        let reader = pipeline::read_stream(plan, batches, self.group.clone(), opts, tx);
        let writer = async {
            let result = run.consume(&mut rx).await;
            // Hang up, so that the reader stops.
            drop(rx);
            result
        };
        let ((), result) = futures::join!(reader, writer);
        self.finish(run, result, Ok(())).await
    }

    /// The writing side of a run over `inputs`, with the checkpoint loaded
    /// and the failures file open; and, per input, the rows done and
    /// whether it is complete.
    fn start(
        &self,
        started: Instant,
        inputs: Vec<Input>,
        shard_mode: Option<ShardMode>,
    ) -> Result<(Run<'_>, Vec<(u64, bool)>)> {
        let opts = &self.options;
        let mut report = IngestReport {
            group: self.group.feature_group_name.clone(),
            shard_mode,
            ..IngestReport::default()
        };
        let (checkpoint, resumed) = self.load_checkpoint(&inputs)?;
        if resumed {
            report.previous = checkpoint.as_ref().map(|(_, cp)| cp.totals);
        }
        let failures = match &opts.failures_file {
            None => None,
            Some(path) => Some(open_failures(path, &self.group, checkpoint.as_ref())?),
        };
        let done: Vec<(u64, bool)> = inputs
            .iter()
            .map(|input| {
                checkpoint
                    .as_ref()
                    .and_then(|(_, cp)| cp.progress_of(input))
                    .map_or((0, false), |p| (p.rows_done, p.complete))
            })
            .collect();
        let mut run = Run {
            options: &self.options,
            group: self.group.clone(),
            sink: self.sink.clone(),
            started,
            report,
            summary_of: vec![None; inputs.len()],
            files_done: 0,
            checkpoint,
            failures,
            write: write_options(opts),
            inputs,
        };
        for (i, (rows_done, complete)) in done.iter().enumerate() {
            if *complete {
                run.summary(i).rows_resumed = *rows_done;
                run.summary(i).complete = true;
                run.report.rows_resumed += rows_done;
                run.files_done += 1;
            }
        }
        Ok((run, done))
    }

    /// Ends a run once its reader and writer are done: the failures file
    /// synced, the sink flushed, the checkpoint saved, the keys forgotten.
    async fn finish(
        &self,
        mut run: Run<'_>,
        result: Result<()>,
        reader: Result<()>,
    ) -> Result<IngestReport> {
        let synced = run.sync_failures();
        result?;
        synced.map_err(|e| run.stop(e))?;
        reader.map_err(|e| run.stop(e))?;
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
        run.report.elapsed = run.started.elapsed();
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
    fn load_checkpoint(&self, inputs: &[Input]) -> Result<(Option<(PathBuf, Checkpoint)>, bool)> {
        let opts = &self.options;
        let Some(path) = &opts.checkpoint else {
            return Ok((None, false));
        };
        let name = &self.group.feature_group_name;
        if opts.resume
            && let Some(cp) = Checkpoint::load(path)?
        {
            let files: Vec<SourceFile> = inputs
                .iter()
                .filter_map(|i| match i {
                    Input::File(f) => Some(f.clone()),
                    Input::Stream(_) => None,
                })
                .collect();
            cp.check(path, name, opts.shard, &files)?;
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
