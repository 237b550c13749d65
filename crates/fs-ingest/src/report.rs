//! The report of an ingest, and the failures file.
//!
//! Every row read ends either written or in [`IngestReport::failures`]:
//! `rows_read == rows_written + rows_failed` ([`IngestReport::check`]).
//! A [`Failure`] names the file, the row (1-based data row), the column
//! where known, the stage that refused it, the reason, and the row's
//! original values.
//!
//! The failures file ([`FailureWriter`], CSV or JSON Lines by extension)
//! holds one line per failure: the metadata columns [`FAILURE_COLUMNS`]
//! (`_ingest_file`, `_ingest_row`, `_ingest_column`, `_ingest_stage`,
//! `_ingest_reason`) then the row's original values under the group's
//! feature names. Ingest drops `_ingest_*` columns when it reads a file,
//! so the failures file, once fixed, is ingested again as it is. In a CSV
//! failures file a collection value is written as a JSON array, which CSV
//! cannot read back as a list: use JSON Lines for groups with collections.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs_schema::{FeatureGroup, Record, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::source::format::Format;

/// The metadata columns of a failures file, in order.
pub const FAILURE_COLUMNS: [&str; 5] = [
    "_ingest_file",
    "_ingest_row",
    "_ingest_column",
    "_ingest_stage",
    "_ingest_reason",
];

/// Where a row was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Stage {
    /// The reader could not read it (wrong number of fields, invalid UTF-8,
    /// invalid JSON).
    Read,
    /// A value does not fit its feature (fs-schema's strict cast).
    Cast,
    /// The sink refused it or gave up on it.
    Write,
}

impl Stage {
    /// The stage's name as written in the failures file.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Cast => "cast",
            Stage::Write => "write",
        }
    }
}

/// One row that was not written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The source file, or the name of the stream of batches
    /// ([`crate::Ingest::run_batches`]).
    pub file: PathBuf,
    /// The 1-based data row in that file (the CSV header is not a row), or
    /// in the stream (counted over all its batches).
    pub row: u64,
    /// For a stream of batches: the 1-based batch the row came in. `None`
    /// for a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// Which stage refused the row.
    pub stage: Stage,
    /// Why.
    pub reason: String,
    /// The offending value, shortened to 80 characters, when known.
    pub value: Option<String>,
    /// The row's original values (null values left out), to fix and feed back.
    pub values: Record,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.batch {
            None => write!(f, "{}, row {}", self.file.display(), self.row)?,
            Some(batch) => write!(
                f,
                "stream {:?}, batch {batch}, row {}",
                self.file.display().to_string(),
                self.row
            )?,
        }
        if let Some(c) = &self.column {
            write!(f, ", column {c:?}")?;
        }
        if let Some(v) = &self.value {
            write!(f, ", value {v:?}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A file that could not be read (or not to its end). Its rows that were
/// not read are in no count; those before the error are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    /// The file.
    pub file: PathBuf,
    /// The first row that could not be read, when known.
    pub row: Option<u64>,
    /// The column concerned, when one is.
    pub column: Option<String>,
    /// What went wrong.
    pub reason: String,
}

/// Row and byte counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows read (each ends written or failed).
    pub rows_read: u64,
    /// Rows the sink acknowledged.
    pub rows_written: u64,
    /// Rows in the failure report.
    pub rows_failed: u64,
    /// Rows that needed at least one retry (and are also written or failed).
    pub rows_retried: u64,
    /// Of those, rows retried after an attempt whose outcome was unknown (a
    /// 5xx, a timeout, a connection lost after sending): the row may have
    /// been written more than once, so it may have duplicate offline rows
    /// (which latest-per-record reads collapse). It counts rows, not
    /// attempts: a row whose answer was lost twice counts once and may be
    /// offline three times.
    #[serde(default)]
    pub rows_retried_unknown_outcome: u64,
    /// Bytes of input consumed.
    pub bytes_read: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, other: &Counts) {
        self.rows_read += other.rows_read;
        self.rows_written += other.rows_written;
        self.rows_failed += other.rows_failed;
        self.rows_retried += other.rows_retried;
        self.rows_retried_unknown_outcome += other.rows_retried_unknown_outcome;
        self.bytes_read += other.bytes_read;
    }
}

