//! The runtime API (`sagemaker-featurestore-runtime`, REST-JSON): PutRecord,
//! GetRecord, DeleteRecord, BatchGetRecord, BatchWriteRecord, ListRecords.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use fs_local::RecordPut;
use fs_schema::limits::{
    MAX_BATCH_GET_IDS_PER_ENTRY, MAX_BATCH_WRITE_ENTRIES, MAX_LIST_RECORDS_PAGE,
};
use fs_schema::runtime::{BatchGetRequest, OnlineRecord};
use fs_schema::{DeletionMode, Record, TargetStore, TtlDuration};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::faults::EntryFault;

/// Accepts a group name or a feature-group ARN and checks the name.
pub(crate) fn group_name(name_or_arn: &str) -> Result<String, ApiError> {
    let name = match name_or_arn.rsplit_once(":feature-group/") {
        Some((prefix, name)) if prefix.starts_with("arn:aws") => name,
        _ => name_or_arn,
    };
    fs_schema::validate_name(fs_schema::NameKind::FeatureGroup, name)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    Ok(name.to_owned())
}

pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("invalid request body: {e}")))
}

fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&fs_local::Store) -> fs_local::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
        .map_err(ApiError::from_store)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRecordBody {
    record: Record,
    target_stores: Option<Vec<TargetStore>>,
    ttl_duration: Option<TtlDuration>,
}

pub(crate) async fn put_record(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.enter("PutRecord").await?;
    let group = group_name(&name)?;
    let body: PutRecordBody = parse_body(&body)?;
    state
        .writer
        .put(group, body.record, body.target_stores, body.ttl_duration)
        .await?;
    Ok(state
        .faults
        .answer_committed("PutRecord", ().into_response())
        .await)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordResponse {
    record: Record,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

pub(crate) async fn get_record(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    state.enter("GetRecord").await?;
    let group = group_name(&name)?;
    let mut id = None;
    let mut features = Vec::new();
    let mut with_expiry = false;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "RecordIdentifierValueAsString" => id = Some(v),
            "FeatureName" => features.push(v),
            "ExpirationTimeResponse" => with_expiry = v == "Enabled",
            _ => {}
        }
    }
    let id = id.ok_or_else(|| ApiError::validation("RecordIdentifierValueAsString is required"))?;
    let features = (!features.is_empty()).then_some(features);
    let found = state
        .store
        .get_record(&group, &id, features.as_deref())
        .map_err(ApiError::from_store)?;
    // No record: an empty result, as the service answers.
    Ok(match found {
        None => axum::Json(json!({})).into_response(),
        Some(r) => axum::Json(GetRecordResponse {
            expires_at: expires(&r, with_expiry),
            record: r.record,
        })
        .into_response(),
    })
}

fn expires(r: &OnlineRecord, wanted: bool) -> Option<String> {
    r.expires_at.filter(|_| wanted).map(|t| t.to_iso())
}

