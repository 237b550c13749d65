//! Compact binary encodings of what the database holds.
//!
//! Online value: `version u8 (2), flags u8 (1 = soft deleted, 2 = has
//! expiry), event time i64 ms, [expires at i64 ms], typed record`.
//! Outbox row: `version u8 (3), is_deleted u8, event time i64, api
//! invocation time i64, group name (u16 len + bytes), typed record`
//! (version 2 is the batch entry of `outbox`).
//! Typed record: `count u16`, then per value `feature index u16` (its
//! position among the group's feature definitions, which only grow) and a
//! tag: `0` text (varint len + bytes), `1` list (varint count + texts), `2`
//! an `Integral` (i64), `3` a `Fractional` (f64), read back as the text
//! Arrow's cast gives (`fs_schema::batch_to_records`).
//! Integers little-endian; varints LEB128.
//!
//! A record's text value of an `Integral` or `Fractional` feature is kept
//! as a number when the number reads back as that very text, and as text
//! otherwise (`"12.000"`, `" 5"`), so that reads give what was put.
//! Stores written before this encoding held text records (version 1,
//! [`v1`]); they are rewritten once on open (`migrate`).

use fs_schema::{FeatureDefinition, FeatureType, Record, Value};

use crate::error::{Error, Result};

mod decode;
pub(crate) mod v1;

#[cfg(test)]
pub(crate) use decode::decode_online;
pub(crate) use decode::{
    Alloc, Header, Keep, decode_record, each_record_value, each_value, online_header,
};

/// The version of online values (a typed record).
pub(crate) const TYPED_VERSION: u8 = 2;
/// The version of outbox rows holding a typed record.
pub(crate) const ROW_VERSION: u8 = 3;
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

pub(crate) fn put_str16(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).expect("names are at most 64 bytes");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The text of a `Fractional` value, as Arrow's cast to text writes it.
pub(crate) fn fractional_text(v: f64) -> String {
    ryu::Buffer::new().format(v).to_owned()
}

/// The text of an `Integral` value (as `i64::to_string`, without the
/// formatting machinery).
pub(crate) fn integral_text(v: i64) -> String {
    let mut buf = [0u8; 20];
    integral_digits(v, &mut buf).to_owned()
}

/// Writes the text of `v` at the end of `buf` and returns it.
#[inline(always)]
fn integral_digits(v: i64, buf: &mut [u8; 20]) -> &str {
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
    if v < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// The number `s` is the text of, if reading it back gives `s` again.
#[inline(always)]
fn exact_integral(s: &str) -> Option<i64> {
    let v = s.parse::<i64>().ok()?;
    let mut buf = [0u8; 20];
    (integral_digits(v, &mut buf) == s).then_some(v)
}

/// The number `s` is the text of, if reading it back gives `s` again.
#[inline(always)]
fn exact_fractional(s: &str) -> Option<f64> {
    let v = s.parse::<f64>().ok()?;
    (ryu::Buffer::new().format(v) == s).then_some(v)
}

/// A value names a feature the group does not define.
#[derive(Debug)]
pub(crate) struct UnknownFeature<'a>(pub(crate) &'a str);

/// Appends the header of an online value.
#[inline(always)]
pub(crate) fn put_online_header(
    out: &mut Vec<u8>,
    event_time_ms: i64,
    expires_at_ms: Option<i64>,
    soft_deleted: bool,
) {
    out.push(TYPED_VERSION);
    out.push(u8::from(soft_deleted) | (u8::from(expires_at_ms.is_some()) << 1));
    out.extend_from_slice(&event_time_ms.to_le_bytes());
    if let Some(e) = expires_at_ms {
        out.extend_from_slice(&e.to_le_bytes());
    }
}

