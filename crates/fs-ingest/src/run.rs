//! The writing side of an ingest: batches written through the sink, a few
//! at a time, and recorded in order (report, failures file, checkpoint).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use fs_schema::FeatureGroup;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::options::{IngestOptions, Progress};
use crate::pipeline::{self, Item, Prepared};
use crate::report::{Counts, Failure, FailureWriter, FileError, FileSummary, IngestReport, Stage};
use crate::sink::{RowOutcome, RowStatus, Sink, WriteOptions};
use crate::source::{Input, Provenance};

/// The state of a run on the writing side.
pub(crate) struct Run<'a> {
    /// The ingest's options, group and sink.
    pub(crate) options: &'a IngestOptions,
    pub(crate) group: Arc<FeatureGroup>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) started: Instant,
    pub(crate) report: IngestReport,
    /// Index into `report.files` of each planned file, once started.
    pub(crate) summary_of: Vec<Option<usize>>,
    pub(crate) files_done: usize,
    pub(crate) checkpoint: Option<(PathBuf, Checkpoint)>,
    pub(crate) failures: Option<FailureWriter>,
    pub(crate) write: WriteOptions,
    /// The files, or the one stream, of the run.
    pub(crate) inputs: Vec<Input>,
}

/// A batch being written, with what recording it needs.
struct Writing {
    batch: Written,
    task: JoinHandle<Result<Vec<RowOutcome>>>,
}

/// A prepared batch, sent to the sink.
struct Written {
    file: usize,
    batch: Option<u64>,
    typed: RecordBatch,
    provenance: Provenance,
    failures: Vec<Failure>,
    rows_read: u64,
    last_row: u64,
    bytes: u64,
    rows_resumed: u64,
    rows_other_shards: u64,
    /// Strict mode's failure to stop at once this batch is recorded.
    stop_at: Option<Failure>,
}

/// The next thing to record, in the reader's order.
enum Step {
    Write(Writing),
    Item(Item),
}

