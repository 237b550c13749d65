//! Bad inputs (`tests/data/ingest`): bad rows are reported with file, row,
//! column and value while good rows are written; strict mode; the failures
//! file, fixed and ingested again.

use std::collections::BTreeMap;
use std::path::Path;

use fs_ingest::{Error, Failure, IngestOptions, IngestReport, Stage};

use crate::support::{Env, customers, data_dir};

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn key(f: &Failure) -> (String, u64, Option<&str>, Stage) {
    (name_of(&f.file), f.row, f.column.as_deref(), f.stage)
}

// The corpus's files with bad rows.
const EVENT_TIMES: &str = "customers-bad-event-times.csv";
const LINES: &str = "customers-bad-lines.jsonl";
const QUOTING: &str = "customers-bad-quoting.csv";
const LATIN1: &str = "customers-latin1.csv";
const RAGGED: &str = "customers-ragged.csv";
const TYPES: &str = "customers-wrong-types.csv";

/// Every bad row of the corpus fails, in file and row order, naming its
/// column (when it has one) and the stage it failed in.
fn assert_failed_rows(report: &IngestReport) {
    let got: Vec<_> = report.failures.iter().map(key).collect();
    let f = |file: &str, row, column: Option<&'static str>, stage| {
        (file.to_owned(), row, column, stage)
    };
    use Stage::{Cast, Read};
    let (et, lines, quoting, latin1, ragged, types) =
        (EVENT_TIMES, LINES, QUOTING, LATIN1, RAGGED, TYPES);
    assert_eq!(
        got,
        [
            f(et, 2, Some("event_time"), Cast),
            f(et, 3, Some("event_time"), Cast),
            f(et, 4, Some("event_time"), Cast),
            f(et, 5, Some("event_time"), Cast),
            f(lines, 2, None, Read),
            f(lines, 3, Some("age"), Read),
            f(lines, 4, Some("nickname"), Read),
            f(lines, 5, Some("age"), Cast),
            f(lines, 6, Some("event_time"), Cast),
            f(quoting, 2, None, Read),
            f(latin1, 2, Some("city"), Read),
            f(latin1, 4, Some("city"), Read),
            f(ragged, 3, None, Read),
            f(ragged, 4, None, Read),
            f(types, 2, Some("age"), Cast),
            f(types, 3, Some("lifetime_value"), Cast),
            f(types, 4, Some("age"), Cast),
            f(types, 5, Some("customer_id"), Cast),
        ]
    );
}

/// The failures' values and reasons say what was wrong, and each carries
/// its row's original values.
fn assert_values_and_reasons(report: &IngestReport) {
    let (et, lines, quoting, latin1, ragged, types) =
        (EVENT_TIMES, LINES, QUOTING, LATIN1, RAGGED, TYPES);
    let by_key: BTreeMap<_, &Failure> = report
        .failures
        .iter()
        .map(|f| ((name_of(&f.file), f.row), f))
        .collect();
    let at = |file: &str, row: u64| by_key[&(file.to_owned(), row)];
    assert_eq!(at(types, 2).value.as_deref(), Some("thirty"));
    assert_eq!(at(types, 4).value.as_deref(), Some("29.5"));
    assert!(
        at(types, 4).reason.contains("fractional part"),
        "{}",
        at(types, 4)
    );
    assert_eq!(at(et, 4).value.as_deref(), Some("2024-05-04 11:15:00"));
    assert_eq!(
        at(et, 5).value.as_deref(),
        None,
        "an empty cell is a missing value"
    );
    assert!(
        at(et, 5).reason.contains("is empty (a missing value)")
            && at(et, 5).reason.contains("event time"),
        "{}",
        at(et, 5)
    );
    assert_eq!(at(latin1, 2).value.as_deref(), Some("Montr\u{fffd}al"));
    assert!(at(latin1, 2).reason.contains("UTF-8"), "{}", at(latin1, 2));
    assert!(
        at(ragged, 3)
            .reason
            .contains("has 4 fields; the header has 5"),
        "{}",
        at(ragged, 3)
    );
    assert!(at(ragged, 4).reason.contains("extra"), "{}", at(ragged, 4));
    assert!(
        at(quoting, 2).reason.contains("unclosed quote"),
        "{}",
        at(quoting, 2)
    );
    assert!(
        at(lines, 4).reason.contains("no such feature"),
        "{}",
        at(lines, 4)
    );
    assert_eq!(at(lines, 6).value.as_deref(), Some("1714911600.5"));
    // Original values travel with each failure.
    assert_eq!(at(types, 3).values.get_str("city"), Some("Paris"));
    assert_eq!(at(ragged, 4).values.get_str("city"), Some("Oslo"));
    assert_eq!(at(lines, 3).values.get_str("city"), Some("Bogota"));
}

