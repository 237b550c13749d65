//! A corpus of bad inputs: each gives exactly one `error: ...` line on
//! stderr naming what is wrong and where (file, row, column), a non-zero
//! exit code, and leaves the store as it was.
//!
//! The files are in `tests/data/cli-bad/` (see its README) and
//! `tests/data/create-feature-group-invalid/`; a few are made here
//! (oversize values, a truncated Parquet file).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use featurestore::arrow::array::{
    ArrayRef, BinaryArray, Float64Array, Int64Array, StringArray, StructArray,
};
use serde_json::Value;

use crate::support::{Env, Served, bad};

/// One refused command: its arguments, exit code and the parts its error names.
type Case = (Vec<String>, i32, Vec<String>);

/// The header of the customers CSV files made here.
const HEADER: &str =
    "customer_id,event_time,age,city,lifetime_value,is_premium,sessions_30d,signup_channel";

/// Runs each case, checking the error and that the store is unchanged after it.
fn check_all(env: &Env, cases: &[Case]) {
    let before = env.snapshot();
    for (args, code, parts) in cases {
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        env.run(args).fails(*code, &parts);
        assert_eq!(
            env.snapshot(),
            before,
            "featurestore {args:?} changed the store"
        );
    }
}

fn case(args: &[&str], code: i32, parts: &[&str]) -> Case {
    (
        args.iter().map(|s| (*s).to_owned()).collect(),
        code,
        parts.iter().map(|s| (*s).to_owned()).collect(),
    )
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn bad_data_files_are_refused_and_nothing_is_written() {
    let env = Env::new();
    env.customers(200);
    let files = make_data_files(&env);
    let mut cases = corpus_data_file_cases();
    cases.extend(made_data_file_cases(&files));
    assert!(cases.len() >= 25);
    check_all(&env, &cases);
    assert!(!env.path("failed.txt").exists());
}

/// The data files made here rather than kept in the corpus.
struct DataFiles {
    oversize: PathBuf,
    truncated: PathBuf,
    good: PathBuf,
    txt: PathBuf,
}

/// Writes an oversize CSV, a truncated Parquet file, a good CSV, a `.txt`
/// file and a directory with no data files in it.
fn make_data_files(env: &Env) -> DataFiles {
    let big = "x".repeat(360 * 1024);
    let oversize = env.write(
        "oversize.csv",
        format!(
            "{HEADER}\n9001,2024-06-01T08:00:00Z,30,Berlin,1.0,0,1,web\n\
             9002,2024-06-01T08:00:01Z,31,{big},1.0,0,1,web\n"
        ),
    );
    env.run(&[
        "create-dataset",
        "--rows",
        "500",
        "--out",
        "good.parquet",
        "--seed",
        "9",
    ])
    .ok();
    let parquet = std::fs::read(env.path("good.parquet")).expect("read");
    let truncated = env.write("truncated.parquet", &parquet[..parquet.len() / 2]);
    let good = env.write(
        "good.csv",
        format!("{HEADER}\n9001,2024-06-01T08:00:00Z,30,Berlin,1.0,0,1,web\n"),
    );
    let txt = env.write(
        "data.txt",
        "customer_id,event_time\n1,2024-06-01T08:00:00Z\n",
    );
    std::fs::create_dir_all(env.path("no-data")).expect("mkdir");
    env.write("no-data/notes.md", "nothing to ingest here");
    DataFiles {
        oversize,
        truncated,
        good,
        txt,
    }
}

/// Ingesting the corpus file `file` fails, naming the file and each of `parts`.
fn corpus_ingest(file: &str, parts: &[&str]) -> Case {
    let p = bad(file);
    let mut all = vec![file];
    all.extend_from_slice(parts);
    case(&["ingest", "customers", &path(&p)], 1, &all)
}

/// The corpus's bad CSV, JSON Lines and Parquet files are each refused.
fn corpus_data_file_cases() -> Vec<Case> {
    vec![
        corpus_ingest("ragged.csv", &["row 2", "7 fields", "header has 8"]),
        corpus_ingest("bad-quoting.csv", &["row 2", "quote"]),
        corpus_ingest("latin1.csv", &["row 2", "column \"city\"", "UTF-8"]),
        corpus_ingest(
            "wrong-types.csv",
            &["row 2", "column \"age\"", "\"thirty\"", "integer"],
        ),
        corpus_ingest(
            "wrong-type-fractional.csv",
            &["row 1", "column \"lifetime_value\"", "\"n/a\""],
        ),
        corpus_ingest(
            "non-integer-id.csv",
            &["row 1", "column \"customer_id\"", "\"x9001\""],
        ),
        corpus_ingest(
            "bad-event-time-month.csv",
            &["row 1", "column \"event_time\"", "2024-13-01"],
        ),
        corpus_ingest(
            "bad-event-time-text.csv",
            &["row 1", "column \"event_time\"", "\"yesterday\""],
        ),
        corpus_ingest(
            "bad-event-time-space.csv",
            &["row 1", "column \"event_time\"", "2024-06-01 08:00:00"],
        ),
        corpus_ingest(
            "missing-event-time.csv",
            &["row 1", "column \"event_time\""],
        ),
        corpus_ingest(
            "unknown-column.csv",
            &["column \"favourite_colour\"", "not defined"],
        ),
        corpus_ingest("missing-id-column.csv", &["column \"customer_id\""]),
        corpus_ingest("duplicate-header.csv", &["column \"age\"", "twice"]),
        corpus_ingest("empty.csv", &["empty"]),
        corpus_ingest("empty.jsonl", &["no rows"]),
        corpus_ingest("truncated-line.jsonl", &["row 1", "JSON"]),
        corpus_ingest("wrong-types.jsonl", &["row 1", "column \"age\"", "\"old\""]),
        corpus_ingest("nested.jsonl", &["row 1", "column \"city\""]),
        corpus_ingest("not-parquet.parquet", &["Parquet"]),
    ]
}

/// The files made here, missing files, globs and a bad `--failures` are each refused.
fn made_data_file_cases(files: &DataFiles) -> Vec<Case> {
    vec![
        case(
            &["ingest", "customers", &path(&files.oversize)],
            1,
            &[
                "oversize.csv",
                "row 2",
                "column \"city\"",
                "at most 358400 bytes",
            ],
        ),
        case(
            &["ingest", "customers", &path(&files.truncated)],
            1,
            &["truncated.parquet", "Parquet"],
        ),
        // A good file with a bad one: nothing of either is written.
        case(
            &[
                "ingest",
                "customers",
                &path(&files.good),
                &path(&bad("wrong-types.csv")),
            ],
            1,
            &["wrong-types.csv", "row 2", "nothing was written"],
        ),
        case(
            &["ingest", "customers", "no-such-file.csv"],
            1,
            &["no-such-file.csv", "no such file"],
        ),
        case(
            &["ingest", "customers", &path(&files.txt)],
            1,
            &["data.txt", "unsupported"],
        ),
        case(
            &["ingest", "customers", "no-data"],
            1,
            &["no-data", "names no"],
        ),
        case(&["ingest", "customers", "data/*.csv"], 1, &["data/*.csv"]),
        case(
            &[
                "ingest",
                "customers",
                &path(&files.good),
                "--failures",
                "failed.txt",
            ],
            1,
            &["--failures", "failed.txt", ".csv"],
        ),
    ]
}

#[test]
fn bad_definitions_and_names_are_refused() {
    let env = Env::new();
    let data = env.customers(100);
    let d = path(&data);
    let mut cases = bad_definition_file_cases();
    cases.extend(bad_from_data_argument_cases(&d));
    cases.extend(bad_added_feature_cases());
    cases.extend(shared_invalid_definition_cases());
    check_all(&env, &cases);
}

/// `create-feature-group --definition` of the corpus file `file` fails,
/// naming the file and each of `parts`.
fn definition_case(file: &str, parts: &[&str]) -> Case {
    let mut all = vec![file];
    all.extend_from_slice(parts);
    case(
        &[
            "create-feature-group",
            "orders",
            "--definition",
            &path(&bad(file)),
        ],
        1,
        &all,
    )
}

/// `create-feature-group --from-data` of the corpus file `file` fails,
/// naming the file and each of `parts`.
fn from_data_case(file: &str, parts: &[&str]) -> Case {
    let mut all = vec![file];
    all.extend_from_slice(parts);
    case(
        &[
            "create-feature-group",
            "orders",
            "--from-data",
            &path(&bad(file)),
            "--record-id",
            "customer_id",
            "--event-time",
            "event_time",
        ],
        1,
        &all,
    )
}

/// Bad definition files, a missing one, and bad `--from-data` files are refused.
fn bad_definition_file_cases() -> Vec<Case> {
    vec![
        definition_case(
            "not-json.json",
            &["invalid feature group JSON", "line 1 column 1"],
        ),
        definition_case("truncated.json", &["invalid feature group JSON", "line 7"]),
        definition_case("reserved-name.json", &["\"is_deleted\"", "reserved"]),
        definition_case("bad-feature-name.json", &["\"_private\""]),
        definition_case("unknown-type.json", &["Double", "line 8"]),
        definition_case("missing-record-id.json", &["record identifier", "\"id\""]),
        definition_case("no-store.json", &["online store"]),
        definition_case("empty.json", &["empty"]),
        case(
            &[
                "create-feature-group",
                "orders",
                "--definition",
                "nothing.json",
            ],
            1,
            &["nothing.json", "No such file"],
        ),
        from_data_case("reserved-column.csv", &["\"write_time\"", "reserved"]),
        from_data_case("bad-column-name.csv", &["\"lifetime value\""]),
        from_data_case("empty.csv", &["empty"]),
        from_data_case("empty.jsonl", &["empty"]),
        from_data_case("not-parquet.parquet", &["Parquet"]),
    ]
}

/// With good data `d`: an unknown `--record-id`, the id as event time, a bad
/// group name and an existing group are refused.
fn bad_from_data_argument_cases(d: &str) -> Vec<Case> {
    vec![
        case(
            &[
                "create-feature-group",
                "orders",
                "--from-data",
                d,
                "--record-id",
                "cid",
                "--event-time",
                "event_time",
            ],
            1,
            &["customers.csv", "no column \"cid\"", "--record-id"],
        ),
        case(
            &[
                "create-feature-group",
                "orders",
                "--from-data",
                d,
                "--record-id",
                "customer_id",
                "--event-time",
                "customer_id",
            ],
            1,
            &["customers.csv", "\"customer_id\""],
        ),
        case(
            &[
                "create-feature-group",
                "bad name",
                "--from-data",
                d,
                "--record-id",
                "customer_id",
                "--event-time",
                "event_time",
            ],
            1,
            &["\"bad name\""],
        ),
        case(
            &[
                "create-feature-group",
                "customers",
                "--from-data",
                d,
                "--record-id",
                "customer_id",
                "--event-time",
                "event_time",
            ],
            1,
            &["\"customers\"", "already exists"],
        ),
    ]
}

/// `add-features` refuses reserved, duplicate and bad names, bad types and a missing type.
fn bad_added_feature_cases() -> Vec<Case> {
    vec![
        case(
            &[
                "add-features",
                "customers",
                "--feature",
                "write_time:String",
            ],
            1,
            &["\"write_time\"", "reserved"],
        ),
        case(
            &["add-features", "customers", "--feature", "AGE:String"],
            1,
            &["\"AGE\"", "duplicate"],
        ),
        case(
            &["add-features", "customers", "--feature", "bad name:String"],
            1,
            &["\"bad name\""],
        ),
        case(
            &["add-features", "customers", "--feature", "score:Bool"],
            2,
            &["\"Bool\"", "Integral, Fractional or String"],
        ),
        case(
            &["add-features", "customers", "--feature", "score"],
            2,
            &["NAME:TYPE"],
        ),
    ]
}

/// Each file of the shared corpus of invalid CreateFeatureGroup files is
/// refused, naming the file (at least five of them).
fn shared_invalid_definition_cases() -> Vec<Case> {
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/create-feature-group-invalid");
    let mut files: Vec<_> = std::fs::read_dir(&shared)
        .expect("the shared corpus")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    let mut cases = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        cases.push(case(
            &["create-feature-group", "orders", "--definition", &path(f)],
            1,
            &[&name],
        ));
    }
    cases
}

