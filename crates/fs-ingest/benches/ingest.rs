//! Ingest benchmarks: a Parquet file of 10 features into the embedded store.
//!
//! - `read_cast_10_features`: rows/s of reading and casting only (a sink
//!   that acknowledges without writing), the ceiling of the pipeline.
//! - `local_sink_10_features` (and `..._1_in_flight`, one batch written at
//!   a time instead of two): rows/s of a whole ingest through
//!   `LocalSink` (one durable `put_batch` transaction per 8,192-row
//!   batch, the offline outbox flushed to Parquet every 100,000 rows and at
//!   the end). DESIGN.md's target: at least 500,000 rows/s.
//! - The parts of the local sink's work, each on its own, to show where
//!   the time goes: `put_batch_10_features` (fs-local's durable put of a
//!   typed 8,192-row batch, what `LocalSink` calls) and `flush_10_features`
//!   (fs-local's outbox of those batches to Parquet); and, for the
//!   per-record API, `batch_to_records_10_features` (typed batch to the
//!   API's record form) and `put_records_10_features` (8,192 records per
//!   durable transaction).
//! - `redb_floor_1_database` and `redb_floor_2_databases`: the embedded
//!   database alone, with none of our code: as many (group, identifier)
//!   keys with 150-byte values (the size fs-local's encoding gives these
//!   rows) inserted into a bare redb table, one durable transaction per
//!   8,192 rows; then the same split over two databases written in
//!   parallel. The first bounds any local sink that commits each batch
//!   durably in one redb database, on this machine.
//!
//! - `aws_sink_c{8,32,128}`: rows/s of an ingest through `OnlineStoreSink`
//!   over `AwsOnlineStore` (the real runtime SDK client, PutRecord per row)
//!   into fs-server answering each put after a 10 ms service time (its own
//!   work inside it), at 8, 32 and 128 puts in flight, and as a share of
//!   the bound (concurrency / service time).
//!   DESIGN.md's target: at least 90% of the bound. Also how many
//!   transactions the server's store committed the puts in (group commit).
//! - With `--features aws`, `aws_batch_sink_c{8,32}`: the same through
//!   `BatchWriteSink` (25 rows per BatchWriteRecord), bound 25 x
//!   concurrency / service time.
//!
//! Run with `cargo bench -p fs-ingest --bench ingest [-- --quick]`; prints
//! one `RESULT name value unit` line per number for `cargo xtask bench`.

#![allow(missing_docs, clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use async_trait::async_trait;
use fs_ingest::{Ingest, IngestOptions, LocalSink, Provenance, RowOutcome, Sink, WriteOptions};
use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};
use parquet::arrow::ArrowWriter;

fn group(name: &str) -> FeatureGroup {
    let mut defs = vec![
        FeatureDefinition::integral("id"),
        FeatureDefinition::string("ts"),
    ];
    for i in 0..4 {
        defs.push(FeatureDefinition::fractional(format!("f{i}")));
    }
    for i in 0..2 {
        defs.push(FeatureDefinition::integral(format!("i{i}")));
    }
    for i in 0..2 {
        defs.push(FeatureDefinition::string(format!("s{i}")));
    }
    FeatureGroup::builder(name, "id", "ts")
        .features(defs)
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://bench/offline")
        .build()
        .unwrap()
}

/// Writes `rows` rows of 10 features as Parquet, 64k rows per batch.
fn write_input(path: &Path, rows: usize) {
    let g = group("schema");
    let schema = fs_schema::arrow_schema(&g);
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema.clone(), None).unwrap();
    let chunk = 65_536;
    for start in (0..rows).step_by(chunk) {
        let ids: Vec<i64> = (start as i64..(start + chunk).min(rows) as i64).collect();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from_iter_values(ids.iter().map(|i| {
                format!("2024-06-{:02}T{:02}:00:00.000Z", 1 + i % 28, i % 24)
            }))),
        ];
        for k in 0..4 {
            cols.push(Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| *i as f64 * 0.25 + k as f64),
            )));
        }
        for k in 0..2 {
            cols.push(Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|i| i * 31 + k),
            )));
        }
        for k in 0..2 {
            cols.push(Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("value-{k}-{}", i % 1000)),
            )));
        }
        w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
            .unwrap();
    }
    w.close().unwrap();
}

/// Acknowledges every row without writing it.
#[derive(Debug)]
struct Discard;

