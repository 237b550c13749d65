//! The feature side of a native point-in-time join: one joined group's
//! offline rows reduced to what a match needs, indexed by record.
//!
//! 1. **Keys**: the five key columns (identifier, event time, `write_time`,
//!    `api_invocation_time`, `is_deleted`) of every row group are read in
//!    parallel, `as_of` applied, identifiers interned to dense numbers.
//! 2. **Reduce**: the rows are sorted by (record, event time,
//!    `api_invocation_time`, `write_time`, `is_deleted`), in one shard per
//!    worker, and each record's run is reduced by the semantics' steps 2
//!    and 3 (duplicates collapsed, rows not newer than the latest delete
//!    marker hidden) to one candidate per event time: the one a match at
//!    that time would pick. What is left is a sorted run of event times
//!    per record.
//! 3. **Features**: only the surviving rows' output features are read, with
//!    Parquet row selections, and kept as Arrow arrays in memory.
//!
//! Cost: O(m log m) for m feature rows, whatever the number of records or
//! the length of their histories. Memory: about 48 bytes per feature row
//! while reducing, then 16 bytes per surviving (record, event time) plus
//! the surviving rows' features.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use hashbrown::HashMap;
use parquet::arrow::arrow_reader::RowSelection;

use crate::columns::{Ids, NULL, Versions, event_times};
use crate::error::{Error, Result};
use crate::read::{OpenFile, Unit, input};

/// A matched row that is a delete marker (no match), in [`Index::slot`].
pub(super) const DELETED: u32 = u32::MAX;

/// What the index needs to know of the dataset and the engine.
#[derive(Debug, Clone)]
pub(super) struct IndexSpec {
    /// The key columns as the table declares them: identifier, event time,
    /// `write_time`, `api_invocation_time`, `is_deleted`.
    pub(super) keys: SchemaRef,
    /// The output features as the table declares them.
    pub(super) features: SchemaRef,
    /// Only rows written at or before this (ms since the epoch).
    pub(super) as_of: Option<i64>,
    /// Collapse rows sharing a record and event time (step 2).
    pub(super) dedupe: bool,
    /// Hide rows not newer than the record's latest delete marker (step 3).
    pub(super) hide_deleted: bool,
    /// Threads.
    pub(super) workers: usize,
    /// Rows per batch read.
    pub(super) batch_size: usize,
}

/// One group's candidate rows per record, sorted by event time.
#[derive(Debug)]
pub(super) struct Index {
    /// Record identifier to dense record number.
    ids: Numbering,
    /// Per record number, its candidates in `times` and `slot`.
    ranges: Vec<Range<u32>>,
    /// Candidates' event times (ms), sorted within each record's range.
    times: Vec<i64>,
    /// Candidates' rows in `features`, or [`DELETED`] (a delete marker, or
    /// a candidate no entity row matches).
    slot: Vec<u32>,
    /// The matched rows' output features, one array per feature.
    pub(super) features: Vec<ArrayRef>,
    /// Until the features are read: where each candidate is.
    pending: Option<Pending>,
}

/// What reading the features needs.
#[derive(Debug)]
struct Pending {
    files: Vec<OpenFile>,
    units: Vec<Unit>,
    /// Each candidate's location, [`NO_LOC`] for a delete marker.
    locs: Vec<u64>,
    spec: IndexSpec,
}

/// A row of pass 1: its ordering key and where it is.
#[derive(Debug, Clone, Copy)]
struct Entry {
    record: u32,
    /// 0 null, 1 false, 2 true.
    deleted: u8,
    event_time: i64,
    api: i64,
    write: i64,
    /// `file << 32 | row in file`.
    loc: u64,
}

impl Entry {
    /// Oldest first; on a full tie the later location first, so that the
    /// last of a run is the earliest row (deterministic choices).
    fn order(&self) -> (u32, i64, i64, i64, u8, u64) {
        (
            self.record,
            self.event_time,
            self.api,
            self.write,
            self.deleted,
            u64::MAX - self.loc,
        )
    }

    fn version(&self) -> (i64, i64, i64) {
        (self.event_time, self.api, self.write)
    }
}

impl Index {
    /// Reads and reduces the key columns of `files` (blocking; uses
    /// `spec.workers` threads); the features follow with
    /// [`Self::read_features`].
    pub(super) fn keys(files: Vec<OpenFile>, spec: IndexSpec) -> Result<Self> {
        let units: Vec<Unit> = files
            .iter()
            .enumerate()
            .flat_map(|(f, file)| file.units(u32::try_from(f).unwrap_or(u32::MAX)))
            .collect();
        let (ids, entries) = read_keys(&files, &units, &spec)?;
        let records = ids.len();
        let (ranges, times, locs) = reduce(entries, records, &spec);
        Ok(Self {
            ids,
            ranges,
            times,
            slot: Vec::new(),
            features: Vec::new(),
            pending: Some(Pending {
                files,
                units,
                locs,
                spec,
            }),
        })
    }

