//! Reading offline Parquet files as the table's schema, one row group at a
//! time: the part of a scan the native paths (latest per record and the
//! point-in-time join) need.
//!
//! Files may come from other writers, so a file's own Arrow schema is
//! converted to the table's the way the SQL engine converts it: columns are
//! matched by name, a column the file lacks reads as nulls (a feature added
//! after the file was written), and a column of another type is cast
//! (`INT96` or nanosecond timestamps to milliseconds, `LargeUtf8` or views
//! to `Utf8`, `Int32` to `Int64`, and so on) strictly: a value that does
//! not convert fails the read, naming the file, column and value.

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection,
};
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One offline file, its footer read once.
#[derive(Debug, Clone)]
pub(crate) struct OpenFile {
    pub(crate) path: PathBuf,
    meta: ArrowReaderMetadata,
}

/// A row group of a file: the unit both passes read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit {
    /// The file's index in the dataset's file list.
    pub(crate) file: u32,
    /// The row group's index in the file.
    pub(crate) row_group: usize,
    /// The row group's rows.
    pub(crate) rows: usize,
    /// The file row number of its first row.
    pub(crate) first_row: usize,
}

/// The error of reading `path`.
pub(crate) fn input(
    path: &Path,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        source: source.into(),
    }
}

impl OpenFile {
    /// Reads the footer of `path`.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| input(path, e))?;
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| input(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            meta,
        })
    }

    /// The file's row groups as units of file number `file`.
    pub(crate) fn units(&self, file: u32) -> Vec<Unit> {
        let mut first_row = 0;
        let mut out = Vec::new();
        for (row_group, rg) in self.meta.metadata().row_groups().iter().enumerate() {
            let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
            out.push(Unit {
                file,
                row_group,
                rows,
                first_row,
            });
            first_row += rows;
        }
        out
    }

    /// A reader of row group `row_group`, only the rows of `selection`
    /// (all when `None`), producing batches of `target`'s columns.
    pub(crate) fn reader(
        &self,
        row_group: usize,
        target: &SchemaRef,
        selection: Option<RowSelection>,
        batch_size: usize,
    ) -> Result<AdaptingReader> {
        let file = File::open(&self.path).map_err(|e| input(&self.path, e))?;
        let file_schema = self.meta.schema().clone();
        let roots: Vec<usize> = target
            .fields()
            .iter()
            .filter_map(|f| file_schema.index_of(f.name()).ok())
            .collect();
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), roots);
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
                .with_projection(mask)
                .with_row_groups(vec![row_group])
                .with_batch_size(batch_size.max(1));
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        let inner = builder.build().map_err(|e| input(&self.path, e))?;
        Ok(AdaptingReader {
            inner,
            target: target.clone(),
            path: self.path.clone(),
            row_group,
        })
    }
}

/// Batches of a row group converted to the table's schema.
pub(crate) struct AdaptingReader {
    inner: ParquetRecordBatchReader,
    target: SchemaRef,
    path: PathBuf,
    row_group: usize,
}

impl Iterator for AdaptingReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.inner.next()? {
            Ok(b) => b,
            Err(e) => {
                return Some(Err(input(
                    &self.path,
                    format!("row group {}: {e}", self.row_group),
                )));
            }
        };
        Some(adapt(&batch, &self.target).map_err(|e| input(&self.path, e)))
    }
}

/// `batch` (a file's columns) as `target`'s columns, by name.
fn adapt(batch: &RecordBatch, target: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let rows = batch.num_rows();
    let columns = target
        .fields()
        .iter()
        .map(|field| -> std::result::Result<ArrayRef, String> {
            let Some(column) = batch.column_by_name(field.name()) else {
                return Ok(new_null_array(field.data_type(), rows));
            };
            if column.data_type() == field.data_type() {
                return Ok(column.clone());
            }
            // Strict: a value that does not convert is an error naming the
            // column and value, never a silent null.
            let options = arrow_cast::CastOptions {
                safe: false,
                ..Default::default()
            };
            arrow_cast::cast_with_options(column, field.data_type(), &options).map_err(|e| {
                format!(
                    "column `{}` is {} and cannot be read as {}: {e}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                )
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(target.clone(), columns, &options).map_err(|e| e.to_string())
}
