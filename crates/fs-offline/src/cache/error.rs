//! Errors of the S3 cache: each names the S3 object (or prefix), the local
//! path and the cause. None ever holds credentials: S3 errors keep the
//! service's code and message only.

use std::path::PathBuf;

use fs_retry::{Classify, RetryClass};
use fs_schema::aws_error::AwsError;

/// A `Result` with the cache's [`CacheError`].
pub type CacheResult<T, E = CacheError> = std::result::Result<T, E>;

/// What went wrong in the S3 cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// A string that is not an `s3://bucket/prefix` URI.
    #[error("invalid S3 URI {uri:?}: {reason}")]
    InvalidUri {
        /// The string given.
        uri: String,
        /// Why it was refused.
        reason: String,
    },
    /// An object key that cannot be mirrored safely under the cache
    /// directory (an empty, `.` or `..` path segment, a NUL, or a name the
    /// cache reserves for its temporary files).
    #[error("s3://{bucket}/{key}: the key cannot be stored in the cache: {reason}")]
    UnsafeKey {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// A local file-system operation failed.
    #[error("{action} {path}{}: {source}", object_suffix(.object))]
    Io {
        /// What was being done (`creating`, `renaming`, `reading`, ...).
        action: &'static str,
        /// The local path.
        path: PathBuf,
        /// The S3 object (`s3://bucket/key`) the file holds, if any.
        object: Option<String>,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An S3 call failed.
    #[error("{uri}: {source}")]
    S3 {
        /// The object (`s3://bucket/key`) or prefix the call was about.
        uri: String,
        /// The classified SDK error (operation, kind, code, message).
        #[source]
        source: Box<AwsError>,
    },
    /// Reading an object's body from S3 failed part way.
    #[error(
        "{uri}: reading the object's body failed after {received} bytes (local file {path}): {source}"
    )]
    Body {
        /// The object (`s3://bucket/key`).
        uri: String,
        /// The temporary file being written.
        path: PathBuf,
        /// Bytes received before the failure.
        received: u64,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A downloaded or cached file whose size or checksum is not the
    /// object's.
    #[error("{uri} -> {path}: {reason}")]
    Verification {
        /// The object (`s3://bucket/key`).
        uri: String,
        /// The local path.
        path: PathBuf,
        /// What did not match (expected and actual values).
        reason: String,
    },
    /// The manifest could not be read.
    #[error("cache manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// [`Cache::open_for_read`](super::Cache::open_for_read) of a prefix no
    /// completed sync covers.
    #[error("{uri} is not in the cache at {path}: sync it first")]
    NotSynced {
        /// The prefix asked for.
        uri: String,
        /// The cache directory.
        path: PathBuf,
    },
    /// A prefix larger than the cache's size budget.
    #[error("{uri} holds {needed} bytes, more than the cache's budget of {budget} bytes ({path})")]
    OverBudget {
        /// The prefix being synced.
        uri: String,
        /// The cache directory.
        path: PathBuf,
        /// The bytes the prefix needs.
        needed: u64,
        /// The budget.
        budget: u64,
    },
    /// Some objects of a sync could not be fetched; the others were, and
    /// the next sync retries these.
    #[error("{uri}: {failed} of {wanted} objects could not be fetched; the first failure: {first}")]
    Incomplete {
        /// The prefix being synced.
        uri: String,
        /// How many objects failed.
        failed: usize,
        /// How many objects were to be fetched.
        wanted: usize,
        /// The first failure.
        #[source]
        first: Box<CacheError>,
    },
}

fn object_suffix(object: &Option<String>) -> String {
    match object {
        Some(o) => format!(" (holding {o})"),
        None => String::new(),
    }
}

impl CacheError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        CacheError::Io {
            action,
            path: path.into(),
            object: None,
            source,
        }
    }

    pub(crate) fn io_object(
        action: &'static str,
        path: impl Into<PathBuf>,
        object: &str,
        source: std::io::Error,
    ) -> Self {
        CacheError::Io {
            action,
            path: path.into(),
            object: Some(object.to_owned()),
            source,
        }
    }

    /// The failure of S3 operation `op` (`"GetObject"`, ...) on `uri`.
    pub(crate) fn s3<E>(
        op: &'static str,
        uri: impl Into<String>,
        e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        CacheError::S3 {
            uri: uri.into(),
            source: Box::new(AwsError::from_sdk(op, e)),
        }
    }

    /// True when retrying the same operation may succeed: a throttled or
    /// transient S3 error, a body cut short, or a download whose checksum did
    /// not match.
    pub fn is_retryable(&self) -> bool {
        self.retry_class().is_retryable()
    }
}

/// How a failed download is retried: an S3 error by its kind (throttled,
/// transient, else permanent); a body cut short or a checksum mismatch as
/// transient (the download is simply made again); anything else (local
/// I/O, an unsafe key, the budget) not at all.
impl Classify for CacheError {
    fn retry_class(&self) -> RetryClass {
        match self {
            CacheError::S3 { source, .. } => source.retry_class(),
            CacheError::Body { .. } | CacheError::Verification { .. } => RetryClass::Transient,
            _ => RetryClass::Permanent,
        }
    }
}
