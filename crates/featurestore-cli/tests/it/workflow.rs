//! The five steps of the workflow, one command at a time, outputs checked.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{Env, Served, http, offline_rows, read_csv};

const ROWS: u64 = 600;

/// The last row of each customer in the dataset (event times increase with
/// the row, so the last row is the latest).
fn latest(rows: &[HashMap<String, String>]) -> HashMap<String, HashMap<String, String>> {
    let mut latest = HashMap::new();
    for row in rows {
        latest.insert(row["customer_id"].clone(), row.clone());
    }
    latest
}

/// A dataset row as `get --json` returns it: typed, nulls left out.
fn as_json(row: &HashMap<String, String>) -> Value {
    let mut v = serde_json::Map::new();
    for (k, text) in row {
        if text.is_empty() {
            continue;
        }
        let value = match k.as_str() {
            "customer_id" | "age" | "is_premium" | "sessions_30d" => {
                json!(text.parse::<i64>().expect("an integer"))
            }
            "lifetime_value" => json!(text.parse::<f64>().expect("a number")),
            _ => json!(text),
        };
        v.insert(k.clone(), value);
    }
    Value::Object(v)
}

#[test]
fn create_dataset_is_realistic_and_deterministic() {
    let env = Env::new();
    let customers = the_same_seed_gives_the_same_file(&env);
    let rows = the_rows_look_real(&env, customers);
    the_other_formats_hold_the_same_rows(&env, customers, &rows);
}

/// 500 rows, about 70% new customers; seed 7 twice gives the same file, seed
/// 8 another. Returns the number of customers.
fn the_same_seed_gives_the_same_file(env: &Env) -> u64 {
    let out = env
        .run(&[
            "--json",
            "create-dataset",
            "--rows",
            "500",
            "--out",
            "a.csv",
            "--seed",
            "7",
        ])
        .ok()
        .json();
    assert_eq!(out["rows"], 500);
    let customers = out["customers"].as_u64().expect("customers");
    assert!(
        (250..500).contains(&customers),
        "about 70% of rows are new customers: {customers}"
    );
    env.run(&[
        "create-dataset",
        "--rows",
        "500",
        "--out",
        "b.csv",
        "--seed",
        "7",
    ])
    .ok();
    env.run(&[
        "create-dataset",
        "--rows",
        "500",
        "--out",
        "c.csv",
        "--seed",
        "8",
    ])
    .ok();
    let read = |n: &str| std::fs::read(env.path(n)).expect("read");
    assert_eq!(
        read("a.csv"),
        read("b.csv"),
        "the same seed gives the same file"
    );
    assert_ne!(read("a.csv"), read("c.csv"));
    customers
}

/// `a.csv` has 500 rows of `customers` ids, increasing event times in both
/// ISO forms, some nulls and a city that needs quoting. Returns its rows.
fn the_rows_look_real(env: &Env, customers: u64) -> Vec<HashMap<String, String>> {
    let rows = read_csv(&env.path("a.csv"));
    assert_eq!(rows.len(), 500);
    let ids: HashSet<&str> = rows.iter().map(|r| r["customer_id"].as_str()).collect();
    assert_eq!(ids.len() as u64, customers);
    // Event times increase, so a repeated id always comes with a newer time.
    let times: Vec<&str> = rows.iter().map(|r| r["event_time"].as_str()).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "event times increase"
    );
    assert!(times.iter().any(|t| t.ends_with(".000Z") || t.len() == 24));
    assert!(times.iter().any(|t| t.len() == 20), "both ISO forms appear");
    for column in ["age", "lifetime_value", "signup_channel"] {
        assert!(
            rows.iter().any(|r| r[column].is_empty()),
            "{column} has some nulls"
        );
    }
    assert!(
        rows.iter().any(|r| r["city"].contains(',')),
        "a city needs quoting"
    );
    rows
}