#[test]
fn unknown_groups_records_and_features() {
    let env = Env::new();
    env.customers(100);
    let data = path(&env.path("customers.csv"));
    let blank = path(&bad("ids-blank.txt"));
    let mut cases = unknown_group_and_record_cases(&data, &blank);
    // Datasets.
    cases.extend(bad_dataset_selection_cases());
    cases.extend(bad_dataset_join_and_output_cases());
    check_all(&env, &cases);
    assert!(!env.path("train.xlsx").exists());
    reads_do_not_create_a_store(&env);
}

/// The error part every unknown group `nope` gives.
const NOT_FOUND: [&str; 2] = ["\"nope\"", "not found"];

/// Commands on an unknown group, unknown features or records, and no or
/// blank ids are refused (`data` a good CSV, `blank` a blank ids file).
fn unknown_group_and_record_cases(data: &str, blank: &str) -> Vec<Case> {
    vec![
        case(&["describe-feature-group", "nope"], 1, &NOT_FOUND),
        case(&["delete-feature-group", "nope"], 1, &NOT_FOUND),
        case(
            &["add-features", "nope", "--feature", "x:String"],
            1,
            &NOT_FOUND,
        ),
        case(&["ingest", "nope", data], 1, &NOT_FOUND),
        case(&["get", "nope", "1"], 1, &NOT_FOUND),
        case(&["get", "nope", "1", "2"], 1, &NOT_FOUND),
        case(
            &["get", "customers", "1", "--features", "age,shoe_size"],
            1,
            &["\"shoe_size\"", "not defined", "\"customers\""],
        ),
        case(
            &["get", "customers", "1", "2", "--features", "shoe_size"],
            1,
            &["\"shoe_size\""],
        ),
        case(
            &["get", "customers", "424242"],
            1,
            &["\"424242\"", "not found"],
        ),
        case(&["get", "customers"], 1, &["no record identifiers"]),
        case(
            &["get", "customers", "--ids-file", "ids.txt"],
            1,
            &["ids.txt", "No such file"],
        ),
        case(
            &["get", "customers", "--ids-file", blank],
            1,
            &["ids-blank.txt", "no record identifiers"],
        ),
    ]
}

