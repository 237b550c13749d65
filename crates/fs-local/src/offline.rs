//! The offline store: the outbox flushed to Parquet in the SageMaker layout.
//!
//! A flush is idempotent. It first records in the database which outbox
//! rows it covers (`pending_flush_upto`), then writes one Parquet file per
//! group and event-time hour (to a temporary name, fsync, rename, fsync the
//! directory), then deletes those rows from the outbox. File names are
//! derived from the group, the partition and the covered range, so a flush
//! cut short by a crash is redone by the next one with the same rows into
//! the same files: nothing is lost and nothing is written twice.
//!
//! The flush is this bookkeeping; turning the rows into Parquet files is
//! [`parquet_files`], which imports nothing from here.

pub(crate) mod parquet_files;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, TryLockError};

use arrow_array::{RecordBatch, UInt32Array};
use chrono::Utc;
use fs_schema::{EventTime, layout};
use redb::{Database, ReadableDatabase, ReadableTable};

use crate::description::GroupDescription;
use crate::error::{Error, Result, db};
use crate::outbox::OUTBOX;
use crate::outbox::{BatchEntry, Entry, decode_entry};
use crate::store::{DATABASE_FILE, META, Store};
use parquet_files::{Job, Partition, Piece, Source, batch_piece, offline_schema, write_partitions};

/// `META` key: the last sequence number of a flush in progress.
const PENDING_FLUSH: &str = "pending_flush_upto";

/// What a flush wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Outbox rows moved to Parquet.
    pub rows: u64,
    /// The files written (absolute paths).
    pub files: Vec<PathBuf>,
}

/// FNV-1a: a hash that stays the same across processes and releases.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Milliseconds in an hour: the offline store partitions by event-time hour.
const HOUR_MS: i64 = 3_600_000;

/// What a flush needs of the store, shared with a background flush thread.
#[derive(Clone)]
pub(crate) struct Flusher {
    db: Arc<Database>,
    dir: PathBuf,
    groups: Arc<RwLock<HashMap<String, Arc<GroupDescription>>>>,
    outbox_rows: Arc<AtomicU64>,
    lock: Arc<Mutex<()>>,
}

impl Store {
    /// Moves every row of the offline outbox to Parquet files (see the
    /// module docs for why this is safe to interrupt).
    pub fn flush(&self) -> Result<FlushReport> {
        self.flusher().flush(true)
    }

    /// Writes the files of a flush but leaves the outbox as it is, as a
    /// crash right before the outbox trim would. For crash-safety tests.
    #[doc(hidden)]
    pub fn flush_files_only(&self) -> Result<FlushReport> {
        self.flusher().flush(false)
    }

    fn flusher(&self) -> Flusher {
        Flusher {
            db: self.db.clone(),
            dir: self.dir().to_path_buf(),
            groups: self.groups.clone(),
            outbox_rows: self.outbox_rows.clone(),
            lock: self.flush_lock.clone(),
        }
    }

    /// Flushes once the outbox has reached the threshold, on a background
    /// thread (one at a time) or, without `background_flush`, here unless
    /// another flush runs. A failure is logged: the rows stay in the outbox
    /// for the next flush, and the write that triggered it stands.
    pub(crate) fn flush_if_due(&self) {
        if self.outbox_rows.load(Ordering::SeqCst) < self.options().flush_threshold_rows {
            return;
        }
        let report = |r: Result<FlushReport>| {
            if let Err(e) = r {
                tracing::warn!(error = %e, "flushing the offline outbox failed; its rows wait for the next flush");
            }
        };
        if !self.options().background_flush {
            let flusher = self.flusher();
            let guard = match flusher.lock.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            report(flusher.flush_locked(true, &guard));
            return;
        }
        if self.flushing.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut background = self
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The previous flush thread has ended (or is ending): reap it.
        if let Some(done) = background.take() {
            let _ = done.join();
        }
        let (flusher, flushing) = (self.flusher(), self.flushing.clone());
        let spawned = std::thread::Builder::new()
            .name("fs-local-flush".into())
            .spawn(move || {
                report(flusher.flush(true));
                flushing.store(false, Ordering::SeqCst);
            });
        match spawned {
            Ok(handle) => *background = Some(handle),
            Err(e) => {
                self.flushing.store(false, Ordering::SeqCst);
                tracing::warn!(error = %e, "could not start a background flush; flushing here");
                report(self.flush());
            }
        }
    }
}

impl Flusher {
    fn flush(&self, trim: bool) -> Result<FlushReport> {
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.flush_locked(trim, &guard)
    }

