//! A read-optimised local cache of offline-store data in S3 (feature `s3`).
//!
//! Many training jobs on one machine read the same offline data. The cache
//! downloads each object at most once, then every later read is local:
//!
//! ```no_run
//! # async fn demo(client: aws_sdk_s3::Client) -> Result<(), fs_offline::cache::CacheError> {
//! use fs_offline::cache::{Cache, CacheOptions, SyncOptions};
//!
//! let cache = Cache::open("/var/cache/featurestore", CacheOptions::default())?;
//! let uri = "s3://bucket/prefix/123456789012/sagemaker/us-east-1/offline-store/customers-1700000000/data";
//! let (report, dataset) = cache.sync_and_open(&client, uri, &SyncOptions::new()).await?;
//! println!("fetched {} of {} objects", report.objects_fetched, report.objects_listed);
//! // `dataset.path()` is an ordinary offline-store directory (year=/month=/...):
//! // scan it like any local store while `dataset` is alive.
//! for file in dataset.files() {
//!     println!("{} ({} bytes)", file.path.display(), file.size);
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! `<dir>/<bucket>/<key>` mirrors each object, so
//! [`Cache::local_path`]`("s3://bucket/a/b")` is `<dir>/bucket/a/b` and holds
//! the prefix's objects as a plain directory tree. `<dir>/.fs-cache/` (a
//! name no bucket can have) holds the manifest (`manifest.json` and
//! `journal.jsonl`), the cache lock (`lock`) and one lock file per synced
//! prefix (`prefixes/<hash>.lock`).
//!
//! # Protocol
//!
//! - **Writers** (sync, verify, evict) hold the exclusive cache lock for
//!   their whole run. A process that finds it held waits; when it gets it,
//!   it reads the manifest and lists S3 again, so a sync that waited for
//!   another sync of the same prefix fetches nothing.
//! - **Files appear only whole**: an object is downloaded to
//!   `.<name>.<pid>-<n>.fs-partial` in its target directory, its size and
//!   checksum are checked, then fsync, rename onto the target, fsync of the
//!   directory. Only then is it recorded in the manifest's journal. A sync
//!   killed at any point leaves whole files, a manifest that may miss some
//!   of them (they are fetched again), and temporary files that the next
//!   writer removes.
//! - **Large objects in parts**: an object over [`SyncOptions::part_size`]
//!   (16 MiB by default) is fetched as ranged GETs of that size, each
//!   written at its offset in the same temporary file, every part asking
//!   for the ETag a `HeadObject` named (`If-Match`), so that an object
//!   replaced mid-download fails instead of mixing two versions. Each part
//!   is retried on its own. The whole file is then read once to check its
//!   checksum. Every GET of a sync, whole object or part, takes one of its
//!   [`SyncOptions::concurrency`] connection slots.
//! - **Readers** ([`Cache::open_for_read`]) take no cache lock: they read
//!   the manifest snapshot (always whole: it is replaced by rename) and hold
//!   a shared lock on the prefix's lock file while they read, which only
//!   eviction respects. A sync that replaces a changed object renames the new
//!   file over the old one: a reader with the old file open keeps reading
//!   the old bytes; one that opens it afterwards gets the new ones.
//! - **Deleted remotely**: an object a sync no longer finds in S3 (within
//!   the listed partitions) is deleted locally and named in
//!   [`SyncReport::deleted_remote`]; a reader still holding it open keeps
//!   its bytes, one that opens it later finds it gone.
//! - **Verification**: downloads are checked against the size and the
//!   object's S3 checksum (`x-amz-checksum-crc64nvme`, `crc32c`, `crc32`,
//!   `sha256`, `sha1` or `md5`, requested with `ChecksumMode::Enabled`), or
//!   else its ETag when that is the MD5 of the content (single-part uploads
//!   without SSE-KMS or SSE-C). Multipart objects without a full-object
//!   checksum are checked by size only. The manifest records a CRC32C of each
//!   file; a sync re-hashes any held file whose modification time changed
//!   and fetches again any that is missing, of the wrong size or modified;
//!   [`Cache::verify`] re-hashes everything.
//! - **Budget**: with [`CacheOptions::size_budget`], a sync first removes
//!   least-recently-used prefixes to make room for what it fetches (see
//!   [`EvictReport`]). A prefix's last access is the modification time of its
//!   lock file, set by each sync of it and each `open_for_read` (granularity:
//!   the synced prefix, not the file). Prefixes a reader holds open are
//!   skipped.
//!
//! - **Projected reads** ([`Cache::sync_projected`]): instead of whole
//!   objects, only the column chunks a dataset reads, fetched with ranged
//!   GETs after each object's footer and kept as Parquet copies of those
//!   columns under `<dir>/.fs-cache/projected/`, so that no chunk is
//!   fetched twice, across processes and restarts.
//!
//! All of this relies on `flock` and atomic `rename` within one local file
//! system; network file systems that lack them are not supported.

