//! A feature group inferred from a source file.
//!
//! The source's Arrow schema is inferred, then `fs_schema::infer_group`
//! maps it to features (see `docs/type-mapping.md`):
//!
//! - **Parquet**: the file's own schema.
//! - **CSV**: `arrow-csv`'s inference over the first `sample_rows` rows
//!   (1,000 by default): a column whose sampled values all parse as
//!   integers is `Integral`, as numbers `Fractional`, anything else
//!   (text, dates, timestamps) `String`. Boolean-looking columns
//!   (`true`/`false`) become `String`, because ingest reads CSV cells as
//!   text and the strict cast does not read `true` as a number. Values
//!   beyond the sample are not looked at: an integer column with a
//!   `"1.5"` on row 5,000 fails those rows at ingest. Leading zeros are
//!   not kept by an `Integral` feature (`"007"` is 7): make such columns
//!   `String` before building the group.
//! - **JSON Lines**: `arrow-json`'s inference over the first `sample_rows`
//!   lines: integers `Integral`, other numbers `Fractional`, strings
//!   `String`, arrays collections (which need the in-memory online store);
//!   booleans become `String` as for CSV; nested objects are refused.
//!
//! The event-time feature becomes `String` for text, date and timestamp
//! columns and `Fractional` for numeric ones. Review the result, add the
//! stores, and `build()` it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use fs_schema::FeatureGroupBuilder;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::source::{CsvOptions, Format, expand_inputs, is_meta};

/// How a group is inferred from a source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InferOptions {
    /// How CSV files are parsed.
    pub csv: CsvOptions,
    /// Rows sampled from CSV and JSON Lines files (1,000 by default).
    pub sample_rows: usize,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self {
            csv: CsvOptions::default(),
            sample_rows: 1000,
        }
    }
}

impl InferOptions {
    /// CSV parsing options.
    pub fn csv(mut self, csv: CsvOptions) -> Self {
        self.csv = csv;
        self
    }

    /// Rows to sample.
    pub fn sample_rows(mut self, rows: usize) -> Self {
        self.sample_rows = rows.max(1);
        self
    }
}

/// Infers a feature group from a source (a file, or the first file of a
/// directory or glob) with default options; see the module docs.
///
/// ```
/// use fs_ingest::infer_group_from_source;
/// use fs_schema::{FeatureType, OnlineStoreConfig};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("users.csv");
/// std::fs::write(&path, "id,ts,age,score\n7,2024-01-01T00:00:00Z,31,0.5\n")?;
/// let group = infer_group_from_source(&path, "users", "id", "ts")?
///     .online_store(OnlineStoreConfig::enabled())
///     .build()?;
/// assert_eq!(group.feature("age").unwrap().feature_type, FeatureType::Integral);
/// assert_eq!(group.feature("ts").unwrap().feature_type, FeatureType::String);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn infer_group_from_source(
    path: impl AsRef<Path>,
    name: &str,
    record_identifier: &str,
    event_time: &str,
) -> Result<FeatureGroupBuilder> {
    infer_group_from_source_with(
        path,
        name,
        record_identifier,
        event_time,
        &InferOptions::default(),
    )
}

/// [`infer_group_from_source`] with options.
pub fn infer_group_from_source_with(
    path: impl AsRef<Path>,
    name: &str,
    record_identifier: &str,
    event_time: &str,
    options: &InferOptions,
) -> Result<FeatureGroupBuilder> {
    let (file, schema) = infer_schema(path.as_ref(), options)?;
    fs_schema::infer_group(name, record_identifier, event_time, &schema)
        .map_err(|e| Error::schema(file, e))
}

/// The Arrow schema ingest infers for a source (metadata columns dropped),
/// and the file it was inferred from.
pub fn infer_schema(path: &Path, options: &InferOptions) -> Result<(PathBuf, Schema)> {
    let files = expand_inputs(&[path.to_path_buf()])?;
    let Some(first) = files.first() else {
        return Err(Error::Input {
            input: path.to_path_buf(),
            reason: "names no file".into(),
        });
    };
    let file = first.path.clone();
    let read_error = |e: arrow_schema::ArrowError| Error::Read {
        file: file.clone(),
        row: None,
        source: Box::new(e),
    };
    let open = || File::open(&file).map_err(Error::io(&file));
    let schema = match first.format {
        Format::Parquet => {
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(open()?).map_err(|e| Error::Read {
                    file: file.clone(),
                    row: None,
                    source: Box::new(e),
                })?;
            builder.schema().as_ref().clone()
        }
        Format::Csv => {
            let mut reader = BufReader::new(open()?);
            if reader
                .fill_buf()
                .map_err(Error::io(&file))?
                .starts_with(&[0xEF, 0xBB, 0xBF])
            {
                reader.consume(3);
            }
            let (schema, _) = options
                .csv
                .arrow_format()
                .infer_schema(reader, Some(options.sample_rows))
                .map_err(read_error)?;
            schema
        }
        Format::JsonLines => {
            let reader = BufReader::new(open()?);
            let (schema, _) =
                arrow_json::reader::infer_json_schema(reader, Some(options.sample_rows))
                    .map_err(read_error)?;
            schema
        }
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| !is_meta(f.name()))
        .map(|f| {
            f.as_ref()
                .clone()
                .with_data_type(text_for_booleans(f.data_type()))
        })
        .collect();
    let schema = if first.format == Format::Parquet {
        Schema::new(
            schema
                .fields()
                .iter()
                .filter(|f| !is_meta(f.name()))
                .cloned()
                .collect::<Vec<_>>(),
        )
    } else {
        Schema::new(fields)
    };
    Ok((file, schema))
}

/// Booleans (and lists of them) in text formats become text.
fn text_for_booleans(dt: &DataType) -> DataType {
    match dt {
        DataType::Boolean => DataType::Utf8,
        DataType::List(item) => DataType::List(Arc::new(
            item.as_ref()
                .clone()
                .with_data_type(text_for_booleans(item.data_type())),
        )),
        other => other.clone(),
    }
}
