//! Errors of offline reads.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in an offline read, naming what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A dataset description that cannot be run: an unknown feature, a
    /// clashing output column, an empty time range, and so on.
    #[error("invalid dataset: {0}")]
    InvalidDataset(String),
    /// A feature-group definition problem reported by fs-schema.
    #[error(transparent)]
    Schema(#[from] fs_schema::Error),
    /// A local file or directory could not be read or written.
    #[error("{what} {path}: {source}")]
    LocalIo {
        /// What was being done (`listing`, `writing`, ...).
        what: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A local offline file could not be read, or holds a value the
    /// dataset cannot use (the message names the row group, row, column
    /// and value).
    #[error("reading {path}: {source}")]
    Input {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The embedded engine (DataFusion) failed planning or running a query.
    #[error("{context}: {source}")]
    Query {
        /// What was being done, naming the group, table or file.
        context: String,
        /// The engine's error.
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A dataset run on Athena failed (feature `athena`).
    #[cfg(feature = "athena")]
    #[error(transparent)]
    Athena(Box<crate::athena::AthenaError>),
    /// Describing a group the dataset reads failed (it does not exist, or
    /// the registry could not be reached).
    #[error(transparent)]
    Registry(#[from] fs_schema::registry::RegistryError),
    /// Syncing the S3 cache of a group the dataset reads failed (feature
    /// `s3`).
    #[cfg(feature = "s3")]
    #[error(transparent)]
    Cache(#[from] Box<crate::cache::CacheError>),
    /// The embedded engine needed more memory than its limit: a hash join's
    /// build side (which cannot spill) or a sort that could not spill
    /// enough. Raise [`EngineOptions::memory_limit`](crate::EngineOptions::memory_limit)
    /// (`dataset --memory-limit` on the command line) or narrow the dataset.
    #[error(
        "{context}: the embedded engine needs more memory than its limit{}; raise \
         EngineOptions::memory_limit (`dataset --memory-limit` on the command line), or narrow \
         the dataset (fewer features, an event-time range, as_of): {}",
        limit_text(*.limit),
        .source.find_root()
    )]
    OutOfMemory {
        /// What was being done, naming the group, table or file.
        context: String,
        /// The limit in bytes, when known where the error surfaced.
        limit: Option<usize>,
        /// The engine's error.
        source: Box<datafusion::error::DataFusionError>,
    },
    /// Writing an output file failed.
    #[error("writing {path}: {source}")]
    Output {
        /// The file being written.
        path: std::path::PathBuf,
        /// The cause (Parquet, CSV or Arrow).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[cfg(feature = "athena")]
impl From<crate::athena::AthenaError> for Error {
    fn from(e: crate::athena::AthenaError) -> Self {
        Error::Athena(Box::new(e))
    }
}

/// Maps a DataFusion error to [`Error::Query`] with `context`, or to
/// [`Error::OutOfMemory`] when the engine ran out of its memory pool.
pub(crate) fn query(
    context: impl Into<String>,
) -> impl FnOnce(datafusion::error::DataFusionError) -> Error {
    let context = context.into();
    move |e| from_datafusion(e, context, None)
}

/// A DataFusion error as this crate's, with `context` and the memory
/// `limit` the plan ran under (when known).
pub(crate) fn from_datafusion(
    e: datafusion::error::DataFusionError,
    context: String,
    limit: Option<usize>,
) -> Error {
    if matches!(
        e.find_root(),
        datafusion::error::DataFusionError::ResourcesExhausted(_)
    ) {
        return Error::OutOfMemory {
            context,
            limit,
            source: Box::new(e),
        };
    }
    Error::Query {
        context,
        source: Box::new(e),
    }
}

/// ` of N MiB`, or nothing when the limit is not known.
fn limit_text(limit: Option<usize>) -> String {
    limit.map_or_else(String::new, |l| format!(" of {}", bytes_text(l)))
}

/// `n` bytes for people: `3 MiB`, `64 KiB`, `900 bytes` (rounded down).
pub(crate) fn bytes_text(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}
