//! [`BatchWriteSink`]: SageMaker Feature Store's BatchWriteRecord, 25
//! records per request.

use std::time::Duration;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use aws_sdk_sagemakerfeaturestoreruntime::Client;
use aws_sdk_sagemakerfeaturestoreruntime::types as sdk;
use fs_retry::{Classify, RetryClass, RetryConfig};
use fs_schema::aws_error::{AwsError, AwsErrorKind};
use fs_schema::limits::MAX_BATCH_WRITE_ENTRIES;
use fs_schema::{FeatureGroup, Record, TargetStore, TtlDuration, TtlUnit, Value, batch_to_records};
use futures::StreamExt;
use tokio::time::Instant;

use super::{RowOutcome, Sink, WriteOptions};
use crate::error::{Error, Result};
use crate::source::Provenance;

/// The default number of BatchWriteRecord requests in flight.
pub const DEFAULT_BATCH_WRITE_CONCURRENCY: usize = 8;

/// A [`Sink`] writing through BatchWriteRecord (feature `aws`): the rows of
/// a batch go in requests of up to 25 entries, at most `concurrency`
/// requests in flight.
///
/// The service answers per entry. An entry it reports failed with a
/// retryable code (throttling, an internal failure, unavailability) or
/// leaves unprocessed is sent again, with the other rows to retry, after a
/// backoff per [`RetryConfig`] (retries and total deadline); one failed for
/// any other reason (an invalid record) fails its row with the service's
/// code and message. A request that fails as a whole is retried when
/// retryable, and otherwise fails its rows. An unknown feature group fails
/// the batch. Entries are matched to rows by their content (the service
/// returns the failed entry as sent). Retries after an outcome that may
/// have been a write (a request failing with a 5xx, a timeout or a lost
/// connection, an entry failed with an internal error) are counted in
/// [`RowOutcome::unknown_outcome_retries`]; throttled and unprocessed
/// entries were not written and are not.
///
/// Against SageMaker, throughput is requests in flight times 25 over the
/// latency, about 25 times that of PutRecord per row; offline rows are the
/// service's business, so [`Sink::flush`] does nothing.
#[derive(Debug, Clone)]
pub struct BatchWriteSink {
    client: Client,
    concurrency: usize,
    entries_per_request: usize,
    retry: RetryConfig,
}

impl BatchWriteSink {
    /// A sink over `client` with [`DEFAULT_BATCH_WRITE_CONCURRENCY`]
    /// requests in flight, 25 entries per request and the default
    /// [`RetryConfig`]. Disable the SDK's own retries in the client's
    /// configuration to let this policy decide (and count) retries.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            concurrency: DEFAULT_BATCH_WRITE_CONCURRENCY,
            entries_per_request: MAX_BATCH_WRITE_ENTRIES,
            retry: RetryConfig::default(),
        }
    }

    /// At most `n` requests in flight (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// At most `n` entries per request (1 to 25).
    pub fn with_entries_per_request(mut self, n: usize) -> Self {
        self.entries_per_request = n.clamp(1, MAX_BATCH_WRITE_ENTRIES);
        self
    }

    /// Retries per `retry`.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sends one request and sorts its rows: `Ok` per row (written), or the
    /// failure (`retryable`, the reason).
    async fn send(&self, entries: Vec<(usize, sdk::BatchWriteRecordEntry)>) -> Sent {
        let sent_at = Instant::now();
        let rows: Vec<usize> = entries.iter().map(|(r, _)| *r).collect();
        let request: Vec<sdk::BatchWriteRecordEntry> =
            entries.iter().map(|(_, e)| e.clone()).collect();
        let answer = self
            .client
            .batch_write_record()
            .set_entries(Some(request))
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk("BatchWriteRecord", e);
                if e.is_not_found() {
                    return Sent::GroupNotFound(e);
                }
                let failure = RowFailure {
                    class: e.retry_class(),
                    reason: e.to_string(),
                };
                let rows = rows
                    .into_iter()
                    .map(|r| (r, Err(failure.clone())))
                    .collect();
                return Sent::Rows(sent_at, rows);
            }
        };
        let mut results: Vec<(usize, std::result::Result<(), RowFailure>)> =
            rows.iter().map(|&r| (r, Ok(()))).collect();
        let mut matched = vec![false; entries.len()];
        let mut find = |entry: Option<&sdk::BatchWriteRecordEntry>| -> Option<usize> {
            let entry = entry?;
            let i = (0..entries.len())
                .find(|&i| !matched[i] && entries[i].1 == *entry)
                .or_else(|| {
                    // The same record identifier, should the entry come back changed.
                    (0..entries.len()).find(|&i| !matched[i] && same_record(&entries[i].1, entry))
                })?;
            matched[i] = true;
            Some(i)
        };
        for error in out.errors() {
            let code = error.error_code().unwrap_or("Unknown");
            let message = error.error_message().unwrap_or_default();
            let kind = AwsErrorKind::classify(Some(code), None);
            let Some(i) = find(error.entry()) else {
                tracing::warn!(
                    code,
                    message,
                    "BatchWriteRecord reported an error for an entry it did not send back"
                );
                continue;
            };
            if kind == AwsErrorKind::NotFound {
                return Sent::GroupNotFound(AwsError::new(
                    "BatchWriteRecord",
                    kind,
                    format!("{code}: {message}"),
                ));
            }
            results[i].1 = Err(RowFailure {
                // An entry failed with an internal error (transient) may
                // still have been written.
                class: kind.retry_class(),
                reason: format!("BatchWriteRecord entry failed ({code}): {message}"),
            });
        }
        for entry in out.unprocessed_entries() {
            if let Some(i) = find(Some(entry)) {
                results[i].1 = Err(RowFailure {
                    // Not written: retried like a throttled entry.
                    class: RetryClass::Throttled,
                    reason: "BatchWriteRecord left the entry unprocessed".into(),
                });
            }
        }
        Sent::Rows(sent_at, results)
    }
}

