//! CSV: read by `arrow-csv` with every column as `Utf8`, so that types are
//! decided by fs-schema's strict cast (which names the row, column and
//! value of every bad cell) rather than by the CSV reader.
//!
//! `arrow-csv` fails a whole batch on a row with the wrong number of fields
//! or with invalid UTF-8. When it does, that batch's bytes are read again
//! with the `csv` crate (the parser `arrow-csv` is built on, configured the
//! same way), one row at a time: the bad rows become [`Failure`]s with their
//! row number and the good ones go on; the next batch is read by `arrow-csv`
//! again. An unclosed quote makes its field run on to the next quote (or the
//! end of the file), so the rows it swallows are reported as part of the row
//! where it opened: that row number is exact, the count of rows after it is
//! not.
//!
//! An empty cell (`,,` or `,"",`) is a missing value (null) for every
//! type, as pandas and the SageMaker SDK read it; a missing record
//! identifier or event time fails its row. With
//! [`CsvOptions::keep_empty_strings`] empty cells are read as empty text
//! instead: `""` for `String` features, null for the others (the cast's
//! `CastOptions::empty_string_as_null`).
//!
//! Line endings may be `\n` or `\r\n` (or a lone `\r`); no value keeps a
//! trailing `\r`. A field holding a NUL byte fails its row (a CSV file holds
//! text: NUL bytes mean a binary or UTF-16 file), as does invalid UTF-8.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_csv::reader::Decoder;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use fs_schema::{FeatureGroup, Record};

use super::batch::{Provenance, SourceBatch, is_meta, shorten};
use crate::error::{Error, Result};
use crate::options::CsvOptions;
use crate::report::{Failure, Stage};

impl CsvOptions {
    fn csv_reader<R: std::io::Read>(&self, reader: R) -> csv::Reader<R> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .quote(self.quote)
            .escape(self.escape)
            .comment(self.comment)
            .from_reader(reader)
    }

    pub(crate) fn arrow_format(&self) -> arrow_csv::reader::Format {
        let mut f = arrow_csv::reader::Format::default()
            .with_header(self.has_header)
            .with_delimiter(self.delimiter)
            .with_quote(self.quote);
        if let Some(e) = self.escape {
            f = f.with_escape(e);
        }
        if let Some(c) = self.comment {
            f = f.with_comment(c);
        }
        f
    }
}

/// A regular expression that matches nothing: empty cells stay empty
/// strings (arrow-csv's default turns them into nulls, even for text), for
/// [`CsvOptions::keep_empty_strings`].
fn never_null() -> regex::Regex {
    regex::Regex::new(r"[^\s\S]").expect("a valid regular expression")
}

const BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

#[derive(Debug)]
pub(crate) struct CsvBatches {
    file: Arc<Path>,
    reader: BufReader<File>,
    /// Byte offset of the next unread record.
    offset: u64,
    /// Row number of the next unread record.
    next_row: u64,
    columns: Vec<String>,
    /// All columns as Utf8, as read.
    read_schema: SchemaRef,
    /// Indices of the columns kept (metadata columns dropped).
    keep: Vec<usize>,
    schema: SchemaRef,
    opts: CsvOptions,
    batch_size: usize,
    decoder: Option<Decoder>,
    /// Bytes before the first row (BOM, header), counted with the first batch.
    preamble: u64,
    done: bool,
}

