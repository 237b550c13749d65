//! The other commands and options: the data formats, definition files,
//! `--dry-run`, feature additions, deletion, `--failures`, `--resume` and
//! `--shard`.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::{Env, offline_rows, read_csv};

#[test]
fn formats_definitions_evolution_and_deletion() {
    let env = Env::new();
    parquet_and_json_lines_hold_the_same_rows(&env);
    definition_files_and_dry_run(&env);
    added_features_read_as_null(&env);
    deletion_keeps_the_offline_files(&env);
}

/// Groups `from-parquet` and `from-jsonl`, created and filled from the
/// same dataset in two formats, hold the same records.
fn parquet_and_json_lines_hold_the_same_rows(env: &Env) {
    for (file, group) in [("c.parquet", "from-parquet"), ("c.jsonl", "from-jsonl")] {
        env.run(&["create-dataset", "--rows", "200", "--out", file])
            .ok();
        let created = env
            .run(&[
                "--json",
                "create-feature-group",
                group,
                "--from-data",
                file,
                "--record-id",
                "customer_id",
                "--event-time",
                "event_time",
            ])
            .ok()
            .json();
        assert_eq!(
            created["FeatureDefinitions"]
                .as_array()
                .expect("features")
                .len(),
            8
        );
        let done = env.run(&["--json", "ingest", group, file]).ok().json();
        assert_eq!(done["rows_written"], 200, "{group}");
    }
    let a = env
        .run(&["--json", "get", "from-parquet", "1", "2"])
        .ok()
        .json();
    let b = env
        .run(&["--json", "get", "from-jsonl", "1", "2"])
        .ok()
        .json();
    assert_eq!(
        a["records"], b["records"],
        "the same rows from both formats"
    );
}

/// A CreateFeatureGroup JSON file, as `--dry-run` prints it and as the AWS
/// CLI takes it, creates a group.
fn definition_files_and_dry_run(env: &Env) {
    // A CreateFeatureGroup JSON file (as the AWS CLI takes it), printed by --dry-run.
    let dry = env.run(&[
        "create-feature-group",
        "from-json",
        "--from-data",
        "c.parquet",
        "--record-id",
        "customer_id",
        "--event-time",
        "event_time",
        "--no-online",
        "--dry-run",
    ]);
    dry.ok();
    let definition = env.write("def.json", &dry.stdout);
    let listed = env.run(&["--json", "list-feature-groups"]).ok().json();
    assert_eq!(
        listed["FeatureGroupSummaries"]
            .as_array()
            .expect("groups")
            .len(),
        2
    );
    let created = env
        .run(&[
            "--json",
            "create-feature-group",
            "from-json",
            "--definition",
            &definition.display().to_string(),
        ])
        .ok()
        .json();
    assert!(created.get("OnlineStoreConfig").is_none());
    assert_eq!(
        created["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"],
        "s3://featurestore-local/offline"
    );
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/create-feature-group/customers.json");
    let from_shared = env
        .run(&[
            "--json",
            "create-feature-group",
            "crm",
            "--definition",
            &shared.display().to_string(),
        ])
        .ok()
        .json();
    assert_eq!(from_shared["FeatureGroupName"], "crm");
    assert_eq!(
        from_shared["OnlineStoreConfig"]["TtlDuration"]["Unit"],
        "Days"
    );
}

/// Evolution: new features read as null for existing records.
fn added_features_read_as_null(env: &Env) {
    // Evolution: new features read as null for existing records.
    let added = env
        .run(&[
            "--json",
            "add-features",
            "from-parquet",
            "--feature",
            "churn_score:Fractional",
            "--feature",
            "segment:String",
        ])
        .ok()
        .json();
    assert_eq!(
        added["FeatureDefinitions"]
            .as_array()
            .expect("features")
            .len(),
        10
    );
    let got = env
        .run(&[
            "--json",
            "get",
            "from-parquet",
            "1",
            "--features",
            "customer_id,churn_score",
        ])
        .ok()
        .json();
    assert_eq!(got["records"][0], json!({"customer_id": 1}));
    let text = env
        .run(&[
            "add-features",
            "from-parquet",
            "--feature",
            "orders:Integral",
        ])
        .ok()
        .stdout
        .clone();
    assert!(text.contains("added 1 feature"), "{text}");
}

/// Deleting a group keeps its offline files.
fn deletion_keeps_the_offline_files(env: &Env) {
    // Deletion keeps the offline files.
    let info = env
        .run(&["--json", "describe-feature-group", "from-jsonl"])
        .ok()
        .json();
    let offline = PathBuf::from(info["OfflineStoreLocation"].as_str().expect("offline"));
    let deleted = env
        .run(&["--json", "delete-feature-group", "from-jsonl"])
        .ok()
        .json();
    assert_eq!(deleted["deleted"], "from-jsonl");
    assert_eq!(offline_rows(&offline).0, 200);
    env.run(&["describe-feature-group", "from-jsonl"])
        .fails(1, &["from-jsonl", "not found"]);
}

