//! The error type of fs-local.

use std::path::PathBuf;

/// The result type of fs-local.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the embedded store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process (or another `Store` in this one) has the store open.
    #[error("the store {dir} is in use by another writer{}; close it or use another --store directory", holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Locked {
        /// The store directory.
        dir: PathBuf,
        /// What the lock file says about its holder (a process id).
        holder: Option<String>,
    },
    /// No feature group has this name.
    #[error("feature group {group:?} not found")]
    GroupNotFound {
        /// The name asked for.
        group: String,
    },
    /// A feature group with this name exists already.
    #[error("feature group {group:?} already exists")]
    GroupExists {
        /// The name.
        group: String,
    },
    /// A definition, record or value broke a rule of the data model.
    #[error("{0}")]
    Schema(Box<fs_schema::Error>),
    /// A record of a batch broke a rule; nothing of the batch was written.
    #[error("record {index}{} of feature group {group:?}: {source}", record_id.as_deref().map(|id| format!(" (identifier {id:?})")).unwrap_or_default())]
    InvalidRecord {
        /// The group.
        group: String,
        /// The record's position in the batch (0-based).
        index: usize,
        /// Its identifier, if it had one.
        record_id: Option<String>,
        /// The rule it broke.
        #[source]
        source: Box<fs_schema::Error>,
    },
    /// A call's arguments are invalid for this group (the service's ValidationError).
    #[error("{message}")]
    Validation {
        /// What is wrong, naming the group, record and feature.
        message: String,
    },
    /// The embedded database failed.
    #[error("database error while {context}: {source}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// redb's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// A file of the store could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An offline Parquet file could not be written.
    #[error("writing {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Parquet's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The transaction a write was committed in, together with concurrent
    /// writes, failed; nothing of it was written.
    #[error("the transaction committing this write failed: {message}")]
    CommitFailed {
        /// What failed.
        message: String,
    },
    /// A stored value does not cast to its feature's type. Casts of stored
    /// columns are strict: a value that does not fit fails here instead of
    /// becoming a null.
    #[error(transparent)]
    BadValue(Box<BadValue>),
    /// Stored bytes could not be decoded (the store was changed outside this library).
    #[error("corrupt store data: {what}")]
    Corrupt {
        /// What could not be decoded.
        what: String,
    },
}

impl From<fs_schema::Error> for Error {
    fn from(e: fs_schema::Error) -> Self {
        Error::Schema(Box::new(e))
    }
}

impl Error {
    /// True when the error means "no such feature group".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::GroupNotFound { .. })
    }

    /// True for invalid input (the service's ValidationError): schema rule
    /// violations and invalid call arguments.
    pub fn is_validation(&self) -> bool {
        matches!(
            self,
            Error::Schema(_) | Error::Validation { .. } | Error::InvalidRecord { .. }
        )
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Error::Validation {
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// Maps any redb error into [`Error::Database`] with what the store was doing.
pub(crate) fn db<E: Into<redb::Error>>(context: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Database {
        context,
        source: Box::new(e.into()),
    }
}

/// Where a value that does not cast to its feature's type was read, and
/// the value ([`Error::BadValue`]).
#[derive(Debug, thiserror::Error)]
#[error("{} ({entry}): column {column:?} of feature group {group:?}, row {row}: the value {value} does not cast to {to}: {source}", file.display())]
#[non_exhaustive]
pub struct BadValue {
    /// The file the value was read from.
    pub file: PathBuf,
    /// Where in that file (an outbox entry).
    pub entry: String,
    /// The feature group.
    pub group: String,
    /// The column (feature).
    pub column: String,
    /// The row within the entry (0-based): the first that fails.
    pub row: usize,
    /// The value, as Arrow displays it.
    pub value: String,
    /// The feature's Arrow type.
    pub to: String,
    /// Why the cast failed.
    #[source]
    pub source: arrow_schema::ArrowError,
}