mod checksum;
mod download;
mod engine;
mod error;
mod evict;
mod fetch;
mod fsutil;
mod list;
mod lock;
mod manifest;
mod partition;
mod parts;
mod projected;
mod slots;
mod splice;
mod sync;
mod uri;
mod verify;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

pub use checksum::RemoteChecksum;
pub use engine::{CacheHold, CachedEngine};
pub use error::{CacheError, CacheResult};
pub use evict::EvictReport;
pub use manifest::{ObjectEntry, PrefixEntry};
pub use projected::{ProjectedFile, ProjectedPrefix, ProjectedReport};
pub use sync::{DEFAULT_PART_SIZE, ProgressFn, SyncOptions, SyncProgress, SyncReport};
pub use uri::S3Prefix;
pub use verify::{LocalProblem, ProblemKind, VerifyReport};

use manifest::{Journal, Manifest, ManifestFiles};

/// How a cache behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheOptions {
    /// At most this many bytes of objects; least-recently-used prefixes are
    /// evicted to stay under it. `None` (the default): no limit.
    pub size_budget: Option<u64>,
    /// Attempts per object on retryable failures (on top of the SDK's own
    /// request retries); default 3.
    pub fetch_attempts: u32,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            size_budget: None,
            fetch_attempts: 3,
        }
    }
}

impl CacheOptions {
    /// Keep at most `bytes` of objects.
    pub fn size_budget(mut self, bytes: u64) -> Self {
        self.size_budget = Some(bytes);
        self
    }

    /// Attempts per object (at least 1).
    pub fn fetch_attempts(mut self, n: u32) -> Self {
        self.fetch_attempts = n.max(1);
        self
    }
}

/// A cache directory. Cheap to clone; any number of processes may open the
/// same directory (see the module documentation for the protocol).
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    meta: PathBuf,
    files: ManifestFiles,
    options: CacheOptions,
}

/// A held file of a prefix opened for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachedFile {
    /// The object's key.
    pub key: String,
    /// The local file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// The object's ETag (without quotes) when it was fetched.
    pub etag: String,
    /// The S3 checksum the download was checked against (`None`: size only).
    pub checksum: Option<RemoteChecksum>,
}

/// A synced prefix open for reading: while it is alive no eviction removes
/// it. Its files are whole and verified when fetched.
#[derive(Debug)]
pub struct CachedPrefix {
    uri: String,
    synced: String,
    path: PathBuf,
    files: Vec<CachedFile>,
    entry: PrefixEntry,
    _lock: lock::LockGuard,
}

impl CachedPrefix {
    /// The prefix opened (`s3://bucket/prefix/`).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The synced prefix that covers it (itself or an ancestor).
    pub fn synced_prefix(&self) -> &str {
        &self.synced
    }

    /// The local directory mirroring the prefix.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The files held under the prefix, by key.
    pub fn files(&self) -> &[CachedFile] {
        &self.files
    }

    /// Their total size.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// When the covering prefix was last synced with changes, and its event-time
    /// range (`None`: whole prefix).
    pub fn sync_info(&self) -> &PrefixEntry {
        &self.entry
    }

    /// When the covering prefix was last synced with changes.
    pub fn synced_at(&self) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.entry.synced_at_ms)
    }
}

