//! Reads of online values: the header once, then the record's values
//! borrowed from the stored bytes (`each_value`), or the record as the API
//! carries it (`decode_record`).

use fs_schema::{FeatureDefinition, FeatureValue, Record};

use super::{Bad, Cell, Read, Reader, TYPED_VERSION, corrupt};
use crate::error::Result;

/// The header of an online value, read once per value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Header {
    pub(crate) event_time_ms: i64,
    pub(crate) expires_at_ms: Option<i64>,
    pub(crate) soft_deleted: bool,
    /// Where the record starts in the value.
    body: usize,
}

impl Header {
    /// Reads the header of the online value `buf`.
    #[inline]
    pub(crate) fn read(buf: &[u8]) -> Result<Header> {
        Self::read_from(buf).map_err(|Bad| corrupt("online record"))
    }

    #[inline(always)]
    fn read_from(buf: &[u8]) -> Read<Header> {
        let mut r = Reader { buf };
        if r.u8()? != TYPED_VERSION {
            return Err(Bad);
        }
        let flags = r.u8()?;
        let event_time_ms = r.i64()?;
        let expires_at_ms = if flags & 2 != 0 { Some(r.i64()?) } else { None };
        Ok(Header {
            event_time_ms,
            expires_at_ms,
            soft_deleted: flags & 1 != 0,
            body: buf.len() - r.buf.len(),
        })
    }

    /// True when reads at `now_ms` return the record: neither soft deleted
    /// nor expired.
    pub(crate) fn is_live(&self, now_ms: i64) -> bool {
        !self.soft_deleted && self.expires_at_ms.is_none_or(|e| e > now_ms)
    }
}

/// The header of an online value: (event time, expires at, soft deleted).
pub(crate) fn online_header(buf: &[u8]) -> Result<(i64, Option<i64>, bool)> {
    let h = Header::read(buf)?;
    Ok((h.event_time_ms, h.expires_at_ms, h.soft_deleted))
}

/// Walks the record of the online value `buf` (whose header is `header`)
/// of a group with `features`: `visit` gets each value (with its
/// feature's position among `features`), borrowed from `buf`, in stored
/// order.
#[inline(always)]
pub(crate) fn each_value<'a>(
    buf: &'a [u8],
    header: &Header,
    features: &[FeatureDefinition],
    mut visit: impl FnMut(usize, Cell<'a>),
) -> Result<()> {
    let mut r = Reader {
        buf: buf.get(header.body..).unwrap_or_default(),
    };
    r.walk_typed(features, &mut visit)
        .map_err(|Bad| corrupt("online record"))
}

/// Walks the typed record `record` (of an outbox row) of a group with
/// `features`, as [`each_value`] walks an online value's.
pub(crate) fn each_record_value<'a>(
    record: &'a [u8],
    features: &[FeatureDefinition],
    mut visit: impl FnMut(usize, Cell<'a>),
) -> Result<()> {
    let mut r = Reader { buf: record };
    r.walk_typed(features, &mut visit)
        .map_err(|Bad| corrupt("offline outbox record"))
}

/// Which stored values a read keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep<'s> {
    /// Every value.
    All,
    /// The values of the features whose position among the group's
    /// definitions is `true` here.
    Only(&'s [bool]),
}

impl Keep<'_> {
    fn keeps(self, feature: usize) -> bool {
        match self {
            Keep::All => true,
            Keep::Only(selected) => selected.get(feature).copied().unwrap_or(false),
        }
    }
}

/// Values kept for a record of more than this many are not reused.
const MAX_SCRATCH_VALUES: usize = 4096;

thread_local! {
    /// Where [`decode_record`] collects a record's values before giving the
    /// record a vector of its own (kept between reads, for its capacity).
    static SCRATCH: std::cell::Cell<Vec<FeatureValue>> = const { std::cell::Cell::new(Vec::new()) };
}

/// How [`decode_record`] allocates a record's vector of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alloc {
    /// Collect the values in a vector kept by the thread, then give the
    /// record a vector of its exact size: its strings then reuse the
    /// chunks the previous record freed before the large allocation of its
    /// vector, instead of that allocation first making the allocator sort
    /// those chunks (glibc's `malloc_consolidate`, an eighth of a get's
    /// time in profiles of the 100-feature bench). For one record at a
    /// time.
    Reuse,
    /// Allocate the vector first, at the group's number of features: no
    /// copy, for many records in a row (whose allocations follow each
    /// other anyway).
    Direct,
}

