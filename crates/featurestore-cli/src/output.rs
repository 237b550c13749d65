//! Printing: tables, JSON, CSV, numbers and durations.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use comfy_table::{Table, presets};
use featurestore::arrow::array::{
    Array, ArrayRef, FixedSizeListArray, Float64Array, Int64Array, LargeListArray, ListArray,
    RecordBatch,
};
use featurestore::arrow::datatypes::DataType;
use featurestore::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;

/// True when progress bars may be drawn: stdout is a terminal and the
/// output is not JSON.
pub(crate) fn interactive(json: bool) -> bool {
    !json && std::io::stdout().is_terminal()
}

/// Prints `v` as pretty JSON on stdout.
pub(crate) fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A table with a header row.
pub(crate) fn table<S: ToString>(header: impl IntoIterator<Item = S>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED.with_rounded_corners());
    t.set_header(header.into_iter().map(|h| h.to_string()));
    t
}

/// Two aligned columns: a label and a value per line.
pub(crate) fn key_values(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `1234567` as `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration for people: `850 µs`, `12.3 ms`, `4.56 s`.
pub(crate) fn duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// Milliseconds, for JSON.
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A size in bytes for people.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Text of every cell of `batch`, row by row (`None` for nulls); lists as JSON arrays.
pub(crate) fn batch_cells(batch: &RecordBatch) -> Result<Vec<Vec<Option<String>>>> {
    let options = FormatOptions::default();
    let columns: Vec<(&ArrayRef, Option<ArrayFormatter<'_>>)> = batch
        .columns()
        .iter()
        .map(|c| {
            let scalar = !is_list(c.data_type());
            let f = if scalar {
                ArrayFormatter::try_new(c.as_ref(), &options).ok()
            } else {
                None
            };
            (c, f)
        })
        .collect();
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut cells = Vec::with_capacity(columns.len());
        for (array, formatter) in &columns {
            cells.push(if array.is_null(row) {
                None
            } else if let Some(f) = formatter {
                Some(f.value(row).to_string())
            } else {
                Some(cell_json(array, row).to_string())
            });
        }
        rows.push(cells);
    }
    Ok(rows)
}

fn is_list(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
    )
}

/// `batch` as a table.
pub(crate) fn batch_table(batch: &RecordBatch) -> Result<Table> {
    let mut t = table(batch.schema().fields().iter().map(|f| f.name().clone()));
    for row in batch_cells(batch)? {
        t.add_row(row.into_iter().map(|c| c.unwrap_or_else(|| "null".into())));
    }
    Ok(t)
}

/// `batch` as JSON objects, one per row, typed: numbers as numbers, text
/// as strings, collections as arrays, nulls left out.
pub(crate) fn batch_json(batch: &RecordBatch) -> Vec<Value> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|row| {
            let mut object = serde_json::Map::new();
            for (field, array) in schema.fields().iter().zip(batch.columns()) {
                if !array.is_null(row) {
                    object.insert(field.name().clone(), cell_json(array, row));
                }
            }
            Value::Object(object)
        })
        .collect()
}

/// One cell as JSON.
fn cell_json(array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return Value::from(a.value(row));
    }
    if let Some(a) = any.downcast_ref::<Float64Array>() {
        let v = a.value(row);
        return serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(v.to_string()));
    }
    let items = |values: ArrayRef| -> Value {
        Value::Array((0..values.len()).map(|i| cell_json(&values, i)).collect())
    };
    if let Some(a) = any.downcast_ref::<ListArray>() {
        return items(a.value(row));
    }
    if let Some(a) = any.downcast_ref::<LargeListArray>() {
        return items(a.value(row));
    }
    if let Some(a) = any.downcast_ref::<FixedSizeListArray>() {
        return items(a.value(row));
    }
    match ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()) {
        Ok(f) => Value::String(f.value(row).to_string()),
        Err(_) => Value::Null,
    }
}

/// Writes `batch` as CSV (header, then rows; nulls empty) to stdout.
pub(crate) fn print_batch_csv(batch: &RecordBatch) -> Result<()> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    w.write_record(batch.schema().fields().iter().map(|f| f.name().as_str()))?;
    for row in batch_cells(batch)? {
        w.write_record(row.iter().map(|c| c.as_deref().unwrap_or("")))?;
    }
    w.flush()?;
    Ok(())
}