impl Run<'_> {
    pub(crate) fn summary(&mut self, file: usize) -> &mut FileSummary {
        let i = *self.summary_of[file].get_or_insert_with(|| {
            self.report.files.push(FileSummary {
                file: self.inputs[file].path(),
                counts: Counts::default(),
                rows_resumed: 0,
                complete: false,
            });
            self.report.files.len() - 1
        });
        &mut self.report.files[i]
    }

    /// A snapshot of the report for an error that stops the run.
    pub(crate) fn snapshot(&self) -> Box<IngestReport> {
        let mut r = self.report.clone();
        r.elapsed = self.started.elapsed();
        Box::new(r)
    }

    pub(crate) fn stop(&self, source: Error) -> Error {
        Error::Stopped {
            source: Box::new(source),
            report: self.snapshot(),
        }
    }

    /// Consumes the reader's items in order, with up to
    /// `writes_in_flight` batch writes running at once; each batch is
    /// recorded (report, failures file, checkpoint) in order once written.
    pub(crate) async fn consume(&mut self, rx: &mut mpsc::Receiver<Item>) -> Result<()> {
        let opts = self.options;
        // Strict mode writes nothing after the first failure: one at a time.
        let depth = if opts.strict {
            1
        } else {
            opts.writes_in_flight.max(1)
        };
        let mut queue: VecDeque<Step> = VecDeque::new();
        let mut writing = 0;
        let mut open = true;
        let result = loop {
            // Items other than batches are handled once everything before them is.
            let mut failed = None;
            while let Some(Step::Item(_)) = queue.front() {
                let Some(Step::Item(item)) = queue.pop_front() else {
                    unreachable!("just matched")
                };
                if let Err(e) = self.item(item) {
                    failed = Some(e);
                    break;
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            if open && writing < depth {
                match rx.recv().await {
                    Some(Item::Batch(p)) => {
                        queue.push_back(self.start(p));
                        writing += 1;
                    }
                    Some(item) => queue.push_back(Step::Item(item)),
                    None => open = false,
                }
                continue;
            }
            match queue.pop_front() {
                None => break Ok(()),
                Some(Step::Item(item)) => {
                    if let Err(e) = self.item(item) {
                        break Err(e);
                    }
                }
                Some(Step::Write(w)) => {
                    writing -= 1;
                    let written = match w.task.await {
                        Ok(r) => r,
                        Err(join) => Err(Error::Sink {
                            file: w.batch.provenance.file.to_path_buf(),
                            first_row: w.batch.provenance.first_row(),
                            source: Box::new(join),
                        }),
                    };
                    if let Err(e) = self.finish(w.batch, written) {
                        break Err(e);
                    }
                }
            }
        };
        if result.is_err() {
            // Writes already started complete, but are not recorded: the
            // checkpoint stays before them, and a resumed run sends them again.
            for step in queue {
                if let Step::Write(w) = step {
                    let _ = w.task.await;
                }
            }
        }
        result
    }

    /// Handles an item other than a batch.
    fn item(&mut self, item: Item) -> Result<()> {
        match item {
            Item::FileStart(i) => {
                self.summary(i);
            }
            Item::Batch(_) => unreachable!("batches are written, not handled here"),
            Item::FileError(i, e) => {
                // A stream has nothing after its error to go on with.
                if self.options.strict || self.inputs[i].is_stream() {
                    return Err(self.stop(e));
                }
                let (row, column) = match &e {
                    Error::Read { row, .. } => (*row, None),
                    Error::Schema { column, .. } => (None, column.clone()),
                    _ => (None, None),
                };
                self.report.file_errors.push(FileError {
                    file: self.inputs[i].path(),
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
                    cp.progress_mut(&self.inputs[i]).complete = true;
                }
                self.save_checkpoint().map_err(|e| self.stop(e))?;
            }
        }
        Ok(())
    }

    /// Applies strict mode's cut to a prepared batch and starts writing it.
    fn start(&mut self, p: Prepared) -> Step {
        let Prepared {
            file,
            batch: number,
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
        if self.options.strict
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
        let key = match &mut self.checkpoint {
            Some((_, cp)) if typed.num_rows() > 0 => {
                Some(cp.batch_key(&self.inputs[file], last_row))
            }
            _ => None,
        };
        let (sink, group, options) = (self.sink.clone(), self.group.clone(), self.write.clone());
        let (batch, prov) = (typed.clone(), provenance.clone());
        let task = tokio::spawn(async move {
            if batch.num_rows() == 0 {
                return Ok(Vec::new());
            }
            match key {
                Some(key) => sink.write_keyed(&group, batch, &prov, &options, &key).await,
                None => sink.write(&group, batch, &prov, &options).await,
            }
        });
        Step::Write(Writing {
            batch: Written {
                file,
                batch: number,
                typed,
                provenance,
                failures,
                rows_read,
                last_row,
                bytes,
                rows_resumed,
                rows_other_shards,
                stop_at,
            },
            task,
        })
    }

    /// Records a written batch: its outcomes, failures and checkpoint.
    fn finish(&mut self, w: Written, written: Result<Vec<RowOutcome>>) -> Result<()> {
        let opts = self.options;
        let Written {
            file,
            batch,
            typed,
            provenance,
            mut failures,
            rows_read,
            last_row,
            bytes,
            rows_resumed,
            rows_other_shards,
            mut stop_at,
        } = w;
        let mut counts = Counts {
            rows_read,
            bytes_read: bytes,
            ..Counts::default()
        };
        let mut retries = 0u64;
        if typed.num_rows() > 0 {
            let outcomes = written.map_err(|e| self.stop(e))?;
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
                counts.rows_retried_unknown_outcome += u64::from(o.unknown_outcome_retries > 0);
                match o.status {
                    RowStatus::Written => counts.rows_written += 1,
                    RowStatus::Failed { reason } => refused.push(Failure {
                        file: provenance.file.to_path_buf(),
                        row: provenance.rows[i],
                        batch,
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
    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one recorded batch, destructured once"
    )]
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
        r.rows_retried_unknown_outcome += counts.rows_retried_unknown_outcome;
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
            let p = cp.progress_mut(&self.inputs[file]);
            p.rows_done = p.rows_done.max(last_row);
        }
        self.save_checkpoint().map_err(|e| self.stop(e))
    }

    /// Flushes and syncs the failures file, if any.
    pub(crate) fn sync_failures(&mut self) -> Result<()> {
        match &mut self.failures {
            Some(w) => w.sync().map(|_| ()),
            None => Ok(()),
        }
    }

    /// Syncs the failures file, then saves the checkpoint with the totals.
    pub(crate) fn save_checkpoint(&mut self) -> Result<()> {
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

    pub(crate) fn progress(&self, finished: bool) {
        let Some(f) = &self.options.progress else {
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
            files_total: self.inputs.len(),
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
