//! What a source yields: batches of rows with their provenance.

use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::report::Failure;

/// The prefix of metadata columns (those of a failures file); columns named
/// so are dropped when a source is read.
pub const META_PREFIX: &str = "_ingest_";

pub(crate) fn is_meta(name: &str) -> bool {
    name.starts_with(META_PREFIX)
}

/// Where the rows of a batch came from: their file and their row numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The source file, or the stream's name.
    pub file: Arc<Path>,
    /// The 1-based data row number of each row of the batch, in order
    /// (ascending, not necessarily contiguous: rejected rows leave gaps).
    pub rows: Arc<[u64]>,
}

impl Provenance {
    /// The row number of the batch's first row.
    pub fn first_row(&self) -> Option<u64> {
        self.rows.first().copied()
    }
}

/// A batch of rows as read from a file, before casting.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    /// The rows that could be read, with their original column types
    /// (every column `Utf8` for CSV).
    pub batch: RecordBatch,
    /// The file and the row number of each row of `batch`.
    pub provenance: Provenance,
    /// The first data row (1-based) this batch covers, read or not.
    pub first_row: u64,
    /// The last data row this batch covers (`first_row - 1` when it covers
    /// none).
    pub last_row: u64,
    /// Rows in this range that the reader could not read.
    pub failures: Vec<Failure>,
    /// Bytes of the file this batch consumed (for Parquet, the file's size
    /// prorated by rows).
    pub bytes: u64,
}

impl SourceBatch {
    /// Rows covered: those read plus those the reader rejected.
    pub fn rows_covered(&self) -> u64 {
        self.batch.num_rows() as u64 + self.failures.len() as u64
    }
}

/// Shortens a value for messages, as fs-schema's cast does (80 characters).
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        let head: String = s.chars().take(77).collect();
        format!("{head}...")
    }
}