    fn describe(&self, group: &str) -> Option<Arc<GroupDescription>> {
        self.groups
            .read()
            .expect("group cache lock")
            .get(group)
            .cloned()
    }

    /// A flush, with the flush lock held: the rows of a flush left pending
    /// by a crash first, if any, then (when trimming) every row that came
    /// after them.
    fn flush_locked(&self, trim: bool, locked: &MutexGuard<'_, ()>) -> Result<FlushReport> {
        let Some((upto, resumed)) = self.pending_flush()? else {
            return Ok(FlushReport::default());
        };
        let mut report = self.flush_upto(upto, trim, locked)?;
        if resumed && trim {
            // The pending flush covered only the rows up to the crash; the
            // outbox may hold rows written after it, by writers that went
            // on while it ran. One more flush moves those.
            let rest = self.flush_locked(trim, locked)?;
            report.rows += rest.rows;
            report.files.extend(rest.files);
        }
        Ok(report)
    }

    /// Moves the outbox rows up to sequence number `upto` to Parquet files,
    /// and then, when `trim`, deletes them from the outbox; with the flush
    /// lock held.
    fn flush_upto(
        &self,
        upto: u64,
        trim: bool,
        _locked: &MutexGuard<'_, ()>,
    ) -> Result<FlushReport> {
        let mut partitions: BTreeMap<(String, i64), Partition> = BTreeMap::new();
        let mut rows = 0u64;
        let write_time = Utc::now().timestamp_millis();
        let mut run = BatchRun::default();
        {
            let txn = self.db.begin_read().map_err(db("starting a read"))?;
            let outbox = txn.open_table(OUTBOX).map_err(db("reading the outbox"))?;
            for entry in outbox.range(..=upto).map_err(db("reading the outbox"))? {
                let (seq, bytes) = entry.map_err(db("reading the outbox"))?;
                match decode_entry(bytes.value())? {
                    Entry::Row(row) => {
                        run.finish(&mut partitions)?;
                        let hour = row.event_time_ms.div_euclid(HOUR_MS);
                        partitions
                            .entry((row.group.clone(), hour))
                            .or_default()
                            .push_row(row);
                        rows += 1;
                    }
                    Entry::Batch(entry) => {
                        rows += entry.batch.num_rows() as u64;
                        if run.group != entry.group || run.rows() >= MAX_RUN_ROWS {
                            run.finish(&mut partitions)?;
                            run.group.clone_from(&entry.group);
                            run.desc = self.describe(&entry.group);
                        }
                        let source = Source {
                            file: self.dir.join(DATABASE_FILE),
                            entry: format!("offline outbox entry {}", seq.value()),
                        };
                        run.push(&entry, &source, write_time)?;
                    }
                }
            }
            run.finish(&mut partitions)?;
        }
        let mut jobs = Vec::with_capacity(partitions.len());
        for ((group, hour), partition) in partitions {
            let Some(desc) = self.describe(&group) else {
                tracing::warn!(group, "dropping offline rows of a deleted feature group");
                continue;
            };
            let Some(rel) = &desc.offline_data_dir else {
                continue;
            };
            let partition_dir = layout::partition(EventTime::from_millis(hour * HOUR_MS)?);
            let data_dir = self.dir.join(rel);
            let dir = data_dir.join(&partition_dir);
            let suffix = format!(
                "{:016x}",
                stable_hash(&[
                    group.as_bytes(),
                    partition_dir.as_bytes(),
                    &upto.to_le_bytes()
                ])
            );
            let name = layout::file_name(EventTime::from_millis(partition.latest_ms)?, &suffix);
            jobs.push(Job {
                desc,
                data_dir,
                dir,
                name,
                partition,
            });
        }
        let files = write_partitions(jobs, write_time)?;
        if trim {
            let txn = self.db.begin_write().map_err(db("trimming the outbox"))?;
            {
                let mut outbox = txn.open_table(OUTBOX).map_err(db("trimming the outbox"))?;
                outbox
                    .retain_in(..=upto, |_, _| false)
                    .map_err(db("trimming the outbox"))?;
                let mut meta = txn.open_table(META).map_err(db("trimming the outbox"))?;
                meta.remove(PENDING_FLUSH)
                    .map_err(db("trimming the outbox"))?;
            }
            txn.commit().map_err(db("trimming the outbox"))?;
            self.outbox_rows.fetch_sub(rows, Ordering::SeqCst);
        }
        tracing::debug!(rows, files = files.len(), "flushed the offline outbox");
        Ok(FlushReport { rows, files })
    }

