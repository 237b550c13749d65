//! The error type of fs-online.

use fs_retry::{Classify, RetryClass};

/// The result type of fs-online.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an online store call can fail with. The kinds follow the service's
/// errors, so that callers (and retries) can match on them whatever the
/// backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The feature group does not exist (ResourceNotFound).
    #[error("feature group {group:?} not found")]
    GroupNotFound {
        /// The group.
        group: String,
    },
    /// The call's input is invalid (ValidationError): a bad record, an
    /// unknown feature, a delete that is not newer, a store the group lacks.
    #[error("{message}")]
    Validation {
        /// What is wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The service asked us to slow down (ThrottlingException); retryable.
    #[error("throttled: {message}")]
    Throttled {
        /// The service's message.
        message: String,
    },
    /// A transient failure (5xx, timeout, connection); retryable.
    #[error("transient failure: {message}")]
    Transient {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Anything else: storage failures, corrupt data, denied access.
    #[error("{message}")]
    Other {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// True when the same call may succeed if retried (throttling and
    /// transient failures; see [`Classify`]).
    pub fn is_retryable(&self) -> bool {
        self.retry_class().is_retryable()
    }

    /// True for [`Error::GroupNotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::GroupNotFound { .. })
    }

    /// True for [`Error::Validation`].
    pub fn is_validation(&self) -> bool {
        matches!(self, Error::Validation { .. })
    }
}

/// How a call that failed with this error is retried: after
/// [`Error::Throttled`] (refused, not applied) and [`Error::Transient`]
/// (a 5xx, a timeout, a lost connection: it may have been applied); never
/// after the others.
impl Classify for Error {
    fn retry_class(&self) -> RetryClass {
        match self {
            Error::Throttled { .. } => RetryClass::Throttled,
            Error::Transient { .. } => RetryClass::Transient,
            _ => RetryClass::Permanent,
        }
    }
}

impl From<fs_schema::Error> for Error {
    fn from(e: fs_schema::Error) -> Self {
        Error::Validation {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

#[cfg(feature = "local")]
impl From<fs_local::Error> for Error {
    fn from(e: fs_local::Error) -> Self {
        match e {
            fs_local::Error::GroupNotFound { group } => Error::GroupNotFound { group },
            e if e.is_validation() => Error::Validation {
                message: e.to_string(),
                source: Some(Box::new(e)),
            },
            e => Error::Other {
                message: e.to_string(),
                source: Some(Box::new(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_and_transient_errors_retry_and_only_transient_is_unknown() {
        let message = String::new;
        let cases = [
            (
                Error::GroupNotFound { group: message() },
                RetryClass::Permanent,
            ),
            (
                Error::Validation {
                    message: message(),
                    source: None,
                },
                RetryClass::Permanent,
            ),
            (
                Error::Throttled { message: message() },
                RetryClass::Throttled,
            ),
            (
                Error::Transient {
                    message: message(),
                    source: None,
                },
                RetryClass::Transient,
            ),
            (
                Error::Other {
                    message: message(),
                    source: None,
                },
                RetryClass::Permanent,
            ),
        ];
        for (error, class) in cases {
            assert_eq!(error.retry_class(), class, "{error:?}");
            assert_eq!(error.is_retryable(), class.is_retryable(), "{error:?}");
        }
    }
}