/// Appends `record` as a typed record of a group with `features`.
pub(crate) fn put_record<'r>(
    out: &mut Vec<u8>,
    features: &[FeatureDefinition],
    record: &'r Record,
) -> std::result::Result<(), UnknownFeature<'r>> {
    let count = u16::try_from(record.len()).map_err(|_| UnknownFeature("(too many values)"))?;
    out.extend_from_slice(&count.to_le_bytes());
    // Records usually hold their features in definition order.
    let mut hint = 0;
    for fv in record.values() {
        let name = fv.feature_name.as_str();
        let index = resolve(features, name.as_bytes(), &mut hint).ok_or(UnknownFeature(name))?;
        out.extend_from_slice(
            &u16::try_from(index)
                .expect("at most 2,500 features")
                .to_le_bytes(),
        );
        put_value(out, features[index].feature_type, &fv.value);
    }
    Ok(())
}

#[inline(always)]
fn put_value(out: &mut Vec<u8>, feature_type: FeatureType, value: &Value) {
    match value {
        Value::List(items) => {
            out.push(TAG_LIST);
            put_varint(out, items.len() as u64);
            for item in items {
                put_text(out, item);
            }
        }
        Value::String(s) => match feature_type {
            FeatureType::Integral if let Some(v) = exact_integral(s) => {
                out.push(TAG_INTEGRAL);
                out.extend_from_slice(&v.to_le_bytes());
            }
            FeatureType::Fractional if let Some(v) = exact_fractional(s) => {
                out.push(TAG_FRACTIONAL);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            _ => {
                out.push(TAG_TEXT);
                put_text(out, s);
            }
        },
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

/// The online value of `record` (of a group with `features`).
pub(crate) fn encode_online<'r>(
    features: &[FeatureDefinition],
    event_time_ms: i64,
    expires_at_ms: Option<i64>,
    soft_deleted: bool,
    record: &'r Record,
) -> std::result::Result<Vec<u8>, UnknownFeature<'r>> {
    let mut out = Vec::with_capacity(32 + record.size_bytes() + 12 * record.len());
    put_online_header(&mut out, event_time_ms, expires_at_ms, soft_deleted);
    put_record(&mut out, features, record)?;
    Ok(out)
}

/// An outbox row of `record` (of a group with `features`).
pub(crate) fn encode_outbox_row<'r>(
    group: &str,
    features: &[FeatureDefinition],
    event_time_ms: i64,
    api_invocation_time_ms: i64,
    is_deleted: bool,
    record: &'r Record,
) -> std::result::Result<Vec<u8>, UnknownFeature<'r>> {
    let mut out = Vec::with_capacity(32 + group.len() + record.size_bytes() + 12 * record.len());
    out.push(ROW_VERSION);
    out.push(u8::from(is_deleted));
    out.extend_from_slice(&event_time_ms.to_le_bytes());
    out.extend_from_slice(&api_invocation_time_ms.to_le_bytes());
    put_str16(&mut out, group);
    put_record(&mut out, features, record)?;
    Ok(out)
}

/// What the online table holds for one record identifier.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OnlineValue {
    pub(crate) event_time_ms: i64,
    pub(crate) expires_at_ms: Option<i64>,
    pub(crate) soft_deleted: bool,
    pub(crate) record: Record,
}

