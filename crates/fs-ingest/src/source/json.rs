//! JSON Lines: one JSON object per line, read by `arrow-json`.
//!
//! Every feature of the group is read as text (numbers and booleans are
//! kept as they are written, for the strict cast to parse), collection
//! features as lists of text. Keys the group does not define make the row
//! fail, unless unknown columns are ignored. `arrow-json` fails a whole
//! batch on one bad line; when it does, the batch's lines are decoded one
//! at a time, so that each bad line is reported with its row number and the
//! good ones go on.
//!
//! Before `arrow-json` sees a line, `serde_json` walks it once (values
//! skipped, not built): a line that is not an object (an array, a string,
//! a number) and an object naming a key twice are read failures of that
//! line, the second naming the key. `arrow-json` would take a top-level
//! array for a row and keep one of two duplicate values without a word.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::reader::Decoder;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use fs_schema::{FeatureGroup, Record, Value};

use super::batch::{Provenance, SourceBatch, is_meta, shorten};
use crate::error::{Error, Result};
use crate::options::IngestOptions;
use crate::report::{FAILURE_COLUMNS, Failure, Stage};

#[derive(Debug)]
pub(crate) struct JsonBatches {
    file: Arc<Path>,
    reader: BufReader<File>,
    next_row: u64,
    read_schema: SchemaRef,
    keep: Vec<usize>,
    schema: SchemaRef,
    strict: bool,
    batch_size: usize,
    decoder: Option<Decoder>,
    done: bool,
}

