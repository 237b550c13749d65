//! The checkpoint: which rows of which file the sink has acknowledged.
//!
//! After every batch the sink acknowledges, the ingest records, per source
//! file, the last row done (written or reported as failed) and the totals
//! so far, and the length of the failures file (synced first). The file is
//! JSON, replaced atomically: written to `<path>.tmp`, fsynced, renamed
//! over `<path>`, and the directory fsynced. A crash leaves either the old
//! checkpoint or the new one, never a torn one.
//!
//! A run with `resume` skips, in each file, the rows the checkpoint covers
//! and whole files it marks complete, cuts the failures file back to the
//! recorded length, and adds its counts to the recorded totals. A batch the
//! sink acknowledged just before a crash, but whose checkpoint was not yet
//! written, is sent again, with the same key (the checkpoint's
//! `ingest_id`, the file and the batch's last row): a sink that records
//! keys with the rows (the embedded store does) acknowledges it without
//! writing it twice. A sink that cannot (SageMaker) writes it again: the
//! online store keeps the latest event time, so that is harmless online;
//! offline those rows appear twice (at most one batch; latest-per-record
//! reads collapse them).
//! The checkpoint remembers each file's size and modification time, and
//! refuses to resume over a file that changed.
//!
//! A stream of batches ([`crate::Ingest::run_batches`]) is recorded by its
//! name, in `streams`, the same way: the rows of the stream done, and
//! whether it ended. Nothing can tell whether a stream replayed under the
//! same name holds the same rows: the caller must replay the same stream
//! (the same rows in the same order) for a resume to skip exactly the
//! rows that were done.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::report::Counts;
use crate::source::{Input, SourceFile};

const VERSION: u32 = 1;

/// Progress of one source file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProgress {
    /// Rows `1..=rows_done` are done (written or reported as failed).
    pub rows_done: u64,
    /// The file was read to its end.
    pub complete: bool,
    /// Its size when it was read.
    pub size: u64,
    /// Its modification time (milliseconds since the epoch) when it was read.
    pub modified_ms: Option<i64>,
}

impl FileProgress {
    fn of(file: &SourceFile) -> Self {
        FileProgress {
            rows_done: 0,
            complete: false,
            size: file.size,
            modified_ms: modified_ms(file),
        }
    }
}

fn modified_ms(file: &SourceFile) -> Option<i64> {
    let d = file.modified?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

/// The checkpoint of an ingest (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The format version.
    pub version: u32,
    /// A random id of the ingest, the same in every resumed run: the
    /// prefix of the keys its batches are written with.
    #[serde(default)]
    pub ingest_id: Option<String>,
    /// The feature group ingested into.
    pub group: String,
    /// The shard `(index, count)`, if sharded.
    pub shard: Option<(u32, u32)>,
    /// Progress per source file, by path.
    pub files: BTreeMap<String, FileProgress>,
    /// Progress per stream of batches, by name (`size` 0 and no
    /// modification time: a stream has neither).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, FileProgress>,
    /// Counts of every run so far.
    pub totals: Counts,
    /// The length of the failures file covering exactly the failures counted.
    pub failures_file_len: Option<u64>,
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new(group: &str, shard: Option<(u32, u32)>) -> Self {
        Self {
            version: VERSION,
            ingest_id: Some(new_ingest_id()),
            group: group.to_owned(),
            shard,
            files: BTreeMap::new(),
            streams: BTreeMap::new(),
            totals: Counts::default(),
            failures_file_len: None,
        }
    }

    /// Reads the checkpoint at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path)(e)),
        };
        let cp: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("not a valid checkpoint: {e}"),
        })?;
        if cp.version != VERSION {
            return Err(Error::Checkpoint {
                path: path.to_path_buf(),
                reason: format!("version {} (this library writes {VERSION})", cp.version),
            });
        }
        Ok(Some(cp))
    }

    /// Writes the checkpoint to `path` atomically (see the module docs).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(Error::io(&tmp))?;
        f.write_all(&json).map_err(Error::io(&tmp))?;
        f.sync_all().map_err(Error::io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(Error::io(path))?;
        sync_dir(path)
    }

    /// Checks that this checkpoint was made by the same ingest.
    pub(crate) fn check(
        &self,
        path: &Path,
        group: &str,
        shard: Option<(u32, u32)>,
        files: &[SourceFile],
    ) -> Result<()> {
        let refuse = |reason: String| Error::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        if self.group != group {
            return Err(refuse(format!(
                "made for feature group {:?}, not {group:?}",
                self.group
            )));
        }
        if self.shard != shard {
            return Err(refuse(format!(
                "made for shard {:?}, not {shard:?}",
                self.shard
            )));
        }
        for file in files {
            let Some(p) = self.files.get(&key(file)) else {
                continue;
            };
            let now = FileProgress::of(file);
            if (p.rows_done > 0 || p.complete)
                && (p.size != now.size || p.modified_ms != now.modified_ms)
            {
                return Err(refuse(format!(
                    "{} changed since it was checkpointed (size {} -> {}); \
                     start over without resume",
                    file.path.display(),
                    p.size,
                    now.size
                )));
            }
        }
        Ok(())
    }

    /// The key of a batch of `input` ending at `last_row`: the same in
    /// every run of this ingest.
    pub(crate) fn batch_key(&mut self, input: &Input, last_row: u64) -> String {
        let id = self.ingest_id.get_or_insert_with(new_ingest_id);
        let source = match input {
            Input::File(file) => key(file),
            // Not a path a file can have: a stream never shares a file's keys.
            Input::Stream(name) => format!("stream\0{name}"),
        };
        format!(
            "ingest/{id}/{:016x}/{last_row}",
            crate::shard::fnv1a(source.as_bytes())
        )
    }

    /// The prefix of every batch key of this ingest.
    pub(crate) fn key_prefix(&self) -> Option<String> {
        self.ingest_id.as_ref().map(|id| format!("ingest/{id}/"))
    }

    /// The progress of `file`.
    pub fn progress(&self, file: &SourceFile) -> Option<&FileProgress> {
        self.files.get(&key(file))
    }

    /// The progress of the stream of batches named `name`.
    pub fn stream_progress(&self, name: &str) -> Option<&FileProgress> {
        self.streams.get(name)
    }

    /// The progress of `input`, a file or a stream.
    pub(crate) fn progress_of(&self, input: &Input) -> Option<&FileProgress> {
        match input {
            Input::File(file) => self.progress(file),
            Input::Stream(name) => self.stream_progress(name),
        }
    }

    pub(crate) fn progress_mut(&mut self, input: &Input) -> &mut FileProgress {
        match input {
            Input::File(file) => self
                .files
                .entry(key(file))
                .or_insert_with(|| FileProgress::of(file)),
            Input::Stream(name) => self.streams.entry(name.clone()).or_default(),
        }
    }
}

/// A random ingest id (128 bits, hex).
fn new_ingest_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn key(file: &SourceFile) -> String {
    file.path.to_string_lossy().into_owned()
}

#[cfg(unix)]
fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> Result<()> {
    Ok(())
}