    /// How many candidates the index holds.
    pub(super) fn candidates(&self) -> usize {
        self.times.len()
    }

    /// The candidate an entity row of identifier `key` at time `t` matches:
    /// the greatest event time `<= t` (and `>= t - max_age`), as its
    /// position; `None` when there is none or it is too old. The position
    /// may be a delete marker's.
    pub(super) fn position(&self, key: &[u8], t: i64, max_age: Option<i64>) -> Option<usize> {
        let record = *self.ids.get(key)?;
        let range = self.ranges[record as usize].clone();
        let times = &self.times[range.start as usize..range.end as usize];
        let at = times.partition_point(|&et| et <= t).checked_sub(1)?;
        if max_age.is_some_and(|age| times[at] < t.saturating_sub(age)) {
            return None;
        }
        Some(range.start as usize + at)
    }

    /// Reads the output features of the candidates marked in `needed` (of
    /// every candidate when `None`), with row selections (blocking).
    pub(super) fn read_features(&mut self, needed: Option<&[bool]>) -> Result<()> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let locs: Vec<u64> = match needed {
            Some(needed) => p
                .locs
                .iter()
                .zip(needed)
                .map(|(&l, &n)| if n { l } else { NO_LOC })
                .collect(),
            None => p.locs,
        };
        let (slot, features) = read_features(&p.files, &p.units, &locs, &p.spec)?;
        self.slot = slot;
        self.features = features;
        Ok(())
    }

    /// The matched row in [`Self::features`] of an entity row (see
    /// [`Self::position`]); `None` for no match, or a delete marker.
    pub(super) fn lookup(&self, key: &[u8], t: i64, max_age: Option<i64>) -> Option<u32> {
        let slot = self.slot[self.position(key, t, max_age)?];
        (slot != DELETED).then_some(slot)
    }
}

/// Record identifiers (as [`Ids::key`] bytes) numbered densely.
type Numbering = HashMap<Box<[u8]>, u32>;

/// Shards the rows are reduced in (records split by a hash of their key).
const SHARDS: usize = 16;

/// Each shard's rows, one list per worker: `[shard][worker]`.
type Sharded = Vec<Vec<Vec<Entry>>>;

