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
}
