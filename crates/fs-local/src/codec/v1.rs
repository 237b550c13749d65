//! The text encoding (version 1) that stores before the typed encoding
//! wrote, read only by the migration on open (`migrate`).
//!
//! Online value: `version u8 (1), flags u8 (1 = soft deleted, 2 = has
//! expiry), event time i64 ms, [expires at i64 ms], text record`.
//! Outbox row: `version u8 (1), is_deleted u8, event time i64, api
//! invocation time i64, group name (u16 len + bytes), text record`.
//! Text record: `count u32`, then per value `name (u16 len + bytes), kind u8
//! (0 text, 1 list), text (u32 len + bytes) or list (u32 count + texts)`.
//! Integers little-endian.

use fs_schema::{FeatureValue, Record, Value};

use super::{Bad, Read, Reader, corrupt};
use crate::error::Result;

/// The version byte of text online values and outbox rows.
pub(crate) const VERSION: u8 = 1;

/// A version-1 online value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OnlineValue {
    pub(crate) event_time_ms: i64,
    pub(crate) expires_at_ms: Option<i64>,
    pub(crate) soft_deleted: bool,
    pub(crate) record: Record,
}

/// A version-1 outbox row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboxRow {
    pub(crate) group: String,
    pub(crate) event_time_ms: i64,
    pub(crate) api_invocation_time_ms: i64,
    pub(crate) is_deleted: bool,
    pub(crate) record: Record,
}

impl Reader<'_> {
    fn str32(&mut self) -> Read<String> {
        let n = self.u32()? as usize;
        Ok(self.str_of(n)?.to_owned())
    }

    /// A text record.
    fn text_record(&mut self) -> Read<Record> {
        let count = self.u32()?;
        let mut values = Vec::with_capacity((count as usize).min(4096));
        for _ in 0..count {
            let feature_name = self.str16()?.to_owned();
            let value = match self.u8()? {
                0 => Value::String(self.str32()?),
                1 => {
                    let n = self.u32()? as usize;
                    let mut items = Vec::with_capacity(n.min(4096));
                    for _ in 0..n {
                        items.push(self.str32()?);
                    }
                    Value::List(items)
                }
                _ => return Err(Bad),
            };
            values.push(FeatureValue {
                feature_name,
                value,
            });
        }
        Ok(Record::from_values(values))
    }
}

/// Decodes a version-1 online value.
pub(crate) fn decode_online(buf: &[u8]) -> Result<OnlineValue> {
    read_online(buf).map_err(|Bad| corrupt("version-1 online record"))
}

fn read_online(buf: &[u8]) -> Read<OnlineValue> {
    let mut r = Reader { buf };
    if r.u8()? != VERSION {
        return Err(Bad);
    }
    let flags = r.u8()?;
    let event_time_ms = r.i64()?;
    let expires_at_ms = if flags & 2 != 0 { Some(r.i64()?) } else { None };
    let record = r.text_record()?;
    if !r.buf.is_empty() {
        return Err(Bad);
    }
    Ok(OnlineValue {
        event_time_ms,
        expires_at_ms,
        soft_deleted: flags & 1 != 0,
        record,
    })
}

/// Decodes a version-1 outbox row.
pub(crate) fn decode_outbox(buf: &[u8]) -> Result<OutboxRow> {
    read_outbox(buf).map_err(|Bad| corrupt("version-1 offline outbox row"))
}

fn read_outbox(buf: &[u8]) -> Read<OutboxRow> {
    let mut r = Reader { buf };
    if r.u8()? != VERSION {
        return Err(Bad);
    }
    let is_deleted = r.u8()? != 0;
    let event_time_ms = r.i64()?;
    let api_invocation_time_ms = r.i64()?;
    let group = r.str16()?.to_owned();
    let record = r.text_record()?;
    if !r.buf.is_empty() {
        return Err(Bad);
    }
    Ok(OutboxRow {
        group,
        event_time_ms,
        api_invocation_time_ms,
        is_deleted,
        record,
    })
}

/// The version-1 writer, byte for byte as stores before the typed encoding
/// wrote (kept to build such stores in tests).
#[cfg(test)]
pub(crate) mod writer {
    use fs_schema::{Record, Value};

    use super::VERSION;

    fn put_str16(out: &mut Vec<u8>, s: &str) {
        let len = u16::try_from(s.len()).expect("names are at most 64 bytes");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    fn put_str32(out: &mut Vec<u8>, s: &str) {
        let len = u32::try_from(s.len()).expect("values are at most 350 KB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    fn put_record(out: &mut Vec<u8>, record: &Record) {
        out.extend_from_slice(&(record.len() as u32).to_le_bytes());
        for fv in record.values() {
            put_str16(out, &fv.feature_name);
            match &fv.value {
                Value::String(s) => {
                    out.push(0);
                    put_str32(out, s);
                }
                Value::List(items) => {
                    out.push(1);
                    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
                    for item in items {
                        put_str32(out, item);
                    }
                }
            }
        }
    }

    /// A version-1 online value.
    pub(crate) fn encode_online(
        event_time_ms: i64,
        expires_at_ms: Option<i64>,
        soft_deleted: bool,
        record: &Record,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + record.size_bytes() + 8 * record.len());
        out.push(VERSION);
        let flags = u8::from(soft_deleted) | (u8::from(expires_at_ms.is_some()) << 1);
        out.push(flags);
        out.extend_from_slice(&event_time_ms.to_le_bytes());
        if let Some(e) = expires_at_ms {
            out.extend_from_slice(&e.to_le_bytes());
        }
        put_record(&mut out, record);
        out
    }

    /// A version-1 outbox row.
    pub(crate) fn encode_outbox(
        group: &str,
        event_time_ms: i64,
        api_invocation_time_ms: i64,
        is_deleted: bool,
        record: &Record,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + group.len() + record.size_bytes() + 8 * record.len());
        out.push(VERSION);
        out.push(u8::from(is_deleted));
        out.extend_from_slice(&event_time_ms.to_le_bytes());
        out.extend_from_slice(&api_invocation_time_ms.to_le_bytes());
        put_str16(&mut out, group);
        put_record(&mut out, record);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record::new()
            .with("id", "a")
            .with("ts", "2024-01-01T00:00:00Z")
            .with("tags", vec!["x".to_owned(), "ÿ".to_owned()])
    }

    #[test]
    fn version_1_values_and_rows_read_back() {
        for expires_at_ms in [None, Some(42)] {
            let bytes = writer::encode_online(-5, expires_at_ms, true, &record());
            let v = decode_online(&bytes).unwrap();
            assert_eq!(
                (v.event_time_ms, v.expires_at_ms, v.soft_deleted),
                (-5, expires_at_ms, true)
            );
            assert_eq!(v.record, record());
            for cut in 0..bytes.len() {
                assert!(decode_online(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        let bytes = writer::encode_outbox("g", 1, 2, true, &record());
        let row = decode_outbox(&bytes).unwrap();
        assert_eq!((row.group.as_str(), row.event_time_ms), ("g", 1));
        assert_eq!((row.api_invocation_time_ms, row.is_deleted), (2, true));
        assert_eq!(row.record, record());
    }
}
