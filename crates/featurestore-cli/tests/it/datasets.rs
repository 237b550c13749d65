//! Kept datasets: `dataset` prints the id and reads a kept dataset back
//! until the data changes; `datasets list|show|rm|gc` manage them.

use serde_json::Value;

use crate::support::Env;

/// `--json dataset customers --show 0 [extra...]`.
fn dataset(env: &Env, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "dataset", "customers", "--show", "0"];
    args.extend_from_slice(extra);
    env.run(&args).ok().json()
}

fn listed(env: &Env) -> Vec<String> {
    let out = env.run(&["--json", "datasets", "list"]).ok().json();
    out["datasets"]
        .as_array()
        .expect("datasets")
        .iter()
        .map(|d| d["dataset_id"].as_str().expect("an id").to_owned())
        .collect()
}

#[test]
fn a_dataset_is_kept_under_its_id_until_the_data_changes() {
    let env = Env::new();
    env.customers(300);
    let (id, rows) = the_first_build_is_kept(&env);
    the_same_command_reads_it_back(&env, &id, rows);
    new_data_gives_a_new_id(&env, &id, rows);
    datasets_are_listed_shown_removed_and_collected(&env, &id);
}

/// The first `dataset` builds and keeps; returns its id and rows.
fn the_first_build_is_kept(env: &Env) -> (String, u64) {
    let first = dataset(env, &[]);
    let id = first["dataset_id"]
        .as_str()
        .expect("a dataset id")
        .to_owned();
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(first["reused"], false);
    let rows = first["rows"].as_u64().expect("rows");
    assert!(rows > 0);
    assert_eq!(listed(env), std::slice::from_ref(&id));
    (id, rows)
}

/// The same command reads the kept bytes back; --no-reuse builds afresh.
fn the_same_command_reads_it_back(env: &Env, id: &str, rows: u64) {
    let second = dataset(env, &[]);
    assert_eq!(second["dataset_id"], id);
    assert_eq!(second["reused"], true);
    assert_eq!(second["rows"], rows);
    // Written out as Arrow IPC, the file has the kept artifact's bytes.
    let out = env.path("train.arrow");
    let text = env
        .run(&["dataset", "customers", "--out", &out.display().to_string()])
        .ok()
        .stdout
        .clone();
    assert!(text.contains(&format!("dataset {id} (read back")), "{text}");
    let shown = env.run(&["--json", "datasets", "show", id]).ok().json();
    let kept = shown["path"].as_str().expect("the artifact's path");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(kept).unwrap());
    let fresh = dataset(env, &["--no-reuse"]);
    assert_eq!(fresh["dataset_id"], Value::Null);
    assert_eq!(fresh["rows"], rows);
    assert_eq!(listed(env).len(), 1, "--no-reuse keeps nothing");
}

/// One more customer ingested: a new id, one more row; the old one stays.
fn new_data_gives_a_new_id(env: &Env, id: &str, rows: u64) {
    let more = env.write(
        "more.csv",
        "customer_id,event_time,city\n999999,2030-01-01T00:00:00Z,Reykjavik\n",
    );
    env.run(&["ingest", "customers", &more.display().to_string()])
        .ok();
    let changed = dataset(env, &[]);
    assert_ne!(changed["dataset_id"], id);
    assert_eq!(changed["reused"], false);
    assert_eq!(changed["rows"], rows + 1);
    let ids = listed(env);
    assert_eq!(ids.len(), 2);
    assert_eq!(
        ids[0],
        changed["dataset_id"].as_str().unwrap(),
        "most recently used first"
    );
}

/// `show` by a prefix, `rm`, `gc --max-bytes 0`, and bad ids.
fn datasets_are_listed_shown_removed_and_collected(env: &Env, id: &str) {
    let shown = env
        .run(&["--json", "datasets", "show", &id[..8]])
        .ok()
        .json();
    assert_eq!(shown["dataset_id"], id);
    assert_eq!(shown["base"], "customers");
    assert!(
        shown["input_files"]
            .as_array()
            .expect("inputs")
            .iter()
            .any(|i| i["role"] == "group:customers"),
        "{shown}"
    );
    let text = env.run(&["datasets", "show", id]).ok().stdout.clone();
    assert!(text.contains("group:customers"), "{text}");
    let removed = env.run(&["--json", "datasets", "rm", id]).ok().json();
    assert_eq!(removed["removed"][0], id);
    assert_eq!(listed(env).len(), 1);
    env.run(&["datasets", "show", id])
        .fails(1, &["no dataset artifact", &id[..6]]);
    env.run(&["datasets", "show", "zz"])
        .fails(1, &["\"zz\"", "not a dataset id"]);
    let gc = env
        .run(&["--json", "datasets", "gc", "--max-bytes", "0"])
        .ok()
        .json();
    assert_eq!(gc["evicted"].as_array().expect("evicted").len(), 1);
    assert_eq!(gc["bytes_left"], 0);
    assert!(listed(env).is_empty());
    let text = env.run(&["datasets", "list"]).ok().stdout.clone();
    assert!(text.contains("no kept datasets"), "{text}");
}

#[test]
fn a_join_over_the_memory_limit_fails_naming_the_flag_and_a_bad_size_is_refused() {
    let env = Env::new();
    env.customers(200);
    let line = env
        .run(&[
            "dataset",
            "customers",
            "--join",
            "customers:prefix=p_",
            "--memory-limit",
            "4K",
        ])
        .fails(1, &["memory limit of 4 KiB", "--memory-limit", "customers"]);
    assert!(line.contains("needs about"), "{line}");
    assert!(listed(&env).is_empty(), "a failed dataset is not kept");
    env.run(&["dataset", "customers", "--memory-limit", "12X"])
        .fails(2, &["12X", "K, M, G or T"]);
    let roomy = dataset(&env, &["--memory-limit", "1.5G"]);
    assert!(roomy["rows"].as_u64().is_some_and(|n| n > 0));
}