/// The other formats hold the same rows.
fn the_other_formats_hold_the_same_rows(
    env: &Env,
    customers: u64,
    rows: &[HashMap<String, String>],
) {
    let p = env
        .run(&[
            "--json",
            "create-dataset",
            "--rows",
            "500",
            "--out",
            "a.parquet",
            "--seed",
            "7",
        ])
        .ok()
        .json();
    assert_eq!(p["customers"], customers);
    env.run(&[
        "create-dataset",
        "--rows",
        "500",
        "--out",
        "a.jsonl",
        "--seed",
        "7",
    ])
    .ok();
    let jsonl = std::fs::read_to_string(env.path("a.jsonl")).expect("read");
    let first: Value = serde_json::from_str(jsonl.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["customer_id"].to_string(), rows[0]["customer_id"]);
    assert_eq!(first["event_time"], rows[0]["event_time"].as_str());
    assert_eq!(jsonl.lines().count(), 500);
}

#[test]
fn the_five_steps_one_by_one() {
    let env = Env::new();
    let data = env.path("customers.csv");
    let (customers, rows) = create_the_dataset(&env, &data);
    let described = create_the_group(&env, &data);
    ingest_it_twice(&env, &data);
    let latest = latest(&rows);
    read_online(&env, &rows, &latest);
    let offline = read_offline(&env, &described, customers, &latest);
    an_unflushed_put_waits_for_a_flush(&env, &offline);
}

/// The latest row of each customer, by customer id.
type Latest = HashMap<String, HashMap<String, String>>;

/// Step 1: `create-dataset` into `data`; the number of customers and the rows.
fn create_the_dataset(env: &Env, data: &Path) -> (u64, Vec<HashMap<String, String>>) {
    let d = data.display().to_string();
    let made = env
        .run(&[
            "--json",
            "create-dataset",
            "--rows",
            &ROWS.to_string(),
            "--out",
            &d,
        ])
        .ok()
        .json();
    let customers = made["customers"].as_u64().expect("customers");
    let rows = read_csv(data);
    assert_eq!(rows.len() as u64, ROWS);
    (customers, rows)
}

