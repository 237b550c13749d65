//! What every download into the cache shares: the retry schedule, the
//! temporary file, and publication (checks, fsync, rename, directory
//! fsync), for whole objects ([`super::fetch`]) and objects in parts
//! ([`super::parts`]).

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use fs_retry::RetryConfig;

use super::checksum::{Hasher, RemoteChecksum};
use super::error::{CacheError, CacheResult};
use super::fsutil::{fsync_dir, mtime_nanos};

/// How downloads are retried: `attempts - 1` retries after fs-retry's
/// default delays (capped at 50 ms doubling to 5 s, full jitter, so that
/// the workers of a sync throttled together spread out), and no total
/// deadline, since downloading a large object may itself take minutes.
pub(crate) fn retry_config(attempts: u32) -> RetryConfig {
    RetryConfig::default()
        .max_retries(attempts.saturating_sub(1))
        .deadline(None)
}

/// Creates the temporary file `tmp` of a download of `uri`, and its
/// directory if need be; fails if the file exists.
pub(crate) fn create_temp(tmp: &Path, uri: &str) -> CacheResult<File> {
    let dir = tmp.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)
        .map_err(|e| CacheError::io_object("creating directory", dir, uri, e))?;
    OpenOptions::new()
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
