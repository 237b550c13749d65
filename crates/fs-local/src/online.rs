//! The online store: puts, gets, deletes, batch gets and listing, with
//! SageMaker's semantics (see `docs/semantics.md`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use fs_schema::runtime::{
    BatchGetError, BatchGetRecord, BatchGetRequest, BatchGetResult, OnlineRecord, RecordIdPage,
};
use fs_schema::{DeletionMode, EventTime, FeatureGroup, Record, TargetStore, TtlDuration};
use redb::{ReadableTable, WriteTransaction};

use crate::codec::{
    OnlineValue, decode_online, encode_online, encode_online_parts, encode_outbox_parts,
    online_header,
};
use crate::error::{Error, Result, db};
use crate::store::{GroupDescription, META, NEXT_SEQ, ONLINE, OUTBOX, Store};

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Which stores a write goes to: the requested ones (each must exist), or
/// every store the group has.
fn resolve_targets(spec: &FeatureGroup, targets: Option<&[TargetStore]>) -> Result<(bool, bool)> {
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

fn expires_at(event_time: EventTime, ttl: Option<TtlDuration>) -> Option<i64> {
    ttl.map(|t| {
        let ms = i64::try_from(t.as_duration().as_millis()).unwrap_or(i64::MAX);
        event_time.as_millis().saturating_add(ms)
    })
}

impl Store {
    /// Puts one record (PutRecord): validated against the group, written
    /// online when its event time is not older than the stored record's, and
    /// appended to the offline outbox, in one durable transaction.
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
        let desc = self.describe_feature_group(group)?;
        let spec = &desc.spec;
        let (online, offline) = resolve_targets(spec, target_stores)?;
        let ttl = ttl.or(spec.ttl());
        if let Some(t) = ttl {
            t.validate()?;
        }
        let mut event_times = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let checked = record.validate(spec).and_then(|()| record.event_time(spec));
            match checked {
                Ok(t) => event_times.push(t),
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
        let txn = self.db.begin_write().map_err(db("writing records"))?;
        {
            if online {
                let mut table = txn.open_table(ONLINE).map_err(db("writing records"))?;
                for (record, &event_time) in records.iter().zip(&event_times) {
                    let id = record
                        .record_identifier(spec)
                        .expect("validated records have an id");
                    let stored = match table.get((group, id)).map_err(db("writing records"))? {
                        Some(bytes) => Some(online_header(bytes.value())?),
                        None => None,
                    };
                    let newer = match stored {
                        None => true,
                        Some((_, Some(expiry), _)) if expiry <= now => true,
                        Some((stored_time, _, _)) => event_time.as_millis() >= stored_time,
                    };
                    if newer {
                        let value = encode_online_parts(
                            event_time.as_millis(),
                            expires_at(event_time, ttl),
                            false,
                            record,
                        );
                        table
                            .insert((group, id), value.as_slice())
                            .map_err(db("writing records"))?;
                    }
                }
            }
            if offline {
                let rows = records.iter().zip(&event_times).map(|(record, t)| {
                    encode_outbox_parts(group, t.as_millis(), now, false, record)
                });
                self.append_outbox(&txn, rows)?;
            }
        }
        txn.commit().map_err(db("writing records"))?;
        if offline {
            self.after_outbox_append(records.len() as u64)?;
        }
        Ok(())
    }

    fn append_outbox(
        &self,
        txn: &WriteTransaction,
        rows: impl Iterator<Item = Vec<u8>>,
    ) -> Result<()> {
        let mut meta = txn.open_table(META).map_err(db("writing the outbox"))?;
        let mut seq = meta
            .get(NEXT_SEQ)
            .map_err(db("writing the outbox"))?
            .map(|v| v.value())
            .unwrap_or(0);
        let mut outbox = txn.open_table(OUTBOX).map_err(db("writing the outbox"))?;
        for row in rows {
            outbox
                .insert(seq, row.as_slice())
                .map_err(db("writing the outbox"))?;
            seq += 1;
        }
        meta.insert(NEXT_SEQ, seq)
            .map_err(db("writing the outbox"))?;
        Ok(())
    }

    fn after_outbox_append(&self, rows: u64) -> Result<()> {
        let total = self.outbox_rows.fetch_add(rows, Ordering::SeqCst) + rows;
        if total >= self.opts.flush_threshold_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Reads one record (GetRecord): `None` when there is none, it was
    /// deleted, or it has expired. `features` selects features (each must
    /// be defined in the group).
    pub fn get_record(
        &self,
        group: &str,
        record_id: &str,
        features: Option<&[String]>,
    ) -> Result<Option<OnlineRecord>> {
        let desc = self.describe_feature_group(group)?;
        check_online(&desc)?;
        if let Some(f) = features {
            check_features(&desc.spec, f)?;
        }
        let txn = self.read_txn()?;
        let table = txn.open_table(ONLINE).map_err(db("reading a record"))?;
        let bytes = table
            .get((group, record_id))
            .map_err(db("reading a record"))?;
        match bytes {
            None => Ok(None),
            Some(bytes) => read_value(bytes.value(), features, now_ms()),
        }
    }

    /// Reads many records across groups (BatchGetRecord), from one snapshot.
    /// Unknown groups and features are per-identifier errors, not a failure
    /// of the whole call.
    pub fn batch_get(&self, requests: &[BatchGetRequest]) -> Result<BatchGetResult> {
        let txn = self.read_txn()?;
        let table = txn.open_table(ONLINE).map_err(db("reading records"))?;
        let now = now_ms();
        let mut result = BatchGetResult::default();
        for req in requests {
            let checked = self.describe_feature_group(&req.group).and_then(|desc| {
                check_online(&desc)?;
                if let Some(f) = &req.features {
                    check_features(&desc.spec, f)?;
                }
                Ok(desc)
            });
            if let Err(e) = checked {
                let code = if e.is_not_found() {
                    "ResourceNotFound"
                } else {
                    "ValidationError"
                };
                result
                    .errors
                    .extend(req.record_ids.iter().map(|id| BatchGetError {
                        group: req.group.clone(),
                        record_id: id.clone(),
                        code,
                        message: e.to_string(),
                    }));
                continue;
            }
            for id in &req.record_ids {
                let bytes = table
                    .get((req.group.as_str(), id.as_str()))
                    .map_err(db("reading records"))?;
                if let Some(bytes) = bytes
                    && let Some(record) = read_value(bytes.value(), req.features.as_deref(), now)?
                {
                    result.records.push(BatchGetRecord {
                        group: req.group.clone(),
                        record_id: id.clone(),
                        record,
                    });
                }
            }
        }
        Ok(result)
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
        let desc = self.describe_feature_group(group)?;
        let spec = &desc.spec;
        let (online, offline) = resolve_targets(spec, target_stores)?;
        let t = EventTime::parse(event_time, spec.event_time().feature_type)?;
        let now = now_ms();
        let txn = self.db.begin_write().map_err(db("deleting a record"))?;
        {
            if online {
                let mut table = txn.open_table(ONLINE).map_err(db("deleting a record"))?;
                let stored = match table
                    .get((group, record_id))
                    .map_err(db("deleting a record"))?
                {
                    Some(bytes) => Some(online_header(bytes.value())?),
                    None => None,
                };
                let newer = stored.is_none_or(|(stored_time, _, _)| t.as_millis() > stored_time);
                match mode {
                    DeletionMode::HardDelete if !newer => {
                        return Err(Error::validation(format!(
                            "HardDelete of record {record_id:?} in feature group {group:?}: its EventTime {event_time} is not newer than the stored record's"
                        )));
                    }
                    DeletionMode::HardDelete => {
                        table
                            .remove((group, record_id))
                            .map_err(db("deleting a record"))?;
                    }
                    DeletionMode::SoftDelete if newer => {
                        let tombstone = encode_online(&OnlineValue {
                            event_time_ms: t.as_millis(),
                            expires_at_ms: None,
                            soft_deleted: true,
                            record: marker(spec, record_id, event_time),
                        });
                        table
                            .insert((group, record_id), tombstone.as_slice())
                            .map_err(db("deleting a record"))?;
                    }
                    DeletionMode::SoftDelete => {}
                }
            }
            if offline {
                let row = encode_outbox_parts(
                    group,
                    t.as_millis(),
                    now,
                    true,
                    &marker(spec, record_id, event_time),
                );
                self.append_outbox(&txn, std::iter::once(row))?;
            }
        }
        txn.commit().map_err(db("deleting a record"))?;
        if offline {
            self.after_outbox_append(1)?;
        }
        Ok(())
    }

    /// Lists record identifiers of a group (ListRecords), in ascending
    /// order, `max_results` (1 to 100) at a time. Expired records are left
    /// out; soft-deleted ones only with `include_soft_deleted`.
    pub fn list_records(
        &self,
        group: &str,
        include_soft_deleted: bool,
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<RecordIdPage> {
        let desc = self.describe_feature_group(group)?;
        check_online(&desc)?;
        if !(1..=fs_schema::limits::MAX_LIST_RECORDS_PAGE).contains(&max_results) {
            return Err(Error::validation(format!(
                "MaxResults must be from 1 to {}, not {max_results}",
                fs_schema::limits::MAX_LIST_RECORDS_PAGE
            )));
        }
        let after = match next_token {
            None => None,
            Some(t) => Some(t.strip_prefix("after:").ok_or_else(|| {
                Error::validation(format!("NextToken {t:?} was not issued by ListRecords"))
            })?),
        };
        let now = now_ms();
        let txn = self.read_txn()?;
        let table = txn.open_table(ONLINE).map_err(db("listing records"))?;
        let start = (group, after.unwrap_or(""));
        let mut ids = Vec::with_capacity(max_results);
        let mut more = false;
        for entry in table.range(start..).map_err(db("listing records"))? {
            let (key, value) = entry.map_err(db("listing records"))?;
            let (g, id) = key.value();
            if g != group {
                break;
            }
            if Some(id) == after {
                continue;
            }
            let (_, expiry, soft_deleted) = online_header(value.value())?;
            if expiry.is_some_and(|e| e <= now) || (soft_deleted && !include_soft_deleted) {
                continue;
            }
            if ids.len() == max_results {
                more = true;
                break;
            }
            ids.push(id.to_owned());
        }
        let next_token = (more && !ids.is_empty()).then(|| format!("after:{}", ids[ids.len() - 1]));
        Ok(RecordIdPage {
            record_ids: ids,
            next_token,
        })
    }

    /// Removes expired records from the online store and returns how many.
    /// Reads never return expired records, so this only reclaims space.
    pub fn purge_expired(&self) -> Result<usize> {
        let now = now_ms();
        let txn = self
            .db
            .begin_write()
            .map_err(db("purging expired records"))?;
        let mut removed = 0;
        {
            let mut table = txn
                .open_table(ONLINE)
                .map_err(db("purging expired records"))?;
            table
                .retain(|_, v| {
                    let expired =
                        online_header(v).is_ok_and(|(_, e, _)| e.is_some_and(|e| e <= now));
                    removed += usize::from(expired);
                    !expired
                })
                .map_err(db("purging expired records"))?;
        }
        txn.commit().map_err(db("purging expired records"))?;
        Ok(removed)
    }
}

/// The offline delete marker (and online tombstone) of a record: its
/// identifier and event time only.
fn marker(spec: &FeatureGroup, record_id: &str, event_time: &str) -> Record {
    Record::new()
        .with(spec.record_identifier_feature_name.clone(), record_id)
        .with(spec.event_time_feature_name.clone(), event_time)
}

fn check_online(desc: &Arc<GroupDescription>) -> Result<()> {
    if desc.spec.online_enabled() {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "feature group {:?} has no online store",
            desc.spec.feature_group_name
        )))
    }
}

