//! Typed Arrow reads of the online store: stored values are decoded
//! straight into Arrow builders, without the text records of
//! [`Store::get_record`] (numbers stay numbers).

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use fs_schema::{
    CastOptions, EventTime, FeatureDefinition, FeatureGroup, FeatureType, Record, cast_batch,
};

use crate::codec::{Cell, Feature, fractional_text, integral_text, online_header, walk_online};
use crate::error::{Result, db};
use crate::online::{check_features, check_online, now_ms, read_value, to_time};
use crate::store::{ONLINE, Store};

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
        let desc = self.describe_feature_group(group)?;
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
        // The column of each of the group's features, if selected.
        let mut column_of = vec![None; defs.len()];
        let mut duplicated = false;
        for (c, def) in view.feature_definitions.iter().enumerate() {
            let d = defs
                .iter()
                .position(|x| x.name == def.name)
                .expect("checked features are defined");
            duplicated |= column_of[d].replace(c).is_some();
        }
        let now = now_ms();
        let txn = self.read_txn()?;
        let table = txn.open_table(ONLINE).map_err(db("reading records"))?;
        let mut columns: Vec<Column> = view
            .feature_definitions
            .iter()
            .map(|def| Column::new(def, record_ids.len()))
            .collect();
        let mut rows = Vec::new();
        // Values the typed builders do not take as they are (a feature
        // the group lacks, a list for a scalar, a value given twice) are
        // read the slow way, which reports them as records would be.
        let mut plain = !duplicated;
        for (i, id) in record_ids.iter().enumerate() {
            let Some(guard) = table
                .get((group, id.as_ref()))
                .map_err(db("reading records"))?
            else {
                continue;
            };
            let bytes = guard.value();
            let (event_time, expiry, soft_deleted) = online_header(bytes)?;
            if soft_deleted || expiry.is_some_and(|e| e <= now) {
                continue;
            }
            // Times out of range fail as they do for records.
            to_time(event_time)?;
            if let Some(e) = expiry {
                to_time(e.min(EventTime::MAX.as_millis()))?;
            }
            let row = rows.len();
            walk_online(bytes, defs, |feature, cell| {
                match feature {
                    Feature::Index(d) => {
                        if let Some(c) = column_of[d] {
                            plain &= columns[c].push(row, cell);
                        }
                    }
                    // Left out by a selection, or refused by the cast.
                    Feature::Name(_) => plain &= features.is_some(),
                }
                Ok(())
            })?;
            if !plain {
                break;
            }
            for c in &mut columns {
                c.end_row(row);
            }
            rows.push(i);
        }
        if !plain {
            return self.get_batch_from_records(&table, group, record_ids, features, &view, now);
        }
        let mut fields = Vec::with_capacity(columns.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        for (def, column) in view.feature_definitions.iter().zip(columns) {
            let array = column.finish();
            fields.push(Field::new(&def.name, array.data_type().clone(), true));
            arrays.push(array);
        }
        let raw = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(fs_schema::Error::from)?;
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
        let desc = self.describe_feature_group(group)?;
        let mut records: Vec<Record> = Vec::new();
        let mut rows = Vec::new();
        for (i, id) in record_ids.iter().enumerate() {
            let Some(guard) = table
                .get((group, id.as_ref()))
                .map_err(db("reading records"))?
            else {
                continue;
            };
            if let Some(r) = read_value(&desc.spec, guard.value(), features, now)? {
                records.push(r.record);
                rows.push(i);
            }
        }
        let batch = fs_schema::records_to_batch(view, &records)?;
        Ok(OnlineBatch { batch, rows })
    }
}

/// The builder of one column: numbers typed while every value comes typed,
/// text otherwise (which the cast then parses, as for records).
enum Column {
    Integral(Int64Builder),
    Fractional(Float64Builder),
    Text(StringBuilder),
    List(ListBuilder<StringBuilder>),
}

impl Column {
    /// A builder for about `rows` rows (the builders' defaults, 1,024,
    /// cost more than a one-record read itself).
    fn new(def: &FeatureDefinition, rows: usize) -> Self {
        if def.is_collection() {
            let items = StringBuilder::with_capacity(rows, rows * 16);
            return Column::List(ListBuilder::with_capacity(items, rows));
        }
        match def.feature_type {
            FeatureType::Integral => Column::Integral(Int64Builder::with_capacity(rows)),
            FeatureType::Fractional => Column::Fractional(Float64Builder::with_capacity(rows)),
            FeatureType::String => Column::Text(StringBuilder::with_capacity(rows, rows * 16)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Integral(b) => b.len(),
            Column::Fractional(b) => b.len(),
            Column::Text(b) => b.len(),
            Column::List(b) => b.len(),
        }
    }

    /// Adds the value of row `row`; `false` when the typed path cannot
    /// take it (a list for a scalar or the reverse, a second value).
    fn push(&mut self, row: usize, cell: Cell<'_>) -> bool {
        if self.len() != row {
            return false;
        }
        match (&mut *self, cell) {
            (Column::List(b), Cell::List(items)) => {
                for item in items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            (Column::List(_), _) | (_, Cell::List(_)) => return false,
            (Column::Integral(b), Cell::Integral(v)) => b.append_value(v),
            (Column::Fractional(b), Cell::Fractional(v)) => b.append_value(v),
            // Text the cast would parse to this very number (it trims
            // first; text without spaces reads the same): kept typed.
            (Column::Integral(b), Cell::Text(s)) if let Ok(v) = s.parse::<i64>() => {
                b.append_value(v);
            }
            (Column::Fractional(b), Cell::Text(s)) if let Ok(v) = s.parse::<f64>() => {
                b.append_value(v);
            }
            (Column::Text(b), cell) => append_text(b, &cell),
            (_, cell) => {
                let mut text = self.take_as_text();
                append_text(&mut text, &cell);
                *self = Column::Text(text);
            }
        }
        true
    }

    /// Pads row `row` with a null when it had no value.
    fn end_row(&mut self, row: usize) {
        if self.len() == row {
            match self {
                Column::Integral(b) => b.append_null(),
                Column::Fractional(b) => b.append_null(),
                Column::Text(b) => b.append_null(),
                Column::List(b) => b.append_null(),
            }
        }
    }

    /// The values so far as text, as records hold them.
    fn take_as_text(&mut self) -> StringBuilder {
        let mut text = StringBuilder::with_capacity(self.len(), self.len() * 16);
        match self {
            Column::Integral(b) => {
                for v in &b.finish() {
                    text.append_option(v.map(integral_text));
                }
            }
            Column::Fractional(b) => {
                for v in &b.finish() {
                    text.append_option(v.map(fractional_text));
                }
            }
            Column::Text(_) | Column::List(_) => unreachable!("only numbers turn into text"),
        }
        text
    }

    fn finish(self) -> ArrayRef {
        match self {
            Column::Integral(mut b) => Arc::new(b.finish()),
            Column::Fractional(mut b) => Arc::new(b.finish()),
            Column::Text(mut b) => Arc::new(b.finish()),
            Column::List(mut b) => Arc::new(b.finish()),
        }
    }
}

fn append_text(b: &mut StringBuilder, cell: &Cell<'_>) {
    match cell {
        Cell::Text(s) => b.append_value(s),
        Cell::Integral(v) => b.append_value(integral_text(*v)),
        Cell::Fractional(v) => b.append_value(fractional_text(*v)),
        Cell::List(_) => unreachable!("lists are refused before"),
    }
}
