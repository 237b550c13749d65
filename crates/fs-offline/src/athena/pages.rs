//! Small results: GetQueryResults pages (NextToken) as a stream of batches.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::types::{ColumnInfo, Row};
use fs_schema::aws_error::AwsError;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::error::{AthenaError, AthenaResult};
use super::poll::Finished;
use super::{AthenaEngine, results};

async fn page(
    engine: &AthenaEngine,
    query_id: &str,
    token: Option<String>,
) -> AthenaResult<GetQueryResultsOutput> {
    let max = i32::try_from(engine.options.page_size).unwrap_or(1000);
    engine
        .athena
        .get_query_results()
        .query_execution_id(query_id)
        .max_results(max)
        .set_next_token(token)
        .send()
        .await
        .map_err(|e| AthenaError::Api {
            query_id: Some(query_id.to_owned()),
            source: Box::new(AwsError::from_sdk("GetQueryResults", e)),
        })
}

fn rows(out: &GetQueryResultsOutput) -> &[Row] {
    out.result_set().map(|r| r.rows()).unwrap_or_default()
}

/// The result's pages: the first read now (for its columns), the others
/// as the stream is polled. For a SELECT (`DML`), the first row of the
/// first page is Athena's header of column names and is checked and
/// dropped.
pub(crate) async fn stream(
    engine: AthenaEngine,
    finished: &Finished,
    schema: Option<SchemaRef>,
) -> AthenaResult<(SchemaRef, BoxStream<'static, AthenaResult<RecordBatch>>)> {
    let query_id = finished.query_id.clone();
    let first = page(&engine, &query_id, None).await?;
    let columns: Vec<ColumnInfo> = first
        .result_set()
        .and_then(|r| r.result_set_metadata())
        .map(|m| m.column_info().to_vec())
        .unwrap_or_default();
    let schema = match schema {
        Some(s) => {
            results::check_columns(&query_id, &columns, &s)?;
            s
        }
        None => results::derived_schema(&columns),
    };
    let mut first_rows = rows(&first);
    if finished.statement_type.as_deref() == Some("DML") {
        let Some((header, rest)) = first_rows.split_first() else {
            return Err(AthenaError::Schema {
                query_id,
                reason: "the first page of a SELECT's results has no header row".into(),
            });
        };
        let names: Vec<Option<&str>> = header.data().iter().map(|d| d.var_char_value()).collect();
        let matches = names.len() == columns.len()
            && names
                .iter()
                .zip(&columns)
                .all(|(n, c)| n.is_some_and(|n| n.eq_ignore_ascii_case(c.name())));
        if !matches {
            return Err(AthenaError::Schema {
                query_id,
                reason: format!(
                    "the first row of a SELECT's results should be the header {:?}, but is {names:?}",
                    columns.iter().map(|c| c.name()).collect::<Vec<_>>()
                ),
            });
        }
        first_rows = rest;
    }
    let batch = results::page_to_batch(&query_id, &columns, first_rows, 0, &schema)?;
    let state = State {
        engine,
        query_id,
        columns,
        schema: schema.clone(),
        token: first.next_token().map(str::to_owned),
        row: batch.num_rows() as u64,
        pending: (batch.num_rows() > 0).then_some(batch),
    };
    let stream = futures::stream::try_unfold(state, |mut s| async move {
        loop {
            if let Some(batch) = s.pending.take() {
                return Ok(Some((batch, s)));
            }
            let Some(token) = s.token.take() else {
                return Ok(None);
            };
            let out = page(&s.engine, &s.query_id, Some(token)).await?;
            let batch =
                results::page_to_batch(&s.query_id, &s.columns, rows(&out), s.row, &s.schema)?;
            s.row += batch.num_rows() as u64;
            s.token = out.next_token().map(str::to_owned);
            tracing::trace!(query_id = %s.query_id, rows = s.row, "athena results page");
            if batch.num_rows() > 0 {
                s.pending = Some(batch);
            }
        }
    });
    Ok((schema, stream.boxed()))
}

struct State {
    engine: AthenaEngine,
    query_id: String,
    columns: Vec<ColumnInfo>,
    schema: SchemaRef,
    token: Option<String>,
    row: u64,
    pending: Option<RecordBatch>,
}
