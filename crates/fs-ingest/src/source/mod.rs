//! Sources: which files an input names, and reading them as Arrow batches.
//!
//! An input is a file, a directory (every supported file under it,
//! recursively, sorted by path; hidden files skipped) or a glob pattern
//! (`data/*.parquet`, `logs/**/*.jsonl`). The format comes from the
//! extension:
//!
//! | extension | format | read with |
//! |---|---|---|
//! | `.csv` | CSV with a header row | `arrow-csv`, every column as `Utf8` |
//! | `.parquet`, `.pq` | Parquet | `parquet`'s Arrow reader |
//! | `.jsonl`, `.ndjson` | JSON Lines (one object per line) | `arrow-json` |
//!
//! Each file is read as an iterator of [`SourceBatch`]es of at most
//! `batch_size` rows, so memory stays bounded whatever the file size.
//! **Rows are numbered from 1 per file and count data rows only**: a CSV
//! header is not a row, blank lines are not rows, a CSV row spanning lines
//! (a quoted newline) is one row. Rows a reader cannot read (a CSV row with
//! the wrong number of fields or invalid UTF-8, a JSON line that does not
//! parse) come back as [`Failure`](crate::report::Failure)s next to the
//! good rows of the batch.
//!
//! Columns whose names start with `_ingest_` (the metadata columns of a
//! failures file, see [`crate::report`]) are dropped on read: no feature
//! name can start with `_`, so a failures file can be ingested again as is.
//!
//! Files are one source among others: a stream of Arrow `RecordBatch`es
//! held in memory ([`crate::Ingest::run_batches`]) is numbered the same
//! way (rows from 1 over the whole stream, batches from 1) and goes
//! through the same cast, report, failures file and checkpoint.

mod batch;
mod csv;
pub(crate) mod format;
mod json;
mod parquet;
pub(crate) mod stream;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arrow_schema::SchemaRef;
use fs_schema::FeatureGroup;

use crate::error::{Error, Result};
use crate::options::IngestOptions;

pub(crate) use self::batch::is_meta;
pub use self::batch::{META_PREFIX, Provenance, SourceBatch};
pub use self::format::Format;
pub use crate::options::CsvOptions;

/// One file to read, found from an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path, as found (the input joined with the path below it).
    pub path: PathBuf,
    /// The path relative to its input's root (the directory given, the
    /// fixed part of a glob, or a file's own directory), with `/`
    /// separators. Sharding by file hashes this, so that workers that
    /// mount the same data at different places split it the same way.
    pub relative: String,
    /// The file's format.
    pub format: Format,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, when the file system records one.
    pub modified: Option<SystemTime>,
}