/// Pass 1: every row group's key columns, in parallel; identifiers interned.
/// Returns the numbering and the rows by shard, as the workers read them
/// (never copied into one list: the reduce merges them per record).
fn read_keys(files: &[OpenFile], units: &[Unit], spec: &IndexSpec) -> Result<(Numbering, Sharded)> {
    let next = AtomicUsize::new(0);
    let locals: Vec<Result<(Numbering, Vec<Vec<Entry>>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.workers.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut ids = HashMap::new();
                    let mut entries = vec![Vec::new(); SHARDS];
                    while let Some(unit) = units.get(next.fetch_add(1, Ordering::Relaxed)) {
                        read_unit(files, unit, spec, &mut ids, &mut entries)?;
                    }
                    Ok((ids, entries))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    // One numbering of the identifiers: the workers' merged.
    let mut ids = Numbering::new();
    let mut sharded: Sharded = (0..SHARDS).map(|_| Vec::new()).collect();
    for local in locals {
        let (local_ids, entries) = local?;
        let mut to_global = vec![0u32; local_ids.len()];
        for (key, local) in local_ids {
            let n = u32::try_from(ids.len()).map_err(|_| too_many())?;
            to_global[local as usize] = *ids.entry(key).or_insert(n);
        }
        for (shard, mut list) in entries.into_iter().enumerate() {
            for e in &mut list {
                e.record = to_global[e.record as usize];
            }
            sharded[shard].push(list);
        }
    }
    Ok((ids, sharded))
}

/// The shard of an identifier: the same in every worker.
fn shard_of(key: &[u8]) -> usize {
    // FNV-1a: a fixed hash, so every worker puts a record in one shard.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h % SHARDS as u64) as usize
}

fn too_many() -> Error {
    Error::InvalidDataset("a point-in-time join over more than 2^32 records or rows".into())
}

/// Pass 1 over one row group.
fn read_unit(
    files: &[OpenFile],
    unit: &Unit,
    spec: &IndexSpec,
    ids: &mut Numbering,
    entries: &mut [Vec<Entry>],
) -> Result<()> {
    let file = &files[unit.file as usize];
    let mut first = unit.first_row;
    for batch in file.reader(unit.row_group, &spec.keys, None, spec.batch_size)? {
        let batch = batch?;
        key_rows(file, unit, first, &batch, spec, ids, entries)?;
        first += batch.num_rows();
    }
    Ok(())
}

/// The entries of one batch of key columns (file rows from `first`).
fn key_rows(
    file: &OpenFile,
    unit: &Unit,
    first: usize,
    batch: &RecordBatch,
    spec: &IndexSpec,
    ids: &mut Numbering,
    entries: &mut [Vec<Entry>],
) -> Result<()> {
    let keys = Ids::new(batch.column(0));
    let et_name = spec.keys.field(1).name();
    let times = event_times(batch.column(1), et_name).map_err(|(i, reason)| {
        input(
            &file.path,
            format!(
                "row {} (row group {}), column `{et_name}`: {reason}",
                first + i,
                unit.row_group
            ),
        )
    })?;
    let versions = Versions::new(batch);
    let mut scratch = [0u8; 8];
    for (i, &event_time) in times.iter().enumerate() {
        let wt = versions.write(i);
        // A row without an event time matches no entity time (as in SQL).
        if event_time == NULL || spec.as_of.is_some_and(|t| wt == NULL || wt > t) {
            continue;
        }
        let Some(key) = keys.key(i, &mut scratch) else {
            continue;
        };
        let record = match ids.get(key) {
            Some(&n) => n,
            None => {
                let n = u32::try_from(ids.len()).map_err(|_| too_many())?;
                ids.insert(key.into(), n);
                n
            }
        };
        let row = u64::try_from(first + i).map_err(|_| too_many())?;
        entries[shard_of(key)].push(Entry {
            record,
            deleted: versions.deleted(i),
            event_time,
            api: versions.api(i),
            write: wt,
            loc: (u64::from(unit.file) << 32) | row,
        });
    }
    Ok(())
}

/// A location that is a delete marker's (no row to read).
const NO_LOC: u64 = u64::MAX;

/// Candidates as one worker reduces them: event times and locations (or
/// [`NO_LOC`]), and each record's run of them.
#[derive(Debug, Default)]
struct Reduced {
    times: Vec<i64>,
    locs: Vec<u64>,
    /// (record, first candidate, end).
    runs: Vec<(u32, u32, u32)>,
}

/// Step 2 and 3 per record, shards in parallel: per record number its range
/// in the candidates, the candidates' event times and their locations
/// ([`NO_LOC`] for a delete marker). The workers' candidates are appended,
/// not copied through an intermediate list.
fn reduce(
    sharded: Sharded,
    records: usize,
    spec: &IndexSpec,
) -> (Vec<Range<u32>>, Vec<i64>, Vec<u64>) {
    let shards: Vec<Mutex<Vec<Vec<Entry>>>> = sharded.into_iter().map(Mutex::new).collect();
    let next = AtomicUsize::new(0);
    let reduced: Vec<Reduced> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.workers.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Reduced::default();
                    while let Some(shard) = shards.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let lists =
                            std::mem::take(&mut *shard.lock().unwrap_or_else(|p| p.into_inner()));
                        reduce_shard(lists, spec, &mut out);
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut ranges = vec![0..0; records];
    let mut times: Vec<i64> = Vec::new();
    let mut locs: Vec<u64> = Vec::new();
    for mut part in reduced {
        let offset = times.len() as u32;
        for &(record, start, end) in &part.runs {
            ranges[record as usize] = offset + start..offset + end;
        }
        if times.is_empty() {
            times = part.times;
            locs = part.locs;
        } else {
            times.append(&mut part.times);
            locs.append(&mut part.locs);
        }
    }
    (ranges, times, locs)
}

/// One shard's rows (a list per worker) reduced record by record: each list
/// sorted in place, then each record's runs merged (one record's rows held
/// twice at most, never the shard's).
fn reduce_shard(mut lists: Vec<Vec<Entry>>, spec: &IndexSpec, out: &mut Reduced) {
    for list in &mut lists {
        list.sort_unstable_by_key(Entry::order);
    }
    lists.retain(|l| !l.is_empty());
    let mut live = Vec::new();
    if let [list] = lists.as_slice() {
        for run in list.chunk_by(|a, b| a.record == b.record) {
            candidates(run, spec, &mut live, out);
        }
        return;
    }
    let mut at = vec![0usize; lists.len()];
    let mut merged = Vec::new();
    while let Some(record) = lists
        .iter()
        .zip(&at)
        .filter_map(|(l, &i)| l.get(i))
        .map(|e| e.record)
        .min()
    {
        merged.clear();
        for (list, i) in lists.iter().zip(at.iter_mut()) {
            let start = *i;
            while list.get(*i).is_some_and(|e| e.record == record) {
                *i += 1;
            }
            merged.extend_from_slice(&list[start..*i]);
        }
        merged.sort_unstable_by_key(Entry::order);
        candidates(&merged, spec, &mut live, out);
    }
}

/// One record's sorted rows reduced to one candidate per event time (pushed
/// to `out` as (record, event time, location or `None` for a marker)).
fn candidates(run: &[Entry], spec: &IndexSpec, live: &mut Vec<Entry>, out: &mut Reduced) {
    live.clear();
    if spec.dedupe {
        // Step 2: the newest row of each event time.
        live.extend(
            run.chunk_by(|a, b| a.event_time == b.event_time)
                .filter_map(|same| same.last().copied()),
        );
    } else {
        live.extend_from_slice(run);
    }
    let mut from = 0;
    if spec.hide_deleted
        && let Some(m) = live.iter().rposition(|e| e.deleted == 2)
    {
        // Step 3: the latest marker hides itself and every row not newer.
        let marker = live[m].version();
        from = live.partition_point(|e| e.version() <= marker);
    }
    let start = out.times.len() as u32;
    for same in live[from..].chunk_by(|a, b| a.event_time == b.event_time) {
        let best = same[same.len() - 1];
        out.times.push(best.event_time);
        out.locs
            .push(if best.deleted == 2 { NO_LOC } else { best.loc });
    }
    let end = out.times.len() as u32;
    if end > start {
        out.runs.push((run[0].record, start, end));
    }
}

/// Pass 3: the output features of the rows at `locs` (in any order), read
/// with row selections; returns each location's row in the arrays.
fn read_features(
    files: &[OpenFile],
    units: &[Unit],
    locs: &[u64],
    spec: &IndexSpec,
) -> Result<(Vec<u32>, Vec<ArrayRef>)> {
    let mut order: Vec<(u64, u32)> = locs
        .iter()
        .enumerate()
        .filter(|(_, l)| **l != NO_LOC)
        .map(|(i, &l)| (l, i as u32))
        .collect();
    order.sort_unstable();
    let mut slot = vec![DELETED; locs.len()];
    for (dense, &(_, i)) in order.iter().enumerate() {
        slot[i as usize] = u32::try_from(dense).map_err(|_| too_many())?;
    }
    if spec.features.fields().is_empty() {
        return Ok((slot, Vec::new()));
    }
    let jobs = row_jobs(units, &order);
    let next = AtomicUsize::new(0);
    let done: Vec<Mutex<Vec<RecordBatch>>> = jobs.iter().map(|_| Mutex::default()).collect();
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.workers.max(1))
            .map(|_| {
                s.spawn(|| {
                    while let Some(i) =
                        Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&i| i < jobs.len())
                    {
                        let (unit, ranges) = &jobs[i];
                        let file = &files[unit.file as usize];
                        let selection = RowSelection::from_consecutive_ranges(
                            ranges.iter().cloned(),
                            unit.rows,
                        );
                        let reader = file.reader(
                            unit.row_group,
                            &spec.features,
                            Some(selection),
                            spec.batch_size,
                        )?;
                        let batches = reader.collect::<Result<Vec<_>>>()?;
                        *done[i].lock().unwrap_or_else(|p| p.into_inner()) = batches;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.into_iter().collect::<Result<()>>()?;
    let batches: Vec<RecordBatch> = done
        .into_iter()
        .flat_map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect();
    let all = arrow_select::concat::concat_batches(&spec.features, &batches)
        .map_err(|e| Error::InvalidDataset(format!("gathering joined features: {e}")))?;
    debug_assert_eq!(all.num_rows(), order.len());
    Ok((slot, all.columns().to_vec()))
}

/// The row groups holding the sorted locations, with their row ranges.
fn row_jobs(units: &[Unit], order: &[(u64, u32)]) -> Vec<(Unit, Vec<Range<usize>>)> {
    let mut jobs = Vec::new();
    let mut at = 0;
    for unit in units {
        let begin = (u64::from(unit.file) << 32) | unit.first_row as u64;
        let end = begin + unit.rows as u64;
        let mut ranges: Vec<Range<usize>> = Vec::new();
        while let Some(&(loc, _)) = order.get(at).filter(|(l, _)| *l >= begin && *l < end) {
            let local = (loc - begin) as usize;
            match ranges.last_mut() {
                Some(last) if last.end == local => last.end += 1,
                _ => ranges.push(local..local + 1),
            }
            at += 1;
        }
        if !ranges.is_empty() {
            jobs.push((*unit, ranges));
        }
    }
    jobs
}
