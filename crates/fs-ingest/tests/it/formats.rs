//! Sources: each format, directories, globs, batching and row numbers,
//! CSV options, and inference.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, RecordBatch};
use async_trait::async_trait;
use fs_ingest::{
    CsvOptions, Format, IngestOptions, LocalSink, Provenance, RowOutcome, Sink, WriteOptions,
    expand_inputs, infer_group_from_source, read_file,
};
use fs_schema::{Collection, FeatureGroup, FeatureType, OnlineStoreConfig};

use crate::support::{Env, customers, customers_batch, run, write_csv, write_jsonl, write_parquet};

#[tokio::test]
async fn csv_parquet_and_json_lines_ingest_the_same_rows() {
    let env = Env::new();
    let batch = customers_batch(1, 100);
    for (name, write) in [
        ("csv", write_csv as fn(&std::path::Path, &RecordBatch)),
        ("parquet", write_parquet),
        ("jsonl", write_jsonl),
    ] {
        let group = env.group(customers(&format!("same-{name}")));
        let input = env.path(&format!("customers.{name}"));
        write(&input, &batch);
        let report = env
            .ingest(&group, &[input], IngestOptions::default().batch_size(32))
            .await
            .unwrap();
        assert_eq!(
            (report.rows_read, report.rows_written),
            (100, 100),
            "{name}"
        );
        assert!(report.bytes_read > 0, "{name}");
        let got = env.online(&group.feature_group_name, "42").unwrap();
        assert_eq!(got["age"], "60", "{name}");
        assert_eq!(got["lifetime_value"], "63.0", "{name}");
        assert_eq!(got["city"], "city-0", "{name}");
        assert_eq!(got["event_time"], "2024-06-15T18:00:00Z", "{name}");
        let offline = env.offline_counts(&group.feature_group_name, "customer_id");
        assert_eq!(offline.len(), 100, "{name}");
    }
}

#[test]
fn batches_carry_their_file_and_row_numbers() {
    let env = Env::new();
    let input = env.path("rows.csv");
    write_csv(&input, &customers_batch(1, 20));
    let files = expand_inputs(std::slice::from_ref(&input)).unwrap();
    let options = IngestOptions::default().batch_size(7);
    let batches: Vec<_> = read_file(&files[0], &customers("g"), &options)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let firsts: Vec<u64> = batches.iter().map(|b| b.first_row).collect();
    assert_eq!(firsts, [1, 8, 15]);
    assert_eq!(batches[2].last_row, 20);
    assert_eq!(&*batches[1].provenance.rows, &[8, 9, 10, 11, 12, 13, 14]);
    assert_eq!(&*batches[0].provenance.file, input.as_path());
    // CSV columns are read as text.
    assert!(
        batches[0]
            .batch
            .schema()
            .fields()
            .iter()
            .all(|f| f.data_type() == &arrow_schema::DataType::Utf8)
    );
}

#[test]
fn csv_rows_are_records_not_lines_and_the_header_is_not_a_row() {
    let env = Env::new();
    let input = env.path("quoted.csv");
    std::fs::write(
        &input,
        "\u{feff}customer_id,event_time,city\n\
         1,2024-01-01T00:00:00Z,\"two\nlines\"\n\
         \n\
         2,2024-01-01T00:00:00Z,\"say \"\"hi\"\"\"\n\
         3,2024-01-01T00:00:00Z,\n",
    )
    .unwrap();
    let files = expand_inputs(&[input]).unwrap();
    let b = read_file(&files[0], &customers("g"), &IngestOptions::default())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(&*b.provenance.rows, &[1, 2, 3]);
    assert_eq!(
        b.batch.schema().field(0).name(),
        "customer_id",
        "BOM stripped"
    );
    let city = arrow_array::cast::AsArray::as_string::<i32>(b.batch.column(2));
    assert_eq!(city.value(0), "two\nlines");
    assert_eq!(city.value(1), "say \"hi\"");
    assert!(city.is_null(2), "an empty cell is a missing value");
    // Kept as empty text when asked.
    let options =
        IngestOptions::default().csv(fs_ingest::CsvOptions::default().keep_empty_strings(true));
    let b = read_file(&files[0], &customers("g"), &options)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let city = arrow_array::cast::AsArray::as_string::<i32>(b.batch.column(2));
    assert_eq!(
        (city.is_valid(2), city.value(2)),
        (true, ""),
        "empty cells are empty text with keep_empty_strings"
    );
}

