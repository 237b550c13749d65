//! Dataset artifacts: a dataset built once and kept, read again at disk
//! speed by every later sub-model that asks for the same data.
//!
//! An [`ArtifactEngine`] wraps a [`DatasetEngine`](crate::DatasetEngine).
//! For each dataset it asks the engine for the exact inputs it reads
//! ([`DatasetEngine::pin`](crate::DatasetEngine::pin)) and hashes them with
//! the normalised spec into a [dataset id](crate::inputs::dataset_id). If
//! the [`ArtifactStore`] holds that id, the dataset is read from it and
//! nothing is recomputed; otherwise it is built over exactly those inputs
//! and kept. Changed data (a new flush, a new or changed S3 object, a
//! changed definition) gives a new id; the same spec on unchanged data
//! returns the same bytes.
//!
//! ```no_run
//! # async fn f(engine: std::sync::Arc<dyn fs_offline::DatasetEngine>, spec: fs_offline::DatasetSpec) -> fs_offline::Result<()> {
//! use fs_offline::artifact::{ArtifactEngine, ArtifactOptions, ArtifactStore};
//!
//! let store = ArtifactStore::new("/var/cache/featurestore/datasets", ArtifactOptions::default());
//! let datasets = ArtifactEngine::new(engine, store);
//! let artifact = datasets.artifact(&spec).await?.expect("a local or cached engine");
//! println!("dataset {} ({} rows, reused: {})", artifact.id(), artifact.info().rows, artifact.reused());
//! let batches = artifact.read_all()?; // one read; the arrays borrow from it
//! # Ok(()) }
//! ```
//!
//! # Layout and protocol
//!
//! - `<dir>/<id>/data.arrow` holds the rows as an Arrow IPC file
//!   (uncompressed, 64-byte aligned buffers: read without decoding), and
//!   `<dir>/<id>/info.json` what it is ([`ArtifactInfo`]: the normalised
//!   spec, the inputs, rows, bytes). `<dir>/.locks/<id>.lock` is the id's
//!   build lock.
//! - **One builder per id.** A process that finds no artifact takes the
//!   id's exclusive lock (`flock`), looks again (another process may have
//!   built it meanwhile: it then reads that one), and builds. Others
//!   asking for the same id wait on the lock, then read what it built. A
//!   build that fails leaves nothing, and the next one in line builds.
//! - **Publication is atomic**: the artifact is written in
//!   `<dir>/.build-<id>-<pid>-<n>/`, each file fsynced, then the directory
//!   is renamed to `<dir>/<id>` and `<dir>` fsynced. A killed build leaves
//!   only a `.build-` directory, which [`ArtifactStore::gc`] removes.
//! - **Readers** open `data.arrow` when they get the artifact; removing or
//!   evicting it afterwards unlinks the name, and the open file keeps its
//!   bytes until the reader drops it.
//! - **Eviction**: with [`ArtifactOptions::size_budget`], publishing an
//!   artifact removes least-recently-used ones (last use: the modification
//!   time of `info.json`, set by every read) until the store is within the
//!   budget; ids being built are skipped.
//!
//! Cost: an id costs the engine's listing and one `stat` per input file; a
//! reuse costs opening two files; a build costs the dataset plus one
//! sequential write of its Arrow bytes. All of this relies on `flock` and
//! atomic `rename` within one local file system.

mod build;
mod engine;
mod read;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use engine::ArtifactEngine;
pub use read::Artifact;

use crate::error::{Error, Result};
use crate::inputs::{ID_LEN, Input};

/// The rows of an artifact.
const DATA: &str = "data.arrow";
/// What an artifact is.
const INFO: &str = "info.json";
/// The directory of build locks.
const LOCKS: &str = ".locks";
/// Names of directories being built (or left by a killed build).
const BUILD_PREFIX: &str = ".build-";
/// Names of directories being removed.
const TRASH_PREFIX: &str = ".trash-";

/// How an [`ArtifactStore`] behaves.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ArtifactOptions {
    /// At most this many bytes of artifacts: publishing one evicts the
    /// least recently used until the store fits. `None` (the default): no
    /// limit.
    pub size_budget: Option<u64>,
    /// How the rows of new artifacts are stored; artifacts already kept
    /// are read as they were written, whatever this says.
    pub compression: ArtifactCompression,
}

impl ArtifactOptions {
    /// Keep at most `bytes` of artifacts.
    pub fn size_budget(mut self, bytes: u64) -> Self {
        self.size_budget = Some(bytes);
        self
    }

    /// Store the rows of new artifacts with `compression`.
    pub fn compression(mut self, compression: ArtifactCompression) -> Self {
        self.compression = compression;
        self
    }
}

/// How an artifact's Arrow IPC file stores its buffers. The dataset id does
/// not depend on it: the rows are the same either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ArtifactCompression {
    /// Uncompressed, 64-byte aligned: [`Artifact::read_all`] borrows the
    /// arrays from one read of the file, nothing decoded.
    #[default]
    None,
    /// LZ4-frame compressed buffers (the IPC format's own compression):
    /// fewer bytes to read, every buffer decompressed when read.
    Lz4,
}

