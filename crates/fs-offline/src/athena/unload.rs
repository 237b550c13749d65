//! Large results: the query wrapped in `UNLOAD (…) TO 's3://…/' WITH
//! (format = 'PARQUET')`, then the Parquet objects under that prefix listed
//! and read back from S3 in parallel as a stream of batches.
//!
//! Memory is bounded by `parallelism` objects held (compressed) while they
//! are decoded, plus a channel of `2 × parallelism` decoded batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use aws_smithy_types::byte_stream::AggregatedBytes;
use fs_schema::aws_error::AwsError;
use futures::StreamExt;
use futures::stream::BoxStream;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;
use tokio::sync::mpsc;

use super::error::{AthenaError, AthenaResult};

/// The compression of UNLOAD's Parquet files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnloadCompression {
    /// Snappy: fast to decode (the default here).
    #[default]
    Snappy,
    /// Gzip: Athena's own default; smaller, slower to decode.
    Gzip,
    /// Zstandard.
    Zstd,
}

impl UnloadCompression {
    fn as_sql(self) -> &'static str {
        match self {
            Self::Snappy => "SNAPPY",
            Self::Gzip => "GZIP",
            Self::Zstd => "ZSTD",
        }
    }
}

/// `s3://bucket/key` split into bucket and key (the key may be empty).
pub(crate) fn split_s3_uri(uri: &str) -> Result<(String, String), String> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{uri:?} is not an s3://bucket/prefix URI"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("{uri:?} names no bucket"));
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

/// A fresh prefix under `base` (which ends in `/`), unique per call in this
/// process and, through the time and process id, across processes.
pub(crate) fn unique_prefix(base: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{base}fs-offline-{nanos:x}-{:x}-{n:x}/", std::process::id())
}

/// The UNLOAD statement writing `select`'s rows as Parquet under `location`.
pub(crate) fn statement(select: &str, location: &str, compression: UnloadCompression) -> String {
    format!(
        "UNLOAD ({select}) TO '{}' WITH (format = 'PARQUET', compression = '{}')",
        location.replace('\'', "''"),
        compression.as_sql()
    )
}

/// The data objects under `prefix` with their sizes: everything but empty
/// objects and names starting with `_` or `.` (Hadoop's markers).
pub(crate) async fn list(
    s3: &aws_sdk_s3::Client,
    query_id: &str,
    bucket: &str,
    prefix: &str,
) -> AthenaResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| AthenaError::S3 {
                query_id: query_id.to_owned(),
                uri: format!("s3://{bucket}/{prefix}"),
                source: Box::new(AwsError::from_sdk("ListObjectsV2", e)),
            })?;
        for object in out.contents() {
            let Some(key) = object.key() else { continue };
            let name = key.rsplit('/').next().unwrap_or(key);
            if object.size().unwrap_or(0) == 0 || name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            keys.push(key.to_owned());
        }
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => break,
        }
    }
    keys.sort();
    Ok(keys)
}

async fn get(
    s3: &aws_sdk_s3::Client,
    query_id: &str,
    bucket: &str,
    key: &str,
) -> AthenaResult<AggregatedBytes> {
    let uri = || format!("s3://{bucket}/{key}");
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AthenaError::S3 {
            query_id: query_id.to_owned(),
            uri: uri(),
            source: Box::new(AwsError::from_sdk("GetObject", e)),
        })?;
    let body = out.body.collect().await.map_err(|e| AthenaError::Parquet {
        query_id: query_id.to_owned(),
        uri: uri(),
        reason: format!("reading the object's body failed: {e}"),
    })?;
    Ok(body)
}

