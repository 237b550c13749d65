//! Group commit: concurrent writers share one durable transaction.
//!
//! redb runs one write transaction at a time and each durable commit waits
//! for the disk, so writers that each commit alone queue behind each
//! other's fsync. Instead every write is first checked and encoded by its
//! caller (a bad record fails there, alone), then handed to the commit queue
//! as a [`Job`]. The first writer to find no commit running becomes the
//! leader: it takes every job waiting, applies them in arrival order in one
//! transaction, commits once, and gives each job its own result; writers
//! that arrived meanwhile wait, and one of them leads the next group. A job
//! that fails inside the transaction (a hard delete that is not newer) fails
//! alone, having changed nothing; only a failure of the transaction itself
//! (the disk, the database) fails every job of the group, none of which is
//! then written.

pub(crate) mod queue;

use std::sync::atomic::Ordering;

use chrono::Utc;
use redb::{ReadableTable, Table, WriteTransaction};

use crate::codec::online_header;
use crate::error::{Error, Result, db};
use crate::online::ONLINE;
use crate::outbox::{NEXT_SEQ, OUTBOX};
use crate::store::{META, Store};
use crate::write::KEYS;
pub use queue::CommitStats;
use queue::{Job, OnlineOp, Outcome};

impl Store {
    /// Commits `jobs` (with those of concurrent writers) and returns each
    /// job's outcome, in order. The outbox may then be flushed.
    pub(crate) fn commit(&self, jobs: Vec<Job>) -> Vec<Result<Outcome>> {
        let results = self.commits.run(jobs, |group| self.commit_group(group));
        self.flush_if_due();
        results
    }

    /// How writes were grouped into transactions since the store was opened.
    pub fn commit_stats(&self) -> CommitStats {
        self.commits.stats()
    }

    /// Applies a group of jobs in one transaction.
    fn commit_group(&self, group: Vec<Job>) -> Vec<Result<Outcome>> {
        let size = group.len();
        self.commits.count(size);
        match self.apply_group(&group) {
            Ok(outcomes) => {
                let appended: u64 = group
                    .iter()
                    .zip(&outcomes)
                    .filter(|(_, o)| matches!(o, Ok(Outcome::Written)))
                    .map(|(j, _)| j.outbox_rows)
                    .sum();
                self.outbox_rows.fetch_add(appended, Ordering::SeqCst);
                if size > 1 {
                    tracing::trace!(jobs = size, "committed a group of writes");
                }
                outcomes
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = size, "a group commit failed; nothing of it was written");
                let message = e.to_string();
                let mut first = Some(e);
                group
                    .iter()
                    .map(|_| {
                        Err(first.take().unwrap_or_else(|| Error::CommitFailed {
                            message: message.clone(),
                        }))
                    })
                    .collect()
            }
        }
    }

    /// The transaction of a group: `Err` when it as a whole failed.
    fn apply_group(&self, group: &[Job]) -> Result<Vec<Result<Outcome>>> {
        const CTX: &str = "committing writes";
        let now = Utc::now().timestamp_millis();
        let txn = self.write_txn(CTX)?;
        let mut outcomes = Vec::with_capacity(group.len());
        {
            let mut tables = Tables::open(&txn, group)?;
            for job in group {
                outcomes.push(tables.apply(job, now)?);
            }
            tables.finish()?;
        }
        txn.commit().map_err(db(CTX))?;
        Ok(outcomes)
    }
}

/// The tables a group touches, opened once.
struct Tables<'t> {
    online: Option<Table<'t, (&'static str, &'static str), &'static [u8]>>,
    outbox: Option<Table<'t, u64, &'static [u8]>>,
    meta: Option<Table<'t, &'static str, u64>>,
    keys: Option<Table<'t, &'static str, &'static [u8]>>,
    next_seq: u64,
}