impl Cache {
    /// Opens (creating if needed) a cache directory.
    pub fn open(dir: impl AsRef<Path>, options: CacheOptions) -> CacheResult<Cache> {
        let dir = dir.as_ref();
        let root = std::path::absolute(dir).map_err(|e| CacheError::io("resolving", dir, e))?;
        let meta = root.join(".fs-cache");
        let prefixes = meta.join("prefixes");
        fs::create_dir_all(&prefixes)
            .map_err(|e| CacheError::io("creating directory", &prefixes, e))?;
        Ok(Cache {
            inner: Arc::new(Inner {
                files: ManifestFiles::new(&meta),
                root,
                meta,
                options,
            }),
        })
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The options it was opened with.
    pub fn options(&self) -> &CacheOptions {
        &self.inner.options
    }

    /// Where a prefix is mirrored: `<dir>/<bucket>/<prefix>`.
    ///
    /// ```
    /// # use fs_offline::cache::{Cache, CacheOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let cache = Cache::open(dir.path(), CacheOptions::default()).unwrap();
    /// let path = cache.local_path("s3://bucket/store/data/").unwrap();
    /// assert!(path.ends_with("bucket/store/data"));
    /// ```
    pub fn local_path(&self, s3_uri_prefix: &str) -> CacheResult<PathBuf> {
        Ok(self.local_path_of(&S3Prefix::parse(s3_uri_prefix)?))
    }

    fn local_path_of(&self, prefix: &S3Prefix) -> PathBuf {
        let mut path = self.inner.root.join(prefix.bucket());
        path.extend(prefix.key_prefix().split('/').filter(|s| !s.is_empty()));
        path
    }

    /// Brings the local copy of a prefix up to date (see [`SyncOptions`]
    /// and the module documentation). Needs a tokio runtime.
    pub async fn sync(
        &self,
        client: &aws_sdk_s3::Client,
        s3_uri_prefix: &str,
        options: &SyncOptions,
    ) -> CacheResult<SyncReport> {
        let prefix = S3Prefix::parse(s3_uri_prefix)?;
        Ok(sync::run(self, client, &prefix, options, false).await?.0)
    }

    /// [`sync`](Self::sync), then [`open_for_read`](Self::open_for_read)
    /// without letting any eviction in between.
    pub async fn sync_and_open(
        &self,
        client: &aws_sdk_s3::Client,
        s3_uri_prefix: &str,
        options: &SyncOptions,
    ) -> CacheResult<(SyncReport, CachedPrefix)> {
        let prefix = S3Prefix::parse(s3_uri_prefix)?;
        let (report, opened) = sync::run(self, client, &prefix, options, true).await?;
        let opened = opened.ok_or_else(|| CacheError::NotSynced {
            uri: prefix.to_string(),
            path: self.root().to_path_buf(),
        })?;
        Ok((report, opened))
    }

    /// Opens a synced prefix (or any prefix under one) for reading: records
    /// the access and keeps eviction away until the result is dropped.
    /// Fails with [`CacheError::NotSynced`] if no completed sync covers it.
    /// Blocks only while an eviction of the same prefix is running.
    pub fn open_for_read(&self, s3_uri_prefix: &str) -> CacheResult<CachedPrefix> {
        let prefix = S3Prefix::parse(s3_uri_prefix)?;
        let not_synced = || CacheError::NotSynced {
            uri: prefix.to_string(),
            path: self.root().to_path_buf(),
        };
        let snapshot = self.inner.files.load_snapshot()?;
        let (covering, _) = snapshot.covering_prefix(&prefix).ok_or_else(not_synced)?;
        let lock_path = lock::prefix_lock_path(&self.inner.meta, &covering.to_string());
        let guard = lock::shared(&lock_path, false)?.ok_or_else(not_synced)?;
        // Read again under the lock: an eviction may have finished meanwhile.
        let snapshot = self.inner.files.load_snapshot()?;
        if snapshot.covering_prefix(&prefix).map(|(p, _)| p) != Some(covering.clone()) {
            return Err(not_synced());
        }
        guard.touch()?;
        Ok(self.reader(&prefix, &covering, &snapshot, guard))
    }

    fn reader(
        &self,
        prefix: &S3Prefix,
        covering: &S3Prefix,
        manifest: &Manifest,
        guard: lock::LockGuard,
    ) -> CachedPrefix {
        let bucket_dir = self.inner.root.join(prefix.bucket());
        let files = manifest
            .objects_under(prefix)
            .map(|(id, e)| {
                let key = &id[prefix.bucket().len() + 1..];
                let mut path = bucket_dir.clone();
                path.extend(key.split('/'));
                CachedFile {
                    key: key.to_owned(),
                    path,
                    size: e.size,
                    etag: e.etag.clone(),
                    checksum: e.remote_checksum.clone(),
                }
            })
            .collect();
        let entry = manifest
            .prefixes
            .get(&covering.to_string())
            .cloned()
            .unwrap_or(PrefixEntry {
                synced_at_ms: 0,
                event_time_from_ms: None,
                event_time_to_ms: None,
            });
        CachedPrefix {
            uri: prefix.to_string(),
            synced: covering.to_string(),
            path: self.local_path_of(prefix),
            files,
            entry,
            _lock: guard,
        }
    }

    /// Re-checks the size and CRC32C of every held file. Files that fail are
    /// deleted and dropped from the manifest, so the next sync fetches them
    /// again. Takes the cache lock (waits for a running sync); blocking.
    pub fn verify(&self) -> CacheResult<VerifyReport> {
        verify::run(self)
    }

    /// Evicts least-recently-used prefixes until the cache is within its
    /// budget (nothing without one). Takes the cache lock; blocking.
    pub fn evict(&self) -> CacheResult<EvictReport> {
        let Some(budget) = self.inner.options.size_budget else {
            return Ok(EvictReport::default());
        };
        let _lock = lock::exclusive_blocking(&self.lock_path())?;
        let (mut manifest, mut journal, _) = self.begin_write()?;
        let need = manifest.total_bytes().saturating_sub(budget);
        let report = evict::make_room(
            &self.inner.root,
            &self.inner.meta,
            &mut manifest,
            &mut journal,
            need,
            None,
        )?;
        self.end_write(&manifest, &journal)?;
        Ok(report)
    }

    /// The bytes of objects held, per the manifest snapshot.
    pub fn held_bytes(&self) -> CacheResult<u64> {
        Ok(self.inner.files.load_snapshot()?.total_bytes())
    }

    /// The completed prefixes and when they were synced, per the snapshot.
    pub fn synced_prefixes(&self) -> CacheResult<Vec<(String, PrefixEntry)>> {
        Ok(self
            .inner
            .files
            .load_snapshot()?
            .prefixes
            .into_iter()
            .collect())
    }

    fn meta_dir(&self) -> &Path {
        &self.inner.meta
    }

    fn lock_path(&self) -> PathBuf {
        self.inner.meta.join("lock")
    }

    fn dirty_marker(&self) -> PathBuf {
        self.inner.meta.join("write-in-progress")
    }

    /// Under the cache lock: load the manifest, remove temporary files if
    /// the previous writer did not finish, and mark a write in progress.
    fn begin_write(&self) -> CacheResult<(Manifest, Journal, u64)> {
        let marker = self.dirty_marker();
        let stray = if marker.exists() {
            let n = fsutil::remove_temp_files(&self.inner.root)?;
            if n > 0 {
                tracing::info!(cache = %self.inner.root.display(), removed = n, "removed temporary files of an interrupted sync");
            }
            n
        } else {
            fs::write(&marker, b"").map_err(|e| CacheError::io("creating", &marker, e))?;
            0
        };
        let manifest = self.inner.files.load()?;
        let journal = self.inner.files.journal()?;
        Ok((manifest, journal, stray))
    }

    /// Under the cache lock: write the snapshot (if anything changed) and
    /// clear the marker.
    fn end_write(&self, manifest: &Manifest, journal: &Journal) -> CacheResult<()> {
        if journal.pending() {
            self.inner.files.compact(manifest)?;
        }
        let marker = self.dirty_marker();
        match fs::remove_file(&marker) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CacheError::io("removing", &marker, e)),
        }
    }
}
