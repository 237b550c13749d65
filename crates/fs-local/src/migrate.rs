//! The rewrite of text (version 1) values into the typed encoding, once.
//!
//! Stores before the typed encoding wrote online values and outbox rows of
//! record puts and deletes as text records (`codec::v1`), and reads and
//! flushes parsed the numbers back out of them. Reads and flushes now know
//! only the typed encoding, so opening a store rewrites every version-1
//! value in the transaction that opens it, and records in `meta`
//! ([`ENCODING`]) that it has done so: the rewrite runs once, and a crash
//! during it leaves the store as it was. A text value of a number is kept as
//! a number when it reads back as the same text, and as text otherwise
//! (`codec`), so every record reads back as it did and a flush writes the
//! same Parquet rows.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use redb::{ReadableTable, Table, WriteTransaction};

use crate::codec::{UnknownFeature, encode_online, encode_outbox_row, v1};
use crate::description::GroupDescription;
use crate::error::{Error, Result, db};
use crate::online::ONLINE;
use crate::outbox::OUTBOX;
use crate::store::META;

/// `META` key: the encoding of the values the store holds (absent in stores
/// that may hold version 1).
pub(crate) const ENCODING: &str = "encoding";

/// The encoding this version writes and reads.
const TYPED: u64 = 2;

/// Values rewritten per pass over a table (bounds the memory a rewrite takes).
const CHUNK: usize = 4096;

const CTX: &str = "rewriting text values as typed values";

/// The registry, by group name.
type Groups = HashMap<String, Arc<GroupDescription>>;

/// Rewrites every version-1 value of the store in `txn` (whose registry is
/// `groups`) as a typed value, unless `meta` says that was done.
pub(crate) fn migrate(txn: &WriteTransaction, groups: &Groups) -> Result<()> {
    let mut meta = txn.open_table(META).map_err(db(CTX))?;
    if meta.get(ENCODING).map_err(db(CTX))?.map(|v| v.value()) >= Some(TYPED) {
        return Ok(());
    }
    let mut online = txn.open_table(ONLINE).map_err(db(CTX))?;
    let values = rewrite_online(&mut online, groups)?;
    let mut outbox = txn.open_table(OUTBOX).map_err(db(CTX))?;
    let rows = rewrite_outbox(&mut outbox, groups)?;
    meta.insert(ENCODING, TYPED).map_err(db(CTX))?;
    if values + rows > 0 {
        tracing::info!(values, rows, "rewrote text values in the typed encoding");
    }
    Ok(())
}

/// A value naming a feature its group lacks: the store is not as it was written.
fn unknown(what: &str, group: &str, e: UnknownFeature<'_>) -> Error {
    Error::Corrupt {
        what: format!(
            "{what} of feature group {group:?} holds feature {:?}, which the group does not define",
            e.0
        ),
    }
}

/// Rewrites the version-1 online values; returns how many there were.
fn rewrite_online(
    table: &mut Table<'_, (&'static str, &'static str), &'static [u8]>,
    groups: &Groups,
) -> Result<usize> {
    let mut after: Option<(String, String)> = None;
    let mut total = 0;
    loop {
        // (group, id, the typed value or `None` to remove it)
        let mut chunk: Vec<(String, String, Option<Vec<u8>>)> = Vec::new();
        let mut last = None;
        {
            let start = match &after {
                Some((g, id)) => Bound::Excluded((g.as_str(), id.as_str())),
                None => Bound::Unbounded,
            };
            for entry in table
                .range::<(&str, &str)>((start, Bound::Unbounded))
                .map_err(db(CTX))?
            {
                let (key, value) = entry.map_err(db(CTX))?;
                let (group, id) = key.value();
                last = Some((group.to_owned(), id.to_owned()));
                if value.value().first() == Some(&v1::VERSION) {
                    let typed = typed_online(groups, group, value.value())?;
                    chunk.push((group.to_owned(), id.to_owned(), typed));
                    if chunk.len() == CHUNK {
                        break;
                    }
                }
            }
        }
        total += chunk.len();
        for (group, id, typed) in &chunk {
            match typed {
                Some(v) => table.insert((group.as_str(), id.as_str()), v.as_slice()),
                None => table.remove((group.as_str(), id.as_str())),
            }
            .map_err(db(CTX))?;
        }
        if chunk.len() < CHUNK {
            return Ok(total);
        }
        after = last;
    }
}

