//! Downloading a large object in ranged parts, several at once.
//!
//! One connection to S3 carries a few tens of MB/s at best, so a sync of a
//! few large objects would run at one connection's speed however many
//! objects it fetches at once. An object over [`SyncOptions::part_size`]
//! is fetched as ranged GETs of that size instead, each written at its
//! offset in the temporary file as it arrives. Every GET of a sync, whole
//! object or part, holds one of the sync's connection slots
//! ([`Slots`]), so that parts and small objects share the same limit.
//!
//! Every part asks for the ETag the first answer named (`If-Match`), so
//! that an object replaced during the download fails the download instead
//! of mixing two versions. Ranged answers carry no whole-object checksum,
//! so the checksum to check comes from a `HeadObject` (with
//! `ChecksumMode::Enabled`) and the assembled file is read once more to
//! compute it and the local CRC32C: one sequential read of the object's
//! bytes, from the page cache when memory allows.
//!
//! [`SyncOptions::part_size`]: super::SyncOptions::part_size

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::ChecksumMode;
use futures::{StreamExt, TryStreamExt};

use super::checksum::{Hasher, RemoteChecksum, expected, normalize_etag};
use super::download::{AtOffset, create_temp, drain, publish, retry_config};
use super::error::{CacheError, CacheResult};
use super::fsutil::{blocking, millis, temp_path_for};
use super::manifest::ObjectEntry;
use super::slots::Slots;

/// The byte ranges (`first..=last`) of an object of `size` bytes cut into
/// parts of `part_size`.
pub(crate) fn ranges(size: u64, part_size: u64) -> Vec<(u64, u64)> {
    let part_size = part_size.max(1);
    (0..size.div_ceil(part_size))
        .map(|i| {
            let first = i * part_size;
            (first, (first + part_size).min(size) - 1)
        })
        .collect()
}

/// What one download of an object in parts works with.
struct Download<'a> {
    client: &'a Client,
    bucket: &'a str,
    key: &'a str,
    uri: String,
    tmp: PathBuf,
    /// The temporary file, once created: every part writes through it.
    file: OnceLock<Arc<File>>,
    /// The ETag every part must still have (quoted, as S3 sends it).
    etag: String,
    attempts: u32,
    slots: &'a Slots,
}

/// Fetches `s3://bucket/key` (`size` bytes when listed) to `target` in
/// ranged parts of `part_size`, at most as many at once as `slots` allow.
pub(crate) async fn fetch_in_parts(
    client: &Client,
    bucket: &str,
    key: &str,
    target: &Path,
    part_size: u64,
    attempts: u32,
    slots: &Slots,
) -> CacheResult<ObjectEntry> {
    let uri = format!("s3://{bucket}/{key}");
    let head = {
        let _slot = slots.take().await;
        client
            .head_object()
            .bucket(bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| CacheError::s3("HeadObject", uri.clone(), e))?
    };
    let size = head.content_length().unwrap_or(0).max(0) as u64;
    let remote_checksum = expected(&head);
    let etag = head.e_tag().unwrap_or_default().to_owned();
    let tmp = temp_path_for(target);
    let download = Download {
        client,
        bucket,
        key,
        uri: uri.clone(),
        tmp: tmp.clone(),
        file: OnceLock::new(),
        etag: etag.clone(),
        attempts,
        slots,
    };
    let result = async {
        download.create(size).await?;
        futures::stream::iter(ranges(size, part_size))
            .map(|range| download.part(range))
            .buffer_unordered(size.div_ceil(part_size.max(1)).max(1) as usize)
            .try_collect::<Vec<()>>()
            .await?;
        let (tmp2, target2, uri2) = (tmp.clone(), target.to_path_buf(), uri.clone());
        let remote2 = remote_checksum.clone();
        blocking(move || finish(size, remote2, &tmp2, &target2, &uri2)).await
    }
    .await;
    let (crc32c, mtime_ns) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    tracing::debug!(uri = %uri, path = %target.display(), size, parts = size.div_ceil(part_size.max(1)), "fetched in parts");
    Ok(ObjectEntry {
        size,
        etag: normalize_etag(&etag),
        remote_checksum,
        crc32c,
        mtime_ns,
        fetched_at_ms: millis(SystemTime::now()),
    })
}

