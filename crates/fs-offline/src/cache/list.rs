//! Listing the objects of a prefix, optionally only the partitions an
//! event-time range needs.
//!
//! Without a range: one paginated `ListObjectsV2` of the prefix. With one:
//! the prefix is walked one directory level at a time (`delimiter=/`);
//! partition directories (`year=`, `month=`, `day=`, `hour=`,
//! `<feature>_trunc=`) outside the range are skipped, those wholly inside
//! it (and every hour) are listed recursively, in parallel; other
//! directories are walked into, and loose files on the way are kept.

use aws_sdk_s3::Client;
use futures::{StreamExt, TryStreamExt};

use super::checksum::normalize_etag;
use super::error::{CacheError, CacheResult};
use super::partition::{Overlap, PartitionPath, TimeRange};
use super::uri::S3Prefix;

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteObject {
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) etag: String,
}

/// Which keys a listing speaks for: a held object in scope that the listing
/// does not have was deleted remotely; one out of scope (in a partition the
/// range skipped) says nothing. A key is in scope when no partition
/// directory on its path is disjoint from the range: exactly the keys the
/// listing would have returned had they existed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// The length of the listed prefix.
    prefix_len: usize,
    /// The partition fields of the listed prefix itself.
    root: PartitionPath,
    range: Option<TimeRange>,
}

impl Scope {
    /// `key` must lie under the listed prefix.
    pub(crate) fn contains(&self, key: &str) -> bool {
        let Some(range) = &self.range else {
            return true;
        };
        let mut parts = self.root;
        match parts.overlap(range) {
            Overlap::Disjoint => return false,
            Overlap::Whole => return true,
            Overlap::Partial => {}
        }
        let rest = key.get(self.prefix_len..).unwrap_or_default();
        let mut dirs: Vec<&str> = rest.split('/').collect();
        dirs.pop(); // the file name
        for dir in dirs {
            if let Some(p) = parts.with_segment(dir) {
                parts = p;
                match parts.overlap(range) {
                    Overlap::Disjoint => return false,
                    Overlap::Whole => return true,
                    Overlap::Partial => {}
                }
            }
        }
        true
    }
}

/// What a listing found.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) objects: Vec<RemoteObject>,
    pub(crate) scope: Scope,
}

/// Lists `prefix`, pruned to `range` if given, running up to `concurrency`
/// recursive listings at once.
pub(crate) async fn list(
    client: &Client,
    prefix: &S3Prefix,
    range: Option<TimeRange>,
    concurrency: usize,
) -> CacheResult<Listing> {
    let root = PartitionPath::of_path(prefix.key_prefix());
    let mut listing = Listing {
        objects: Vec::new(),
        scope: Scope {
            prefix_len: prefix.key_prefix().len(),
            root,
            range,
        },
    };
    let bucket = prefix.bucket();
    let Some(range) = range else {
        listing.objects = list_deep(client, bucket, prefix.key_prefix()).await?;
        return Ok(listing);
    };
    let mut deep = Vec::new();
    match root.overlap(&range) {
        Overlap::Disjoint => return Ok(listing),
        Overlap::Whole => deep.push(prefix.key_prefix().to_owned()),
        Overlap::Partial => {
            let mut queue = vec![(prefix.key_prefix().to_owned(), root)];
            while let Some((dir, parts)) = queue.pop() {
                let (files, dirs) = list_level(client, bucket, &dir).await?;
                listing.objects.extend(files);
                for sub in dirs {
                    let name = sub[dir.len()..].trim_end_matches('/');
                    match parts.with_segment(name) {
                        None => queue.push((sub, parts)),
                        Some(p) => match p.overlap(&range) {
                            Overlap::Disjoint => {}
                            Overlap::Partial => queue.push((sub, p)),
                            Overlap::Whole => deep.push(sub),
                        },
                    }
                }
            }
        }
    }
    // Owned prefixes: a closure over `&String` would make the future
    // `Send` only for one lifetime, which `async_trait` callers cannot use.
    let lists: Vec<Vec<RemoteObject>> = futures::stream::iter(deep)
        .map(|p| async move { list_deep(client, bucket, &p).await })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    listing.objects.extend(lists.into_iter().flatten());
    listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(listing)
}

fn remote(o: &aws_sdk_s3::types::Object) -> Option<RemoteObject> {
    let key = o.key()?;
    // Zero-byte "directory" markers are not files.
    if key.ends_with('/') {
        return None;
    }
    Some(RemoteObject {
        key: key.to_owned(),
        size: o.size().unwrap_or(0).max(0) as u64,
        etag: normalize_etag(o.e_tag().unwrap_or_default()),
    })
}

/// Every object under `prefix`.
async fn list_deep(client: &Client, bucket: &str, prefix: &str) -> CacheResult<Vec<RemoteObject>> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| CacheError::s3("ListObjectsV2", format!("s3://{bucket}/{prefix}"), e))?;
        out.extend(page.contents().iter().filter_map(remote));
    }
    Ok(out)
}

/// The objects directly under `dir` and its sub-directories (ending with `/`).
async fn list_level(
    client: &Client,
    bucket: &str,
    dir: &str,
) -> CacheResult<(Vec<RemoteObject>, Vec<String>)> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(dir)
        .delimiter("/")
        .into_paginator()
        .send();
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| CacheError::s3("ListObjectsV2", format!("s3://{bucket}/{dir}"), e))?;
        files.extend(page.contents().iter().filter_map(remote));
        dirs.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .filter(|p| p.len() > dir.len() && p.starts_with(dir))
                .map(str::to_owned),
        );
    }
    Ok((files, dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_follows_the_range_not_what_s3_still_has() {
        use fs_schema::EventTime;
        let ms = |s: &str| EventTime::parse_iso(s).unwrap().as_millis();
        let range = TimeRange {
            from_ms: Some(ms("2024-03-10T05:30:00Z")),
            to_ms: Some(ms("2024-03-11T00:00:00Z")),
        };
        let scope = Scope {
            prefix_len: "d/".len(),
            root: PartitionPath::default(),
            range: Some(range),
        };
        assert!(scope.contains("d/year=2024/month=03/day=10/hour=06/f.parquet"));
        assert!(scope.contains("d/year=2024/month=03/day=11/hour=00/f.parquet"));
        assert!(scope.contains("d/loose.txt"));
        assert!(scope.contains("d/other/year=2024/loose.txt"));
        assert!(!scope.contains("d/year=2024/month=03/day=10/hour=04/f.parquet"));
        assert!(!scope.contains("d/year=2024/month=04/day=01/hour=00/f.parquet"));
        assert!(!scope.contains("d/year=2023/f.parquet"));
        let all = Scope {
            range: None,
            ..scope
        };
        assert!(all.contains("d/year=2023/f.parquet"));
    }
}
