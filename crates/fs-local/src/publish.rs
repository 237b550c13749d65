//! The publish lock of an offline data directory
//! ([`fs_schema::layout::PUBLISH_LOCK`]): a flush holds it exclusively
//! while it renames its files into place, and readers list under it shared,
//! so they see each flush whole or not at all.

use std::fs::File;
use std::path::{Path, PathBuf};

use fs_schema::layout::PUBLISH_LOCK;

use crate::error::{Error, Result};

/// Opens (creating it if need be) the [`PUBLISH_LOCK`] of the
/// offline data directory `data_dir` and locks it exclusively; dropping
/// the file unlocks it.
pub(crate) fn lock_for_publishing(data_dir: &Path) -> Result<File> {
    let (path, file) = create_publish_lock(data_dir)?;
    file.lock().map_err(Error::io(&path))?;
    Ok(file)
}

/// Creates the offline data directory `data_dir` and its
/// [`PUBLISH_LOCK`] if they do not exist yet; returns the lock's path and
/// the lock file, open (not locked).
pub(crate) fn create_publish_lock(data_dir: &Path) -> Result<(PathBuf, File)> {
    std::fs::create_dir_all(data_dir).map_err(Error::io(data_dir))?;
    let path = data_dir.join(PUBLISH_LOCK);
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(Error::io(&path))?;
    Ok((path, file))
}