/// The record of the online value `buf` (whose header is `header`) of a
/// group with `features`, holding the values `keep` keeps, numbers as the
/// text Arrow's cast gives.
pub(crate) fn decode_record(
    buf: &[u8],
    header: &Header,
    features: &[FeatureDefinition],
    keep: Keep<'_>,
    alloc: Alloc,
) -> Result<Record> {
    if alloc == Alloc::Direct {
        let mut values = Vec::with_capacity(match keep {
            Keep::All => features.len(),
            Keep::Only(selected) => selected.iter().filter(|s| **s).count(),
        });
        collect(buf, header, features, keep, &mut values)?;
        return Ok(Record::from_values(values));
    }
    let mut values = SCRATCH.take();
    values.clear();
    let record = collect(buf, header, features, keep, &mut values).map(|()| {
        let mut own = Vec::with_capacity(values.len());
        own.append(&mut values);
        Record::from_values(own)
    });
    values.clear();
    if values.capacity() <= MAX_SCRATCH_VALUES {
        SCRATCH.set(values);
    }
    record
}

/// Appends the values [`decode_record`] keeps to `out`.
fn collect(
    buf: &[u8],
    header: &Header,
    features: &[FeatureDefinition],
    keep: Keep<'_>,
    out: &mut Vec<FeatureValue>,
) -> Result<()> {
    each_value(
        buf,
        header,
        features,
        #[inline(always)]
        |feature, cell| {
            if keep.keeps(feature) {
                out.push(FeatureValue {
                    feature_name: features[feature].name.clone(),
                    value: cell.to_value(),
                });
            }
        },
    )
}

/// Decodes an online value of a group with `features`, keeping the values
/// of the features `keep` accepts by name: the straightforward decode the
/// tests hold [`decode_record`] to, with its own reading of the format
/// (see the `codec` module) and a record built value by value.
#[cfg(test)]
pub(crate) fn decode_online(
    buf: &[u8],
    features: &[FeatureDefinition],
    keep: &dyn Fn(&str) -> bool,
) -> Result<super::OnlineValue> {
    reference::decode(buf, features, keep).ok_or_else(|| corrupt("online record"))
}

#[cfg(test)]
mod reference {
    use fs_schema::{FeatureDefinition, FeatureValue, Record, Value};

    use crate::codec::OnlineValue;

    struct Cursor<'a>(&'a [u8]);

    impl<'a> Cursor<'a> {
        fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            Some(head)
        }

        fn fixed<const N: usize>(&mut self) -> Option<[u8; N]> {
            self.bytes(N).map(|b| b.try_into().expect("N bytes"))
        }

        fn varint(&mut self) -> Option<usize> {
            let mut n = 0u64;
            for i in 0..10 {
                let b = self.fixed::<1>()?[0];
                n |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    return usize::try_from(n).ok();
                }
            }
            None
        }

        fn text(&mut self, n: usize) -> Option<String> {
            String::from_utf8(self.bytes(n)?.to_vec()).ok()
        }

        fn text_varint(&mut self) -> Option<String> {
            let n = self.varint()?;
            self.text(n)
        }
    }

    pub(super) fn decode(
        buf: &[u8],
        features: &[FeatureDefinition],
        keep: &dyn Fn(&str) -> bool,
    ) -> Option<OnlineValue> {
        let mut c = Cursor(buf);
        let version = c.fixed::<1>()?[0];
        let flags = c.fixed::<1>()?[0];
        let event_time_ms = i64::from_le_bytes(c.fixed()?);
        let expires_at_ms = match flags & 2 {
            0 => None,
            _ => Some(i64::from_le_bytes(c.fixed()?)),
        };
        let mut values = Vec::new();
        match version {
            2 => {
                for _ in 0..u16::from_le_bytes(c.fixed()?) {
                    let index = u16::from_le_bytes(c.fixed()?) as usize;
                    let name = features.get(index)?.name.clone();
                    let value = match c.fixed::<1>()?[0] {
                        0 => Value::String(c.text_varint()?),
                        1 => {
                            let n = c.varint()?;
                            Value::List((0..n).map(|_| c.text_varint()).collect::<Option<_>>()?)
                        }
                        2 => Value::String(i64::from_le_bytes(c.fixed()?).to_string()),
                        3 => {
                            let v = f64::from_bits(u64::from_le_bytes(c.fixed()?));
                            Value::String(ryu::Buffer::new().format(v).to_owned())
                        }
                        _ => return None,
                    };
                    if keep(&name) {
                        values.push(FeatureValue {
                            feature_name: name,
                            value,
                        });
                    }
                }
            }
            _ => return None,
        }
        Some(OnlineValue {
            event_time_ms,
            expires_at_ms,
            soft_deleted: flags & 1 != 0,
            record: Record::from_values(values),
        })
    }
}

#[cfg(test)]
mod tests {
    use fs_schema::{Collection, FeatureDefinition, Record};

    use super::*;
    use crate::codec::{TAG_FRACTIONAL, TAG_INTEGRAL, TAG_LIST, TAG_TEXT, encode_online, put_text};

