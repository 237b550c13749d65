//! Projected reads (`Cache::sync_projected`) against moto's S3, through a
//! throttled link that counts the bytes: only the asked columns' chunks
//! come down, none twice, across a restart; replaced and deleted objects
//! are followed; the copies read as the objects' columns.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use fs_offline::cache::{Cache, CacheOptions, SyncOptions};
use fs_offline::throttle::{Limits, Throttle};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::properties::WriterProperties;

use crate::cache::support::{bucket, client, client_at, delete, endpoint, glue_key, put};

const COLUMNS: [&str; 6] = ["id", "event_time", "a", "b", "c", "d"];

/// A Parquet object of 4 row groups: 6 columns, string and numeric.
fn object(seed: i64, rows: i64) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("event_time", DataType::Int64, false),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Utf8, true),
        Field::new("c", DataType::Int64, true),
        Field::new("d", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("r{}", (i * 7 + seed) % 501)),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..rows).map(|i| 1_700_000_000 + i + seed),
            )),
            Arc::new(Float64Array::from_iter(
                (0..rows).map(|i| (i % 9 != 0).then_some((i * seed) as f64 / 7.0)),
            )),
            Arc::new(StringArray::from_iter(
                (0..rows).map(|i| (i % 4 != 0).then(|| format!("b-{}-{seed}", i * 13))),
            )),
            Arc::new(Int64Array::from_iter(
                (0..rows).map(|i| (i % 5 != 0).then_some(i ^ seed)),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("d{:x}", i * 31 + seed)),
            )),
        ],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some((rows as usize).div_ceil(4)))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    buf
}

