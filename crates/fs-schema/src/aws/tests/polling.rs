//! The waiting logic, with describe results fed in directly.

use std::cell::Cell;
use std::time::Duration;

use super::super::client::{Step, deleted_step, poll_until, status_step, update_step};
use super::*;

fn desc(status: FeatureGroupStatus) -> FeatureGroupDescription {
    FeatureGroupDescription {
        spec: offline_group(),
        arn: "arn:aws:sagemaker:us-east-1:123456789012:feature-group/customers".into(),
        status,
        creation_time: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        last_modified_time: None,
        failure_reason: None,
        offline_store_status: None,
        last_update_status: None,
        online_store_total_size_bytes: None,
        offline_data_dir: None,
    }
}

fn aws(err: Error) -> AwsError {
    match err {
        Error::Aws(e) => e,
        other => panic!("expected an AwsError, got {other:?}"),
    }
}

fn not_found() -> Error {
    Error::Aws(AwsError::new(
        "DescribeFeatureGroup",
        AwsErrorKind::NotFound,
        "ResourceNotFound: no such group",
    ))
}

#[test]
fn status_steps() {
    let target = FeatureGroupStatus::Created;
    assert!(matches!(
        status_step(desc(FeatureGroupStatus::Created), &target),
        Ok(Step::Done(_))
    ));
    assert!(matches!(
        status_step(desc(FeatureGroupStatus::Creating), &target),
        Ok(Step::Wait(s)) if s == "Creating"
    ));
    let mut failed = desc(FeatureGroupStatus::CreateFailed);
    failed.failure_reason = Some("the role cannot write to the bucket".into());
    let err = aws(status_step(failed, &target).unwrap_err());
    assert_eq!(err.kind, AwsErrorKind::StatusFailed);
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with("WaitForStatus failed (StatusFailed): "),
        "{text}"
    );
    assert!(
        text.contains("\"customers\"") && text.contains("CreateFailed"),
        "{text}"
    );
    assert!(
        text.contains("the role cannot write to the bucket"),
        "{text}"
    );
    // Waiting for a failed status is allowed.
    let target = FeatureGroupStatus::DeleteFailed;
    assert!(matches!(
        status_step(desc(FeatureGroupStatus::DeleteFailed), &target),
        Ok(Step::Done(_))
    ));
}

#[test]
fn deleted_steps() {
    assert!(matches!(deleted_step(Err(not_found())), Ok(Step::Done(()))));
    assert!(matches!(
        deleted_step(Ok(desc(FeatureGroupStatus::Deleting))),
        Ok(Step::Wait(s)) if s == "Deleting"
    ));
    let err = aws(deleted_step(Ok(desc(FeatureGroupStatus::DeleteFailed))).unwrap_err());
    assert_eq!(err.kind, AwsErrorKind::StatusFailed);
    let throttled = Error::Aws(AwsError::new(
        "DescribeFeatureGroup",
        AwsErrorKind::Throttled,
        "x",
    ));
    let err = aws(deleted_step(Err(throttled)).unwrap_err());
    assert_eq!(err.kind, AwsErrorKind::Throttled);
}

#[test]
fn update_steps() {
    let with = |s: Option<LastUpdateStatus>| {
        let mut d = desc(FeatureGroupStatus::Created);
        d.last_update_status = s;
        d
    };
    assert!(matches!(update_step(with(None)), Ok(Step::Done(_))));
    assert!(matches!(
        update_step(with(Some(LastUpdateStatus::Successful))),
        Ok(Step::Done(_))
    ));
    assert!(matches!(
        update_step(with(Some(LastUpdateStatus::InProgress))),
        Ok(Step::Wait(_))
    ));
    let failed = with(Some(LastUpdateStatus::Failed {
        reason: Some("too many features".into()),
    }));
    let err = aws(update_step(failed).unwrap_err());
    assert_eq!(err.kind, AwsErrorKind::StatusFailed);
    assert!(err.message.contains("too many features"), "{err}");
}

#[tokio::test]
async fn polls_until_the_status_is_reached() {
    let calls = Cell::new(0);
    let statuses = [
        FeatureGroupStatus::Creating,
        FeatureGroupStatus::Creating,
        FeatureGroupStatus::Created,
    ];
    let describe = || {
        let status = statuses[calls.get()].clone();
        calls.set(calls.get() + 1);
        async move { Ok(desc(status)) }
    };
    let target = FeatureGroupStatus::Created;
    let d = poll_until(
        "WaitForStatus",
        "customers",
        "reach status Created",
        Duration::from_secs(10),
        Duration::from_millis(1),
        describe,
        |r| status_step(r?, &target),
    )
    .await
    .unwrap();
    assert_eq!(d.status, FeatureGroupStatus::Created);
    assert_eq!(calls.get(), 3);
}

#[tokio::test]
async fn stops_early_on_a_failed_status() {
    let calls = Cell::new(0);
    let statuses = [
        FeatureGroupStatus::Creating,
        FeatureGroupStatus::CreateFailed,
    ];
    let describe = || {
        let status = statuses[calls.get()].clone();
        calls.set(calls.get() + 1);
        async move { Ok(desc(status)) }
    };
    let target = FeatureGroupStatus::Created;
    let err = poll_until(
        "WaitForStatus",
        "customers",
        "reach status Created",
        Duration::from_secs(10),
        Duration::from_millis(1),
        describe,
        |r| status_step(r?, &target),
    )
    .await
    .unwrap_err();
    assert_eq!(aws(err).kind, AwsErrorKind::StatusFailed);
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn times_out_naming_the_group_status_and_time() {
    let target = FeatureGroupStatus::Created;
    let err = poll_until(
        "WaitForStatus",
        "customers",
        "reach status Created",
        Duration::from_millis(30),
        Duration::from_millis(5),
        || async { Ok(desc(FeatureGroupStatus::Creating)) },
        |r| status_step(r?, &target),
    )
    .await
    .unwrap_err();
    let err = aws(err);
    assert_eq!(err.kind, AwsErrorKind::WaitTimeout);
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with("WaitForStatus failed (WaitTimeout): "),
        "{text}"
    );
    assert!(text.contains("\"customers\""), "{text}");
    assert!(
        text.contains("did not reach status Created within 30.0ms"),
        "{text}"
    );
    assert!(text.contains("last status Creating after "), "{text}");
}

#[tokio::test]
async fn describe_errors_end_the_wait() {
    let target = FeatureGroupStatus::Created;
    let err = poll_until(
        "WaitForStatus",
        "customers",
        "reach status Created",
        Duration::from_secs(10),
        Duration::from_millis(1),
        || async { Err(not_found()) },
        |r| status_step(r?, &target),
    )
    .await
    .unwrap_err();
    assert!(aws(err).is_not_found());
}
