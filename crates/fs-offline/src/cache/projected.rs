//! Projected reads straight from S3: only the column chunks a dataset
//! needs, kept so that no chunk is fetched twice.
//!
//! A training job on a fresh instance that needs 3 of a group's 20
//! features should not download the other 17. [`Cache::sync_projected`]
//! lists the prefix (pruned to the event-time range, as a sync is), then
//! for each object:
//!
//! 1. reads its footer: the last 64 KiB in one ranged GET (a second GET
//!    when the footer is longer), kept next to the copy as
//!    `.<name>.fs-footer`, so a later call reads it locally;
//! 2. works out the byte ranges of the wanted columns' chunks in every row
//!    group, leaves out those its projected copy already holds, merges
//!    adjacent chunks, and fetches the rest with ranged GETs that ask for
//!    the listed ETag (`If-Match`), up to [`SyncOptions::concurrency`] at
//!    once across all objects;
//! 3. splices the held and the new chunks into a new projected copy (an
//!    ordinary Parquet file of those columns, chunk bytes untouched; see
//!    `splice`) and renames it over the old one.
//!
//! The copies live under `<dir>/.fs-cache/projected/<bucket>/<key>`, one
//! per object, and survive restarts: a later call that asks for columns
//! already held fetches nothing, one that asks for more fetches only their
//! chunks. A copy of an object that S3 now has under another ETag is
//! replaced whole; one of an object S3 no longer lists (within the listed
//! partitions) is deleted. Projected calls take the cache's write lock, as
//! syncs do.
//!
//! Cost per object: one or two footer GETs the first time (none later), one
//! GET per run of adjacent missing chunks per row group, streamed into a
//! sparse temporary file at their offsets, and one local pass over the kept
//! chunks' bytes into the new copy. Memory: a few MiB per GET in flight,
//! whatever the size of the objects; disk: the new chunks twice for as long
//! as the splice runs.
//!
//! What it does not check: ranged answers carry no whole-object checksum,
//! so the chunk bytes are trusted as S3 sent them (TLS and Parquet's own
//! page structure aside); a full [`Cache::sync`] checks every byte. Row
//! groups are not pruned by statistics: the event-time range prunes
//! partitions (hours), not row groups.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::checksum::normalize_etag;
use super::download::{AtOffset, create_temp, drain, retry_config};
use super::error::{CacheError, CacheResult};
use super::fsutil::{self, blocking, fsync_dir, temp_path_for, write_atomic};
use super::list::{self, RemoteObject};
use super::lock;
use super::slots::Slots;
use super::splice::{self, FOOTER_GUESS, Fetched, Footer, FooterRead, Held};
use super::uri::{S3Prefix, relative_path};
use super::{Cache, SyncOptions};

/// What a projected sync did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ProjectedReport {
    /// The prefix (`s3://bucket/prefix/`).
    pub uri: String,
    /// Where its projected copies are ([`ProjectedPrefix::path`]).
    pub local_path: PathBuf,
    /// The columns asked for.
    pub columns: Vec<String>,
    /// Parquet objects S3 listed (in the selected partitions; hidden
    /// names such as `.x` and `_SUCCESS` are not read, as tables skip them).
    pub objects_listed: u64,
    /// Their bytes: what a full sync would download.
    pub bytes_listed: u64,
    /// Objects with at least one chunk fetched (copies made or extended).
    pub objects_fetched: u64,
    /// Objects whose copy already held every asked column: nothing fetched.
    pub objects_skipped: u64,
    /// Footers fetched (one or two GETs each).
    pub footers_fetched: u64,
    /// Ranged GETs of column chunks.
    pub ranges_fetched: u64,
    /// Bytes downloaded in all, footers included.
    pub bytes_fetched: u64,
    /// Bytes of the projected copies of the listed objects, after the call.
    pub bytes_held: u64,
    /// Keys held that S3 no longer has: their copies were deleted.
    pub deleted_remote: Vec<String>,
    /// Total time, waiting for the cache lock included.
    pub duration: Duration,
}

/// The projected copies of a prefix, as one [`Cache::sync_projected`] left
/// them: an offline-store directory (`year=/month=/...`) whose files hold
/// the asked columns (and any asked before).
#[derive(Debug, Clone)]
pub struct ProjectedPrefix {
    uri: String,
    path: PathBuf,
    files: Vec<ProjectedFile>,
}

/// One object's projected copy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProjectedFile {
    /// The object's key.
    pub key: String,
    /// The copy.
    pub path: PathBuf,
    /// The object's size in S3 (the copy is smaller).
    pub object_size: u64,
    /// The object's ETag (without quotes).
    pub etag: String,
}

