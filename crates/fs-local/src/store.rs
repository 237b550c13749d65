//! The store: its directory, lock, database and feature-group registry.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use chrono::Utc;
use fs_schema::registry::{
    self, FeatureGroupDescription, FeatureGroupStatus, LastUpdateStatus, OfflineStoreStatus,
};
use fs_schema::{DataCatalogConfig, FeatureDefinition, FeatureGroup, evolution};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::commit::CommitQueue;
use crate::error::{Error, Result, db};
use crate::outbox::entry_rows;

pub(crate) const GROUPS: TableDefinition<'_, &str, &str> = TableDefinition::new("groups");
pub(crate) const ONLINE: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("online");
pub(crate) const OUTBOX: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("outbox");
pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
/// Idempotency keys of batch puts: key -> rows written (u64) and when (i64 ms).
pub(crate) const KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("idempotency_keys");

/// `META` key: the next outbox sequence number.
pub(crate) const NEXT_SEQ: &str = "next_seq";
/// `META` key: the last sequence number of a flush in progress.
pub(crate) const PENDING_FLUSH: &str = "pending_flush_upto";

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

/// A feature group as the registry table keeps it (JSON; the format of
/// every store version so far). The public description is
/// [`FeatureGroupDescription`], built by [`GroupDescription::describe`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupDescription {
    /// The group as created (and evolved), with the resolved offline
    /// location and data catalog filled in as the service fills them.
    pub spec: FeatureGroup,
    /// `arn:aws:sagemaker:<region>:<account>:feature-group/<name>`.
    pub arn: String,
    /// Creation time, milliseconds since the epoch.
    pub creation_time_ms: i64,
    /// Last update (feature additions), milliseconds since the epoch.
    pub last_modified_time_ms: Option<i64>,
    /// The offline store's data directory, relative to the store directory.
    pub offline_data_dir: Option<PathBuf>,
}

impl GroupDescription {
    /// The group as [`Store::describe_feature_group`] describes it, for the
    /// store in `dir`. Local groups are created synchronously, so they are
    /// always `Created`; their offline store is `Active`.
    pub(crate) fn describe(&self, dir: &Path) -> FeatureGroupDescription {
        let mut d = FeatureGroupDescription::new(
            self.spec.clone(),
            self.arn.clone(),
            FeatureGroupStatus::Created,
            registry::from_millis(self.creation_time_ms),
        );
        d.last_modified_time = self.last_modified_time_ms.map(registry::from_millis);
        if self.last_modified_time_ms.is_some() {
            d.last_update_status = Some(LastUpdateStatus::Successful);
        }
        if self.spec.offline_enabled() {
            d.offline_store_status = Some(OfflineStoreStatus::Active);
        }
        d.offline_data_dir = self.offline_data_dir.as_ref().map(|rel| dir.join(rel));
        d
    }
}

/// The embedded feature store in one directory.
///
/// One `Store` per directory at a time: opening takes an exclusive lock
/// (`LOCK`), and a second open (from this or another process) fails with
/// [`Error::Locked`]. Share one `Store` between threads with `Arc`.
#[derive(Debug)]
pub struct Store {
    pub(crate) dir: PathBuf,
    pub(crate) db: Arc<Database>,
    pub(crate) opts: StoreOptions,
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
            let groups = txn.open_table(GROUPS).map_err(db("initialising"))?;
            let mut cache = self.groups.write().expect("group cache lock");
            for entry in groups.iter().map_err(db("reading the registry"))? {
                let (name, json) = entry.map_err(db("reading the registry"))?;
                let desc: GroupDescription =
                    serde_json::from_str(json.value()).map_err(|e| Error::Corrupt {
                        what: format!("registry entry {:?}: {e}", name.value()),
                    })?;
                cache.insert(name.value().to_owned(), Arc::new(desc));
            }
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

    /// The description of `group`, from the in-memory registry.
    pub fn describe_feature_group(&self, group: &str) -> Result<FeatureGroupDescription> {
        Ok(self.group(group)?.describe(&self.dir))
    }

    /// The registry entry of `group`.
    pub(crate) fn group(&self, group: &str) -> Result<Arc<GroupDescription>> {
        self.groups
            .read()
            .expect("group cache lock")
            .get(group)
            .cloned()
            .ok_or_else(|| Error::GroupNotFound {
                group: group.to_owned(),
            })
    }

