//! A feature group's offline data on local disk.
//!
//! An [`OfflineTable`] is a [`FeatureGroup`] definition and the directory
//! holding its offline Parquet files in the Glue layout
//! (`year=YYYY/month=MM/day=DD/hour=HH/*.parquet`, see
//! [`fs_schema::layout`]): the `…/data` directory of an fs-local store, a
//! synced copy of an S3 prefix, or files written by Spark or the service.
//!
//! Files are read as [`OfflineTable::schema`]: the group's features with
//! its types, then `write_time` and `api_invocation_time` as UTC millisecond
//! timestamps and `is_deleted`. Files written by other tools may differ:
//! timestamps of any unit (or Parquet `INT96`) are converted to UTC
//! milliseconds, strings of any Arrow string type are read as `Utf8`, and a
//! feature missing from a file (one added to the group after the file was
//! written) reads as nulls. Every column is nullable for that reason.
//!
//! A listing never sees part of an fs-local flush: it is taken under a
//! shared lock of the directory's [`fs_schema::layout::PUBLISH_LOCK`],
//! which a flush holds exclusively while it renames its files into place.
//! A dataset lists all its tables once, together
//! ([`OfflineTable::list_together`]), so it reads every group as of the
//! same flushes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use fs_schema::{EventTime, FeatureGroup, arrow_field};

use crate::error::{Error, Result};
use crate::spec::{API_INVOCATION_TIME, IS_DELETED, WRITE_TIME};

/// A group's offline data in a local directory (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct OfflineTable {
    group: FeatureGroup,
    dir: PathBuf,
    /// The files as listed by [`OfflineTable::list_together`], which
    /// [`OfflineTable::files`] then filters instead of listing again.
    listed: Option<Arc<Vec<Listed>>>,
}

/// A listed file and the event-time range `[start, end)` of the narrowest
/// partition directory it is in (`None`: outside any).
#[derive(Debug, Clone)]
struct Listed {
    file: DataFile,
    range: Option<(i64, i64)>,
}

/// One Parquet file of an [`OfflineTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The event-time hour its partition covers, `[start, end)`; `None` for
    /// a file outside any `year=/month=/day=/hour=` directory.
    pub partition: Option<(EventTime, EventTime)>,
}

