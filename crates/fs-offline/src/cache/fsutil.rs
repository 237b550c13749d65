//! File-system helpers: durable atomic replacement, directory fsync,
//! temporary-file names and the cleaning of temporary files left by a
//! killed process.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{CacheError, CacheResult};
use super::uri::TEMP_SUFFIX;

/// Runs blocking file-system work on tokio's blocking pool; a panic in it
/// is resumed in the caller.
pub(crate) async fn blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A fresh temporary path next to `target`: `.<name>.<pid>-<n>.fs-partial`
/// in the same directory, so that a rename onto `target` is atomic.
pub(crate) fn temp_path_for(target: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{}-{n}{TEMP_SUFFIX}", std::process::id()))
}

/// Makes a directory's entries (a rename into it) durable.
pub(crate) fn fsync_dir(dir: &Path) -> CacheResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CacheError::io("syncing directory", dir, e))
}

/// Writes `bytes` to `target` atomically and durably: a temporary file in
/// the same directory, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(target: &Path, bytes: &[u8]) -> CacheResult<()> {
    let tmp = temp_path_for(target);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| CacheError::io("creating", &tmp, e))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| CacheError::io("writing", &tmp, e))?;
        fs::rename(&tmp, target).map_err(|e| CacheError::io("renaming into place", target, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(target.parent().unwrap_or(Path::new(".")))
}

/// Calls `f` with the path and name of every file under `root` (none
/// when `root` does not exist), depth first.
pub(crate) fn for_each_file(
    root: &Path,
    mut f: impl FnMut(&Path, &str) -> CacheResult<()>,
) -> CacheResult<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CacheError::io("listing", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| CacheError::io("listing", &dir, e))?;
            let path = entry.path();
            let ty = entry
                .file_type()
                .map_err(|e| CacheError::io("inspecting", &path, e))?;
            if ty.is_dir() {
                stack.push(path);
            } else {
                f(&path, &entry.file_name().to_string_lossy())?;
            }
        }
    }
    Ok(())
}

/// Removes every temporary file (`*.fs-partial`) under `root`, which a
/// killed process may have left; returns how many were removed.
pub(crate) fn remove_temp_files(root: &Path) -> CacheResult<u64> {
    let mut removed = 0;
    for_each_file(root, |path, name| {
        if name.ends_with(TEMP_SUFFIX) {
            match fs::remove_file(path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CacheError::io("removing temporary file", path, e)),
            }
        }
        Ok(())
    })?;
    Ok(removed)
}

/// Removes `path`'s now-empty parent directories up to (not including) `stop`.
pub(crate) fn remove_empty_parents(path: &Path, stop: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == stop || !d.starts_with(stop) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Milliseconds since the epoch of a time (0 before the epoch).
pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Nanoseconds since the epoch of a file's modification time.
pub(crate) fn mtime_nanos(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