pub(crate) async fn delete_record(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    state.enter("DeleteRecord").await?;
    let group = group_name(&name)?;
    let (mut id, mut event_time, mut mode, mut targets) =
        (None, None, DeletionMode::SoftDelete, Vec::new());
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "RecordIdentifierValueAsString" => id = Some(v),
            "EventTime" => event_time = Some(v),
            "DeletionMode" => {
                mode = match v.as_str() {
                    "SoftDelete" => DeletionMode::SoftDelete,
                    "HardDelete" => DeletionMode::HardDelete,
                    other => {
                        return Err(ApiError::validation(format!(
                            "unknown DeletionMode {other:?}"
                        )));
                    }
                }
            }
            "TargetStores" => targets.push(match v.as_str() {
                "OnlineStore" => TargetStore::OnlineStore,
                "OfflineStore" => TargetStore::OfflineStore,
                other => {
                    return Err(ApiError::validation(format!(
                        "unknown TargetStores value {other:?}"
                    )));
                }
            }),
            _ => {}
        }
    }
    let id = id.ok_or_else(|| ApiError::validation("RecordIdentifierValueAsString is required"))?;
    let event_time = event_time.ok_or_else(|| ApiError::validation("EventTime is required"))?;
    let targets = (!targets.is_empty()).then_some(targets);
    blocking(&state, move |s| {
        s.delete_record(&group, &id, &event_time, mode, targets.as_deref())
    })
    .await?;
    Ok(state
        .faults
        .answer_committed("DeleteRecord", ().into_response())
        .await)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetBody {
    identifiers: Vec<BatchGetIdentifier>,
    expiration_time_response: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetIdentifier {
    feature_group_name: String,
    #[serde(rename = "RecordIdentifiersValueAsString")]
    record_identifiers_value_as_string: Vec<String>,
    feature_names: Option<Vec<String>>,
}

pub(crate) async fn batch_get_record(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.enter("BatchGetRecord").await?;
    let body: BatchGetBody = parse_body(&body)?;
    if body.identifiers.is_empty() || body.identifiers.len() > 100 {
        return Err(ApiError::validation(
            "Identifiers must have 1 to 100 entries",
        ));
    }
    let with_expiry = body.expiration_time_response.as_deref() == Some("Enabled");
    let mut requests = Vec::with_capacity(body.identifiers.len());
    for ident in body.identifiers {
        let ids = ident.record_identifiers_value_as_string;
        if ids.is_empty() || ids.len() > MAX_BATCH_GET_IDS_PER_ENTRY {
            return Err(ApiError::validation(format!(
                "RecordIdentifiersValueAsString must have 1 to {MAX_BATCH_GET_IDS_PER_ENTRY} values"
            )));
        }
        requests.push(BatchGetRequest {
            group: group_name(&ident.feature_group_name)?,
            record_ids: ids,
            features: ident.feature_names.filter(|f| !f.is_empty()),
        });
    }
    let result = state
        .store
        .batch_get(&requests)
        .map_err(ApiError::from_store)?;
    // Serialized straight from the decoded records (no JSON tree in between).
    let records: Vec<_> = result
        .records
        .iter()
        .map(|r| BatchGetRecordOut {
            feature_group_name: &r.group,
            record_identifier_value_as_string: &r.record_id,
            record: &r.record.record,
            expires_at: expires(&r.record, with_expiry),
        })
        .collect();
    let errors: Vec<_> = result
        .errors
        .iter()
        .map(|e| BatchGetErrorOut {
            feature_group_name: &e.group,
            record_identifier_value_as_string: &e.record_id,
            error_code: e.code,
            error_message: &e.message,
        })
        .collect();
    Ok(axum::Json(BatchGetResponse {
        records,
        errors,
        unprocessed_identifiers: [],
    })
    .into_response())
}

/// The body of a BatchGetRecord answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetResponse<'a> {
    records: Vec<BatchGetRecordOut<'a>>,
    errors: Vec<BatchGetErrorOut<'a>>,
    unprocessed_identifiers: [(); 0],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetRecordOut<'a> {
    feature_group_name: &'a str,
    record_identifier_value_as_string: &'a str,
    record: &'a Record,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetErrorOut<'a> {
    feature_group_name: &'a str,
    record_identifier_value_as_string: &'a str,
    error_code: &'a str,
    error_message: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchWriteBody {
    entries: Vec<serde_json::Value>,
    ttl_duration: Option<TtlDuration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchWriteEntry {
    feature_group_name: String,
    record: Record,
    target_stores: Option<Vec<TargetStore>>,
    ttl_duration: Option<TtlDuration>,
}

/// BatchWriteRecord: every entry is checked on its own and gets its own
/// answer (in `Errors` when it failed), and the valid entries are written
/// together in one durable transaction.
pub(crate) async fn batch_write_record(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.enter("BatchWriteRecord").await?;
    let body: BatchWriteBody = parse_body(&body)?;
    if body.entries.is_empty() || body.entries.len() > MAX_BATCH_WRITE_ENTRIES {
        return Err(ApiError::validation(format!(
            "Entries must have 1 to {MAX_BATCH_WRITE_ENTRIES} entries"
        )));
    }
    let default_ttl = body.ttl_duration;
    let mut errors = Vec::new();
    let mut unprocessed = Vec::new();
    // (raw entry, group, parsed entry) of the entries to write.
    let mut puts = Vec::with_capacity(body.entries.len());
    for raw in body.entries {
        let parsed = serde_json::from_value::<BatchWriteEntry>(raw.clone())
            .map_err(|e| ApiError::validation(format!("invalid entry: {e}")))
            .and_then(|entry| Ok((group_name(&entry.feature_group_name)?, entry)));
        match (parsed, state.faults.entry()) {
            (Err(e), _) => errors.push(entry_error(raw, &e)),
            (Ok(_), EntryFault::Throttled) => errors.push(entry_error(
                raw,
                &ApiError::throttling("Rate exceeded (injected) for this entry"),
            )),
            (Ok(_), EntryFault::Failed) => errors.push(entry_error(
                raw,
                &ApiError::internal("Internal failure (injected) for this entry"),
            )),
            (Ok(_), EntryFault::Unprocessed) => unprocessed.push(raw),
            (Ok((group, entry)), EntryFault::None) => puts.push((raw, group, entry)),
        }
    }
    let failed = blocking(&state, move |s| {
        let each: Vec<RecordPut<'_>> = puts
            .iter()
            .map(|(_, group, entry)| RecordPut {
                group,
                record: &entry.record,
                target_stores: entry.target_stores.as_deref(),
                ttl: entry.ttl_duration.or(default_ttl),
            })
            .collect();
        let results = s.put_records_each(&each);
        Ok(puts
            .into_iter()
            .zip(results)
            .filter_map(|((raw, _, _), r)| {
                r.err().map(|e| entry_error(raw, &ApiError::from_store(e)))
            })
            .collect::<Vec<_>>())
    })
    .await?;
    errors.extend(failed);
    let answer =
        axum::Json(json!({ "Errors": errors, "UnprocessedEntries": unprocessed })).into_response();
    Ok(state
        .faults
        .answer_committed("BatchWriteRecord", answer)
        .await)
}

fn entry_error(entry: serde_json::Value, e: &ApiError) -> serde_json::Value {
    json!({ "Entry": entry, "ErrorCode": e.code, "ErrorMessage": e.message })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRecordsBody {
    include_soft_deleted_records: Option<bool>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

pub(crate) async fn list_records(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.enter("ListRecords").await?;
    let group = group_name(&name)?;
    let body: ListRecordsBody = parse_body(&body)?;
    let page = state
        .store
        .list_records(
            &group,
            body.include_soft_deleted_records.unwrap_or(false),
            body.max_results.unwrap_or(MAX_LIST_RECORDS_PAGE),
            body.next_token.as_deref(),
        )
        .map_err(ApiError::from_store)?;
    let mut v = json!({ "RecordIdentifiers": page.record_ids });
    if let Some(t) = page.next_token {
        v["NextToken"] = json!(t);
    }
    Ok(axum::Json(v).into_response())
}
