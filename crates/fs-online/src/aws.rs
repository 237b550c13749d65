//! [`AwsOnlineStore`]: the online store of SageMaker Feature Store, over
//! `aws-sdk-sagemakerfeaturestoreruntime`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sagemakerfeaturestoreruntime::Client;
use aws_sdk_sagemakerfeaturestoreruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerfeaturestoreruntime::operation::batch_get_record::BatchGetRecordOutput;
use aws_sdk_sagemakerfeaturestoreruntime::types as sdk;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use fs_retry::{GaveUp, RetryConfig};
use fs_schema::aws_error::{AwsError, AwsErrorKind};
use fs_schema::limits::MAX_BATCH_GET_IDS_PER_ENTRY;
use fs_schema::runtime::{
    BatchGetError, BatchGetRecord, BatchGetRequest, BatchGetResult, OnlineRecord, RecordIdPage,
};
use fs_schema::{
    DeletionMode, EventTime, FeatureGroup, FeatureValue, Record, TargetStore, TtlDuration, TtlUnit,
    Value,
};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::store::{DeleteOptions, OnlineStore, PutOptions};

/// Settings of an [`AwsOnlineStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AwsOptions {
    /// BatchGetRecord calls in flight at once when a batch get is split.
    pub batch_concurrency: usize,
    /// How identifiers the service leaves unprocessed are asked for again:
    /// how many times, after which delays (capped, with full jitter), within
    /// what deadline. Default: 5 times, delays capped at 50 ms doubling to
    /// 1 s.
    pub unprocessed_retry: RetryConfig,
}

impl Default for AwsOptions {
    fn default() -> Self {
        Self {
            batch_concurrency: 16,
            unprocessed_retry: RetryConfig::default()
                .max_retries(5)
                .backoff(Duration::from_millis(50), Duration::from_secs(1)),
        }
    }
}

/// An [`OnlineStore`] over SageMaker Feature Store's runtime API.
///
/// Requests are retried by the SDK's own retry policy (the `SdkConfig`'s
/// retry configuration); callers that retry themselves (fs-ingest's sinks)
/// classify this store's errors with [`fs_retry::Classify`]. Batch gets of
/// any size are split into API-sized calls (at most 100 identifiers each)
/// run concurrently, merged back in request order; identifiers the service
/// leaves unprocessed are asked for again per
/// [`AwsOptions::unprocessed_retry`] (fs-retry's capped, jittered backoff).
///
/// Typing records needs each group's definition: register it with
/// [`with_group`](Self::with_group) (for example from the CreateFeatureGroup
/// JSON the group was made from), or enable the `aws-describe` feature to
/// fetch unknown ones with DescribeFeatureGroup.
#[derive(Debug, Clone)]
pub struct AwsOnlineStore {
    client: Client,
    groups: Arc<RwLock<HashMap<String, Arc<FeatureGroup>>>>,
    options: AwsOptions,
    #[cfg(feature = "aws-describe")]
    control: Option<fs_schema::aws::ControlPlane>,
}

impl AwsOnlineStore {
    /// A store using `config` (region, credentials, endpoint, retries).
    /// With `aws-describe`, unknown group definitions are described through
    /// the same configuration.
    pub fn new(config: &aws_types::SdkConfig) -> Self {
        let store = Self::from_client(Client::new(config));
        #[cfg(feature = "aws-describe")]
        let store = store.with_control_plane(fs_schema::aws::ControlPlane::new(config));
        store
    }

    /// A store over an existing runtime client.
    pub fn from_client(client: Client) -> Self {
        Self {
            client,
            groups: Arc::default(),
            options: AwsOptions::default(),
            #[cfg(feature = "aws-describe")]
            control: None,
        }
    }

    /// Registers a group's definition.
    pub fn with_group(self, group: FeatureGroup) -> Self {
        self.register_group(group);
        self
    }

    /// Registers (or replaces) a group's definition.
    pub fn register_group(&self, group: FeatureGroup) {
        self.groups
            .write()
            .expect("group cache lock")
            .insert(group.feature_group_name.clone(), Arc::new(group));
    }

    /// Fetches unknown group definitions with this control plane.
    #[cfg(feature = "aws-describe")]
    pub fn with_control_plane(mut self, control: fs_schema::aws::ControlPlane) -> Self {
        self.control = Some(control);
        self
    }

    /// These settings.
    pub fn with_options(mut self, options: AwsOptions) -> Self {
        self.options = options;
        self
    }