#[test]
fn failures_resume_and_shards() {
    let env = Env::new();
    let data = env.customers(300);
    let d = data.display().to_string();
    let before = env.run(&["--json", "get", "customers", "1"]).ok().json();

    // --failures: good rows are written, bad ones listed; exit code 3.
    let mixed = env.write(
        "mixed.csv",
        "customer_id,event_time,age,city\n\
         5001,2024-07-01T00:00:00Z,30,Berlin\n\
         5002,2024-07-01T00:00:01Z,old,Lisbon\n\
         5003,2024-07-01T00:00:02Z,31,Oslo\n",
    );
    let out = env.run(&[
        "ingest",
        "customers",
        &mixed.display().to_string(),
        "--failures",
        "failed.csv",
    ]);
    out.fails(
        3,
        &[
            "1 of 3 rows failed (listed in failed.csv)",
            "row 2",
            "\"age\"",
        ],
    );
    assert!(out.stdout.contains("rows failed"), "{}", out.stdout);
    let failed = read_csv(&env.path("failed.csv"));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["_ingest_row"], "2");
    assert_eq!(failed[0]["_ingest_column"], "age");
    assert_eq!(failed[0]["age"], "old");
    let got = env
        .run(&["--json", "get", "customers", "5001", "5003"])
        .ok()
        .json();
    assert_eq!(got["records"].as_array().expect("records").len(), 2);

    // The fixed failures file ingests as it is.
    let fixed = std::fs::read_to_string(env.path("failed.csv"))
        .expect("read")
        .replace(",old,", ",33,");
    let fixed = env.write("fixed.csv", fixed);
    env.run(&["ingest", "customers", &fixed.display().to_string()])
        .ok();
    let got = env.run(&["--json", "get", "customers", "5002"]).ok().json();
    assert_eq!(got["records"][0]["age"], 33);

    // An unreadable file among good ones: the good ones are written.
    let good = env.write(
        "good.csv",
        "customer_id,event_time,city\n5004,2024-07-01T00:00:03Z,Bergen\n",
    );
    let empty = crate::support::bad("empty.csv");
    env.run(&[
        "ingest",
        "customers",
        &good.display().to_string(),
        &empty.display().to_string(),
        "--failures",
        "failed2.jsonl",
    ])
    .fails(3, &["1 of 2 files could not be read", "empty.csv"]);
    let got = env.run(&["--json", "get", "customers", "5004"]).ok().json();
    assert_eq!(got["records"][0]["city"], "Bergen");

    // --resume after a complete run skips everything it wrote.
    let resumed = env
        .run(&["--json", "ingest", "customers", &d, "--resume"])
        .ok()
        .json();
    assert_eq!(resumed["rows_written"], 0);
    assert_eq!(resumed["rows_resumed"], 300);

    // Shards: two workers together write every row once.
    let mut written = 0;
    for shard in ["0/2", "1/2"] {
        let out = env
            .run(&["--json", "ingest", "customers", &d, "--shard", shard])
            .ok()
            .json();
        written += out["rows_written"].as_u64().expect("rows");
        assert!(out["rows_other_shards"].as_u64().expect("rows") > 0);
    }
    assert_eq!(written, 300);
    assert_eq!(
        env.run(&["--json", "get", "customers", "1"]).ok().json()["records"],
        before["records"]
    );
}

#[test]
fn target_stores_and_ttl_apply_to_an_ingest() {
    let env = Env::new();
    env.customers(10);
    let rows = |name: &str, id: u32| {
        env.write(
            name,
            format!("customer_id,event_time,age,city\n{id},2024-07-01T00:00:00Z,40,Rome\n"),
        )
        .display()
        .to_string()
    };
    let (offline_only, online_only, expiring) = (
        rows("offline.csv", 7001),
        rows("online.csv", 7002),
        rows("ttl.csv", 7003),
    );
    env.run(&[
        "ingest",
        "customers",
        &offline_only,
        "--target-stores",
        "offline",
    ])
    .ok();
    env.run(&[
        "ingest",
        "customers",
        &online_only,
        "--target-stores",
        "online",
    ])
    .ok();
    env.run(&["ingest", "customers", &expiring, "--ttl", "1s"])
        .ok();
    // A missing record is exit code 1, with the found ones on stdout.
    let out = env.run(&["--json", "get", "customers", "7001", "7002"]);
    out.fails(1, &["not found", "\"7001\""]);
    let got = out.json();
    assert_eq!(got["missing"], serde_json::json!(["7001"]), "{got}");
    assert_eq!(got["records"].as_array().map(Vec::len), Some(1), "{got}");

    // Offline: 7001 and 7003, not 7002.
    let train = env.path("train.csv");
    env.run(&["flush"]).ok();
    env.run(&[
        "dataset",
        "customers",
        "--out",
        &train.display().to_string(),
    ])
    .ok();
    let ids: Vec<String> = std::fs::read_to_string(&train)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or_default().to_owned())
        .collect();
    assert!(ids.contains(&"7001".to_owned()), "{ids:?}");
    assert!(ids.contains(&"7003".to_owned()), "{ids:?}");
    assert!(!ids.contains(&"7002".to_owned()), "{ids:?}");

    // The record with a one-second time to live expires online.
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let out = env.run(&["--json", "get", "customers", "7003", "7002"]);
    out.fails(1, &["not found", "\"7003\""]);
    let got = out.json();
    assert_eq!(got["missing"], serde_json::json!(["7003"]), "{got}");

    // Bad values are one-line usage errors.
    env.run(&["ingest", "customers", &expiring, "--ttl", "5x"])
        .fails(2, &["--ttl", "5x"]);
    env.run(&["ingest", "customers", &expiring, "--ttl", "0d"])
        .fails(2, &["--ttl", "0d"]);
    env.run(&[
        "ingest",
        "customers",
        &expiring,
        "--target-stores",
        "nowhere",
    ])
    .fails(2, &["--target-stores", "nowhere"]);
}
