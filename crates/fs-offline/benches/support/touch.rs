//! Touching every value of a dataset, as a sub-model reading it would: the
//! sum of every numeric column and a cheap hash of every string, folded
//! into a checksum that does not depend on the order of rows or batches
//! (so that two readers of the same rows can be compared).

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

/// What a reader touched: rows, and an order-independent checksum of
/// every value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Touched {
    pub(crate) rows: u64,
    pub(crate) checksum: u64,
}

impl Touched {
    /// Touches every value of `batch`.
    pub(crate) fn batch(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows() as u64;
        for (i, column) in batch.columns().iter().enumerate() {
            // Odd multipliers keep columns apart and the sum order-free.
            let weight = 2 * i as u64 + 1;
            self.checksum = self
                .checksum
                .wrapping_add(column_sum(column).wrapping_mul(weight));
        }
    }
}

/// Every non-null value of `column` summed: numbers (and timestamps,
/// dates) as integers, floats by their bits (their `f64` sum is taken too,
/// as a sub-model would), booleans as their count of `true`, strings by
/// their FNV-1a hash.
fn column_sum(column: &ArrayRef) -> u64 {
    match column.data_type() {
        DataType::Float64 => {
            let values = column.as_primitive::<Float64Type>().iter().flatten();
            float_sum(values.map(|v| (v, v.to_bits())))
        }
        DataType::Float32 => {
            let values = column.as_primitive::<Float32Type>().iter().flatten();
            float_sum(values.map(|v| (f64::from(v), u64::from(v.to_bits()))))
        }
        DataType::Boolean => column.as_boolean().iter().flatten().filter(|b| *b).count() as u64,
        DataType::Utf8 => hash_sum(column.as_string::<i32>().iter().flatten()),
        DataType::LargeUtf8 => hash_sum(column.as_string::<i64>().iter().flatten()),
        DataType::Utf8View => hash_sum(column.as_string_view().iter().flatten()),
        t if t.primitive_width() == Some(8) => int_sum::<i64>(column, |v| v as u64),
        t if t.primitive_width() == Some(4) => int_sum::<i32>(column, |v| v as u64),
        other => panic!("the bench does not touch {other} columns"),
    }
}

/// The sum of a float column (kept from being optimised away) and the
/// wrapping sum of its values' bits.
fn float_sum(values: impl Iterator<Item = (f64, u64)>) -> u64 {
    let (sum, bits) = values.fold((0.0, 0u64), |(s, b), (v, bits)| {
        (s + v, b.wrapping_add(bits))
    });
    std::hint::black_box(sum);
    bits
}

/// The wrapping sum of the non-null values of an integer-like column
/// whose values are `T` (integers, timestamps, dates, durations).
fn int_sum<T: arrow_buffer::ArrowNativeType>(column: &ArrayRef, widen: fn(T) -> u64) -> u64 {
    let data = column.to_data();
    let values = data.buffer::<T>(0);
    let mut sum = 0u64;
    for (i, v) in values.iter().enumerate() {
        if column.is_valid(i) {
            sum = sum.wrapping_add(widen(*v));
        }
    }
    sum
}

/// The wrapping sum of the strings' FNV-1a hashes.
fn hash_sum<'a>(values: impl Iterator<Item = &'a str>) -> u64 {
    values.fold(0u64, |sum, s| sum.wrapping_add(fnv1a(s.as_bytes())))
}

/// 64-bit FNV-1a: cheap, and enough to tell values apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
