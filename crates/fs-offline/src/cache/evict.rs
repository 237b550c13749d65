//! The size budget: least-recently-used eviction of whole synced prefixes.
//!
//! The unit of eviction is a synced prefix (what a reader opens), and its
//! last access is the modification time of its lock file, set by every
//! sync and every `open_for_read`. To make room the cache removes, in this
//! order: objects no completed prefix covers (left by an interrupted sync of
//! a prefix that was not synced again), oldest fetch first; then prefixes,
//! least recently used first, skipping any a reader holds open. Removing a
//! prefix removes the objects no other remaining prefix covers. The prefix
//! being synced is never a victim.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use super::error::{CacheError, CacheResult};
use super::lock;
use super::manifest::{Journal, Manifest, Op};
use super::uri::{S3Prefix, relative_path, split_id};

/// What an eviction removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvictReport {
    /// Prefixes removed (`s3://bucket/prefix/`), least recently used first.
    pub prefixes: Vec<String>,
    /// Prefixes that were due but skipped because a reader held them open.
    pub busy: Vec<String>,
    /// Objects removed (including ones no prefix covered).
    pub objects: u64,
    /// Bytes freed.
    pub bytes: u64,
}

fn parsed_prefixes(manifest: &Manifest) -> Vec<S3Prefix> {
    manifest
        .prefixes
        .keys()
        .filter_map(|u| S3Prefix::parse(u).ok())
        .collect()
}

fn covered(prefixes: &[S3Prefix], id: &str) -> bool {
    let (bucket, key) = split_id(id);
    prefixes.iter().any(|p| p.contains(bucket, key))
}

/// Objects no completed prefix (nor `protected`) covers, oldest fetch first.
pub(crate) fn orphans(manifest: &Manifest, protected: Option<&S3Prefix>) -> Vec<String> {
    let mut prefixes = parsed_prefixes(manifest);
    prefixes.extend(protected.cloned());
    let mut ids: Vec<(&String, u64)> = manifest
        .objects
        .iter()
        .filter(|(id, _)| !covered(&prefixes, id))
        .map(|(id, e)| (id, e.fetched_at_ms))
        .collect();
    ids.sort_by_key(|(id, t)| (*t, (*id).clone()));
    ids.into_iter().map(|(id, _)| id.clone()).collect()
}

/// Completed prefixes other than `protected`, least recently used first
/// (never-accessed first, then by URI for equal times).
pub(crate) fn order(
    manifest: &Manifest,
    last_access: &HashMap<String, SystemTime>,
    protected: Option<&S3Prefix>,
) -> Vec<String> {
    let protected = protected.map(ToString::to_string);
    let mut uris: Vec<&String> = manifest
        .prefixes
        .keys()
        .filter(|u| Some(*u) != protected.as_ref())
        .collect();
    uris.sort_by_key(|u| (last_access.get(*u).copied(), (*u).clone()));
    uris.into_iter().cloned().collect()
}

/// Objects under `uri` that no other completed prefix (nor `protected`)
/// covers: what removing `uri` frees.
pub(crate) fn exclusive_objects(
    manifest: &Manifest,
    uri: &str,
    protected: Option<&S3Prefix>,
) -> Vec<String> {
    let Ok(prefix) = S3Prefix::parse(uri) else {
        return Vec::new();
    };
    let mut others: Vec<S3Prefix> = parsed_prefixes(manifest)
        .into_iter()
        .filter(|p| *p != prefix)
        .collect();
    others.extend(protected.cloned());
    manifest
        .objects_under(&prefix)
        .filter(|(id, _)| !covered(&others, id))
        .map(|(id, _)| id.clone())
        .collect()
}

/// Removes an object's file and its manifest entry; returns its size.
pub(crate) fn remove_object(
    root: &Path,
    manifest: &mut Manifest,
    journal: &mut Journal,
    id: &str,
) -> CacheResult<u64> {
    let Some(entry) = manifest.objects.get(id) else {
        return Ok(0);
    };
    let size = entry.size;
    let (bucket, key) = split_id(id);
    let path = root.join(relative_path(bucket, key)?);
    match fs::remove_file(&path) {
        Ok(()) => super::fsutil::remove_empty_parents(&path, root),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(CacheError::io_object(
                "removing",
                &path,
                &format!("s3://{bucket}/{key}"),
                e,
            ));
        }
    }
    let op = Op::Remove { id: id.to_owned() };
    journal.append(&op)?;
    manifest.apply(op);
    Ok(size)
}

