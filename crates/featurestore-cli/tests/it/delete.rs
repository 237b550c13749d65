//! `delete-record` on the embedded store: a soft delete hides a record
//! online, a hard delete removes it, both leave a delete marker offline,
//! and a delete that would do nothing (unknown group or record, a record
//! deleted already, an event time not after the record's) is refused with
//! nothing deleted.

use std::path::PathBuf;

use crate::support::{Env, deleted_ids};

/// The group's offline directory, from `describe-feature-group`.
fn offline_dir(env: &Env) -> PathBuf {
    let info = env
        .run(&["--json", "describe-feature-group", "customers"])
        .ok()
        .json();
    PathBuf::from(info["OfflineStoreLocation"].as_str().expect("offline"))
}

#[test]
fn soft_and_hard_deletes_online_and_offline() {
    let env = Env::new();
    env.customers(60);
    let offline = offline_dir(&env);
    assert_eq!(deleted_ids(&offline), Vec::<i64>::new());

    let soft = env
        .run(&["--json", "delete-record", "customers", "1"])
        .ok()
        .json();
    assert_eq!(soft["deleted"], serde_json::json!(["1"]));
    assert_eq!(soft["mode"], "SoftDelete");
    let at = soft["event_time"].as_str().expect("an event time");
    assert!(at.len() == 24 && at.ends_with('Z'), "{at}");
    env.run(&["get", "customers", "1"])
        .fails(1, &["not found", "\"1\""]);

    let hard = env
        .run(&[
            "--json",
            "delete-record",
            "customers",
            "2",
            "3",
            "--hard",
            "--event-time",
            "2030-01-01T00:00:00Z",
        ])
        .ok()
        .json();
    assert_eq!(hard["deleted"], serde_json::json!(["2", "3"]));
    assert_eq!(hard["mode"], "HardDelete");
    assert_eq!(hard["event_time"], "2030-01-01T00:00:00.000Z");
    let out = env.run(&["--json", "get", "customers", "2", "3", "4"]);
    out.fails(1, &["2 of 3 records not found"]);
    assert_eq!(out.json()["missing"], serde_json::json!(["2", "3"]));

    let text = env.run(&["delete-record", "customers", "5"]);
    text.ok();
    assert!(
        text.stdout
            .starts_with("deleted 1 record from feature group \"customers\" (SoftDelete as of "),
        "{}",
        text.stdout
    );

    // Each delete appended one marker offline; nothing else was deleted.
    env.run(&["flush"]).ok();
    assert_eq!(deleted_ids(&offline), vec![1, 2, 3, 5]);
    let train = env.path("train.csv");
    env.run(&[
        "dataset",
        "customers",
        "--out",
        &train.display().to_string(),
    ])
    .ok();
    let ids: Vec<String> = std::fs::read_to_string(&train)
        .expect("train.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or_default().to_owned())
        .collect();
    for gone in ["1", "2", "3", "5"] {
        assert!(!ids.iter().any(|id| id == gone), "{gone} in {ids:?}");
    }
    assert!(ids.iter().any(|id| id == "4"), "{ids:?}");
}

#[test]
fn deletes_that_would_do_nothing_are_refused() {
    let env = Env::new();
    env.customers(30);
    let offline = offline_dir(&env);
    env.run(&["delete-record", "customers", "1"]).ok();

    env.run(&["delete-record", "nope", "2"])
        .fails(1, &["feature group", "\"nope\"", "not found"]);
    // One unknown identifier among known ones: nothing is deleted.
    env.run(&["delete-record", "customers", "2", "99999", "99998"])
        .fails(
            1,
            &[
                "2 of 3 records not in the online store",
                "\"99999\", \"99998\"",
                "nothing was deleted",
            ],
        );
    env.run(&["delete-record", "customers", "1"])
        .fails(1, &["\"1\"", "deleted already", "nothing was deleted"]);
    // Not after the record's event time: online it would stay.
    env.run(&[
        "delete-record",
        "customers",
        "2",
        "--event-time",
        "2024-05-01T00:00:00Z",
    ])
    .fails(1, &["record \"2\"", "--event-time", "nothing was deleted"]);
    env.run(&[
        "delete-record",
        "customers",
        "2",
        "--hard",
        "--event-time",
        "yesterday",
    ])
    .fails(1, &["--event-time \"yesterday\"", "ISO-8601"]);
    env.run(&["delete-record", "customers"]).fails(2, &["ID"]);

    env.run(&["--json", "get", "customers", "2"]).ok();
    env.run(&["flush"]).ok();
    assert_eq!(deleted_ids(&offline), vec![1]);
}
