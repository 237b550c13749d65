//! [`IngestOptions`], [`CsvOptions`] and progress reporting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fs_schema::{CastOptions, TargetStore, TtlDuration};

use crate::error::{Error, Result};

/// The default number of rows per batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// Progress of a running ingest, passed to the progress callback after
/// every batch (and once at the end).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Rows read so far in this run.
    pub rows_read: u64,
    /// Rows written so far.
    pub rows_written: u64,
    /// Rows failed so far.
    pub rows_failed: u64,
    /// Bytes of input consumed so far.
    pub bytes_read: u64,
    /// Files finished so far, of `files_total`.
    pub files_done: usize,
    /// Files of this worker's share.
    pub files_total: usize,
    /// Time since the run started.
    pub elapsed: Duration,
    /// Rows written per second since the run started.
    pub rows_per_sec: f64,
    /// True on the last call, when the run is done.
    pub finished: bool,
}

/// A progress callback. It runs on the ingest's task between batches:
/// keep it short (update a counter or a progress bar; do not block).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How an ingest runs. Build with the methods:
///
/// ```
/// use fs_ingest::IngestOptions;
/// use fs_schema::TargetStore;
/// let options = IngestOptions::default()
///     .batch_size(4096)
///     .target_stores([TargetStore::OfflineStore])
///     .failures_file("failures.csv")
///     .checkpoint("ingest.checkpoint.json")
///     .resume(true)
///     .shard(0, 4);
/// assert_eq!(options.shard, Some((0, 4)));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct IngestOptions {
    /// Rows per batch read, cast and written ([`DEFAULT_BATCH_SIZE`]).
    /// Memory is bounded by a few batches.
    pub batch_size: usize,
    /// How CSV files are parsed.
    pub csv: CsvOptions,
    /// How values are cast (fs-schema's strict cast). For CSV and JSON
    /// Lines, empty text is always null for non-`String` features.
    pub cast: CastOptions,
    /// Stop at the first failed row (or unreadable file) instead of
    /// reporting it and going on. Rows before it are written.
    pub strict: bool,
    /// Stop once more than this many rows have failed.
    pub max_failures: Option<u64>,
    /// The stores to write (`TargetStores`); every store the group has when `None`.
    pub target_stores: Option<Vec<TargetStore>>,
    /// A time to live for every record, overriding the group's default.
    pub ttl: Option<TtlDuration>,
    /// `(index, count)`: ingest only share `index` of `count` (0-based);
    /// see `docs/ingest.md` and [`crate::shard`].
    pub shard: Option<(u32, u32)>,
    /// Where to write failures as they happen (`.csv` or `.jsonl`).
    pub failures_file: Option<PathBuf>,
    /// Where to keep the checkpoint (rows acknowledged per file).
    pub checkpoint: Option<PathBuf>,
    /// Skip what the checkpoint says was acknowledged. Needs `checkpoint`.
    pub resume: bool,
    /// Called with the progress after every batch.
    pub progress: Option<ProgressFn>,
    /// Batches being written at once ([`DEFAULT_WRITES_IN_FLIGHT`]), so
    /// that one batch's write overlaps the next one's (for the embedded
    /// store, concurrent batches may share a transaction). Batches are
    /// recorded (report, failures file, checkpoint) in order whatever the
    /// order they finish in. Strict runs write one at a time. A run stopped
    /// by an error may have written up to this many minus one batches past
    /// the point it reports; a resumed run sends them again (with the same
    /// keys, so the embedded store does not write them twice). Batches in
    /// flight together may reach the store in either order: of two rows of
    /// different batches with the same identifier and the same event time,
    /// either may win online (as with concurrent puts to SageMaker); use 1
    /// to apply ties in input order.
    pub writes_in_flight: usize,
}

/// The default number of batches written at once.
pub const DEFAULT_WRITES_IN_FLIGHT: usize = 2;

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            batch_size: DEFAULT_BATCH_SIZE,
            csv: CsvOptions::default(),
            cast: CastOptions::default(),
            strict: false,
            max_failures: None,
            target_stores: None,
            ttl: None,
            shard: None,
            failures_file: None,
            checkpoint: None,
            resume: false,
            progress: None,
            writes_in_flight: DEFAULT_WRITES_IN_FLIGHT,
        }
    }
}

