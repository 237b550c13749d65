//! Errors of AWS SDK calls: every failed call becomes an [`AwsError`]
//! that keeps the operation, a classified [`AwsErrorKind`], the service's
//! error code and message, and the original error as its source.

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ErrorKind as RetryErrorKind;
use aws_types::request_id::RequestId;

/// A failed control-plane call, or a wait that ended without the awaited
/// status.
///
/// Displays as `<Operation> failed (<Kind>): <message>`, e.g.
/// `CreateFeatureGroup failed (ResourceInUse): ResourceInUse: Resource Already Exists: ...`.
/// Neither the message nor the source ever holds credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{operation} failed ({kind}): {message}")]
pub struct AwsError {
    /// The API operation (`CreateFeatureGroup`, `DescribeFeatureGroup`, ...)
    /// or, for waits, the waiting method (`WaitForStatus`, `WaitForDeleted`,
    /// `WaitForUpdate`).
    pub operation: &'static str,
    /// What went wrong, classified from the error code and HTTP status.
    pub kind: AwsErrorKind,
    /// The service's error code and message (`Code: message`), or a
    /// description of the client-side failure.
    pub message: String,
    /// The service's error code (`ResourceNotFound`, `ThrottlingException`, ...), when one was returned.
    pub code: Option<String>,
    /// The HTTP status of the response, when one was received.
    pub http_status: Option<u16>,
    /// The AWS request ID, when one was returned; quote it to AWS support.
    pub request_id: Option<String>,
    /// The underlying error (the SDK's error, with its own source chain);
    /// `None` for wait failures, which have no underlying error.
    #[source]
    pub source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// The class of an [`AwsError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// The feature group (or other resource) does not exist (`ResourceNotFound`).
    NotFound,
    /// The service rejected the request's parameters (`ValidationException`, `ValidationError`).
    Validation,
    /// The resource exists or is busy (`ResourceInUse`), e.g. creating a
    /// group whose name is taken.
    ResourceInUse,
    /// An account quota was reached (`ResourceLimitExceeded`).
    LimitExceeded,
    /// The request conflicts with the resource's state (`ConflictException`).
    Conflict,
    /// The caller may not make the call, or its credentials were refused
    /// (`AccessDeniedException`, expired or invalid tokens, bad signatures).
    AccessDenied,
    /// The request was throttled (`ThrottlingException`, `Throttling`,
    /// `TooManyRequestsException`, HTTP 429); retry after a back-off.
    Throttled,
    /// A transient failure: HTTP 5xx, `ServiceUnavailable`,
    /// `InternalFailure`, a request timeout, an I/O failure while sending, or
    /// an unreadable response; retrying may succeed.
    Transient,
    /// A wait (`ControlPlane::wait_for_status`
    /// and friends) ran out of time before the awaited status was reached.
    /// Request-level timeouts are [`Transient`](Self::Transient).
    WaitTimeout,
    /// A wait ended because the group reached a failed status
    /// (`CreateFailed`, `DeleteFailed`, or a failed update).
    StatusFailed,
    /// Anything else: an unknown error code, a request that could not be
    /// built, no credentials, an endpoint that could not be resolved.
    Other,
}