/// What happened to one input file (or stream of batches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    /// The file, or the stream's name.
    pub file: PathBuf,
    /// Its counts in this run.
    pub counts: Counts,
    /// Rows skipped because a previous run had acknowledged them.
    pub rows_resumed: u64,
    /// Whether it was read to its end.
    pub complete: bool,
}

/// How a sharded ingest split its input ([`crate::IngestOptions::shard`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ShardMode {
    /// Whole files, by a stable hash of each file's relative path.
    ByFile,
    /// Rows, by a stable hash of each row's record identifier.
    ByRecordIdentifier,
}

/// The outcome of an ingest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IngestReport {
    /// The feature group.
    pub group: String,
    /// Rows read in this run (after skipping resumed rows and other shards).
    pub rows_read: u64,
    /// Rows written (acknowledged by the sink) in this run.
    pub rows_written: u64,
    /// Rows that failed in this run, each in `failures`.
    pub rows_failed: u64,
    /// Rows that needed at least one retry.
    pub rows_retried: u64,
    /// Rows retried after an attempt whose outcome was unknown (a 5xx, a
    /// timeout, a connection lost after the request was sent), which may
    /// therefore have been written more than once: possible duplicate
    /// offline rows (SageMaker's PutRecord and BatchWriteRecord have no
    /// idempotency token). It counts rows, not attempts: a row retried
    /// twice after lost answers counts once and may be offline three times.
    /// Throttled and unprocessed retries are not counted. See
    /// [`crate::RowOutcome::unknown_outcome_retries`].
    pub rows_retried_unknown_outcome: u64,
    /// Retries, in all.
    pub retries: u64,
    /// Bytes of input consumed.
    pub bytes_read: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Rows skipped because a previous run (per the checkpoint) had them.
    pub rows_resumed: u64,
    /// Rows left to other shards (sharding by record identifier).
    pub rows_other_shards: u64,
    /// How the input was sharded, if it was.
    pub shard_mode: Option<ShardMode>,
    /// The counts of the previous runs, from the checkpoint, when resuming.
    pub previous: Option<Counts>,
    /// Each file of this worker's share, in reading order.
    pub files: Vec<FileSummary>,
    /// Every failed row of this run, in reading order.
    pub failures: Vec<Failure>,
    /// Files that could not be read (to their end).
    pub file_errors: Vec<FileError>,
}

impl IngestReport {
    /// Rows written per second of this run.
    pub fn rows_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.rows_written as f64 / secs
        } else {
            0.0
        }
    }

    /// This run's counts.
    pub fn counts(&self) -> Counts {
        Counts {
            rows_read: self.rows_read,
            rows_written: self.rows_written,
            rows_failed: self.rows_failed,
            rows_retried: self.rows_retried,
            rows_retried_unknown_outcome: self.rows_retried_unknown_outcome,
            bytes_read: self.bytes_read,
        }
    }

    /// This run's counts plus the previous runs' (when resumed).
    pub fn total(&self) -> Counts {
        let mut c = self.previous.unwrap_or_default();
        c.add(&self.counts());
        c
    }

    /// Checks the invariant: every row read was written or failed, and each
    /// failed row is in `failures`. Returns a description of the mismatch.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.rows_read != self.rows_written + self.rows_failed {
            return Err(format!(
                "rows read ({}) != written ({}) + failed ({})",
                self.rows_read, self.rows_written, self.rows_failed
            ));
        }
        if self.failures.len() as u64 != self.rows_failed {
            return Err(format!(
                "{} failures listed for {} failed rows",
                self.failures.len(),
                self.rows_failed
            ));
        }
        Ok(())
    }

    /// Writes `failures` to `path`, CSV or JSON Lines by its extension
    /// (see the module docs), replacing the file.
    pub fn write_failures(&self, path: &Path, group: &FeatureGroup) -> Result<()> {
        let mut w = FailureWriter::create(path, group)?;
        for f in &self.failures {
            w.write(f)?;
        }
        w.sync()?;
        Ok(())
    }
}

/// The failures file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureFormat {
    Csv,
    JsonLines,
}

/// Writes failures to a file as they happen (see the module docs).
#[derive(Debug)]
pub struct FailureWriter {
    path: PathBuf,
    out: BufWriter<File>,
    format: FailureFormat,
    /// The CSV columns after the metadata columns.
    features: Vec<String>,
    written: u64,
}

impl FailureWriter {
    /// Creates (or replaces) the failures file at `path`. `.csv` gives CSV;
    /// `.jsonl` and `.ndjson` give JSON Lines; other extensions are refused.
    pub fn create(path: &Path, group: &FeatureGroup) -> Result<FailureWriter> {
        Self::open(path, group, None)
    }