/// Reads `keys` in parallel as batches of `schema` (or, when `None`, of the
/// first object's schema). Returns the schema and the stream.
pub(crate) async fn read(
    s3: aws_sdk_s3::Client,
    query_id: String,
    bucket: String,
    keys: Vec<String>,
    schema: Option<SchemaRef>,
    parallelism: usize,
    batch_size: usize,
) -> AthenaResult<(SchemaRef, BoxStream<'static, AthenaResult<RecordBatch>>)> {
    let mut first = None;
    let schema = match schema {
        Some(s) => s,
        None => match keys.first() {
            None => Arc::new(Schema::empty()),
            Some(key) => {
                let bytes = get(&s3, &query_id, &bucket, key).await?.into_bytes();
                let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                    .map_err(|e| parquet_error(&query_id, &bucket, key, e))?;
                let schema = Arc::new(Schema::new(builder.schema().fields().clone()));
                first = Some(bytes);
                schema
            }
        },
    };
    let parallelism = parallelism.max(1);
    let (tx, rx) = mpsc::channel::<AthenaResult<RecordBatch>>(2 * parallelism);
    let out_schema = schema.clone();
    let producer = tokio::spawn(async move {
        let first = std::sync::Mutex::new(first);
        futures::stream::iter(keys.into_iter().enumerate())
            .for_each_concurrent(parallelism, |(i, key)| {
                let (s3, query_id, bucket, schema, tx) =
                    (&s3, &query_id, &bucket, schema.clone(), tx.clone());
                let prefetched = if i == 0 {
                    first.lock().ok().and_then(|mut f| f.take())
                } else {
                    None
                };
                async move {
                    let bytes = match prefetched {
                        Some(b) => b,
                        None => match get(s3, query_id, bucket, &key).await {
                            Ok(b) => b.into_bytes(),
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        },
                    };
                    let (query_id, bucket) = (query_id.clone(), bucket.clone());
                    let decode = tokio::task::spawn_blocking(move || {
                        decode(bytes, &query_id, &bucket, &key, &schema, batch_size, &tx)
                    });
                    let _ = decode.await;
                }
            })
            .await;
    });
    let guard = AbortOnDrop(producer);
    let stream = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|item| (item, (rx, guard)))
    });
    Ok((out_schema, stream.boxed()))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn parquet_error(
    query_id: &str,
    bucket: &str,
    key: &str,
    e: impl std::fmt::Display,
) -> AthenaError {
    AthenaError::Parquet {
        query_id: query_id.to_owned(),
        uri: format!("s3://{bucket}/{key}"),
        reason: format!("not readable as Parquet: {e}"),
    }
}

/// Decodes one object and sends its batches, cast to `schema`; stops when
/// the receiver is gone.
fn decode<R: ChunkReader + 'static>(
    bytes: R,
    query_id: &str,
    bucket: &str,
    key: &str,
    schema: &SchemaRef,
    batch_size: usize,
    tx: &mpsc::Sender<AthenaResult<RecordBatch>>,
) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map(|b| b.with_batch_size(batch_size.max(1)))
        .and_then(|b| b.build());
    let reader = match reader {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.blocking_send(Err(parquet_error(query_id, bucket, key, e)));
            return;
        }
    };
    for batch in reader {
        let item = batch
            .map_err(|e| parquet_error(query_id, bucket, key, e))
            .and_then(|b| {
                conform(&b, schema).map_err(|reason| AthenaError::Parquet {
                    query_id: query_id.to_owned(),
                    uri: format!("s3://{bucket}/{key}"),
                    reason,
                })
            });
        let failed = item.is_err();
        if tx.blocking_send(item).is_err() || failed {
            return;
        }
    }
}

/// `batch` as a batch of `schema`: columns matched by position (names
/// compared ignoring case, as Athena folds them) and cast strictly.
pub(crate) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let have = batch.schema();
    if have.fields().len() != schema.fields().len() {
        return Err(format!(
            "the object has {} columns ({}), the expected schema {} ({})",
            have.fields().len(),
            names(&have),
            schema.fields().len(),
            names(schema)
        ));
    }
    let options = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    let columns = batch
        .columns()
        .iter()
        .zip(have.fields().iter().zip(schema.fields()))
        .map(|(array, (from, to))| {
            if !from.name().eq_ignore_ascii_case(to.name()) {
                return Err(format!(
                    "the object's column `{}` is where the expected schema has `{}`",
                    from.name(),
                    to.name()
                ));
            }
            if array.data_type() == to.data_type() {
                return Ok(array.clone());
            }
            arrow_cast::cast_with_options(array, to.data_type(), &options).map_err(|e| {
                format!(
                    "column `{}` ({}) cannot be cast to {}: {e}",
                    from.name(),
                    array.data_type(),
                    to.data_type()
                )
            })
        })
        .collect::<Result<Vec<ArrayRef>, String>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

fn names(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_split_into_bucket_and_key() {
        assert_eq!(
            split_s3_uri("s3://b/x/y/").unwrap(),
            ("b".to_owned(), "x/y/".to_owned())
        );
        assert_eq!(
            split_s3_uri("s3://b").unwrap(),
            ("b".to_owned(), String::new())
        );
        assert!(
            split_s3_uri("https://b/x")
                .unwrap_err()
                .contains("not an s3://")
        );
        assert!(split_s3_uri("s3:///x").unwrap_err().contains("no bucket"));
    }

    #[test]
    fn unload_statements_quote_the_location_and_name_the_format() {
        let sql = statement("SELECT 1", "s3://b/it's/", UnloadCompression::Snappy);
        assert_eq!(
            sql,
            "UNLOAD (SELECT 1) TO 's3://b/it''s/' WITH (format = 'PARQUET', compression = 'SNAPPY')"
        );
    }

    #[test]
    fn unique_prefixes_differ_and_stay_under_the_base() {
        let a = unique_prefix("s3://b/unload/");
        let b = unique_prefix("s3://b/unload/");
        assert_ne!(a, b);
        assert!(
            a.starts_with("s3://b/unload/fs-offline-") && a.ends_with('/'),
            "{a}"
        );
    }
}
