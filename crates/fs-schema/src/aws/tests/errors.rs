//! Mapping SDK errors to [`AwsError`]: kinds, retryability, messages.

use std::error::Error as StdError;

use aws_sdk_sagemaker::error::{ErrorMetadata, SdkError};
use aws_sdk_sagemaker::operation::create_feature_group::CreateFeatureGroupError;
use aws_sdk_sagemaker::operation::describe_feature_group::DescribeFeatureGroupError;
use aws_sdk_sagemaker::operation::list_feature_groups::ListFeatureGroupsError;
use aws_sdk_sagemaker::types::error::{ResourceInUse, ResourceLimitExceeded, ResourceNotFound};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use super::super::{AwsError, AwsErrorKind};

fn response(status: u16) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(message)
        .custom("aws_request_id", "req-123")
        .build()
}

fn generic(code: &str, status: u16) -> AwsError {
    let e = ListFeatureGroupsError::generic(meta(code, "boom"));
    AwsError::from_sdk(
        "ListFeatureGroups",
        SdkError::service_error(e, response(status)),
    )
}

#[test]
fn modeled_errors_keep_code_message_status_and_source() {
    let e = CreateFeatureGroupError::ResourceInUse(
        ResourceInUse::builder()
            .message("Resource Already Exists: FeatureGroup with name users already exists")
            .meta(meta(
                "ResourceInUse",
                "Resource Already Exists: FeatureGroup with name users already exists",
            ))
            .build(),
    );
    let err = AwsError::from_sdk(
        "CreateFeatureGroup",
        SdkError::service_error(e, response(400)),
    );
    assert_eq!(err.kind, AwsErrorKind::ResourceInUse);
    assert_eq!(err.code.as_deref(), Some("ResourceInUse"));
    assert_eq!(err.http_status, Some(400));
    assert_eq!(err.request_id.as_deref(), Some("req-123"));
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "CreateFeatureGroup failed (ResourceInUse): ResourceInUse: Resource Already Exists: \
         FeatureGroup with name users already exists"
    );
    // The SDK error is kept as the source, not flattened.
    let source = StdError::source(&err).unwrap();
    assert!(
        source
            .downcast_ref::<SdkError<CreateFeatureGroupError, HttpResponse>>()
            .is_some()
    );

    let e = DescribeFeatureGroupError::ResourceNotFound(
        ResourceNotFound::builder()
            .message("Resource Not Found: Amazon SageMaker can't find a FeatureGroup")
            .meta(meta("ResourceNotFound", "Resource Not Found"))
            .build(),
    );
    let err = AwsError::from_sdk(
        "DescribeFeatureGroup",
        SdkError::service_error(e, response(400)),
    );
    assert_eq!(err.kind, AwsErrorKind::NotFound);
    assert!(err.is_not_found());

    let e = CreateFeatureGroupError::ResourceLimitExceeded(
        ResourceLimitExceeded::builder()
            .meta(meta("ResourceLimitExceeded", "too many groups"))
            .build(),
    );
    let err = AwsError::from_sdk(
        "CreateFeatureGroup",
        SdkError::service_error(e, response(400)),
    );
    assert_eq!(err.kind, AwsErrorKind::LimitExceeded);
}

