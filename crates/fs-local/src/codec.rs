//! Compact binary encodings of what the database holds.
//!
//! Online value: `version u8, flags u8 (1 = soft deleted, 2 = has expiry),
//! event time i64 ms, [expires at i64 ms], record`. Version 1 (puts of
//! records, tombstones) holds a text record; version 2 (batch puts) a
//! typed record.
//! Outbox row: `version u8 (1), is_deleted u8, event time i64, api
//! invocation time i64, group name (u16 len + bytes), text record`.
//! Text record: `count u32`, then per value `name (u16 len + bytes), kind u8
//! (0 text, 1 list), text (u32 len + bytes) or list (u32 count + texts)`.
//! Typed record: `count u16`, then per value `feature index u16` (its
//! position among the group's feature definitions, which only grow) and a
//! tag: `0` text (varint len + bytes), `1` list (varint count + texts), `2`
//! an `Integral` (i64), `3` a `Fractional` (f64), read back as the text
//! Arrow's cast gives (`fs_schema::batch_to_records`).
//! Integers little-endian; varints LEB128.

use fs_schema::{FeatureDefinition, FeatureValue, Record, Value};

use crate::error::{Error, Result};

mod decode;

#[cfg(test)]
pub(crate) use decode::decode_online;
pub(crate) use decode::{Alloc, Header, Keep, decode_record, each_value, online_header};

pub(crate) const VERSION: u8 = 1;
/// The version of online values holding a typed record.
pub(crate) const TYPED_VERSION: u8 = 2;
/// Tags of typed values.
pub(crate) const TAG_TEXT: u8 = 0;
pub(crate) const TAG_LIST: u8 = 1;
pub(crate) const TAG_INTEGRAL: u8 = 2;
pub(crate) const TAG_FRACTIONAL: u8 = 3;

/// Appends `n` as a LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends a text as varint length + bytes.
pub(crate) fn put_text(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The text of a `Fractional` value, as Arrow's cast to text writes it.
pub(crate) fn fractional_text(v: f64) -> String {
    ryu::Buffer::new().format(v).to_owned()
}

/// What the online table holds for one record identifier.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OnlineValue {
    pub(crate) event_time_ms: i64,
    pub(crate) expires_at_ms: Option<i64>,
    pub(crate) soft_deleted: bool,
    pub(crate) record: Record,
}

/// One row waiting to be written to the offline store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboxRow {
    pub(crate) group: String,
    pub(crate) event_time_ms: i64,
    pub(crate) api_invocation_time_ms: i64,
    pub(crate) is_deleted: bool,
    pub(crate) record: Record,
}

pub(crate) fn put_str16(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).expect("names are at most 64 bytes");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_str32(out: &mut Vec<u8>, s: &str) {
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

pub(crate) fn encode_online(v: &OnlineValue) -> Vec<u8> {
    encode_online_parts(v.event_time_ms, v.expires_at_ms, v.soft_deleted, &v.record)
}

/// [`encode_online`] from borrowed parts, so that puts need not clone records.
pub(crate) fn encode_online_parts(
    event_time_ms: i64,
    expires_at_ms: Option<i64>,
    soft_deleted: bool,
    record: &Record,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + record.size_bytes() + 8 * record.len());
    encode_online_into(&mut out, event_time_ms, expires_at_ms, soft_deleted, record);
    out
}

/// Appends [`encode_online_parts`]'s bytes to `out`.
pub(crate) fn encode_online_into(
    out: &mut Vec<u8>,
    event_time_ms: i64,
    expires_at_ms: Option<i64>,
    soft_deleted: bool,
    record: &Record,
) {
    out.push(VERSION);
    let flags = u8::from(soft_deleted) | (u8::from(expires_at_ms.is_some()) << 1);
    out.push(flags);
    out.extend_from_slice(&event_time_ms.to_le_bytes());
    if let Some(e) = expires_at_ms {
        out.extend_from_slice(&e.to_le_bytes());
    }
    put_record(out, record);
}

#[cfg(test)]
pub(crate) fn encode_outbox(r: &OutboxRow) -> Vec<u8> {
    encode_outbox_parts(
        &r.group,
        r.event_time_ms,
        r.api_invocation_time_ms,
        r.is_deleted,
        &r.record,
    )
}