#[async_trait]
impl Sink for Discard {
    async fn write(
        &self,
        _group: &FeatureGroup,
        batch: RecordBatch,
        _provenance: &Provenance,
        _options: &WriteOptions,
    ) -> fs_ingest::Result<Vec<RowOutcome>> {
        Ok(vec![RowOutcome::written(); batch.num_rows()])
    }
    async fn flush(&self) -> fs_ingest::Result<()> {
        Ok(())
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `--only=local` or `--only=aws` runs one half; `--only=local-sink`
    // only the whole ingests through the local sink (for profiling).
    let only = std::env::args().find_map(|a| a.strip_prefix("--only=").map(str::to_owned));
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let rows = if quick { 200_000 } else { 1_000_000 };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.parquet");
    write_input(&input, rows);
    let rt = tokio::runtime::Runtime::new().unwrap();
    if run("local") {
        local(&dir, &input, rows, &rt);
    }
    if run("local") || run("local-sink") {
        local_sink(&dir, &input, rows, &rt);
    }
    if run("local") || run("floor") {
        redb_floor(&dir, rows);
    }
    if run("aws") {
        aws(&dir, quick, &rt);
    }
}

/// The embedded store: reading and casting alone, the local sink and its parts.
fn local(dir: &tempfile::TempDir, input: &Path, rows: usize, rt: &tokio::runtime::Runtime) {
    let g = group("bench");
    let report = rt
        .block_on(
            Ingest::new(g.clone(), Arc::new(Discard), IngestOptions::default())
                .run(&[input.to_path_buf()]),
        )
        .unwrap();
    assert_eq!(report.rows_written, rows as u64);
    println!(
        "RESULT read_cast_10_features {:.0} rows/s",
        report.rows_per_sec()
    );

    // The parts of the local sink on their own: records from a typed batch,
    // and put_records of those records.
    let typed = {
        let file = std::fs::File::open(input).unwrap();
        let mut reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .with_batch_size(8192)
                .build()
                .unwrap();
        reader.next().unwrap().unwrap()
    };
    let t = std::time::Instant::now();
    let mut records = Vec::new();
    for _ in 0..10 {
        records = fs_schema::batch_to_records(&typed).unwrap();
    }
    println!(
        "RESULT batch_to_records_10_features {:.0} rows/s",
        10.0 * typed.num_rows() as f64 / t.elapsed().as_secs_f64()
    );
    // A threshold above the rows written, so that the flush is measured on its own.
    let no_auto_flush = || fs_local::StoreOptions::default().flush_threshold_rows(u64::MAX);
    let probe = fs_local::Store::open_with(dir.path().join("probe"), no_auto_flush()).unwrap();
    probe.create_feature_group(g.clone()).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..10 {
        probe.put_records("bench", &records, None, None).unwrap();
    }
    println!(
        "RESULT put_records_10_features {:.0} rows/s",
        10.0 * records.len() as f64 / t.elapsed().as_secs_f64()
    );
    drop(probe);
    let probe =
        fs_local::Store::open_with(dir.path().join("probe-batch"), no_auto_flush()).unwrap();
    probe.create_feature_group(g.clone()).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..10 {
        let w = probe
            .put_batch("bench", &typed, &fs_local::BatchOptions::default())
            .unwrap();
        assert_eq!(w.rows_written, typed.num_rows());
    }
    println!(
        "RESULT put_batch_10_features {:.0} rows/s",
        10.0 * typed.num_rows() as f64 / t.elapsed().as_secs_f64()
    );
    let t = std::time::Instant::now();
    let flushed = probe.flush().unwrap().rows;
    println!(
        "RESULT flush_10_features {:.0} rows/s",
        flushed as f64 / t.elapsed().as_secs_f64()
    );
    drop(probe);
}

/// The whole ingest through the local sink, with the default writes in
/// flight and one at a time.
fn local_sink(dir: &tempfile::TempDir, input: &Path, rows: usize, rt: &tokio::runtime::Runtime) {
    let g = group("bench");
    for in_flight in [fs_ingest::DEFAULT_WRITES_IN_FLIGHT, 1] {
        let store =
            Arc::new(fs_local::Store::open(dir.path().join(format!("store-{in_flight}"))).unwrap());
        store.create_feature_group(g.clone()).unwrap();
        let sink = Arc::new(LocalSink::new(store.clone()));
        let options = IngestOptions::default().writes_in_flight(in_flight);
        let report = rt
            .block_on(Ingest::new(g.clone(), sink, options).run(&[input.to_path_buf()]))
            .unwrap();
        assert_eq!(report.rows_written, rows as u64);
        assert_eq!(store.outbox_len(), 0, "flushed to Parquet");
        let name = if in_flight == fs_ingest::DEFAULT_WRITES_IN_FLIGHT {
            "local_sink_10_features".to_owned()
        } else {
            format!("local_sink_10_features_{in_flight}_in_flight")
        };
        let stats = store.commit_stats();
        println!(
            "RESULT {name} {:.0} rows/s ({} batch writes in {} transactions)",
            report.rows_per_sec(),
            stats.writes,
            stats.transactions
        );
    }
}

/// The database alone: `rows` fresh keys shaped as fs-local's online
/// table's, in durable transactions of 8,192 rows, into one database and
/// into two written in parallel.
fn redb_floor(dir: &tempfile::TempDir, rows: usize) {
    const ONLINE: redb::TableDefinition<'_, (&str, &str), &[u8]> =
        redb::TableDefinition::new("online");
    let write = |db: &redb::Database, ids: &mut dyn Iterator<Item = usize>| {
        let value = [7u8; 150];
        let mut ids = ids.peekable();
        while ids.peek().is_some() {
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn.open_table(ONLINE).unwrap();
                for id in ids.by_ref().take(8192) {
                    table
                        .insert(("bench", id.to_string().as_str()), value.as_slice())
                        .unwrap();
                }
            }
            txn.commit().unwrap();
        }
    };
    let one = redb::Database::create(dir.path().join("floor.redb")).unwrap();
    let t = std::time::Instant::now();
    write(&one, &mut (0..rows));
    println!(
        "RESULT redb_floor_1_database {:.0} rows/s",
        rows as f64 / t.elapsed().as_secs_f64()
    );
    let two: Vec<redb::Database> = (0..2)
        .map(|k| redb::Database::create(dir.path().join(format!("floor-{k}.redb"))).unwrap())
        .collect();
    let t = std::time::Instant::now();
    std::thread::scope(|s| {
        for (k, db) in two.iter().enumerate() {
            s.spawn(move || write(db, &mut (k..rows).step_by(2)));
        }
    });
    println!(
        "RESULT redb_floor_2_databases {:.0} rows/s",
        rows as f64 / t.elapsed().as_secs_f64()
    );
}