impl Download<'_> {
    /// Creates the temporary file, `size` bytes long.
    async fn create(&self, size: u64) -> CacheResult<()> {
        let (tmp, uri) = (self.tmp.clone(), self.uri.clone());
        let file = blocking(move || {
            let file = create_temp(&tmp, &uri)?;
            file.set_len(size)
                .map_err(|e| CacheError::io_object("sizing", &tmp, &uri, e))?;
            Ok::<_, CacheError>(file)
        })
        .await?;
        let _ = self.file.set(Arc::new(file));
        Ok(())
    }

    /// The temporary file [`Self::create`] made.
    fn file(&self) -> CacheResult<&Arc<File>> {
        self.file.get().ok_or_else(|| {
            self.mismatch("a part was fetched before its temporary file was created".into())
        })
    }

    /// Fetches the bytes `first..=last` into place, retrying on retryable
    /// failures ([`retry_config`]).
    async fn part(&self, (first, last): (u64, u64)) -> CacheResult<()> {
        let mut attempt = 0u32;
        retry_config(self.attempts)
            .run(|| {
                attempt += 1;
                let attempt = attempt;
                async move {
                    let result = self.part_once(first, last).await;
                    if let Err(e) = &result
                        && e.is_retryable()
                    {
                        tracing::warn!(uri = %self.uri, first, last, attempt, error = %e, "part failed");
                    }
                    result
                }
            })
            .await
            .result
    }

    async fn part_once(&self, first: u64, last: u64) -> CacheResult<()> {
        let _slot = self.slots.take().await;
        let out = self
            .client
            .get_object()
            .bucket(self.bucket)
            .key(self.key)
            .range(format!("bytes={first}-{last}"))
            .if_match(&self.etag)
            .send()
            .await
            .map_err(|e| CacheError::s3("GetObject", self.uri.clone(), e))?;
        let sink = AtOffset {
            file: Arc::clone(self.file()?),
            at: first,
            tmp: self.tmp.clone(),
            uri: self.uri.clone(),
        };
        let (_, received) = drain(
            out.body,
            sink,
            last + 1 - first,
            &self.uri,
            &self.tmp,
            self.slots,
        )
        .await?;
        if received != last + 1 - first {
            return Err(self.mismatch(format!(
                "the part {first}-{last} brought {received} of its {} bytes",
                last + 1 - first
            )));
        }
        Ok(())
    }

    fn mismatch(&self, reason: String) -> CacheError {
        CacheError::Verification {
            uri: self.uri.clone(),
            path: self.tmp.clone(),
            reason,
        }
    }
}

/// Reads the assembled file once for its checksums, then publishes it
/// ([`publish`]: size and remote checksum checked, fsync, rename,
/// directory fsync). Returns the local checksum and the file's
/// modification time.
fn finish(
    size: u64,
    remote: Option<RemoteChecksum>,
    tmp: &Path,
    target: &Path,
    uri: &str,
) -> CacheResult<(String, u64)> {
    let reading = |e| CacheError::io_object("reading", tmp, uri, e);
    let file = File::open(tmp).map_err(reading)?;
    let mut local = Hasher::local();
    let mut check = remote.map(|c| {
        let hasher = Hasher::new(&c.algorithm);
        (c, hasher)
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = file.read_at(&mut buf, read).map_err(reading)?;
        if n == 0 {
            break;
        }
        local.update(&buf[..n]);
        if let Some((_, h)) = &mut check {
            h.update(&buf[..n]);
        }
        read += n as u64;
    }
    // fsync works on a descriptor opened for reading too.
    let mtime_ns = publish(file, read, size, check, tmp, target, uri)?;
    Ok((local.finish(), mtime_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary file holding `bytes`, and where it would go.
    fn assembled(dir: &Path, bytes: &[u8]) -> (PathBuf, PathBuf) {
        fs::create_dir_all(dir).unwrap();
        let target = dir.join("object.bin");
        let tmp = temp_path_for(&target);
        fs::write(&tmp, bytes).unwrap();
        (tmp, target)
    }

    fn checksum_of(algorithm: &str, bytes: &[u8]) -> RemoteChecksum {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        RemoteChecksum {
            algorithm: algorithm.to_owned(),
            value: h.finish(),
        }
    }

    #[test]
    fn an_assembled_file_is_published_only_when_size_and_checksum_match() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let (tmp, target) = assembled(dir.path(), &bytes);
        let (crc, _) = finish(
            10_000,
            Some(checksum_of("crc32c", &bytes)),
            &tmp,
            &target,
            "s3://b/k",
        )
        .unwrap();
        assert_eq!(fs::read(&target).unwrap(), bytes);
        assert!(!tmp.exists());
        assert_eq!(crc, checksum_of("crc32c", &bytes).value);

        // One byte differs from what S3's checksum names: nothing is
        // published, and the error names the object and both values.
        let mut other = bytes.clone();
        other[5_000] ^= 1;
        let (tmp, target) = assembled(&dir.path().join("2"), &other);
        let err = finish(
            10_000,
            Some(checksum_of("etag-md5", &bytes)),
            &tmp,
            &target,
            "s3://b/k",
        )
        .unwrap_err();
        assert!(matches!(err, CacheError::Verification { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("s3://b/k") && msg.contains("etag-md5"),
            "{msg}"
        );
        assert!(!target.exists());

        // A size that differs from the object's is refused too.
        let err = finish(10_001, None, &tmp, &target, "s3://b/k").unwrap_err();
        assert!(err.to_string().contains("10001"), "{err}");
        assert!(!target.exists());
    }

    #[test]
    fn ranges_cover_every_byte_once_in_order() {
        assert_eq!(ranges(0, 8), vec![]);
        assert_eq!(ranges(1, 8), vec![(0, 0)]);
        assert_eq!(ranges(8, 8), vec![(0, 7)]);
        assert_eq!(ranges(9, 8), vec![(0, 7), (8, 8)]);
        assert_eq!(ranges(20, 8), vec![(0, 7), (8, 15), (16, 19)]);
        for (size, part) in [(1_000_003u64, 4096u64), (65_536, 65_536), (7, 1), (5, 0)] {
            let r = ranges(size, part);
            assert_eq!(r.first().map(|p| p.0), Some(0));
            assert_eq!(r.last().map(|p| p.1), Some(size - 1));
            assert!(r.windows(2).all(|w| w[1].0 == w[0].1 + 1));
        }
    }
}
