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
use parquet::errors::ParquetError;
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
    /// An Arrow IPC file (uncompressed, buffers 64-byte aligned): what
    /// [dataset artifacts](crate::artifact) are kept as, readable without
    /// decoding by any Arrow implementation (pyarrow's `ipc.open_file`,
    /// DuckDB's `arrow` extension).
    ArrowIpc,
    /// An Arrow IPC file whose buffers are LZ4-frame compressed (the IPC
    /// format's own compression, which pyarrow reads too): smaller, but
    /// every buffer is decompressed when read.
    ArrowIpcLz4,
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

/// Writes the batches received on `rx` to a temporary file beside `path`
/// and renames it into place once complete (see the [module docs](self)).
fn write_blocking(
    rx: tokio::sync::mpsc::Receiver<Result<RecordBatch, ()>>,
    path: &Path,
    schema: SchemaRef,
    format: OutputFormat,
) -> Result<WriteReport> {
    let tmp = temp_path(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
    let file = File::create(&tmp).map_err(io_error("creating", &tmp))?;
    let mut incoming = Incoming {
        rx,
        rows: 0,
        batches: 0,
    };
    let encoded = match format {
        OutputFormat::Parquet(options) => {
            encode_parquet(file, &mut incoming, &schema, options, path)
        }
        OutputFormat::Csv => encode_csv(file, &mut incoming, &schema, path, &tmp),
        OutputFormat::ArrowIpc => encode_ipc(file, &mut incoming, &schema, None, path, &tmp),
        OutputFormat::ArrowIpcLz4 => {
            let lz4 = Some(arrow_ipc::CompressionType::LZ4_FRAME);
            encode_ipc(file, &mut incoming, &schema, lz4, path, &tmp)
        }
    };
    let synced = encoded.and_then(|file| file.sync_all().map_err(io_error("syncing", &tmp)));
    if let Err(e) = synced {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let Incoming { rows, batches, .. } = incoming;
    std::fs::rename(&tmp, path).map_err(io_error("renaming into", path))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    let bytes = std::fs::metadata(path)
        .map_err(io_error("reading metadata of", path))?
        .len();
    tracing::debug!(path = %path.display(), rows, bytes, "wrote a dataset file");
    Ok(WriteReport {
        path: path.to_path_buf(),
        rows,
        batches,
        bytes,
    })
}

/// The batches arriving from the stream, counted as they are taken, so the
/// report can say what was written whatever the format.
struct Incoming {
    rx: tokio::sync::mpsc::Receiver<Result<RecordBatch, ()>>,
    rows: u64,
    batches: u64,
}

impl Incoming {
    /// The next batch; `None` once the stream has ended, an error when it
    /// failed (the file must then not be kept).
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let Some(batch) = self.rx.blocking_recv() else {
            return Ok(None);
        };
        let batch = batch.map_err(|()| Error::InvalidDataset("the input stream failed".into()))?;
        self.rows += batch.num_rows() as u64;
        self.batches += 1;
        Ok(Some(batch))
    }
}

/// Encodes every incoming batch into `file` as Parquet, one row group held
/// at a time, and returns the file for syncing.
fn encode_parquet(
    file: File,
    incoming: &mut Incoming,
    schema: &SchemaRef,
    options: ParquetOptions,
    path: &Path,
) -> Result<File> {
    let props = writer_properties(schema, options).map_err(|e| output_error(path, e))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(schema), Some(props))
        .map_err(|e| output_error(path, e))?;
    while let Some(batch) = incoming.next_batch()? {
        writer.write(&batch).map_err(|e| output_error(path, e))?;
    }
    writer.into_inner().map_err(|e| output_error(path, e))
}

/// The Parquet writer's settings for `options` over `schema`.
fn writer_properties(
    schema: &SchemaRef,
    options: ParquetOptions,
) -> Result<WriterProperties, ParquetError> {
    let compression = match options.compression {
        ParquetCompression::Snappy => Compression::SNAPPY,
        ParquetCompression::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level)?),
        ParquetCompression::Uncompressed => Compression::UNCOMPRESSED,
    };
    let mut props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(options.row_group_rows.max(1)));
    // Fractional features rarely repeat: a dictionary costs time
    // to build and is dropped for plain pages once it grows.
    for field in schema.fields() {
        if field.data_type().is_floating() {
            props =
                props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    Ok(props.build())
}

/// Encodes every incoming batch into `file` as CSV with a header row (even
/// when there are no rows), and returns the file for syncing.
fn encode_csv(
    file: File,
    incoming: &mut Incoming,
    schema: &SchemaRef,
    path: &Path,
    tmp: &Path,
) -> Result<File> {
    let mut writer = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .build(BufWriter::new(file));
    while let Some(batch) = incoming.next_batch()? {
        writer.write(&batch).map_err(|e| output_error(path, e))?;
    }
    if incoming.rows == 0 {
        // A header even when there are no rows.
        let empty = RecordBatch::new_empty(Arc::clone(schema));
        writer.write(&empty).map_err(|e| output_error(path, e))?;
    }
    unbuffer(writer.into_inner(), tmp)
}

/// The file under `buf`, once everything buffered is written to it.
fn unbuffer(mut buf: BufWriter<File>, tmp: &Path) -> Result<File> {
    buf.flush().map_err(io_error("writing", tmp))?;
    buf.into_inner()
        .map_err(|e| io_error("writing", tmp)(e.into_error()))
}

/// Encodes every incoming batch into `file` as an Arrow IPC file, its
/// buffers compressed with `compression` if given, one batch held at a
/// time.
fn encode_ipc(
    file: File,
    incoming: &mut Incoming,
    schema: &SchemaRef,
    compression: Option<arrow_ipc::CompressionType>,
    path: &Path,
    tmp: &Path,
) -> Result<File> {
    let options = arrow_ipc::writer::IpcWriteOptions::default()
        .try_with_compression(compression)
        .map_err(|e| output_error(path, e))?;
    let mut writer =
        arrow_ipc::writer::FileWriter::try_new_with_options(BufWriter::new(file), schema, options)
            .map_err(|e| output_error(path, e))?;
    while let Some(batch) = incoming.next_batch()? {
        writer.write(&batch).map_err(|e| output_error(path, e))?;
    }
    writer.finish().map_err(|e| output_error(path, e))?;
    unbuffer(writer.into_inner().map_err(|e| output_error(path, e))?, tmp)
}

/// An encoder's failure to write `path`.
fn output_error(path: &Path, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        source: Box::new(source),
    }
}

/// A file system failure at `path` while `what`.
fn io_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::LocalIo { what, path, source }
}