fn check_features(spec: &FeatureGroup, features: &[String]) -> Result<()> {
    if let Some(f) = features.iter().find(|f| spec.feature(f).is_none()) {
        return Err(Error::validation(format!(
            "feature {f:?} is not defined in feature group {:?}",
            spec.feature_group_name
        )));
    }
    Ok(())
}

fn read_value(bytes: &[u8], features: Option<&[String]>, now: i64) -> Result<Option<OnlineRecord>> {
    let (_, expiry, soft_deleted) = online_header(bytes)?;
    if soft_deleted || expiry.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let value = match features {
        None => decode_online(bytes, &|_| true)?,
        Some(f) if f.len() <= 8 => decode_online(bytes, &|n| f.iter().any(|x| x == n))?,
        Some(f) => {
            let set: HashSet<&str> = f.iter().map(String::as_str).collect();
            decode_online(bytes, &|n| set.contains(n))?
        }
    };
    let to_time = |ms: i64| {
        EventTime::from_millis(ms).map_err(|_| Error::Corrupt {
            what: format!("stored time {ms} ms is out of range"),
        })
    };
    Ok(Some(OnlineRecord {
        record: value.record,
        event_time: to_time(value.event_time_ms)?,
        expires_at: value
            .expires_at_ms
            .map(|e| to_time(e.min(EventTime::MAX.as_millis())))
            .transpose()?,
    }))
}
