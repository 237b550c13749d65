//! A corpus of bad inputs: each gives exactly one `error: ...` line on
//! stderr naming what is wrong and where (file, row, column), a non-zero
//! exit code, and leaves the store as it was.
//!
//! The files are in `tests/data/cli-bad/` (see its README) and
//! `tests/data/create-feature-group-invalid/`; a few are made here
//! (oversize values, a truncated Parquet file).

use std::path::Path;

use crate::support::{Env, Served, bad};

/// Runs each case, checking the error and that the store is unchanged after it.
fn check_all(env: &Env, cases: &[(Vec<String>, i32, Vec<String>)]) {
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

fn case(args: &[&str], code: i32, parts: &[&str]) -> (Vec<String>, i32, Vec<String>) {
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
    let header =
        "customer_id,event_time,age,city,lifetime_value,is_premium,sessions_30d,signup_channel";
    let big = "x".repeat(360 * 1024);
    let oversize = env.write(
        "oversize.csv",
        format!(
            "{header}\n9001,2024-06-01T08:00:00Z,30,Berlin,1.0,0,1,web\n\
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
        format!("{header}\n9001,2024-06-01T08:00:00Z,30,Berlin,1.0,0,1,web\n"),
    );
    let txt = env.write(
        "data.txt",
        "customer_id,event_time\n1,2024-06-01T08:00:00Z\n",
    );
    std::fs::create_dir_all(env.path("no-data")).expect("mkdir");
    env.write("no-data/notes.md", "nothing to ingest here");

    let ingest = |file: &str, parts: &[&str]| {
        let p = bad(file);
        let mut all = vec![file];
        all.extend_from_slice(parts);
        case(&["ingest", "customers", &path(&p)], 1, &all)
    };
    let cases = vec![
        ingest("ragged.csv", &["row 2", "7 fields", "header has 8"]),
        ingest("bad-quoting.csv", &["row 2", "quote"]),
        ingest("latin1.csv", &["row 2", "column \"city\"", "UTF-8"]),
        ingest(
            "wrong-types.csv",
            &["row 2", "column \"age\"", "\"thirty\"", "integer"],
        ),
        ingest(
            "wrong-type-fractional.csv",
            &["row 1", "column \"lifetime_value\"", "\"n/a\""],
        ),
        ingest(
            "non-integer-id.csv",
            &["row 1", "column \"customer_id\"", "\"x9001\""],
        ),
        ingest(
            "bad-event-time-month.csv",
            &["row 1", "column \"event_time\"", "2024-13-01"],
        ),
        ingest(
            "bad-event-time-text.csv",
            &["row 1", "column \"event_time\"", "\"yesterday\""],
        ),
        ingest(
            "bad-event-time-space.csv",
            &["row 1", "column \"event_time\"", "2024-06-01 08:00:00"],
        ),
        ingest(
            "missing-event-time.csv",
            &["row 1", "column \"event_time\""],
        ),
        ingest(
            "unknown-column.csv",
            &["column \"favourite_colour\"", "not defined"],
        ),
        ingest("missing-id-column.csv", &["column \"customer_id\""]),
        ingest("duplicate-header.csv", &["column \"age\"", "twice"]),
        ingest("empty.csv", &["empty"]),
        ingest("empty.jsonl", &["no rows"]),
        ingest("truncated-line.jsonl", &["row 1", "JSON"]),
        ingest("wrong-types.jsonl", &["row 1", "column \"age\"", "\"old\""]),
        ingest("nested.jsonl", &["row 1", "column \"city\""]),
        ingest("not-parquet.parquet", &["Parquet"]),
        case(
            &["ingest", "customers", &path(&oversize)],
            1,
            &[
                "oversize.csv",
                "row 2",
                "column \"city\"",
                "at most 358400 bytes",
            ],
        ),
        case(
            &["ingest", "customers", &path(&truncated)],
            1,
            &["truncated.parquet", "Parquet"],
        ),
        // A good file with a bad one: nothing of either is written.
        case(
            &[
                "ingest",
                "customers",
                &path(&good),
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
            &["ingest", "customers", &path(&txt)],
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
                &path(&good),
                "--failures",
                "failed.txt",
            ],
            1,
            &["--failures", "failed.txt", ".csv"],
        ),
    ];
    assert!(cases.len() >= 25);
    check_all(&env, &cases);
    assert!(!env.path("failed.txt").exists());
}

#[test]
fn bad_definitions_and_names_are_refused() {
    let env = Env::new();
    let data = env.customers(100);
    let d = path(&data);
    let create = |file: &str, parts: &[&str]| {
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
    };
    let from_data = |file: &str, parts: &[&str]| {
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
    };
    let mut cases = vec![
        create(
            "not-json.json",
            &["invalid feature group JSON", "line 1 column 1"],
        ),
        create("truncated.json", &["invalid feature group JSON", "line 7"]),
        create("reserved-name.json", &["\"is_deleted\"", "reserved"]),
        create("bad-feature-name.json", &["\"_private\""]),
        create("unknown-type.json", &["Double", "line 8"]),
        create("missing-record-id.json", &["record identifier", "\"id\""]),
        create("no-store.json", &["online store"]),
        create("empty.json", &["empty"]),
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
        from_data("reserved-column.csv", &["\"write_time\"", "reserved"]),
        from_data("bad-column-name.csv", &["\"lifetime value\""]),
        from_data("empty.csv", &["empty"]),
        from_data("empty.jsonl", &["empty"]),
        from_data("not-parquet.parquet", &["Parquet"]),
        case(
            &[
                "create-feature-group",
                "orders",
                "--from-data",
                &d,
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
                &d,
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
                &d,
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
                &d,
                "--record-id",
                "customer_id",
                "--event-time",
                "event_time",
            ],
            1,
            &["\"customers\"", "already exists"],
        ),
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
    ];
    // The shared corpus of invalid CreateFeatureGroup files.
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/create-feature-group-invalid");
    let mut files: Vec<_> = std::fs::read_dir(&shared)
        .expect("the shared corpus")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5);
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
    check_all(&env, &cases);
}

#[test]
fn unknown_groups_records_and_features() {
    let env = Env::new();
    env.customers(100);
    let data = path(&env.path("customers.csv"));
    let blank = path(&bad("ids-blank.txt"));
    let not_found = ["\"nope\"", "not found"];
    let cases = vec![
        case(&["describe-feature-group", "nope"], 1, &not_found),
        case(&["delete-feature-group", "nope"], 1, &not_found),
        case(
            &["add-features", "nope", "--feature", "x:String"],
            1,
            &not_found,
        ),
        case(&["ingest", "nope", &data], 1, &not_found),
        case(&["get", "nope", "1"], 1, &not_found),
        case(&["get", "nope", "1", "2"], 1, &not_found),
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
            &["get", "customers", "--ids-file", &blank],
            1,
            &["ids-blank.txt", "no record identifiers"],
        ),
        // Datasets.
        case(&["dataset", "nope"], 1, &not_found),
        case(&["dataset", "customers", "--join", "nope"], 1, &not_found),
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
            &["train.xlsx", ".parquet or .csv"],
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
    ];
    check_all(&env, &cases);
    assert!(!env.path("train.xlsx").exists());

    // A store that does not exist is not created by a read.
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
    use std::sync::Arc;

    use featurestore::arrow::array::{
        ArrayRef, BinaryArray, Float64Array, Int64Array, StringArray, StructArray,
    };
    use featurestore::arrow::datatypes::{DataType, Field};

    let env = Env::new();
    env.customers(50);
    let header =
        "customer_id,event_time,age,city,lifetime_value,is_premium,sessions_30d,signup_channel";
    let row = |id: &str, time: &str, city: &str| format!("{id},{time},30,{city},1.0,0,1,web");
    let t = "2024-06-01T08:00:00Z";
    let csv = |name: &str, rows: &[String]| {
        let mut text = format!("{header}\n");
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        path(&env.write(name, text))
    };
    let nul = csv("nul.csv", &[row("9001", t, "Ber\0lin")]);
    let empty_id = csv(
        "empty-id.csv",
        &[row("9001", t, "Oslo"), row("", t, "Oslo")],
    );
    let empty_time = csv("empty-time.csv", &[row("9001", "", "Oslo")]);
    let quoted_empty_time = csv("quoted-empty-time.csv", &[row("9001", "\"\"", "Oslo")]);
    let good = csv("good.csv", &[row("9001", t, "Oslo")]);
    let no_city = path(&env.write(
        "no-city.csv",
        format!(
            "customer_id,event_time,age,lifetime_value,is_premium,sessions_30d,signup_channel\n\
             9002,{t},30,1.0,0,1,web\n"
        ),
    ));
    let jsonl = |name: &str, line: &str| path(&env.write(name, format!("{line}\n")));
    let dup = jsonl(
        "dup-keys.jsonl",
        &format!("{{\"customer_id\": 9001, \"event_time\": \"{t}\", \"age\": 30, \"age\": 31}}"),
    );
    let array = jsonl("array.jsonl", &format!("[9001, \"{t}\", 30]"));
    let scalar = jsonl("scalar.jsonl", "42");
    let big = jsonl(
        "big.jsonl",
        &format!(
            "{{\"customer_id\": 9001, \"event_time\": \"{t}\", \"age\": 9223372036854775808}}"
        ),
    );
    let base = |city: ArrayRef| -> Vec<(&'static str, ArrayRef)> {
        vec![
            (
                "customer_id",
                Arc::new(Int64Array::from(vec![9001, 9002])) as ArrayRef,
            ),
            ("event_time", Arc::new(StringArray::from(vec![t, t]))),
            ("age", Arc::new(Int64Array::from(vec![30, 31]))),
            (
                "lifetime_value",
                Arc::new(Float64Array::from(vec![1.0, 2.0])),
            ),
            ("city", city),
        ]
    };
    let structs: ArrayRef = Arc::new(StructArray::from(vec![(
        Arc::new(Field::new("name", DataType::Utf8, true)),
        Arc::new(StringArray::from(vec!["Oslo", "Rome"])) as ArrayRef,
    )]));
    let struct_file = parquet(&env, "struct.parquet", base(structs));
    let map_file = {
        use featurestore::arrow::array::builder::{MapBuilder, StringBuilder};
        let mut maps = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for city in ["Oslo", "Rome"] {
            maps.keys().append_value("name");
            maps.values().append_value(city);
            maps.append(true).expect("a map");
        }
        parquet(&env, "map.parquet", base(Arc::new(maps.finish())))
    };
    let binary = parquet(
        &env,
        "binary.parquet",
        base(Arc::new(BinaryArray::from(vec![
            &b"Oslo"[..],
            &b"Rome"[..],
        ]))),
    );
    let mut twice = base(Arc::new(StringArray::from(vec!["Oslo", "Rome"])));
    twice.push(("age", Arc::new(Int64Array::from(vec![1, 2]))));
    let twice = parquet(&env, "twice.parquet", twice);

    let ingest = |files: &[&str], parts: &[&str]| {
        let mut args = vec!["ingest", "customers"];
        args.extend_from_slice(files);
        case(&args, 1, parts)
    };
    let cases = vec![
        ingest(
            &[&nul],
            &[
                "nul.csv",
                "row 1",
                "column \"city\"",
                "NUL byte",
                "Ber\\0lin",
            ],
        ),
        ingest(
            &[&empty_id],
            &[
                "empty-id.csv",
                "row 2",
                "column \"customer_id\"",
                "is empty",
                "record identifier",
            ],
        ),
        ingest(
            &[&empty_time],
            &[
                "empty-time.csv",
                "row 1",
                "column \"event_time\"",
                "is empty",
            ],
        ),
        ingest(
            &[&quoted_empty_time],
            &[
                "quoted-empty-time.csv",
                "row 1",
                "column \"event_time\"",
                "is empty",
            ],
        ),
        ingest(
            &[&dup],
            &[
                "dup-keys.jsonl",
                "row 1",
                "column \"age\"",
                "more than once",
            ],
        ),
        ingest(
            &[&array],
            &["array.jsonl", "row 1", "is an array, not a JSON object"],
        ),
        ingest(
            &[&scalar],
            &["scalar.jsonl", "row 1", "is a number", "\"42\""],
        ),
        ingest(
            &[&big],
            &[
                "big.jsonl",
                "row 1",
                "column \"age\"",
                "\"9223372036854775808\"",
                "64-bit",
            ],
        ),
        ingest(
            &[&struct_file],
            &["struct.parquet", "column \"city\"", "Struct"],
        ),
        ingest(&[&map_file], &["map.parquet", "column \"city\"", "Map"]),
        ingest(&[&binary], &["binary.parquet", "column \"city\"", "Binary"]),
        ingest(
            &[&twice],
            &["twice.parquet", "column \"age\"", "more than one column"],
        ),
        // The schema drifts between two files: nothing of either is written.
        ingest(
            &[&good, &no_city],
            &[
                "no-city.csv",
                "column \"city\"",
                "missing here",
                "good.csv",
                "nothing was written",
            ],
        ),
    ];
    check_all(&env, &cases);

    // A header and no rows: zero rows ingested, said so, exit 0.
    let before = env.snapshot();
    let header_only = csv("header-only.csv", &[]);
    let out = env.run(&["ingest", "customers", &header_only]);
    out.ok();
    assert!(out.stdout.contains("no data rows"), "{}", out.stdout);
    let json = env.run(&["--json", "ingest", "customers", &header_only]);
    assert_eq!(json.ok().json()["rows_read"], 0);
    assert_eq!(env.snapshot(), before);

    // CRLF: no value keeps a trailing carriage return.
    let crlf = path(&env.write(
        "crlf.csv",
        format!(
            "{header}\r\n{}\r\n{}\r\n",
            row("9101", t, "Berlin"),
            row("9102", t, "")
        ),
    ));
    env.run(&["ingest", "customers", &crlf]).ok();
    let record =
        |id: &str| env.run(&["--json", "get", "customers", id]).ok().json()["records"][0].clone();
    assert_eq!(record("9101")["city"], "Berlin");
    assert_eq!(record("9101")["signup_channel"], "web");
    // An empty cell is a missing value; --keep-empty-strings keeps "".
    assert!(record("9102")["city"].is_null(), "{}", record("9102"));
    let kept = csv("kept.csv", &[row("9103", t, "")]);
    env.run(&["ingest", "customers", &kept, "--keep-empty-strings"])
        .ok();
    assert_eq!(record("9103")["city"], "");
}
