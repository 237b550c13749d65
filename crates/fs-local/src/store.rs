//! The store: its directory, lock and database, opened and closed. Each
//! concern's tables and methods are in its own module (`registry`,
//! `online`, `write`, `commit`, `outbox`, `offline`, `migrate`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::commit::CommitQueue;
use crate::error::{Error, Result, db};
use crate::online::ONLINE;
use crate::outbox::{OUTBOX, entry_rows};
pub(crate) use crate::registry::GroupDescription;
use crate::write::KEYS;

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
/// [`Error::Locked`]. Share one `Store` between threads with `Arc`.
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
    /// Opens (creating if needed) the store in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if needed) the store in `dir`.
    ///
    /// A store left by a crashed process opens without repair by hand: the
    /// database recovers its last committed state, and a flush that was cut
    /// short is finished by the next flush.
    pub fn open_with(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let lock = take_lock(&dir)?;
        let db_path = dir.join(DATABASE_FILE);
        let db = Database::create(&db_path).map_err(db("opening the database"))?;
        let store = Store {
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
        };
        store.init()?;
        Ok(store)
    }

    /// Creates the tables, loads the registry, rewrites values of older
    /// encodings (`migrate`) and counts the outbox, in one transaction.
    fn init(&self) -> Result<()> {
        let txn = self.db.begin_write().map_err(db("initialising"))?;
        {
            txn.open_table(ONLINE).map_err(db("initialising"))?;
            txn.open_table(KEYS).map_err(db("initialising"))?;
            let mut cache = self.groups.write().expect("group cache lock");
            crate::registry::load(&txn, &mut cache)?;
            crate::migrate::migrate(&txn, &cache)?;
            let outbox = txn.open_table(OUTBOX).map_err(db("initialising"))?;
            let mut rows = 0;
            for entry in outbox.iter().map_err(db("initialising"))? {
                let (_, bytes) = entry.map_err(db("initialising"))?;
                rows += entry_rows(bytes.value())?;
            }
            self.outbox_rows.store(rows, Ordering::SeqCst);
        }
        txn.commit().map_err(db("initialising"))?;
        Ok(())
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

/// Takes the store's exclusive lock, writing our process id into it.
fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(Error::io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(Error::Locked {
                dir: dir.to_path_buf(),
                holder: (!holder.is_empty()).then(|| holder.to_owned()),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path)(e)),
    }
    file.set_len(0).map_err(Error::io(&path))?;
    file.rewind().map_err(Error::io(&path))?;
    write!(file, "pid {}", std::process::id()).map_err(Error::io(&path))?;
    Ok(file)
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
