//! The control-plane subset of the SageMaker API (JSON 1.1, `POST /` with
//! `X-Amz-Target: SageMaker.<Operation>`): CreateFeatureGroup,
//! DescribeFeatureGroup, ListFeatureGroups, UpdateFeatureGroup,
//! DeleteFeatureGroup and ListTags.
//!
//! ARNs and resolved S3 URIs name the caller's region and account
//! ([`Caller`]), not the store's: a client signing for `ap-southeast-2`
//! sees `arn:aws:sagemaker:ap-southeast-2:...` whatever region the store
//! was opened with.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use fs_schema::registry::{FeatureGroupDescription, TimeFormat};
use fs_schema::{FeatureDefinition, FeatureGroup};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::runtime::{group_name, parse_body};

/// The control-plane operation named `op`, if fs-server serves it.
pub(crate) fn operation_name(op: &str) -> Option<&'static str> {
    Some(match op {
        "CreateFeatureGroup" => "CreateFeatureGroup",
        "DescribeFeatureGroup" => "DescribeFeatureGroup",
        "ListFeatureGroups" => "ListFeatureGroups",
        "UpdateFeatureGroup" => "UpdateFeatureGroup",
        "DeleteFeatureGroup" => "DeleteFeatureGroup",
        "ListTags" => "ListTags",
        _ => return None,
    })
}

pub(crate) async fn dispatch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(op) = target.strip_prefix("SageMaker.") else {
        return Err(ApiError::validation(format!(
            "unknown or missing X-Amz-Target {target:?}; expected SageMaker.<Operation>"
        )));
    };
    let Some(op) = operation_name(op) else {
        return Err(ApiError {
            status: axum::http::StatusCode::BAD_REQUEST,
            code: "UnknownOperationException",
            message: format!("operation {op} is not supported by fs-server"),
        });
    };
    state.enter(op).await.map_err(ApiError::for_control_plane)?;
    let caller = state.caller(&headers);
    let result = match op {
        "CreateFeatureGroup" => create(&state, &caller, &body).await,
        "DescribeFeatureGroup" => describe(&state, &caller, &body),
        "ListFeatureGroups" => list(&state, &caller, &body),
        "UpdateFeatureGroup" => update(&state, &caller, &body).await,
        "DeleteFeatureGroup" => delete(&state, &body).await,
        _ => list_tags(&state, &body),
    };
    result
        .map(|v| axum::Json(v).into_response())
        .map_err(ApiError::for_control_plane)
}

/// The message SageMaker answers when it cannot assume a group's role.
fn untrusted_role_message(role_arn: &str) -> String {
    format!(
        "The execution role ARN \"{role_arn}\" is invalid. Please ensure that the role exists \
         and that its trust relationship policy allows the action \"sts:AssumeRole\" for the \
         service principal \"sagemaker.amazonaws.com\"."
    )
}

/// `desc`'s ARN as `caller` sees it: in the caller's region and account.
fn arn(caller: &Caller, desc: &FeatureGroupDescription) -> String {
    let resource = desc
        .arn
        .split_once(":feature-group/")
        .map_or(desc.spec.feature_group_name.as_str(), |(_, name)| name);
    format!(
        "arn:aws:sagemaker:{}:{}:feature-group/{resource}",
        caller.region, caller.account
    )
}