/// Every good row is in the store, and only those.
fn assert_only_good_rows_written(env: &Env, report: &IngestReport) {
    let good = [1, 2, 5, 10, 20, 25, 30, 35, 40, 46, 50, 52];
    assert_eq!(report.rows_written, good.len() as u64);
    assert_eq!(report.rows_failed, 18);
    let offline = env.offline_counts("bad-inputs", "customer_id");
    let ids: Vec<i64> = offline
        .keys()
        .map(|k| k.parse().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(ids, good);
    assert_eq!(
        env.online("bad-inputs", "25").unwrap().get("age"),
        None,
        "empty cells are null"
    );
    assert_eq!(
        env.online("bad-inputs", "35").unwrap()["event_time"],
        "2024-05-04T11:25:00.123Z"
    );
}

#[tokio::test]
async fn bad_rows_are_reported_with_file_row_column_and_value_while_good_rows_are_written() {
    let env = Env::new();
    let group = env.group(customers("bad-inputs"));
    let report = env
        .ingest(&group, &[data_dir()], IngestOptions::default())
        .await
        .unwrap();

    assert_failed_rows(&report);
    assert_values_and_reasons(&report);

    // The empty file is a file error; the others are read to their end.
    assert_eq!(report.file_errors.len(), 1);
    assert_eq!(name_of(&report.file_errors[0].file), "empty.csv");
    assert!(
        report.file_errors[0].reason.contains("empty"),
        "{:?}",
        report.file_errors
    );
    assert_eq!(report.files.iter().filter(|f| f.complete).count(), 6);

    assert_only_good_rows_written(&env, &report);
}

#[tokio::test]
async fn strict_mode_stops_at_the_first_failure_after_writing_the_rows_before_it() {
    let env = Env::new();
    let group = env.group(customers("strict"));
    let input = data_dir().join("customers-wrong-types.csv");
    let err = env
        .ingest(&group, &[input], IngestOptions::default().strict(true))
        .await
        .unwrap_err();
    let Error::Strict { failure, report } = &err else {
        panic!("expected a strict-mode stop, got {err}");
    };
    assert_eq!((failure.row, failure.column.as_deref()), (2, Some("age")));
    assert_eq!(failure.value.as_deref(), Some("thirty"));
    assert_eq!(
        (report.rows_read, report.rows_written, report.rows_failed),
        (2, 1, 1)
    );
    assert!(
        err.to_string().contains("customers-wrong-types.csv, row 2"),
        "{err}"
    );
    assert!(env.online("strict", "20").is_some());
    assert!(env.online("strict", "22").is_none());

    // An unreadable file stops a strict run too.
    let err = env
        .ingest(
            &group,
            &[data_dir().join("empty.csv")],
            IngestOptions::default().strict(true),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Stopped { source, .. } if matches!(**source, Error::Read { .. })),
        "{err}"
    );
    assert!(
        err.file().is_some_and(|f| f.ends_with("empty.csv")),
        "{err}"
    );
}

