//! [`ControlPlane`]: create, describe, list, update, delete and wait for
//! feature groups.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::operation::describe_feature_group::DescribeFeatureGroupOutput;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_types::SdkConfig;
use tokio::time::Instant;
use tracing::Instrument;

use super::convert::{FromSdk, ToSdk, apply_create_feature_group, missing};
use crate::aws_error::{AwsError, AwsErrorKind};
use crate::error::{Error, Result};
use crate::registry::{
    FeatureGroupDescription, FeatureGroupStatus, FeatureGroupSummary, LastUpdateStatus,
};
use crate::types::FeatureDefinition;
use crate::{FeatureGroup, Tag};

/// The SageMaker Feature Store control plane over `aws-sdk-sagemaker`.
///
/// It never loads AWS configuration itself: build it from the caller's
/// [`SdkConfig`] or SageMaker [`Client`]. Every call is traced in a span
/// named after the operation, with the group's name; credentials are never
/// logged. Failed calls return [`Error::Aws`] with an [`AwsError`] whose
/// kind says whether retrying may help.
///
/// ```no_run
/// # async fn example(config: aws_types::SdkConfig, group: fs_schema::FeatureGroup) -> fs_schema::Result<()> {
/// use std::time::Duration;
/// use fs_schema::aws::ControlPlane;
/// use fs_schema::registry::FeatureGroupStatus;
///
/// let cp = ControlPlane::new(&config);
/// let arn = cp.create_feature_group(&group).await?;
/// let created = cp
///     .wait_for_status(group.name(), FeatureGroupStatus::Created,
///                      Duration::from_secs(600), Duration::from_secs(5))
///     .await?;
/// assert_eq!(created.arn, arn);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ControlPlane {
    client: Client,
}

fn sdk_err<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| Error::Aws(AwsError::from_sdk(operation, e))
}

impl ControlPlane {
    /// A control plane using a SageMaker client built from `config`.
    ///
    /// # Panics
    /// As [`Client::new`] does: when `config` lacks a sleep implementation,
    /// an HTTP client or a behavior version (a config from
    /// `aws_config::load_defaults` has all three).
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    /// A control plane using `client`.
    pub fn from_client(client: Client) -> Self {
        Self { client }
    }

    /// The SageMaker client, for calls this type does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Validates `group` ([`FeatureGroup::validate`]) and creates it with
    /// CreateFeatureGroup; returns its ARN. The group starts out `Creating`:
    /// wait for it with [`wait_for_status`](Self::wait_for_status).
    pub async fn create_feature_group(&self, group: &FeatureGroup) -> Result<String> {
        let span =
            tracing::info_span!("CreateFeatureGroup", feature_group = %group.feature_group_name);
        async {
            group.validate()?;
            let out = apply_create_feature_group(self.client.create_feature_group(), group)
                .send()
                .await
                .map_err(sdk_err("CreateFeatureGroup"))?;
            let arn = out
                .feature_group_arn()
                .ok_or_else(|| missing("FeatureGroupArn"))?
                .to_owned();
            tracing::info!(%arn, "feature group creation started");
            Ok(arn)
        }
        .instrument(span)
        .await
    }

    /// Describes the group called `name`, following `NextToken` until every
    /// feature definition is read.
    pub async fn describe_feature_group(&self, name: &str) -> Result<FeatureGroupDescription> {
        let span = tracing::debug_span!("DescribeFeatureGroup", feature_group = %name);
        async {
            let out = self.describe_raw(name).await?;
            let d = FeatureGroupDescription::from_sdk(&out)?;
            tracing::debug!(status = %d.status, "described feature group");
            Ok(d)
        }
        .instrument(span)
        .await
    }

    async fn describe_raw(&self, name: &str) -> Result<DescribeFeatureGroupOutput> {
        let describe = |token: Option<String>| {
            self.client
                .describe_feature_group()
                .feature_group_name(name)
                .set_next_token(token)
                .send()
        };
        let mut out = describe(None)
            .await
            .map_err(sdk_err("DescribeFeatureGroup"))?;
        let mut token = out.next_token.take().filter(|t| !t.is_empty());
        let mut seen = HashSet::new();
        while let Some(t) = token {
            if !seen.insert(t.clone()) {
                break; // The service repeated a token; stop rather than loop.
            }
            let mut page = describe(Some(t))
                .await
                .map_err(sdk_err("DescribeFeatureGroup"))?;
            out.feature_definitions
                .get_or_insert_with(Vec::new)
                .extend(page.feature_definitions.take().unwrap_or_default());
            token = page.next_token.take().filter(|t| !t.is_empty());
        }
        Ok(out)
    }

    /// Every feature group of the account and region, following `NextToken`
    /// through all pages.
    pub async fn list_feature_groups(&self) -> Result<Vec<FeatureGroupSummary>> {
        self.list(None).await
    }

