//! Errors of Athena executions: each names the query execution (when there
//! is one), the S3 object, the row and column, as far as they are known.

use std::time::Duration;

use fs_schema::aws_error::AwsError;

use super::QueryState;

/// A `Result` with [`AthenaError`].
pub type AthenaResult<T, E = AthenaError> = std::result::Result<T, E>;

/// What went wrong running a query on Athena or reading its results.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AthenaError {
    /// The engine's options or an argument cannot work (an output location
    /// that is not `s3://…`, a page size out of range, ...).
    #[error("invalid Athena configuration: {0}")]
    Config(String),
    /// An Athena API call failed.
    #[error("{}{source}", query_prefix(.query_id))]
    Api {
        /// The query execution the call was about, if it had started.
        query_id: Option<String>,
        /// The classified SDK error (operation, kind, code, message).
        #[source]
        source: Box<AwsError>,
    },
    /// The query ended `FAILED` or `CANCELLED`.
    #[error("Athena query {query_id} ended {state}: {}", reason.as_deref().unwrap_or("Athena gave no reason"))]
    QueryFailed {
        /// The query execution.
        query_id: String,
        /// `Failed` or `Cancelled`.
        state: QueryState,
        /// Athena's `StateChangeReason` (or, failing that, its
        /// `AthenaError.ErrorMessage`).
        reason: Option<String>,
        /// Athena's error category (1 system, 2 user, 3 other), when given.
        error_category: Option<i32>,
        /// Athena's error type code, when given.
        error_type: Option<i32>,
    },
    /// The query did not finish before the deadline; it was asked to stop.
    #[error(
        "Athena query {query_id} did not finish within {deadline:?} (last state {last_state}); {}",
        if *.stopped { "StopQueryExecution was called" } else { "StopQueryExecution failed too; the query may still run" }
    )]
    Timeout {
        /// The query execution.
        query_id: String,
        /// The deadline that passed.
        deadline: Duration,
        /// The last state seen.
        last_state: QueryState,
        /// Whether StopQueryExecution succeeded.
        stopped: bool,
    },
    /// A value of a GetQueryResults page cannot be read as its column's type.
    #[error(transparent)]
    Value(Box<BadValue>),
    /// The result's columns do not match the expected schema.
    #[error("Athena query {query_id}: {reason}")]
    Schema {
        /// The query execution.
        query_id: String,
        /// What does not match (names, counts and types).
        reason: String,
    },
    /// An S3 call on the UNLOAD output failed.
    #[error("Athena query {query_id}: {uri}: {source}")]
    S3 {
        /// The query execution.
        query_id: String,
        /// The object or prefix (`s3://bucket/key`).
        uri: String,
        /// The classified SDK error.
        #[source]
        source: Box<AwsError>,
    },
    /// An UNLOAD output object is not readable Parquet, or its columns
    /// cannot be cast to the expected schema.
    #[error("Athena query {query_id}: {uri}: {reason}")]
    Parquet {
        /// The query execution.
        query_id: String,
        /// The object (`s3://bucket/key`).
        uri: String,
        /// What went wrong.
        reason: String,
    },
}

/// A result value that cannot be read as its column's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Athena query {query_id}: result row {row}, column `{column}` ({athena_type}): {value:?} {reason}"
)]
#[non_exhaustive]
pub struct BadValue {
    /// The query execution.
    pub query_id: String,
    /// The row's number in the result (0 is the first data row).
    pub row: u64,
    /// The column's name.
    pub column: String,
    /// The column's Athena type.
    pub athena_type: String,
    /// The text Athena returned.
    pub value: String,
    /// Why it cannot be read.
    pub reason: String,
}

fn query_prefix(query_id: &Option<String>) -> String {
    match query_id {
        Some(id) => format!("Athena query {id}: "),
        None => String::new(),
    }
}

impl AthenaError {
    /// The query execution this error is about, if any.
    pub fn query_id(&self) -> Option<&str> {
        match self {
            AthenaError::Api { query_id, .. } => query_id.as_deref(),
            AthenaError::QueryFailed { query_id, .. }
            | AthenaError::Timeout { query_id, .. }
            | AthenaError::Schema { query_id, .. }
            | AthenaError::S3 { query_id, .. }
            | AthenaError::Parquet { query_id, .. } => Some(query_id),
            AthenaError::Value(v) => Some(&v.query_id),
            AthenaError::Config(_) => None,
        }
    }
}