impl CsvBatches {
    pub(crate) fn open(
        file: Arc<Path>,
        batch_size: usize,
        group: &FeatureGroup,
        opts: &CsvOptions,
    ) -> Result<CsvBatches> {
        let f = File::open(&file).map_err(Error::io(file.as_ref()))?;
        let mut reader = BufReader::with_capacity(1 << 16, f);
        let mut offset = 0u64;
        if reader
            .fill_buf()
            .map_err(Error::io(file.as_ref()))?
            .starts_with(BOM)
        {
            reader.consume(BOM.len());
            offset = BOM.len() as u64;
        }
        let columns = if opts.has_header {
            let mut csv = opts.csv_reader(&mut reader);
            let mut header = csv::ByteRecord::new();
            let found = csv
                .read_byte_record(&mut header)
                .map_err(|e| Error::read(file.as_ref(), None)(Box::new(e)))?;
            if !found {
                return Err(Error::read(file.as_ref(), None)(
                    "the file is empty: a CSV file needs a header row".into(),
                ));
            }
            let names = header
                .iter()
                .map(|f| std::str::from_utf8(f).map(str::to_owned))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::read(file.as_ref(), None)(
                        format!(
                            "the header row is not valid UTF-8 ({e}): is the file in another \
                             encoding, compressed or binary?"
                        )
                        .into(),
                    )
                })?;
            if names.iter().any(|n| n.contains('\0')) {
                return Err(Error::read(file.as_ref(), None)(
                    "the header row holds NUL bytes: a CSV file holds UTF-8 text; is this file \
                     UTF-16, compressed or binary?"
                        .into(),
                ));
            }
            offset += csv.position().byte();
            drop(csv);
            reader
                .seek(SeekFrom::Start(offset))
                .map_err(Error::io(file.as_ref()))?;
            names
        } else {
            group
                .feature_definitions
                .iter()
                .map(|d| d.name.clone())
                .collect()
        };
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = columns.iter().find(|c| !seen.insert(c.as_str())) {
            return Err(Error::Schema {
                file: file.to_path_buf(),
                column: Some(dup.clone()),
                source: format!("the header names column {dup:?} twice").into(),
            });
        }
        let read_schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let keep: Vec<usize> = (0..columns.len())
            .filter(|&i| !is_meta(&columns[i]))
            .collect();
        let schema = Arc::new(read_schema.project(&keep).map_err(|e| Error::Schema {
            file: file.to_path_buf(),
            column: None,
            source: Box::new(e),
        })?);
        Ok(CsvBatches {
            file,
            reader,
            offset,
            next_row: 1,
            columns,
            read_schema,
            keep,
            schema,
            opts: opts.clone(),
            batch_size,
            decoder: None,
            preamble: offset,
            done: false,
        })
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn new_decoder(&self) -> Decoder {
        // arrow-csv's default reads an empty cell as null.
        let mut b = arrow_csv::ReaderBuilder::new(self.read_schema.clone())
            .with_header(false)
            .with_delimiter(self.opts.delimiter)
            .with_quote(self.opts.quote)
            .with_batch_size(self.batch_size);
        if self.opts.keep_empty_strings {
            b = b.with_null_regex(never_null());
        }
        if let Some(e) = self.opts.escape {
            b = b.with_escape(e);
        }
        if let Some(c) = self.opts.comment {
            b = b.with_comment(c);
        }
        b.build_decoder()
    }

    fn io_error(&self, row: u64) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |e| Error::read(self.file.as_ref(), Some(row))(Box::new(e))
    }

    pub(crate) fn next_batch(&mut self) -> Option<Result<SourceBatch>> {
        if self.done {
            return None;
        }
        let mut out = self.read_batch();
        match &mut out {
            Some(Ok(b)) => b.bytes += std::mem::take(&mut self.preamble),
            _ => self.done = true,
        }
        out
    }

    fn read_batch(&mut self) -> Option<Result<SourceBatch>> {
        let (start_offset, start_row) = (self.offset, self.next_row);
        let mut decoder = match self.decoder.take() {
            Some(d) => d,
            None => self.new_decoder(),
        };
        let mut consumed = 0u64;
        let fast = loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) => return Some(Err(self.io_error(start_row)(e))),
            };
            match decoder.decode(buf) {
                Ok(n) => {
                    self.reader.consume(n);
                    consumed += n as u64;
                    if n == 0 || decoder.capacity() == 0 {
                        break decoder.flush();
                    }
                }
                Err(e) => break Err(e),
            }
        };
        match fast {
            Ok(None) => None,
            Ok(Some(batch)) if has_nul(&batch) => {
                tracing::debug!(file = %self.file.display(), row = start_row,
                    "a batch holds NUL bytes; reading it row by row");
                self.slow_batch(start_offset, start_row).transpose()
            }
            Ok(Some(batch)) => {
                self.decoder = Some(decoder);
                self.offset += consumed;
                let n = batch.num_rows() as u64;
                self.next_row += n;
                let batch = match batch.project(&self.keep) {
                    Ok(b) => b,
                    Err(e) => return Some(Err(Error::read(self.file.as_ref(), None)(Box::new(e)))),
                };
                Some(Ok(SourceBatch {
                    batch,
                    provenance: Provenance {
                        file: self.file.clone(),
                        rows: (start_row..start_row + n).collect(),
                    },
                    first_row: start_row,
                    last_row: start_row + n - 1,
                    failures: Vec::new(),
                    bytes: consumed,
                }))
            }
            Err(e) => {
                tracing::debug!(file = %self.file.display(), row = start_row, error = %e,
                    "arrow-csv refused a batch; reading it row by row");
                self.slow_batch(start_offset, start_row).transpose()
            }
        }
    }

    /// Reads up to `batch_size` rows from `start_offset` with the `csv`
    /// crate, one at a time, reporting the rows `arrow-csv` refuses.
    fn slow_batch(&mut self, start_offset: u64, start_row: u64) -> Result<Option<SourceBatch>> {
        self.reader
            .seek(SeekFrom::Start(start_offset))
            .map_err(self.io_error(start_row))?;
        let ncols = self.columns.len();
        let mut builders: Vec<StringBuilder> = (0..ncols).map(|_| StringBuilder::new()).collect();
        let mut rows = Vec::new();
        let mut failures = Vec::new();
        let mut record = csv::ByteRecord::new();
        let mut read = 0u64;
        let consumed = {
            let mut csv = self.opts.csv_reader(&mut self.reader);
            while read < self.batch_size as u64 {
                let found = csv.read_byte_record(&mut record).map_err(|e| {
                    Error::read(self.file.as_ref(), Some(start_row + read))(Box::new(e))
                })?;
                if !found {
                    break;
                }
                let row = start_row + read;
                read += 1;
                if let Some(f) = check_row(&self.file, row, &self.columns, &record) {
                    failures.push(f);
                    continue;
                }
                for (b, field) in builders.iter_mut().zip(record.iter()) {
                    if field.is_empty() && !self.opts.keep_empty_strings {
                        b.append_null();
                    } else {
                        // Checked by `check_row`.
                        b.append_value(std::str::from_utf8(field).unwrap_or_default());
                    }
                }
                rows.push(row);
            }
            csv.position().byte()
        };
        self.offset = start_offset + consumed;
        self.reader
            .seek(SeekFrom::Start(self.offset))
            .map_err(self.io_error(start_row + read))?;
        self.next_row = start_row + read;
        if read == 0 {
            return Ok(None);
        }
        let columns: Vec<ArrayRef> = self
            .keep
            .iter()
            .map(|&i| Arc::new(builders[i].finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::read(self.file.as_ref(), Some(start_row))(Box::new(e)))?;
        Ok(Some(SourceBatch {
            batch,
            provenance: Provenance {
                file: self.file.clone(),
                rows: rows.into(),
            },
            first_row: start_row,
            last_row: start_row + read - 1,
            failures,
            bytes: consumed,
        }))
    }
}

