//! Errors in the shapes the AWS SDKs parse.
//!
//! Both protocols carry the error code in the `x-amzn-ErrorType` header and
//! in the body's `__type`, with the message in `Message`, so that every SDK
//! (Rust, boto3, ...) matches the modeled error and its retry classifier
//! sees throttling (`ThrottlingException`) and transient (5xx) answers.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer of the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The service's error code (`ResourceNotFound`, `ValidationError`...).
    pub code: &'static str,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// 404 `ResourceNotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "ResourceNotFound",
            message: message.into(),
        }
    }

    /// 400 with the runtime API's validation code, `ValidationError`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationError",
            message: message.into(),
        }
    }

    /// 403 `AccessForbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "AccessForbidden",
            message: message.into(),
        }
    }

    /// 400 `ThrottlingException` (retryable).
    pub fn throttling(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "ThrottlingException",
            message: message.into(),
        }
    }

    /// 503 `ServiceUnavailable` (retryable).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "ServiceUnavailable",
            message: message.into(),
        }
    }

    /// 500 `InternalFailure` (retryable).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailure",
            message: message.into(),
        }
    }

    /// The same error with the control plane's code names
    /// (`ValidationException`, `ResourceNotFound`, `ResourceInUse`).
    pub(crate) fn for_control_plane(mut self) -> Self {
        if self.code == "ValidationError" {
            self.code = "ValidationException";
        }
        self
    }

    /// Maps an embedded-store error to the answer the service would give.
    pub(crate) fn from_store(e: fs_local::Error) -> Self {
        match &e {
            fs_local::Error::GroupNotFound { .. } => Self::not_found(e.to_string()),
            fs_local::Error::GroupExists { .. } => Self {
                status: StatusCode::BAD_REQUEST,
                code: "ResourceInUse",
                message: e.to_string(),
            },
            fs_local::Error::Locked { .. } => Self::unavailable(e.to_string()),
            e if e.is_validation() => Self::validation(e.to_string()),
            _ => Self::internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code, "Message": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        response
    }
}
