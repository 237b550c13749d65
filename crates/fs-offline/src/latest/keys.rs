//! Pass 1: the winning row of every record identifier, read from the five
//! key columns only.
//!
//! Row groups are read in parallel; each row's identifier is hashed into one
//! of [`SHARDS`] locked hash tables holding, per identifier, the best
//! candidate so far (its ordering key and where the row is). Identifiers are
//! held in the slot (up to 16 bytes) or copied once into the shard's arena, so the tables hold no per-row
//! allocation. When the tables would outgrow the memory budget the pass
//! stops and starts again with the identifiers split by hash into twice as
//! many passes, each over the key columns again: memory stays bounded
//! whatever the number of records.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry as TableEntry;

use crate::columns::{Ids, NULL, Versions, event_times};
use crate::error::Result;
use crate::read::{OpenFile, Unit, input};

/// Shards of the identifier table (a power of two).
const SHARDS: usize = 64;

/// What pass 1 needs to know about the dataset.
#[derive(Debug, Clone)]
pub(super) struct KeySpec {
    /// The key columns as the table declares them: identifier, event time,
    /// `write_time`, `api_invocation_time`, `is_deleted`.
    pub(super) schema: SchemaRef,
    /// Only rows written at or before this (ms since the epoch).
    pub(super) as_of: Option<i64>,
    /// Only rows with an event time at or after this (ms).
    pub(super) from: Option<i64>,
    /// Only rows with an event time at or before this (ms).
    pub(super) to: Option<i64>,
    /// Keep a record whose latest row is a delete marker (as that row).
    pub(super) keep_deleted: bool,
    /// Bytes the identifier tables may use.
    pub(super) budget: usize,
    /// Threads reading row groups.
    pub(super) workers: usize,
    /// Rows per batch.
    pub(super) batch_size: usize,
}

/// A candidate row: its newest-first ordering key and where it is.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    event_time: i64,
    api: i64,
    write: i64,
    /// 0 null, 1 false, 2 true (`is_deleted DESC NULLS LAST`).
    deleted: u8,
    file: u32,
    row: u32,
}

impl Candidate {
    /// Whether `self` ranks before `other`: newer (event time, then
    /// `api_invocation_time`, then `write_time`), a delete marker on a tie,
    /// then the earlier file and row so that the choice is deterministic.
    fn beats(&self, other: &Candidate) -> bool {
        let a = (self.event_time, self.api, self.write, self.deleted);
        let b = (other.event_time, other.api, other.write, other.deleted);
        match a.cmp(&b) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => (self.file, self.row) < (other.file, other.row),
        }
    }
}

struct Slot {
    /// The key's first [`INLINE`] bytes, zero-padded: most identifiers fit,
    /// and then comparing keys touches neither the arena nor `memcmp`.
    head: u128,
    hash: u64,
    /// Where the whole key is in the arena (keys longer than [`INLINE`]).
    start: usize,
    len: u32,
    best: Candidate,
}

/// Key bytes held in the slot itself.
const INLINE: usize = 16;

/// The first [`INLINE`] bytes of `key`, zero-padded.
fn head(key: &[u8]) -> u128 {
    let mut bytes = [0u8; INLINE];
    let n = key.len().min(INLINE);
    bytes[..n].copy_from_slice(&key[..n]);
    u128::from_le_bytes(bytes)
}

#[derive(Default)]
struct Shard {
    table: HashTable<Slot>,
    arena: Vec<u8>,
}

impl Shard {
    /// Offers `candidate` for `key`; returns the bytes newly held.
    fn offer(&mut self, hash: u64, key: &[u8], candidate: Candidate) -> usize {
        let arena = &self.arena;
        let first = head(key);
        let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
        let entry = self.table.entry(
            hash,
            |s| {
                s.hash == hash
                    && s.head == first
                    && s.len == len
                    && (key.len() <= INLINE || &arena[s.start..s.start + key.len()] == key)
            },
            |s| s.hash,
        );
        match entry {
            TableEntry::Occupied(mut slot) => {
                if candidate.beats(&slot.get().best) {
                    slot.get_mut().best = candidate;
                }
                0
            }
            TableEntry::Vacant(vacant) => {
                let start = self.arena.len();
                let spilled = if key.len() > INLINE {
                    self.arena.extend_from_slice(key);
                    key.len()
                } else {
                    0
                };
                vacant.insert(Slot {
                    head: first,
                    hash,
                    start,
                    len,
                    best: candidate,
                });
                // The slot, its control byte, the table's growth slack and
                // any key bytes in the arena.
                2 * (size_of::<Slot>() + 1) + spilled
            }
        }
    }
}