/// What an artifact is: kept as `info.json` beside its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArtifactInfo {
    /// The dataset id.
    pub id: String,
    /// When it was built (ms since the epoch).
    pub created_at_ms: u64,
    /// How long the build took, in seconds.
    pub build_seconds: f64,
    /// Rows.
    pub rows: u64,
    /// Record batches.
    pub batches: u64,
    /// Size of the Arrow IPC file in bytes.
    pub bytes: u64,
    /// The output columns, in order.
    pub columns: Vec<String>,
    /// The normalised spec ([`normalized_spec`](crate::inputs::normalized_spec)).
    pub spec: serde_json::Value,
    /// The inputs it was built from.
    pub inputs: Vec<Input>,
    /// How its rows are stored (artifacts kept before this field existed
    /// are uncompressed).
    #[serde(default)]
    pub compression: ArtifactCompression,
    /// When it was last read or built (ms since the epoch); not stored,
    /// read from the file system.
    #[serde(skip)]
    pub last_used_ms: u64,
}

/// What [`ArtifactStore::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Artifacts evicted to fit the budget, least recently used first.
    pub evicted: Vec<String>,
    /// Bytes they held.
    pub evicted_bytes: u64,
    /// Directories of killed builds and removals, and lock files of ids
    /// that have no artifact, removed.
    pub stale_removed: u64,
    /// Bytes of artifacts left.
    pub bytes_left: u64,
}

/// A directory of dataset artifacts (see the [module docs](self)). Cheap to
/// clone; any number of processes may use the same directory.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    dir: PathBuf,
    options: ArtifactOptions,
}