    /// The feature groups whose names contain `name_contains`, following
    /// `NextToken` through all pages.
    pub async fn list_feature_groups_matching(
        &self,
        name_contains: &str,
    ) -> Result<Vec<FeatureGroupSummary>> {
        self.list(Some(name_contains)).await
    }

    async fn list(&self, name_contains: Option<&str>) -> Result<Vec<FeatureGroupSummary>> {
        let span = tracing::debug_span!(
            "ListFeatureGroups",
            name_contains = name_contains.unwrap_or("")
        );
        async {
            let mut items = self
                .client
                .list_feature_groups()
                .set_name_contains(name_contains.map(str::to_owned))
                .into_paginator()
                .items()
                .send();
            let mut groups = Vec::new();
            while let Some(item) = items.next().await {
                let summary = item.map_err(sdk_err("ListFeatureGroups"))?;
                groups.push(FeatureGroupSummary::from_sdk(&summary)?);
            }
            tracing::debug!(count = groups.len(), "listed feature groups");
            Ok(groups)
        }
        .instrument(span)
        .await
    }

    /// The tags of the resource `arn` (e.g. a [`FeatureGroupDescription::arn`]),
    /// following `NextToken` through all pages.
    pub async fn list_tags(&self, arn: &str) -> Result<Vec<Tag>> {
        let span = tracing::debug_span!("ListTags", resource_arn = %arn);
        async {
            let mut items = self
                .client
                .list_tags()
                .resource_arn(arn)
                .into_paginator()
                .items()
                .send();
            let mut tags = Vec::new();
            while let Some(item) = items.next().await {
                tags.push(Tag::from_sdk(&item.map_err(sdk_err("ListTags"))?)?);
            }
            Ok(tags)
        }
        .instrument(span)
        .await
    }