    /// The runtime client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn spec(&self, group: &str) -> Result<Arc<FeatureGroup>> {
        if let Some(g) = self.groups.read().expect("group cache lock").get(group) {
            return Ok(g.clone());
        }
        #[cfg(feature = "aws-describe")]
        if let Some(control) = &self.control {
            let desc = control
                .describe_feature_group(group)
                .await
                .map_err(|e| match e {
                    fs_schema::Error::Aws(a) => from_aws(a, group),
                    other => Error::from(other),
                })?;
            let spec = Arc::new(desc.spec);
            self.groups
                .write()
                .expect("group cache lock")
                .insert(group.to_owned(), spec.clone());
            return Ok(spec);
        }
        Err(Error::Validation {
            message: format!(
                "the definition of feature group {group:?} is not known to this store; register it with AwsOnlineStore::with_group (or enable the aws-describe feature)"
            ),
            source: None,
        })
    }
}

fn from_aws(e: AwsError, group: &str) -> Error {
    let message = e.to_string();
    match e.kind {
        AwsErrorKind::NotFound => Error::GroupNotFound {
            group: group.to_owned(),
        },
        AwsErrorKind::Validation => Error::Validation {
            message,
            source: Some(Box::new(e)),
        },
        AwsErrorKind::Throttled => Error::Throttled { message },
        AwsErrorKind::Transient => Error::Transient {
            message,
            source: Some(Box::new(e)),
        },
        _ => Error::Other {
            message,
            source: Some(Box::new(e)),
        },
    }
}

fn sdk_err<E>(operation: &'static str, group: &str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    from_aws(AwsError::from_sdk(operation, e), group)
}

fn to_sdk_record(record: &Record) -> Vec<sdk::FeatureValue> {
    record
        .values()
        .iter()
        .map(|fv| {
            let b = sdk::FeatureValue::builder().feature_name(&fv.feature_name);
            match &fv.value {
                Value::String(s) => b.value_as_string(s),
                Value::List(items) => b.set_value_as_string_list(Some(items.clone())),
            }
            .build()
        })
        .collect()
}

fn from_sdk_record(values: &[sdk::FeatureValue]) -> Record {
    Record::from_values(
        values
            .iter()
            .map(|v| FeatureValue {
                feature_name: v.feature_name().unwrap_or_default().to_owned(),
                value: match (v.value_as_string(), v.value_as_string_list.as_ref()) {
                    (Some(s), _) => Value::String(s.to_owned()),
                    (None, Some(l)) => Value::List(l.clone()),
                    (None, None) => Value::String(String::new()),
                },
            })
            .collect(),
    )
}

/// Features to ask the service for: the selection plus the event-time
/// feature, which every [`OnlineRecord`] reports.
fn with_event_time(spec: &FeatureGroup, features: Option<&[String]>) -> Option<Vec<String>> {
    features.map(|f| {
        let mut f = f.to_vec();
        if !f.contains(&spec.event_time_feature_name) {
            f.push(spec.event_time_feature_name.clone());
        }
        f
    })
}

/// The record as the caller asked for it: its event time read, then only
/// the selected features kept.
fn online_record(
    spec: &FeatureGroup,
    record: Record,
    expires_at: Option<&str>,
    features: Option<&[String]>,
) -> Result<OnlineRecord> {
    let event_time = record.event_time(spec)?;
    let record = match features {
        Some(f) if !f.contains(&spec.event_time_feature_name) => Record::from_values(
            record
                .into_values()
                .into_iter()
                .filter(|v| v.feature_name != spec.event_time_feature_name)
                .collect(),
        ),
        _ => record,
    };
    let expires_at = expires_at
        .map(|t| EventTime::parse_iso(t).or_else(|_| t.parse::<EventTime>()))
        .transpose()?;
    Ok(OnlineRecord {
        record,
        event_time,
        expires_at,
    })
}

fn sdk_targets(targets: Option<&[TargetStore]>) -> Option<Vec<sdk::TargetStore>> {
    targets.map(|t| {
        t.iter()
            .map(|t| match t {
                TargetStore::OnlineStore => sdk::TargetStore::OnlineStore,
                TargetStore::OfflineStore => sdk::TargetStore::OfflineStore,
            })
            .collect()
    })
}

fn sdk_ttl(ttl: TtlDuration) -> sdk::TtlDuration {
    let unit = match ttl.unit {
        TtlUnit::Seconds => sdk::TtlDurationUnit::Seconds,
        TtlUnit::Minutes => sdk::TtlDurationUnit::Minutes,
        TtlUnit::Hours => sdk::TtlDurationUnit::Hours,
        TtlUnit::Days => sdk::TtlDurationUnit::Days,
        TtlUnit::Weeks => sdk::TtlDurationUnit::Weeks,
    };
    sdk::TtlDuration::builder()
        .unit(unit)
        .value(i32::try_from(ttl.value).unwrap_or(i32::MAX))
        .build()
}

/// One API-sized piece of a batch get.
struct Chunk {
    group: String,
    ids: Vec<String>,
    features: Option<Vec<String>>,
}