/// The winning rows of every file (indices into `files`), each list sorted.
pub(super) fn winners(files: &[OpenFile], spec: &KeySpec) -> Result<Vec<Vec<u32>>> {
    let units: Vec<Unit> = files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.units(u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    // One hasher for every pass: which pass an identifier belongs to must
    // not change between passes.
    let hasher = hashbrown::DefaultHashBuilder::default();
    let mut passes = 1u32;
    loop {
        if let Some(out) = split_passes(files, &units, spec, &hasher, passes)? {
            return Ok(out);
        }
        passes = passes.saturating_mul(2);
        tracing::debug!(passes, "identifier tables over budget; splitting by hash");
    }
}

/// The winners from `passes` passes; `None` if one outgrew the budget.
fn split_passes(
    files: &[OpenFile],
    units: &[Unit],
    spec: &KeySpec,
    hasher: &hashbrown::DefaultHashBuilder,
    passes: u32,
) -> Result<Option<Vec<Vec<u32>>>> {
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); files.len()];
    for pass in 0..passes {
        let Some(shards) = run_pass(files, units, spec, hasher, pass, passes)? else {
            return Ok(None);
        };
        for shard in shards {
            for slot in shard.table {
                if spec.keep_deleted || slot.best.deleted != 2 {
                    out[slot.best.file as usize].push(slot.best.row);
                }
            }
        }
    }
    for rows in &mut out {
        rows.sort_unstable();
    }
    Ok(Some(out))
}

/// One pass over every unit's key columns, for identifiers whose hash falls
/// in `pass` of `passes`; `None` when the tables outgrew the budget.
fn run_pass(
    files: &[OpenFile],
    units: &[Unit],
    spec: &KeySpec,
    hasher: &hashbrown::DefaultHashBuilder,
    pass: u32,
    passes: u32,
) -> Result<Option<Vec<Shard>>> {
    let shards: Vec<Mutex<Shard>> = (0..SHARDS).map(|_| Mutex::default()).collect();
    let held = AtomicUsize::new(0);
    let over = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let ctx = PassContext {
        files,
        units,
        spec,
        pass,
        passes,
        shards: &shards,
        held: &held,
        over: &over,
        next: &next,
        hasher,
    };
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.workers.max(1))
            .map(|_| s.spawn(|| ctx.work()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.into_iter().collect::<Result<()>>()?;
    if over.load(Ordering::Relaxed) {
        return Ok(None);
    }
    Ok(Some(
        shards
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect(),
    ))
}

struct PassContext<'a> {
    files: &'a [OpenFile],
    units: &'a [Unit],
    spec: &'a KeySpec,
    pass: u32,
    passes: u32,
    shards: &'a [Mutex<Shard>],
    held: &'a AtomicUsize,
    over: &'a AtomicBool,
    next: &'a AtomicUsize,
    hasher: &'a hashbrown::DefaultHashBuilder,
}

impl PassContext<'_> {
    fn work(&self) -> Result<()> {
        let mut buckets: Vec<Vec<(u64, u32)>> = vec![Vec::new(); SHARDS];
        loop {
            if self.over.load(Ordering::Relaxed) {
                return Ok(());
            }
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(unit) = self.units.get(i) else {
                return Ok(());
            };
            let file = &self.files[unit.file as usize];
            let mut row = unit.first_row;
            let reader = file.reader(
                unit.row_group,
                &self.spec.schema,
                None,
                self.spec.batch_size,
            )?;
            for batch in reader {
                let batch = batch?;
                let n = batch.num_rows();
                self.batch(file, unit, row, &batch, &mut buckets)?;
                row += n;
                if self.over.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
        }
    }

    /// Offers the rows of one batch (file rows from `first`).
    fn batch(
        &self,
        file: &OpenFile,
        unit: &Unit,
        first: usize,
        batch: &RecordBatch,
        buckets: &mut [Vec<(u64, u32)>],
    ) -> Result<()> {
        let spec = self.spec;
        let ids = Ids::new(batch.column(0));
        let et_name = spec.schema.field(1).name();
        let event_times = event_times(batch.column(1), et_name).map_err(|(i, reason)| {
            input(
                &file.path,
                format!(
                    "row {} (row group {}), column `{}`: {reason}",
                    first + i,
                    unit.row_group,
                    et_name
                ),
            )
        })?;
        let versions = Versions::new(batch);
        let mut scratch = [0u8; 8];
        for (i, &et) in event_times.iter().enumerate() {
            let wt = versions.write(i);
            if let Some(as_of) = spec.as_of
                && (wt == NULL || wt > as_of)
            {
                continue;
            }
            if (spec.from.is_some() || spec.to.is_some())
                && (et == NULL
                    || spec.from.is_some_and(|f| et < f)
                    || spec.to.is_some_and(|t| et > t))
            {
                continue;
            }
            let Some(key) = ids.key(i, &mut scratch) else {
                continue;
            };
            let hash = self.hasher.hash_one(key);
            if self.passes > 1 && ((hash >> 38) as u32) % self.passes != self.pass {
                continue;
            }
            buckets[((hash >> 32) as usize) & (SHARDS - 1)].push((hash, i as u32));
        }
        for (s, bucket) in buckets.iter_mut().enumerate() {
            if bucket.is_empty() {
                continue;
            }
            let mut shard = self.shards[s]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut added = 0;
            for &(hash, i) in bucket.iter() {
                let i = i as usize;
                let key = ids.key(i, &mut scratch).expect("filtered above");
                let candidate = Candidate {
                    event_time: event_times[i],
                    api: versions.api(i),
                    write: versions.write(i),
                    deleted: versions.deleted(i),
                    file: unit.file,
                    row: u32::try_from(first + i).unwrap_or(u32::MAX),
                };
                added += shard.offer(hash, key, candidate);
            }
            drop(shard);
            bucket.clear();
            if added > 0 && self.held.fetch_add(added, Ordering::Relaxed) + added > spec.budget {
                self.over.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}