/// The AWS sink against fs-server with a 10 ms service time per request.
fn aws(dir: &tempfile::TempDir, quick: bool, rt: &tokio::runtime::Runtime) {
    for concurrency in [8usize, 32, 128] {
        let rows = (concurrency * if quick { 15 } else { 60 }).max(200);
        aws_run(dir, rt, Mode::PutRecord, concurrency, rows);
    }
    #[cfg(feature = "aws")]
    for concurrency in [8usize, 32] {
        let rows = concurrency * 25 * if quick { 8 } else { 32 };
        aws_run(dir, rt, Mode::BatchWrite, concurrency, rows);
    }
}

/// How the AWS sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `OnlineStoreSink` over `AwsOnlineStore`: one PutRecord per row.
    PutRecord,
    /// `BatchWriteSink`: 25 rows per BatchWriteRecord (feature `aws`).
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    BatchWrite,
}

/// One run of the AWS sink at `concurrency` requests in flight.
fn aws_run(
    dir: &tempfile::TempDir,
    rt: &tokio::runtime::Runtime,
    mode: Mode,
    concurrency: usize,
    rows: usize,
) {
    let service_time = std::time::Duration::from_millis(10);
    let name = format!("{mode:?}-{concurrency}");
    let input = dir.path().join(format!("aws-{name}.parquet"));
    write_input(&input, rows);
    let store = Arc::new(fs_local::Store::open(dir.path().join(format!("server-{name}"))).unwrap());
    store.create_feature_group(group("bench")).unwrap();
    let report = rt.block_on(async {
        let server = fs_server::Server::start(
            store.clone(),
            fs_server::ServerOptions::default().faults(
                fs_server::Faults::none()
                    .service_time(service_time)
                    .only(["PutRecord", "BatchWriteRecord"]),
            ),
        )
        .await
        .unwrap();
        let config = fs_server::client_config(&server.endpoint_url(), 3);
        let client = aws_sdk_sagemakerfeaturestoreruntime::Client::new(&config);
        let sink: Arc<dyn Sink> = match mode {
            Mode::PutRecord => {
                let online =
                    fs_online::AwsOnlineStore::from_client(client).with_group(group("bench"));
                Arc::new(
                    fs_ingest::OnlineStoreSink::new(Arc::new(online)).with_concurrency(concurrency),
                )
            }
            #[cfg(feature = "aws")]
            Mode::BatchWrite => {
                Arc::new(fs_ingest::BatchWriteSink::new(client).with_concurrency(concurrency))
            }
            #[cfg(not(feature = "aws"))]
            Mode::BatchWrite => unreachable!("BatchWriteSink needs the aws feature"),
        };
        let report = Ingest::new(group("bench"), sink, IngestOptions::default())
            .run(std::slice::from_ref(&input))
            .await
            .unwrap();
        server.shutdown().await;
        report
    });
    assert_eq!(report.rows_written, rows as u64);
    let per_request = if mode == Mode::BatchWrite { 25.0 } else { 1.0 };
    let bound = per_request * concurrency as f64 / service_time.as_secs_f64();
    let stats = store.commit_stats();
    let label = match mode {
        Mode::PutRecord => "aws_sink",
        Mode::BatchWrite => "aws_batch_sink",
    };
    println!(
        "RESULT {label}_c{concurrency} {:.0} rows/s ({:.0}% of the bound {bound:.0}; {} writes in {} transactions)",
        report.rows_per_sec(),
        100.0 * report.rows_per_sec() / bound,
        stats.writes,
        stats.transactions,
    );
}