/// The typed value of the version-1 online value `bytes` of `group`;
/// `None` when the group no longer exists (deleting it removed its
/// records, so there are none but leftovers).
fn typed_online(groups: &Groups, group: &str, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(desc) = groups.get(group) else {
        tracing::warn!(
            group,
            "removing an online record of a deleted feature group"
        );
        return Ok(None);
    };
    let old = v1::decode_online(bytes)?;
    let defs = &desc.spec.feature_definitions;
    encode_online(
        defs,
        old.event_time_ms,
        old.expires_at_ms,
        old.soft_deleted,
        &old.record,
    )
    .map(Some)
    .map_err(|e| unknown("an online record", group, e))
}

/// Rewrites the version-1 outbox rows; returns how many there were.
fn rewrite_outbox(table: &mut Table<'_, u64, &'static [u8]>, groups: &Groups) -> Result<usize> {
    let mut after = None;
    let mut total = 0;
    loop {
        let mut chunk: Vec<(u64, Option<Vec<u8>>)> = Vec::new();
        let mut last = None;
        {
            let start = after.map_or(Bound::Unbounded, Bound::Excluded);
            for entry in table
                .range::<u64>((start, Bound::Unbounded))
                .map_err(db(CTX))?
            {
                let (seq, value) = entry.map_err(db(CTX))?;
                last = Some(seq.value());
                if value.value().first() == Some(&v1::VERSION) {
                    chunk.push((seq.value(), typed_row(groups, value.value())?));
                    if chunk.len() == CHUNK {
                        break;
                    }
                }
            }
        }
        total += chunk.len();
        for (seq, typed) in &chunk {
            match typed {
                Some(v) => table.insert(*seq, v.as_slice()).map(drop),
                None => table.remove(*seq).map(drop),
            }
            .map_err(db(CTX))?;
        }
        if chunk.len() < CHUNK {
            return Ok(total);
        }
        after = last;
    }
}