#[tokio::test]
async fn too_many_failures_stop_the_run() {
    let env = Env::new();
    let group = env.group(customers("too-many"));
    let input = data_dir().join("customers-wrong-types.csv");
    let err = env
        .ingest(
            &group,
            &[input],
            IngestOptions::default().max_failures(2).batch_size(2),
        )
        .await
        .unwrap_err();
    let Error::TooManyFailures { limit, report } = &err else {
        panic!("{err}");
    };
    assert_eq!(*limit, 2);
    assert_eq!(report.rows_failed, 3);
}

/// Replaces each bad value of a failures-file row with a good one.
fn fix(column: &str, value: &str) -> String {
    let ok = match column {
        "customer_id" | "age" => value.parse::<i64>().is_ok(),
        "lifetime_value" => value.parse::<f64>().is_ok(),
        "city" => !value.is_empty(),
        _ => true,
    };
    match (ok, column) {
        (true, _) => value.to_owned(),
        (false, "customer_id") => "24".into(),
        (false, "age") => "30".into(),
        (false, "lifetime_value") => "1.5".into(),
        (false, _) => "Fixed".into(),
    }
}

async fn round_trip(ext: &str) {
    let env = Env::new();
    let group = env.group(customers(&format!("round-trip-{ext}")));
    let inputs = [
        data_dir().join("customers-wrong-types.csv"),
        data_dir().join("customers-ragged.csv"),
    ];
    let failures = env.path(&format!("failures.{ext}"));
    let report = env
        .ingest(
            &group,
            &inputs,
            IngestOptions::default().failures_file(&failures),
        )
        .await
        .unwrap();
    assert_eq!((report.rows_written, report.rows_failed), (5, 6));

    // The file names each failure; fix the values and feed it back.
    let text = std::fs::read_to_string(&failures).unwrap();
    let fixed = env.path(&format!("fixed.{ext}"));
    if ext == "csv" {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let header = r.headers().unwrap().clone();
        assert_eq!(
            header.iter().take(5).collect::<Vec<_>>(),
            [
                "_ingest_file",
                "_ingest_row",
                "_ingest_column",
                "_ingest_stage",
                "_ingest_reason"
            ]
        );
        let mut w = csv::Writer::from_path(&fixed).unwrap();
        w.write_record(&header).unwrap();
        let mut rows = 0;
        for rec in r.records() {
            let rec = rec.unwrap();
            rows += 1;
            let out: Vec<String> = header
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| {
                    if h.starts_with('_') {
                        v.to_owned()
                    } else {
                        fix(h, v)
                    }
                })
                .collect();
            w.write_record(&out).unwrap();
        }
        assert_eq!(rows, 6);
        w.flush().unwrap();
    } else {
        let mut out = String::new();
        for line in text.lines() {
            let mut v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).unwrap();
            assert!(v.contains_key("_ingest_reason"), "{line}");
            for c in ["customer_id", "age", "lifetime_value", "city"] {
                let old = v
                    .get(c)
                    .and_then(|x| x.as_str())
                    .unwrap_or_default()
                    .to_owned();
                v.insert(c.into(), fix(c, &old).into());
            }
            out.push_str(&serde_json::to_string(&v).unwrap());
            out.push('\n');
        }
        std::fs::write(&fixed, out).unwrap();
    }
    let again = env
        .ingest(&group, &[fixed], IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (again.rows_written, again.rows_failed),
        (6, 0),
        "{:#?}",
        again.failures
    );
    let name = group.feature_group_name.clone();
    for id in ["21", "22", "23", "24", "3", "4"] {
        assert!(env.online(&name, id).is_some(), "{id} after the fix");
    }
    assert_eq!(env.online(&name, "21").unwrap()["age"], "30");
    assert_eq!(env.online(&name, "4").unwrap()["city"], "Oslo");
}

#[tokio::test]
async fn a_csv_failures_file_is_fixed_and_ingested_again() {
    round_trip("csv").await;
}

#[tokio::test]
async fn a_json_lines_failures_file_is_fixed_and_ingested_again() {
    round_trip("jsonl").await;
}
