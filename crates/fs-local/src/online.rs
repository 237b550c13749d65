//! Reads of the online store: gets, batch gets and listing, with
//! SageMaker's semantics (see `docs/semantics.md`). Writes are in `write`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use fs_schema::runtime::{
    BatchGetError, BatchGetRecord, BatchGetRequest, BatchGetResult, OnlineRecord, RecordIdPage,
};
use fs_schema::{EventTime, FeatureGroup};

use crate::codec::{decode_online, online_header};
use crate::error::{Error, Result, db};
use crate::store::{GroupDescription, ONLINE, Store};

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Store {
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
            Some(bytes) => read_value(&desc.spec, bytes.value(), features, now_ms()),
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
        result
            .records
            .reserve(requests.iter().map(|r| r.record_ids.len()).sum());
        for req in requests {
            let checked = self.describe_feature_group(&req.group).and_then(|desc| {
                check_online(&desc)?;
                if let Some(f) = &req.features {
                    check_features(&desc.spec, f)?;
                }
                Ok(desc)
            });
            let desc = match checked {
                Ok(desc) => desc,
                Err(e) => {
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
            };
            for id in &req.record_ids {
                let bytes = table
                    .get((req.group.as_str(), id.as_str()))
                    .map_err(db("reading records"))?;
                if let Some(bytes) = bytes
                    && let Some(record) =
                        read_value(&desc.spec, bytes.value(), req.features.as_deref(), now)?
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

pub(crate) fn check_online(desc: &Arc<GroupDescription>) -> Result<()> {
    if desc.spec.online_enabled() {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "feature group {:?} has no online store",
            desc.spec.feature_group_name
        )))
    }
}

pub(crate) fn check_features(spec: &FeatureGroup, features: &[String]) -> Result<()> {
    if let Some(f) = features.iter().find(|f| spec.feature(f).is_none()) {
        return Err(Error::validation(format!(
            "feature {f:?} is not defined in feature group {:?}",
            spec.feature_group_name
        )));
    }
    Ok(())
}

pub(crate) fn read_value(
    spec: &FeatureGroup,
    bytes: &[u8],
    features: Option<&[String]>,
    now: i64,
) -> Result<Option<OnlineRecord>> {
    let defs = spec.feature_definitions.as_slice();
    let (_, expiry, soft_deleted) = online_header(bytes)?;
    if soft_deleted || expiry.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let value = match features {
        None => decode_online(bytes, defs, &|_| true)?,
        Some(f) if f.len() <= 8 => decode_online(bytes, defs, &|n| f.iter().any(|x| x == n))?,
        Some(f) => {
            let set: HashSet<&str> = f.iter().map(String::as_str).collect();
            decode_online(bytes, defs, &|n| set.contains(n))?
        }
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

/// A stored time as an event time (an error names it when out of range).
pub(crate) fn to_time(ms: i64) -> Result<EventTime> {
    EventTime::from_millis(ms).map_err(|_| Error::Corrupt {
        what: format!("stored time {ms} ms is out of range"),
    })
}