impl AwsErrorKind {
    /// The kind's name, as shown in an [`AwsError`]'s message.
    pub fn as_str(&self) -> &'static str {
        match self {
            AwsErrorKind::NotFound => "NotFound",
            AwsErrorKind::Validation => "Validation",
            AwsErrorKind::ResourceInUse => "ResourceInUse",
            AwsErrorKind::LimitExceeded => "LimitExceeded",
            AwsErrorKind::Conflict => "Conflict",
            AwsErrorKind::AccessDenied => "AccessDenied",
            AwsErrorKind::Throttled => "Throttled",
            AwsErrorKind::Transient => "Transient",
            AwsErrorKind::WaitTimeout => "WaitTimeout",
            AwsErrorKind::StatusFailed => "StatusFailed",
            AwsErrorKind::Other => "Other",
        }
    }

    /// True for [`Throttled`](Self::Throttled) and [`Transient`](Self::Transient).
    pub fn is_retryable(&self) -> bool {
        matches!(self, AwsErrorKind::Throttled | AwsErrorKind::Transient)
    }

    /// Classifies a service error code, falling back on the HTTP status when
    /// the code is absent or unknown.
    pub fn classify(code: Option<&str>, http_status: Option<u16>) -> Self {
        code.and_then(Self::from_code)
            .or_else(|| http_status.and_then(Self::from_status))
            .unwrap_or(AwsErrorKind::Other)
    }

    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "ResourceNotFound" | "ResourceNotFoundException" | "NotFound" | "NotFoundException" => {
                AwsErrorKind::NotFound
            }
            "ValidationException"
            | "ValidationError"
            | "InvalidParameterValue"
            | "InvalidParameterValueException"
            | "InvalidParameterException"
            | "InvalidParameterCombination"
            | "MissingParameter"
            | "SerializationException" => AwsErrorKind::Validation,
            "ResourceInUse" | "ResourceInUseException" => AwsErrorKind::ResourceInUse,
            "ResourceLimitExceeded"
            | "ResourceLimitExceededException"
            | "LimitExceededException"
            | "ServiceQuotaExceededException" => AwsErrorKind::LimitExceeded,
            "ConflictException" | "Conflict" => AwsErrorKind::Conflict,
            "AccessDeniedException"
            | "AccessDenied"
            | "UnauthorizedOperation"
            | "NotAuthorized"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
            | "MissingAuthenticationTokenException" => AwsErrorKind::AccessDenied,
            // The SDK's own list of throttling codes, plus TooManyRequestsException.
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestThrottledException"
            | "RequestThrottled"
            | "RequestLimitExceeded"
            | "ProvisionedThroughputExceededException"
            | "BandwidthLimitExceeded"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "TransactionInProgressException"
            | "EC2ThrottledException" => AwsErrorKind::Throttled,
            "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "InternalFailure"
            | "InternalError"
            | "InternalServerError"
            | "InternalServerException"
            | "InternalServiceError"
            | "RequestTimeout"
            | "RequestTimeoutException" => AwsErrorKind::Transient,
            _ => return None,
        })
    }

    fn from_status(status: u16) -> Option<Self> {
        Some(match status {
            429 => AwsErrorKind::Throttled,
            500..=599 => AwsErrorKind::Transient,
            404 => AwsErrorKind::NotFound,
            401 | 403 => AwsErrorKind::AccessDenied,
            409 => AwsErrorKind::Conflict,
            408 => AwsErrorKind::Transient,
            _ => return None,
        })
    }
}