impl AwsOnlineStore {
    /// Runs one BatchGetRecord call for a chunk, asking again for
    /// unprocessed identifiers, and returns (found, errors).
    async fn batch_get_chunk(
        &self,
        chunk: Chunk,
    ) -> Result<(Vec<BatchGetRecord>, Vec<BatchGetError>)> {
        let group = chunk.group.as_str();
        let features = chunk.features.as_deref();
        let spec = match self.spec(group).await {
            Ok(s) => s,
            Err(e) => return Ok((Vec::new(), unknown_spec_errors(group, &chunk.ids, &e))),
        };
        let mut pending = chunk.ids;
        let mut found = Vec::new();
        let mut errors = Vec::new();
        let retry = &self.options.unprocessed_retry;
        let first_attempt = tokio::time::Instant::now();
        let mut retries = 0;
        loop {
            let out = self.batch_get_call(group, &spec, features, pending).await?;
            push_found(&out, &spec, group, features, &mut found)?;
            errors.extend(out.errors().iter().map(|e| batch_get_error(e, group)));
            pending = unprocessed_ids(&out);
            if pending.is_empty() {
                break;
            }
            // Unprocessed identifiers were not read: a throttled retry.
            let delay = match retry.next_retry(retries, first_attempt) {
                Ok(delay) => delay,
                Err(gave_up) => {
                    errors.extend(unprocessed_errors(group, pending, retries, &gave_up));
                    break;
                }
            };
            retries += 1;
            tracing::debug!(
                group,
                ids = pending.len(),
                retry = retries,
                ?delay,
                "asking again for unprocessed identifiers"
            );
            tokio::time::sleep(delay).await;
        }
        Ok((found, errors))
    }

    /// Sends one BatchGetRecord call for `ids` of `group`, asking for the
    /// selected features (plus the event time) and their expiry.
    async fn batch_get_call(
        &self,
        group: &str,
        spec: &FeatureGroup,
        features: Option<&[String]>,
        ids: Vec<String>,
    ) -> Result<BatchGetRecordOutput> {
        let ident = sdk::BatchGetRecordIdentifier::builder()
            .feature_group_name(group)
            .set_record_identifiers_value_as_string(Some(ids))
            .set_feature_names(with_event_time(spec, features))
            .build();
        self.client
            .batch_get_record()
            .identifiers(ident)
            .expiration_time_response(sdk::ExpirationTimeResponse::Enabled)
            .send()
            .await
            .map_err(|e| sdk_err("BatchGetRecord", group, e))
    }
}

/// The errors of a chunk whose group's definition could not be had: one
/// per identifier, `ResourceNotFound` for an unknown group and
/// `ValidationError` otherwise.
fn unknown_spec_errors(group: &str, ids: &[String], e: &Error) -> Vec<BatchGetError> {
    let code = if e.is_not_found() {
        "ResourceNotFound"
    } else {
        "ValidationError"
    };
    ids.iter()
        .map(|id| BatchGetError {
            group: group.to_owned(),
            record_id: id.clone(),
            code,
            message: e.to_string(),
        })
        .collect()
}

/// Appends the records a BatchGetRecord call found to `found`, each typed
/// by `spec` and cut down to the selected features.
fn push_found(
    out: &BatchGetRecordOutput,
    spec: &FeatureGroup,
    group: &str,
    features: Option<&[String]>,
    found: &mut Vec<BatchGetRecord>,
) -> Result<()> {
    for r in out.records() {
        let record = from_sdk_record(r.record());
        found.push(BatchGetRecord {
            group: r.feature_group_name().unwrap_or(group).to_owned(),
            record_id: r
                .record_identifier_value_as_string()
                .unwrap_or_default()
                .to_owned(),
            record: online_record(spec, record, r.expires_at(), features)?,
        });
    }
    Ok(())
}

/// An error the service reported for one identifier, its code narrowed to
/// `ResourceNotFound`, `ValidationError` or `InternalFailure`.
fn batch_get_error(e: &sdk::BatchGetRecordError, group: &str) -> BatchGetError {
    BatchGetError {
        group: e.feature_group_name().unwrap_or(group).to_owned(),
        record_id: e
            .record_identifier_value_as_string()
            .unwrap_or_default()
            .to_owned(),
        code: match e.error_code() {
            Some("ResourceNotFound") => "ResourceNotFound",
            Some("ValidationError") => "ValidationError",
            _ => "InternalFailure",
        },
        message: e.error_message().unwrap_or_default().to_owned(),
    }
}

/// The identifiers a BatchGetRecord call left unprocessed.
fn unprocessed_ids(out: &BatchGetRecordOutput) -> Vec<String> {
    out.unprocessed_identifiers()
        .iter()
        .flat_map(|u| u.record_identifiers_value_as_string().iter().cloned())
        .collect()
}