    /// Opens the failures file at `path` for appending after its first
    /// `len` bytes (cutting off anything after them), as a resumed run
    /// does; creates it when `len` is 0 and it does not exist.
    pub fn append_at(path: &Path, group: &FeatureGroup, len: u64) -> Result<FailureWriter> {
        Self::open(path, group, Some(len))
    }

    fn open(path: &Path, group: &FeatureGroup, keep: Option<u64>) -> Result<FailureWriter> {
        let format = match Format::from_path(path) {
            Some(Format::Csv) => FailureFormat::Csv,
            Some(Format::JsonLines) => FailureFormat::JsonLines,
            _ => {
                return Err(Error::options(
                    "failures_file",
                    format!(
                        "{}: the failures file must end in .csv, .jsonl or .ndjson",
                        path.display()
                    ),
                ));
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(keep.is_none())
            .open(path)
            .map_err(Error::io(path))?;
        let keep = keep.unwrap_or(0);
        file.set_len(keep).map_err(Error::io(path))?;
        file.seek(SeekFrom::Start(keep)).map_err(Error::io(path))?;
        let mut w = FailureWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            format,
            features: group
                .feature_definitions
                .iter()
                .map(|d| d.name.clone())
                .collect(),
            written: keep,
        };
        if keep == 0 && format == FailureFormat::Csv {
            let header: Vec<String> = FAILURE_COLUMNS
                .iter()
                .map(|c| (*c).to_owned())
                .chain(w.features.iter().cloned())
                .collect();
            w.write_csv_row(&header)?;
        }
        Ok(w)
    }

    fn write_csv_row<S: AsRef<[u8]>>(&mut self, fields: &[S]) -> Result<()> {
        let mut csv = csv::WriterBuilder::new().from_writer(Vec::new());
        csv.write_record(fields)
            .map_err(|e| Error::io(&self.path)(std::io::Error::other(e)))?;
        let bytes = csv
            .into_inner()
            .map_err(|e| Error::io(&self.path)(std::io::Error::other(e.to_string())))?;
        self.put(&bytes)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(Error::io(&self.path))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Appends one failure.
    pub fn write(&mut self, f: &Failure) -> Result<()> {
        let row = f.row.to_string();
        let meta = [
            f.file.to_string_lossy().into_owned(),
            row,
            f.column.clone().unwrap_or_default(),
            f.stage.as_str().to_owned(),
            f.reason.clone(),
        ];
        match self.format {
            FailureFormat::Csv => {
                let values: Vec<String> = self
                    .features
                    .iter()
                    .map(|name| match f.values.get(name) {
                        None => String::new(),
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::List(items)) => {
                            serde_json::to_string(items).unwrap_or_default()
                        }
                    })
                    .collect();
                let fields: Vec<&str> = meta
                    .iter()
                    .chain(values.iter())
                    .map(String::as_str)
                    .collect();
                self.write_csv_row(&fields)
            }
            FailureFormat::JsonLines => {
                use serde_json::Value as J;
                let mut object = serde_json::Map::new();
                for (k, v) in FAILURE_COLUMNS.iter().zip(meta) {
                    object.insert((*k).to_owned(), J::String(v));
                }
                object.insert("_ingest_row".into(), J::from(f.row));
                for fv in f.values.values() {
                    let v = match &fv.value {
                        Value::String(s) => J::String(s.clone()),
                        Value::List(items) => {
                            J::Array(items.iter().cloned().map(J::String).collect())
                        }
                    };
                    object.insert(fv.feature_name.clone(), v);
                }
                let mut line = serde_json::to_vec(&J::Object(object))
                    .map_err(|e| Error::io(&self.path)(std::io::Error::other(e)))?;
                line.push(b'\n');
                self.put(&line)
            }
        }
    }

    /// Flushes and fsyncs the file; returns its length, which a checkpoint
    /// records so that a resumed run appends after exactly these failures.
    pub fn sync(&mut self) -> Result<u64> {
        self.out.flush().map_err(Error::io(&self.path))?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(Error::io(&self.path))?;
        Ok(self.written)
    }

    /// The file's length so far (written, not necessarily synced).
    pub fn len(&self) -> u64 {
        self.written
    }

    /// True when nothing (not even a header) has been written.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }
}