impl OfflineTable {
    /// The offline data of `group` in `data_dir`, the directory holding the
    /// `year=` partitions (for fs-local, `Store::offline_data_dir`).
    pub fn new(group: FeatureGroup, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            group,
            dir: data_dir.into(),
            listed: None,
        }
    }

    /// The offline data of `group` in the fs-local store directory
    /// `store_dir`, found by the layout
    /// (`offline/<account>/sagemaker/<region>/offline-store/<group>-<creation time>/data`)
    /// without opening the store, so it works while another process writes.
    /// A group deleted and created again has several such directories; the
    /// one with the latest creation time is taken.
    pub fn from_store_dir(store_dir: impl AsRef<Path>, group: FeatureGroup) -> Result<Self> {
        let root = store_dir.as_ref().join("offline");
        let prefix = format!("{}-", group.feature_group_name);
        let mut best: Option<(i64, PathBuf)> = None;
        for account in read_dir(&root)? {
            for region in read_dir(&account.join("sagemaker"))? {
                for dir in read_dir(&region.join("offline-store"))? {
                    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    let Some(created) = name
                        .strip_prefix(&prefix)
                        .and_then(|t| t.parse::<i64>().ok())
                    else {
                        continue;
                    };
                    if best.as_ref().is_none_or(|(b, _)| created > *b) {
                        best = Some((created, dir.join("data")));
                    }
                }
            }
        }
        let (_, dir) = best.ok_or_else(|| {
            Error::InvalidDataset(format!(
                "the store {} has no offline data directory for feature group `{}`",
                store_dir.as_ref().display(),
                group.feature_group_name
            ))
        })?;
        Ok(Self::new(group, dir))
    }

    /// The group.
    pub fn group(&self) -> &FeatureGroup {
        &self.group
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same directory read as another definition of the group (for
    /// instance one with features added since).
    pub fn with_group(mut self, group: FeatureGroup) -> Self {
        self.group = group;
        self
    }

    /// The schema rows are read as (see the [module docs](self)).
    pub fn schema(&self) -> SchemaRef {
        offline_read_schema(&self.group)
    }

    /// The Parquet files whose partition may hold event times in
    /// `[from, to]` (either end open), sorted by path. Partition directories
    /// outside the range are not descended into; files outside any
    /// partition are always listed. Hidden files (`.x`, such as temporary
    /// files of a writer) and `_x` files (`_SUCCESS`) are skipped.
    ///
    /// A table returned by [`Self::list_together`] answers from that
    /// listing; any other lists its directory now, under the shared publish
    /// lock (see the [module docs](self)).
    pub fn files(&self, from: Option<EventTime>, to: Option<EventTime>) -> Result<Vec<DataFile>> {
        let out: Vec<DataFile> = match &self.listed {
            Some(listed) => listed
                .iter()
                .filter(|l| l.range.is_none_or(|r| overlaps(r, from, to)))
                .map(|l| l.file.clone())
                .collect(),
            None => {
                let _lock = lock_shared(&self.dir)?;
                self.list(from, to)?.into_iter().map(|l| l.file).collect()
            }
        };
        tracing::debug!(
            group = %self.group.feature_group_name,
            dir = %self.dir.display(),
            files = out.len(),
            "listed offline files"
        );
        Ok(out)
    }

    /// The tables, each with its files listed now, all under the shared
    /// publish locks of their directories taken together (in path order,
    /// as a flush takes them): no flush is seen in part, in any of them.
    /// Their [`Self::files`] then filter that listing, so every read of one
    /// dataset sees the same files.
    ///
    /// A table listed already (returned by an earlier call) keeps its
    /// listing: a dataset whose parts list again (the native join builds
    /// its base group's rows as a dataset of their own) reads the files of
    /// the same moment in every group, not a newer flush in some of them.
    ///
    /// Cost: one directory walk per distinct directory not listed yet.
    pub fn list_together(tables: &[&OfflineTable]) -> Result<Vec<OfflineTable>> {
        let mut dirs: Vec<&Path> = tables
            .iter()
            .filter(|t| t.listed.is_none())
            .map(|t| t.dir.as_path())
            .collect();
        dirs.sort();
        dirs.dedup();
        let _locks = dirs
            .iter()
            .map(|d| lock_shared(d))
            .collect::<Result<Vec<_>>>()?;
        let mut listings: Vec<(&Path, Arc<Vec<Listed>>)> = Vec::with_capacity(dirs.len());
        let mut out = Vec::with_capacity(tables.len());
        for table in tables {
            if table.listed.is_some() {
                out.push((*table).clone());
                continue;
            }
            let listed = match listings.iter().find(|(d, _)| *d == table.dir) {
                Some((_, l)) => l.clone(),
                None => {
                    let l = Arc::new(table.list(None, None)?);
                    listings.push((&table.dir, l.clone()));
                    l
                }
            };
            out.push(OfflineTable {
                group: table.group.clone(),
                dir: table.dir.clone(),
                listed: Some(listed),
            });
        }
        Ok(out)
    }

    /// Walks the directory (no lock taken here).
    fn list(&self, from: Option<EventTime>, to: Option<EventTime>) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        if !self.dir.exists() {
            return Ok(out);
        }
        walk(&self.dir, PartitionBounds::default(), from, to, &mut out)?;
        out.sort_by(|a, b| a.file.path.cmp(&b.file.path));
        Ok(out)
    }
}