    /// Every feature group, sorted by name.
    pub fn list_feature_groups(&self) -> Vec<FeatureGroupDescription> {
        let mut all: Vec<_> = self
            .groups
            .read()
            .expect("group cache lock")
            .values()
            .map(|g| g.describe(&self.dir))
            .collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Creates a feature group. The spec is validated; the offline location
    /// and data catalog are resolved as the service resolves them (the
    /// offline store lives under `<store>/offline/` in the SageMaker layout).
    pub fn create_feature_group(&self, spec: FeatureGroup) -> Result<FeatureGroupDescription> {
        spec.validate()?;
        let name = spec.feature_group_name.clone();
        let now = Utc::now().timestamp_millis();
        let mut spec = spec;
        let offline_data_dir = spec.offline_store_config.as_mut().map(|off| {
            let rel = PathBuf::from(fs_schema::layout::resolved_output_uri(
                "offline",
                &self.opts.account_id,
                &self.opts.region,
                &name,
                now.div_euclid(1000),
            ));
            // As the service reports it; the files themselves are under
            // the store directory (`offline_data_dir`).
            off.s3_storage_config.resolved_output_s3_uri =
                Some(fs_schema::layout::resolved_output_uri(
                    &off.s3_storage_config.s3_uri,
                    &self.opts.account_id,
                    &self.opts.region,
                    &name,
                    now.div_euclid(1000),
                ));
            if off.disable_glue_table_creation != Some(true) && off.data_catalog_config.is_none() {
                off.data_catalog_config = Some(DataCatalogConfig {
                    table_name: format!("{}_{}", name.replace('-', "_"), now.div_euclid(1000)),
                    catalog: "AwsDataCatalog".into(),
                    database: "sagemaker_featurestore".into(),
                });
            }
            rel
        });
        let desc = GroupDescription {
            arn: format!(
                "arn:aws:sagemaker:{}:{}:feature-group/{}",
                self.opts.region,
                self.opts.account_id,
                name.to_ascii_lowercase()
            ),
            spec,
            creation_time_ms: now,
            last_modified_time_ms: None,
            offline_data_dir,
        };
        let txn = self
            .db
            .begin_write()
            .map_err(db("creating a feature group"))?;
        {
            let mut groups = txn
                .open_table(GROUPS)
                .map_err(db("creating a feature group"))?;
            if groups
                .get(name.as_str())
                .map_err(db("creating a feature group"))?
                .is_some()
            {
                return Err(Error::GroupExists { group: name });
            }
            let json = serde_json::to_string(&desc).expect("descriptions serialize");
            groups
                .insert(name.as_str(), json.as_str())
                .map_err(db("creating a feature group"))?;
        }
        txn.commit().map_err(db("creating a feature group"))?;
        let described = desc.describe(&self.dir);
        self.groups
            .write()
            .expect("group cache lock")
            .insert(name, Arc::new(desc));
        tracing::info!(group = %described.name(), "created feature group");
        Ok(described)
    }

    /// Adds features to a group (UpdateFeatureGroup's FeatureAdditions).
    /// Existing records read the new features as null.
    pub fn add_features(
        &self,
        group: &str,
        additions: &[FeatureDefinition],
    ) -> Result<FeatureGroupDescription> {
        let current = self.group(group)?;
        let spec = evolution::apply_additions(&current.spec, additions)?;
        let desc = GroupDescription {
            spec,
            last_modified_time_ms: Some(Utc::now().timestamp_millis()),
            ..(*current).clone()
        };
        let txn = self
            .db
            .begin_write()
            .map_err(db("updating a feature group"))?;
        {
            let mut groups = txn
                .open_table(GROUPS)
                .map_err(db("updating a feature group"))?;
            let json = serde_json::to_string(&desc).expect("descriptions serialize");
            groups
                .insert(group, json.as_str())
                .map_err(db("updating a feature group"))?;
        }
        txn.commit().map_err(db("updating a feature group"))?;
        let described = desc.describe(&self.dir);
        self.groups
            .write()
            .expect("group cache lock")
            .insert(group.to_owned(), Arc::new(desc));
        tracing::info!(group, added = additions.len(), "added features");
        Ok(described)
    }

    /// Deletes a group: its registry entry and online records. Rows waiting
    /// for the offline store are flushed first; offline files stay on disk,
    /// as the service leaves them in S3.
    pub fn delete_feature_group(&self, group: &str) -> Result<()> {
        self.group(group)?;
        self.flush()?;
        let txn = self
            .db
            .begin_write()
            .map_err(db("deleting a feature group"))?;
        {
            let mut groups = txn
                .open_table(GROUPS)
                .map_err(db("deleting a feature group"))?;
            groups
                .remove(group)
                .map_err(db("deleting a feature group"))?;
            let mut online = txn
                .open_table(ONLINE)
                .map_err(db("deleting a feature group"))?;
            online
                .retain_in((group, "")..=(group, "\u{10FFFF}"), |k, _| k.0 != group)
                .map_err(db("deleting a feature group"))?;
        }
        txn.commit().map_err(db("deleting a feature group"))?;
        self.groups.write().expect("group cache lock").remove(group);
        tracing::info!(group, "deleted feature group");
        Ok(())
    }

    /// Flushes the offline outbox and closes the store, releasing its lock.
    /// Dropping a store also releases the lock (after a background flush
    /// that is running has finished), but leaves unflushed rows in the
    /// outbox for the next open (nothing is lost either way).
    pub fn close(self) -> Result<()> {
        self.flush()?;
        Ok(())
    }

    /// The absolute offline data directory of `group`, if it has an offline store.
    pub fn offline_data_dir(&self, group: &str) -> Result<Option<PathBuf>> {
        let desc = self.group(group)?;
        Ok(desc.offline_data_dir.as_ref().map(|rel| self.dir.join(rel)))
    }

    /// Rows waiting in the offline outbox.
    pub fn outbox_len(&self) -> u64 {
        self.outbox_rows.load(Ordering::SeqCst)
    }

    pub(crate) fn read_txn(&self) -> Result<redb::ReadTransaction> {
        self.db.begin_read().map_err(db("starting a read"))
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