/// `dataset` refuses unknown groups and features, a bad `--as-of`, an
/// empty event-time range and `--recent 0`.
fn bad_dataset_selection_cases() -> Vec<Case> {
    vec![
        case(&["dataset", "nope"], 1, &NOT_FOUND),
        case(&["dataset", "customers", "--join", "nope"], 1, &NOT_FOUND),
        case(
            &["dataset", "customers", "--features", "age,shoe_size"],
            1,
            &["`shoe_size`", "`customers`"],
        ),
        case(
            &["dataset", "customers", "--as-of", "yesterday"],
            1,
            &["--as-of", "\"yesterday\"", "ISO-8601"],
        ),
        case(
            &[
                "dataset",
                "customers",
                "--from",
                "2024-06-01T00:00:00Z",
                "--to",
                "2024-05-01T00:00:00Z",
            ],
            1,
            &["event-time range is empty"],
        ),
        case(
            &["dataset", "customers", "--recent", "0"],
            1,
            &["at least 1"],
        ),
    ]
}

/// `dataset` refuses clashing or badly optioned joins, an unknown output
/// format and a missing entities file.
fn bad_dataset_join_and_output_cases() -> Vec<Case> {
    vec![
        case(
            &["dataset", "customers", "--join", "customers"],
            1,
            &["clashes", "prefix"],
        ),
        case(
            &[
                "dataset",
                "customers",
                "--join",
                "customers:prefix=c_:max-age=3w",
            ],
            1,
            &["max-age=\"3w\"", "s, m, h or d"],
        ),
        case(
            &["dataset", "customers", "--join", "customers:nearest"],
            1,
            &["unknown option \"nearest\""],
        ),
        case(
            &["dataset", "customers", "--out", "train.xlsx"],
            1,
            &["train.xlsx", ".parquet, .csv or .arrow"],
        ),
        case(
            &[
                "dataset",
                "--entities",
                "labels.csv",
                "--entity-id",
                "customer_id",
                "--entity-time",
                "t",
                "--join",
                "customers",
            ],
            1,
            &["labels.csv", "no such file"],
        ),
    ]
}