    /// The last outbox sequence number the current flush covers, and
    /// whether that is a flush left pending by a crash (or by
    /// [`Store::flush_files_only`]); else everything in the outbox now.
    fn pending_flush(&self) -> Result<Option<(u64, bool)>> {
        let txn = self.db.begin_write().map_err(db("starting a flush"))?;
        let upto = {
            let mut meta = txn.open_table(META).map_err(db("starting a flush"))?;
            let pending = meta
                .get(PENDING_FLUSH)
                .map_err(db("starting a flush"))?
                .map(|v| v.value());
            match pending {
                Some(p) => Some((p, true)),
                None => {
                    let outbox = txn.open_table(OUTBOX).map_err(db("starting a flush"))?;
                    let last = outbox
                        .last()
                        .map_err(db("starting a flush"))?
                        .map(|(k, _)| k.value());
                    if let Some(last) = last {
                        meta.insert(PENDING_FLUSH, last)
                            .map_err(db("starting a flush"))?;
                    }
                    last.map(|l| (l, false))
                }
            }
        };
        txn.commit().map_err(db("starting a flush"))?;
        Ok(upto)
    }
}

/// Rows of a batch entry run at most this long are split by hour at once.
const MAX_RUN_ROWS: usize = 1 << 20;

/// Consecutive batch entries of one group, each in the group's offline
/// schema, split by event-time hour together: one sort and one copy for
/// the run rather than one per entry and hour.
#[derive(Default)]
struct BatchRun {
    group: String,
    /// The group, or `None` when it was deleted (its rows are dropped).
    desc: Option<Arc<GroupDescription>>,
    batches: Vec<RecordBatch>,
    times: Vec<i64>,
}

impl BatchRun {
    fn rows(&self) -> usize {
        self.times.len()
    }

    fn push(&mut self, entry: &BatchEntry, source: &Source, write_time_ms: i64) -> Result<()> {
        let Some(desc) = &self.desc else {
            tracing::warn!(
                group = entry.group,
                "dropping offline rows of a deleted feature group"
            );
            return Ok(());
        };
        let spec = &desc.spec;
        let schema = offline_schema(spec);
        let features = entry.features();
        let api = entry.api_invocation_time_ms;
        self.batches.push(batch_piece(
            spec,
            &schema,
            &features,
            source,
            api,
            write_time_ms,
        )?);
        self.times.extend_from_slice(entry.event_times());
        Ok(())
    }

    /// Adds the run's rows to their partitions, keeping their order, and
    /// empties the run.
    fn finish(&mut self, partitions: &mut BTreeMap<(String, i64), Partition>) -> Result<()> {
        let batches = std::mem::take(&mut self.batches);
        let times = std::mem::take(&mut self.times);
        let (Some(first), Some(desc)) = (batches.first(), &self.desc) else {
            return Ok(());
        };
        let corrupt = |e: arrow_schema::ArrowError| Error::Corrupt {
            what: format!(
                "splitting offline outbox rows of feature group {:?} by hour: {e}",
                self.group
            ),
        };
        let all = if batches.len() == 1 {
            first.clone()
        } else {
            arrow_select::concat::concat_batches(&first.schema(), &batches).map_err(corrupt)?
        };
        let hours: Vec<i64> = times.iter().map(|t| t.div_euclid(HOUR_MS)).collect();
        let group = desc.spec.feature_group_name.clone();
        let mut add = |hour: i64, batch: RecordBatch, latest: i64| {
            let p = partitions.entry((group.clone(), hour)).or_default();
            p.note(latest);
            p.pieces.push(Piece::Ready(batch));
        };
        let first_hour = hours[0];
        if hours.iter().all(|&h| h == first_hour) {
            let latest = times.iter().copied().max().expect("not empty");
            add(first_hour, all, latest);
            return Ok(());
        }
        // Rows grouped by hour, in their order within each hour (a stable sort).
        let mut order: Vec<u32> = (0..hours.len() as u32).collect();
        order.sort_by_key(|&i| hours[i as usize]);
        let sorted = arrow_select::take::take_record_batch(&all, &UInt32Array::from(order.clone()))
            .map_err(corrupt)?;
        let mut start = 0;
        while start < order.len() {
            let hour = hours[order[start] as usize];
            let mut end = start;
            let mut latest = i64::MIN;
            while end < order.len() && hours[order[end] as usize] == hour {
                latest = latest.max(times[order[end] as usize]);
                end += 1;
            }
            add(hour, sorted.slice(start, end - start), latest);
            start = end;
        }
        Ok(())
    }
}
