//! Inputs that real files have and the corpus in `bad_inputs.rs` does not
//! (issue 17, section 5): a header-only CSV, CRLF line endings, NUL bytes
//! and binary garbage, empty CSV cells, JSON Lines with duplicate keys,
//! arrays, scalars and numbers above 2^63, Parquet columns of nested or
//! binary types or with one name twice, and schemas that drift between
//! the files of one ingest. Each bad one fails its row or file naming the
//! file, row and column where they apply, and the good rows are written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{MapBuilder, StringBuilder};
use arrow_array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Schema};
use fs_ingest::{CsvOptions, IngestOptions, IngestReport, Stage};
use fs_schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};

use crate::support::{Env, customers, customers_batch, write_parquet};

const HEADER: &str = "customer_id,event_time,age,lifetime_value,city";

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// (file name, row, column, stage) of each failure.
fn failures(r: &IngestReport) -> Vec<(String, u64, Option<String>, Stage)> {
    r.failures
        .iter()
        .map(|f| (name_of(&f.file), f.row, f.column.clone(), f.stage))
        .collect()
}

fn f(
    file: &str,
    row: u64,
    column: Option<&str>,
    stage: Stage,
) -> (String, u64, Option<String>, Stage) {
    (file.to_owned(), row, column.map(str::to_owned), stage)
}