/// Takes the shared publish lock of `dir` (creating the lock file if the
/// directory exists without one, as one written by an older version
/// does); `None` when there is nothing to lock: no directory, or a lock
/// file that cannot be created (a read-only copy, which no flush writes).
fn lock_shared(dir: &Path) -> Result<Option<std::fs::File>> {
    let path = dir.join(fs_schema::layout::PUBLISH_LOCK);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !dir.is_dir() {
                return Ok(None);
            }
            match std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(_) => return Ok(None),
            }
        }
        Err(e) => return Err(io("opening the publish lock", &path)(e)),
    };
    file.lock_shared()
        .map_err(io("taking the shared publish lock", &path))?;
    Ok(Some(file))
}

/// A name a table skips, file or directory: hidden (`.x`, such as a
/// writer's temporary files and locks) or `_x` (`_SUCCESS`).
fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// A file name a table reads: a Parquet file's.
fn is_data_name(name: &str) -> bool {
    name.ends_with(".parquet")
}

/// Whether a table reads the file at `rel`, a `/`-separated path under its
/// directory: no segment is hidden and the name is a Parquet file's
/// (what projected reads of S3 keep, feature `s3`).
#[cfg(any(feature = "s3", test))]
pub(crate) fn reads(rel: &str) -> bool {
    let mut segments = rel.split('/').filter(|s| !s.is_empty()).peekable();
    let mut ok = segments.peek().is_some();
    while let Some(segment) = segments.next() {
        ok &= !is_hidden(segment);
        if segments.peek().is_none() {
            ok &= is_data_name(segment);
        }
    }
    ok
}

/// Whether the range `[start, end)` may hold event times in `[from, to]`.
fn overlaps((start, end): (i64, i64), from: Option<EventTime>, to: Option<EventTime>) -> bool {
    from.is_none_or(|f| f.as_millis() < end) && to.is_none_or(|t| t.as_millis() >= start)
}

/// The schema offline files of `group` are read as: its features (all
/// nullable), then `write_time` and `api_invocation_time` as nullable UTC
/// millisecond timestamps and a nullable `is_deleted`.
pub fn offline_read_schema(group: &FeatureGroup) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let mut fields: Vec<Field> = group
        .feature_definitions
        .iter()
        .map(|d| arrow_field(d, true))
        .collect();
    fields.push(Field::new(WRITE_TIME, ts.clone(), true));
    fields.push(Field::new(API_INVOCATION_TIME, ts, true));
    fields.push(Field::new(IS_DELETED, DataType::Boolean, true));
    Arc::new(Schema::new(fields))
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::LocalIo { what, path, source }
}

/// The subdirectories of `dir` (none when it does not exist).
fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
        let entry = entry.map_err(io("listing", dir))?;
        if entry.file_type().map_err(io("listing", dir))?.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// The partition keys seen on the way down.
#[derive(Debug, Clone, Copy, Default)]
struct PartitionBounds {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    hour: Option<u32>,
}

impl PartitionBounds {
    /// The event-time range `[start, end)` the keys so far cover, if they
    /// are a prefix of year/month/day/hour starting with the year.
    fn range(&self) -> Option<(i64, i64)> {
        const HOUR: i64 = 3_600_000;
        const DAY: i64 = 24 * HOUR;
        let year = i64::from(self.year?);
        let ms = |y: i64, m: u32, d: u32| days_from_civil(y, m, d) * DAY;
        Some(match (self.month, self.day, self.hour) {
            (None, _, _) => (ms(year, 1, 1), ms(year + 1, 1, 1)),
            (Some(m), day, hour) => {
                if !(1..=12).contains(&m) {
                    return None;
                }
                match (day, hour) {
                    (None, _) => {
                        let (ny, nm) = if m == 12 {
                            (year + 1, 1)
                        } else {
                            (year, m + 1)
                        };
                        (ms(year, m, 1), ms(ny, nm, 1))
                    }
                    (Some(d), None) if (1..=31).contains(&d) => {
                        let s = ms(year, m, d);
                        (s, s + DAY)
                    }
                    (Some(d), Some(h)) if (1..=31).contains(&d) && h < 24 => {
                        let s = ms(year, m, d) + i64::from(h) * HOUR;
                        (s, s + HOUR)
                    }
                    _ => return None,
                }
            }
        })
    }

