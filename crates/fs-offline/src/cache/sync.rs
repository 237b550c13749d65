//! `Cache::sync`: list, compare with the manifest, make room, fetch what is
//! new, changed or damaged, drop what S3 no longer has, record the prefix.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::Client;
use fs_schema::EventTime;
use futures::StreamExt;

use super::checksum::hash_file;
use super::error::{CacheError, CacheResult};
use super::evict::{self, EvictReport};
use super::fetch::{Plan, fetch};
use super::fsutil::{blocking, millis, mtime_nanos};
use super::list::{Listing, RemoteObject, list};
use super::lock;
use super::manifest::{Journal, Manifest, ObjectEntry, Op, PrefixEntry};
use super::partition::TimeRange;
use super::slots::{Slots, Tuner};
use super::uri::{S3Prefix, check_files_are_not_prefixes, relative_path, split_id};
use super::{Cache, CachedPrefix};

/// The default [`SyncOptions::part_size`]: 16 MiB, a size at which one
/// ranged GET's first-byte latency is a small share of its transfer.
pub const DEFAULT_PART_SIZE: u64 = 16 << 20;

/// A progress callback: called after each object lands.
pub type ProgressFn = Arc<dyn Fn(&SyncProgress) + Send + Sync>;

/// How far a sync is, given to the progress callback.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncProgress {
    /// The key that just landed.
    pub key: String,
    /// Objects fetched so far.
    pub objects_done: u64,
    /// Objects this sync fetches.
    pub objects_total: u64,
    /// Bytes fetched so far.
    pub bytes_done: u64,
    /// Bytes this sync fetches.
    pub bytes_total: u64,
    /// Time since the first fetch began.
    pub elapsed: Duration,
}

impl SyncProgress {
    /// Bytes fetched per second so far (0 before any time has passed).
    pub fn bytes_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes_done as f64 / secs
        } else {
            0.0
        }
    }

    /// The time left at the rate so far: `None` until a byte has landed.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.bytes_per_sec();
        (rate > 0.0).then(|| {
            Duration::from_secs_f64(self.bytes_total.saturating_sub(self.bytes_done) as f64 / rate)
        })
    }
}

/// What a sync does.
#[derive(Clone)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Only Glue (`year=/month=/day=/hour=`) or Iceberg (`*_trunc=`)
    /// partitions holding event times at or after this.
    pub event_time_from: Option<EventTime>,
    /// Only partitions holding event times at or before this.
    pub event_time_to: Option<EventTime>,
    /// GET requests (whole objects or parts) in flight at first, and
    /// partitions listed at once; default 16.
    pub concurrency: usize,
    /// The most GET requests in flight: while every connection is busy,
    /// the sync adds half as many again after each quarter second that
    /// the last addition made faster by 10% or more, and stops adding at
    /// the first that did not, or here; default 64. At or below
    /// `concurrency`, the number stays fixed.
    pub max_concurrency: usize,
    /// Objects over this many bytes are fetched in ranged parts of this
    /// size, several at once, so that a few large objects still use every
    /// connection; default [`DEFAULT_PART_SIZE`].
    pub part_size: u64,
    /// Called after each object lands.
    pub progress: Option<ProgressFn>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            event_time_from: None,
            event_time_to: None,
            concurrency: 16,
            max_concurrency: 64,
            part_size: DEFAULT_PART_SIZE,
            progress: None,
        }
    }
}

impl fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncOptions")
            .field("event_time_from", &self.event_time_from)
            .field("event_time_to", &self.event_time_to)
            .field("concurrency", &self.concurrency)
            .field("max_concurrency", &self.max_concurrency)
            .field("part_size", &self.part_size)
            .field("progress", &self.progress.as_ref().map(|_| "Fn"))
            .finish()
    }
}

impl SyncOptions {
    /// Defaults: the whole prefix, 16 GETs at once growing up to 64 while
    /// that pays, parts of 16 MiB, no callback.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only partitions overlapping `[from, to]` (either end open).
    pub fn event_time_range(mut self, from: Option<EventTime>, to: Option<EventTime>) -> Self {
        self.event_time_from = from;
        self.event_time_to = to;
        self
    }

