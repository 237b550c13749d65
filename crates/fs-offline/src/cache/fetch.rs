//! Downloading one object into the cache: a temporary file in the target's
//! directory, checked for size and checksum, fsynced, renamed into place,
//! and the directory fsynced. The target path only ever holds a whole,
//! verified object.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::ChecksumMode;

use super::checksum::{Hasher, RemoteChecksum, expected, normalize_etag};
use super::download::{BodySink, create_temp, drain, publish, retry_config};
use super::error::{CacheError, CacheResult};
use super::fsutil::{blocking, millis, temp_path_for};
use super::manifest::ObjectEntry;
use super::parts::fetch_in_parts;
use super::slots::Slots;

/// The file being written, moved to the blocking pool for each write.
struct Sink {
    file: File,
    local: Hasher,
    remote: Option<Hasher>,
    written: u64,
    tmp: PathBuf,
    uri: String,
}

impl BodySink for Sink {
    fn write(&mut self, buf: &[u8]) -> CacheResult<()> {
        self.local.update(buf);
        if let Some(h) = &mut self.remote {
            h.update(buf);
        }
        self.file
            .write_all(buf)
            .map_err(|e| CacheError::io_object("writing", &self.tmp, &self.uri, e))?;
        self.written += buf.len() as u64;
        Ok(())
    }
}

/// How a sync downloads: objects over `part_size` bytes in ranged parts
/// of that size, every GET holding one of `slots`.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) part_size: u64,
    pub(crate) slots: Slots,
    pub(crate) attempts: u32,
}

/// Fetches `s3://bucket/key` (listed with `size` bytes) to `target`, in at
/// most `plan.attempts` attempts: retryable failures (throttling, 5xx, a
/// body cut short, a checksum mismatch: [`CacheError`]'s `Classify`) are
/// tried again after a jittered backoff ([`retry_config`]). An object over
/// the plan's part size is fetched in parts ([`super::parts`]), each part
/// retried on its own.
pub(crate) async fn fetch(
    client: &Client,
    bucket: &str,
    key: &str,
    size: u64,
    target: &Path,
    plan: &Plan,
) -> CacheResult<ObjectEntry> {
    let attempts = plan.attempts;
    let mut attempt = 0u32;
    let fetched = retry_config(attempts)
        .run(|| {
            attempt += 1;
            let attempt = attempt;
            async move {
                let result = if size > plan.part_size {
                    fetch_in_parts(
                        client,
                        bucket,
                        key,
                        target,
                        plan.part_size,
                        attempts,
                        &plan.slots,
                    )
                    .await
                } else {
                    let _slot = plan.slots.take().await;
                    fetch_once(client, bucket, key, target, &plan.slots).await
                };
                if let Err(e) = &result
                    && e.is_retryable()
                {
                    tracing::warn!(bucket, key, attempt, error = %e, "fetch failed");
                }
                result
            }
        })
        .await;
    fetched.result
}

async fn fetch_once(
    client: &Client,
    bucket: &str,
    key: &str,
    target: &Path,
    slots: &Slots,
) -> CacheResult<ObjectEntry> {
    let uri = format!("s3://{bucket}/{key}");
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| CacheError::s3("GetObject", uri.clone(), e))?;
    let size = out.content_length().unwrap_or(0).max(0) as u64;
    let etag = normalize_etag(out.e_tag().unwrap_or_default());
    let remote_checksum = expected(&out);
    let body = out.body;

    let tmp = temp_path_for(target);
    let sink = {
        let (tmp, uri) = (tmp.clone(), uri.clone());
        let algorithm = remote_checksum.as_ref().map(|c| c.algorithm.clone());
        blocking(move || {
            let file = create_temp(&tmp, &uri)?;
            Ok::<_, CacheError>(Sink {
                file,
                local: Hasher::local(),
                remote: algorithm.as_deref().map(Hasher::new),
                written: 0,
                tmp,
                uri,
            })
        })
        .await?
    };

    let result = async {
        let (sink, _) = drain(body, sink, u64::MAX, &uri, &tmp, slots).await?;
        let (tmp2, target2, uri2) = (tmp.clone(), target.to_path_buf(), uri.clone());
        let remote2 = remote_checksum.clone();
        blocking(move || finish(sink, size, remote2, &tmp2, &target2, &uri2)).await
    }
    .await;
    let (crc32c, mtime_ns) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    tracing::debug!(uri = %uri, path = %target.display(), size, "fetched");
    Ok(ObjectEntry {
        size,
        etag,
        remote_checksum,
        crc32c,
        mtime_ns,
        fetched_at_ms: millis(SystemTime::now()),
    })
}

/// Checks size and checksum, then fsync, rename, directory fsync. Returns
/// the local checksum and the file's modification time.
fn finish(
    sink: Sink,
    size: u64,
    remote: Option<RemoteChecksum>,
    tmp: &Path,
    target: &Path,
    uri: &str,
) -> CacheResult<(String, u64)> {
    let crc32c = sink.local.finish();
    let check = remote.zip(sink.remote);
    let mtime_ns = publish(sink.file, sink.written, size, check, tmp, target, uri)?;
    Ok((crc32c, mtime_ns))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fs_retry::{Classify, RetryClass};
    use fs_schema::aws_error::AwsErrorKind;

    use super::*;
    use crate::cache::download::retry_config;
    use fs_schema::aws_error::AwsError;

    #[test]
    fn downloads_retry_with_capped_jittered_delays_and_no_deadline() {
        let c = retry_config(3);
        assert_eq!((c.max_retries, c.deadline), (2, None));
        assert_eq!(retry_config(1).max_retries, 0);
        assert_eq!(retry_config(0).max_retries, 0);
        assert!((1..20).all(|n| c.delay(n) <= Duration::from_secs(5)));
        assert_eq!(c.schedule.jitter, fs_retry::Jitter::Full);
    }

    #[test]
    fn throttled_and_transient_s3_errors_and_bad_bodies_are_retried() {
        let s3 = |kind| CacheError::S3 {
            uri: "s3://b/k".into(),
            source: Box::new(AwsError::new("GetObject", kind, "x")),
        };
        assert_eq!(
            s3(AwsErrorKind::Throttled).retry_class(),
            RetryClass::Throttled
        );
        assert_eq!(
            s3(AwsErrorKind::Transient).retry_class(),
            RetryClass::Transient
        );
        assert_eq!(
            s3(AwsErrorKind::AccessDenied).retry_class(),
            RetryClass::Permanent
        );
        assert_eq!(
            s3(AwsErrorKind::NotFound).retry_class(),
            RetryClass::Permanent
        );
        let bad = CacheError::Verification {
            uri: "s3://b/k".into(),
            path: "/tmp/x".into(),
            reason: "size".into(),
        };
        assert_eq!(bad.retry_class(), RetryClass::Transient);
        assert!(bad.is_retryable() && !s3(AwsErrorKind::Validation).is_retryable());
    }
}
