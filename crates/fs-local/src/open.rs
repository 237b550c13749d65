//! Opening a store: its directory, its lock, its database, and the one
//! transaction that makes the database ready (tables, the registry, the
//! rewrite of older encodings and the outbox count). This is the one module
//! that knows every concern's tables; nothing imports it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use redb::{Database, ReadableTable};

use crate::error::{Error, Result, db};
use crate::online::ONLINE;
use crate::outbox::{OUTBOX, entry_rows};
use crate::store::{DATABASE_FILE, Store, StoreOptions};
use crate::write::KEYS;

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
        let store = Store::new(dir, db, opts, lock);
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