    /// GETs in flight to begin with (at least 1); the sync adds more, up
    /// to [`SyncOptions::max_concurrency`], while they bring more bytes
    /// per second.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// At most `n` GETs in flight once tuned; `n` at or below
    /// [`SyncOptions::concurrency`] keeps that number fixed.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// Fetch objects over `bytes` in ranged parts of `bytes` (at least 1).
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    /// Calls `f` after each object lands.
    pub fn on_progress(mut self, f: impl Fn(&SyncProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    pub(crate) fn range(&self) -> Option<TimeRange> {
        (self.event_time_from.is_some() || self.event_time_to.is_some()).then(|| TimeRange {
            from_ms: self.event_time_from.map(|t| t.as_millis()),
            to_ms: self.event_time_to.map(|t| t.as_millis()),
        })
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SyncReport {
    /// The prefix (`s3://bucket/prefix/`).
    pub uri: String,
    /// Where it is mirrored ([`Cache::local_path`]).
    pub local_path: PathBuf,
    /// Objects S3 listed (in the selected partitions).
    pub objects_listed: u64,
    /// Their bytes.
    pub bytes_listed: u64,
    /// Objects downloaded.
    pub objects_fetched: u64,
    /// Bytes downloaded.
    pub bytes_fetched: u64,
    /// Objects already held and unchanged: not downloaded.
    pub objects_skipped: u64,
    /// Of the downloads, objects that were held but missing, truncated or
    /// modified locally.
    pub objects_repaired: u64,
    /// Keys held that S3 no longer has: their local files were deleted.
    pub deleted_remote: Vec<String>,
    /// What the size budget evicted to make room.
    pub evicted: EvictReport,
    /// Temporary files of a killed process that were removed.
    pub stray_temp_files_removed: u64,
    /// GETs the sync allowed in flight at the end: `concurrency`, or more
    /// when the sync found that more connections downloaded faster.
    pub connections: usize,
    /// Time spent waiting for another process's sync (or verify) to finish.
    pub lock_wait: Duration,
    /// Total time, waiting included.
    pub duration: Duration,
}

/// Syncs `prefix` into `cache` under the cache's write lock, step by step
/// (each step is a method of [`Syncing`]); with `open`, also returns a reader
/// of the prefix, guarded before the lock is released.
pub(crate) async fn run(
    cache: &Cache,
    client: &Client,
    prefix: &S3Prefix,
    options: &SyncOptions,
    open: bool,
) -> CacheResult<(SyncReport, Option<CachedPrefix>)> {
    let started = Instant::now();
    let _lock = lock::exclusive(cache.lock_path()).await?;
    let mut sync = Syncing::begin(cache, prefix, started.elapsed()).await?;
    let listing = sync.list(client, options).await?;
    let (wanted, repaired) = sync.compare(&listing).await?;
    sync.remove_gone(&listing)?;
    let incoming = sync.make_room(&wanted)?;
    let fetched = sync
        .fetch(client, options, wanted, &repaired, incoming)
        .await?;
    if fetched.failures.is_empty() {
        sync.record_prefix(options)?;
    }
    let (mut report, opened) = sync.end(fetched.failures.is_empty(), open).await?;
    report.duration = started.elapsed();
    if let Some(first) = fetched.failures.into_iter().next() {
        return Err(CacheError::Incomplete {
            uri: report.uri,
            failed: fetched.total - fetched.done,
            wanted: fetched.total,
            first: Box::new(first),
        });
    }
    tracing::info!(
        prefix = %report.uri,
        listed = report.objects_listed,
        fetched = report.objects_fetched,
        bytes = report.bytes_fetched,
        skipped = report.objects_skipped,
        deleted_remote = report.deleted_remote.len(),
        ms = report.duration.as_millis() as u64,
        "sync done"
    );
    Ok((report, opened))
}

/// One sync in progress, under the cache's write lock: the manifest as it
/// is being changed, its journal, and the report so far.
struct Syncing<'a> {
    cache: &'a Cache,
    prefix: &'a S3Prefix,
    root: PathBuf,
    manifest: Manifest,
    journal: Journal,
    report: SyncReport,
}

/// What the fetch step did.
struct Fetched {
    total: usize,
    done: usize,
    failures: Vec<CacheError>,
}

impl<'a> Syncing<'a> {
    /// Opens the manifest for writing (removing a killed sync's temporary
    /// files) and starts the report.
    async fn begin(
        cache: &'a Cache,
        prefix: &'a S3Prefix,
        lock_wait: Duration,
    ) -> CacheResult<Self> {
        let (manifest, journal, stray) = {
            let c = cache.clone();
            blocking(move || c.begin_write()).await?
        };
        let root = cache.root().to_path_buf();
        let uri = prefix.to_string();
        tracing::info!(prefix = %uri, cache = %root.display(), waited_ms = lock_wait.as_millis() as u64, "sync starting");
        Ok(Syncing {
            cache,
            prefix,
            report: SyncReport {
                uri,
                local_path: cache.local_path_of(prefix),
                stray_temp_files_removed: stray,
                lock_wait,
                ..SyncReport::default()
            },
            root,
            manifest,
            journal,
        })
    }

    /// Lists the prefix (the selected partitions), and refuses, before
    /// anything is written, a listing over the budget or keys that cannot
    /// be mirrored side by side: those listed, and those held outside the
    /// part listed (an event-time range lists part of the prefix).
    async fn list(&mut self, client: &Client, options: &SyncOptions) -> CacheResult<Listing> {
        let prefix = self.prefix;
        let listing = list(client, prefix, options.range(), options.concurrency).await?;
        self.report.objects_listed = listing.objects.len() as u64;
        self.report.bytes_listed = listing.objects.iter().map(|o| o.size).sum();
        let budget = self.cache.options().size_budget;
        if let Some(budget) = budget.filter(|b| self.report.bytes_listed > *b) {
            return Err(CacheError::OverBudget {
                uri: self.report.uri.clone(),
                path: self.root.clone(),
                needed: self.report.bytes_listed,
                budget,
            });
        }
        let held_elsewhere = self.manifest.objects.keys().filter_map(|id| {
            let (bucket, key) = split_id(id);
            (bucket == prefix.bucket() && !listing.scope.contains(key)).then_some(key)
        });
        check_files_are_not_prefixes(
            prefix.bucket(),
            listing
                .objects
                .iter()
                .map(|o| o.key.as_str())
                .chain(held_elsewhere),
        )?;
        Ok(listing)
    }

    /// Compares the listing with what is held: the objects to fetch (new,
    /// changed, or held but damaged), and the keys of the damaged ones.
    /// Held files whose modification time changed are hashed; the same
    /// bytes are recorded with the new time.
    async fn compare(
        &mut self,
        listing: &Listing,
    ) -> CacheResult<(Vec<(RemoteObject, PathBuf)>, HashSet<String>)> {
        let prefix = self.prefix;
        let mut wanted: Vec<(RemoteObject, PathBuf)> = Vec::new();
        let mut held: Vec<(String, PathBuf, ObjectEntry)> = Vec::new();
        for object in &listing.objects {
            let path = self.root.join(relative_path(prefix.bucket(), &object.key)?);
            let id = prefix.object_id(&object.key);
            match self.manifest.objects.get(&id) {
                Some(e) if e.size == object.size && e.etag == object.etag => {
                    held.push((id, path, e.clone()));
                }
                _ => wanted.push((object.clone(), path)),
            }
        }
        let checked = blocking(move || check_held(held)).await;
        let mut repaired = HashSet::new();
        for outcome in checked {
            match outcome {
                Held::Ok => self.report.objects_skipped += 1,
                Held::Touched(id, entry) => {
                    self.report.objects_skipped += 1;
                    self.apply(Op::Put { id, entry })?;
                }
                Held::Damaged(id, path, why) => {
                    tracing::warn!(object = %id, path = %path.display(), "{why}; fetching again");
                    let key = id[prefix.bucket().len() + 1..].to_owned();
                    let object = listing.objects.iter().find(|o| o.key == key).cloned();
                    if let Some(object) = object {
                        repaired.insert(key);
                        wanted.push((object, path));
                    }
                }
            }
        }
        Ok((wanted, repaired))
    }

    /// Removes the held objects S3 no longer has, in the part listed.
    fn remove_gone(&mut self, listing: &Listing) -> CacheResult<()> {
        let prefix = self.prefix;
        let listed: HashSet<&str> = listing.objects.iter().map(|o| o.key.as_str()).collect();
        let gone: Vec<String> = self
            .manifest
            .objects_under(prefix)
            .map(|(id, _)| id[prefix.bucket().len() + 1..].to_owned())
            .filter(|key| listing.scope.contains(key) && !listed.contains(key.as_str()))
            .collect();
        for key in gone {
            tracing::info!(object = %format!("s3://{}/{key}", prefix.bucket()), "deleted in S3: removing the local copy");
            let id = prefix.object_id(&key);
            evict::remove_object(&self.root, &mut self.manifest, &mut self.journal, &id)?;
            self.report.deleted_remote.push(key);
        }
        Ok(())
    }

    /// Evicts what the budget needs for `wanted` to fit (least recently
    /// used prefixes first, never one in use); returns the bytes incoming.
    fn make_room(&mut self, wanted: &[(RemoteObject, PathBuf)]) -> CacheResult<u64> {
        let incoming: u64 = wanted.iter().map(|(o, _)| o.size).sum();
        let Some(budget) = self.cache.options().size_budget else {
            return Ok(incoming);
        };
        let replaced: u64 = wanted
            .iter()
            .filter_map(|(o, _)| {
                let id = self.prefix.object_id(&o.key);
                self.manifest.objects.get(&id).map(|e| e.size)
            })
            .sum();
        let projected = (self.manifest.total_bytes() - replaced) + incoming;
        let need = projected.saturating_sub(budget);
        self.report.evicted = evict::make_room(
            &self.root,
            self.cache.meta_dir(),
            &mut self.manifest,
            &mut self.journal,
            need,
            Some(self.prefix),
        )?;
        if self.report.evicted.bytes < need {
            tracing::warn!(
                budget,
                over = need - self.report.evicted.bytes,
                busy = ?self.report.evicted.busy,
                "the cache stays over its budget: the prefixes that could go are in use"
            );
        }
        Ok(incoming)
    }

    /// Fetches `wanted`, `options.concurrency` GETs at a time at first
    /// and more while that pays ([`Tuner`]), recording each object as it
    /// lands and reporting progress; failures are collected, not returned,
    /// so that what landed is kept.
    async fn fetch(
        &mut self,
        client: &Client,
        options: &SyncOptions,
        wanted: Vec<(RemoteObject, PathBuf)>,
        repaired: &HashSet<String>,
        incoming: u64,
    ) -> CacheResult<Fetched> {
        let prefix = self.prefix;
        let total = wanted.len();
        let plan = Plan {
            part_size: options.part_size.max(1),
            slots: Slots::new(options.concurrency),
            attempts: self.cache.options().fetch_attempts.max(1),
        };
        let plan = &plan;
        let started = Instant::now();
        let mut done = 0;
        let mut failures = Vec::new();
        // As many objects under way as there may be slots: each waits for
        // a slot before its first request.
        let objects = options.max_concurrency.max(options.concurrency).max(1);
        let mut fetches =
            futures::stream::iter(wanted.into_iter().map(|(object, path)| async move {
                let r = fetch(
                    client,
                    prefix.bucket(),
                    &object.key,
                    object.size,
                    &path,
                    plan,
                )
                .await;
                (object, r)
            }))
            .buffer_unordered(objects);
        {
            let work = async {
                while let Some((object, result)) = fetches.next().await {
                    let entry = match result {
                        Ok(entry) => entry,
                        Err(e) => {
                            tracing::warn!(error = %e, "fetch failed");
                            failures.push(e);
                            continue;
                        }
                    };
                    done += 1;
                    self.report.objects_fetched += 1;
                    self.report.bytes_fetched += entry.size;
                    if repaired.contains(&object.key) {
                        self.report.objects_repaired += 1;
                    }
                    let id = prefix.object_id(&object.key);
                    self.apply(Op::Put { id, entry })?;
                    if let Some(progress) = &options.progress {
                        progress(&SyncProgress {
                            key: object.key,
                            objects_done: done as u64,
                            objects_total: total as u64,
                            bytes_done: self.report.bytes_fetched,
                            bytes_total: incoming,
                            elapsed: started.elapsed(),
                        });
                    }
                }
                Ok::<_, CacheError>(())
            };
            let tune = async {
                if options.max_concurrency > options.concurrency {
                    plan.slots.tune(Tuner::new(options.max_concurrency)).await;
                }
            };
            let (work, tune) = (std::pin::pin!(work), std::pin::pin!(tune));
            // The tuner runs beside the downloads until they end (or it settles).
            match futures::future::select(work, tune).await {
                futures::future::Either::Left((r, _)) => r?,
                futures::future::Either::Right(((), work)) => work.await?,
            }
        }
        self.report.connections = plan.slots.size();
        Ok(Fetched {
            total,
            done,
            failures,
        })
    }

    /// Records the prefix as synced (with the event-time range synced),
    /// unless nothing changed: a sync that changed nothing writes nothing
    /// (no snapshot, no fsync).
    fn record_prefix(&mut self, options: &SyncOptions) -> CacheResult<()> {
        let range_ms = (
            options.event_time_from.map(|t| t.as_millis()),
            options.event_time_to.map(|t| t.as_millis()),
        );
        let uri = &self.report.uri;
        let recorded = self
            .manifest
            .prefixes
            .get(uri)
            .is_some_and(|e| (e.event_time_from_ms, e.event_time_to_ms) == range_ms);
        if !self.journal.pending() && recorded {
            return Ok(());
        }
        self.apply(Op::Prefix {
            uri: uri.clone(),
            entry: PrefixEntry {
                synced_at_ms: millis(SystemTime::now()),
                event_time_from_ms: range_ms.0,
                event_time_to_ms: range_ms.1,
            },
        })
    }

    /// Writes the manifest out. When every fetch succeeded (`ok`), marks
    /// the prefix used and, with `open`, returns a reader of it; its guard
    /// is taken before the cache lock is released, so that no eviction can
    /// come between this sync and its reader.
    async fn end(self, ok: bool, open: bool) -> CacheResult<(SyncReport, Option<CachedPrefix>)> {
        let c = self.cache.clone();
        let p = self.prefix.clone();
        let (manifest, journal) = (self.manifest, self.journal);
        let opened = blocking(move || -> CacheResult<Option<CachedPrefix>> {
            c.end_write(&manifest, &journal)?;
            if !ok {
                return Ok(None);
            }
            let guard = lock::shared(&lock::prefix_lock_path(c.meta_dir(), &p.to_string()), true)?
                .expect("created");
            guard.touch()?;
            Ok(open.then(|| c.reader(&p, &p, &manifest, guard)))
        })
        .await?;
        Ok((self.report, opened))
    }

    /// Journals `op` and applies it to the manifest.
    fn apply(&mut self, op: Op) -> CacheResult<()> {
        self.journal.append(&op)?;
        self.manifest.apply(op);
        Ok(())
    }
}

enum Held {
    Ok,
    /// Same content, new modification time (re-checked by checksum).
    Touched(String, ObjectEntry),
    Damaged(String, PathBuf, String),
}

/// Stats each held file; one whose modification time changed is hashed.
fn check_held(held: Vec<(String, PathBuf, ObjectEntry)>) -> Vec<Held> {
    held.into_iter()
        .map(|(id, path, entry)| match check_one(&path, &entry) {
            Ok(None) => Held::Ok,
            Ok(Some(mtime_ns)) => Held::Touched(id, ObjectEntry { mtime_ns, ..entry }),
            Err(why) => Held::Damaged(id, path, why),
        })
        .collect()
}

/// `Ok(None)`: as recorded; `Ok(Some(mtime))`: same bytes, new mtime;
/// `Err(why)`: missing or different.
fn check_one(path: &Path, entry: &ObjectEntry) -> Result<Option<u64>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("the local file is unreadable ({e})"))?;
    if meta.len() != entry.size {
        return Err(format!(
            "the local file has {} bytes, not {}",
            meta.len(),
            entry.size
        ));
    }
    let mtime = mtime_nanos(&meta);
    if mtime == entry.mtime_ns {
        return Ok(None);
    }
    let (_, crc) = hash_file(path).map_err(|e| format!("the local file is unreadable ({e})"))?;
    if crc == entry.crc32c {
        Ok(Some(mtime))
    } else {
        Err(format!(
            "the local file was modified (CRC32C {crc}, expected {})",
            entry.crc32c
        ))
    }
}
