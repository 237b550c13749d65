//! Parquet, read by the `parquet` crate's Arrow reader, row group by row
//! group in batches. Only the columns the ingest needs are decoded: with
//! unknown columns ignored, those of the group; otherwise every column but
//! the metadata ones (an unknown column then fails the file as a whole).
//! Two columns of one name among those fail the file, naming the column.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use fs_schema::FeatureGroup;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::batch::{Provenance, SourceBatch, is_meta};
use crate::error::{Error, Result};
use crate::options::IngestOptions;

pub(crate) struct ParquetBatches {
    file: Arc<Path>,
    reader: ParquetRecordBatchReader,
    schema: SchemaRef,
    next_row: u64,
    total_rows: u64,
    size: u64,
    done: bool,
}

impl std::fmt::Debug for ParquetBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetBatches")
            .field("file", &self.file)
            .field("next_row", &self.next_row)
            .field("total_rows", &self.total_rows)
            .finish_non_exhaustive()
    }
}

impl ParquetBatches {
    pub(crate) fn open(
        file: Arc<Path>,
        batch_size: usize,
        group: &FeatureGroup,
        options: &IngestOptions,
    ) -> Result<ParquetBatches> {
        let f = File::open(&file).map_err(Error::io(file.as_ref()))?;
        let size = f.metadata().map_err(Error::io(file.as_ref()))?.len();
        let builder = ParquetRecordBatchReaderBuilder::try_new(f)
            .map_err(|e| Error::read(file.as_ref(), None)(Box::new(e)))?;
        let total_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let keep: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !is_meta(f.name())
                    && (!options.cast.ignore_unknown_columns || group.feature(f.name()).is_some())
            })
            .map(|(i, _)| i)
            .collect();
        // Two columns of one name: which one is the feature is unclear.
        let mut seen = std::collections::HashSet::new();
        let fields = builder.schema().fields();
        if let Some(dup) = keep
            .iter()
            .map(|&i| fields[i].name())
            .find(|n| !seen.insert(*n))
        {
            return Err(Error::Schema {
                file: file.to_path_buf(),
                column: Some(dup.clone()),
                source: format!("the file has more than one column named {dup:?}").into(),
            });
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), keep);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| Error::read(file.as_ref(), None)(Box::new(e)))?;
        let schema = arrow_array::RecordBatchReader::schema(&reader);
        Ok(ParquetBatches {
            file,
            reader,
            schema,
            next_row: 1,
            total_rows,
            size,
            done: false,
        })
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub(crate) fn next_batch(&mut self) -> Option<Result<SourceBatch>> {
        if self.done {
            return None;
        }
        let start_row = self.next_row;
        match self.reader.next() {
            None => {
                self.done = true;
                None
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(Error::read(self.file.as_ref(), Some(start_row))(
                    Box::new(e),
                )))
            }
            Some(Ok(batch)) => {
                let n = batch.num_rows() as u64;
                self.next_row += n;
                // Parquet decodes by column chunk; prorate the file by rows.
                let bytes = if self.total_rows == 0 {
                    0
                } else {
                    (u128::from(self.size) * u128::from(n) / u128::from(self.total_rows)) as u64
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
                    bytes,
                }))
            }
        }
    }
}