/// The columns `names` of a Parquet file's bytes, as one batch.
fn columns_of(bytes: Bytes, names: &[&str]) -> RecordBatch {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let mask = ProjectionMask::columns(builder.parquet_schema(), names.iter().copied());
    let reader = builder.with_projection(mask).build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// The compressed bytes of `names`' chunks in a Parquet file.
fn chunk_bytes(bytes: &Bytes, names: &[&str]) -> u64 {
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(bytes)
        .unwrap();
    meta.row_groups()
        .iter()
        .flat_map(|rg| rg.columns().iter())
        .filter(|c| names.contains(&c.column_descr().name()))
        .map(|c| c.compressed_size() as u64)
        .sum()
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn projected_reads_fetch_only_the_asked_chunks_and_none_twice() {
    let direct = client();
    let bucket = bucket(&direct, "projected").await;
    let mut objects = Vec::new();
    for i in 0..3u32 {
        let key = glue_key("p/data/", 2024, 5, 1, i, &format!("f{i}.parquet"));
        let bytes = Bytes::from(object(i64::from(i) + 1, 20_000));
        put(&direct, &bucket, &key, bytes.to_vec()).await;
        objects.push((key, bytes));
    }
    // What tables skip, projected reads skip too: Spark's `_SUCCESS`, a
    // writer's hidden lock, a file that is not Parquet.
    put(&direct, &bucket, "p/data/_SUCCESS", Vec::new()).await;
    put(
        &direct,
        &bucket,
        &glue_key("p/data/", 2024, 5, 1, 0, ".publish.lock"),
        Vec::new(),
    )
    .await;
    put(&direct, &bucket, "p/data/README.txt", b"notes".to_vec()).await;
    let total: u64 = objects.iter().map(|(_, b)| b.len() as u64).sum();
    let moto: std::net::SocketAddr = endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let throttle = Throttle::start(moto, Limits::default()).await.unwrap();
    let s3 = client_at(&throttle.endpoint_url());
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://{bucket}/p/data");
    let options = SyncOptions::new().concurrency(4);

    // Two of six columns: their chunks and the footers, nothing else.
    let asked = ["id", "b"];
    let cache = Cache::open(dir.path(), CacheOptions::default()).unwrap();
    let (report, copies) = cache
        .sync_projected(&s3, &uri, &strings(&asked), &options)
        .await
        .unwrap();
    assert_eq!((report.objects_listed, report.objects_fetched), (3, 3));
    assert_eq!(report.bytes_listed, total);
    assert_eq!(report.footers_fetched, 3);
    let chunks: u64 = objects.iter().map(|(_, b)| chunk_bytes(b, &asked)).sum();
    // Footers are read as the objects' last 64 KiB (the whole object when smaller).
    let footers: u64 = objects
        .iter()
        .map(|(_, b)| (b.len() as u64).min(64 << 10))
        .sum();
    assert_eq!(report.bytes_fetched, chunks + footers);
    assert!(
        report.bytes_fetched < total,
        "{} of {total}",
        report.bytes_fetched
    );
    let down = throttle.bytes_down();
    assert!(
        down >= report.bytes_fetched && down < report.bytes_fetched + (64 << 10),
        "{down}"
    );
    assert_eq!(copies.files().len(), 3);
    for (file, (key, bytes)) in copies.files().iter().zip(&objects) {
        assert_eq!(&file.key, key);
        let copy = Bytes::from(std::fs::read(&file.path).unwrap());
        let got = columns_of(copy, &COLUMNS);
        assert_eq!(
            got,
            columns_of(bytes.clone(), &asked),
            "{key}: the asked columns, whole"
        );
    }

    // A new process (a fresh handle) asking the same: nothing but a listing.
    drop(cache);
    let cache = Cache::open(dir.path(), CacheOptions::default()).unwrap();
    let before = throttle.bytes_down();
    let (again, _) = cache
        .sync_projected(&s3, &uri, &strings(&["b", "id"]), &options)
        .await
        .unwrap();
    assert_eq!((again.objects_fetched, again.objects_skipped), (0, 3));
    assert_eq!((again.bytes_fetched, again.footers_fetched), (0, 0));
    assert!(
        throttle.bytes_down() - before < 16 << 10,
        "only a listing came down"
    );

    // One more column: only its chunks (the footers are kept locally).
    let before = throttle.bytes_down();
    let (more, copies) = cache
        .sync_projected(&s3, &uri, &strings(&["id", "b", "c"]), &options)
        .await
        .unwrap();
    let c_chunks: u64 = objects.iter().map(|(_, b)| chunk_bytes(b, &["c"])).sum();
    assert_eq!((more.objects_fetched, more.footers_fetched), (3, 0));
    assert_eq!(more.bytes_fetched, c_chunks);
    assert!(throttle.bytes_down() - before < c_chunks + (16 << 10));
    for (file, (_, bytes)) in copies.files().iter().zip(&objects) {
        let copy = Bytes::from(std::fs::read(&file.path).unwrap());
        assert_eq!(
            columns_of(copy, &COLUMNS),
            columns_of(bytes.clone(), &["id", "b", "c"])
        );
    }

    // A replaced object is read again whole-footer and all; a deleted one
    // loses its copy.
    let replaced = Bytes::from(object(99, 5_000));
    put(&direct, &bucket, &objects[0].0, replaced.to_vec()).await;
    delete(&direct, &bucket, &objects[2].0).await;
    let (changed, copies) = cache
        .sync_projected(&s3, &uri, &strings(&["id", "b"]), &options)
        .await
        .unwrap();
    assert_eq!(changed.deleted_remote, [objects[2].0.clone()]);
    assert_eq!(
        (
            changed.objects_fetched,
            changed.objects_skipped,
            changed.footers_fetched
        ),
        (1, 1, 1)
    );
    assert_eq!(copies.files().len(), 2);
    let first = Bytes::from(std::fs::read(&copies.files()[0].path).unwrap());
    assert_eq!(
        columns_of(first, &COLUMNS),
        columns_of(replaced, &["id", "b"])
    );
    let gone = dir
        .path()
        .join(".fs-cache/projected")
        .join(&bucket)
        .join(&objects[2].0);
    assert!(!gone.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn an_object_that_is_not_parquet_fails_naming_it() {
    let s3 = client();
    let bucket = bucket(&s3, "projected-bad").await;
    let key = glue_key("q/data/", 2024, 5, 1, 0, "f.parquet");
    put(
        &s3,
        &bucket,
        &key,
        b"not parquet at all, just text".to_vec(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), CacheOptions::default()).unwrap();
    let err = cache
        .sync_projected(
            &s3,
            &format!("s3://{bucket}/q/data"),
            &strings(&["id"]),
            &SyncOptions::new(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&key) && err.contains("not a Parquet object"),
        "{err}"
    );
}