impl fmt::Display for AwsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AwsError {
    /// An error with no underlying SDK error (used for waits).
    pub fn new(operation: &'static str, kind: AwsErrorKind, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind,
            message: message.into(),
            code: None,
            http_status: None,
            request_id: None,
            source: None,
        }
    }

    /// Maps any SDK error to an [`AwsError`], classifying it by the service's
    /// error code first and the HTTP status second (see [`AwsErrorKind`]).
    ///
    /// Failures before a response: a timeout or an I/O failure while sending
    /// is [`Transient`](AwsErrorKind::Transient); a request that could not be
    /// built, or a failure to resolve credentials or the endpoint (which the
    /// SDK reports as an unclassified dispatch failure and does not retry), is
    /// [`Other`](AwsErrorKind::Other). A response that could not be parsed is
    /// classified by its status, and is `Transient` if that says nothing.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let request_id = err
            .request_id()
            .or_else(|| RequestId::request_id(ProvideErrorMetadata::meta(&err)))
            .map(str::to_owned);
        let http_status = err.raw_response().map(|r| r.status().as_u16());
        let (kind, code, message) = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_owned);
                let kind = AwsErrorKind::classify(code.as_deref(), http_status);
                let message = match (e.code(), e.message()) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c.to_owned(),
                    (None, Some(m)) => m.to_owned(),
                    (None, None) => match http_status {
                        Some(s) => format!("HTTP {s}: {}", chain(e)),
                        None => chain(e),
                    },
                };
                (kind, code, message)
            }
            SdkError::TimeoutError(_) => (
                AwsErrorKind::Transient,
                None,
                format!("the request timed out: {}", source_chain(&err)),
            ),
            SdkError::DispatchFailure(d) => {
                let kind = d
                    .as_connector_error()
                    .map(connector_kind)
                    .unwrap_or(AwsErrorKind::Other);
                (
                    kind,
                    None,
                    format!("the request could not be sent: {}", source_chain(&err)),
                )
            }
            SdkError::ResponseError(_) => (
                http_status
                    .and_then(AwsErrorKind::from_status)
                    .unwrap_or(AwsErrorKind::Transient),
                None,
                format!(
                    "the response{} could not be read: {}",
                    http_status
                        .map(|s| format!(" (HTTP {s})"))
                        .unwrap_or_default(),
                    source_chain(&err)
                ),
            ),
            SdkError::ConstructionFailure(_) => (
                AwsErrorKind::Other,
                None,
                format!("the request could not be built: {}", source_chain(&err)),
            ),
            _ => (AwsErrorKind::Other, None, chain(&err)),
        };
        Self {
            operation,
            kind,
            message,
            code,
            http_status,
            request_id,
            source: Some(Box::new(err)),
        }
    }

    /// True when retrying the same call may succeed: the kind is
    /// [`Throttled`](AwsErrorKind::Throttled) or
    /// [`Transient`](AwsErrorKind::Transient).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// True when the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind == AwsErrorKind::NotFound
    }
}

/// The retry class of a kind: [`Throttled`](AwsErrorKind::Throttled) was
/// refused (not applied), [`Transient`](AwsErrorKind::Transient) may have
/// been applied, anything else is permanent.
impl fs_retry::Classify for AwsErrorKind {
    fn retry_class(&self) -> fs_retry::RetryClass {
        match self {
            AwsErrorKind::Throttled => fs_retry::RetryClass::Throttled,
            AwsErrorKind::Transient => fs_retry::RetryClass::Transient,
            _ => fs_retry::RetryClass::Permanent,
        }
    }
}

/// The retry class of the error's [`kind`](AwsError::kind).
impl fs_retry::Classify for AwsError {
    fn retry_class(&self) -> fs_retry::RetryClass {
        self.kind.retry_class()
    }
}

fn connector_kind(e: &ConnectorError) -> AwsErrorKind {
    if e.is_timeout() || e.is_io() {
        AwsErrorKind::Transient
    } else if e.is_user() {
        AwsErrorKind::Other
    } else {
        match e.as_other() {
            Some(RetryErrorKind::ThrottlingError) => AwsErrorKind::Throttled,
            Some(RetryErrorKind::TransientError | RetryErrorKind::ServerError) => {
                AwsErrorKind::Transient
            }
            _ => AwsErrorKind::Other,
        }
    }
}

/// The error's own message followed by its sources', joined by `: `.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

/// The messages of the error's sources (skipping the SDK's generic
/// top-level "dispatch failure" / "request has timed out").
fn source_chain(e: &(dyn StdError + 'static)) -> String {
    match e.source() {
        Some(s) => chain(s),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use fs_retry::{Classify, RetryClass};

    use super::*;

    #[test]
    fn only_throttled_and_transient_kinds_are_retried_and_agree_with_is_retryable() {
        use AwsErrorKind::*;
        for kind in [
            NotFound,
            Validation,
            ResourceInUse,
            LimitExceeded,
            Conflict,
            AccessDenied,
            Throttled,
            Transient,
            WaitTimeout,
            StatusFailed,
            Other,
        ] {
            let expected = match kind {
                Throttled => RetryClass::Throttled,
                Transient => RetryClass::Transient,
                _ => RetryClass::Permanent,
            };
            let error = AwsError::new("PutRecord", kind, "x");
            assert_eq!(
                (kind.retry_class(), error.retry_class()),
                (expected, expected)
            );
            assert_eq!(expected.is_retryable(), error.is_retryable(), "{kind}");
        }
    }
}
