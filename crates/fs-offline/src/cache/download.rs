//! What every download into the cache shares: the retry schedule, the
//! temporary file, and publication (checks, fsync, rename, directory
//! fsync), for whole objects ([`super::fetch`]) and objects in parts
//! ([`super::parts`]).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use fs_retry::RetryConfig;

use super::checksum::{Hasher, RemoteChecksum};
use super::error::{CacheError, CacheResult};
use super::fsutil::{blocking, fsync_dir, mtime_nanos};
use super::slots::Slots;

/// Bytes gathered from a body before one write to disk.
const WRITE_CHUNK: usize = 4 << 20;

/// Where a download's body goes: chunks of about 4 MiB, each written on
/// the blocking pool (the sink moves there and back).
pub(crate) trait BodySink: Send + 'static {
    /// Writes the next `buf` bytes of the body.
    fn write(&mut self, buf: &[u8]) -> CacheResult<()>;
}

/// A body's bytes going to their place in a file, from offset `at` on.
pub(crate) struct AtOffset {
    pub(crate) file: Arc<File>,
    /// Where the next bytes go.
    pub(crate) at: u64,
    pub(crate) tmp: PathBuf,
    pub(crate) uri: String,
}

impl BodySink for AtOffset {
    fn write(&mut self, buf: &[u8]) -> CacheResult<()> {
        self.file
            .write_all_at(buf, self.at)
            .map_err(|e| CacheError::io_object("writing", &self.tmp, &self.uri, e))?;
        self.at += buf.len() as u64;
        Ok(())
    }
}

/// Reads `body` (of `uri`, going to the temporary file `tmp`) to its end
/// into `sink`, counting what arrives into `slots`. Fails with
/// [`CacheError::Body`] when the body breaks off, and with a verification
/// error when it brings more than `max` bytes. Returns the sink and the
/// bytes received.
pub(crate) async fn drain<S: BodySink>(
    mut body: ByteStream,
    mut sink: S,
    max: u64,
    uri: &str,
    tmp: &Path,
    slots: &Slots,
) -> CacheResult<(S, u64)> {
    let mut buf = Vec::with_capacity(WRITE_CHUNK);
    let mut received = 0u64;
    loop {
        let chunk = body.try_next().await.map_err(|e| CacheError::Body {
            uri: uri.to_owned(),
            path: tmp.to_path_buf(),
            received,
            source: Box::new(e),
        })?;
        let last = chunk.is_none();
        if let Some(chunk) = chunk {
            received += chunk.len() as u64;
            slots.received(chunk.len());
            if received > max {
                return Err(CacheError::Verification {
                    uri: uri.to_owned(),
                    path: tmp.to_path_buf(),
                    reason: format!("the answer brought more than the {max} bytes asked"),
                });
            }
            buf.extend_from_slice(&chunk);
        }
        if buf.len() >= WRITE_CHUNK || (last && !buf.is_empty()) {
            let (s, mut b) = blocking(move || {
                sink.write(&buf)?;
                Ok::<_, CacheError>((sink, buf))
            })
            .await?;
            b.clear();
            (sink, buf) = (s, b);
        }
        if last {
            return Ok((sink, received));
        }
    }
}

/// How downloads are retried: `attempts - 1` retries after fs-retry's
/// default delays (capped at 50 ms doubling to 5 s, full jitter, so that
/// the workers of a sync throttled together spread out), and no total
/// deadline, since downloading a large object may itself take minutes.
pub(crate) fn retry_config(attempts: u32) -> RetryConfig {
    RetryConfig::default()
        .max_retries(attempts.saturating_sub(1))
        .deadline(None)
}

/// Creates the temporary file `tmp` of a download of `uri` (open to write
/// and read back), and its directory if need be; fails if the file exists.
pub(crate) fn create_temp(tmp: &Path, uri: &str) -> CacheResult<File> {
    let dir = tmp.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)
        .map_err(|e| CacheError::io_object("creating directory", dir, uri, e))?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| CacheError::io_object("creating", tmp, uri, e))
}

/// Publishes the downloaded `file` at `tmp` as `target`: checks that it
/// has the object's `size` (`written` bytes were received) and, with
/// `check`, that the hasher fed its bytes gives S3's checksum; then fsync,
/// rename onto `target`, directory fsync. Returns the file's modification
/// time. On an error nothing is renamed.
pub(crate) fn publish(
    file: File,
    written: u64,
    size: u64,
    check: Option<(RemoteChecksum, Hasher)>,
    tmp: &Path,
    target: &Path,
    uri: &str,
) -> CacheResult<u64> {
    let mismatch = |reason: String| CacheError::Verification {
        uri: uri.to_owned(),
        path: tmp.to_path_buf(),
        reason,
    };
    if written != size {
        return Err(mismatch(format!(
            "received {written} bytes, the object has {size}"
        )));
    }
    if let Some((expected, hasher)) = check {
        let actual = hasher.finish();
        if actual != expected.value {
            return Err(mismatch(format!(
                "{} of the received bytes is {actual}, S3 says {}",
                expected.algorithm, expected.value
            )));
        }
    }
    file.sync_all()
        .map_err(|e| CacheError::io_object("syncing", tmp, uri, e))?;
    let meta = file
        .metadata()
        .map_err(|e| CacheError::io_object("inspecting", tmp, uri, e))?;
    drop(file);
    fs::rename(tmp, target)
        .map_err(|e| CacheError::io_object("renaming into place", target, uri, e))?;
    fsync_dir(target.parent().unwrap_or(Path::new(".")))?;
    Ok(mtime_nanos(&meta))
}
