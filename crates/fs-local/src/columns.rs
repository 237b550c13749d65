//! Arrow columns built from typed records, value by value: the typed
//! reads of the online store (`online_arrow`) and the flush of outbox rows
//! (`offline`) both fill them, so that numbers stay numbers and only text
//! the typed builders do not take goes through the group's cast.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use fs_schema::{FeatureDefinition, FeatureType};

use crate::codec::{Cell, fractional_text, integral_text};

/// The builder of one column: numbers typed while every value comes typed,
/// text otherwise (which the cast then parses, as for records).
pub(crate) struct Column {
    /// Rows with a value or a null so far.
    rows: usize,
    builder: Builder,
}

enum Builder {
    Integral(Int64Builder),
    Fractional(Float64Builder),
    Text(StringBuilder),
    List(ListBuilder<StringBuilder>),
}

impl Column {
    /// A builder for about `rows` rows (the builders' defaults, 1,024,
    /// cost more than a one-record read itself).
    pub(crate) fn new(def: &FeatureDefinition, rows: usize) -> Self {
        let builder = if def.is_collection() {
            let items = StringBuilder::with_capacity(rows, rows * 16);
            Builder::List(ListBuilder::with_capacity(items, rows))
        } else {
            match def.feature_type {
                FeatureType::Integral => Builder::Integral(Int64Builder::with_capacity(rows)),
                FeatureType::Fractional => Builder::Fractional(Float64Builder::with_capacity(rows)),
                FeatureType::String => Builder::Text(StringBuilder::with_capacity(rows, rows * 16)),
            }
        };
        Column { rows: 0, builder }
    }

    /// Adds the value of row `row`; `false` when the typed path cannot
    /// take it (a list for a scalar or the reverse, a second value).
    #[inline(always)]
    pub(crate) fn push(&mut self, row: usize, cell: Cell<'_>) -> bool {
        if self.rows != row {
            return false;
        }
        match (&mut self.builder, cell) {
            (Builder::Text(b), Cell::Text(s)) => b.append_value(s),
            // Text the cast would parse to this very number (it trims
            // first; text without spaces reads the same): kept typed.
            (Builder::Integral(b), Cell::Text(s)) if let Ok(v) = s.parse::<i64>() => {
                b.append_value(v);
            }
            (Builder::Fractional(b), Cell::Text(s)) if let Ok(v) = s.parse::<f64>() => {
                b.append_value(v);
            }
            (Builder::Integral(b), Cell::Integral(v)) => b.append_value(v),
            (Builder::Fractional(b), Cell::Fractional(v)) => b.append_value(v),
            (Builder::List(b), Cell::List(items)) => {
                for item in items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            (Builder::List(_), _) | (_, Cell::List(_)) => return false,
            (Builder::Text(b), cell) => append_text(b, &cell),
            (_, cell) => self.turn_into_text(&cell),
        }
        self.rows += 1;
        true
    }

    /// Pads row `row` with a null when it had no value.
    pub(crate) fn end_row(&mut self, row: usize) {
        if self.rows == row {
            match &mut self.builder {
                Builder::Integral(b) => b.append_null(),
                Builder::Fractional(b) => b.append_null(),
                Builder::Text(b) => b.append_null(),
                Builder::List(b) => b.append_null(),
            }
            self.rows += 1;
        }
    }

    /// Turns a column of numbers into text, as records hold them, with
    /// `cell` (a value the numbers' builder does not take) at its end.
    #[cold]
    #[inline(never)]
    fn turn_into_text(&mut self, cell: &Cell<'_>) {
        let mut text = StringBuilder::with_capacity(self.rows + 1, (self.rows + 1) * 16);
        match &mut self.builder {
            Builder::Integral(b) => {
                for v in &b.finish() {
                    text.append_option(v.map(integral_text));
                }
            }
            Builder::Fractional(b) => {
                for v in &b.finish() {
                    text.append_option(v.map(fractional_text));
                }
            }
            Builder::Text(_) | Builder::List(_) => unreachable!("only numbers turn into text"),
        }
        append_text(&mut text, cell);
        self.builder = Builder::Text(text);
    }

    pub(crate) fn finish(self) -> ArrayRef {
        match self.builder {
            Builder::Integral(mut b) => Arc::new(b.finish()),
            Builder::Fractional(mut b) => Arc::new(b.finish()),
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::List(mut b) => Arc::new(b.finish()),
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

/// The columns as a batch, one per definition in `defs` (before the
/// group's cast: numbers may still be text).
pub(crate) fn raw_batch(
    defs: &[FeatureDefinition],
    columns: Vec<Column>,
) -> fs_schema::Result<RecordBatch> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (def, column) in defs.iter().zip(columns) {
        let array = column.finish();
        fields.push(Field::new(&def.name, array.data_type().clone(), true));
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}
