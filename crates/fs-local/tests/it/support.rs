//! Shared helpers: groups, records and reading back offline files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig, Record};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A group with both stores: id (String), ts (String), n (Integral), x (Fractional).
pub(crate) fn group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name, "id", "ts")
        .features([
            FeatureDefinition::string("id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::integral("n"),
            FeatureDefinition::fractional("x"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://bucket/prefix")
        .build()
        .unwrap()
}

pub(crate) fn record(id: &str, ts: &str, n: i64) -> Record {
    Record::new()
        .with("id", id)
        .with("ts", ts)
        .with("n", n.to_string())
        .with("x", format!("{}.5", n))
}

/// Every file under `dir` (not directories), whatever its name, sorted.
pub(crate) fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every `.parquet` file under `dir`, sorted.
pub(crate) fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    all_files(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect()
}

/// The files under the store directory `store` that are neither its
/// database, its lock, an offline Parquet file nor the publish lock of an
/// offline data directory (a flush's temporary files,
/// `.NAME.parquet.tmp`, among them), relative to `store`.
pub(crate) fn stray_files(store: &Path) -> Vec<String> {
    all_files(store)
        .iter()
        .map(|p| p.strip_prefix(store).unwrap())
        .filter(|rel| {
            let top = rel.components().count() == 1;
            let name = rel.file_name().unwrap().to_string_lossy();
            let offline =
                rel.starts_with("offline") && name.ends_with(".parquet") && !name.starts_with('.');
            let publish_lock = rel.starts_with("offline")
                && name == fs_schema::layout::PUBLISH_LOCK
                && rel.parent().is_some_and(|d| d.ends_with("data"));
            !(offline || publish_lock || top && (name == "store.redb" || name == "LOCK"))
        })
        .map(|rel| rel.display().to_string())
        .collect()
}

pub(crate) fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// How many offline rows each record id has (delete markers included).
pub(crate) fn offline_id_counts(dir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for f in parquet_files(dir) {
        for b in read_parquet(&f) {
            let ids = arrow_array::cast::AsArray::as_string::<i32>(b.column_by_name("id").unwrap());
            for id in ids.iter().flatten() {
                *counts.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    counts
}
