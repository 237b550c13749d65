//! The manifest: what the cache holds.
//!
//! Two files under `<cache>/.fs-cache/`:
//! - `manifest.json`, a snapshot, only ever replaced whole (temporary file,
//!   fsync, rename, directory fsync), so a reader always sees a complete one;
//! - `journal.jsonl`, one JSON operation per line, appended by the process
//!   holding the cache lock as objects land. Loading replays it over the
//!   snapshot and stops at the first line that does not parse (the torn tail
//!   of a killed process). A sync, verify or eviction ends by writing a new
//!   snapshot and emptying the journal. Replaying a journal over the snapshot
//!   it was folded into changes nothing, so a kill between the two steps is
//!   harmless.
//!
//! The journal is not fsynced: an entry is only appended after its file is
//! durable, so losing entries only makes the next sync fetch those objects
//! again.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checksum::RemoteChecksum;
use super::error::{CacheError, CacheResult};
use super::fsutil::write_atomic;
use super::uri::S3Prefix;

const VERSION: u32 = 1;

/// One object the cache holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectEntry {
    /// Size in bytes.
    pub size: u64,
    /// The object's ETag (without quotes) when it was fetched.
    pub etag: String,
    /// The S3 checksum the download was checked against, if S3 had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_checksum: Option<RemoteChecksum>,
    /// CRC32C (base64) of the local file, checked by `verify`.
    pub crc32c: String,
    /// The local file's modification time (ns since the epoch) when it was
    /// written; a different one makes the next sync re-check the file.
    pub mtime_ns: u64,
    /// When the object was fetched (ms since the epoch).
    pub fetched_at_ms: u64,
}

/// A prefix a sync completed for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrefixEntry {
    /// When the last sync that changed the prefix's copy (or its range)
    /// completed (ms since the epoch); a sync that finds nothing to do
    /// writes nothing.
    pub synced_at_ms: u64,
    /// The event-time range of that sync (ms since the epoch, inclusive);
    /// `None` for the whole prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time_from_ms: Option<i64>,
    /// See `event_time_from_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time_to_ms: Option<i64>,
}

/// The in-memory manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) version: u32,
    /// Objects by `bucket/key`.
    pub(crate) objects: BTreeMap<String, ObjectEntry>,
    /// Completed prefixes by `s3://bucket/prefix/`.
    pub(crate) prefixes: BTreeMap<String, PrefixEntry>,
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    Put { id: String, entry: ObjectEntry },
    Remove { id: String },
    Prefix { uri: String, entry: PrefixEntry },
    ForgetPrefix { uri: String },
}

impl Manifest {
    pub(crate) fn apply(&mut self, op: Op) {
        match op {
            Op::Put { id, entry } => {
                self.objects.insert(id, entry);
            }
            Op::Remove { id } => {
                self.objects.remove(&id);
            }
            Op::Prefix { uri, entry } => {
                self.prefixes.insert(uri, entry);
            }
            Op::ForgetPrefix { uri } => {
                self.prefixes.remove(&uri);
            }
        }
    }

    /// The objects under a prefix, by `bucket/key`.
    pub(crate) fn objects_under<'a>(
        &'a self,
        prefix: &S3Prefix,
    ) -> impl Iterator<Item = (&'a String, &'a ObjectEntry)> + 'a {
        let start = prefix.id_prefix();
        self.objects
            .range(start.clone()..)
            .take_while(move |(id, _)| id.starts_with(&start))
    }

    /// Bytes held in all.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.objects.values().map(|e| e.size).sum()
    }

    /// The completed prefix that covers `prefix` (itself or an ancestor),
    /// the longest if several.
    pub(crate) fn covering_prefix(&self, prefix: &S3Prefix) -> Option<(S3Prefix, &PrefixEntry)> {
        self.prefixes
            .iter()
            .filter_map(|(uri, e)| S3Prefix::parse(uri).ok().map(|p| (p, e)))
            .filter(|(p, _)| p.covers(prefix))
            .max_by_key(|(p, _)| p.key_prefix().len())
    }
}

/// Where the manifest lives, and its journal writer.
#[derive(Debug, Clone)]
pub(crate) struct ManifestFiles {
    snapshot: PathBuf,
    journal: PathBuf,
}

impl ManifestFiles {
    pub(crate) fn new(meta_dir: &Path) -> Self {
        ManifestFiles {
            snapshot: meta_dir.join("manifest.json"),
            journal: meta_dir.join("journal.jsonl"),
        }
    }

