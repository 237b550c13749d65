//! Synthetic offline data in the Glue layout: the feature rows of the
//! dataset bench (`orders`, `profiles`, `readings`), which the artifact
//! bench writes too (the same generator, so the same data).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use fs_schema::{EventTime, FeatureGroup, FeatureType, layout};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Hourly partitions the rows are spread over.
pub(crate) const HOURS: usize = 48;
/// The first hour's start.
pub(crate) const START: &str = "2024-05-01T00:00:00Z";

/// xorshift64*: fast, seeded, good enough for data.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Writes `rows` rows of `group` (ids `0..ids`; values by feature type,
/// null on delete markers) over [`HOURS`] hourly partitions.
pub(crate) fn generate(
    dir: &Path,
    group: &FeatureGroup,
    rows: usize,
    ids: usize,
    deleted: f64,
    seed: u64,
) {
    generate_skewed(dir, group, rows, ids, 0.0, deleted, seed);
}

/// [`generate`] with a share `skew` of the rows on identifier 0.
pub(crate) fn generate_skewed(
    dir: &Path,
    group: &FeatureGroup,
    rows: usize,
    ids: usize,
    skew: f64,
    deleted: f64,
    seed: u64,
) {
    let start = EventTime::parse_iso(START).expect("start").as_millis();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
    let per_hour = rows.div_ceil(HOURS);
    let mut written = 0;
    for hour in 0..HOURS {
        let n = per_hour.min(rows - written);
        if n == 0 {
            break;
        }
        written += n;
        let hour_start = start + hour as i64 * 3_600_000;
        let mut ets: Vec<i64> = (0..n)
            .map(|_| hour_start + rng.below(3_600_000) as i64)
            .collect();
        ets.sort_unstable();
        let del: Vec<bool> = (0..n)
            .map(|_| (rng.below(1_000_000) as f64) < deleted * 1e6)
            .collect();
        let valid = |i: usize| !del[i];
        let mut columns: Vec<(String, ArrayRef)> = vec![
            (
                "id".into(),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|_| format!("c{:09}", pick_id(&mut rng, ids, skew))),
                )),
            ),
            (
                "ts".into(),
                Arc::new(StringArray::from_iter_values(
                    ets.iter()
                        .map(|t| EventTime::from_millis(*t).expect("in range").to_iso()),
                )),
            ),
        ];
        for def in &group.feature_definitions[2..] {
            let col: ArrayRef = match def.feature_type {
                FeatureType::Fractional => Arc::new(Float64Array::from_iter(
                    (0..n).map(|i| valid(i).then(|| rng.below(1_000_000) as f64 / 3.0)),
                )),
                FeatureType::Integral => Arc::new(Int64Array::from_iter(
                    (0..n).map(|i| valid(i).then(|| rng.below(1_000_000) as i64)),
                )),
                FeatureType::String => Arc::new(StringArray::from_iter(
                    (0..n).map(|i| valid(i).then(|| format!("v{}", rng.below(5000)))),
                )),
            };
            columns.push((def.name.clone(), col));
        }
        let ts = |v: Vec<i64>| -> ArrayRef {
            Arc::new(arrow_array::TimestampMillisecondArray::from(v).with_timezone("UTC"))
        };
        let api: Vec<i64> = ets.iter().map(|t| t + rng.below(1000) as i64).collect();
        let wt: Vec<i64> = api
            .iter()
            .map(|t| t + 60_000 + rng.below(600_000) as i64)
            .collect();
        columns.push(("write_time".into(), ts(wt)));
        columns.push(("api_invocation_time".into(), ts(api)));
        columns.push(("is_deleted".into(), Arc::new(BooleanArray::from(del))));
        let batch = RecordBatch::try_from_iter(columns).expect("a batch");
        let latest = EventTime::from_millis(*ets.last().expect("rows")).expect("in range");
        let path = dir
            .join(layout::partition(latest))
            .join(layout::file_name(latest, &format!("{:016x}", rng.next())));
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("creating a partition");
        let file = std::fs::File::create(&path).expect("creating a data file");
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("a writer");
        w.write(&batch).expect("writing");
        w.close().expect("closing");
    }
}

/// An identifier below `ids`: 0 with probability `skew`, else uniform.
pub(crate) fn pick_id(rng: &mut Rng, ids: usize, skew: f64) -> u64 {
    if skew > 0.0 && (rng.below(1_000_000) as f64) < skew * 1e6 {
        0
    } else {
        rng.below(ids as u64)
    }
}
