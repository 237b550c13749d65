//! Writes: puts of records and of Arrow batches, and deletes.
//!
//! Every write is checked and encoded by its caller, then committed through
//! the commit queue (`commit`), so that concurrent writers share one durable
//! transaction. A put writes the online value (unless the stored record is
//! newer) and appends its offline outbox entry in the same transaction.

use arrow_array::{BooleanArray, RecordBatch};
use chrono::Utc;
use fs_schema::{
    DeletionMode, EventTime, FeatureGroup, Record, TargetStore, TtlDuration, records_to_batch,
};
use redb::ReadableTable;

use crate::batch::{BatchRows, RefusedRow};
use crate::codec::{encode_online, encode_outbox_row, put_online_header, put_record};
use crate::commit::queue::{Job, OnlineOp, OnlinePuts, Outcome};
use crate::error::{Error, Result, db};
use crate::outbox::encode_batch_entry;
use crate::store::Store;

/// Idempotency keys of batch puts: key -> rows written (u64) and when (i64 ms).
pub(crate) const KEYS: redb::TableDefinition<'_, &str, &[u8]> =
    redb::TableDefinition::new("idempotency_keys");

/// Puts of at least this many records keep their offline rows as one Arrow
/// batch (flushed without parsing text again); smaller ones as rows.
const BATCH_ENTRY_MIN_RECORDS: usize = 32;

/// Why encoding a validated record cannot fail.
const VALIDATED: &str = "validated records hold only the group's features";
/// Why encoding a delete marker cannot fail.
const MARKER_FEATURES: &str = "markers hold the group's identifier and event time";

/// Options of a batch put ([`Store::put_batch`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchOptions {
    /// The stores to write; every store the group has when `None`.
    pub target_stores: Option<Vec<TargetStore>>,
    /// A time to live, overriding the group's default.
    pub ttl: Option<TtlDuration>,
    /// A key naming this batch: a batch put with a key the store has already
    /// committed is acknowledged without being written again.
    pub idempotency_key: Option<String>,
}

impl BatchOptions {
    /// Writes only to `stores`.
    pub fn target_stores(mut self, stores: impl IntoIterator<Item = TargetStore>) -> Self {
        self.target_stores = Some(stores.into_iter().collect());
        self
    }

    /// Gives every record this time to live.
    pub fn ttl(mut self, ttl: TtlDuration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Names the batch, so that sending it again writes nothing twice.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// What a batch put did.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchWrite {
    /// Rows written (on a replay: rows the first put with the key wrote).
    pub rows_written: usize,
    /// Rows refused, in row order, with why. Every other row was written.
    pub refused: Vec<RefusedRow>,
    /// True when the idempotency key was known: nothing was written now.
    pub replayed: bool,
}

/// One put of [`Store::put_records_each`].
#[derive(Debug, Clone, Copy)]
pub struct RecordPut<'a> {
    /// The group.
    pub group: &'a str,
    /// The record.
    pub record: &'a Record,
    /// The stores to write; every store the group has when `None`.
    pub target_stores: Option<&'a [TargetStore]>,
    /// A time to live, overriding the group's default.
    pub ttl: Option<TtlDuration>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Which stores a write goes to: the requested ones (each must exist), or
/// every store the group has.
pub(crate) fn resolve_targets(
    spec: &FeatureGroup,
    targets: Option<&[TargetStore]>,
) -> Result<(bool, bool)> {
    let Some(targets) = targets else {
        return Ok((spec.online_enabled(), spec.offline_enabled()));
    };
    if targets.is_empty() {
        return Err(Error::validation(
            "TargetStores, when given, must name at least one store",
        ));
    }
    let online = targets.contains(&TargetStore::OnlineStore);
    let offline = targets.contains(&TargetStore::OfflineStore);
    if online && !spec.online_enabled() {
        return Err(Error::validation(format!(
            "feature group {:?} has no online store (TargetStores names OnlineStore)",
            spec.feature_group_name
        )));
    }
    if offline && !spec.offline_enabled() {
        return Err(Error::validation(format!(
            "feature group {:?} has no offline store (TargetStores names OfflineStore)",
            spec.feature_group_name
        )));
    }
    Ok((online, offline))
}

/// The TTL a write uses: its own, or the group's; validated.
fn resolve_ttl(spec: &FeatureGroup, ttl: Option<TtlDuration>) -> Result<Option<TtlDuration>> {
    let ttl = ttl.or(spec.ttl());
    if let Some(t) = ttl {
        t.validate()?;
    }
    Ok(ttl)
}

fn expires_at(event_time_ms: i64, ttl: Option<TtlDuration>) -> Option<i64> {
    ttl.map(|t| {
        let ms = i64::try_from(t.as_duration().as_millis()).unwrap_or(i64::MAX);
        event_time_ms.saturating_add(ms)
    })
}

impl Store {
    /// Puts one record (PutRecord): validated against the group, written
    /// online when its event time is not older than the stored record's, and
    /// appended to the offline outbox, in one durable transaction (shared
    /// with concurrent writers: see [`Store::put_records_each`]).
    pub fn put_record(
        &self,
        group: &str,
        record: &Record,
        target_stores: Option<&[TargetStore]>,
        ttl: Option<TtlDuration>,
    ) -> Result<()> {
        self.put_records(group, std::slice::from_ref(record), target_stores, ttl)
    }