const CTX: &str = "committing writes";

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction, group: &[Job]) -> Result<Self> {
        let any = |f: fn(&Job) -> bool| group.iter().any(f);
        let online = if any(|j| !matches!(j.online, OnlineOp::None)) {
            Some(txn.open_table(ONLINE).map_err(db(CTX))?)
        } else {
            None
        };
        let (outbox, meta, next_seq) = if any(|j| !j.outbox.is_empty()) {
            let meta = txn.open_table(META).map_err(db(CTX))?;
            let next = meta
                .get(NEXT_SEQ)
                .map_err(db(CTX))?
                .map(|v| v.value())
                .unwrap_or(0);
            (
                Some(txn.open_table(OUTBOX).map_err(db(CTX))?),
                Some(meta),
                next,
            )
        } else {
            (None, None, 0)
        };
        let keys = if any(|j| j.key.is_some()) {
            Some(txn.open_table(KEYS).map_err(db(CTX))?)
        } else {
            None
        };
        Ok(Self {
            online,
            outbox,
            meta,
            keys,
            next_seq,
        })
    }

    /// Applies one job: `Ok(Err(_))` when the job fails alone (having
    /// changed nothing), `Err(_)` when the transaction fails.
    fn apply(&mut self, job: &Job, now: i64) -> Result<Result<Outcome>> {
        if let (Some(key), Some(keys)) = (&job.key, &self.keys)
            && let Some(seen) = keys.get(key.as_str()).map_err(db(CTX))?
        {
            let rows = seen
                .value()
                .get(..8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
            return Ok(Ok(Outcome::Replayed { rows }));
        }
        let group = job.group.as_str();
        match &job.online {
            OnlineOp::None => {}
            OnlineOp::Puts(puts) => {
                let table = self.online.as_mut().expect("opened for online jobs");
                for (id, value, event_time_ms) in puts.iter() {
                    // The stored record stays when it is newer and unexpired.
                    let keep = match table.insert((group, id), value).map_err(db(CTX))? {
                        None => None,
                        Some(old) => {
                            let (t, expiry, _) = online_header(old.value())?;
                            let expired = expiry.is_some_and(|e| e <= now);
                            (!expired && event_time_ms < t).then(|| old.value().to_vec())
                        }
                    };
                    if let Some(old) = keep {
                        table.insert((group, id), old.as_slice()).map_err(db(CTX))?;
                    }
                }
            }
            OnlineOp::SoftDelete {
                id,
                event_time_ms,
                tombstone,
            } => {
                let table = self.online.as_mut().expect("opened for online jobs");
                if newer_than_stored(table, group, id, *event_time_ms)? {
                    table
                        .insert((group, id.as_str()), tombstone.as_slice())
                        .map_err(db(CTX))?;
                }
            }
            OnlineOp::HardDelete {
                id,
                event_time_ms,
                event_time,
            } => {
                let table = self.online.as_mut().expect("opened for online jobs");
                if !newer_than_stored(table, group, id, *event_time_ms)? {
                    return Ok(Err(Error::validation(format!(
                        "HardDelete of record {id:?} in feature group {group:?}: its EventTime {event_time} is not newer than the stored record's"
                    ))));
                }
                table.remove((group, id.as_str())).map_err(db(CTX))?;
            }
        }
        if !job.outbox.is_empty() {
            let outbox = self.outbox.as_mut().expect("opened for offline jobs");
            for entry in &job.outbox {
                outbox
                    .insert(self.next_seq, entry.as_slice())
                    .map_err(db(CTX))?;
                self.next_seq += 1;
            }
        }
        if let (Some(key), Some(keys)) = (&job.key, &mut self.keys) {
            let mut value = [0u8; 16];
            value[..8].copy_from_slice(&job.rows.to_le_bytes());
            value[8..].copy_from_slice(&now.to_le_bytes());
            keys.insert(key.as_str(), value.as_slice())
                .map_err(db(CTX))?;
        }
        Ok(Ok(Outcome::Written))
    }

    fn finish(mut self) -> Result<()> {
        if let Some(meta) = &mut self.meta {
            meta.insert(NEXT_SEQ, self.next_seq).map_err(db(CTX))?;
        }
        Ok(())
    }
}

/// True when no record is stored for `id` or the stored one is older than
/// `event_time_ms` (a delete's rule: strictly newer).
fn newer_than_stored(
    table: &Table<'_, (&'static str, &'static str), &'static [u8]>,
    group: &str,
    id: &str,
    event_time_ms: i64,
) -> Result<bool> {
    Ok(match table.get((group, id)).map_err(db(CTX))? {
        None => true,
        Some(bytes) => event_time_ms > online_header(bytes.value())?.0,
    })
}