/// A store that does not exist is not created by a read.
fn reads_do_not_create_a_store(env: &Env) {
    for args in [
        &["list-feature-groups"][..],
        &["describe-feature-group", "customers"],
        &["get", "customers", "1"],
        &["dataset", "customers"],
        &["flush"],
    ] {
        let mut all = vec!["--store", "elsewhere"];
        all.extend_from_slice(args);
        env.run_raw(&all)
            .fails(1, &["no feature store at elsewhere"]);
        assert!(!env.path("elsewhere").exists());
    }
}

#[test]
fn invalid_command_lines() {
    let env = Env::new();
    env.customers(50);
    let cases = vec![
        case(&["bogus"], 2, &["bogus", "featurestore --help"]),
        case(
            &["ingest", "customers", "x.csv", "--bogus"],
            2,
            &["--bogus", "featurestore ingest --help"],
        ),
        case(&["ingest", "customers"], 2, &["FILE"]),
        case(
            &["ingest", "customers", "x.csv", "--shard", "3/2"],
            2,
            &["3/2", "0 <= I < N"],
        ),
        case(
            &["ingest", "customers", "x.csv", "--shard", "one/two"],
            2,
            &["one/two"],
        ),
        case(
            &["ingest", "customers", "x.csv", "--concurrency", "0"],
            2,
            &["--concurrency"],
        ),
        case(
            &["sync", "customers", "--concurrency", "0"],
            2,
            &["--concurrency", "0"],
        ),
        case(
            &["sync", "customers", "--max-concurrency", "0"],
            2,
            &["--max-concurrency", "0"],
        ),
        case(
            &["create-dataset", "--rows", "0", "--out", "x.csv"],
            2,
            &["\"0\"", "rows"],
        ),
        case(&["create-dataset", "--rows", "5"], 2, &["--out"]),
        case(
            &[
                "create-dataset",
                "--rows",
                "5",
                "--out",
                "x.csv",
                "--format",
                "xml",
            ],
            2,
            &["xml"],
        ),
        case(
            &["create-dataset", "--rows", "5", "--out", "x.xml"],
            1,
            &["x.xml", "--format"],
        ),
        case(
            &[
                "create-dataset",
                "--rows",
                "5",
                "--out",
                "no/such/dir/x.csv",
            ],
            1,
            &["no/such/dir/x.csv"],
        ),
        case(&["create-feature-group", "g"], 2, &["--definition"]),
        case(
            &[
                "create-feature-group",
                "g",
                "--definition",
                "a.json",
                "--from-data",
                "a.csv",
                "--record-id",
                "a",
                "--event-time",
                "b",
            ],
            2,
            &["--definition"],
        ),
        case(
            &["create-feature-group", "g", "--from-data", "a.csv"],
            2,
            &["--record-id"],
        ),
        case(&["get", "customers", "1", "--format", "xml"], 2, &["xml"]),
        case(&["serve", "--addr", "localhost"], 2, &["localhost"]),
        case(
            &["--region", "eu-west-1", "list-feature-groups"],
            1,
            &["--region", "--aws"],
        ),
        case(&["demo", "--rows", "1"], 2, &["--rows"]),
    ];
    check_all(&env, &cases);
    assert!(!env.path("x.csv").exists() && !env.path("x.xml").exists());
}