#[tokio::test]
async fn a_header_only_csv_is_an_ingest_of_zero_rows() {
    let env = Env::new();
    let group = env.group(customers("header-only"));
    let lf = env.path("header-only.csv");
    std::fs::write(&lf, format!("{HEADER}\n")).unwrap();
    let crlf = env.path("header-only-crlf.csv");
    std::fs::write(&crlf, format!("{HEADER}\r\n")).unwrap();
    let no_newline = env.path("header-only-no-newline.csv");
    std::fs::write(&no_newline, HEADER).unwrap();
    let report = env
        .ingest(&group, &[lf, crlf, no_newline], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!((report.rows_read, report.rows_written), (0, 0));
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);
    assert_eq!(report.files.len(), 3);
    assert!(
        report
            .files
            .iter()
            .all(|f| f.complete && f.counts.rows_read == 0)
    );
    assert!(env.offline_counts("header-only", "customer_id").is_empty());

    // The header is still checked against the group.
    let no_id = env.path("no-id.csv");
    std::fs::write(&no_id, "event_time,age\n").unwrap();
    let report = env
        .ingest(&group, &[no_id], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(report.file_errors.len(), 1);
    assert_eq!(report.file_errors[0].column.as_deref(), Some("customer_id"));
}

#[tokio::test]
async fn crlf_line_endings_are_read_without_a_trailing_carriage_return() {
    let env = Env::new();
    let group = env.group(customers("crlf"));
    let text = [
        HEADER,
        "1,2024-05-01T08:00:00Z,34,1.5,Berlin",
        "2,2024-05-01T08:05:00Z,27,2.5,\"Lis\r\nbon\"",
        "3,2024-05-01T08:10:00Z,29,3.5,",
        "4,2024-05-01T08:15:00Z,31,4.5,Oslo",
        "",
    ]
    .join("\r\n");
    let good = env.path("crlf.csv");
    std::fs::write(&good, &text).unwrap();
    // A ragged row sends the batch to the row-by-row reader: the same there.
    let ragged = env.path("crlf-ragged.csv");
    std::fs::write(
        &ragged,
        text.replace("1,2024-05-01T08:00:00Z,34,1.5,Berlin", "1,2024")
            .replace("Oslo", "Paris")
            .replace(",2024-05-01T08", ",2024-05-02T08"),
    )
    .unwrap();
    for (file, ragged) in [(good, false), (ragged, true)] {
        let report = env
            .ingest(&group, &[file], IngestOptions::default())
            .await
            .unwrap();
        if ragged {
            assert_eq!(
                failures(&report),
                [f("crlf-ragged.csv", 1, None, Stage::Read)]
            );
        } else {
            assert!(report.failures.is_empty(), "{:#?}", report.failures);
        }
        assert_eq!(report.rows_written, if ragged { 3 } else { 4 });
        if !ragged {
            assert_eq!(env.online("crlf", "1").unwrap()["city"], "Berlin");
        }
        // A line break inside quotes is the field's own.
        assert_eq!(env.online("crlf", "2").unwrap()["city"], "Lis\r\nbon");
        assert_eq!(env.online("crlf", "3").unwrap().get("city"), None);
        let last = if ragged { "Paris" } else { "Oslo" };
        assert_eq!(env.online("crlf", "4").unwrap()["city"], last);
        for id in ["2", "3", "4"] {
            let record = env.online("crlf", id).unwrap();
            assert!(
                record.values().all(|v| !v.ends_with('\r')),
                "{id}: {record:?}"
            );
        }
    }
}

/// Writes the binary inputs: `nul.csv` (a NUL byte in a cell, then a PNG
/// header pasted in among good rows), `gzip.csv` (a gzip file named .csv)
/// and `utf16.csv` (UTF-16 text).
fn binary_garbage_files(env: &Env) -> [PathBuf; 3] {
    let mut bytes = format!("{HEADER}\n1,2024-05-01T08:00:00Z,34,1.5,Berlin\n").into_bytes();
    bytes.extend_from_slice(b"2,2024-05-01T08:05:00Z,27,2.5,Ber\0lin\n");
    // A PNG signature and chunk header pasted into the file.
    bytes.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0,x,y,z,w\n");
    bytes.extend_from_slice(b"5,2024-05-01T08:20:00Z,40,5.5,Oslo\n");
    let nul = env.path("nul.csv");
    std::fs::write(&nul, bytes).unwrap();
    // A gzip file named .csv (its open brace, 0x7b, written escaped so
    // that brace matching is not misled), and a UTF-16 one.
    let gzip = env.path("gzip.csv");
    std::fs::write(
        &gzip,
        b"\x1f\x8b\x08\0\0\0\0\0\0\x03\xed\xbd\x07`\x1cI\x96%&/m\xca\x7b\x7fJ",
    )
    .unwrap();
    let utf16 = env.path("utf16.csv");
    let wide: Vec<u8> = format!("{HEADER}\n1,2024-05-01T08:00:00Z,34,1.5,Berlin\n")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(&utf16, wide).unwrap();
    [nul, gzip, utf16]
}

/// A NUL byte in an otherwise clean file (which arrow-csv reads whole)
/// fails its row, naming the column and the value.
async fn a_lone_nul_byte_fails_its_row(env: &Env, group: &FeatureGroup) {
    let only_nul = env.path("only-nul.csv");
    std::fs::write(
        &only_nul,
        format!(
            "{HEADER}\n6,2024-05-01T08:00:00Z,34,1.5,Oslo\n7,2024-05-01T08:00:00Z,3\x004,1.5,Oslo\n"
        ),
    )
    .unwrap();
    let clean = env
        .ingest(group, &[only_nul], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(
        failures(&clean),
        [f("only-nul.csv", 2, Some("age"), Stage::Read)]
    );
    assert_eq!(clean.failures[0].value.as_deref(), Some("3\x004"));
    assert_eq!(clean.rows_written, 1);
}

/// The gzip and UTF-16 files are file errors saying what they look like.
fn assert_binary_files_fail_whole(report: &IngestReport) {
    let errors: Vec<(String, &str)> = report
        .file_errors
        .iter()
        .map(|e| (name_of(&e.file), e.reason.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, "gzip.csv");
    assert!(
        errors[0].1.contains("not valid UTF-8") && errors[0].1.contains("binary"),
        "{errors:?}"
    );
    assert_eq!(errors[1].0, "utf16.csv");
    assert!(
        errors[1].1.contains("NUL") && errors[1].1.contains("UTF-16"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn nul_bytes_and_binary_garbage_fail_their_rows_or_the_file() {
    let env = Env::new();
    let group = env.group(customers("binary"));
    let inputs = binary_garbage_files(&env);

    let report = env
        .ingest(&group, &inputs, IngestOptions::default())
        .await
        .unwrap();
    let got = failures(&report);
    assert_eq!(got[0], f("nul.csv", 2, Some("city"), Stage::Read));
    assert!(
        report.failures[0].reason.contains("NUL byte"),
        "{}",
        report.failures[0]
    );
    assert_eq!(report.failures[0].value.as_deref(), Some("Ber\0lin"));
    // The garbage line (split by its own line breaks) fails, row by row.
    assert!(got.len() >= 2, "{got:?}");
    assert!(
        got[1..]
            .iter()
            .all(|(file, row, _, stage)| file == "nul.csv" && *row >= 3 && *stage == Stage::Read),
        "{got:?}"
    );
    assert_eq!(report.rows_written, 2, "{:#?}", report.failures);
    assert!(env.online("binary", "1").is_some() && env.online("binary", "5").is_some());
    assert!(env.online("binary", "2").is_none());

    a_lone_nul_byte_fails_its_row(&env, &group).await;
    assert_binary_files_fail_whole(&report);
}

#[tokio::test]
async fn an_empty_csv_cell_is_a_missing_value_unless_empty_strings_are_kept() {
    let env = Env::new();
    let file = env.path("empty-cells.csv");
    std::fs::write(
        &file,
        format!(
            "{HEADER}\n\
             1,2024-05-01T08:00:00Z,34,1.5,\n\
             2,2024-05-01T08:05:00Z,,,\"\"\n\
             ,2024-05-01T08:10:00Z,29,3.5,Oslo\n\
             4,,31,4.5,Rome\n\
             5,\"\",32,5.5,Rome\n"
        ),
    )
    .unwrap();
    for keep in [false, true] {
        let name = format!("empty-{keep}");
        let group = env.group(customers(&name));
        let options = IngestOptions::default().csv(CsvOptions::default().keep_empty_strings(keep));
        let report = env
            .ingest(&group, std::slice::from_ref(&file), options)
            .await
            .unwrap();
        // A missing identifier or event time fails the row, either way.
        assert_eq!(
            failures(&report),
            [
                f("empty-cells.csv", 3, Some("customer_id"), Stage::Cast),
                f("empty-cells.csv", 4, Some("event_time"), Stage::Cast),
                f("empty-cells.csv", 5, Some("event_time"), Stage::Cast),
            ]
        );
        if !keep {
            for failure in &report.failures {
                assert!(
                    failure.reason.contains("is empty (a missing value)"),
                    "{failure}"
                );
                assert!(
                    failure.to_string().contains("empty-cells.csv, row "),
                    "{failure}"
                );
            }
        }
        assert_eq!(report.rows_written, 2);
        let one = env.online(&name, "1").unwrap();
        let two = env.online(&name, "2").unwrap();
        let city = |r: &std::collections::BTreeMap<String, String>| r.get("city").cloned();
        if keep {
            assert_eq!(
                (city(&one), city(&two)),
                (Some(String::new()), Some(String::new()))
            );
        } else {
            assert_eq!(
                (city(&one), city(&two)),
                (None, None),
                "missing, as pandas reads it"
            );
        }
        assert_eq!((two.get("age"), two.get("lifetime_value")), (None, None));
    }

    an_empty_string_identifier_is_refused(&env).await;
}

/// A String identifier: an empty cell is missing, and an empty string
/// (kept, or from JSON or Parquet) is refused too, never stored as "".
async fn an_empty_string_identifier_is_refused(env: &Env) {
    let spec = FeatureGroup::builder("by-name", "name", "event_time")
        .features([
            FeatureDefinition::string("name"),
            FeatureDefinition::string("event_time"),
        ])
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://bucket/ingest-tests")
        .build()
        .unwrap();
    let group = env.group(spec);
    let csv = env.path("names.csv");
    std::fs::write(
        &csv,
        "name,event_time\nann,2024-05-01T08:00:00Z\n,2024-05-01T08:00:00Z\n",
    )
    .unwrap();
    let jsonl = env.path("names.jsonl");
    std::fs::write(
        &jsonl,
        "{\"name\": \"\", \"event_time\": \"2024-05-01T08:00:00Z\"}\n{\"name\": \"bo\", \"event_time\": \"2024-05-01T08:00:00Z\"}\n",
    )
    .unwrap();
    for keep in [false, true] {
        let options = IngestOptions::default().csv(CsvOptions::default().keep_empty_strings(keep));
        let report = env
            .ingest(&group, &[csv.clone(), jsonl.clone()], options)
            .await
            .unwrap();
        assert_eq!(
            failures(&report),
            [
                f("names.csv", 2, Some("name"), Stage::Cast),
                f("names.jsonl", 1, Some("name"), Stage::Cast),
            ]
        );
        assert!(
            report
                .failures
                .iter()
                .all(|f| f.reason.contains("record identifier"))
        );
        assert_eq!(report.rows_written, 2);
        assert!(env.online("by-name", "").is_none());
    }
}

#[tokio::test]
async fn json_lines_with_duplicate_keys_arrays_and_scalars_fail_their_lines() {
    let env = Env::new();
    let group = env.group(customers("json-shapes"));
    let file = env.path("shapes.jsonl");
    let good = |id: u32| {
        format!(
            "{{\"customer_id\": {id}, \"event_time\": \"2024-05-01T08:00:00Z\", \"age\": 30, \"city\": \"Oslo\"}}"
        )
    };
    let lines = [
        good(1),
        "{\"customer_id\": 2, \"event_time\": \"2024-05-01T08:00:00Z\", \"age\": 30, \"age\": 31}".into(),
        "[3, \"2024-05-01T08:00:00Z\", 30]".into(),
        "42".into(),
        "\"a string\"".into(),
        "null".into(),
        // The same key written with an escape is still the same key.
        "{\"customer_id\": 7, \"event_time\": \"2024-05-01T08:00:00Z\", \"c\\u0069ty\": \"A\", \"city\": \"B\"}".into(),
        good(8),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let report = env
        .ingest(&group, &[file], IngestOptions::default())
        .await
        .unwrap();
    use Stage::Read;
    assert_eq!(
        failures(&report),
        [
            f("shapes.jsonl", 2, Some("age"), Read),
            f("shapes.jsonl", 3, None, Read),
            f("shapes.jsonl", 4, None, Read),
            f("shapes.jsonl", 5, None, Read),
            f("shapes.jsonl", 6, None, Read),
            f("shapes.jsonl", 7, Some("city"), Read),
        ]
    );
    let reason = |i: usize| report.failures[i].to_string();
    assert!(
        reason(0).contains("\"age\" more than once"),
        "{}",
        reason(0)
    );
    assert!(
        reason(1).contains("is an array, not a JSON object"),
        "{}",
        reason(1)
    );
    assert!(
        reason(2).contains("is a number") && reason(2).contains("\"42\""),
        "{}",
        reason(2)
    );
    assert!(reason(3).contains("is a string"), "{}", reason(3));
    assert!(reason(4).contains("is null"), "{}", reason(4));
    assert!(
        reason(5).contains("\"city\" more than once"),
        "{}",
        reason(5)
    );
    assert_eq!(report.rows_written, 2);
    assert!(env.online("json-shapes", "2").is_none());
    assert!(env.online("json-shapes", "8").is_some());
}

#[tokio::test]
async fn json_numbers_beyond_64_bits_fail_and_large_ones_stay_exact() {
    let env = Env::new();
    let group = env.group(customers("json-numbers"));
    let file = env.path("numbers.jsonl");
    let line = |id: &str, age: &str| {
        format!(
            "{{\"customer_id\": {id}, \"event_time\": \"2024-05-01T08:00:00Z\", \"age\": {age}}}\n"
        )
    };
    let text = [
        line("1", "9223372036854775807"),  // i64::MAX: exact
        line("2", "9007199254740993"),     // 2^53 + 1: no float rounding
        line("3", "9223372036854775808"),  // 2^63
        line("4", "18446744073709551616"), // 2^64
        line("5", "-9223372036854775809"), // below i64::MIN
        line("6", "1e19"),                 // above 2^63, as a float
        line("9223372036854775808", "30"), // the identifier itself
        line("8", "-9223372036854775808"), // i64::MIN: exact
    ]
    .concat();
    std::fs::write(&file, text).unwrap();
    let report = env
        .ingest(&group, &[file], IngestOptions::default())
        .await
        .unwrap();
    use Stage::Cast;
    assert_eq!(
        failures(&report),
        [
            f("numbers.jsonl", 3, Some("age"), Cast),
            f("numbers.jsonl", 4, Some("age"), Cast),
            f("numbers.jsonl", 5, Some("age"), Cast),
            f("numbers.jsonl", 6, Some("age"), Cast),
            f("numbers.jsonl", 7, Some("customer_id"), Cast),
        ]
    );
    let values: Vec<Option<&str>> = report.failures.iter().map(|f| f.value.as_deref()).collect();
    assert_eq!(
        values,
        [
            Some("9223372036854775808"),
            Some("18446744073709551616"),
            Some("-9223372036854775809"),
            Some("1e19"),
            Some("9223372036854775808"),
        ],
        "the value as written"
    );
    for f in &report.failures[..3] {
        assert!(f.reason.contains("64-bit signed range"), "{f}");
    }
    assert_eq!(
        env.online("json-numbers", "1").unwrap()["age"],
        "9223372036854775807"
    );
    assert_eq!(
        env.online("json-numbers", "2").unwrap()["age"],
        "9007199254740993"
    );
    assert_eq!(
        env.online("json-numbers", "8").unwrap()["age"],
        "-9223372036854775808"
    );
}

/// A Parquet file of the customers' columns with `city` replaced by `city`.
fn with_city(city: ArrayRef) -> RecordBatch {
    let base = customers_batch(0, city.len());
    let mut columns: Vec<(String, ArrayRef)> = base
        .schema()
        .fields()
        .iter()
        .zip(base.columns())
        .filter(|(f, _)| f.name() != "city")
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    columns.push(("city".into(), city));
    RecordBatch::try_from_iter(columns).unwrap()
}

#[tokio::test]
async fn parquet_struct_map_and_binary_columns_fail_the_file_naming_column_and_type() {
    let env = Env::new();
    let group = env.group(customers("nested"));
    let structs: ArrayRef = Arc::new(StructArray::from(vec![(
        Arc::new(Field::new("name", DataType::Utf8, true)),
        Arc::new(StringArray::from(vec!["Oslo", "Rome"])) as ArrayRef,
    )]));
    let mut maps = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for city in ["Oslo", "Rome"] {
        maps.keys().append_value("name");
        maps.values().append_value(city);
        maps.append(true).unwrap();
    }
    let maps: ArrayRef = Arc::new(maps.finish());
    let binary: ArrayRef = Arc::new(BinaryArray::from(vec![&b"Oslo"[..], &b"Rome"[..]]));
    let mut inputs = Vec::new();
    for (name, city) in [("struct", structs), ("map", maps), ("binary", binary)] {
        let path = env.path(&format!("{name}.parquet"));
        write_parquet(&path, &with_city(city));
        inputs.push(path);
    }
    // One at a time: files with other column types would also be schema drift.
    for (input, kind) in inputs.iter().zip(["Struct", "Map", "Binary"]) {
        let report = env
            .ingest(
                &group,
                std::slice::from_ref(input),
                IngestOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(report.rows_read, 0);
        assert_eq!(report.file_errors.len(), 1, "{kind}");
        let e = &report.file_errors[0];
        assert_eq!(e.column.as_deref(), Some("city"), "{e:?}");
        assert!(e.reason.contains(kind), "{kind}: {}", e.reason);
    }
    assert!(env.offline_counts("nested", "customer_id").is_empty());
}

#[tokio::test]
async fn a_parquet_file_naming_a_column_twice_fails_naming_it() {
    let env = Env::new();
    let group = env.group(customers("twice"));
    let base = customers_batch(0, 3);
    let mut fields: Vec<Field> = base
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = base.columns().to_vec();
    fields.push(Field::new("age", DataType::Int64, true));
    columns.push(Arc::new(Int64Array::from(vec![1, 2, 3])));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let path = env.path("twice.parquet");
    write_parquet(&path, &batch);
    let report = env
        .ingest(&group, &[path], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(report.rows_read, 0);
    assert_eq!(report.file_errors.len(), 1);
    let e = &report.file_errors[0];
    assert_eq!(
        (name_of(&e.file), e.column.as_deref()),
        ("twice.parquet".into(), Some("age"))
    );
    assert!(
        e.reason.contains("more than one column named \"age\""),
        "{}",
        e.reason
    );
}

#[tokio::test]
async fn a_schema_that_drifts_between_files_fails_the_file_where_it_drifts() {
    let env = Env::new();
    let group = env.group(customers("drift"));
    let first = env.path("part-1.parquet");
    write_parquet(&first, &customers_batch(0, 10));
    // The same columns: no drift.
    let same = env.path("part-2.parquet");
    write_parquet(&same, &customers_batch(10, 10));
    // `age` as text.
    let retyped = env.path("part-3.parquet");
    let b = customers_batch(20, 10);
    let ages: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..10).map(|i| i.to_string()),
    ));
    let columns: Vec<(String, ArrayRef)> = b
        .schema()
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, c)| {
            (
                f.name().clone(),
                if f.name() == "age" {
                    ages.clone()
                } else {
                    c.clone()
                },
            )
        })
        .collect();
    write_parquet(&retyped, &RecordBatch::try_from_iter(columns).unwrap());
    // `lifetime_value` gone.
    let dropped = env.path("part-4.parquet");
    let b = customers_batch(30, 10);
    let i = b.schema().index_of("lifetime_value").unwrap();
    let mut b = b;
    b.remove_column(i);
    write_parquet(&dropped, &b);
    // CSV files: by column names only (every CSV column is text).
    let csv_same = env.path("part-5.csv");
    std::fs::write(
        &csv_same,
        format!("{HEADER}\n50,2024-05-01T08:00:00Z,34,1.5,Oslo\n"),
    )
    .unwrap();
    let csv_without_city = env.path("part-6.csv");
    std::fs::write(
        &csv_without_city,
        "customer_id,event_time,age,lifetime_value\n60,2024-05-01T08:00:00Z,34,1.5\n",
    )
    .unwrap();
    let inputs = [first, same, retyped, dropped, csv_same, csv_without_city];
    let report = env
        .ingest(&group, &inputs, IngestOptions::default())
        .await
        .unwrap();
    let errors: Vec<(String, Option<&str>, &str)> = report
        .file_errors
        .iter()
        .map(|e| (name_of(&e.file), e.column.as_deref(), e.reason.as_str()))
        .collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert_eq!(
        (errors[0].0.as_str(), errors[0].1),
        ("part-3.parquet", Some("age"))
    );
    assert!(
        errors[0]
            .2
            .contains("is Utf8 here but Int64 in the first file"),
        "{}",
        errors[0].2
    );
    assert!(errors[0].2.contains("part-1.parquet"), "{}", errors[0].2);
    assert_eq!(
        (errors[1].0.as_str(), errors[1].1),
        ("part-4.parquet", Some("lifetime_value"))
    );
    assert!(errors[1].2.contains("is missing here"), "{}", errors[1].2);
    assert_eq!(
        (errors[2].0.as_str(), errors[2].1),
        ("part-6.csv", Some("city"))
    );
    assert_eq!(report.rows_written, 21, "parts 1, 2 and 5");

    // The file alone is fine; in strict mode the drift stops the run.
    let alone = env
        .ingest(&group, &[inputs[2].clone()], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!((alone.rows_written, alone.file_errors.len()), (10, 0));
    let err = env
        .ingest(&group, &inputs[..3], IngestOptions::default().strict(true))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("part-3.parquet, column \"age\""),
        "{err}"
    );
}