/// The errors of identifiers still unprocessed when the retries gave up
/// after `retries` retries.
fn unprocessed_errors<'a>(
    group: &'a str,
    pending: Vec<String>,
    retries: u32,
    gave_up: &'a GaveUp,
) -> impl Iterator<Item = BatchGetError> + 'a {
    pending.into_iter().map(move |id| BatchGetError {
        group: group.to_owned(),
        record_id: id,
        code: "Unprocessed",
        message: format!(
            "the service left this identifier unprocessed {} times ({gave_up})",
            retries + 1
        ),
    })
}

#[async_trait]
impl OnlineStore for AwsOnlineStore {
    async fn feature_group(&self, group: &str) -> Result<Arc<FeatureGroup>> {
        self.spec(group).await
    }

    async fn get_record(
        &self,
        group: &str,
        record_id: &str,
        features: Option<&[String]>,
    ) -> Result<Option<OnlineRecord>> {
        let spec = self.spec(group).await?;
        if let Some(f) = features.and_then(|f| f.iter().find(|f| spec.feature(f).is_none())) {
            return Err(Error::Validation {
                message: format!("feature {f:?} is not defined in feature group {group:?}"),
                source: None,
            });
        }
        let out = self
            .client
            .get_record()
            .feature_group_name(group)
            .record_identifier_value_as_string(record_id)
            .set_feature_names(with_event_time(&spec, features))
            .expiration_time_response(sdk::ExpirationTimeResponse::Enabled)
            .send()
            .await
            .map_err(|e| sdk_err("GetRecord", group, e))?;
        match out.record() {
            [] => Ok(None),
            values => Ok(Some(online_record(
                &spec,
                from_sdk_record(values),
                out.expires_at(),
                features,
            )?)),
        }
    }

    async fn batch_get_records(&self, requests: &[BatchGetRequest]) -> Result<BatchGetResult> {
        let chunks: Vec<Chunk> = requests
            .iter()
            .flat_map(|r| {
                r.record_ids
                    .chunks(MAX_BATCH_GET_IDS_PER_ENTRY)
                    .map(move |ids| Chunk {
                        group: r.group.clone(),
                        ids: ids.to_vec(),
                        features: r.features.clone(),
                    })
            })
            .collect();
        let parts: Vec<_> = stream::iter(chunks.into_iter().map(|c| self.batch_get_chunk(c)))
            .buffered(self.options.batch_concurrency.max(1))
            .try_collect()
            .await?;
        // Merge in request order.
        let mut by_key: HashMap<(String, String), BatchGetRecord> = HashMap::new();
        let mut result = BatchGetResult::default();
        for (found, errors) in parts {
            by_key.extend(
                found
                    .into_iter()
                    .map(|r| ((r.group.clone(), r.record_id.clone()), r)),
            );
            result.errors.extend(errors);
        }
        for r in requests {
            for id in &r.record_ids {
                if let Some(rec) = by_key.get(&(r.group.clone(), id.clone())) {
                    result.records.push(rec.clone());
                }
            }
        }
        Ok(result)
    }

    async fn put_record(&self, group: &str, record: &Record, options: &PutOptions) -> Result<()> {
        let mut call = self
            .client
            .put_record()
            .feature_group_name(group)
            .set_record(Some(to_sdk_record(record)))
            .set_target_stores(sdk_targets(options.target_stores.as_deref()));
        if let Some(ttl) = options.ttl {
            call = call.ttl_duration(sdk_ttl(ttl));
        }
        call.send()
            .await
            .map_err(|e| sdk_err("PutRecord", group, e))?;
        Ok(())
    }

    async fn delete_record(
        &self,
        group: &str,
        record_id: &str,
        event_time: &str,
        options: &DeleteOptions,
    ) -> Result<()> {
        self.client
            .delete_record()
            .feature_group_name(group)
            .record_identifier_value_as_string(record_id)
            .event_time(event_time)
            .deletion_mode(match options.mode {
                DeletionMode::SoftDelete => sdk::DeletionMode::SoftDelete,
                DeletionMode::HardDelete => sdk::DeletionMode::HardDelete,
            })
            .set_target_stores(sdk_targets(options.target_stores.as_deref()))
            .send()
            .await
            .map_err(|e| sdk_err("DeleteRecord", group, e))?;
        Ok(())
    }

    async fn list_records(
        &self,
        group: &str,
        include_soft_deleted: bool,
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<RecordIdPage> {
        let out = self
            .client
            .list_records()
            .feature_group_name(group)
            .include_soft_deleted_records(include_soft_deleted)
            .max_results(i32::try_from(max_results).unwrap_or(i32::MAX))
            .set_next_token(next_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| sdk_err("ListRecords", group, e))?;
        Ok(RecordIdPage {
            record_ids: out.record_identifiers().to_vec(),
            next_token: out.next_token().map(str::to_owned),
        })
    }
}