/// An outbox row from borrowed parts, so that puts need not clone records.
pub(crate) fn encode_outbox_parts(
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

/// A truncated or invalid encoding, turned into [`Error::Corrupt`] (naming
/// what was read) where a decode ends: small, so that the readers' results
/// stay in registers.
#[derive(Debug)]
struct Bad;

type Read<T> = std::result::Result<T, Bad>;

#[cold]
#[inline(never)]
fn corrupt(what: &str) -> Error {
    Error::Corrupt {
        what: format!("truncated or invalid {what}"),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn take(&mut self, n: usize) -> Read<&'a [u8]> {
        let (head, rest) = self.buf.split_at_checked(n).ok_or(Bad)?;
        self.buf = rest;
        Ok(head)
    }

    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Read<[u8; N]> {
        let (head, rest) = self.buf.split_first_chunk::<N>().ok_or(Bad)?;
        self.buf = rest;
        Ok(*head)
    }

    #[inline(always)]
    fn u8(&mut self) -> Read<u8> {
        Ok(self.array::<1>()?[0])
    }

    #[inline(always)]
    fn u16(&mut self) -> Read<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    #[inline(always)]
    fn u32(&mut self) -> Read<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    #[inline(always)]
    fn i64(&mut self) -> Read<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    #[inline(always)]
    fn str_of(&mut self, n: usize) -> Read<&'a str> {
        std::str::from_utf8(self.take(n)?).map_err(|_| Bad)
    }

    fn str16(&mut self) -> Read<&'a str> {
        let n = self.u16()? as usize;
        self.str_of(n)
    }

    #[inline(always)]
    fn str32(&mut self) -> Read<&'a str> {
        let n = self.u32()? as usize;
        self.str_of(n)
    }

    #[inline(always)]
    fn varint(&mut self) -> Read<usize> {
        // One byte: every length under 128.
        if let Some((&b, rest)) = self.buf.split_first()
            && b & 0x80 == 0
        {
            self.buf = rest;
            return Ok(usize::from(b));
        }
        self.long_varint()
    }

    fn long_varint(&mut self) -> Read<usize> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(n).map_err(|_| Bad);
            }
        }
        Err(Bad)
    }

    #[inline(always)]
    fn text(&mut self) -> Read<&'a str> {
        let n = self.varint()?;
        self.str_of(n)
    }

    /// Walks a typed record of a group with `features`: `visit` gets each
    /// value, borrowed from the bytes.
    #[inline(always)]
    fn walk_typed(
        &mut self,
        features: &[FeatureDefinition],
        visit: &mut impl FnMut(Feature<'a>, Cell<'a>),
    ) -> Read<()> {
        let count = self.u16()?;
        for _ in 0..count {
            let index = self.u16()? as usize;
            if index >= features.len() {
                return Err(Bad);
            }
            let cell = match self.u8()? {
                TAG_TEXT => Cell::Text(self.text()?),
                TAG_LIST => {
                    let n = self.varint()?;
                    let mut items = Vec::with_capacity(n.min(4096));
                    for _ in 0..n {
                        items.push(self.text()?);
                    }
                    Cell::List(items)
                }
                TAG_INTEGRAL => Cell::Integral(self.i64()?),
                TAG_FRACTIONAL => Cell::Fractional(f64::from_bits(self.i64()? as u64)),
                _ => return Err(Bad),
            };
            visit(Feature::Index(index), cell);
        }
        Ok(())
    }

    /// Walks a text record: `visit` gets each value, borrowed from the
    /// bytes, with the feature's position in `features` when it has one.
    #[inline(always)]
    fn walk_text(
        &mut self,
        features: &[FeatureDefinition],
        visit: &mut impl FnMut(Feature<'a>, Cell<'a>),
    ) -> Read<()> {
        let count = self.u32()?;
        // Records usually hold their features in definition order.
        let mut hint = 0;
        for _ in 0..count {
            let n = self.u16()? as usize;
            let name = self.take(n)?;
            let feature = match resolve(features, name, &mut hint) {
                Some(i) => Feature::Index(i),
                None => Feature::Name(std::str::from_utf8(name).map_err(|_| Bad)?),
            };
            let cell = match self.u8()? {
                0 => Cell::Text(self.str32()?),
                1 => {
                    let n = self.u32()? as usize;
                    let mut items = Vec::with_capacity(n.min(4096));
                    for _ in 0..n {
                        items.push(self.str32()?);
                    }
                    Cell::List(items)
                }
                _ => return Err(Bad),
            };
            visit(feature, cell);
        }
        Ok(())
    }

    /// Decodes a text record.
    fn record(&mut self) -> Read<Record> {
        let mut values = Vec::new();
        self.walk_text(&[], &mut |feature, cell| {
            values.push(FeatureValue {
                feature_name: feature.name(&[]).to_owned(),
                value: cell.to_value(),
            });
        })?;
        Ok(Record::from_values(values))
    }
}