/// One row waiting to be written to the offline store, its record still
/// encoded (a typed record, read with [`each_record_value`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboxRow {
    pub(crate) group: String,
    pub(crate) event_time_ms: i64,
    pub(crate) api_invocation_time_ms: i64,
    pub(crate) is_deleted: bool,
    pub(crate) record: Vec<u8>,
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
    /// Walks a typed record of a group with `features`: `visit` gets each
    /// value (with its feature's position among `features`), borrowed from
    /// the bytes.
    #[inline(always)]
    fn walk_typed(
        &mut self,
        features: &[FeatureDefinition],
        visit: &mut impl FnMut(usize, Cell<'a>),
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
            visit(index, cell);
        }
        Ok(())
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

pub(crate) fn decode_outbox(buf: &[u8]) -> Result<OutboxRow> {
    read_outbox(buf).map_err(|Bad| corrupt("offline outbox row"))
}

fn read_outbox(buf: &[u8]) -> Read<OutboxRow> {
    let mut r = Reader { buf };
    if r.u8()? != ROW_VERSION {
        return Err(Bad);
    }
    let is_deleted = r.u8()? != 0;
    let event_time_ms = r.i64()?;
    let api_invocation_time_ms = r.i64()?;
    let group = r.str16()?.to_owned();
    Ok(OutboxRow {
        group,
        event_time_ms,
        api_invocation_time_ms,
        is_deleted,
        record: r.buf.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use fs_schema::Collection;

    use super::*;

    fn features() -> Vec<FeatureDefinition> {
        vec![
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::string("tags").with_collection(Collection::List),
            FeatureDefinition::integral("n"),
            FeatureDefinition::fractional("x"),
        ]
    }

    fn record() -> Record {
        Record::new()
            .with("id", "a")
            .with("ts", "2024-01-01T00:00:00Z")
            .with("tags", vec!["x".to_owned(), "ÿ".to_owned()])
            .with("x", "0.5")
            .with("n", "-12")
    }

    #[test]
    fn online_values_round_trip_with_and_without_expiry() {
        let defs = features();
        for expires_at_ms in [None, Some(42)] {
            let v = OnlineValue {
                event_time_ms: -5,
                expires_at_ms,
                soft_deleted: expires_at_ms.is_none(),
                record: record(),
            };
            let bytes = encode_online(&defs, -5, expires_at_ms, v.soft_deleted, &v.record).unwrap();
            assert_eq!(decode_online(&bytes, &defs, &|_| true).unwrap(), v);
            let only_id = decode_online(&bytes, &defs, &|n| n == "id").unwrap();
            assert_eq!(only_id.record, Record::new().with("id", "a"));
            for cut in 0..bytes.len() {
                assert!(
                    decode_online(&bytes[..cut], &defs, &|_| true).is_err(),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn numbers_are_kept_typed_only_when_they_read_back_as_given() {
        let defs = features();
        for (n, x, typed) in [
            ("7", "2.25", true),
            ("-9223372036854775808", "1e21", true),
            ("12.000", "1", false),
            (" 5", "+0.5", false),
            ("007", "0.50", false),
        ] {
            let r = Record::new().with("n", n).with("x", x);
            let bytes = encode_online(&defs, 0, None, false, &r).unwrap();
            // header (10), count (2), then index (2) and the tag.
            let tags = (
                bytes[14],
                bytes[14 + 3 + if typed { 8 } else { 1 + n.len() }],
            );
            let want = if typed {
                (TAG_INTEGRAL, TAG_FRACTIONAL)
            } else {
                (TAG_TEXT, TAG_TEXT)
            };
            assert_eq!(tags, want, "{n:?} {x:?}");
            assert_eq!(decode_online(&bytes, &defs, &|_| true).unwrap().record, r);
        }
    }

    #[test]
    fn a_feature_the_group_lacks_is_refused() {
        let r = Record::new().with("zzz", "1");
        let err = encode_online(&features(), 0, None, false, &r).unwrap_err();
        assert_eq!(err.0, "zzz");
    }

    #[test]
    fn outbox_rows_round_trip() {
        let defs = features();
        let bytes = encode_outbox_row("g", &defs, 1, 2, true, &record()).unwrap();
        let row = decode_outbox(&bytes).unwrap();
        assert_eq!((row.group.as_str(), row.event_time_ms), ("g", 1));
        assert_eq!((row.api_invocation_time_ms, row.is_deleted), (2, true));
        let mut values = Vec::new();
        each_record_value(&row.record, &defs, |i, cell| {
            values.push(fs_schema::FeatureValue {
                feature_name: defs[i].name.clone(),
                value: cell.to_value(),
            });
        })
        .unwrap();
        assert_eq!(Record::from_values(values), record());
        for cut in 0..20 {
            assert!(decode_outbox(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