    /// The snapshot alone: what readers use (they never read the journal,
    /// which only the lock holder writes).
    pub(crate) fn load_snapshot(&self) -> CacheResult<Manifest> {
        let bytes = match fs::read(&self.snapshot) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    version: VERSION,
                    ..Manifest::default()
                });
            }
            Err(e) => return Err(CacheError::io("reading", &self.snapshot, e)),
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| CacheError::Manifest {
                path: self.snapshot.clone(),
                reason: e.to_string(),
            })?;
        if manifest.version != VERSION {
            return Err(CacheError::Manifest {
                path: self.snapshot.clone(),
                reason: format!(
                    "version {} (this build reads version {VERSION})",
                    manifest.version
                ),
            });
        }
        Ok(manifest)
    }

    /// The snapshot with the journal replayed: for the lock holder.
    pub(crate) fn load(&self) -> CacheResult<Manifest> {
        let mut manifest = self.load_snapshot()?;
        let file = match File::open(&self.journal) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(manifest),
            Err(e) => return Err(CacheError::io("reading", &self.journal, e)),
        };
        for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.map_err(|e| CacheError::io("reading", &self.journal, e))?;
            match serde_json::from_slice::<Op>(&line) {
                Ok(op) => manifest.apply(op),
                Err(e) => {
                    tracing::warn!(
                        journal = %self.journal.display(),
                        line = n + 1,
                        error = %e,
                        "ignoring the rest of the cache journal (torn by a killed process)"
                    );
                    break;
                }
            }
        }
        Ok(manifest)
    }

    /// Opens the journal for appending.
    pub(crate) fn journal(&self) -> CacheResult<Journal> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.journal)
            .map_err(|e| CacheError::io("opening", &self.journal, e))?;
        let pending = file
            .metadata()
            .map_err(|e| CacheError::io("inspecting", &self.journal, e))?
            .len()
            > 0;
        Ok(Journal {
            file,
            pending,
            path: self.journal.clone(),
        })
    }

    /// Folds the state into a new snapshot and empties the journal.
    pub(crate) fn compact(&self, manifest: &Manifest) -> CacheResult<()> {
        let mut m = manifest.clone();
        m.version = VERSION;
        let bytes = serde_json::to_vec(&m).map_err(|e| CacheError::Manifest {
            path: self.snapshot.clone(),
            reason: format!("cannot serialize: {e}"),
        })?;
        write_atomic(&self.snapshot, &bytes)?;
        match OpenOptions::new().write(true).open(&self.journal) {
            Ok(f) => f
                .set_len(0)
                .map_err(|e| CacheError::io("emptying", &self.journal, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CacheError::io("opening", &self.journal, e)),
        }
    }
}

/// The journal, open for appending.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    /// True when the journal holds operations not folded into the snapshot.
    pending: bool,
    path: PathBuf,
}

impl Journal {
    /// Appends one operation as one write of one line.
    pub(crate) fn append(&mut self, op: &Op) -> CacheResult<()> {
        let mut line = serde_json::to_vec(op).map_err(|e| CacheError::Manifest {
            path: self.path.clone(),
            reason: format!("cannot serialize: {e}"),
        })?;
        line.push(b'\n');
        self.pending = true;
        self.file
            .write_all(&line)
            .map_err(|e| CacheError::io("appending to", &self.path, e))
    }

    /// True when the journal holds operations not folded into the snapshot
    /// (appended now, or left by a process that did not finish).
    pub(crate) fn pending(&self) -> bool {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u64) -> ObjectEntry {
        ObjectEntry {
            size,
            etag: format!("etag{size}"),
            remote_checksum: None,
            crc32c: "AAAAAA==".into(),
            mtime_ns: 1,
            fetched_at_ms: 2,
        }
    }

    #[test]
    fn journal_replays_over_the_snapshot_and_stops_at_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let files = ManifestFiles::new(dir.path());
        assert_eq!(files.load().unwrap().objects.len(), 0);

        let mut base = Manifest::default();
        base.apply(Op::Put {
            id: "b/a".into(),
            entry: entry(1),
        });
        files.compact(&base).unwrap();

        let mut j = files.journal().unwrap();
        j.append(&Op::Put {
            id: "b/c".into(),
            entry: entry(3),
        })
        .unwrap();
        j.append(&Op::Remove { id: "b/a".into() }).unwrap();
        drop(j);
        // A torn tail, as a kill in the middle of a write leaves it.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("journal.jsonl"))
            .unwrap();
        f.write_all(br#"{"op":"put","id":"b/d","ent"#).unwrap();

        let m = files.load().unwrap();
        assert_eq!(m.objects.keys().collect::<Vec<_>>(), ["b/c"]);
        // Readers see the snapshot only.
        assert_eq!(
            files
                .load_snapshot()
                .unwrap()
                .objects
                .keys()
                .collect::<Vec<_>>(),
            ["b/a"]
        );

        // Compaction folds the journal in; replaying the old journal again
        // (a kill between the rename and the truncation) changes nothing.
        let journal = fs::read(dir.path().join("journal.jsonl")).unwrap();
        files.compact(&m).unwrap();
        fs::write(dir.path().join("journal.jsonl"), journal).unwrap();
        assert_eq!(files.load().unwrap().objects, m.objects);
    }

    #[test]
    fn objects_under_and_covering_prefix() {
        let mut m2 = Manifest::default();
        for id in ["bkt/x/1", "bkt/x/y/2", "bkt/xz/3", "ckt/x/4"] {
            m2.apply(Op::Put {
                id: id.into(),
                entry: entry(1),
            });
        }
        let x = S3Prefix::parse("s3://bkt/x").unwrap();
        assert_eq!(
            m2.objects_under(&x)
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["bkt/x/1", "bkt/x/y/2"]
        );
        let entry = PrefixEntry {
            synced_at_ms: 1,
            event_time_from_ms: None,
            event_time_to_ms: None,
        };
        m2.apply(Op::Prefix {
            uri: "s3://bkt/".into(),
            entry: entry.clone(),
        });
        m2.apply(Op::Prefix {
            uri: "s3://bkt/x/".into(),
            entry,
        });
        let y = S3Prefix::parse("s3://bkt/x/y").unwrap();
        assert_eq!(m2.covering_prefix(&y).unwrap().0.to_string(), "s3://bkt/x/");
        assert!(
            m2.covering_prefix(&S3Prefix::parse("s3://ckt/x").unwrap())
                .is_none()
        );
    }
}