impl std::fmt::Debug for IngestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestOptions")
            .field("batch_size", &self.batch_size)
            .field("csv", &self.csv)
            .field("cast", &self.cast)
            .field("strict", &self.strict)
            .field("max_failures", &self.max_failures)
            .field("target_stores", &self.target_stores)
            .field("ttl", &self.ttl)
            .field("shard", &self.shard)
            .field("failures_file", &self.failures_file)
            .field("checkpoint", &self.checkpoint)
            .field("resume", &self.resume)
            .field("progress", &self.progress.as_ref().map(|_| "<callback>"))
            .field("writes_in_flight", &self.writes_in_flight)
            .finish()
    }
}

impl IngestOptions {
    /// Batches written at once (at least 1).
    pub fn writes_in_flight(mut self, n: usize) -> Self {
        self.writes_in_flight = n.max(1);
        self
    }

    /// Rows per batch.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// CSV parsing options.
    pub fn csv(mut self, csv: CsvOptions) -> Self {
        self.csv = csv;
        self
    }

    /// Cast options.
    pub fn cast(mut self, cast: CastOptions) -> Self {
        self.cast = cast;
        self
    }

    /// Strict mode: the first failure stops the ingest.
    pub fn strict(mut self, yes: bool) -> Self {
        self.strict = yes;
        self
    }

    /// Stop once more than `n` rows have failed.
    pub fn max_failures(mut self, n: u64) -> Self {
        self.max_failures = Some(n);
        self
    }

    /// Write only to `stores`.
    pub fn target_stores(mut self, stores: impl IntoIterator<Item = TargetStore>) -> Self {
        self.target_stores = Some(stores.into_iter().collect());
        self
    }

    /// A time to live for every record.
    pub fn ttl(mut self, ttl: TtlDuration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Ingest only share `index` (0-based) of `count`.
    pub fn shard(mut self, index: u32, count: u32) -> Self {
        self.shard = Some((index, count));
        self
    }

    /// Write failures to `path` as they happen.
    pub fn failures_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.failures_file = Some(path.into());
        self
    }

    /// Keep a checkpoint at `path`.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }

    /// Resume from the checkpoint.
    pub fn resume(mut self, yes: bool) -> Self {
        self.resume = yes;
        self
    }

    /// Call `f` with the progress after every batch.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::options("batch_size", "must be at least 1"));
        }
        if let Some((index, count)) = self.shard
            && (count == 0 || index >= count)
        {
            return Err(Error::options(
                "shard",
                format!("index {index} of {count}: needs 0 <= index < count"),
            ));
        }
        if self.resume && self.checkpoint.is_none() {
            return Err(Error::options("resume", "needs a checkpoint file"));
        }
        if let Some(ttl) = &self.ttl {
            ttl.validate()
                .map_err(|e| Error::options("ttl", e.to_string()))?;
        }
        if self.target_stores.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::options(
                "target_stores",
                "when given, must name at least one store",
            ));
        }
        Ok(())
    }
}

/// How CSV files are parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvOptions {
    /// The first row names the columns (the default). Without a header,
    /// the group's features name the columns, in definition order.
    pub has_header: bool,
    /// The field delimiter; `,` by default.
    pub delimiter: u8,
    /// The quote character; `"` by default. A quote inside a quoted field
    /// is written twice.
    pub quote: u8,
    /// An escape character for quotes inside quoted fields, if any.
    pub escape: Option<u8>,
    /// Lines starting with this character are skipped, if set.
    pub comment: Option<u8>,
    /// Read an empty cell as empty text instead of a missing value: `""`
    /// for `String` features (null for the others, whose cast cannot read
    /// `""`). Off by default: an empty cell is a missing value for every
    /// type, as pandas and the SageMaker SDK read it. A record identifier
    /// or event time that is empty fails its row either way.
    pub keep_empty_strings: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            has_header: true,
            delimiter: b',',
            quote: b'"',
            escape: None,
            comment: None,
            keep_empty_strings: false,
        }
    }
}

impl CsvOptions {
    /// Whether the first row is a header.
    pub fn has_header(mut self, yes: bool) -> Self {
        self.has_header = yes;
        self
    }

    /// The field delimiter (`b'\t'` for tab-separated files).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// The quote character.
    pub fn quote(mut self, quote: u8) -> Self {
        self.quote = quote;
        self
    }

    /// An escape character for quotes.
    pub fn escape(mut self, escape: Option<u8>) -> Self {
        self.escape = escape;
        self
    }

    /// A comment character.
    pub fn comment(mut self, comment: Option<u8>) -> Self {
        self.comment = comment;
        self
    }

    /// Read empty cells as empty text (see [`CsvOptions::keep_empty_strings`]).
    pub fn keep_empty_strings(mut self, yes: bool) -> Self {
        self.keep_empty_strings = yes;
        self
    }
}