#[test]
fn a_store_held_by_another_process_is_refused() {
    let env = Env::new();
    let data = path(&env.customers(100));
    let before = env.snapshot();
    let served = Served::start(&env);
    let pid = format!("(pid {})", served.child.id());
    let store = path(&env.store());
    let held = ["is in use by another writer", &store, &pid];
    let commands: Vec<Vec<&str>> = vec![
        vec!["list-feature-groups"],
        vec!["describe-feature-group", "customers"],
        vec!["get", "customers", "1"],
        vec!["get", "customers", "1", "2"],
        vec!["ingest", "customers", &data],
        vec![
            "create-feature-group",
            "orders",
            "--from-data",
            &data,
            "--record-id",
            "customer_id",
            "--event-time",
            "event_time",
        ],
        vec!["add-features", "customers", "--feature", "x:String"],
        vec!["delete-feature-group", "customers"],
        vec!["flush"],
        vec!["serve"],
    ];
    for args in &commands {
        env.run(args).fails(1, &held);
    }
    let status = served.terminate();
    assert!(status.success(), "serve stops cleanly on SIGTERM: {status}");
    assert_eq!(env.snapshot(), before);
}

/// Writes `columns` (name, array) as a Parquet file in the test directory.
fn parquet(
    env: &Env,
    name: &str,
    columns: Vec<(&str, featurestore::arrow::array::ArrayRef)>,
) -> String {
    use featurestore::arrow::array::RecordBatch;
    use featurestore::arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(
        std::sync::Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("a batch");
    let p = env.path(name);
    let mut w = featurestore::parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&p).expect("create"),
        batch.schema(),
        None,
    )
    .expect("a writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    path(&p)
}

