//! [`AthenaEngine`] as a [`DatasetEngine`].

use futures::TryStreamExt;

use super::{AthenaEngine, AthenaError, Fetch};
use crate::engine::{BatchStream, DatasetEngine};
use crate::error::{Error, Result};
use crate::spec::DatasetSpec;

/// An Athena failure as a dataset error: a dataset Athena refused before
/// running is the dataset's own error, not wrapped twice.
fn dataset_error(e: AthenaError) -> Error {
    match e {
        AthenaError::Dataset(e) => e,
        other => Error::Athena(Box::new(other)),
    }
}

/// Runs datasets of a base group on Athena, choosing between
/// GetQueryResults pages and UNLOAD as [`Fetch::Auto`] does.
#[async_trait::async_trait]
impl DatasetEngine for AthenaEngine {
    async fn execute(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        let result = self
            .run(
                spec,
                Fetch::Auto {
                    expected_rows: None,
                },
            )
            .await
            .map_err(dataset_error)?;
        let schema = result.schema();
        Ok(BatchStream::new(
            schema,
            result.into_stream().map_err(dataset_error),
        ))
    }

    async fn sql(&self, spec: &DatasetSpec) -> Result<String> {
        self.render(spec).map_err(dataset_error)
    }
}