    /// Puts many records of one group in one durable transaction: all are
    /// validated first, and either all are written or none. Records are
    /// applied in order, so of two with the same identifier the later event
    /// time wins (the later one in the batch on a tie).
    pub fn put_records(
        &self,
        group: &str,
        records: &[Record],
        target_stores: Option<&[TargetStore]>,
        ttl: Option<TtlDuration>,
    ) -> Result<()> {
        if records.is_empty() {
            self.group(group)?;
            return Ok(());
        }
        let job = self.records_job(group, records, target_stores, ttl)?;
        self.commit_one(job).map(|_| ())
    }

    /// Puts records each on its own (BatchWriteRecord): every put is
    /// validated alone and gets its own result, and the valid ones are
    /// written together in one durable transaction.
    pub fn put_records_each(&self, puts: &[RecordPut<'_>]) -> Vec<Result<()>> {
        let mut results: Vec<Option<Result<()>>> = Vec::with_capacity(puts.len());
        let mut jobs = Vec::with_capacity(puts.len());
        let mut slots = Vec::with_capacity(puts.len());
        for (i, p) in puts.iter().enumerate() {
            match self.records_job(
                p.group,
                std::slice::from_ref(p.record),
                p.target_stores,
                p.ttl,
            ) {
                Ok(job) => {
                    jobs.push(job);
                    slots.push(i);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        for (i, r) in slots.into_iter().zip(self.commit(jobs)) {
            results[i] = Some(r.map(|_| ()));
        }
        results
            .into_iter()
            .map(|r| r.expect("every put has a result"))
            .collect()
    }

    /// Puts the rows of an Arrow batch typed as the group
    /// (`fs_schema::arrow_schema`, as `fs_schema::cast_batch` makes it; a
    /// feature without a column is null) in one durable transaction, without
    /// converting rows to records: online values and one offline outbox
    /// entry holding the rows as Arrow.
    ///
    /// Each row is checked as [`Record::validate`] checks a record; rows that
    /// break a rule are refused (listed in [`BatchWrite::refused`]) and the
    /// others written. The semantics are those of [`Store::put_records`]:
    /// rows in order, the latest event time winning online, every row
    /// offline. With [`BatchOptions::idempotency_key`], a batch whose key
    /// was committed before is not written again.
    ///
    /// An `Err` means nothing was written: the group does not exist, a
    /// column is not one of its features or has another type, the target
    /// stores or TTL are invalid, or the database failed.
    pub fn put_batch(
        &self,
        group: &str,
        batch: &RecordBatch,
        options: &BatchOptions,
    ) -> Result<BatchWrite> {
        let desc = self.group(group)?;
        let spec = &desc.spec;
        let (online, offline) = resolve_targets(spec, options.target_stores.as_deref())?;
        let ttl = resolve_ttl(spec, options.ttl)?;
        let rows = BatchRows::new(spec, batch)?;
        let mut refused = Vec::new();
        let mut valid = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        for row in 0..rows.len() {
            match rows.check(spec, row) {
                Ok(t) => {
                    valid.push(row);
                    times.push(t);
                }
                Err(error) => refused.push(RefusedRow {
                    row,
                    record_id: rows.id(row).map(str::to_owned),
                    error,
                }),
            }
        }
        if valid.is_empty() {
            return Ok(BatchWrite {
                rows_written: 0,
                refused,
                replayed: false,
            });
        }
        let now = now_ms();
        let online = if online {
            let bytes = batch.get_array_memory_size() / batch.num_rows().max(1) * 2 + 64;
            let mut puts = OnlinePuts::with_capacity(valid.len(), valid.len() * bytes);
            for (&row, &t) in valid.iter().zip(&times) {
                let id = rows.id(row).expect("checked rows have an identifier");
                puts.push(id, t, |out| {
                    rows.encode_online(row, t, expires_at(t, ttl), out);
                });
            }
            OnlineOp::Puts(puts)
        } else {
            OnlineOp::None
        };
        let mut outbox = Vec::new();
        if offline {
            let kept = if refused.is_empty() {
                rows.batch().clone()
            } else {
                let keep: BooleanArray = (0..rows.len())
                    .map(|r| Some(refused.binary_search_by_key(&r, |x| x.row).is_err()))
                    .collect();
                arrow_select::filter::filter_record_batch(rows.batch(), &keep)
                    .map_err(|e| Error::validation(format!("filtering refused rows: {e}")))?
            };
            outbox.push(encode_batch_entry(group, now, &kept, times)?);
        }
        let written = valid.len();
        let job = Job {
            group: group.to_owned(),
            online,
            outbox_rows: if offline { written as u64 } else { 0 },
            outbox,
            rows: written as u64,
            key: options.idempotency_key.clone(),
        };
        Ok(match self.commit_one(job)? {
            Outcome::Written => BatchWrite {
                rows_written: written,
                refused,
                replayed: false,
            },
            Outcome::Replayed { rows } => BatchWrite {
                rows_written: usize::try_from(rows).unwrap_or(usize::MAX),
                refused,
                replayed: true,
            },
        })
    }

    /// Deletes a record (DeleteRecord) as of `event_time` (in the group's
    /// event-time form).
    ///
    /// Online, a `SoftDelete` newer than the stored record replaces it with
    /// a tombstone; a `HardDelete` removes it, and fails with a validation
    /// error (writing nothing) when its event time is not newer than the
    /// stored record's. Offline, both append a row with `is_deleted = true`.
    pub fn delete_record(
        &self,
        group: &str,
        record_id: &str,
        event_time: &str,
        mode: DeletionMode,
        target_stores: Option<&[TargetStore]>,
    ) -> Result<()> {
        let desc = self.group(group)?;
        let spec = &desc.spec;
        let (online, offline) = resolve_targets(spec, target_stores)?;
        let t = EventTime::parse(event_time, spec.event_time().feature_type)?.as_millis();
        let marker = marker(spec, record_id, event_time);
        let online = match (online, mode) {
            (false, _) => OnlineOp::None,
            (true, DeletionMode::SoftDelete) => OnlineOp::SoftDelete {
                id: record_id.to_owned(),
                event_time_ms: t,
                tombstone: encode_online(&spec.feature_definitions, t, None, true, &marker)
                    .expect(MARKER_FEATURES),
            },
            (true, DeletionMode::HardDelete) => OnlineOp::HardDelete {
                id: record_id.to_owned(),
                event_time_ms: t,
                event_time: event_time.to_owned(),
            },
        };
        let outbox = if offline {
            let defs = &spec.feature_definitions;
            vec![encode_outbox_row(group, defs, t, now_ms(), true, &marker).expect(MARKER_FEATURES)]
        } else {
            Vec::new()
        };
        let job = Job {
            group: group.to_owned(),
            online,
            outbox_rows: outbox.len() as u64,
            outbox,
            rows: 1,
            key: None,
        };
        self.commit_one(job).map(|_| ())
    }

    /// Forgets the idempotency keys that begin with `prefix` (for example
    /// those of an ingest that finished) and returns how many there were.
    pub fn forget_idempotency_keys(&self, prefix: &str) -> Result<usize> {
        const CTX: &str = "forgetting idempotency keys";
        let txn = self.write_txn(CTX)?;
        let forgotten = {
            let mut keys = txn.open_table(KEYS).map_err(db(CTX))?;
            let mut doomed = Vec::new();
            for entry in keys.range(prefix..).map_err(db(CTX))? {
                let (key, _) = entry.map_err(db(CTX))?;
                if !key.value().starts_with(prefix) {
                    break;
                }
                doomed.push(key.value().to_owned());
            }
            for key in &doomed {
                keys.remove(key.as_str()).map_err(db(CTX))?;
            }
            doomed.len()
        };
        txn.commit().map_err(db(CTX))?;
        Ok(forgotten)
    }

    /// Validates `records` and encodes them as one job.
    fn records_job(
        &self,
        group: &str,
        records: &[Record],
        target_stores: Option<&[TargetStore]>,
        ttl: Option<TtlDuration>,
    ) -> Result<Job> {
        let desc = self.group(group)?;
        let spec = &desc.spec;
        let (online, offline) = resolve_targets(spec, target_stores)?;
        let ttl = resolve_ttl(spec, ttl)?;
        let mut times = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            match record.validate(spec).and_then(|()| record.event_time(spec)) {
                Ok(t) => times.push(t.as_millis()),
                Err(source) => {
                    return Err(Error::InvalidRecord {
                        group: group.to_owned(),
                        index,
                        record_id: record.record_identifier(spec).map(str::to_owned),
                        source: Box::new(source),
                    });
                }
            }
        }
        let now = now_ms();
        let online = if online {
            let bytes: usize = records
                .iter()
                .map(|r| 48 + r.size_bytes() + 24 * r.len())
                .sum();
            let mut puts = OnlinePuts::with_capacity(records.len(), bytes);
            for (record, &t) in records.iter().zip(&times) {
                let id = record
                    .record_identifier(spec)
                    .expect("validated records have an id");
                puts.push(id, t, |out| {
                    put_online_header(out, t, expires_at(t, ttl), false);
                    put_record(out, &spec.feature_definitions, record).expect(VALIDATED);
                });
            }
            OnlineOp::Puts(puts)
        } else {
            OnlineOp::None
        };
        let outbox = if !offline {
            Vec::new()
        } else if records.len() >= BATCH_ENTRY_MIN_RECORDS
            && let Ok(batch) = records_to_batch(spec, records)
        {
            vec![encode_batch_entry(group, now, &batch, times.clone())?]
        } else {
            records
                .iter()
                .zip(&times)
                .map(|(r, &t)| {
                    encode_outbox_row(group, &spec.feature_definitions, t, now, false, r)
                        .expect(VALIDATED)
                })
                .collect()
        };
        Ok(Job {
            group: group.to_owned(),
            online,
            outbox_rows: if offline { records.len() as u64 } else { 0 },
            outbox,
            rows: records.len() as u64,
            key: None,
        })
    }

    fn commit_one(&self, job: Job) -> Result<Outcome> {
        self.commit(vec![job]).pop().expect("one result per job")
    }
}

/// The offline delete marker (and online tombstone) of a record: its
/// identifier and event time only.
fn marker(spec: &FeatureGroup, record_id: &str, event_time: &str) -> Record {
    Record::new()
        .with(spec.record_identifier_feature_name.clone(), record_id)
        .with(spec.event_time_feature_name.clone(), event_time)
}