/// Frees at least `need` bytes if it can (see the module documentation).
pub(crate) fn make_room(
    root: &Path,
    meta: &Path,
    manifest: &mut Manifest,
    journal: &mut Journal,
    need: u64,
    protected: Option<&S3Prefix>,
) -> CacheResult<EvictReport> {
    let mut report = EvictReport::default();
    if need == 0 {
        return Ok(report);
    }
    for id in orphans(manifest, protected) {
        if report.bytes >= need {
            return Ok(report);
        }
        report.bytes += remove_object(root, manifest, journal, &id)?;
        report.objects += 1;
    }
    let access: HashMap<String, SystemTime> = manifest
        .prefixes
        .keys()
        .filter_map(|u| lock::last_access(&lock::prefix_lock_path(meta, u)).map(|t| (u.clone(), t)))
        .collect();
    for uri in order(manifest, &access, protected) {
        if report.bytes >= need {
            break;
        }
        let path = lock::prefix_lock_path(meta, &uri);
        // Readers hold a shared lock on the prefix's lock file: a prefix in
        // use is skipped. A missing lock file means no reader can hold it.
        let guard = if path.exists() {
            match lock::try_exclusive(&path)? {
                Some(g) => Some(g),
                None => {
                    tracing::info!(prefix = %uri, "not evicting a prefix a reader holds open");
                    report.busy.push(uri);
                    continue;
                }
            }
        } else {
            None
        };
        let victims = exclusive_objects(manifest, &uri, protected);
        let op = Op::ForgetPrefix { uri: uri.clone() };
        journal.append(&op)?;
        manifest.apply(op);
        for id in victims {
            report.bytes += remove_object(root, manifest, journal, &id)?;
            report.objects += 1;
        }
        // Removed while locked: a reader that opened the old file and gets
        // its shared lock next finds the prefix gone from the manifest.
        let _ = fs::remove_file(&path);
        drop(guard);
        tracing::info!(prefix = %uri, "evicted (least recently used)");
        report.prefixes.push(uri);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::manifest::{ObjectEntry, PrefixEntry};
    use std::time::Duration;

    fn manifest() -> Manifest {
        let mut m = Manifest::default();
        let objects = [
            ("bkt/a/1", 10, 5),
            ("bkt/a/sub/2", 20, 6),
            ("bkt/b/3", 30, 7),
            ("bkt/c/4", 40, 2),
            ("bkt/orphan/5", 50, 9),
            ("bkt/orphan/6", 60, 1),
        ];
        for (id, size, t) in objects {
            let entry = ObjectEntry {
                size,
                etag: String::new(),
                remote_checksum: None,
                crc32c: String::new(),
                mtime_ns: 0,
                fetched_at_ms: t,
            };
            m.apply(Op::Put {
                id: id.into(),
                entry,
            });
        }
        for uri in [
            "s3://bkt/a/",
            "s3://bkt/a/sub/",
            "s3://bkt/b/",
            "s3://bkt/c/",
        ] {
            let entry = PrefixEntry {
                synced_at_ms: 0,
                event_time_from_ms: None,
                event_time_to_ms: None,
            };
            m.apply(Op::Prefix {
                uri: uri.into(),
                entry,
            });
        }
        m
    }

    #[test]
    fn least_recently_used_first_and_the_protected_prefix_never() {
        let m = manifest();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let access: HashMap<String, SystemTime> = [
            ("s3://bkt/a/", t0 + Duration::from_secs(3)),
            ("s3://bkt/b/", t0 + Duration::from_secs(1)),
            ("s3://bkt/c/", t0 + Duration::from_secs(2)),
        ]
        .into_iter()
        .map(|(u, t)| (u.to_owned(), t))
        .collect();
        // a/sub was never accessed: first.
        assert_eq!(
            order(&m, &access, None),
            [
                "s3://bkt/a/sub/",
                "s3://bkt/b/",
                "s3://bkt/c/",
                "s3://bkt/a/"
            ]
        );
        let c = S3Prefix::parse("s3://bkt/c").unwrap();
        assert_eq!(
            order(&m, &access, Some(&c)),
            ["s3://bkt/a/sub/", "s3://bkt/b/", "s3://bkt/a/"]
        );
    }

    #[test]
    fn orphans_oldest_first_and_exclusive_objects() {
        let m = manifest();
        assert_eq!(orphans(&m, None), ["bkt/orphan/6", "bkt/orphan/5"]);
        let o = S3Prefix::parse("s3://bkt/orphan/").unwrap();
        assert!(orphans(&m, Some(&o)).is_empty());
        // a/sub's object is also a's: removing a/sub frees nothing.
        assert!(exclusive_objects(&m, "s3://bkt/a/sub/", None).is_empty());
        assert_eq!(exclusive_objects(&m, "s3://bkt/a/", None), ["bkt/a/1"]);
        let a = S3Prefix::parse("s3://bkt/a/").unwrap();
        assert!(exclusive_objects(&m, "s3://bkt/a/", Some(&a)).is_empty());
    }
}
