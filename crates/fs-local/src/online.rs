//! Reads of the online store: gets, batch gets and listing, with
//! SageMaker's semantics (see `docs/semantics.md`). Writes are in `write`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use fs_schema::runtime::{
    BatchGetError, BatchGetRecord, BatchGetRequest, BatchGetResult, OnlineRecord, RecordIdPage,
};
use fs_schema::{EventTime, FeatureGroup};

use crate::codec::{Alloc, Header, Keep, decode_record, online_header};
use crate::description::GroupDescription;
use crate::error::{Error, Result, db};
use crate::store::Store;

/// The online store: (group, record identifier) -> online value (`codec`).
pub(crate) const ONLINE: redb::TableDefinition<'_, (&str, &str), &[u8]> =
    redb::TableDefinition::new("online");

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
        let desc = self.group(group)?;
        check_online(&desc)?;
        if let Some(f) = features {
            check_features(&desc.spec, f)?;
        }
        let selection = features.map(|f| Selection::new(&desc.spec, f));
        let txn = self.read_txn()?;
        let table = txn.open_table(ONLINE).map_err(db("reading a record"))?;
        let bytes = table
            .get((group, record_id))
            .map_err(db("reading a record"))?;
        match bytes {
            None => Ok(None),
            Some(bytes) => read_value(
                &desc.spec,
                bytes.value(),
                keep(&selection),
                Alloc::Reuse,
                now_ms(),
            ),
        }
    }

    /// Reads many records across groups (BatchGetRecord), from one snapshot.
    /// Unknown groups and features are per-identifier errors, not a failure
    /// of the whole call. Records come in request order (an identifier asked
    /// for twice, twice); they are looked up in key order, where
    /// neighbours share the database's pages.
    pub fn batch_get(&self, requests: &[BatchGetRequest]) -> Result<BatchGetResult> {
        let txn = self.read_txn()?;
        let table = txn.open_table(ONLINE).map_err(db("reading records"))?;
        let now = now_ms();
        let mut result = BatchGetResult::default();
        result
            .records
            .reserve(requests.iter().map(|r| r.record_ids.len()).sum());
        let mut order = Vec::new();
        let mut found = Vec::new();
        for req in requests {
            let checked = self.group(&req.group).and_then(|desc| {
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
            let selection = req
                .features
                .as_deref()
                .map(|f| Selection::new(&desc.spec, f));
            let ids = &req.record_ids;
            key_order(ids, &mut order);
            found.clear();
            found.resize_with(ids.len(), || None);
            for &i in &order {
                let bytes = table
                    .get((req.group.as_str(), ids[i].as_str()))
                    .map_err(db("reading records"))?;
                if let Some(bytes) = bytes {
                    found[i] = read_value(
                        &desc.spec,
                        bytes.value(),
                        keep(&selection),
                        Alloc::Direct,
                        now,
                    )?;
                }
            }
            for (id, record) in ids.iter().zip(found.drain(..)) {
                if let Some(record) = record {
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
        let desc = self.group(group)?;
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
        let txn = self.write_txn("purging expired records")?;
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

/// The features a read selects, by position among the group's definitions.
pub(crate) struct Selection(Vec<bool>);

impl Selection {
    /// The selection of `features` (each defined in `spec`: checked before).
    pub(crate) fn new(spec: &FeatureGroup, features: &[String]) -> Selection {
        let defs = &spec.feature_definitions;
        if features.len() <= 8 {
            return Selection(defs.iter().map(|d| features.contains(&d.name)).collect());
        }
        let set: HashSet<&str> = features.iter().map(String::as_str).collect();
        Selection(defs.iter().map(|d| set.contains(d.name.as_str())).collect())
    }
}

/// What a read with `selection` (`None`: every feature) keeps.
pub(crate) fn keep(selection: &Option<Selection>) -> Keep<'_> {
    match selection {
        None => Keep::All,
        Some(Selection(selected)) => Keep::Only(selected),
    }
}

/// The positions of `ids` in key order (`order` is reused).
pub(crate) fn key_order<S: AsRef<str>>(ids: &[S], order: &mut Vec<usize>) {
    order.clear();
    order.extend(0..ids.len());
    order.sort_unstable_by(|&a, &b| ids[a].as_ref().cmp(ids[b].as_ref()));
}

/// The record of the online value `bytes`, if it is live at `now`
/// (`alloc`: see [`Alloc`]).
pub(crate) fn read_value(
    spec: &FeatureGroup,
    bytes: &[u8],
    keep: Keep<'_>,
    alloc: Alloc,
    now: i64,
) -> Result<Option<OnlineRecord>> {
    let header = Header::read(bytes)?;
    if !header.is_live(now) {
        return Ok(None);
    }
    let record = decode_record(bytes, &header, &spec.feature_definitions, keep, alloc)?;
    Ok(Some(OnlineRecord {
        record,
        event_time: to_time(header.event_time_ms)?,
        expires_at: header
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{Float64Builder, Int64Builder, ListBuilder, StringBuilder};
    use arrow_array::{ArrayRef, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use fs_schema::{
        Collection, DeletionMode, FeatureDefinition, OnlineStoreConfig, Record, StorageType,
        TtlDuration, TtlUnit,
    };

    use super::*;
    use crate::codec::decode_online;

    const LATER: &str = "9999-01-01T00:00:00Z";

    /// id, ts, n (Integral), x (Fractional), s, tags (a List) and six more
    /// Strings; records expire an hour after their event time.
    fn group() -> FeatureGroup {
        let mut features = vec![
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::integral("n"),
            FeatureDefinition::fractional("x"),
            FeatureDefinition::string("s"),
            FeatureDefinition::string("tags").with_collection(Collection::List),
        ];
        features.extend((0..6).map(|i| FeatureDefinition::string(format!("f{i}"))));
        FeatureGroup::builder("g", "id", "ts")
            .features(features)
            .online_store(
                OnlineStoreConfig::enabled()
                    .with_storage_type(StorageType::InMemory)
                    .with_ttl(TtlDuration::new(TtlUnit::Hours, 1)),
            )
            .build()
            .unwrap()
    }

    /// Two typed records (a batch put): `p`, and `q` without `s`.
    fn typed() -> RecordBatch {
        let mut tags = ListBuilder::new(StringBuilder::new());
        for items in [&["u", "v"][..], &[]] {
            for item in items {
                tags.values().append_value(item);
            }
            tags.append(true);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(arrow_array::StringArray::from(vec!["p", "q"])),
            Arc::new(arrow_array::StringArray::from(vec![LATER, LATER])),
            Arc::new({
                let mut b = Int64Builder::new();
                b.append_value(-3);
                b.append_value(i64::MAX);
                b.finish()
            }),
            Arc::new({
                let mut b = Float64Builder::new();
                b.append_value(0.1);
                b.append_value(-2.5e-7);
                b.finish()
            }),
            Arc::new(arrow_array::StringArray::from(vec![Some("typed"), None])),
            Arc::new(tags.finish()),
        ];
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("ts", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("tags", DataType::List(item), true),
        ]);
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    /// A store with text records `a` (every feature), `b` (nulls), `c`
    /// (an Integral as `12.000`), typed records `p` `q`, an expired record
    /// `old`, a soft-deleted `gone` and a hard-deleted `hard`.
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_feature_group(group()).unwrap();
        let mut a = Record::new()
            .with("id", "a")
            .with("ts", LATER)
            .with("n", "7")
            .with("x", "2.25")
            .with("s", "é".repeat(200))
            .with("tags", vec!["t".to_owned(), String::new()]);
        for i in 0..6 {
            a.push(format!("f{i}"), format!("v{i}"));
        }
        let b = Record::new()
            .with("id", "b")
            .with("ts", LATER)
            .with("f3", "x");
        let c = Record::new()
            .with("id", "c")
            .with("ts", LATER)
            .with("n", "12.000");
        let old = Record::new()
            .with("id", "old")
            .with("ts", "2001-01-01T00:00:00Z");
        let gone = Record::new().with("id", "gone").with("ts", LATER);
        let hard = Record::new().with("id", "hard").with("ts", LATER);
        store
            .put_records("g", &[a, b, c, old, gone, hard], None, None)
            .unwrap();
        let written = store.put_batch("g", &typed(), &Default::default()).unwrap();
        assert!(written.refused.is_empty(), "{:?}", written.refused);
        let later = "9999-01-02T00:00:00Z";
        store
            .delete_record("g", "gone", later, DeletionMode::SoftDelete, None)
            .unwrap();
        store
            .delete_record("g", "hard", later, DeletionMode::HardDelete, None)
            .unwrap();
        (dir, store)
    }

    const IDS: [&str; 9] = ["a", "b", "c", "p", "q", "old", "gone", "hard", "nobody"];

    /// What a get of `id` gives by the straightforward decode (the
    /// reads before the fast paths): the stored bytes decoded in full,
    /// features kept by name, deleted and expired records left out.
    fn expected(store: &Store, id: &str, features: Option<&[String]>) -> Option<OnlineRecord> {
        let spec = store.group("g").unwrap().spec.clone();
        let txn = store.read_txn().unwrap();
        let table = txn.open_table(ONLINE).unwrap();
        let bytes = table.get(("g", id)).unwrap()?;
        let keep = |n: &str| features.is_none_or(|f| f.iter().any(|x| x == n));
        let v = decode_online(bytes.value(), &spec.feature_definitions, &keep).unwrap();
        if v.soft_deleted || v.expires_at_ms.is_some_and(|e| e <= now_ms()) {
            return None;
        }
        Some(OnlineRecord {
            record: v.record,
            event_time: to_time(v.event_time_ms).unwrap(),
            expires_at: v
                .expires_at_ms
                .map(|e| to_time(e.min(EventTime::MAX.as_millis())).unwrap()),
        })
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// No selection, a few features, and more than eight (in another
    /// order than the group's, one asked twice).
    fn selections() -> Vec<Option<Vec<String>>> {
        vec![
            None,
            Some(strings(&["tags", "x", "id"])),
            Some(strings(&[
                "f5", "f4", "f3", "f2", "f1", "f0", "tags", "s", "n", "n", "id",
            ])),
        ]
    }

    #[test]
    fn get_record_gives_what_the_straightforward_decode_gives() {
        let (_dir, store) = store();
        let mut live = 0;
        for features in selections() {
            for id in IDS {
                let got = store.get_record("g", id, features.as_deref()).unwrap();
                let want = expected(&store, id, features.as_deref());
                live += usize::from(want.is_some());
                assert_eq!(got, want, "{id} {features:?}");
            }
        }
        // a b c p q, for each selection.
        assert_eq!(live, 15);
        let got = store.get_record("g", "c", None).unwrap().unwrap();
        assert_eq!(got.record.get_str("n"), Some("12.000"));
        let got = store.get_record("g", "q", None).unwrap().unwrap();
        assert_eq!(got.record.get_str("n"), Some(i64::MAX.to_string().as_str()));
        assert_eq!(got.record.get("s"), None);
    }

    #[test]
    fn batch_get_answers_in_request_order_as_single_gets_do() {
        let (_dir, store) = store();
        // Not in key order; repeats; missing, expired and deleted records.
        let ids = strings(&[
            "q", "nobody", "a", "old", "p", "a", "gone", "c", "hard", "b", "q",
        ]);
        let mut requests: Vec<BatchGetRequest> = selections()
            .into_iter()
            .map(|features| BatchGetRequest {
                group: "g".into(),
                record_ids: ids.clone(),
                features,
            })
            .collect();
        requests.push(BatchGetRequest {
            group: "nope".into(),
            record_ids: strings(&["a"]),
            features: None,
        });
        requests.push(BatchGetRequest {
            group: "g".into(),
            record_ids: strings(&["a", "b"]),
            features: Some(strings(&["zzz"])),
        });
        let result = store.batch_get(&requests).unwrap();
        let mut want = Vec::new();
        for req in &requests[..3] {
            for id in &req.record_ids {
                if let Some(record) = expected(&store, id, req.features.as_deref()) {
                    want.push(BatchGetRecord {
                        group: "g".into(),
                        record_id: id.clone(),
                        record,
                    });
                }
            }
        }
        assert_eq!(result.records, want);
        let found: Vec<&str> = result.records[..want.len() / 3]
            .iter()
            .map(|r| r.record_id.as_str())
            .collect();
        assert_eq!(found, ["q", "a", "p", "a", "c", "b", "q"]);
        let errors: Vec<(&str, &str, &str)> = result
            .errors
            .iter()
            .map(|e| (e.group.as_str(), e.record_id.as_str(), e.code))
            .collect();
        assert_eq!(
            errors,
            [
                ("nope", "a", "ResourceNotFound"),
                ("g", "a", "ValidationError"),
                ("g", "b", "ValidationError"),
            ]
        );
    }

    #[test]
    fn key_order_sorts_positions_by_identifier() {
        let ids = ["b", "a", "c", "a"];
        let mut order = vec![9];
        key_order(&ids, &mut order);
        let sorted: Vec<&str> = order.iter().map(|&i| ids[i]).collect();
        assert_eq!(sorted, ["a", "a", "b", "c"]);
        order.sort_unstable();
        assert_eq!(order, [0, 1, 2, 3]);
        key_order::<&str>(&[], &mut order);
        assert!(order.is_empty());
    }
}