/// True when a column of `batch` (all `Utf8`) holds a NUL byte.
fn has_nul(batch: &RecordBatch) -> bool {
    use arrow_array::cast::AsArray;
    batch.columns().iter().any(|c| {
        c.as_string_opt::<i32>()
            .is_some_and(|s| s.values().as_slice().contains(&0))
    })
}

/// The failure of a row `arrow-csv` cannot read, or `None` if it is fine.
fn check_row(
    file: &Path,
    row: u64,
    columns: &[String],
    record: &csv::ByteRecord,
) -> Option<Failure> {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let values = || {
        let mut r = Record::new();
        for (name, field) in columns.iter().zip(record.iter()) {
            if !is_meta(name) {
                r.push(name.clone(), lossy(field));
            }
        }
        r
    };
    if record.len() != columns.len() {
        let mut reason = format!(
            "has {} fields; the header has {}",
            record.len(),
            columns.len()
        );
        if record.len() > columns.len() {
            let extra: Vec<String> = record.iter().skip(columns.len()).map(lossy).collect();
            reason.push_str(&format!("; extra fields {:?}", shorten(&extra.join(","))));
        }
        if record.iter().any(|f| f.contains(&b'\n')) {
            reason.push_str(
                "; a field runs over lines, probably an unclosed quote (the rows after it up to \
                 the next quote are read as part of this row)",
            );
        }
        return Some(Failure {
            file: file.to_path_buf(),
            row,
            batch: None,
            column: None,
            stage: Stage::Read,
            reason,
            value: None,
            values: values(),
        });
    }
    let bad_utf8 = record
        .iter()
        .enumerate()
        .find_map(|(i, f)| std::str::from_utf8(f).err().map(|e| (i, e)));
    let Some((i, err)) = bad_utf8 else {
        let (i, at) = record
            .iter()
            .enumerate()
            .find_map(|(i, f)| f.iter().position(|&b| b == 0).map(|at| (i, at)))?;
        return Some(Failure {
            file: file.to_path_buf(),
            row,
            batch: None,
            column: Some(columns[i].clone()),
            stage: Stage::Read,
            reason: format!(
                "holds a NUL byte (byte {at} of the field): a CSV file holds text; is the file \
                 binary or UTF-16?"
            ),
            value: Some(shorten(&lossy(&record[i]))),
            values: values(),
        });
    };
    Some(Failure {
        file: file.to_path_buf(),
        row,
        batch: None,
        column: Some(columns[i].clone()),
        stage: Stage::Read,
        reason: format!(
            "is not valid UTF-8 (byte {} of the field; is the file in another encoding?)",
            err.valid_up_to()
        ),
        value: Some(shorten(&lossy(&record[i]))),
        values: values(),
    })
}
