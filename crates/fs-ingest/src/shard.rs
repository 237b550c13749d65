//! Deterministic sharding of an input among N workers.
//!
//! With `shard = (index, count)`, a worker ingests only its share; the
//! shares of workers `0..count` given the same inputs are disjoint and
//! together are the whole input:
//!
//! - **By file** when the input has at least `count` files: a file belongs
//!   to shard `fnv1a(relative path) % count`, where the relative path is
//!   the file's path below its input's root with `/` separators
//!   ([`crate::SourceFile::relative`]). Each file is read by one worker
//!   only, and a file keeps its shard when other files come or go.
//! - **By record identifier** otherwise (fewer files than workers): every
//!   worker reads every file and keeps the rows whose record identifier,
//!   as text as it appears in the input, hashes to its shard. A row with
//!   no identifier (null, or unreadable) goes by its file and row number.
//!   All rows of one record go to one worker.
//!
//! The hash is 64-bit FNV-1a: the same in every process, platform and
//! release (the standard library's hasher is randomly seeded per process).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray};
use arrow_schema::DataType;

use crate::error::{Error, Result};
use crate::report::{Failure, ShardMode};
use crate::source::{SourceBatch, SourceFile};

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard (`0..count`) of a key.
pub fn shard_of(key: &[u8], count: u32) -> u32 {
    (fnv1a(key) % u64::from(count.max(1))) as u32
}

/// Keeps this worker's files when there are enough to shard by file;
/// returns the mode chosen.
pub(crate) fn split_files(
    files: Vec<SourceFile>,
    index: u32,
    count: u32,
) -> (Vec<SourceFile>, ShardMode) {
    if files.len() >= count as usize {
        let mine = files
            .into_iter()
            .filter(|f| shard_of(f.relative.as_bytes(), count) == index)
            .collect();
        (mine, ShardMode::ByFile)
    } else {
        (files, ShardMode::ByRecordIdentifier)
    }
}

fn row_key(relative: &str, row: u64) -> Vec<u8> {
    format!("{relative}\0{row}").into_bytes()
}

/// Keeps the rows of `batch` (and its read failures) whose record
/// identifier falls in shard `index`; returns how many were left out.
pub(crate) fn retain_rows_of_shard(
    batch: &mut SourceBatch,
    relative: &str,
    id_column: &str,
    index: u32,
    count: u32,
) -> Result<u64> {
    let covered = batch.rows_covered();
    let file = batch.provenance.file.clone();
    let keep: Vec<bool> = match batch.batch.column_by_name(id_column) {
        None => batch
            .provenance
            .rows
            .iter()
            .map(|&row| shard_of(&row_key(relative, row), count) == index)
            .collect(),
        Some(ids) => {
            let text = arrow_cast::cast(ids, &DataType::Utf8).map_err(|e| Error::Read {
                file: file.to_path_buf(),
                row: Some(batch.first_row),
                source: Box::new(e),
            })?;
            let text = text.as_string::<i32>();
            batch
                .provenance
                .rows
                .iter()
                .enumerate()
                .map(|(i, &row)| {
                    let shard = if text.is_valid(i) {
                        shard_of(text.value(i).as_bytes(), count)
                    } else {
                        shard_of(&row_key(relative, row), count)
                    };
                    shard == index
                })
                .collect()
        }
    };
    let failure_in_shard = |f: &Failure| {
        let shard = match f.values.get_str(id_column) {
            Some(id) => shard_of(id.as_bytes(), count),
            None => shard_of(&row_key(relative, f.row), count),
        };
        shard == index
    };
    batch.retain(&keep, failure_in_shard)?;
    Ok(covered - batch.rows_covered())
}

impl SourceBatch {
    /// Keeps the rows where `keep` is true and the failures `keep_failure`
    /// accepts.
    pub(crate) fn retain(
        &mut self,
        keep: &[bool],
        keep_failure: impl Fn(&Failure) -> bool,
    ) -> Result<()> {
        self.failures.retain(keep_failure);
        if keep.iter().all(|&k| k) {
            return Ok(());
        }
        let mask = BooleanArray::from(keep.to_vec());
        self.batch =
            arrow_select::filter::filter_record_batch(&self.batch, &mask).map_err(|e| {
                Error::Read {
                    file: self.provenance.file.to_path_buf(),
                    row: Some(self.first_row),
                    source: Box::new(e),
                }
            })?;
        let rows: Arc<[u64]> = self
            .provenance
            .rows
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(r, _)| *r)
            .collect();
        self.provenance.rows = rows;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // From the FNV reference test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_are_in_range() {
        for count in 1..10 {
            for k in 0..100u32 {
                assert!(shard_of(&k.to_le_bytes(), count) < count);
            }
        }
    }
}
