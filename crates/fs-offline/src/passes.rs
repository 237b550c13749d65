//! Point-in-time joins in bounded memory: the dataset run as several passes,
//! each over the rows whose join key hashes into it.
//!
//! A join holds one side in memory (DataFusion's hash-join build side cannot
//! spill). When every join matches on the base's own key (the base group's
//! record identifier, or the entity table's identifier column) and every key
//! column has the same type, a record's rows and all the rows it can match
//! share a key, so running the same SQL once per hash bucket of the key —
//! each table filtered to the bucket before the query sees it — gives the
//! same rows as one run, with about `1 / passes` of the memory. Rows with a
//! null key go to the first pass. The number of passes follows the rows the
//! dataset reads (from the Parquet footers) and the memory budget.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray};
use arrow_schema::{DataType, Schema};
use datafusion::catalog::TableProvider;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::{SessionContext, cast, ident};
use fs_schema::{FeatureGroup, FeatureType};

use crate::error::Result;
use crate::error::query;
use crate::spec::{Base, DatasetSpec};
use crate::table::DataFile;

/// Bytes of memory per row a pass reads: one pass over the dataset bench's
/// 10M + 2M rows peaked at about 1.5 GB.
const BYTES_PER_ROW: usize = 128;
/// The memory budget of a split join when the engine has no memory limit:
/// the dataset bench's 12M rows take 4 passes (peak RSS 1.2 GB in one pass,
/// 0.9 GB in four, 0.7 GB in eight: part of the memory is not the join's).
pub(crate) const DEFAULT_JOIN_BUDGET: usize = 384 << 20;

/// Which bucket of how many a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pass {
    pub(crate) index: u32,
    pub(crate) of: u32,
}

/// Whether `spec` can be split by key: it has joins, every join matches on
/// the base's key, and every key column (the base's, given as
/// `base_key_type`, and each joined group's identifier) has one type.
pub(crate) fn splittable(spec: &DatasetSpec, base_key_type: Option<&DataType>) -> bool {
    if spec.joins.is_empty() || spec.joins.iter().any(|j| j.entity_column.is_some()) {
        return false;
    }
    let Some(base) = base_key_type else {
        return false;
    };
    spec.joins.iter().all(|j| &key_type(&j.group) == base)
}

/// The Arrow type of a group's record identifier.
pub(crate) fn key_type(group: &FeatureGroup) -> DataType {
    match group.record_identifier().feature_type {
        FeatureType::String => DataType::Utf8,
        FeatureType::Integral => DataType::Int64,
        FeatureType::Fractional => DataType::Float64,
    }
}

/// The type of `column` in an entity table's schema.
pub(crate) fn column_type(schema: &Schema, column: &str) -> Option<DataType> {
    schema
        .field_with_name(column)
        .ok()
        .map(|f| f.data_type().clone())
}

/// How many passes reading `rows` rows takes within `budget` bytes.
pub(crate) fn pass_count(rows: u64, budget: usize) -> u32 {
    let per_pass = (budget / BYTES_PER_ROW).max(1) as u64;
    u32::try_from(rows.div_ceil(per_pass))
        .unwrap_or(u32::MAX)
        .clamp(1, 64)
}

/// Rows in `files`, from their Parquet footers (unreadable footers count
/// nothing here; the query reports them).
pub(crate) fn rows_in(files: &[DataFile]) -> u64 {
    files
        .iter()
        .filter_map(|f| {
            let file = std::fs::File::open(&f.path).ok()?;
            let meta = parquet::file::metadata::ParquetMetaDataReader::new()
                .parse_and_finish(&file)
                .ok()?;
            u64::try_from(meta.file_metadata().num_rows()).ok()
        })
        .sum()
}

/// `provider` with only the rows of `pass` (by `key`'s hash).
pub(crate) fn filtered(
    ctx: &SessionContext,
    provider: Arc<dyn TableProvider>,
    key: &str,
    pass: Pass,
) -> Result<Arc<dyn TableProvider>> {
    let udf = create_udf(
        "__fs_in_pass",
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            Ok(ColumnarValue::Array(Arc::new(in_pass(&arrays[0], pass))))
        }),
    );
    let context = format!("splitting the dataset by `{key}`");
    let df = ctx
        .read_table(provider)
        .map_err(query(context.clone()))?
        .filter(udf.call(vec![cast(ident(key), DataType::Utf8)]))
        .map_err(query(context))?;
    Ok(df.into_view())
}

/// Whether each key (as text) is in `pass`; nulls are in the first.
fn in_pass(keys: &ArrayRef, pass: Pass) -> BooleanArray {
    let keys = keys.as_string::<i32>();
    (0..keys.len())
        .map(|i| {
            Some(if keys.is_null(i) {
                pass.index == 0
            } else {
                bucket(keys.value(i), pass.of) == pass.index
            })
        })
        .collect()
}

/// A key's bucket of `of`: a fixed hash, the same in every pass.
fn bucket(key: &str, of: u32) -> u32 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % u64::from(of.max(1))) as u32
}

/// The base's key column: the group's identifier or the entity column.
pub(crate) fn base_key(spec: &DatasetSpec) -> &str {
    match &spec.base {
        Base::Group(g) => g.record_identifier_feature_name.as_str(),
        Base::Entities(e) => e.id_column.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_in_exactly_one_pass_and_nulls_in_the_first() {
        let keys: ArrayRef = Arc::new(arrow_array::StringArray::from(vec![
            Some("a"),
            None,
            Some("b"),
            Some("c"),
            Some("a"),
        ]));
        let of = 3;
        let mut hits = vec![0; keys.len()];
        for index in 0..of {
            let got = in_pass(&keys, Pass { index, of });
            for (i, h) in hits.iter_mut().enumerate() {
                *h += usize::from(got.value(i));
            }
            assert_eq!(got.value(1), index == 0);
            assert_eq!(got.value(0), got.value(4), "one key, one pass");
        }
        assert_eq!(hits, vec![1; keys.len()]);
    }

    #[test]
    fn passes_follow_rows_and_budget() {
        assert_eq!(pass_count(0, 512 << 20), 1);
        assert_eq!(pass_count(1_000, 512 << 20), 1);
        assert_eq!(pass_count(12_000_000, DEFAULT_JOIN_BUDGET), 4);
        assert_eq!(pass_count(12_000_000, 256 << 20), 6);
        assert_eq!(pass_count(12_000_000, 2 << 30), 1);
        assert_eq!(pass_count(u64::MAX, 1), 64);
    }
}
