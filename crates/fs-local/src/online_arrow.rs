//! Typed Arrow reads of the online store: stored values are decoded
//! straight into Arrow builders, without the text records of
//! [`Store::get_record`] (numbers stay numbers).

use arrow_array::RecordBatch;
use fs_schema::{CastOptions, EventTime, FeatureGroup, Record, cast_batch};
use std::borrow::Cow;
use std::collections::HashMap;

use crate::codec::{Alloc, Header, each_value};
use crate::columns::{Column, raw_batch};
use crate::error::{Result, db};
use crate::online::ONLINE;
use crate::online::{
    Selection, check_features, check_online, keep, key_order, now_ms, read_value, to_time,
};
use crate::store::Store;

/// The result of [`Store::get_batch`].
#[derive(Debug, Clone)]
pub struct OnlineBatch {
    /// One row per identifier that has a record (not deleted, not
    /// expired), in request order, typed as the group (projected to the
    /// selected features, in that order, when given).
    pub batch: RecordBatch,
    /// For each row of `batch`, the position in the asked identifiers of
    /// the one it answers; identifiers not listed have no record.
    pub rows: Vec<usize>,
}

impl Store {
    /// Reads records of one group, from one snapshot, as one typed batch:
    /// the same rows and values as `fs_schema::records_to_batch` over the
    /// records [`Store::get_record`] returns, without building them.
    ///
    /// An identifier asked for twice gives two rows. Errors as
    /// [`Store::get_record`]'s: an unknown group, a group without an online
    /// store, a feature the group does not define.
    pub fn get_batch<S: AsRef<str>>(
        &self,
        group: &str,
        record_ids: &[S],
        features: Option<&[String]>,
    ) -> Result<OnlineBatch> {
        let desc = self.group(group)?;
        check_online(&desc)?;
        if let Some(f) = features {
            check_features(&desc.spec, f)?;
        }
        let spec = &desc.spec;
        let defs = spec.feature_definitions.as_slice();
        let view: Cow<'_, FeatureGroup> = match features {
            Some(f) => Cow::Owned(spec.project(f)?),
            None => Cow::Borrowed(spec),
        };
        let (column_of, duplicated) = columns_of(defs, &view, features.is_some());
        let now = now_ms();
        let txn = self.read_txn()?;
        let table = txn.open_table(ONLINE).map_err(db("reading records"))?;
        let mut columns: Vec<Column> = view
            .feature_definitions
            .iter()
            .map(|def| Column::new(def, record_ids.len()))
            .collect();
        // Looked up in key order (neighbours share pages), decoded in
        // request order.
        let mut order = Vec::new();
        key_order(record_ids, &mut order);
        let mut found: Vec<Option<redb::AccessGuard<'_, &[u8]>>> =
            (0..record_ids.len()).map(|_| None).collect();
        for &i in &order {
            found[i] = table
                .get((group, record_ids[i].as_ref()))
                .map_err(db("reading records"))?;
        }
        let mut rows = Vec::new();
        // Values the typed builders do not take as they are (a list for
        // a scalar, a value given twice, a feature selected twice) are
        // read the slow way, which reports them as records would be.
        let mut plain = !duplicated;
        for (i, guard) in found.iter().enumerate() {
            let Some(guard) = guard else {
                continue;
            };
            let bytes = guard.value();
            let header = Header::read(bytes)?;
            if !header.is_live(now) {
                continue;
            }
            // Times out of range fail as they do for records.
            to_time(header.event_time_ms)?;
            if let Some(e) = header.expires_at_ms {
                to_time(e.min(EventTime::MAX.as_millis()))?;
            }
            let row = rows.len();
            let mut filled = 0;
            each_value(
                bytes,
                &header,
                defs,
                #[inline(always)]
                |d, cell| {
                    if let Some(c) = column_of[d] {
                        plain &= columns[c].push(row, cell);
                        filled += 1;
                    }
                },
            )?;
            if !plain {
                break;
            }
            // Nulls for the columns without a value (one value each, or
            // `plain` would be false).
            if filled < columns.len() {
                for c in &mut columns {
                    c.end_row(row);
                }
            }
            rows.push(i);
        }
        drop(found);
        if !plain {
            return self.get_batch_from_records(&table, group, record_ids, features, &view, now);
        }
        let raw = raw_batch(&view.feature_definitions, columns)?;
        let batch = cast_batch(&raw, &view, &CastOptions::default())?;
        Ok(OnlineBatch { batch, rows })
    }

    /// [`Store::get_batch`] through records and `records_to_batch`.
    fn get_batch_from_records<S: AsRef<str>>(
        &self,
        table: &redb::ReadOnlyTable<(&str, &str), &[u8]>,
        group: &str,
        record_ids: &[S],
        features: Option<&[String]>,
        view: &FeatureGroup,
        now: i64,
    ) -> Result<OnlineBatch> {
        let desc = self.group(group)?;
        let selection = features.map(|f| Selection::new(&desc.spec, f));
        let mut records: Vec<Record> = Vec::new();
        let mut rows = Vec::new();
        for (i, id) in record_ids.iter().enumerate() {
            let Some(guard) = table
                .get((group, id.as_ref()))
                .map_err(db("reading records"))?
            else {
                continue;
            };
            if let Some(r) = read_value(
                &desc.spec,
                guard.value(),
                keep(&selection),
                Alloc::Direct,
                now,
            )? {
                records.push(r.record);
                rows.push(i);
            }
        }
        let batch = fs_schema::records_to_batch(view, &records)?;
        Ok(OnlineBatch { batch, rows })
    }
}

