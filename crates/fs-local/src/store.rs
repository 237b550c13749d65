//! The store: its directory, lock and database, its options, and closing
//! it. Opening it is in `open`. Each concern's tables and methods are in
//! its own module (`registry`, `online`, `write`, `commit`, `outbox`,
//! `offline`, `migrate`); those modules import this one, and this one
//! imports none of them, only the types its fields hold (`description`,
//! `commit::queue`).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::commit::queue::CommitQueue;
use crate::description::GroupDescription;
use crate::error::{Result, db};

/// The store's counters and markers; each key belongs to the module that
/// uses it (`outbox::NEXT_SEQ`, `offline`'s pending flush, `migrate::ENCODING`).
pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The database file in the store directory.
pub(crate) const DATABASE_FILE: &str = "store.redb";

/// The default store directory, relative to the working directory.
pub const DEFAULT_DIR: &str = ".featurestore";

/// Settings of a store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// The account id used in ARNs and in the offline layout.
    pub account_id: String,
    /// The region used in ARNs and in the offline layout.
    pub region: String,
    /// Flush the offline outbox to Parquet once it holds this many rows.
    pub flush_threshold_rows: u64,
    /// Run those flushes on a background thread (the default), so that
    /// writes go on meanwhile; otherwise the write that reached the
    /// threshold flushes before it returns.
    pub background_flush: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
            flush_threshold_rows: 100_000,
            background_flush: true,
        }
    }
}

impl StoreOptions {
    /// These options with another account id.
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = id.into();
        self
    }

    /// These options with another region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// These options flushing at the threshold in the background (`true`)
    /// or in the write that reached it.
    pub fn background_flush(mut self, yes: bool) -> Self {
        self.background_flush = yes;
        self
    }

    /// These options with another outbox flush threshold.
    pub fn flush_threshold_rows(mut self, rows: u64) -> Self {
        self.flush_threshold_rows = rows.max(1);
        self
    }
}

/// The embedded feature store in one directory.
///
/// One `Store` per directory at a time: opening takes an exclusive lock
/// (`LOCK`), and a second open (from this or another process) fails with
/// [`Error::Locked`](crate::Error::Locked). Share one `Store` between threads with `Arc`.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    pub(crate) db: Arc<Database>,
    opts: StoreOptions,
    pub(crate) groups: Arc<RwLock<HashMap<String, Arc<GroupDescription>>>>,
    pub(crate) outbox_rows: Arc<AtomicU64>,
    /// Serialises flushes (the database serialises everything else).
    pub(crate) flush_lock: Arc<Mutex<()>>,
    /// Set while a background flush runs.
    pub(crate) flushing: Arc<AtomicBool>,
    /// The background flush thread, joined before the store closes.
    pub(crate) background: Mutex<Option<JoinHandle<()>>>,
    /// Writes waiting to be committed together.
    pub(crate) commits: CommitQueue,
    _lock: File,
}

impl Store {
    /// A store over `db` in `dir`, holding the directory's `lock`, with
    /// nothing loaded yet (`open` loads it).
    pub(crate) fn new(dir: PathBuf, db: Database, opts: StoreOptions, lock: File) -> Store {
        Store {
            dir,
            db: Arc::new(db),
            opts,
            groups: Arc::default(),
            outbox_rows: Arc::default(),
            flush_lock: Arc::default(),
            flushing: Arc::default(),
            background: Mutex::new(None),
            commits: CommitQueue::default(),
            _lock: lock,
        }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's options.
    pub fn options(&self) -> &StoreOptions {
        &self.opts
    }

    /// Flushes the offline outbox and closes the store, releasing its lock.
    /// Dropping a store also releases the lock (after a background flush
    /// that is running has finished), but leaves unflushed rows in the
    /// outbox for the next open (nothing is lost either way).
    pub fn close(self) -> Result<()> {
        self.flush()?;
        Ok(())
    }

    pub(crate) fn read_txn(&self) -> Result<redb::ReadTransaction> {
        self.db.begin_read().map_err(db("starting a read"))
    }

    /// A write transaction; `doing` names what it is for in errors.
    pub(crate) fn write_txn(&self, doing: &'static str) -> Result<redb::WriteTransaction> {
        self.db.begin_write().map_err(db(doing))
    }
}

impl Drop for Store {
    /// Waits for a background flush, so that nothing writes to the store
    /// once its lock is released.
    fn drop(&mut self) {
        let handle = self
            .background
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("the background flush thread panicked");
        }
    }
}