impl SourceFile {
    fn new(path: PathBuf, root: &Path, format: Format) -> Result<SourceFile> {
        let meta = std::fs::metadata(&path).map_err(Error::io(&path))?;
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/");
        Ok(SourceFile {
            path,
            relative,
            format,
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// One input of a run: a file, or a stream of batches known by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    File(SourceFile),
    Stream(String),
}

impl Input {
    /// The file's path, or the stream's name, as reports and failures name it.
    pub(crate) fn path(&self) -> PathBuf {
        match self {
            Input::File(f) => f.path.clone(),
            Input::Stream(name) => PathBuf::from(name),
        }
    }

    pub(crate) fn is_stream(&self) -> bool {
        matches!(self, Input::Stream(_))
    }
}

/// Every supported file named by `inputs`, in input order, each input's
/// files sorted by relative path; a file named twice is read once.
///
/// A file named directly must have a supported extension; files of other
/// types under a directory or matched by a glob are skipped. An input that
/// names no supported file at all is an [`Error::Input`].
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<SourceFile>> {
    let mut out: Vec<SourceFile> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for input in inputs {
        let found = expand_one(input)?;
        if found.is_empty() {
            return Err(Error::Input {
                input: input.clone(),
                reason: "names no CSV, Parquet or JSON Lines file".into(),
            });
        }
        out.extend(found.into_iter().filter(|f| seen.insert(f.path.clone())));
    }
    Ok(out)
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn expand_one(input: &Path) -> Result<Vec<SourceFile>> {
    if input.is_dir() {
        return walk(input, input);
    }
    if input.is_file() {
        let format = Format::from_path(input).ok_or_else(|| Error::Input {
            input: input.to_path_buf(),
            reason: "unsupported file type (expected .csv, .parquet, .pq, .jsonl or .ndjson)"
                .into(),
        })?;
        let root = input.parent().unwrap_or(Path::new(""));
        return Ok(vec![SourceFile::new(input.to_path_buf(), root, format)?]);
    }
    let text = input.to_str().ok_or_else(|| Error::Input {
        input: input.to_path_buf(),
        reason: "not valid UTF-8".into(),
    })?;
    if !is_glob(text) {
        return Err(Error::Input {
            input: input.to_path_buf(),
            reason: "no such file or directory".into(),
        });
    }
    // The root is the part before the first component with a wildcard.
    let root: PathBuf = input
        .components()
        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    let paths = glob::glob(text).map_err(|e| Error::Input {
        input: input.to_path_buf(),
        reason: format!("invalid glob pattern: {e}"),
    })?;
    let mut out = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| Error::Io {
            path: e.path().to_path_buf(),
            source: e.into(),
        })?;
        if path.is_dir() {
            out.extend(walk(&path, &root)?);
        } else if let Some(format) = Format::from_path(&path) {
            out.push(SourceFile::new(path, &root, format)?);
        }
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

/// Every supported, non-hidden file under `dir`, sorted by relative path.
fn walk(dir: &Path, root: &Path) -> Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(Error::io(&d))? {
            let entry = entry.map_err(Error::io(&d))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(Error::io(&path))?;
            if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
                stack.push(path);
            } else if let Some(format) = Format::from_path(&path) {
                out.push(SourceFile::new(path, root, format)?);
            }
        }
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

/// An open source file: an iterator of its batches.
///
/// An `Err` item is a file-level error (the rest of the file cannot be
/// read); the iterator ends after it. Bad rows are not errors: they are in
/// [`SourceBatch::failures`].
#[derive(Debug)]
pub struct FileBatches {
    inner: Inner,
    schema: SchemaRef,
}

#[derive(Debug)]
enum Inner {
    Csv(Box<csv::CsvBatches>),
    Parquet(Box<parquet::ParquetBatches>),
    Json(Box<json::JsonBatches>),
}

impl FileBatches {
    /// The schema of the batches (metadata columns removed).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Iterator for FileBatches {
    type Item = Result<SourceBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Csv(r) => r.next_batch(),
            Inner::Parquet(r) => r.next_batch(),
            Inner::Json(r) => r.next_batch(),
        }
    }
}

/// Opens `file` for reading in batches of `options.batch_size` rows.
///
/// The group is needed for JSON Lines (its features are read as text,
/// collections as lists of text) and for CSV files without a header (the
/// group's features name the columns, in order).
pub fn read_file(
    file: &SourceFile,
    group: &FeatureGroup,
    options: &IngestOptions,
) -> Result<FileBatches> {
    let format = file.format;
    let file = Arc::<Path>::from(file.path.as_path());
    let batch_size = options.batch_size.max(1);
    let (inner, schema) = match format {
        Format::Parquet => {
            let r = parquet::ParquetBatches::open(file, batch_size, group, options)?;
            let schema = r.schema();
            (Inner::Parquet(Box::new(r)), schema)
        }
        Format::JsonLines => {
            let r = json::JsonBatches::open(file, batch_size, group, options)?;
            let schema = r.schema();
            (Inner::Json(Box::new(r)), schema)
        }
        Format::Csv => {
            let r = csv::CsvBatches::open(file, batch_size, group, &options.csv)?;
            let schema = r.schema();
            (Inner::Csv(Box::new(r)), schema)
        }
    };
    Ok(FileBatches { inner, schema })
}