/// Issue 17's bad inputs through the CLI: each a one-line error naming the
/// file, row and column (where they apply) and the value, and nothing
/// written; a header-only CSV is an ingest of zero rows; CRLF is read
/// clean; empty cells are missing values unless --keep-empty-strings.
#[test]
fn real_files_with_bad_inputs_give_one_line_errors_and_write_nothing() {
    let env = Env::new();
    env.customers(50);
    let files = write_odd_files(&env);
    let mut cases = odd_csv_and_jsonl_cases(&files);
    cases.extend(odd_parquet_and_drifting_cases(&files));
    check_all(&env, &cases);
    a_header_only_csv_ingests_zero_rows(&env);
    crlf_leaves_no_carriage_return(&env);
    empty_cells_are_missing_unless_kept(&env);
}

/// The event time of the rows made here.
const TIME: &str = "2024-06-01T08:00:00Z";

/// A customers CSV row with `id`, `time` and `city`.
fn row(id: &str, time: &str, city: &str) -> String {
    format!("{id},{time},30,{city},1.0,0,1,web")
}

/// Writes a customers CSV `name` with `rows` under the header; returns its path.
fn csv(env: &Env, name: &str, rows: &[String]) -> String {
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    path(&env.write(name, text))
}

/// Writes a JSON Lines file `name` of one `line`; returns its path.
fn jsonl(env: &Env, name: &str, line: &str) -> String {
    path(&env.write(name, format!("{line}\n")))
}

/// Two customers' columns, with `city` as the city column.
fn base(city: ArrayRef) -> Vec<(&'static str, ArrayRef)> {
    vec![
        (
            "customer_id",
            Arc::new(Int64Array::from(vec![9001, 9002])) as ArrayRef,
        ),
        ("event_time", Arc::new(StringArray::from(vec![TIME, TIME]))),
        ("age", Arc::new(Int64Array::from(vec![30, 31]))),
        (
            "lifetime_value",
            Arc::new(Float64Array::from(vec![1.0, 2.0])),
        ),
        ("city", city),
    ]
}