impl ProjectedPrefix {
    /// The prefix (`s3://bucket/prefix/`).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The local directory of its copies, laid out as the prefix.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The copies of the listed objects, by key.
    pub fn files(&self) -> &[ProjectedFile] {
        &self.files
    }
}

impl Cache {
    /// Where the projected copies of a prefix live:
    /// `<dir>/.fs-cache/projected/<bucket>/<prefix>`.
    pub fn projected_path(&self, s3_uri_prefix: &str) -> CacheResult<PathBuf> {
        let prefix = S3Prefix::parse(s3_uri_prefix)?;
        let mut path = self.projected_root().join(prefix.bucket());
        path.extend(prefix.key_prefix().split('/').filter(|s| !s.is_empty()));
        Ok(path)
    }

    fn projected_root(&self) -> PathBuf {
        self.meta_dir().join("projected")
    }

    /// Brings the projected copies of the Parquet objects under
    /// `s3_uri_prefix` up to date for `columns` (top-level column names;
    /// names an object lacks are skipped, and read as nulls), fetching
    /// only the column chunks no copy holds yet.
    ///
    /// Each object's footer is read once (the last 64 KiB, more when the
    /// footer is longer) and kept; the missing chunks are fetched with
    /// ranged GETs asking for the listed ETag, and spliced with the held
    /// ones, bytes untouched, into a Parquet copy of those columns under
    /// [`Cache::projected_path`]. A copy of an object S3 has replaced is
    /// made again; one of an object S3 no longer lists (in the listed
    /// partitions) is deleted. Objects tables skip (hidden names such as
    /// `_SUCCESS`, names not ending in `.parquet`) are skipped.
    ///
    /// `options` gives the event-time range and the GETs in flight
    /// ([`SyncOptions::concurrency`]); its part size, tuning and progress
    /// callback do not apply. Ranged answers carry no whole-object
    /// checksum, so unlike [`Cache::sync`] no object is checked whole.
    ///
    /// The copies hold every column asked so far, so a reader of the
    /// returned directory reads each file as the object with only those
    /// columns. Cost per object: one or two footer GETs the first time,
    /// one GET per run of adjacent missing chunks per row group, a few MiB
    /// of memory per GET in flight. Needs a tokio runtime.
    pub async fn sync_projected(
        &self,
        client: &Client,
        s3_uri_prefix: &str,
        columns: &[String],
        options: &SyncOptions,
    ) -> CacheResult<(ProjectedReport, ProjectedPrefix)> {
        let started = Instant::now();
        let prefix = S3Prefix::parse(s3_uri_prefix)?;
        let local = self.projected_path(s3_uri_prefix)?;
        let _lock = lock::exclusive(self.lock_path()).await?;
        let mut listing = list::list(client, &prefix, options.range(), options.concurrency).await?;
        // Only the files a table reads: Parquet objects, none hidden (a
        // writer's `.x` locks and temporary files, Spark's `_SUCCESS`).
        let key_start = prefix.key_prefix().len();
        listing
            .objects
            .retain(|o| o.key.get(key_start..).is_some_and(crate::table::reads));
        let mut columns: Vec<String> = columns.to_vec();
        columns.sort();
        columns.dedup();
        let mut report = ProjectedReport {
            uri: prefix.to_string(),
            local_path: local.clone(),
            columns: columns.clone(),
            objects_listed: listing.objects.len() as u64,
            bytes_listed: listing.objects.iter().map(|o| o.size).sum(),
            ..ProjectedReport::default()
        };

        // Copies of objects S3 no longer lists, and temporary files of a
        // killed call, go first.
        let listed: HashSet<String> = listing.objects.iter().map(|o| o.key.clone()).collect();
        let (scope, key_prefix, dir) = (
            listing.scope.clone(),
            prefix.key_prefix().to_owned(),
            local.clone(),
        );
        report.deleted_remote = blocking(move || {
            remove_unlisted(&dir, &key_prefix, |key| {
                scope.contains(key) && !listed.contains(key)
            })
        })
        .await?;

        let bucket = prefix.bucket().to_owned();
        let root = self.projected_root();
        let targets = listing
            .objects
            .iter()
            .map(|o| Ok((o.clone(), root.join(relative_path(&bucket, &o.key)?))))
            .collect::<CacheResult<Vec<(RemoteObject, PathBuf)>>>()?;
        let work = Work {
            client,
            bucket: &bucket,
            columns: &columns,
            slots: Slots::new(options.concurrency.max(1)),
            attempts: self.options().fetch_attempts,
            bytes: AtomicU64::new(0),
            footers: AtomicU64::new(0),
            ranges: AtomicU64::new(0),
        };
        // Owned items: a closure over borrowed ones would make the future
        // `Send` only for one lifetime, which `async_trait` callers cannot use.
        let work = &work;
        let outcomes: Vec<Outcome> = futures::stream::iter(targets.clone())
            .map(|(object, target)| async move { work.object(&object, &target).await })
            .buffer_unordered(options.concurrency.max(1))
            .try_collect()
            .await?;
        for o in &outcomes {
            if o.fetched {
                report.objects_fetched += 1;
            } else {
                report.objects_skipped += 1;
            }
            report.bytes_held += o.held_bytes;
        }
        report.bytes_fetched = work.bytes.load(Ordering::Relaxed);
        report.footers_fetched = work.footers.load(Ordering::Relaxed);
        report.ranges_fetched = work.ranges.load(Ordering::Relaxed);
        report.duration = started.elapsed();
        tracing::info!(
            prefix = %report.uri,
            columns = report.columns.len(),
            listed = report.objects_listed,
            fetched = report.objects_fetched,
            bytes = report.bytes_fetched,
            of_bytes = report.bytes_listed,
            ms = report.duration.as_millis() as u64,
            "projected sync done"
        );
        let files = targets
            .into_iter()
            .map(|(o, path)| ProjectedFile {
                key: o.key,
                path,
                object_size: o.size,
                etag: normalize_etag(&o.etag),
            })
            .collect();
        Ok((
            report,
            ProjectedPrefix {
                uri: prefix.to_string(),
                path: local,
                files,
            },
        ))
    }
}