    fn encode(t: i64, expiry: Option<i64>, deleted: bool, r: &Record) -> Vec<u8> {
        encode_online(&features(), t, expiry, deleted, r).unwrap()
    }

    fn features() -> Vec<FeatureDefinition> {
        vec![
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::integral("n"),
            FeatureDefinition::fractional("x"),
            FeatureDefinition::string("s"),
            FeatureDefinition::string("tags").with_collection(Collection::List),
        ]
    }

    /// A typed record (version 2): `(feature index, tag, payload)` per value.
    fn typed(header: (i64, Option<i64>, bool), values: &[(u16, u8, &[u8])]) -> Vec<u8> {
        let (event_time_ms, expires_at_ms, soft_deleted) = header;
        let mut out = vec![
            TYPED_VERSION,
            u8::from(soft_deleted) | (u8::from(expires_at_ms.is_some()) << 1),
        ];
        out.extend_from_slice(&event_time_ms.to_le_bytes());
        if let Some(e) = expires_at_ms {
            out.extend_from_slice(&e.to_le_bytes());
        }
        out.extend_from_slice(&(values.len() as u16).to_le_bytes());
        for (index, tag, payload) in values {
            out.extend_from_slice(&index.to_le_bytes());
            out.push(*tag);
            out.extend_from_slice(payload);
        }
        out
    }

    fn text(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        put_text(&mut out, s);
        out
    }

    fn list(items: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::codec::put_varint(&mut out, items.len() as u64);
        for item in items {
            put_text(&mut out, item);
        }
        out
    }

    /// Stored values of every shape: records as puts write them (with
    /// nulls, a list, a value given twice, long texts) and typed
    /// records (numbers, texts whose length takes a two-byte varint, empty
    /// and full lists, nulls), live, expiring, expired and soft deleted.
    fn stored() -> Vec<Vec<u8>> {
        let long = "é".repeat(150);
        let full = Record::new()
            .with("id", "a")
            .with("ts", "2024-01-01T00:00:00Z")
            .with("n", "-12")
            .with("x", "0.5")
            .with("s", long.as_str())
            .with("tags", vec!["x".to_owned(), "ÿ".to_owned()]);
        let nulls = Record::new()
            .with("id", "b")
            .with("ts", "2024-01-01T00:00:00Z");
        let strange = Record::new()
            .with("id", "c")
            .with("n", "12.000")
            .with("s", "one")
            .with("s", "two")
            .with("tags", Vec::<String>::new());
        let mut all = Vec::new();
        for (expiry, deleted) in [
            (None, false),
            (Some(i64::MAX), false),
            (Some(5), false),
            (None, true),
        ] {
            for r in [&full, &nulls, &strange] {
                all.push(encode(7, expiry, deleted, r));
            }
            let numbers = typed(
                (-7, expiry, deleted),
                &[
                    (0, TAG_TEXT, &text("p")),
                    (1, TAG_TEXT, &text("2024-01-01T00:00:00Z")),
                    (2, TAG_INTEGRAL, &i64::MIN.to_le_bytes()),
                    (3, TAG_FRACTIONAL, &1e21f64.to_bits().to_le_bytes()),
                    (4, TAG_TEXT, &text(&long)),
                    (5, TAG_LIST, &list(&["a", &long, ""])),
                ],
            );
            all.push(numbers);
            let sparse = typed(
                (1, expiry, deleted),
                &[
                    (0, TAG_TEXT, &text("q")),
                    (3, TAG_FRACTIONAL, &(-0.1f64).to_bits().to_le_bytes()),
                    (5, TAG_LIST, &list(&[])),
                    (2, TAG_INTEGRAL, &42i64.to_le_bytes()),
                ],
            );
            all.push(sparse);
        }
        all
    }

    /// The selections tried: by position among `features()`.
    fn selections() -> Vec<Vec<bool>> {
        vec![
            vec![true; 6],
            vec![false; 6],
            vec![true, false, false, false, true, false],
            vec![false, false, true, true, false, true],
            // Shorter than the definitions (a group grown since): the
            // rest is not selected.
            vec![true, true],
        ]
    }

