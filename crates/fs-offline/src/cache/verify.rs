//! `Cache::verify`: re-check every held file's size and CRC32C.

use std::path::PathBuf;
use std::sync::Mutex;

use super::checksum::hash_file;
use super::error::CacheResult;
use super::evict::remove_object;
use super::manifest::ObjectEntry;
use super::uri::{relative_path, split_id};
use super::{Cache, lock};

/// What was wrong with a cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file is gone (or cannot be opened).
    Missing(String),
    /// The file's size is not the object's.
    Size {
        /// The object's size.
        expected: u64,
        /// The file's.
        actual: u64,
    },
    /// The file's CRC32C is not the one recorded when it was fetched.
    Checksum {
        /// Recorded (base64).
        expected: String,
        /// Computed now (base64).
        actual: String,
    },
}

/// A cached file that failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalProblem {
    /// The object (`s3://bucket/key`).
    pub uri: String,
    /// The local file.
    pub path: PathBuf,
    /// What was wrong.
    pub kind: ProblemKind,
}

/// What [`Cache::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Files checked.
    pub objects_checked: u64,
    /// Bytes read.
    pub bytes_checked: u64,
    /// Files that failed: they were deleted and dropped from the manifest,
    /// so the next sync fetches them again.
    pub problems: Vec<LocalProblem>,
}

pub(crate) fn run(cache: &Cache) -> CacheResult<VerifyReport> {
    let _lock = lock::exclusive_blocking(&cache.lock_path())?;
    let (mut manifest, mut journal, _) = cache.begin_write()?;
    let root = cache.root();
    let mut work: Vec<(String, PathBuf, ObjectEntry)> = Vec::with_capacity(manifest.objects.len());
    for (id, entry) in &manifest.objects {
        let (bucket, key) = split_id(id);
        work.push((
            id.clone(),
            root.join(relative_path(bucket, key)?),
            entry.clone(),
        ));
    }
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(work.len().max(1));
    let next = Mutex::new(work.iter());
    let found = Mutex::new((0u64, Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let item = next.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((id, path, entry)) = item else { break };
                    let problem = check(path, entry);
                    let mut f = found.lock().unwrap_or_else(|e| e.into_inner());
                    f.0 += entry.size;
                    if let Some(kind) = problem {
                        let (bucket, key) = split_id(id);
                        f.1.push((
                            id.clone(),
                            LocalProblem {
                                uri: format!("s3://{bucket}/{key}"),
                                path: path.clone(),
                                kind,
                            },
                        ));
                    }
                }
            });
        }
    });
    let (bytes_checked, mut bad) = found.into_inner().unwrap_or_else(|e| e.into_inner());
    bad.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, problem) in &bad {
        tracing::warn!(object = %problem.uri, path = %problem.path.display(), problem = ?problem.kind, "corrupt cached file removed");
        remove_object(root, &mut manifest, &mut journal, id)?;
    }
    cache.end_write(&manifest, &journal)?;
    Ok(VerifyReport {
        objects_checked: work.len() as u64,
        bytes_checked,
        problems: bad.into_iter().map(|(_, p)| p).collect(),
    })
}

fn check(path: &std::path::Path, entry: &ObjectEntry) -> Option<ProblemKind> {
    match std::fs::metadata(path) {
        Err(e) => return Some(ProblemKind::Missing(e.to_string())),
        Ok(m) if m.len() != entry.size => {
            return Some(ProblemKind::Size {
                expected: entry.size,
                actual: m.len(),
            });
        }
        Ok(_) => {}
    }
    match hash_file(path) {
        Err(e) => Some(ProblemKind::Missing(e.to_string())),
        Ok((size, _)) if size != entry.size => Some(ProblemKind::Size {
            expected: entry.size,
            actual: size,
        }),
        Ok((_, crc)) if crc != entry.crc32c => Some(ProblemKind::Checksum {
            expected: entry.crc32c.clone(),
            actual: crc,
        }),
        Ok(_) => None,
    }
}
