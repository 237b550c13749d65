//! [`AthenaEngine`] as a [`DatasetEngine`].

use futures::TryStreamExt;

use super::{AthenaEngine, Fetch};
use crate::engine::{BatchStream, DatasetEngine};
use crate::error::{Error, Result};
use crate::spec::DatasetSpec;

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
            .await?;
        let schema = result.schema();
        Ok(BatchStream::new(
            schema,
            result.into_stream().map_err(Error::from),
        ))
    }

    async fn sql(&self, spec: &DatasetSpec) -> Result<String> {
        self.render(spec)
    }
}
