//! Entries of the offline outbox.
//!
//! An entry is either one row (`codec`'s outbox row, version 3: a typed
//! record, used by small puts and deletes) or a whole batch (version 2,
//! written by batch puts): `version u8 = 2, flags u8 (0), api invocation
//! time i64 ms, row count u32, group name (u16 len + bytes)`, then the rows
//! as an Arrow IPC stream of one batch: the features as the put gave them
//! (typed as the group) and a non-null `Int64` column [`EVENT_TIME_MS`]
//! with each row's event time. A flush reads that batch back as Arrow and
//! writes it to Parquet without parsing text again.

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::codec::{OutboxRow, ROW_VERSION, decode_outbox, put_str16};
use crate::error::{Error, Result};
use crate::store::Store;
use std::sync::atomic::Ordering;

/// The offline outbox: sequence number -> entry.
pub(crate) const OUTBOX: redb::TableDefinition<'_, u64, &[u8]> =
    redb::TableDefinition::new("outbox");

/// `META` key: the next outbox sequence number.
pub(crate) const NEXT_SEQ: &str = "next_seq";

impl Store {
    /// Rows waiting in the offline outbox.
    pub fn outbox_len(&self) -> u64 {
        self.outbox_rows.load(Ordering::SeqCst)
    }
}

/// The version byte of a batch entry.
const BATCH_VERSION: u8 = 2;

/// The column of a batch entry holding event times in milliseconds. No
/// feature name can begin with `_`.
pub(crate) const EVENT_TIME_MS: &str = "_event_time_ms";

/// A decoded outbox entry.
#[derive(Debug)]
pub(crate) enum Entry {
    /// One row (version 3).
    Row(OutboxRow),
    /// Rows of one batch put (version 2).
    Batch(BatchEntry),
}

/// The rows of one batch put.
#[derive(Debug)]
pub(crate) struct BatchEntry {
    pub(crate) group: String,
    pub(crate) api_invocation_time_ms: i64,
    /// The features, and [`EVENT_TIME_MS`] last.
    pub(crate) batch: RecordBatch,
}

impl BatchEntry {
    /// The event times of the rows, in milliseconds.
    pub(crate) fn event_times(&self) -> &[i64] {
        let col = self.batch.column(self.batch.num_columns() - 1);
        col.as_primitive::<Int64Type>().values()
    }

    /// The feature columns (without [`EVENT_TIME_MS`]).
    pub(crate) fn features(&self) -> RecordBatch {
        let mut b = self.batch.clone();
        b.remove_column(b.num_columns() - 1);
        b
    }
}

/// Encodes the rows of `batch` (typed as the group), with their event
/// times, as one outbox entry.
pub(crate) fn encode_batch_entry(
    group: &str,
    api_invocation_time_ms: i64,
    batch: &RecordBatch,
    event_times_ms: Vec<i64>,
) -> Result<Vec<u8>> {
    let rows = u32::try_from(batch.num_rows()).map_err(|_| {
        Error::validation(format!(
            "a batch of {} rows is more than one put may hold",
            batch.num_rows()
        ))
    })?;
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(EVENT_TIME_MS, DataType::Int64, false)));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(Int64Array::from(event_times_ms)));
    let with_times = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| ipc_error("encoding", e))?;

    let mut out = Vec::with_capacity(64 + batch.get_array_memory_size());
    out.push(BATCH_VERSION);
    out.push(0);
    out.extend_from_slice(&api_invocation_time_ms.to_le_bytes());
    out.extend_from_slice(&rows.to_le_bytes());
    put_str16(&mut out, group);
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(out, &with_times.schema())
        .map_err(|e| ipc_error("encoding", e))?;
    writer
        .write(&with_times)
        .map_err(|e| ipc_error("encoding", e))?;
    writer.finish().map_err(|e| ipc_error("encoding", e))?;
    writer.into_inner().map_err(|e| ipc_error("encoding", e))
}

fn ipc_error(doing: &str, e: arrow_schema::ArrowError) -> Error {
    Error::Corrupt {
        what: format!("{doing} an offline outbox batch: {e}"),
    }
}

/// How many rows an entry holds, from its header.
pub(crate) fn entry_rows(bytes: &[u8]) -> Result<u64> {
    match bytes.first() {
        Some(&ROW_VERSION) => Ok(1),
        Some(&BATCH_VERSION) if bytes.len() >= 14 => Ok(u64::from(u32::from_le_bytes(
            bytes[10..14].try_into().expect("4 bytes"),
        ))),
        _ => Err(corrupt()),
    }
}

fn corrupt() -> Error {
    Error::Corrupt {
        what: "truncated or invalid offline outbox entry".into(),
    }
}

/// Decodes an entry of either version.
pub(crate) fn decode_entry(bytes: &[u8]) -> Result<Entry> {
    match bytes.first() {
        Some(&ROW_VERSION) => Ok(Entry::Row(decode_outbox(bytes)?)),
        Some(&BATCH_VERSION) => decode_batch_entry(bytes).map(Entry::Batch),
        _ => Err(corrupt()),
    }
}

fn decode_batch_entry(bytes: &[u8]) -> Result<BatchEntry> {
    if bytes.len() < 16 {
        return Err(corrupt());
    }
    let api_invocation_time_ms = i64::from_le_bytes(bytes[2..10].try_into().expect("8 bytes"));
    let rows = u32::from_le_bytes(bytes[10..14].try_into().expect("4 bytes")) as usize;
    let name_len = u16::from_le_bytes(bytes[14..16].try_into().expect("2 bytes")) as usize;
    let ipc_at = 16 + name_len;
    let group = bytes
        .get(16..ipc_at)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(corrupt)?
        .to_owned();
    let mut reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(&bytes[ipc_at..]), None)
        .map_err(|e| ipc_error("decoding", e))?;
    let batch = reader
        .next()
        .ok_or_else(corrupt)?
        .map_err(|e| ipc_error("decoding", e))?;
    let last = batch.schema().fields().last().map(|f| f.name().clone());
    if batch.num_rows() != rows
        || last.as_deref() != Some(EVENT_TIME_MS)
        || batch.column(batch.num_columns() - 1).data_type() != &DataType::Int64
        || batch.column(batch.num_columns() - 1).null_count() > 0
    {
        return Err(corrupt());
    }
    Ok(BatchEntry {
        group,
        api_invocation_time_ms,
        batch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    #[test]
    fn batch_entries_round_trip_and_count_their_rows() {
        let batch = RecordBatch::try_from_iter([(
            "id",
            Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
        )])
        .unwrap();
        let bytes = encode_batch_entry("g", 42, &batch, vec![1, 2, 3]).unwrap();
        assert_eq!(entry_rows(&bytes).unwrap(), 3);
        let Entry::Batch(e) = decode_entry(&bytes).unwrap() else {
            panic!("a batch entry")
        };
        assert_eq!((e.group.as_str(), e.api_invocation_time_ms), ("g", 42));
        assert_eq!(e.event_times(), &[1, 2, 3]);
        assert_eq!(e.features(), batch);
        for cut in [0, 1, 10, 15, 17, bytes.len() / 2] {
            assert!(decode_entry(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
