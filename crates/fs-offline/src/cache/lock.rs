//! Advisory file locks (`flock` through std's `File::lock`): the cache-wide
//! writer lock and the per-prefix reader locks, whose modification time is
//! the prefix's last access.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::error::{CacheError, CacheResult};
use super::fsutil::blocking;

/// A held lock; dropping it closes the file, which releases the lock.
#[derive(Debug)]
pub(crate) struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    /// Sets the lock file's modification time to now (a prefix's last access).
    pub(crate) fn touch(&self) -> CacheResult<()> {
        self.file
            .set_modified(SystemTime::now())
            .map_err(|e| CacheError::io("recording the last access in", &self.path, e))
    }
}

fn open(path: &Path, create: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
}

/// Waits for the exclusive lock on `path` (created if missing) on the
/// blocking pool.
pub(crate) async fn exclusive(path: PathBuf) -> CacheResult<LockGuard> {
    blocking(move || {
        let file = open(&path, true).map_err(|e| CacheError::io("opening lock file", &path, e))?;
        file.lock()
            .map_err(|e| CacheError::io("locking", &path, e))?;
        Ok(LockGuard { file, path })
    })
    .await
}

/// Waits for the exclusive lock on `path` (created if missing), blocking
/// the calling thread.
pub(crate) fn exclusive_blocking(path: &Path) -> CacheResult<LockGuard> {
    let file = open(path, true).map_err(|e| CacheError::io("opening lock file", path, e))?;
    file.lock()
        .map_err(|e| CacheError::io("locking", path, e))?;
    Ok(LockGuard {
        file,
        path: path.to_path_buf(),
    })
}

/// Takes the exclusive lock on an existing `path` if nobody holds a lock
/// on it; `None` when someone does or the file does not exist.
pub(crate) fn try_exclusive(path: &Path) -> CacheResult<Option<LockGuard>> {
    let file = match open(path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CacheError::io("opening lock file", path, e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(LockGuard {
            file,
            path: path.to_path_buf(),
        })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(CacheError::io("locking", path, e)),
    }
}

/// Takes a shared lock on `path` (waiting while an exclusive one is held),
/// creating the file when `create`; `None` when it does not exist.
pub(crate) fn shared(path: &Path, create: bool) -> CacheResult<Option<LockGuard>> {
    loop {
        let file = match open(path, create) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io("opening lock file", path, e)),
        };
        file.lock_shared()
            .map_err(|e| CacheError::io("locking (shared)", path, e))?;
        // An eviction may have removed the file while this waited (and a
        // sync made a new one): a lock on the removed file protects nothing.
        match still_linked(&file, path) {
            Ok(true) => {
                return Ok(Some(LockGuard {
                    file,
                    path: path.to_path_buf(),
                }));
            }
            Ok(false) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if create {
                    continue;
                }
                return Ok(None);
            }
            Err(e) => return Err(CacheError::io("inspecting lock file", path, e)),
        }
    }
}

/// True when `path` still names the open `file`.
#[cfg(unix)]
fn still_linked(file: &File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (open, named) = (file.metadata()?, fs::metadata(path)?);
    Ok(open.dev() == named.dev() && open.ino() == named.ino())
}

#[cfg(not(unix))]
fn still_linked(_file: &File, path: &Path) -> std::io::Result<bool> {
    fs::metadata(path).map(|_| true)
}

/// The last access of a prefix: its lock file's modification time.
pub(crate) fn last_access(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The lock file of a prefix: `<meta>/prefixes/<FNV-1a of the URI>.lock`.
pub(crate) fn prefix_lock_path(meta_dir: &Path, uri: &str) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uri.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    meta_dir.join("prefixes").join(format!("{h:016x}.lock"))
}