/// Step 2: the group inferred from `data`, described, listed; its description.
fn create_the_group(env: &Env, data: &Path) -> Value {
    let d = data.display().to_string();
    let created = env
        .run(&[
            "--json",
            "create-feature-group",
            "customers",
            "--from-data",
            &d,
            "--record-id",
            "customer_id",
            "--event-time",
            "event_time",
        ])
        .ok()
        .json();
    let types: HashMap<&str, &str> = created["FeatureDefinitions"]
        .as_array()
        .expect("definitions")
        .iter()
        .map(|f| {
            (
                f["FeatureName"].as_str().expect("name"),
                f["FeatureType"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(
        types,
        HashMap::from([
            ("customer_id", "Integral"),
            ("event_time", "String"),
            ("age", "Integral"),
            ("city", "String"),
            ("lifetime_value", "Fractional"),
            ("is_premium", "Integral"),
            ("sessions_30d", "Integral"),
            ("signup_channel", "String"),
        ])
    );
    assert_eq!(created["OnlineStoreConfig"]["EnableOnlineStore"], true);
    assert_eq!(created["FeatureGroupStatus"], "Created");
    let described = env
        .run(&["--json", "describe-feature-group", "customers"])
        .ok()
        .json();
    assert_eq!(described, created);
    let text = env
        .run(&["describe-feature-group", "customers"])
        .ok()
        .stdout
        .clone();
    assert!(text.contains("record identifier") && text.contains("lifetime_value"));
    let list = env.run(&["--json", "list-feature-groups"]).ok().json();
    assert_eq!(
        list["FeatureGroupSummaries"][0]["FeatureGroupName"],
        "customers"
    );
    assert_eq!(list["FeatureGroupSummaries"][0]["FeatureCount"], 8);
    assert!(
        env.run(&["list-feature-groups"])
            .ok()
            .stdout
            .contains("customers")
    );
    described
}

/// Step 3: `data` ingested, twice (JSON, then the summary for people).
fn ingest_it_twice(env: &Env, data: &Path) {
    let d = data.display().to_string();
    let ingested = env.run(&["--json", "ingest", "customers", &d]).ok().json();
    assert_eq!(ingested["rows_read"], ROWS);
    assert_eq!(ingested["rows_written"], ROWS);
    assert_eq!(ingested["rows_failed"], 0);
    assert_eq!(ingested["files"], 1);
    let summary = env.run(&["ingest", "customers", &d]).ok().stdout.clone();
    assert!(
        summary.contains("rows written") && summary.contains("rows/s"),
        "{summary}"
    );
}

/// Step 4: online reads return the latest version of each customer, in
/// every format, and name a missing record.
fn read_online(env: &Env, rows: &[HashMap<String, String>], latest: &Latest) {
    let mut versions: Vec<(usize, &str)> = latest
        .keys()
        .map(|id| {
            (
                rows.iter().filter(|r| &r["customer_id"] == id).count(),
                id.as_str(),
            )
        })
        .collect();
    versions.retain(|(_, id)| !["1", "2", "5"].contains(id));
    versions.sort_by(|a, b| b.cmp(a));
    let repeated = versions[0].1;
    assert!(versions[0].0 > 1, "some customer has several versions");
    let ids = ["1", "2", repeated, "5"];
    let got = env
        .run(&["--json", "get", "customers", ids[0], ids[1], ids[2], ids[3]])
        .ok()
        .json();
    let records = got["records"].as_array().expect("records");
    assert_eq!(records.len(), 4);
    for (id, record) in ids.iter().zip(records) {
        assert_eq!(record, &as_json(&latest[*id]), "customer {id}");
    }
    assert_eq!(got["missing"], json!([]));
    let one = env
        .run(&["--json", "get", "customers", repeated])
        .ok()
        .json();
    assert_eq!(one["records"][0], as_json(&latest[repeated]));
    let projected = env
        .run(&["--json", "get", "customers", "1", "--features", "city,age"])
        .ok()
        .json();
    let keys: Vec<&String> = projected["records"][0]
        .as_object()
        .expect("a record")
        .keys()
        .collect();
    assert!(keys.iter().all(|k| *k == "city" || *k == "age"), "{keys:?}");
    let csv = env
        .run(&["get", "customers", "1", "2", "--format", "csv"])
        .ok()
        .stdout
        .clone();
    let mut lines = csv.lines();
    assert!(lines.next().expect("a header").contains("customer_id"));
    assert_eq!(lines.count(), 2);
    let table = env.run(&["get", "customers", "1"]).ok().stdout.clone();
    assert!(table.contains(latest["1"]["city"].as_str()), "{table}");
    let ids_file = env.write("ids.txt", "1\n\n2\n1\n");
    let from_file = env
        .run(&[
            "--json",
            "get",
            "customers",
            "--ids-file",
            &ids_file.display().to_string(),
        ])
        .ok()
        .json();
    assert_eq!(from_file["records"].as_array().expect("records").len(), 2);
    let missing = env.run(&["--json", "get", "customers", "1", "999999"]);
    missing.fails(1, &["999999", "not found", "customers"]);
    assert_eq!(missing.json()["missing"], json!(["999999"]));
    assert_eq!(
        missing.json()["records"].as_array().expect("records").len(),
        1
    );
}

/// Step 5: every version is in the offline Parquet files, and the training
/// datasets hold what the dataset file says; returns the offline directory.
fn read_offline(env: &Env, described: &Value, customers: u64, latest: &Latest) -> PathBuf {
    // The ingest flushed; every version is in the Parquet files.
    let flushed = env.run(&["--json", "flush"]).ok().json();
    assert_eq!(flushed["rows"], 0, "ingest flushes at its end");
    let offline = PathBuf::from(
        described["OfflineStoreLocation"]
            .as_str()
            .expect("an offline location"),
    );
    let (rows_offline, distinct, files) = offline_rows(&offline);
    // The dataset was ingested twice: each version twice, every customer once.
    assert_eq!(rows_offline, 2 * ROWS);
    assert_eq!(distinct as u64, customers);
    assert!(files >= 1);

    // The training dataset: one row per customer, the latest version, the
    // same values the dataset file has.
    let shown = env
        .run(&["--json", "dataset", "customers", "--show", "3"])
        .ok()
        .json();
    assert_eq!(shown["rows"], customers);
    assert_eq!(shown["head"].as_array().expect("head").len(), 3);
    let train = env.path("train.csv");
    let written = env
        .run(&[
            "--json",
            "dataset",
            "customers",
            "--out",
            &train.display().to_string(),
        ])
        .ok()
        .json();
    assert_eq!(written["rows"], customers);
    let train_rows = read_csv(&train);
    assert_eq!(train_rows.len() as u64, customers);
    for row in &train_rows {
        let id = &row["customer_id"];
        assert_eq!(
            as_json(row),
            as_json(&latest[id]),
            "customer {id}: the dataset row is not the latest version"
        );
    }
    // Every version (each ingested twice), deduplicated by event time.
    let all = env
        .run(&[
            "--json",
            "dataset",
            "customers",
            "--include-duplicates",
            "--show",
            "0",
        ])
        .ok()
        .json();
    assert_eq!(all["rows"], 2 * ROWS);
    let recent = env
        .run(&[
            "--json",
            "dataset",
            "customers",
            "--recent",
            "100",
            "--show",
            "0",
        ])
        .ok()
        .json();
    assert_eq!(
        recent["rows"], ROWS,
        "duplicates collapse to one row per event time"
    );
    // A time range before any event selects nothing.
    let none = env
        .run(&[
            "--json",
            "dataset",
            "customers",
            "--to",
            "2000-01-01T00:00:00Z",
        ])
        .ok()
        .json();
    assert_eq!(none["rows"], 0);
    env.run(&["dataset", "customers", "--features", "nope"])
        .fails(1, &["nope", "customers"]);
    offline
}

/// A write through `serve` that is not flushed (the server is killed)
/// waits in the outbox until `flush` moves it.
fn an_unflushed_put_waits_for_a_flush(env: &Env, offline: &Path) {
    let served = Served::start(env);
    let record = json!({"Record": [
        {"FeatureName": "customer_id", "ValueAsString": "1"},
        {"FeatureName": "event_time", "ValueAsString": "2030-01-01T00:00:00Z"},
        {"FeatureName": "city", "ValueAsString": "Reykjavik"},
    ]});
    let (status, body) = http(
        served.addr(),
        "PUT",
        "/FeatureGroup/customers",
        &record.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    served.kill();
    let flushed = env.run(&["--json", "flush"]).ok().json();
    assert_eq!(flushed["rows"], 1);
    let files = flushed["files"].as_array().expect("files");
    assert_eq!(files.len(), 1);
    let file = files[0].as_str().expect("a path");
    assert!(file.contains("year=2030/month=01/day=01/hour=00"), "{file}");
    assert!(Path::new(file).is_file());
    assert_eq!(offline_rows(offline).0, 2 * ROWS + 1);
    let text = env.run(&["flush"]).ok().stdout.clone();
    assert!(text.contains("nothing to flush"), "{text}");
    let got = env.run(&["--json", "get", "customers", "1"]).ok().json();
    assert_eq!(got["records"][0]["city"], "Reykjavik");
    let newest = env
        .run(&[
            "--json",
            "dataset",
            "customers",
            "--features",
            "city",
            "--from",
            "2030-01-01T00:00:00Z",
        ])
        .ok()
        .json();
    assert_eq!(newest["rows"], 1);
    assert_eq!(newest["head"][0]["city"], "Reykjavik");
    assert!(
        got["records"][0].get("age").is_none(),
        "a put replaces the whole record"
    );
}