/// The paths of the odd files the one-line-error cases ingest.
struct OddFiles {
    nul: String,
    empty_id: String,
    empty_time: String,
    quoted_empty_time: String,
    good: String,
    no_city: String,
    dup: String,
    array: String,
    scalar: String,
    big: String,
    struct_file: String,
    map_file: String,
    binary: String,
    twice: String,
}

/// Writes the odd CSV, JSON Lines and Parquet files.
fn write_odd_files(env: &Env) -> OddFiles {
    let t = TIME;
    OddFiles {
        nul: csv(env, "nul.csv", &[row("9001", t, "Ber\0lin")]),
        empty_id: csv(
            env,
            "empty-id.csv",
            &[row("9001", t, "Oslo"), row("", t, "Oslo")],
        ),
        empty_time: csv(env, "empty-time.csv", &[row("9001", "", "Oslo")]),
        quoted_empty_time: csv(env, "quoted-empty-time.csv", &[row("9001", "\"\"", "Oslo")]),
        good: csv(env, "good.csv", &[row("9001", t, "Oslo")]),
        no_city: path(&env.write(
            "no-city.csv",
            format!(
                "customer_id,event_time,age,lifetime_value,is_premium,sessions_30d,signup_channel\n\
                 9002,{t},30,1.0,0,1,web\n"
            ),
        )),
        dup: jsonl(
            env,
            "dup-keys.jsonl",
            &format!(
                "{{\"customer_id\": 9001, \"event_time\": \"{t}\", \"age\": 30, \"age\": 31}}"
            ),
        ),
        array: jsonl(env, "array.jsonl", &format!("[9001, \"{t}\", 30]")),
        scalar: jsonl(env, "scalar.jsonl", "42"),
        big: jsonl(
            env,
            "big.jsonl",
            &format!(
                "{{\"customer_id\": 9001, \"event_time\": \"{t}\", \"age\": 9223372036854775808}}"
            ),
        ),
        struct_file: parquet(env, "struct.parquet", base(struct_cities())),
        map_file: parquet(env, "map.parquet", base(map_cities())),
        binary: parquet(
            env,
            "binary.parquet",
            base(Arc::new(BinaryArray::from(vec![
                &b"Oslo"[..],
                &b"Rome"[..],
            ]))),
        ),
        twice: parquet(env, "twice.parquet", age_twice()),
    }
}

/// Cities as structs with a name.
fn struct_cities() -> ArrayRef {
    use featurestore::arrow::datatypes::{DataType, Field};
    Arc::new(StructArray::from(vec![(
        Arc::new(Field::new("name", DataType::Utf8, true)),
        Arc::new(StringArray::from(vec!["Oslo", "Rome"])) as ArrayRef,
    )]))
}

/// Cities as maps from "name".
fn map_cities() -> ArrayRef {
    use featurestore::arrow::array::builder::{MapBuilder, StringBuilder};
    let mut maps = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for city in ["Oslo", "Rome"] {
        maps.keys().append_value("name");
        maps.values().append_value(city);
        maps.append(true).expect("a map");
    }
    Arc::new(maps.finish())
}

/// Two customers' columns with an `age` column twice.
fn age_twice() -> Vec<(&'static str, ArrayRef)> {
    let mut twice = base(Arc::new(StringArray::from(vec!["Oslo", "Rome"])));
    twice.push(("age", Arc::new(Int64Array::from(vec![1, 2]))));
    twice
}

/// Ingesting `files` into customers fails, naming each of `parts`.
fn ingest_files(files: &[&str], parts: &[&str]) -> Case {
    let mut args = vec!["ingest", "customers"];
    args.extend_from_slice(files);
    case(&args, 1, parts)
}