/// The position in `features` of the feature named `name`, trying `hint`
/// first (and moving it past the match).
#[inline(always)]
fn resolve(features: &[FeatureDefinition], name: &[u8], hint: &mut usize) -> Option<usize> {
    if let Some(d) = features.get(*hint)
        && same(d.name.as_bytes(), name)
    {
        *hint += 1;
        return Some(*hint - 1);
    }
    let i = features
        .iter()
        .position(|d| same(d.name.as_bytes(), name))?;
    *hint = i + 1;
    Some(i)
}

/// `a == b`, without a call for the short names features have.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Which feature a stored value is of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Feature<'a> {
    /// Its position among the group's feature definitions.
    Index(usize),
    /// A name the group does not define (only text records can hold one).
    Name(&'a str),
}

impl<'a> Feature<'a> {
    /// The feature's name.
    pub(crate) fn name<'b>(self, features: &'b [FeatureDefinition]) -> &'b str
    where
        'a: 'b,
    {
        match self {
            Feature::Index(i) => &features[i].name,
            Feature::Name(n) => n,
        }
    }
}

/// One stored value, borrowed from the encoded bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Text(&'a str),
    List(Vec<&'a str>),
    Integral(i64),
    Fractional(f64),
}

impl Cell<'_> {
    /// The value as a record holds it: numbers as the text Arrow's cast
    /// gives (`fs_schema::batch_to_records`).
    #[inline(always)]
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Cell::Text(s) => Value::String((*s).to_owned()),
            Cell::List(items) => Value::List(items.iter().map(|s| (*s).to_owned()).collect()),
            Cell::Integral(v) => Value::String(integral_text(*v)),
            Cell::Fractional(v) => Value::String(fractional_text(*v)),
        }
    }
}

/// The text of an `Integral` value (as `i64::to_string`, without the
/// formatting machinery).
pub(crate) fn integral_text(v: i64) -> String {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut s = String::with_capacity(buf.len() - at + 1);
    if v < 0 {
        s.push('-');
    }
    s.push_str(std::str::from_utf8(&buf[at..]).expect("ASCII digits"));
    s
}

pub(crate) fn decode_outbox(buf: &[u8]) -> Result<OutboxRow> {
    read_outbox(buf).map_err(|Bad| corrupt("offline outbox row"))
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
    let record = r.record()?;
    Ok(OutboxRow {
        group,
        event_time_ms,
        api_invocation_time_ms,
        is_deleted,
        record,
    })
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
    fn online_values_round_trip_with_and_without_expiry() {
        for expires_at_ms in [None, Some(42)] {
            let v = OnlineValue {
                event_time_ms: -5,
                expires_at_ms,
                soft_deleted: expires_at_ms.is_none(),
                record: record(),
            };
            let bytes = encode_online(&v);
            assert_eq!(decode_online(&bytes, &[], &|_| true).unwrap(), v);
            let only_id = decode_online(&bytes, &[], &|n| n == "id").unwrap();
            assert_eq!(only_id.record, Record::new().with("id", "a"));
        }
    }

    #[test]
    fn outbox_rows_round_trip() {
        let row = OutboxRow {
            group: "g".into(),
            event_time_ms: 1,
            api_invocation_time_ms: 2,
            is_deleted: true,
            record: record(),
        };
        assert_eq!(decode_outbox(&encode_outbox(&row)).unwrap(), row);
    }

    #[test]
    fn truncated_bytes_are_reported_not_panicking() {
        let bytes = encode_online(&OnlineValue {
            event_time_ms: 1,
            expires_at_ms: None,
            soft_deleted: false,
            record: record(),
        });
        for cut in 0..bytes.len() {
            assert!(
                decode_online(&bytes[..cut], &[], &|_| true).is_err(),
                "cut at {cut}"
            );
        }
    }
}
