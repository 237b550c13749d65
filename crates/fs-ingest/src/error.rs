//! The error type of fs-ingest.

use std::path::{Path, PathBuf};

use crate::report::{Failure, IngestReport};

/// The result type of fs-ingest.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error from a reader or a store, kept as the `source`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong while ingesting. Every variant says where:
/// the input, file, row (1-based data row) or column concerned.
///
/// Bad *rows* are not errors: they go to [`IngestReport::failures`]. Errors
/// are what stops a file (in the default, lenient mode, the run records
/// them in [`IngestReport::file_errors`] and goes on with the other files)
/// or the whole run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input path or pattern is invalid or names nothing to read.
    #[error("input {input}: {reason}")]
    Input {
        /// The input as given (a file, directory or glob pattern).
        input: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A source file could not be read from `row` on (a corrupt Parquet
    /// page, a CSV file with no header, an unreadable JSON Lines file).
    #[error("{file}{}: {source}", at_row(*.row))]
    Read {
        /// The source file.
        file: PathBuf,
        /// The first data row (1-based) that could not be read, when known.
        row: Option<u64>,
        /// The reader's error.
        #[source]
        source: BoxError,
    },
    /// A source file does not fit the feature group as a whole: the record
    /// identifier or event-time column is missing, a column is unknown to
    /// the group, a column's type cannot hold its feature, the header (or
    /// a Parquet schema) repeats a column, or a column disappears, appears
    /// or changes type from the first file of the ingest. No row of it is
    /// read.
    #[error("{file}{}: {source}", column.as_deref().map(|c| format!(", column {c:?}")).unwrap_or_default())]
    Schema {
        /// The source file (or the source inferred from).
        file: PathBuf,
        /// The column concerned, when one is.
        column: Option<String>,
        /// What does not fit.
        #[source]
        source: BoxError,
    },
    /// A stream of batches ([`crate::Ingest::run_batches`]) could not be
    /// ingested from `batch` on: the stream itself failed, or the batch
    /// does not fit the feature group as a whole (the record identifier
    /// or event-time column is missing, a column is unknown to the group
    /// or of a type that cannot hold its feature, or the batch's columns
    /// differ from the stream's schema). `batch` 0 is the stream's schema,
    /// checked before the first batch is pulled. Unlike a file error, this
    /// stops the run (in [`Error::Stopped`], with the report).
    #[error("stream {stream:?}, {}{}: {source}", at_batch(*.batch, *.row), column.as_deref().map(|c| format!(", column {c:?}")).unwrap_or_default())]
    Stream {
        /// The stream's name.
        stream: String,
        /// The 1-based batch of the stream (0: its declared schema).
        batch: u64,
        /// The first row (1-based, over the whole stream) of that batch,
        /// when it has one.
        row: Option<u64>,
        /// The column concerned, when one is.
        column: Option<String>,
        /// The stream's error, or what does not fit.
        #[source]
        source: BoxError,
    },
    /// A sink failed a whole batch (not single rows): the store is
    /// unreachable, the group does not exist, a target store is missing.
    #[error("sink failed writing {file}{}: {source}", at_row(*.first_row))]
    Sink {
        /// The source file of the batch.
        file: PathBuf,
        /// The first row of the batch.
        first_row: Option<u64>,
        /// The sink's error.
        #[source]
        source: BoxError,
    },
    /// The checkpoint file is unreadable or was made by a different ingest
    /// (another group, shard, or changed input files).
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// An option is invalid.
    #[error("invalid option {option}: {reason}")]
    Options {
        /// The option's name in [`crate::IngestOptions`].
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// Strict mode: the first failed row stopped the ingest. The rows
    /// before it were written; `report` says what was done.
    #[error("strict mode: stopped at the first failure: {failure}")]
    Strict {
        /// The failure that stopped the run.
        failure: Box<Failure>,
        /// What was done before it.
        report: Box<IngestReport>,
    },
    /// More rows failed than `max_failures` allows; `report` says what was done.
    #[error("more than {limit} rows failed; stopped (last: {})", report.failures.last().map(|f| f.to_string()).unwrap_or_default())]
    TooManyFailures {
        /// The limit.
        limit: u64,
        /// What was done before stopping.
        report: Box<IngestReport>,
    },
    /// An error stopped the run part way; `report` says what was done
    /// (and, with a checkpoint, a resumed run goes on from there).
    #[error("ingest stopped after {} rows written: {source}", report.rows_written)]
    Stopped {
        /// Why.
        #[source]
        source: Box<Error>,
        /// What was done before it.
        report: Box<IngestReport>,
    },
}

fn at_batch(batch: u64, row: Option<u64>) -> String {
    match batch {
        0 => "its schema".to_owned(),
        b => format!("batch {b}{}", at_row(row)),
    }
}

fn at_row(row: Option<u64>) -> String {
    row.map(|r| format!(", row {r}")).unwrap_or_default()
}

impl Error {
    /// The report of what a stopped run did ([`Error::Strict`],
    /// [`Error::TooManyFailures`], [`Error::Stopped`]).
    pub fn report(&self) -> Option<&IngestReport> {
        match self {
            Error::Strict { report, .. }
            | Error::TooManyFailures { report, .. }
            | Error::Stopped { report, .. } => Some(report),
            _ => None,
        }
    }

    /// The file the error is about, if it is about one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. } => Some(path),
            Error::Read { file, .. } | Error::Schema { file, .. } | Error::Sink { file, .. } => {
                Some(file)
            }
            Error::Strict { failure, .. } => Some(&failure.file),
            Error::Stopped { source, .. } => source.file(),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn read(
        file: impl Into<PathBuf>,
        row: Option<u64>,
    ) -> impl FnOnce(BoxError) -> Error {
        let file = file.into();
        move |source| Error::Read { file, row, source }
    }

    pub(crate) fn schema(file: impl Into<PathBuf>, source: fs_schema::Error) -> Error {
        let column = match &source {
            fs_schema::Error::UnknownFeature { feature, .. } => Some(feature.clone()),
            fs_schema::Error::MissingColumn { column, .. }
            | fs_schema::Error::IncompatibleColumn { column, .. }
            | fs_schema::Error::UnsupportedArrowType { column, .. } => Some(column.clone()),
            _ => None,
        };
        Error::Schema {
            file: file.into(),
            column,
            source: Box::new(source),
        }
    }

    /// A stream error from a cast of the group's (a column that does not
    /// fit), naming the column when fs-schema does.
    pub(crate) fn stream_schema(
        stream: &str,
        batch: u64,
        row: Option<u64>,
        source: fs_schema::Error,
    ) -> Error {
        let Error::Schema { column, source, .. } = Error::schema(PathBuf::new(), source) else {
            unreachable!("Error::schema makes a schema error")
        };
        Error::Stream {
            stream: stream.to_owned(),
            batch,
            row,
            column,
            source,
        }
    }

    pub(crate) fn options(option: &'static str, reason: impl Into<String>) -> Error {
        Error::Options {
            option,
            reason: reason.into(),
        }
    }
}