/// NUL bytes, empty ids and times, duplicate keys, non-objects and too big
/// an integer in CSV and JSON Lines are refused.
fn odd_csv_and_jsonl_cases(files: &OddFiles) -> Vec<Case> {
    vec![
        ingest_files(
            &[&files.nul],
            &[
                "nul.csv",
                "row 1",
                "column \"city\"",
                "NUL byte",
                "Ber\\0lin",
            ],
        ),
        ingest_files(
            &[&files.empty_id],
            &[
                "empty-id.csv",
                "row 2",
                "column \"customer_id\"",
                "is empty",
                "record identifier",
            ],
        ),
        ingest_files(
            &[&files.empty_time],
            &[
                "empty-time.csv",
                "row 1",
                "column \"event_time\"",
                "is empty",
            ],
        ),
        ingest_files(
            &[&files.quoted_empty_time],
            &[
                "quoted-empty-time.csv",
                "row 1",
                "column \"event_time\"",
                "is empty",
            ],
        ),
        ingest_files(
            &[&files.dup],
            &[
                "dup-keys.jsonl",
                "row 1",
                "column \"age\"",
                "more than once",
            ],
        ),
        ingest_files(
            &[&files.array],
            &["array.jsonl", "row 1", "is an array, not a JSON object"],
        ),
        ingest_files(
            &[&files.scalar],
            &["scalar.jsonl", "row 1", "is a number", "\"42\""],
        ),
        ingest_files(
            &[&files.big],
            &[
                "big.jsonl",
                "row 1",
                "column \"age\"",
                "\"9223372036854775808\"",
                "64-bit",
            ],
        ),
    ]
}

/// Struct, map and binary columns, a column twice, and a schema that drifts
/// between two files are refused.
fn odd_parquet_and_drifting_cases(files: &OddFiles) -> Vec<Case> {
    vec![
        ingest_files(
            &[&files.struct_file],
            &["struct.parquet", "column \"city\"", "Struct"],
        ),
        ingest_files(
            &[&files.map_file],
            &["map.parquet", "column \"city\"", "Map"],
        ),
        ingest_files(
            &[&files.binary],
            &["binary.parquet", "column \"city\"", "Binary"],
        ),
        ingest_files(
            &[&files.twice],
            &["twice.parquet", "column \"age\"", "more than one column"],
        ),
        // The schema drifts between two files: nothing of either is written.
        ingest_files(
            &[&files.good, &files.no_city],
            &[
                "no-city.csv",
                "column \"city\"",
                "missing here",
                "good.csv",
                "nothing was written",
            ],
        ),
    ]
}

/// A header and no rows: zero rows ingested, said so, exit 0.
fn a_header_only_csv_ingests_zero_rows(env: &Env) {
    let before = env.snapshot();
    let header_only = csv(env, "header-only.csv", &[]);
    let out = env.run(&["ingest", "customers", &header_only]);
    out.ok();
    assert!(out.stdout.contains("no data rows"), "{}", out.stdout);
    let json = env.run(&["--json", "ingest", "customers", &header_only]);
    assert_eq!(json.ok().json()["rows_read"], 0);
    assert_eq!(env.snapshot(), before);
}

/// Customer `id`'s record as `get --json` gives it.
fn record(env: &Env, id: &str) -> Value {
    env.run(&["--json", "get", "customers", id]).ok().json()["records"][0].clone()
}

/// CRLF: no value keeps a trailing carriage return.
fn crlf_leaves_no_carriage_return(env: &Env) {
    let t = TIME;
    let crlf = path(&env.write(
        "crlf.csv",
        format!(
            "{HEADER}\r\n{}\r\n{}\r\n",
            row("9101", t, "Berlin"),
            row("9102", t, "")
        ),
    ));
    env.run(&["ingest", "customers", &crlf]).ok();
    assert_eq!(record(env, "9101")["city"], "Berlin");
    assert_eq!(record(env, "9101")["signup_channel"], "web");
}

/// An empty cell is a missing value; --keep-empty-strings keeps "".
fn empty_cells_are_missing_unless_kept(env: &Env) {
    assert!(
        record(env, "9102")["city"].is_null(),
        "{}",
        record(env, "9102")
    );
    let kept = csv(env, "kept.csv", &[row("9103", TIME, "")]);
    env.run(&["ingest", "customers", &kept, "--keep-empty-strings"])
        .ok();
    assert_eq!(record(env, "9103")["city"], "");
}