    /// Adds features to the group called `name` with UpdateFeatureGroup.
    ///
    /// Describes the group first and checks the additions against it
    /// ([`check_additions`](crate::evolution::check_additions)), so a refused
    /// change (including an empty list) fails before any update is sent. The
    /// update is applied asynchronously: wait for it with
    /// [`wait_for_update`](Self::wait_for_update).
    pub async fn add_features(&self, name: &str, additions: &[FeatureDefinition]) -> Result<()> {
        let span = tracing::info_span!("UpdateFeatureGroup", feature_group = %name, additions = additions.len());
        async {
            let current = self.describe_feature_group(name).await?;
            crate::evolution::check_additions(&current.spec, additions)?;
            self.client
                .update_feature_group()
                .feature_group_name(name)
                .set_feature_additions(Some(additions.iter().map(ToSdk::to_sdk).collect()))
                .send()
                .await
                .map_err(sdk_err("UpdateFeatureGroup"))?;
            tracing::info!(features = ?additions.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), "feature additions started");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Deletes the group called `name` with DeleteFeatureGroup. The group is
    /// `Deleting` until it is gone: wait with
    /// [`wait_for_deleted`](Self::wait_for_deleted).
    pub async fn delete_feature_group(&self, name: &str) -> Result<()> {
        let span = tracing::info_span!("DeleteFeatureGroup", feature_group = %name);
        async {
            self.client
                .delete_feature_group()
                .feature_group_name(name)
                .send()
                .await
                .map_err(sdk_err("DeleteFeatureGroup"))?;
            tracing::info!("feature group deletion started");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Polls DescribeFeatureGroup every `poll` until the group's status is
    /// `target`, and returns that description.
    ///
    /// Fails early with [`AwsErrorKind::StatusFailed`] when the group reaches
    /// `CreateFailed` or `DeleteFailed` (unless that is the target), with the
    /// service's failure reason; with [`AwsErrorKind::WaitTimeout`] naming the
    /// group, the last status and the time waited when `timeout` passes; and
    /// with the describe error if a call fails (a `NotFound` error if the
    /// group does not exist; to wait for deletion use
    /// [`wait_for_deleted`](Self::wait_for_deleted)).
    pub async fn wait_for_status(
        &self,
        name: &str,
        target: FeatureGroupStatus,
        timeout: Duration,
        poll: Duration,
    ) -> Result<FeatureGroupDescription> {
        let span = tracing::info_span!("WaitForStatus", feature_group = %name, target = %target);
        let goal = format!("reach status {target}");
        poll_until(
            "WaitForStatus",
            name,
            &goal,
            timeout,
            poll,
            || self.describe_feature_group(name),
            |r| status_step(r?, &target),
        )
        .instrument(span)
        .await
    }

    /// Polls DescribeFeatureGroup every `poll` until the group no longer
    /// exists (a `NotFound` error means done). Fails early with
    /// [`AwsErrorKind::StatusFailed`] on `DeleteFailed`, and with
    /// [`AwsErrorKind::WaitTimeout`] when `timeout` passes.
    pub async fn wait_for_deleted(
        &self,
        name: &str,
        timeout: Duration,
        poll: Duration,
    ) -> Result<()> {
        let span = tracing::info_span!("WaitForDeleted", feature_group = %name);
        poll_until(
            "WaitForDeleted",
            name,
            "be deleted",
            timeout,
            poll,
            || self.describe_feature_group(name),
            deleted_step,
        )
        .instrument(span)
        .await
    }

    /// Polls DescribeFeatureGroup every `poll` until the last update (e.g.
    /// from [`add_features`](Self::add_features)) is no longer in progress,
    /// and returns that description. Fails early with
    /// [`AwsErrorKind::StatusFailed`] when the update failed, and with
    /// [`AwsErrorKind::WaitTimeout`] when `timeout` passes.
    pub async fn wait_for_update(
        &self,
        name: &str,
        timeout: Duration,
        poll: Duration,
    ) -> Result<FeatureGroupDescription> {
        let span = tracing::info_span!("WaitForUpdate", feature_group = %name);
        poll_until(
            "WaitForUpdate",
            name,
            "finish its update",
            timeout,
            poll,
            || self.describe_feature_group(name),
            |r| update_step(r?),
        )
        .instrument(span)
        .await
    }
}

/// What one poll found: done, or not yet (with the status to report).
#[derive(Debug)]
pub(super) enum Step<T> {
    Done(T),
    Wait(String),
}

fn failed(operation: &'static str, d: &FeatureGroupDescription, what: String) -> Error {
    Error::Aws(AwsError::new(
        operation,
        AwsErrorKind::StatusFailed,
        format!("feature group {:?} {what}", d.name()),
    ))
}

fn reason_suffix(reason: Option<&str>) -> String {
    reason.map(|r| format!(": {r}")).unwrap_or_default()
}

pub(super) fn status_step(
    d: FeatureGroupDescription,
    target: &FeatureGroupStatus,
) -> Result<Step<FeatureGroupDescription>> {
    if d.status == *target {
        Ok(Step::Done(d))
    } else if d.status.is_failed() {
        let what = format!(
            "is {} while waiting for {target}{}",
            d.status,
            reason_suffix(d.failure_reason.as_deref())
        );
        Err(failed("WaitForStatus", &d, what))
    } else {
        Ok(Step::Wait(d.status.to_string()))
    }
}

pub(super) fn deleted_step(r: Result<FeatureGroupDescription>) -> Result<Step<()>> {
    match r {
        Err(Error::Aws(e)) if e.is_not_found() => Ok(Step::Done(())),
        Err(e) => Err(e),
        Ok(d) if d.status == FeatureGroupStatus::DeleteFailed => {
            let what = format!(
                "is DeleteFailed{}",
                reason_suffix(d.failure_reason.as_deref())
            );
            Err(failed("WaitForDeleted", &d, what))
        }
        Ok(d) => Ok(Step::Wait(d.status.to_string())),
    }
}

pub(super) fn update_step(d: FeatureGroupDescription) -> Result<Step<FeatureGroupDescription>> {
    if d.status.is_failed() {
        let what = format!(
            "is {}{}",
            d.status,
            reason_suffix(d.failure_reason.as_deref())
        );
        return Err(failed("WaitForUpdate", &d, what));
    }
    match &d.last_update_status {
        Some(LastUpdateStatus::InProgress) => Ok(Step::Wait("update InProgress".into())),
        Some(LastUpdateStatus::Failed { reason }) => {
            let what = format!("update failed{}", reason_suffix(reason.as_deref()));
            Err(failed("WaitForUpdate", &d, what))
        }
        _ => Ok(Step::Done(d)),
    }
}

/// Calls `describe` every `poll` (at least 1 ms) and feeds the result to
/// `step` until it is done, fails, or `timeout` has passed.
pub(super) async fn poll_until<T, F, Fut, S>(
    operation: &'static str,
    name: &str,
    goal: &str,
    timeout: Duration,
    poll: Duration,
    mut describe: F,
    mut step: S,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<FeatureGroupDescription>>,
    S: FnMut(Result<FeatureGroupDescription>) -> Result<Step<T>>,
{
    let poll = poll.max(Duration::from_millis(1));
    let start = Instant::now();
    loop {
        let last = match step(describe().await)? {
            Step::Done(v) => {
                tracing::info!(elapsed_s = start.elapsed().as_secs_f64(), "done waiting");
                return Ok(v);
            }
            Step::Wait(last) => last,
        };
        let elapsed = start.elapsed();
        tracing::debug!(status = %last, elapsed_s = elapsed.as_secs_f64(), "still waiting");
        if elapsed >= timeout {
            return Err(Error::Aws(AwsError::new(
                operation,
                AwsErrorKind::WaitTimeout,
                format!(
                    "feature group {name:?} did not {goal} within {timeout:.1?}; last status {last} after {elapsed:.1?}"
                ),
            )));
        }
        tokio::time::sleep(poll.min(timeout - elapsed)).await;
    }
}