impl JsonBatches {
    pub(crate) fn open(
        file: Arc<Path>,
        batch_size: usize,
        group: &FeatureGroup,
        options: &IngestOptions,
    ) -> Result<JsonBatches> {
        let f = File::open(&file).map_err(Error::io(file.as_ref()))?;
        let mut fields: Vec<Field> = group
            .feature_definitions
            .iter()
            .map(|d| {
                let dt = if d.is_collection() {
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
                } else {
                    DataType::Utf8
                };
                Field::new(&d.name, dt, true)
            })
            .collect();
        let n = fields.len();
        // A failures file's metadata columns are read (then dropped), not refused.
        fields.extend(
            FAILURE_COLUMNS
                .iter()
                .map(|c| Field::new(*c, DataType::Utf8, true)),
        );
        let read_schema = Arc::new(Schema::new(fields));
        let keep: Vec<usize> = (0..n).collect();
        let schema = Arc::new(read_schema.project(&keep).map_err(|e| Error::Schema {
            file: file.to_path_buf(),
            column: None,
            source: Box::new(e),
        })?);
        Ok(JsonBatches {
            file,
            reader: BufReader::with_capacity(1 << 16, f),
            next_row: 1,
            read_schema,
            keep,
            schema,
            strict: !options.cast.ignore_unknown_columns,
            batch_size,
            decoder: None,
            done: false,
        })
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn new_decoder(&self) -> std::result::Result<Decoder, ArrowError> {
        arrow_json::ReaderBuilder::new(self.read_schema.clone())
            .with_batch_size(self.batch_size)
            .with_coerce_primitive(true)
            .with_strict_mode(self.strict)
            .build_decoder()
    }

    pub(crate) fn next_batch(&mut self) -> Option<Result<SourceBatch>> {
        if self.done {
            return None;
        }
        let out = self.read_batch().transpose();
        if !matches!(out, Some(Ok(_))) {
            self.done = true;
        }
        out
    }

    fn read_batch(&mut self) -> Result<Option<SourceBatch>> {
        let start_row = self.next_row;
        let file = self.file.clone();
        let read_err = |row: u64| {
            let file = file.clone();
            move |e: ArrowError| Error::read(file.as_ref(), Some(row))(Box::new(e))
        };
        // Up to batch_size non-blank lines, each ending in a newline; the
        // lines that are not objects, or repeat a key, fail here.
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        let mut line_rows = Vec::new();
        let mut failures = Vec::new();
        let mut count = 0u64;
        let mut bytes = 0u64;
        let mut line = Vec::new();
        while count < self.batch_size as u64 {
            line.clear();
            let n = self.reader.read_until(b'\n', &mut line).map_err(|e| {
                Error::read(self.file.as_ref(), Some(start_row + count))(Box::new(e))
            })?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            if line.trim_ascii().is_empty() {
                continue;
            }
            let row = start_row + count;
            count += 1;
            if let Some(f) = shape_failure(&self.file, row, &line) {
                failures.push(f);
                continue;
            }
            buf.extend_from_slice(&line);
            if !line.ends_with(b"\n") {
                buf.push(b'\n');
            }
            ends.push(buf.len());
            line_rows.push(row);
        }
        if count == 0 {
            return Ok(None);
        }
        self.next_row += count;
        let (batch, rows) = if ends.is_empty() {
            (RecordBatch::new_empty(self.read_schema.clone()), Vec::new())
        } else {
            let mut decoder = match self.decoder.take() {
                Some(d) => d,
                None => self.new_decoder().map_err(read_err(start_row))?,
            };
            let fast = decoder.decode(&buf).and_then(|n| {
                if n == buf.len() {
                    decoder.flush()
                } else {
                    Err(ArrowError::JsonError("more values than lines".into()))
                }
            });
            match fast {
                Ok(Some(b)) if b.num_rows() == ends.len() => {
                    self.decoder = Some(decoder);
                    (b, line_rows)
                }
                _ => {
                    let (b, rows, more) = self.slow(&buf, &ends, &line_rows, start_row)?;
                    failures.extend(more);
                    failures.sort_by_key(|f| f.row);
                    (b, rows)
                }
            }
        };
        let batch = batch.project(&self.keep).map_err(read_err(start_row))?;
        Ok(Some(SourceBatch {
            batch,
            provenance: Provenance {
                file: self.file.clone(),
                rows: rows.into(),
            },
            first_row: start_row,
            last_row: start_row + count - 1,
            failures,
            bytes,
        }))
    }

    /// Decodes each line on its own, reporting the ones that fail.
    fn slow(
        &mut self,
        buf: &[u8],
        ends: &[usize],
        line_rows: &[u64],
        start_row: u64,
    ) -> Result<(RecordBatch, Vec<u64>, Vec<Failure>)> {
        let file = self.file.clone();
        let to_err = |e: ArrowError| Error::read(file.as_ref(), Some(start_row))(Box::new(e));
        let mut good = Vec::new();
        let mut rows = Vec::new();
        let mut failures = Vec::new();
        let mut decoder = self.new_decoder().map_err(to_err)?;
        let mut start = 0;
        for (k, &end) in ends.iter().enumerate() {
            let line = &buf[start..end];
            start = end;
            let row = line_rows[k];
            let one = decoder.decode(line).and_then(|n| {
                if n != line.len() {
                    return Err(ArrowError::JsonError(
                        "the line holds more than one JSON value".into(),
                    ));
                }
                match decoder.flush()? {
                    Some(b) if b.num_rows() == 1 => Ok(b),
                    Some(_) => Err(ArrowError::JsonError(
                        "the line holds more than one JSON value".into(),
                    )),
                    None => Err(ArrowError::JsonError("the line holds no JSON value".into())),
                }
            });
            match one {
                Ok(b) => {
                    good.push(b);
                    rows.push(row);
                }
                Err(e) => {
                    failures.push(line_failure(&self.file, row, line, &e));
                    decoder = self.new_decoder().map_err(to_err)?;
                }
            }
        }
        let batch =
            arrow_select::concat::concat_batches(&self.read_schema, &good).map_err(to_err)?;
        Ok((batch, rows, failures))
    }
}

/// The failure of a line that is valid JSON but no object, or an object
/// naming a key twice; `None` for other lines (including those that do
/// not parse: `arrow-json` reports them).
fn shape_failure(file: &Path, row: u64, line: &[u8]) -> Option<Failure> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let shape = match serde::de::DeserializeSeed::deserialize(Shape::Probe, &mut de) {
        Ok(shape) if de.end().is_ok() => shape,
        _ => return None,
    };
    let (column, reason, value) = match shape {
        Shape::Probe | Shape::Object => return None,
        Shape::NotObject(kind) => (
            None,
            format!(
                "is {kind}, not a JSON object: each line of a JSON Lines file holds one object"
            ),
            Some(shorten(&String::from_utf8_lossy(line.trim_ascii()))),
        ),
        Shape::DuplicateKey(key) => (
            Some(key.clone()),
            format!(
                "the object names the key {key:?} more than once: which value is meant is unclear"
            ),
            None,
        ),
    };
    let values = serde_json::from_slice(line)
        .map(object_to_record)
        .unwrap_or_default();
    Some(Failure {
        file: file.to_path_buf(),
        row,
        batch: None,
        column,
        stage: Stage::Read,
        reason,
        value,
        values,
    })
}