#[tokio::test]
async fn csv_delimiter_and_headerless_options() {
    let env = Env::new();
    let group = env.group(customers("csv-options"));
    let semi = env.path("semi.csv");
    std::fs::write(
        &semi,
        "customer_id;event_time;age;lifetime_value;city\n1;2024-01-01T00:00:00Z;30;1,5;Basel\n",
    )
    .unwrap();
    let csv = CsvOptions::default().delimiter(b';');
    let r = env
        .ingest(&group, &[semi], IngestOptions::default().csv(csv))
        .await
        .unwrap();
    // "1,5" is not a number: the cast says so (no locale guessing).
    assert_eq!((r.rows_written, r.rows_failed), (0, 1));
    assert_eq!(r.failures[0].column.as_deref(), Some("lifetime_value"));

    let bare = env.path("bare.csv");
    std::fs::write(&bare, "2,2024-01-01T00:00:00Z,31,2.5,Bern\n").unwrap();
    let csv = CsvOptions::default().has_header(false);
    let r = env
        .ingest(&group, &[bare], IngestOptions::default().csv(csv))
        .await
        .unwrap();
    assert_eq!(r.rows_written, 1);
    assert_eq!(env.online("csv-options", "2").unwrap()["city"], "Bern");
}

#[tokio::test]
async fn directories_are_read_recursively_in_order_skipping_other_files() {
    let env = Env::new();
    let group = env.group(customers("dirs"));
    let root = env.path("in");
    std::fs::create_dir_all(root.join("b/nested")).unwrap();
    write_csv(&root.join("b/nested/part-2.csv"), &customers_batch(20, 5));
    write_parquet(&root.join("a-part-1.parquet"), &customers_batch(10, 5));
    write_jsonl(&root.join("b/part-3.jsonl"), &customers_batch(30, 5));
    write_csv(&root.join(".hidden.csv"), &customers_batch(90, 5));
    std::fs::write(root.join("notes.txt"), "not data").unwrap();
    let files = expand_inputs(std::slice::from_ref(&root)).unwrap();
    let rel: Vec<&str> = files.iter().map(|f| f.relative.as_str()).collect();
    assert_eq!(
        rel,
        ["a-part-1.parquet", "b/nested/part-2.csv", "b/part-3.jsonl"]
    );
    assert_eq!(
        files.iter().map(|f| f.format).collect::<Vec<_>>(),
        [Format::Parquet, Format::Csv, Format::JsonLines]
    );
    let r = env
        .ingest(&group, &[root], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(r.rows_written, 15);
    assert_eq!(r.files.len(), 3);
    assert!(env.online("dirs", "90").is_none());
}

#[tokio::test]
async fn globs_select_files_and_name_them_relative_to_their_fixed_part() {
    let env = Env::new();
    let group = env.group(customers("globs"));
    let root = env.path("lake");
    for (day, first) in [("day=1", 1), ("day=2", 10)] {
        std::fs::create_dir_all(root.join(day)).unwrap();
        write_parquet(
            &root.join(day).join("part-0.parquet"),
            &customers_batch(first, 3),
        );
        write_csv(
            &root.join(day).join("extra.csv"),
            &customers_batch(first + 100, 3),
        );
    }
    let pattern = root.join("day=*/part-*.parquet");
    let files = expand_inputs(std::slice::from_ref(&pattern)).unwrap();
    let rel: Vec<&str> = files.iter().map(|f| f.relative.as_str()).collect();
    assert_eq!(rel, ["day=1/part-0.parquet", "day=2/part-0.parquet"]);
    let r = env
        .ingest(&group, &[pattern], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(r.rows_written, 6);
    assert!(env.online("globs", "101").is_none());

    let err = expand_inputs(&[root.join("nothing-*.csv")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("names no CSV, Parquet or JSON Lines file"),
        "{err}"
    );
    let err = expand_inputs(&[env.path("missing.csv")]).unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");
}

/// A sink that records the provenance of every batch, then writes locally.
#[derive(Debug)]
struct Recording {
    inner: LocalSink,
    seen: Mutex<Vec<(PathBuf, Vec<u64>)>>,
}

#[async_trait]
impl Sink for Recording {
    async fn write(
        &self,
        group: &FeatureGroup,
        batch: RecordBatch,
        provenance: &Provenance,
        options: &WriteOptions,
    ) -> fs_ingest::Result<Vec<RowOutcome>> {
        self.seen
            .lock()
            .unwrap()
            .push((provenance.file.to_path_buf(), provenance.rows.to_vec()));
        self.inner.write(group, batch, provenance, options).await
    }
    async fn flush(&self) -> fs_ingest::Result<()> {
        self.inner.flush().await
    }
}

#[tokio::test]
async fn sinks_get_the_row_numbers_of_the_rows_they_write() {
    let env = Env::new();
    let group = env.group(customers("provenance"));
    let input = crate::support::data_dir().join("customers-wrong-types.csv");
    let sink = Arc::new(Recording {
        inner: LocalSink::new(env.store.clone()),
        seen: Mutex::new(Vec::new()),
    });
    run(
        &group,
        sink.clone(),
        std::slice::from_ref(&input),
        IngestOptions::default().batch_size(4),
    )
    .await
    .unwrap();
    let seen = sink.seen.lock().unwrap().clone();
    // Rows 2-5 fail the cast; 1 and 6 are written, from two batches.
    assert_eq!(seen, [(input.clone(), vec![1]), (input, vec![6])]);
}

#[test]
fn groups_are_inferred_from_each_format() {
    let env = Env::new();
    let batch = customers_batch(1, 10);
    for (name, write) in [
        ("csv", write_csv as fn(&std::path::Path, &RecordBatch)),
        ("parquet", write_parquet),
        ("jsonl", write_jsonl),
    ] {
        let path = env.path(&format!("infer.{name}"));
        write(&path, &batch);
        let group = infer_group_from_source(&path, "inferred", "customer_id", "event_time")
            .unwrap()
            .online_store(OnlineStoreConfig::enabled())
            .build()
            .unwrap();
        let t = |f: &str| group.feature(f).unwrap().feature_type;
        assert_eq!(t("customer_id"), FeatureType::Integral, "{name}");
        assert_eq!(t("event_time"), FeatureType::String, "{name}");
        assert_eq!(t("age"), FeatureType::Integral, "{name}");
        assert_eq!(t("lifetime_value"), FeatureType::Fractional, "{name}");
        assert_eq!(t("city"), FeatureType::String, "{name}");
    }
    // Booleans in text formats become String (the cast reads no "true" as a number);
    // JSON arrays become collections.
    let path = env.path("flags.jsonl");
    std::fs::write(
        &path,
        "{\"id\": \"a\", \"ts\": 1700000000.5, \"vip\": true, \"tags\": [\"x\", \"y\"]}\n",
    )
    .unwrap();
    let group = infer_group_from_source(&path, "flags", "id", "ts")
        .unwrap()
        .online_store(
            OnlineStoreConfig::enabled().with_storage_type(fs_schema::StorageType::InMemory),
        )
        .build()
        .unwrap();
    assert_eq!(
        group.feature("ts").unwrap().feature_type,
        FeatureType::Fractional
    );
    assert_eq!(
        group.feature("vip").unwrap().feature_type,
        FeatureType::String
    );
    assert_eq!(
        group.feature("tags").unwrap().collection,
        Some(Collection::List)
    );
    // An identifier that is not a column is refused when the group is built.
    let err = infer_group_from_source(&path, "flags", "nope", "ts")
        .unwrap()
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