    #[test]
    fn decode_record_gives_what_the_straightforward_decode_gives() {
        let defs = features();
        for (i, bytes) in stored().iter().enumerate() {
            let expected = decode_online(bytes, &defs, &|_| true).unwrap();
            let header = Header::read(bytes).unwrap();
            assert_eq!(header.event_time_ms, expected.event_time_ms, "value {i}");
            assert_eq!(header.expires_at_ms, expected.expires_at_ms, "value {i}");
            assert_eq!(header.soft_deleted, expected.soft_deleted, "value {i}");
            for alloc in [Alloc::Reuse, Alloc::Direct] {
                let got = decode_record(bytes, &header, &defs, Keep::All, alloc).unwrap();
                assert_eq!(got, expected.record, "value {i}, {alloc:?}");
                for selected in selections() {
                    let names: Vec<&str> = defs
                        .iter()
                        .zip(&selected)
                        .filter(|(_, s)| **s)
                        .map(|(d, _)| d.name.as_str())
                        .collect();
                    let expected = decode_online(bytes, &defs, &|n| names.contains(&n)).unwrap();
                    let got =
                        decode_record(bytes, &header, &defs, Keep::Only(&selected), alloc).unwrap();
                    assert_eq!(got, expected.record, "value {i}, {alloc:?}, {names:?}");
                }
            }
        }
    }

    #[test]
    fn numbers_of_typed_records_read_as_their_text() {
        let defs = features();
        let bytes = typed(
            (0, None, false),
            &[
                (2, TAG_INTEGRAL, &(-5i64).to_le_bytes()),
                (3, TAG_FRACTIONAL, &0.1f64.to_bits().to_le_bytes()),
                (3, TAG_FRACTIONAL, &1e21f64.to_bits().to_le_bytes()),
            ],
        );
        let header = Header::read(&bytes).unwrap();
        let got = decode_record(&bytes, &header, &defs, Keep::All, Alloc::Reuse).unwrap();
        let expected = Record::new()
            .with("n", "-5")
            .with("x", "0.1")
            .with("x", "1e21");
        assert_eq!(got, expected);
    }

    #[test]
    fn liveness_follows_deletion_and_expiry() {
        let r = Record::new().with("id", "a");
        let live = Header::read(&encode(1, None, false, &r)).unwrap();
        assert!(live.is_live(i64::MAX));
        let deleted = Header::read(&encode(1, None, true, &r)).unwrap();
        assert!(!deleted.is_live(0));
        let expiring = Header::read(&encode(1, Some(100), false, &r)).unwrap();
        assert!(expiring.is_live(99));
        assert!(!expiring.is_live(100));
    }

    #[test]
    fn truncated_or_corrupt_values_are_errors_not_panics() {
        let defs = features();
        for (i, bytes) in stored().iter().enumerate() {
            for cut in 0..bytes.len() {
                let cut_bytes = &bytes[..cut];
                let decoded = Header::read(cut_bytes)
                    .and_then(|h| decode_record(cut_bytes, &h, &defs, Keep::All, Alloc::Reuse));
                let err = decoded.expect_err(&format!("value {i} cut at {cut}"));
                assert!(err.to_string().contains("online record"), "{err}");
            }
        }
        // A feature index the group lacks, an unknown tag, text that is
        // not UTF-8, an unknown version.
        let bad = [
            typed((0, None, false), &[(6, TAG_TEXT, &text("x"))]),
            typed((0, None, false), &[(0, 9, &text("x"))]),
            typed((0, None, false), &[(0, TAG_TEXT, &[1, 0xff])]),
        ];
        for (i, bytes) in bad.iter().enumerate() {
            let header = Header::read(bytes).unwrap();
            assert!(
                decode_record(bytes, &header, &defs, Keep::All, Alloc::Direct).is_err(),
                "bad value {i}"
            );
        }
        let mut unknown = bad[0].clone();
        unknown[0] = 3;
        assert!(Header::read(&unknown).is_err());
    }

    #[test]
    fn a_failed_decode_leaves_nothing_behind_for_the_next() {
        let defs = features();
        let good = &stored()[0];
        let mut broken = good.clone();
        broken.truncate(good.len() - 1);
        let header = Header::read(&broken).unwrap();
        assert!(decode_record(&broken, &header, &defs, Keep::All, Alloc::Reuse).is_err());
        let header = Header::read(good).unwrap();
        let got = decode_record(good, &header, &defs, Keep::All, Alloc::Reuse).unwrap();
        assert_eq!(got, decode_online(good, &defs, &|_| true).unwrap().record);
    }

    #[test]
    fn each_value_gives_positions_among_the_definitions_in_stored_order() {
        let defs = features();
        let r = Record::new().with("ts", "t").with("n", "3").with("id", "a");
        let bytes = encode(0, None, false, &r);
        let header = Header::read(&bytes).unwrap();
        let mut seen = Vec::new();
        each_value(&bytes, &header, &defs, |feature, cell| {
            seen.push((feature, cell.to_value()));
        })
        .unwrap();
        let expected: Vec<_> = [(1, "t"), (2, "3"), (0, "a")]
            .iter()
            .map(|(f, v)| (*f, fs_schema::Value::from(*v)))
            .collect();
        assert_eq!(seen, expected);
        // Version 1 (text) values are rewritten on open, not read.
        let mut old = bytes.clone();
        old[0] = 1;
        assert!(Header::read(&old).is_err());
    }
}