/// The typed row of the version-1 outbox row `bytes`; `None` when its
/// group no longer exists (a flush drops such rows).
fn typed_row(groups: &Groups, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let old = v1::decode_outbox(bytes)?;
    let Some(desc) = groups.get(&old.group) else {
        tracing::warn!(
            group = old.group,
            "dropping an offline outbox row of a deleted feature group"
        );
        return Ok(None);
    };
    encode_outbox_row(
        &old.group,
        &desc.spec.feature_definitions,
        old.event_time_ms,
        old.api_invocation_time_ms,
        old.is_deleted,
        &old.record,
    )
    .map(Some)
    .map_err(|e| unknown("an offline outbox row", &old.group, e))
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
    use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record, records_to_batch};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use redb::{Database, ReadableDatabase, ReadableTable};

    use super::*;
    use crate::codec::v1::writer;
    use crate::outbox::NEXT_SEQ;
    use crate::{IS_DELETED, Store};

    const T1: &str = "2024-01-01T10:00:00Z";
    const T1_MS: i64 = 1_704_103_200_000;
    const T2: &str = "2024-01-01T11:30:00Z";
    const T2_MS: i64 = 1_704_108_600_000;

    fn group() -> FeatureGroup {
        FeatureGroup::builder("g", "id", "ts")
            .features([
                FeatureDefinition::string("id"),
                FeatureDefinition::string("ts"),
                FeatureDefinition::integral("n"),
                FeatureDefinition::fractional("x"),
                FeatureDefinition::string("s"),
            ])
            .online_store(OnlineStoreConfig::enabled())
            .offline_store_s3_uri("s3://bucket/prefix")
            .build()
            .unwrap()
    }

    /// Records as older versions stored them: numbers that read back as
    /// given, numbers that do not (`12.000`, ` 5`, `1`), nulls.
    fn records() -> Vec<(Record, i64)> {
        let r = |id: &str, ts: &str| Record::new().with("id", id).with("ts", ts);
        vec![
            (
                r("a", T1)
                    .with("n", "7")
                    .with("x", "2.25")
                    .with("s", "é".repeat(50)),
                T1_MS,
            ),
            (r("b", T2).with("n", "12.000").with("x", "1"), T2_MS),
            (r("c", T1).with("x", " 1.5").with("n", " 5"), T1_MS),
            (r("d", T2), T2_MS),
        ]
    }

    /// A store as the version before the typed encoding left it: group `g`,
    /// the records above online (one of them soft deleted, one expiring)
    /// and in the outbox, with a delete marker, all as version-1 bytes,
    /// beside a typed value and outbox entry written by today's code.
    fn old_store(dir: &std::path::Path) {
        let store = Store::open(dir).unwrap();
        store.create_feature_group(group()).unwrap();
        let typed = Record::new().with("id", "z").with("ts", T1).with("n", "3");
        store.put_record("g", &typed, None, None).unwrap();
        drop(store);
        let db = Database::create(dir.join("store.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut online = txn.open_table(ONLINE).unwrap();
            let mut outbox = txn.open_table(OUTBOX).unwrap();
            let mut meta = txn.open_table(META).unwrap();
            meta.remove(ENCODING).unwrap();
            let mut seq = meta.get(NEXT_SEQ).unwrap().unwrap().value();
            for (i, (record, t)) in records().iter().enumerate() {
                let id = record.get_str("id").unwrap();
                let expiry = (i == 1).then_some(i64::MAX);
                let bytes = writer::encode_online(*t, expiry, i == 3, record);
                online.insert(("g", id), bytes.as_slice()).unwrap();
                let row = writer::encode_outbox("g", *t, 1000 + i as i64, false, record);
                outbox.insert(seq, row.as_slice()).unwrap();
                seq += 1;
            }
            let marker = Record::new().with("id", "d").with("ts", T2);
            let row = writer::encode_outbox("g", T2_MS, 2000, true, &marker);
            outbox.insert(seq, row.as_slice()).unwrap();
            meta.insert(NEXT_SEQ, seq + 1).unwrap();
        }
        txn.commit().unwrap();
    }

    fn first_bytes(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, Option<u64>) {
        let db = Database::create(dir.join("store.redb")).unwrap();
        let txn = db.begin_read().unwrap();
        let online = txn.open_table(ONLINE).unwrap();
        let outbox = txn.open_table(OUTBOX).unwrap();
        let meta = txn.open_table(META).unwrap();
        let versions = online.iter().unwrap().map(|e| e.unwrap().1.value()[0]);
        let rows = outbox.iter().unwrap().map(|e| e.unwrap().1.value()[0]);
        let encoding = meta.get(ENCODING).unwrap().map(|v| v.value());
        (versions.collect(), rows.collect(), encoding)
    }

    #[test]
    fn a_store_of_text_values_opens_typed_and_reads_and_flushes_as_before() {
        let dir = tempfile::tempdir().unwrap();
        old_store(dir.path());
        let (versions, rows, encoding) = first_bytes(dir.path());
        assert_eq!(
            (versions, rows.len(), encoding),
            (vec![1, 1, 1, 1, 2], 6, None)
        );

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.outbox_len(), 6);
        for (i, (record, t)) in records().iter().enumerate() {
            let id = record.get_str("id").unwrap();
            let got = store.get_record("g", id, None).unwrap();
            if i == 3 {
                assert!(got.is_none(), "soft deleted");
                continue;
            }
            let got = got.expect(id);
            assert_eq!(got.record, *record, "{id}");
            assert_eq!(got.event_time.as_millis(), *t);
            assert_eq!(got.expires_at.is_some(), i == 1);
        }
        let typed = store.get_record("g", "z", None).unwrap().unwrap();
        assert_eq!(typed.record.get_str("n"), Some("3"));
        drop(store);
        let (versions, rows, encoding) = first_bytes(dir.path());
        assert_eq!(versions, vec![2; 5]);
        assert_eq!(rows, vec![3; 6]);
        assert_eq!(encoding, Some(TYPED));

        // Opened again: nothing left to rewrite; the flush writes the rows
        // the text flush wrote (`records_to_batch` over the records).
        let store = Store::open(dir.path()).unwrap();
        let report = store.flush().unwrap();
        assert_eq!(report.rows, 6);
        let spec = group();
        let mut got = Vec::new();
        for file in &report.files {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            got.extend(reader.map(Result::unwrap));
        }
        let got = arrow_select::concat::concat_batches(&got[0].schema(), &got).unwrap();
        // Rows by hour: 10:00 (z, a, c), then 11:00 (b, d, the marker).
        let (all, _) = records().into_iter().unzip::<_, _, Vec<_>, Vec<_>>();
        let z = Record::new().with("id", "z").with("ts", T1).with("n", "3");
        let marker = Record::new().with("id", "d").with("ts", T2);
        let order = [
            z,
            all[0].clone(),
            all[2].clone(),
            all[1].clone(),
            all[3].clone(),
            marker,
        ];
        let want = records_to_batch(&spec, &order).unwrap();
        let features: Vec<ArrayRef> = got.columns()[..want.num_columns()].to_vec();
        let got_features = RecordBatch::try_new(want.schema(), features).unwrap();
        assert_eq!(got_features, want);
        let deleted = got.column_by_name(IS_DELETED).unwrap();
        let deleted = deleted.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(
            deleted.iter().map(Option::unwrap).collect::<Vec<_>>(),
            [false, false, false, false, false, true]
        );
        assert_eq!(got.column(2).null_count(), 2, "d and its marker have no n");
    }
}