/// The shared state of one projected sync.
struct Work<'a> {
    client: &'a Client,
    bucket: &'a str,
    columns: &'a [String],
    slots: Slots,
    attempts: u32,
    bytes: AtomicU64,
    footers: AtomicU64,
    ranges: AtomicU64,
}

/// An object being read, and where its copy goes (for errors).
#[derive(Clone, Copy)]
struct Place<'a> {
    object: &'a RemoteObject,
    uri: &'a str,
    path: &'a Path,
}

/// What became of one object.
struct Outcome {
    fetched: bool,
    held_bytes: u64,
}

impl Work<'_> {
    /// Brings the copy of `object` at `target` up to date.
    async fn object(&self, object: &RemoteObject, target: &PathBuf) -> CacheResult<Outcome> {
        let uri = format!("s3://{}/{}", self.bucket, object.key);
        let etag = normalize_etag(&object.etag);
        let at = Place {
            object,
            uri: &uri,
            path: target,
        };
        let sidecar = footer_path(target);
        let (t, s, e) = (target.clone(), sidecar.clone(), etag.clone());
        let (held, footer) = blocking(move || {
            let held = File::open(&t).ok().and_then(|f| Held::open(f, &e));
            let footer = read_sidecar(&s, &e);
            (held, footer)
        })
        .await;
        let footer = match footer {
            Some(f) => f,
            None => {
                let f = self.footer(at).await?;
                let mut content = Vec::with_capacity(etag.len() + 1 + f.bytes.len());
                content.extend_from_slice(etag.as_bytes());
                content.push(b'\n');
                content.extend_from_slice(&f.bytes);
                let s = sidecar.clone();
                blocking(move || {
                    if let Some(dir) = s.parent() {
                        fs::create_dir_all(dir)
                            .map_err(|e| CacheError::io("creating directory", dir, e))?;
                    }
                    write_atomic(&s, &content)
                })
                .await?;
                f
            }
        };
        let held_columns = held.as_ref().map(Held::columns).unwrap_or_default();
        let missing: Vec<String> = self
            .columns
            .iter()
            .filter(|c| !held_columns.contains(c))
            .cloned()
            .collect();
        let missing_leaves = splice::leaves_of(&footer.meta, &missing);
        if held.is_some() && missing_leaves.is_empty() {
            let len = fs::metadata(target).map(|m| m.len()).unwrap_or(0);
            return Ok(Outcome {
                fetched: false,
                held_bytes: len,
            });
        }
        // The missing chunks go to a sparse temporary file at their
        // offsets, streamed: memory holds a few MiB per GET in flight.
        let ranges = splice::chunk_ranges(&footer.meta, &missing_leaves);
        let scratch = temp_path_for(target);
        let file = {
            let (tmp, uri) = (scratch.clone(), uri.clone());
            Arc::new(blocking(move || create_temp(&tmp, &uri)).await?)
        };
        let fetched = futures::stream::iter(ranges)
            .map(|(start, len)| {
                let (file, scratch) = (Arc::clone(&file), &scratch);
                async move {
                    self.range_into(at, file, scratch, start, len).await?;
                    self.ranges.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, CacheError>((start, len))
                }
            })
            .buffer_unordered(self.slots.size().max(1))
            .try_collect::<Vec<_>>()
            .await;
        let mut chunks = Fetched::new(file, object.size);
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_file(&scratch);
                return Err(e);
            }
        };
        for (start, len) in fetched {
            chunks.record(start, len);
        }
        let mut keep = held_columns;
        keep.extend(missing);
        let (target, size) = (target.clone(), object.size);
        let held_bytes = blocking(move || -> CacheResult<u64> {
            let tmp = temp_path_for(&target);
            let out =
                File::create(&tmp).map_err(|e| CacheError::io_object("creating", &tmp, &uri, e))?;
            let written = splice::splice(
                out,
                &footer.meta,
                &etag,
                size,
                &keep,
                held.as_ref(),
                &chunks,
            );
            let _ = fs::remove_file(&scratch);
            let written = written.map_err(|e| {
                let _ = fs::remove_file(&tmp);
                CacheError::Verification {
                    uri: uri.clone(),
                    path: tmp.clone(),
                    reason: format!("splicing the projected copy: {e}"),
                }
            })?;
            fs::rename(&tmp, &target)
                .map_err(|e| CacheError::io_object("renaming into place", &target, &uri, e))?;
            fsync_dir(target.parent().unwrap_or(Path::new(".")))?;
            Ok(written)
        })
        .await?;
        Ok(Outcome {
            fetched: true,
            held_bytes,
        })
    }

    /// The object's footer: its last [`FOOTER_GUESS`] bytes, and more when
    /// the footer is longer.
    async fn footer(&self, at: Place<'_>) -> CacheResult<Footer> {
        let bad = |reason: String| CacheError::Verification {
            uri: at.uri.to_owned(),
            path: at.path.to_path_buf(),
            reason: format!("not a Parquet object a projected read can use: {reason}"),
        };
        let size = at.object.size;
        let guess = FOOTER_GUESS.min(size);
        let mut tail = self.range(at, size - guess, guess).await?;
        self.footers.fetch_add(1, Ordering::Relaxed);
        loop {
            match splice::footer(tail, size).map_err(bad)? {
                FooterRead::Whole(f) => return Ok(f),
                FooterRead::Needs(n) => tail = self.range(at, size - n, n).await?,
            }
        }
    }

    /// `len` bytes of the object from `start`, retried on retryable failures.
    async fn range(&self, at: Place<'_>, start: u64, len: u64) -> CacheResult<Bytes> {
        self.retried(at, start, len, || self.range_once(at, start, len))
            .await
    }

    /// The object's `len` bytes from `start`, streamed into `file` (the
    /// temporary file `scratch`) at offset `start`, retried on retryable
    /// failures.
    async fn range_into(
        &self,
        at: Place<'_>,
        file: Arc<File>,
        scratch: &Path,
        start: u64,
        len: u64,
    ) -> CacheResult<()> {
        self.retried(at, start, len, || {
            self.range_into_once(at, Arc::clone(&file), scratch, start, len)
        })
        .await
    }

    /// `attempt` (a read of the object's `len` bytes from `start`) tried up
    /// to the cache's attempts, retryable failures logged and retried
    /// ([`retry_config`]).
    async fn retried<T, F, Fut>(
        &self,
        at: Place<'_>,
        start: u64,
        len: u64,
        mut attempt: F,
    ) -> CacheResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = CacheResult<T>>,
    {
        retry_config(self.attempts)
            .run(|| {
                let fut = attempt();
                async move {
                    let result = fut.await;
                    if let Err(e) = &result
                        && e.is_retryable()
                    {
                        tracing::warn!(uri = at.uri, start, len, error = %e, "ranged read failed");
                    }
                    result
                }
            })
            .await
            .result
    }

    async fn range_into_once(
        &self,
        at: Place<'_>,
        file: Arc<File>,
        scratch: &Path,
        start: u64,
        len: u64,
    ) -> CacheResult<()> {
        let _slot = self.slots.take().await;
        let body = self.get(at, start, len).await?;
        let sink = AtOffset {
            file,
            at: start,
            tmp: scratch.to_path_buf(),
            uri: at.uri.to_owned(),
        };
        let (_, received) = drain(body, sink, len, at.uri, scratch, &self.slots).await?;
        self.bytes.fetch_add(received, Ordering::Relaxed);
        if received != len {
            return Err(CacheError::Verification {
                uri: at.uri.to_owned(),
                path: scratch.to_path_buf(),
                reason: format!("the range {start}+{len} brought {received} bytes"),
            });
        }
        Ok(())
    }

    /// The body of a GET of the object's `len` bytes from `start`, asking
    /// for the listed ETag.
    async fn get(&self, at: Place<'_>, start: u64, len: u64) -> CacheResult<ByteStream> {
        let out = self
            .client
            .get_object()
            .bucket(self.bucket)
            .key(&at.object.key)
            .range(format!("bytes={start}-{}", start + len - 1))
            .if_match(&at.object.etag)
            .send()
            .await
            .map_err(|e| CacheError::s3("GetObject", at.uri.to_owned(), e))?;
        Ok(out.body)
    }

    async fn range_once(&self, at: Place<'_>, start: u64, len: u64) -> CacheResult<Bytes> {
        let (uri, target) = (at.uri, at.path);
        if len == 0 {
            return Ok(Bytes::new());
        }
        let _slot = self.slots.take().await;
        let bytes = self
            .get(at, start, len)
            .await?
            .collect()
            .await
            .map_err(|e| CacheError::Body {
                uri: uri.to_owned(),
                path: target.to_path_buf(),
                received: 0,
                source: Box::new(e),
            })?
            .into_bytes();
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.slots.received(bytes.len());
        if bytes.len() as u64 != len {
            return Err(CacheError::Verification {
                uri: uri.to_owned(),
                path: target.to_path_buf(),
                reason: format!("the range {start}+{len} brought {} bytes", bytes.len()),
            });
        }
        Ok(bytes)
    }
}