/// What a JSON line holds at the top, as [`shape_failure`] sees it: a
/// `serde` visitor that skips every value and remembers the keys.
enum Shape {
    /// The seed itself, before a value is seen.
    Probe,
    /// An object with distinct keys.
    Object,
    /// Another kind of value ("an array", "a string", ...).
    NotObject(&'static str),
    /// An object naming this key twice.
    DuplicateKey(String),
}

impl<'de> serde::de::DeserializeSeed<'de> for Shape {
    type Value = Shape;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Shape, D::Error> {
        d.deserialize_any(self)
    }
}

/// An object key, borrowed from the line when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> serde::de::Visitor<'de> for Shape {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Shape, A::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut duplicate = None;
        while let Some(Key(key)) = map.next_key()? {
            map.next_value::<serde::de::IgnoredAny>()?;
            if duplicate.is_none() && !seen.insert(key.clone()) {
                duplicate = Some(key.into_owned());
            }
        }
        Ok(duplicate.map_or(Shape::Object, Shape::DuplicateKey))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Shape, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Shape::NotObject("an array"))
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Shape, E> {
        Ok(Shape::NotObject("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<Shape, E> {
        Ok(Shape::NotObject("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<Shape, E> {
        Ok(Shape::NotObject("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Shape, E> {
        Ok(Shape::NotObject("a number"))
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<Shape, E> {
        Ok(Shape::NotObject("a string"))
    }

    fn visit_unit<E>(self) -> std::result::Result<Shape, E> {
        Ok(Shape::NotObject("null"))
    }
}

/// The failure of a JSON line `arrow-json` cannot decode.
fn line_failure(file: &Path, row: u64, line: &[u8], e: &ArrowError) -> Failure {
    let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
    let message = match e {
        ArrowError::JsonError(m) => m.clone(),
        other => other.to_string(),
    };
    // arrow-json names the field as "... field 'name' ..." or "column 'name' ...".
    let column = ["field '", "column '"].iter().find_map(|p| {
        let rest = &message[message.find(p)? + p.len()..];
        Some(rest[..rest.find('\'')?].to_owned())
    });
    let parsed: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(line).ok();
    let is_object = parsed.is_some();
    let (values, value) = match parsed {
        Some(object) => {
            let value = column
                .as_ref()
                .and_then(|c| object.get(c))
                .map(|v| shorten(&v.to_string()));
            (object_to_record(object), value)
        }
        None => (Record::new(), Some(shorten(&text))),
    };
    let reason = if message.contains("missing from schema") {
        format!("{message} (the feature group has no such feature)")
    } else if !is_object {
        format!("is not a valid JSON object: {message}")
    } else {
        message
    };
    Failure {
        file: file.to_path_buf(),
        row,
        batch: None,
        column,
        stage: Stage::Read,
        reason,
        value,
        values,
    }
}

/// A JSON object as a record of texts (nulls left out, other non-strings
/// written as JSON), skipping metadata keys.
pub(crate) fn object_to_record(object: serde_json::Map<String, serde_json::Value>) -> Record {
    use serde_json::Value as J;
    let text = |v: J| match v {
        J::String(s) => s,
        other => other.to_string(),
    };
    let mut r = Record::new();
    for (k, v) in object {
        if is_meta(&k) {
            continue;
        }
        match v {
            J::Null => {}
            J::Array(items) => r.push(k, Value::List(items.into_iter().map(text).collect())),
            other => r.push(k, text(other)),
        }
    }
    r
}