    /// Adds a `key=value` directory; `None` if the name is not one.
    fn with(self, name: &str) -> Option<Self> {
        let (key, value) = name.split_once('=')?;
        let mut next = self;
        match key {
            "year" => next.year = Some(value.parse().ok()?),
            "month" => next.month = Some(value.parse().ok()?),
            "day" => next.day = Some(value.parse().ok()?),
            "hour" => next.hour = Some(value.parse().ok()?),
            _ => return None,
        }
        Some(next)
    }

    fn overlaps(&self, from: Option<EventTime>, to: Option<EventTime>) -> bool {
        self.range().is_none_or(|r| overlaps(r, from, to))
    }

    /// The range of the longest prefix of the keys that has one: the
    /// narrowest partition directory a file below them is in.
    fn narrowest_range(&self) -> Option<(i64, i64)> {
        let mut b = *self;
        loop {
            if let Some(r) = b.range() {
                return Some(r);
            }
            if b.hour.take().is_none() && b.day.take().is_none() && b.month.take().is_none() {
                return None;
            }
        }
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn walk(
    dir: &Path,
    bounds: PartitionBounds,
    from: Option<EventTime>,
    to: Option<EventTime>,
    out: &mut Vec<Listed>,
) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
        let entry = entry.map_err(io("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_hidden(name) {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(io("reading metadata of", &path))?;
        if meta.is_dir() {
            let inner = bounds.with(name).unwrap_or(bounds);
            if inner.overlaps(from, to) {
                walk(&path, inner, from, to, out)?;
            }
        } else if is_data_name(name) {
            let partition = match (bounds.hour, bounds.range()) {
                (Some(_), Some((s, e))) => Some((
                    EventTime::from_millis(s).unwrap_or(EventTime::MIN),
                    EventTime::from_millis(e).unwrap_or(EventTime::MAX),
                )),
                _ => None,
            };
            out.push(Listed {
                file: DataFile {
                    path,
                    size: meta.len(),
                    partition,
                },
                range: bounds.narrowest_range(),
            });
        }
    }
    Ok(())
}

/// The columns `names` of `group`'s [`offline_read_schema`], in that order
/// (what the native paths read); an unknown name is an error naming the
/// group.
pub(crate) fn read_columns(group: &FeatureGroup, names: &[String]) -> Result<SchemaRef> {
    let schema = offline_read_schema(group);
    let fields = names
        .iter()
        .map(|n| {
            schema.field_with_name(n).cloned().map_err(|_| {
                Error::InvalidDataset(format!(
                    "feature group `{}` has no column `{n}`",
                    group.feature_group_name
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The five key columns the native paths order rows by: identifier, event
/// time, `write_time`, `api_invocation_time`, `is_deleted`.
pub(crate) fn key_columns(group: &FeatureGroup) -> Result<SchemaRef> {
    read_columns(
        group,
        &[
            group.record_identifier_feature_name.clone(),
            group.event_time_feature_name.clone(),
            WRITE_TIME.into(),
            API_INVOCATION_TIME.into(),
            IS_DELETED.into(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_read_parquet_files_outside_hidden_directories() {
        assert!(reads("year=2024/month=05/f.parquet"));
        assert!(reads("f.parquet"));
        assert!(!reads("year=2024/.publish.lock"));
        assert!(!reads("year=2024/_SUCCESS"));
        assert!(!reads("_tmp/f.parquet"));
        assert!(!reads("year=2024/.f.parquet.1-0.fs-partial"));
        assert!(!reads("year=2024/notes.txt"));
        assert!(!reads(""));
    }
}