/// The column of `view` (the group, or its projection when `projected`)
/// of each of the group's features `defs`, if selected; and whether a
/// feature is selected twice.
fn columns_of(
    defs: &[fs_schema::FeatureDefinition],
    view: &FeatureGroup,
    projected: bool,
) -> (Vec<Option<usize>>, bool) {
    if !projected {
        return ((0..defs.len()).map(Some).collect(), false);
    }
    let mut column_of = vec![None; defs.len()];
    let mut duplicated = false;
    let position: HashMap<&str, usize> = defs
        .iter()
        .enumerate()
        .map(|(d, def)| (def.name.as_str(), d))
        .collect();
    for (c, def) in view.feature_definitions.iter().enumerate() {
        let d = *position
            .get(def.name.as_str())
            .expect("checked features are defined");
        duplicated |= column_of[d].replace(c).is_some();
    }
    (column_of, duplicated)
}

#[cfg(test)]
mod tests {
    use fs_schema::{FeatureDefinition, OnlineStoreConfig, Record, records_to_batch};

    use super::*;

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
            .build()
            .unwrap()
    }

    /// The batch the record path gives for `ids`.
    fn via_records(store: &Store, ids: &[&str], features: Option<&[String]>) -> RecordBatch {
        let spec = store.group("g").unwrap().spec.clone();
        let view = match features {
            Some(f) => spec.project(f).unwrap(),
            None => spec,
        };
        let records: Vec<Record> = ids
            .iter()
            .filter_map(|id| store.get_record("g", id, features).unwrap())
            .map(|r| r.record)
            .collect();
        records_to_batch(&view, &records).unwrap()
    }

    #[test]
    fn numbers_the_typed_builders_refuse_go_through_the_cast_as_records_do() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_feature_group(group()).unwrap();
        let t = "2024-01-01T00:00:00Z";
        let records = [
            Record::new()
                .with("id", "plain")
                .with("ts", t)
                .with("n", "7")
                .with("x", "0.5"),
            // Whole, but not as `i64` reads it; a number with spaces.
            Record::new()
                .with("id", "decimals")
                .with("ts", t)
                .with("n", "12.000"),
            Record::new()
                .with("id", "spaces")
                .with("ts", t)
                .with("n", " 5")
                .with("x", " 1.5"),
            Record::new()
                .with("id", "text")
                .with("ts", t)
                .with("s", "s"),
        ];
        store.put_records("g", &records, None, None).unwrap();
        let orders: [&[&str]; 4] = [
            &["plain", "decimals", "spaces", "text"],
            &["decimals", "plain"],
            &["spaces", "nobody", "plain", "spaces"],
            &["text", "plain"],
        ];
        let projections = [
            None,
            Some(vec!["x".to_owned(), "n".to_owned()]),
            // A feature asked twice: read through records.
            Some(vec!["n".to_owned(), "n".to_owned()]),
        ];
        for ids in orders {
            for features in &projections {
                let got = store.get_batch("g", ids, features.as_deref()).unwrap();
                let want = via_records(&store, ids, features.as_deref());
                assert_eq!(got.batch, want, "{ids:?} {features:?}");
                let rows: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] != "nobody").collect();
                assert_eq!(got.rows, rows, "{ids:?}");
            }
        }
        let got = store.get_batch("g", &["decimals", "spaces"], None).unwrap();
        let n = got
            .batch
            .column(2)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>();
        assert_eq!(n.unwrap().values(), &[12, 5]);
    }
}