/// A row's failure in one request.
#[derive(Debug, Clone)]
struct RowFailure {
    /// Whether to retry, and whether the entry may have been written
    /// ([`RetryClass::Transient`]: a 5xx, a timeout, a connection lost after
    /// sending) as opposed to refused ([`RetryClass::Throttled`]:
    /// throttled, unprocessed).
    class: RetryClass,
    reason: String,
}

/// What one request did.
enum Sent {
    /// When the request was sent, and each row's result.
    Rows(Instant, Vec<(usize, std::result::Result<(), RowFailure>)>),
    GroupNotFound(AwsError),
}

fn same_record(a: &sdk::BatchWriteRecordEntry, b: &sdk::BatchWriteRecordEntry) -> bool {
    a.feature_group_name() == b.feature_group_name() && a.record() == b.record()
}

fn sdk_entry(group: &str, record: &Record, options: &WriteOptions) -> sdk::BatchWriteRecordEntry {
    let values = record
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
        .collect();
    sdk::BatchWriteRecordEntry::builder()
        .feature_group_name(group)
        .set_record(Some(values))
        .set_target_stores(options.target_stores.as_ref().map(|t| {
            t.iter()
                .map(|t| match t {
                    TargetStore::OnlineStore => sdk::TargetStore::OnlineStore,
                    TargetStore::OfflineStore => sdk::TargetStore::OfflineStore,
                })
                .collect()
        }))
        .set_ttl_duration(options.ttl.map(sdk_ttl))
        .build()
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

/// Each row's state across the retry rounds of one batch: its outcome once
/// known, its last retryable failure, how many of its retries followed an
/// outcome that may have been a write, and when it was first sent.
struct RowStates {
    outcomes: Vec<Option<RowOutcome>>,
    last_failure: Vec<RowFailure>,
    unknown: Vec<u32>,
    first_attempt: Vec<Option<Instant>>,
}

impl RowStates {
    /// The state of `n` rows, none sent yet.
    fn new(n: usize) -> Self {
        Self {
            outcomes: vec![None; n],
            last_failure: vec![
                RowFailure {
                    class: RetryClass::Permanent,
                    reason: String::new(),
                };
                n
            ],
            unknown: vec![0; n],
            first_attempt: vec![None; n],
        }
    }

    /// Records one request's answers after `retries` retries: a written
    /// row or a permanent failure gets its outcome, a retryable failure
    /// is kept and its row pushed to `again`.
    fn record(
        &mut self,
        sent_at: Instant,
        rows: Vec<(usize, std::result::Result<(), RowFailure>)>,
        retries: u32,
        again: &mut Vec<usize>,
    ) {
        for (row, result) in rows {
            self.first_attempt[row].get_or_insert(sent_at);
            match result {
                Ok(()) => {
                    self.outcomes[row] = Some(
                        RowOutcome::written()
                            .with_retries(retries)
                            .with_unknown_outcome_retries(self.unknown[row]),
                    );
                }
                Err(f) if f.class.is_retryable() => {
                    self.last_failure[row] = f;
                    again.push(row);
                }
                Err(f) => {
                    self.outcomes[row] = Some(
                        RowOutcome::failed(f.reason)
                            .with_retries(retries)
                            .with_unknown_outcome_retries(self.unknown[row]),
                    );
                }
            }
        }
    }

    /// Of the rows in `again` (sorted), those `retry` lets be sent again
    /// after `delay`, each within its own deadline; the others fail with
    /// why retries stopped and their last failure.
    fn retry_or_give_up(
        &mut self,
        again: Vec<usize>,
        retry: &RetryConfig,
        retries: u32,
        delay: Duration,
    ) -> Vec<usize> {
        let mut retried = Vec::with_capacity(again.len());
        for row in again {
            let first = self.first_attempt[row].expect("sent rows have a first attempt");
            match retry.give_up(retries, first, delay) {
                None => {
                    self.unknown[row] += u32::from(self.last_failure[row].class.outcome_unknown());
                    retried.push(row);
                }
                Some(gave_up) => {
                    let reason = format!("{gave_up}: {}", self.last_failure[row].reason);
                    self.outcomes[row] = Some(
                        RowOutcome::failed(reason)
                            .with_retries(retries)
                            .with_unknown_outcome_retries(self.unknown[row]),
                    );
                }
            }
        }
        retried
    }

    /// Every row's outcome, in row order.
    fn into_outcomes(self) -> Vec<RowOutcome> {
        self.outcomes
            .into_iter()
            .map(|o| o.expect("every row has an outcome"))
            .collect()
    }
}

impl BatchWriteSink {
    /// Sends the `pending` rows' entries in requests of up to
    /// `entries_per_request`, `concurrency` at once, and returns each
    /// request's answer.
    async fn send_round(
        &self,
        entries: &[sdk::BatchWriteRecordEntry],
        pending: &[usize],
    ) -> Vec<Sent> {
        let requests: Vec<Vec<(usize, sdk::BatchWriteRecordEntry)>> = pending
            .chunks(self.entries_per_request)
            .map(|rows| rows.iter().map(|&r| (r, entries[r].clone())).collect())
            .collect();
        futures::stream::iter(requests)
            .map(|entries| self.send(entries))
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }
}

#[async_trait]
impl Sink for BatchWriteSink {
    async fn write(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
    ) -> Result<Vec<RowOutcome>> {
        let to_error = |source| Error::Sink {
            file: provenance.file.to_path_buf(),
            first_row: provenance.first_row(),
            source,
        };
        let records = batch_to_records(&batch).map_err(|e| to_error(Box::new(e)))?;
        let n = records.len();
        let entries: Vec<sdk::BatchWriteRecordEntry> = records
            .iter()
            .map(|r| sdk_entry(group.name(), r, options))
            .collect();
        drop(records);
        let mut states = RowStates::new(n);
        let mut pending: Vec<usize> = (0..n).collect();
        let mut retries = 0u32;
        while !pending.is_empty() {
            let answers = self.send_round(&entries, &pending).await;
            let mut again = Vec::new();
            for answer in answers {
                match answer {
                    Sent::Rows(sent_at, rows) => states.record(sent_at, rows, retries, &mut again),
                    Sent::GroupNotFound(e) => return Err(to_error(Box::new(e))),
                }
            }
            if again.is_empty() {
                break;
            }
            again.sort_unstable();
            // One delay for the round; each row within its own deadline.
            let delay = self.retry.delay(retries + 1);
            let retried = states.retry_or_give_up(again, &self.retry, retries, delay);
            if retried.is_empty() {
                break;
            }
            retries += 1;
            tracing::debug!(
                rows = retried.len(),
                retry = retries,
                ?delay,
                "retrying BatchWriteRecord entries"
            );
            tokio::time::sleep(delay).await;
            pending = retried;
        }
        Ok(states.into_outcomes())
    }

    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}