#[test]
fn codes_and_statuses_map_to_kinds() {
    let cases = [
        ("ValidationException", 400, AwsErrorKind::Validation, false),
        ("ValidationError", 400, AwsErrorKind::Validation, false),
        ("ConflictException", 409, AwsErrorKind::Conflict, false),
        (
            "AccessDeniedException",
            400,
            AwsErrorKind::AccessDenied,
            false,
        ),
        (
            "ExpiredTokenException",
            400,
            AwsErrorKind::AccessDenied,
            false,
        ),
        ("ThrottlingException", 400, AwsErrorKind::Throttled, true),
        ("Throttling", 400, AwsErrorKind::Throttled, true),
        (
            "TooManyRequestsException",
            400,
            AwsErrorKind::Throttled,
            true,
        ),
        ("ServiceUnavailable", 503, AwsErrorKind::Transient, true),
        ("InternalFailure", 500, AwsErrorKind::Transient, true),
        // Unknown codes fall back on the status.
        ("SomethingNew", 503, AwsErrorKind::Transient, true),
        ("SomethingNew", 429, AwsErrorKind::Throttled, true),
        ("SomethingNew", 404, AwsErrorKind::NotFound, false),
        ("SomethingNew", 403, AwsErrorKind::AccessDenied, false),
        ("SomethingNew", 400, AwsErrorKind::Other, false),
        // A known code wins over the status.
        ("ResourceNotFound", 500, AwsErrorKind::NotFound, false),
    ];
    for (code, status, kind, retryable) in cases {
        let err = generic(code, status);
        assert_eq!(err.kind, kind, "{code} / {status}");
        assert_eq!(err.is_retryable(), retryable, "{code} / {status}");
        assert_eq!(err.code.as_deref(), Some(code));
        assert!(err.to_string().contains(code), "{err}");
        assert!(err.to_string().contains("boom"), "{err}");
    }
}

#[test]
fn a_5xx_without_metadata_is_transient() {
    let e = ListFeatureGroupsError::generic(ErrorMetadata::builder().build());
    let err = AwsError::from_sdk(
        "ListFeatureGroups",
        SdkError::service_error(e, response(502)),
    );
    assert_eq!(err.kind, AwsErrorKind::Transient);
    assert!(err.message.contains("502"), "{err}");
}

#[test]
fn failures_before_a_response() {
    let err = AwsError::from_sdk(
        "DescribeFeatureGroup",
        SdkError::<DescribeFeatureGroupError, HttpResponse>::timeout_error(
            "read timed out after 3s",
        ),
    );
    assert_eq!(err.kind, AwsErrorKind::Transient);
    assert!(err.is_retryable());
    assert!(err.message.contains("read timed out after 3s"), "{err}");
    assert_eq!(err.http_status, None);

    let io = SdkError::<DescribeFeatureGroupError, HttpResponse>::dispatch_failure(
        ConnectorError::io("connection reset by peer".into()),
    );
    let err = AwsError::from_sdk("DescribeFeatureGroup", io);
    assert_eq!(err.kind, AwsErrorKind::Transient);
    assert!(err.message.contains("connection reset by peer"), "{err}");

    let connect_timeout = SdkError::<DescribeFeatureGroupError, HttpResponse>::dispatch_failure(
        ConnectorError::timeout("connect timeout".into()),
    );
    assert_eq!(
        AwsError::from_sdk("X", connect_timeout).kind,
        AwsErrorKind::Transient
    );

    // How the SDK reports a credentials failure: an unclassified dispatch failure.
    let no_creds = SdkError::<DescribeFeatureGroupError, HttpResponse>::dispatch_failure(
        ConnectorError::other("no credentials in the provider chain".into(), None),
    );
    let err = AwsError::from_sdk("DescribeFeatureGroup", no_creds);
    assert_eq!(err.kind, AwsErrorKind::Other);
    assert!(!err.is_retryable());

    let built = SdkError::<DescribeFeatureGroupError, HttpResponse>::construction_failure(
        "FeatureGroupName was not specified",
    );
    let err = AwsError::from_sdk("DescribeFeatureGroup", built);
    assert_eq!(err.kind, AwsErrorKind::Other);
    assert!(err.message.contains("FeatureGroupName"), "{err}");

    let unreadable = SdkError::<DescribeFeatureGroupError, HttpResponse>::response_error(
        "unexpected end of body",
        response(200),
    );
    let err = AwsError::from_sdk("DescribeFeatureGroup", unreadable);
    assert_eq!(err.kind, AwsErrorKind::Transient);
    assert_eq!(err.http_status, Some(200));
}

#[test]
fn converts_into_the_crate_error() {
    let err: crate::Error = generic("ThrottlingException", 400).into();
    assert!(err.is_retryable());
    let err: crate::Error = generic("ValidationException", 400).into();
    assert!(!err.is_retryable());
}