#[cfg(test)]
mod tests {
    use super::queue::OnlinePuts;
    use super::*;
    use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record};

    fn put(id: &str, t: i64) -> Job {
        let mut puts = OnlinePuts::default();
        let record = Record::new()
            .with("id", id)
            .with("ts", "2024-01-01T00:00:00Z");
        puts.push(id, t, |out| {
            let defs = [
                FeatureDefinition::string("id"),
                FeatureDefinition::string("ts"),
            ];
            crate::codec::put_online_header(out, t, None, false);
            crate::codec::put_record(out, &defs, &record).unwrap();
        });
        Job {
            group: "g".into(),
            online: OnlineOp::Puts(puts),
            outbox: Vec::new(),
            outbox_rows: 0,
            rows: 1,
            key: None,
        }
    }

    /// A hard delete of `id` in group `g` as of `t`.
    fn hard_delete(id: &str, t: i64) -> Job {
        Job {
            group: "g".into(),
            online: OnlineOp::HardDelete {
                id: id.into(),
                event_time_ms: t,
                event_time: t.to_string(),
            },
            outbox: Vec::new(),
            outbox_rows: 0,
            rows: 1,
            key: None,
        }
    }

    /// A store in `dir` with group `g` (identifier `id`, event time `ts`), online only.
    fn store_with_group(dir: &std::path::Path) -> Store {
        let store = Store::open(dir).unwrap();
        store
            .create_feature_group(
                FeatureGroup::builder("g", "id", "ts")
                    .features([
                        FeatureDefinition::string("id"),
                        FeatureDefinition::string("ts"),
                    ])
                    .online_store(OnlineStoreConfig::enabled())
                    .build()
                    .unwrap(),
            )
            .unwrap();
        store
    }

    #[test]
    fn a_job_failing_in_a_group_fails_alone_and_the_group_is_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_group(dir.path());
        let before = store.commit_stats();
        let results = store.commit(vec![
            put("a", 10),
            hard_delete("a", 5),
            put("b", 10),
            hard_delete("a", 11),
        ]);
        assert!(matches!(results[0], Ok(Outcome::Written)));
        let err = results[1].as_ref().unwrap_err();
        assert!(
            err.is_validation() && err.to_string().contains("not newer"),
            "{err}"
        );
        assert!(matches!(results[2], Ok(Outcome::Written)));
        assert!(matches!(results[3], Ok(Outcome::Written)));
        let after = store.commit_stats();
        assert_eq!(after.transactions - before.transactions, 1);
        assert_eq!(after.writes - before.writes, 4);
        assert!(
            store.get_record("g", "a", None).unwrap().is_none(),
            "hard-deleted by the last job"
        );
        assert!(store.get_record("g", "b", None).unwrap().is_some());
    }

    #[test]
    fn writers_sharing_a_commit_each_get_their_own_outcomes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(store_with_group(dir.path()));
        let before = store.commit_stats();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let id = format!("{t}-{i}");
                        // A put, a hard delete of the record just put at
                        // an older event time (refused: not newer), and
                        // another put.
                        let results = store.commit(vec![
                            put(&id, 10),
                            hard_delete(&id, 5),
                            put(&format!("{id}-b"), 10),
                        ]);
                        assert_eq!(results.len(), 3, "writer {t}, round {i}");
                        assert!(matches!(results[0], Ok(Outcome::Written)), "{id}");
                        assert!(
                            results[1].as_ref().is_err_and(|e| e.is_validation()),
                            "{id}: {:?}",
                            results[1]
                        );
                        assert!(matches!(results[2], Ok(Outcome::Written)), "{id}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let after = store.commit_stats();
        assert_eq!(after.writes - before.writes, 8 * 20 * 3);
        for t in 0..8 {
            for i in 0..20 {
                let id = format!("{t}-{i}");
                assert!(store.get_record("g", &id, None).unwrap().is_some(), "{id}");
                let b = format!("{id}-b");
                assert!(store.get_record("g", &b, None).unwrap().is_some(), "{b}");
            }
        }
    }
}
