//! Writing a [`BatchStream`] to a Parquet or CSV file with bounded memory,
//! atomically.
//!
//! Batches are written as they arrive, on a blocking thread fed through a
//! channel of two batches, so the stream's producers keep running while the
//! file is encoded. A Parquet writer holds at most one row group
//! ([`ParquetOptions::row_group_rows`]) in memory; a CSV writer holds one
//! batch. The file is written to a hidden temporary name in the target
//! directory, fsynced, then renamed over the target (and the directory
//! fsynced), so the target is either absent, the old file, or complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::engine::BatchStream;
use crate::error::{Error, Result};

/// The compression of a Parquet output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParquetCompression {
    /// Snappy: fast, moderate ratio (the default, as SageMaker writes).
    #[default]
    Snappy,
    /// Zstandard at this level (1–22): smaller files, slower to write.
    Zstd(i32),
    /// None.
    Uncompressed,
}

/// How a Parquet output file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Compression of every column. Floating-point columns are written
    /// without a dictionary (their values rarely repeat); others with one.
    pub compression: ParquetCompression,
    /// Rows per row group: the writer buffers one row group, so this bounds
    /// its memory (default 262,144).
    pub row_group_rows: usize,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        Self {
            compression: ParquetCompression::Snappy,
            row_group_rows: 256 * 1024,
        }
    }
}

/// An output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Parquet.
    Parquet(ParquetOptions),
    /// CSV with a header row; timestamps in RFC 3339.
    Csv,
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// The file written.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Batches written.
    pub batches: u64,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// Writes `stream` to `path` as Parquet (see the [module docs](self)).
pub async fn write_parquet(
    stream: BatchStream,
    path: impl AsRef<Path>,
    options: ParquetOptions,
) -> Result<WriteReport> {
    write(stream, path, OutputFormat::Parquet(options)).await
}

/// Writes `stream` to `path` as CSV (see the [module docs](self)).
pub async fn write_csv(stream: BatchStream, path: impl AsRef<Path>) -> Result<WriteReport> {
    write(stream, path, OutputFormat::Csv).await
}

/// Writes `stream` to `path` in `format` (see the [module docs](self)).
pub async fn write(
    mut stream: BatchStream,
    path: impl AsRef<Path>,
    format: OutputFormat,
) -> Result<WriteReport> {
    let path = path.as_ref().to_path_buf();
    let schema = stream.schema();
    // `Err(())` tells the writer the input failed: drop the temporary file.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch, ()>>(2);
    let writer_path = path.clone();
    let writer =
        tokio::task::spawn_blocking(move || write_blocking(rx, &writer_path, schema, format));
    let mut failure = None;
    loop {
        match stream.try_next().await {
            Ok(Some(batch)) => {
                if tx.send(Ok(batch)).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Err(())).await;
                failure = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(|e| Error::Output {
        path: path.clone(),
        source: Box::new(e),
    })?;
    match failure {
        Some(e) => Err(e),
        None => written,
    }
}

/// Where the file is written before it is renamed into place.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::InvalidDataset(format!("{} does not name a file", path.display())))?;
    Ok(path.with_file_name(format!(".{name}.{}.tmp", std::process::id())))
}

fn write_blocking(
    mut rx: tokio::sync::mpsc::Receiver<Result<RecordBatch, ()>>,
    path: &Path,
    schema: SchemaRef,
    format: OutputFormat,
) -> Result<WriteReport> {
    let tmp = temp_path(path)?;
    let out_err = |e: Box<dyn std::error::Error + Send + Sync>| Error::Output {
        path: path.to_path_buf(),
        source: e,
    };
    let io_err = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::LocalIo {
            what,
            path: p,
            source,
        }
    };
    let aborted = || Error::InvalidDataset("the input stream failed".into());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    let file = File::create(&tmp).map_err(io_err("creating", &tmp))?;
    let result = (|| -> Result<(u64, u64)> {
        let mut rows = 0u64;
        let mut batches = 0u64;
        let file = match format {
            OutputFormat::Parquet(options) => {
                let compression = match options.compression {
                    ParquetCompression::Snappy => Compression::SNAPPY,
                    ParquetCompression::Zstd(level) => Compression::ZSTD(
                        ZstdLevel::try_new(level).map_err(|e| out_err(Box::new(e)))?,
                    ),
                    ParquetCompression::Uncompressed => Compression::UNCOMPRESSED,
                };
                let mut props = WriterProperties::builder()
                    .set_compression(compression)
                    .set_max_row_group_row_count(Some(options.row_group_rows.max(1)));
                // Fractional features rarely repeat: a dictionary costs time
                // to build and is dropped for plain pages once it grows.
                for field in schema.fields() {
                    if field.data_type().is_floating() {
                        props = props.set_column_dictionary_enabled(
                            ColumnPath::from(field.name().as_str()),
                            false,
                        );
                    }
                }
                let props = props.build();
                let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))
                    .map_err(|e| out_err(Box::new(e)))?;
                while let Some(batch) = rx.blocking_recv() {
                    let batch = batch.map_err(|()| aborted())?;
                    rows += batch.num_rows() as u64;
                    batches += 1;
                    writer.write(&batch).map_err(|e| out_err(Box::new(e)))?;
                }
                writer.into_inner().map_err(|e| out_err(Box::new(e)))?
            }
            OutputFormat::Csv => {
                let mut writer = arrow_csv::WriterBuilder::new()
                    .with_header(true)
                    .build(BufWriter::new(file));
                while let Some(batch) = rx.blocking_recv() {
                    let batch = batch.map_err(|()| aborted())?;
                    rows += batch.num_rows() as u64;
                    batches += 1;
                    writer.write(&batch).map_err(|e| out_err(Box::new(e)))?;
                }
                if rows == 0 {
                    // A header even when there are no rows.
                    let empty = RecordBatch::new_empty(Arc::clone(&schema));
                    writer.write(&empty).map_err(|e| out_err(Box::new(e)))?;
                }
                let mut buf = writer.into_inner();
                buf.flush().map_err(io_err("writing", &tmp))?;
                buf.into_inner()
                    .map_err(|e| io_err("writing", &tmp)(e.into_error()))?
            }
        };
        file.sync_all().map_err(io_err("syncing", &tmp))?;
        Ok((rows, batches))
    })();
    let (rows, batches) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path).map_err(io_err("renaming into", path))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    let bytes = std::fs::metadata(path)
        .map_err(io_err("reading metadata of", path))?
        .len();
    tracing::debug!(path = %path.display(), rows, bytes, "wrote a dataset file");
    Ok(WriteReport {
        path: path.to_path_buf(),
        rows,
        batches,
        bytes,
    })
}
