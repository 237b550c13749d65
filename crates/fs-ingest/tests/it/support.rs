//! Shared helpers: groups, stores, input files, running ingests (always
//! checking the report's invariant) and reading the store back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_schema::DataType;
use fs_ingest::{Ingest, IngestOptions, IngestReport, LocalSink, Sink};
use fs_local::Store;
use fs_schema::FeatureGroup;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The directory of the shared bad inputs.
pub(crate) fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ingest")
}

/// The group of `tests/data/ingest` (customer_id, event_time, age,
/// lifetime_value, city; both stores) and typed batches of it: the
/// contract suite's.
pub(crate) use fs_ingest::contract::{customers, customers_batch};

/// A temporary embedded store.
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: Arc<Store>,
}

impl Env {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path().join("store")).unwrap());
        Self { dir, store }
    }

    /// A group created in the store.
    pub(crate) fn group(&self, spec: FeatureGroup) -> FeatureGroup {
        self.store.create_feature_group(spec.clone()).unwrap();
        spec
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn sink(&self) -> Arc<dyn Sink> {
        Arc::new(LocalSink::new(self.store.clone()))
    }

    /// Runs an ingest through a `LocalSink`, checking the invariant.
    pub(crate) async fn ingest(
        &self,
        group: &FeatureGroup,
        inputs: &[PathBuf],
        options: IngestOptions,
    ) -> fs_ingest::Result<IngestReport> {
        run(group, self.sink(), inputs, options).await
    }

    /// The online record of `id`, as (feature, text) pairs.
    pub(crate) fn online(&self, group: &str, id: &str) -> Option<BTreeMap<String, String>> {
        self.store.get_record(group, id, None).unwrap().map(|r| {
            r.record
                .values()
                .iter()
                .map(|v| {
                    (
                        v.feature_name.clone(),
                        v.value.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
    }

    /// How many offline rows each record id has (after a flush).
    pub(crate) fn offline_counts(&self, group: &str, id_column: &str) -> BTreeMap<String, usize> {
        self.store.flush().unwrap();
        let mut counts = BTreeMap::new();
        let Some(dir) = self.store.offline_data_dir(group).unwrap() else {
            return counts;
        };
        for batch in read_parquet_dir(&dir) {
            let ids = arrow_cast::cast(batch.column_by_name(id_column).unwrap(), &DataType::Utf8)
                .unwrap();
            for id in ids.as_string::<i32>().iter().flatten() {
                *counts.entry(id.to_owned()).or_default() += 1;
            }
        }
        counts
    }
}

/// Runs an ingest and checks the report's invariant (also on the report
/// of a run that stopped part way).
pub(crate) async fn run(
    group: &FeatureGroup,
    sink: Arc<dyn Sink>,
    inputs: &[PathBuf],
    options: IngestOptions,
) -> fs_ingest::Result<IngestReport> {
    let result = Ingest::new(group.clone(), sink, options).run(inputs).await;
    let report = match &result {
        Ok(r) => Some(r),
        Err(e) => e.report(),
    };
    if let Some(r) = report {
        assert_invariant(r);
    }
    result
}

/// rows read == written + failed, each failure listed, per file too.
pub(crate) fn assert_invariant(r: &IngestReport) {
    r.check()
        .unwrap_or_else(|e| panic!("invariant broken: {e}\n{r:#?}"));
    for f in &r.files {
        assert_eq!(
            f.counts.rows_read,
            f.counts.rows_written + f.counts.rows_failed,
            "invariant broken for {}",
            f.file.display()
        );
    }
    let per_file: u64 = r.files.iter().map(|f| f.counts.rows_read).sum();
    assert_eq!(per_file, r.rows_read, "per-file counts do not add up");
}

/// Every batch of every `.parquet` file under `dir`.
pub(crate) fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Writes `batch` as CSV (with a header).
pub(crate) fn write_csv(path: &Path, batch: &RecordBatch) {
    let mut w = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .build(std::fs::File::create(path).unwrap());
    w.write(batch).unwrap();
}

/// Writes `batch` as Parquet.
pub(crate) fn write_parquet(path: &Path, batch: &RecordBatch) {
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Writes `batch` as JSON Lines.
pub(crate) fn write_jsonl(path: &Path, batch: &RecordBatch) {
    let mut w = arrow_json::LineDelimitedWriter::new(std::fs::File::create(path).unwrap());
    w.write(batch).unwrap();
    w.finish().unwrap();
}