async fn create(state: &Arc<AppState>, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
    let spec: FeatureGroup = parse_body(body)?;
    if let Some(role) = spec.role_arn.as_deref()
        && state.untrusted_roles.contains(role)
    {
        return Err(ApiError::validation(untrusted_role_message(role)));
    }
    let store = state.store.clone();
    let desc = tokio::task::spawn_blocking(move || store.create_feature_group(spec))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from_store)?;
    Ok(json!({ "FeatureGroupArn": arn(caller, &desc) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameBody {
    feature_group_name: String,
}

/// `desc` as `caller` sees it: the ARN and the resolved offline location
/// in the caller's region and account.
fn for_caller(caller: &Caller, mut desc: FeatureGroupDescription) -> FeatureGroupDescription {
    desc.arn = arn(caller, &desc);
    let name = desc.spec.feature_group_name.clone();
    let created_secs = desc.creation_time.timestamp();
    if let Some(off) = desc.spec.offline_store_config.as_mut()
        && off.s3_storage_config.resolved_output_s3_uri.is_some()
    {
        off.s3_storage_config.resolved_output_s3_uri =
            Some(fs_schema::layout::resolved_output_uri(
                &off.s3_storage_config.s3_uri,
                &caller.account,
                &caller.region,
                &name,
                created_secs,
            ));
    }
    desc
}

fn describe(state: &AppState, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
    let b: NameBody = parse_body(body)?;
    let desc = state
        .store
        .describe_feature_group(&group_name(&b.feature_group_name)?)
        .map_err(ApiError::from_store)?;
    Ok(for_caller(caller, desc).to_json(TimeFormat::EpochSeconds))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBody {
    name_contains: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

fn list(state: &AppState, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
    let b: ListBody = parse_body(body)?;
    let max = b.max_results.unwrap_or(10);
    if !(1..=100).contains(&max) {
        return Err(ApiError::validation(format!(
            "MaxResults must be from 1 to 100, not {max}"
        )));
    }
    let start = match b.next_token.as_deref() {
        None => 0,
        Some(t) => t
            .strip_prefix("page:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "NextToken {t:?} was not issued by ListFeatureGroups"
                ))
            })?,
    };
    let all: Vec<_> = state
        .store
        .list_feature_groups()
        .into_iter()
        .filter(|d| {
            b.name_contains
                .as_deref()
                .is_none_or(|n| d.spec.feature_group_name.contains(n))
        })
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|d| {
            let mut summary = d.summary();
            summary.arn = arn(caller, d);
            summary.to_json(TimeFormat::EpochSeconds)
        })
        .collect();
    let mut v = json!({ "FeatureGroupSummaries": page });
    if start + max < all.len() {
        v["NextToken"] = json!(format!("page:{}", start + max));
    }
    Ok(v)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateBody {
    feature_group_name: String,
    feature_additions: Option<Vec<FeatureDefinition>>,
    online_store_config: Option<Value>,
    throughput_config: Option<Value>,
}

async fn update(state: &Arc<AppState>, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
    let b: UpdateBody = parse_body(body)?;
    let group = group_name(&b.feature_group_name)?;
    if b.online_store_config.is_some() || b.throughput_config.is_some() {
        return Err(ApiError::validation(
            "fs-server supports UpdateFeatureGroup with FeatureAdditions only",
        ));
    }
    let additions = b
        .feature_additions
        .ok_or_else(|| ApiError::validation("UpdateFeatureGroup needs FeatureAdditions"))?;
    let store = state.store.clone();
    let desc = tokio::task::spawn_blocking(move || store.add_features(&group, &additions))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from_store)?;
    Ok(json!({ "FeatureGroupArn": arn(caller, &desc) }))
}

async fn delete(state: &Arc<AppState>, body: &[u8]) -> Result<Value, ApiError> {
    let b: NameBody = parse_body(body)?;
    let group = group_name(&b.feature_group_name)?;
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.delete_feature_group(&group))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from_store)?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagsBody {
    resource_arn: String,
}

/// ListTags of a feature group's ARN, in whatever region and account the
/// caller named it.
fn list_tags(state: &AppState, body: &[u8]) -> Result<Value, ApiError> {
    let b: TagsBody = parse_body(body)?;
    let not_found = || ApiError::not_found(format!("no resource {:?}", b.resource_arn));
    let resource = b
        .resource_arn
        .split_once(":feature-group/")
        .filter(|(prefix, _)| prefix.starts_with("arn:aws"))
        .map(|(_, name)| name)
        .ok_or_else(not_found)?;
    let desc = state
        .store
        .list_feature_groups()
        .into_iter()
        .find(|d| d.arn.ends_with(&format!(":feature-group/{resource}")))
        .ok_or_else(not_found)?;
    Ok(json!({ "Tags": desc.spec.tags.clone().unwrap_or_default() }))
}