/// `.<name>.fs-footer` next to the copy `target`.
fn footer_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.fs-footer"))
}

/// The kept footer of the object version `etag`, if `path` holds it.
fn read_sidecar(path: &Path, etag: &str) -> Option<Footer> {
    let content = fs::read(path).ok()?;
    let newline = content.iter().position(|&b| b == b'\n')?;
    if &content[..newline] != etag.as_bytes() {
        return None;
    }
    let bytes = Bytes::from(content).slice(newline + 1..);
    let size = bytes.len() as u64 + 4;
    match splice::footer(bytes, size).ok()? {
        FooterRead::Whole(f) => Some(f),
        FooterRead::Needs(_) => None,
    }
}

/// Under `dir` (the copies of the prefix `key_prefix`): removes temporary
/// files, and the copies (with their footers) of keys `gone` says S3 no
/// longer has; returns those keys.
fn remove_unlisted(
    dir: &Path,
    key_prefix: &str,
    gone: impl Fn(&str) -> bool,
) -> CacheResult<Vec<String>> {
    let mut removed = Vec::new();
    // The temporary files first: those of a killed call.
    fsutil::remove_temp_files(dir)?;
    let sep = if key_prefix.is_empty() || key_prefix.ends_with('/') {
        ""
    } else {
        "/"
    };
    fsutil::for_each_file(dir, |path, name| {
        if name.starts_with('.') {
            return Ok(());
        }
        let rel = path.strip_prefix(dir).unwrap_or(path).to_string_lossy();
        let key = format!("{key_prefix}{sep}{rel}");
        if gone(&key) {
            fs::remove_file(path).map_err(|e| CacheError::io("removing", path, e))?;
            let _ = fs::remove_file(footer_path(path));
            removed.push(key);
        }
        Ok(())
    })?;
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::uri::TEMP_SUFFIX;

    #[test]
    fn unlisted_copies_and_temporary_files_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let file = |rel: &str| {
            let path = p.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, b"x").unwrap();
            path
        };
        let kept = file("year=2024/a.parquet");
        let gone = file("year=2024/b.parquet");
        let gone_footer = footer_path(&gone);
        fs::write(&gone_footer, b"e\n").unwrap();
        let tmp = file(&format!("year=2024/.c.parquet.1-0{TEMP_SUFFIX}"));
        let removed = remove_unlisted(p, "data/", |k| k == "data/year=2024/b.parquet").unwrap();
        assert_eq!(removed, ["data/year=2024/b.parquet"]);
        assert!(kept.exists());
        assert!(!gone.exists() && !gone_footer.exists() && !tmp.exists());
    }

    #[test]
    fn a_footer_kept_for_another_version_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".a.parquet.fs-footer");
        fs::write(&path, b"v1\nnot a footer").unwrap();
        assert!(read_sidecar(&path, "v2").is_none());
        assert!(
            read_sidecar(&path, "v1").is_none(),
            "a garbled footer is fetched again"
        );
    }
}
