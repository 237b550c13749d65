//! A stream of Arrow batches as a source: the batches a pipeline already
//! holds (DataFusion, Polars, a DataFrame) numbered as a file's rows are,
//! so that they go through the same cast, report, failures file and
//! checkpoint without being written to disk first.
//!
//! Batches are numbered from 1 and rows from 1 over the whole stream (row
//! 17 is the 17th row the stream yielded, whatever batch it came in): a
//! checkpoint records the rows of the stream done, and a resumed run skips
//! that many rows of the stream it is given again. Each batch must have
//! the stream's declared columns (names and types; nullability and
//! metadata are not compared): a batch that drifts fails the stream,
//! naming the batch and the column. Metadata columns (`_ingest_*`) are
//! dropped, as from a file.

use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};

use super::batch::{Provenance, SourceBatch, is_meta};
use crate::error::{Error, Result};

/// Numbers the batches of one stream.
#[derive(Debug)]
pub(crate) struct StreamBatches {
    name: String,
    path: Arc<Path>,
    /// The declared schema, metadata columns removed.
    schema: SchemaRef,
    /// The number of the next batch (1-based).
    next_batch: u64,
    /// The number of the next row (1-based).
    next_row: u64,
}

impl StreamBatches {
    pub(crate) fn new(name: &str, schema: &Schema) -> StreamBatches {
        StreamBatches {
            name: name.to_owned(),
            path: Arc::from(Path::new(name)),
            schema: without_meta(schema),
            next_batch: 1,
            next_row: 1,
        }
    }

    /// The declared schema, metadata columns removed.
    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// An error of the stream at the next batch.
    pub(crate) fn error(&self, column: Option<String>, source: crate::BoxError) -> Error {
        Error::Stream {
            stream: self.name.clone(),
            batch: self.next_batch,
            row: Some(self.next_row),
            column,
            source,
        }
    }

    /// Numbers `batch` as the next batch of the stream; refuses it when its
    /// columns differ from the declared ones.
    pub(crate) fn number(&mut self, batch: RecordBatch) -> Result<(u64, SourceBatch)> {
        let batch = self.conform(batch)?;
        let number = self.next_batch;
        let first = self.next_row;
        let n = batch.num_rows() as u64;
        self.next_batch += 1;
        self.next_row += n;
        let sb = SourceBatch {
            batch,
            provenance: Provenance {
                file: self.path.clone(),
                rows: (first..first + n).collect(),
            },
            first_row: first,
            last_row: first + n - 1,
            failures: Vec::new(),
            bytes: 0,
        };
        Ok((number, sb))
    }

    /// The batch with its metadata columns dropped, checked against the
    /// declared schema.
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let got = batch.schema();
        let drift = |column: &str, what: String| {
            self.error(
                Some(column.to_owned()),
                format!(
                    "{what}; every batch of a stream must have the stream's columns \
                     (the schema passed to run_batches)"
                )
                .into(),
            )
        };
        for field in self.schema.fields() {
            match got.field_with_name(field.name()) {
                Err(_) => {
                    return Err(drift(
                        field.name(),
                        format!(
                            "column {:?} of the stream's schema is missing",
                            field.name()
                        ),
                    ));
                }
                Ok(f) if f.data_type() != field.data_type() => {
                    return Err(drift(
                        field.name(),
                        format!(
                            "column {:?} is {} in this batch but {} in the stream's schema",
                            field.name(),
                            f.data_type(),
                            field.data_type()
                        ),
                    ));
                }
                Ok(_) => {}
            }
        }
        if let Some(extra) = got
            .fields()
            .iter()
            .find(|f| !is_meta(f.name()) && self.schema.field_with_name(f.name()).is_err())
        {
            return Err(drift(
                extra.name(),
                format!("column {:?} is not in the stream's schema", extra.name()),
            ));
        }
        if got.fields().len() == self.schema.fields().len() {
            return Ok(batch);
        }
        let keep: Vec<usize> = got
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !is_meta(f.name()))
            .map(|(i, _)| i)
            .collect();
        batch
            .project(&keep)
            .map_err(|e| self.error(None, Box::new(e)))
    }
}

fn without_meta(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .filter(|f| !is_meta(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ))
}