impl ArtifactStore {
    /// The artifact directory `dir`, created when the first artifact is
    /// built (a store that only reads leaves no directory behind).
    pub fn new(dir: impl AsRef<Path>, options: ArtifactOptions) -> Self {
        let dir = dir.as_ref();
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        ArtifactStore { dir, options }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options.
    pub fn options(&self) -> &ArtifactOptions {
        &self.options
    }

    /// The artifact `id`, opened for reading (and its last use recorded);
    /// `None` if the store does not hold it.
    pub fn get(&self, id: &str) -> Result<Option<Artifact>> {
        check_id(id)?;
        Artifact::open(&self.dir.join(id), false)
    }

    /// The full id of the artifact whose id starts with `prefix` (at least
    /// 6 characters); an error if none or several do.
    pub fn resolve(&self, prefix: &str) -> Result<String> {
        if prefix.len() < 6 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidDataset(format!(
                "{prefix:?} is not a dataset id (give at least 6 of its {ID_LEN} hex digits)"
            )));
        }
        let mut found: Vec<String> = self
            .ids()?
            .into_iter()
            .filter(|id| id.starts_with(&prefix.to_ascii_lowercase()))
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::InvalidDataset(format!(
                "no dataset artifact {prefix} in {}",
                self.dir.display()
            ))),
            n => Err(Error::InvalidDataset(format!(
                "{prefix} names {n} dataset artifacts in {}; give more of the id",
                self.dir.display()
            ))),
        }
    }

    /// What the artifact `id` is, without recording a use; `None` if the
    /// store does not hold it.
    pub fn info(&self, id: &str) -> Result<Option<ArtifactInfo>> {
        check_id(id)?;
        read_info(&self.dir.join(id))
    }

    /// Every artifact held, most recently used first.
    pub fn list(&self) -> Result<Vec<ArtifactInfo>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            if let Some(info) = read_info(&self.dir.join(&id))? {
                out.push(info);
            }
        }
        out.sort_by(|a, b| b.last_used_ms.cmp(&a.last_used_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Removes the artifact `id`; `false` if the store does not hold it.
    /// Readers that have it open keep reading it. Waits while it is being
    /// built.
    pub fn remove(&self, id: &str) -> Result<bool> {
        check_id(id)?;
        let _lock = self.lock_blocking(id)?;
        self.remove_locked(id)
    }

    /// Removes what killed builds left, and lock files of ids without an
    /// artifact, then evicts least-recently-used artifacts until the store
    /// is within its budget (none without one).
    pub fn gc(&self) -> Result<GcReport> {
        let mut report = GcReport {
            stale_removed: self.remove_stale()?,
            ..GcReport::default()
        };
        self.evict(None, &mut report)?;
        report.bytes_left = self.list()?.iter().map(|i| i.bytes).sum();
        Ok(report)
    }

    /// The ids of the artifacts held (unordered).
    fn ids(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if !self.dir.is_dir() {
            return Ok(out);
        }
        for entry in fs::read_dir(&self.dir).map_err(io("listing", &self.dir))? {
            let entry = entry.map_err(io("listing", &self.dir))?;
            if let Some(name) = entry.file_name().to_str()
                && is_id(name)
            {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    }

    /// Removes `id` while holding its lock.
    fn remove_locked(&self, id: &str) -> Result<bool> {
        let dir = self.dir.join(id);
        let trash = self.dir.join(format!("{TRASH_PREFIX}{id}-{}", unique()));
        match fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io("removing", &dir)(e)),
        }
        fsync_dir(&self.dir)?;
        fs::remove_dir_all(&trash).map_err(io("removing", &trash))?;
        Ok(true)
    }

    /// Evicts least-recently-used artifacts (never `keep`, nor one being
    /// built) until the store is within its budget.
    fn evict(&self, keep: Option<&str>, report: &mut GcReport) -> Result<()> {
        let Some(budget) = self.options.size_budget else {
            return Ok(());
        };
        let mut held = self.list()?;
        let mut total: u64 = held.iter().map(|i| i.bytes).sum();
        // Least recently used last in `list`'s order: take from the end.
        while total > budget {
            let Some(info) = held.pop() else { break };
            if Some(info.id.as_str()) == keep {
                continue;
            }
            let Some(_lock) = self.try_lock(&info.id)? else {
                continue;
            };
            if self.remove_locked(&info.id)? {
                tracing::info!(id = %info.id, bytes = info.bytes, "evicted a dataset artifact");
                total -= info.bytes;
                report.evicted_bytes += info.bytes;
                report.evicted.push(info.id);
            }
        }
        Ok(())
    }

    /// Removes `.build-` and `.trash-` directories nobody is working on,
    /// and lock files of ids without an artifact.
    fn remove_stale(&self) -> Result<u64> {
        let mut removed = 0;
        if !self.dir.is_dir() {
            return Ok(removed);
        }
        for entry in fs::read_dir(&self.dir).map_err(io("listing", &self.dir))? {
            let entry = entry.map_err(io("listing", &self.dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some(rest) = name
                .strip_prefix(BUILD_PREFIX)
                .or_else(|| name.strip_prefix(TRASH_PREFIX))
            else {
                continue;
            };
            let id = rest.split('-').next().unwrap_or_default();
            // A build or removal in progress holds the id's lock.
            if is_id(id) && self.try_lock(id)?.is_some() {
                fs::remove_dir_all(entry.path()).map_err(io("removing", &entry.path()))?;
                removed += 1;
            }
        }
        let locks = self.dir.join(LOCKS);
        if !locks.is_dir() {
            return Ok(removed);
        }
        for entry in fs::read_dir(&locks).map_err(io("listing", &locks))? {
            let entry = entry.map_err(io("listing", &locks))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else {
                continue;
            };
            if self.dir.join(id).exists() {
                continue;
            }
            if let Some(lock) = self.try_lock(id)? {
                // Waiters that opened this file notice it is unlinked and
                // take a new one (see `lock_blocking`).
                fs::remove_file(entry.path()).map_err(io("removing", &entry.path()))?;
                drop(lock);
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn lock_path(&self, id: &str) -> PathBuf {
        self.dir.join(LOCKS).join(format!("{id}.lock"))
    }

    /// Waits for the exclusive build lock of `id`, blocking the thread.
    fn lock_blocking(&self, id: &str) -> Result<File> {
        let path = self.lock_path(id);
        loop {
            let file = open_lock(&path)?;
            file.lock().map_err(io("locking", &path))?;
            // `gc` may have removed the lock file while this waited: a lock
            // on an unlinked file excludes nobody.
            if still_linked(&file, &path) {
                return Ok(file);
            }
        }
    }

    /// The build lock of `id` if nobody holds it.
    fn try_lock(&self, id: &str) -> Result<Option<File>> {
        let path = self.lock_path(id);
        let file = open_lock(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io("locking", &path)(e)),
        }
    }
}

/// Opens (creating it and its directory if needed) the lock file `path`.
fn open_lock(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io("creating directory", dir))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io("opening lock file", path))
}

#[cfg(unix)]
fn still_linked(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_linked(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// The `info.json` of the artifact directory `dir`, with its last use;
/// `None` when there is no such artifact.
fn read_info(dir: &Path) -> Result<Option<ArtifactInfo>> {
    let path = dir.join(INFO);
    let (text, meta) = match fs::read(&path).and_then(|t| Ok((t, fs::metadata(&path)?))) {
        Ok(v) => v,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", &path)(e)),
    };
    let mut info: ArtifactInfo = serde_json::from_slice(&text).map_err(|e| Error::Input {
        path: path.clone(),
        source: Box::new(e),
    })?;
    info.last_used_ms = meta.modified().map(millis).unwrap_or(0);
    Ok(Some(info))
}

fn is_id(name: &str) -> bool {
    name.len() == ID_LEN && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_id(id: &str) -> Result<()> {
    if is_id(id) {
        Ok(())
    } else {
        Err(Error::InvalidDataset(format!(
            "{id:?} is not a dataset id ({ID_LEN} lowercase hex digits)"
        )))
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `<pid>-<n>`: unique among this machine's processes.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::LocalIo { what, path, source }
}
