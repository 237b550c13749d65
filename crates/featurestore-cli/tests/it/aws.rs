//! `--aws` (feature `aws`): the real AWS SDK clients against `featurestore
//! serve` on loopback, with dummy credentials; no request leaves the machine.

use serde_json::Value;

use crate::support::{Env, Out, Served};

/// Dummy credentials and no profile or instance metadata lookups.
const VARS: [(&str, &str); 5] = [
    ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/aws-credentials",
    ),
];

/// Runs `featurestore --aws ... --json ARGS` against `served`.
fn aws(env: &Env, served: &Served, args: &[&str]) -> Out {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    aws_text(env, served, &all)
}

/// Runs `featurestore --aws ... ARGS` against `served`.
fn aws_text(env: &Env, served: &Served, args: &[&str]) -> Out {
    let mut all = vec![
        "--aws",
        "--endpoint-url",
        &served.url,
        "--region",
        "us-east-1",
    ];
    all.extend_from_slice(args);
    env.run_env(&all, &VARS)
}

/// The listing and descriptions through the SDKs are the embedded store's:
/// times in milliseconds with `Z`, and the features and stores of each
/// group, which ListFeatureGroups leaves out.
#[test]
fn aws_list_and_describe_print_what_the_embedded_store_prints() {
    let env = Env::new();
    let data = env.customers(30).display().to_string();
    env.run(&[
        "create-feature-group",
        "offline-only",
        "--from-data",
        &data,
        "--record-id",
        "customer_id",
        "--event-time",
        "event_time",
        "--no-online",
    ])
    .ok();
    let list = env.run(&["--json", "list-feature-groups"]).ok().json();
    let table = env.run(&["list-feature-groups"]).ok().stdout.clone();
    let described = env
        .run(&["--json", "describe-feature-group", "customers"])
        .ok()
        .json();
    let text = env
        .run(&["describe-feature-group", "customers"])
        .ok()
        .stdout
        .clone();
    let served = Served::start(&env);

    let aws_list = aws(&env, &served, &["list-feature-groups"]).ok().json();
    assert_eq!(aws_list, list);
    let first = &aws_list["FeatureGroupSummaries"][0];
    assert_eq!(first["FeatureCount"], 8, "{aws_list}");
    let created = first["CreationTime"].as_str().expect("a creation time");
    assert!(created.len() == 24 && created.ends_with('Z'), "{created}");
    let aws_table = aws_text(&env, &served, &["list-feature-groups"]);
    assert_eq!(aws_table.ok().stdout, table);
    assert!(table.contains("yes") && table.contains("no"), "{table}");

    let aws_described = aws(&env, &served, &["describe-feature-group", "customers"])
        .ok()
        .json();
    assert_eq!(aws_described["CreationTime"], described["CreationTime"]);
    let aws_description = aws_text(&env, &served, &["describe-feature-group", "customers"]);
    let created_line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("created"))
            .map(str::to_owned)
    };
    assert_eq!(
        created_line(&aws_description.ok().stdout),
        created_line(&text)
    );
    assert!(created_line(&text).is_some(), "{text}");
}

/// `delete-record --aws`: DeleteRecord through the runtime SDK; the records
/// are gone online and have delete markers offline (flushed when the
/// server stops).
#[test]
fn aws_delete_record_against_a_local_server() {
    let env = Env::new();
    env.customers(40);
    let described = env
        .run(&["--json", "describe-feature-group", "customers"])
        .ok()
        .json();
    let offline = std::path::PathBuf::from(
        described["OfflineStoreLocation"]
            .as_str()
            .expect("an offline directory"),
    );
    let served = Served::start(&env);

    let soft = aws(&env, &served, &["delete-record", "customers", "1"])
        .ok()
        .json();
    assert_eq!(soft["mode"], "SoftDelete");
    aws(&env, &served, &["get", "customers", "1"]).fails(1, &["not found", "\"1\""]);
    let hard = aws(
        &env,
        &served,
        &["delete-record", "customers", "2", "--hard"],
    )
    .ok()
    .json();
    assert_eq!(hard["deleted"], serde_json::json!(["2"]));
    assert_eq!(hard["mode"], "HardDelete");
    let out = aws(&env, &served, &["get", "customers", "2", "3"]);
    out.fails(1, &["1 of 2 records not found"]);
    assert_eq!(out.json()["missing"], serde_json::json!(["2"]));

    aws(&env, &served, &["delete-record", "nope", "3"]).fails(1, &["nope"]);
    aws(&env, &served, &["delete-record", "customers", "3", "99999"])
        .fails(1, &["\"99999\"", "nothing was deleted"]);
    aws(&env, &served, &["delete-record", "customers", "1"])
        .fails(1, &["\"1\"", "not in the online store"]);
    aws(&env, &served, &["get", "customers", "3"]).ok();

    assert!(served.terminate().success());
    assert_eq!(crate::support::deleted_ids(&offline), vec![1, 2]);
    let out = env.run(&["--json", "get", "customers", "1", "2", "3"]);
    out.fails(1, &["2 of 3 records not found"]);
    assert_eq!(out.json()["missing"], serde_json::json!(["1", "2"]));
}

#[test]
fn aws_commands_against_a_local_server() {
    let env = Env::new();
    let data = env.customers(120).display().to_string();
    let local = env
        .run(&["--json", "get", "customers", "1", "2"])
        .ok()
        .json();
    let served = Served::start(&env);
    reads_match_the_embedded_store(&env, &served, &local);
    a_group_created_filled_evolved_and_deleted(&env, &served, &data, &local);
    errors_are_one_line(&env, &served);
    let status = served.terminate();
    assert!(status.success());
    let after: Value = env.run(&["--json", "list-feature-groups"]).ok().json();
    assert_eq!(
        after["FeatureGroupSummaries"].as_array().map(Vec::len),
        Some(1)
    );
}

/// The group, its definition and its records read through the SDKs are
/// the embedded store's (`local`: `get customers 1 2` run locally).
fn reads_match_the_embedded_store(env: &Env, served: &Served, local: &Value) {
    let list = aws(env, served, &["list-feature-groups"]).ok().json();
    assert_eq!(
        list["FeatureGroupSummaries"][0]["FeatureGroupName"],
        "customers"
    );
    let described = aws(env, served, &["describe-feature-group", "customers"])
        .ok()
        .json();
    assert_eq!(
        described["FeatureDefinitions"].as_array().map(Vec::len),
        Some(8)
    );
    let got = aws(env, served, &["get", "customers", "1", "2"])
        .ok()
        .json();
    assert_eq!(got["records"], local["records"]);
    let one = aws(env, served, &["get", "customers", "1"]).ok().json();
    assert_eq!(one["records"][0], local["records"][0]);
}

/// A group created, filled (PutRecord, then BatchWriteRecord), evolved and
/// deleted through the SDKs.
fn a_group_created_filled_evolved_and_deleted(
    env: &Env,
    served: &Served,
    data: &str,
    local: &Value,
) {
    let created = aws(
        env,
        served,
        &[
            "create-feature-group",
            "copy",
            "--from-data",
            data,
            "--record-id",
            "customer_id",
            "--event-time",
            "event_time",
        ],
    )
    .ok()
    .json();
    assert_eq!(created["FeatureGroupStatus"], "Created");
    let ingested = aws(env, served, &["ingest", "copy", data, "--concurrency", "8"])
        .ok()
        .json();
    assert_eq!(ingested["rows_written"], 120);
    let copied = aws(env, served, &["get", "copy", "1", "2"]).ok().json();
    assert_eq!(copied["records"], local["records"]);
    // BatchWriteRecord when asked: the same rows again, 25 to a request.
    let before = server_stats(&served.url);
    let batched = aws(
        env,
        served,
        &[
            "ingest",
            "copy",
            data,
            "--batch-write",
            "--concurrency",
            "2",
        ],
    )
    .ok()
    .json();
    assert_eq!(batched["rows_written"], 120);
    let after = server_stats(&served.url);
    let sent = |op: &str| after[op].as_u64().unwrap_or(0) - before[op].as_u64().unwrap_or(0);
    assert_eq!((sent("BatchWriteRecord"), sent("PutRecord")), (5, 0));
    let copied = aws(env, served, &["get", "copy", "1", "2"]).ok().json();
    assert_eq!(copied["records"], local["records"]);
    let added = aws(
        env,
        served,
        &["add-features", "copy", "--feature", "segment:String"],
    )
    .ok()
    .json();
    assert_eq!(
        added["FeatureDefinitions"].as_array().map(Vec::len),
        Some(9)
    );
    aws(env, served, &["delete-feature-group", "copy"]).ok();
    aws(env, served, &["describe-feature-group", "copy"]).fails(1, &["copy"]);
}

/// Errors through the SDKs are one line too.
fn errors_are_one_line(env: &Env, served: &Served) {
    aws(env, served, &["get", "nope", "1"]).fails(1, &["nope"]);
    aws(env, served, &["flush"]).fails(1, &["embedded store", "--aws"]);
    aws(
        env,
        served,
        &[
            "ingest",
            "customers",
            &crate::support::bad("wrong-types.csv").display().to_string(),
        ],
    )
    .fails(1, &["wrong-types.csv", "row 2", "nothing was written"]);
}

/// fs-server's request counts (`GET /_featurestore/stats`).
fn server_stats(url: &str) -> Value {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /_featurestore/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
}

/// PUTs `body` to moto's S3 at `path` (`/bucket` or `/bucket/key`). moto
/// checks no signature but needs one to treat the caller as the owner.
fn s3_put(addr: &str, path: &str, body: &[u8]) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to moto");
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("send");
    s.write_all(body).expect("send the body");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read the response");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "PUT {path}: {response}"
    );
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
#[ignore = "needs moto's S3 (FS_S3_ENDPOINT); run by cargo xtask it"]
fn aws_sync_and_dataset_read_the_offline_store_through_the_cache() {
    let moto = std::env::var("FS_S3_ENDPOINT").expect("FS_S3_ENDPOINT, set by cargo xtask it");
    let moto_addr = moto
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let env = Env::new();
    env.customers(150);
    let local_csv = env.path("local.csv");
    env.run(&[
        "dataset",
        "customers",
        "--out",
        &local_csv.display().to_string(),
    ])
    .ok();
    let described_locally = env
        .run(&["--json", "describe-feature-group", "customers"])
        .ok()
        .json();
    let local_dir = std::path::PathBuf::from(
        described_locally["OfflineStoreLocation"]
            .as_str()
            .expect("a local offline directory"),
    );
    let served = Served::start(&env);

    // SageMaker's offline store is in S3: copy the store's offline files to
    // moto under the group's resolved S3 location.
    let described = aws(&env, &served, &["describe-feature-group", "customers"])
        .ok()
        .json();
    let resolved = described["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
        .as_str()
        .expect("a resolved offline location")
        .to_owned();
    let (bucket, prefix) = resolved
        .trim_start_matches("s3://")
        .split_once('/')
        .expect("s3://bucket/prefix");
    s3_put(&moto_addr, &format!("/{bucket}"), b"");
    let mut files = Vec::new();
    files_under(&local_dir, &mut files);
    assert!(!files.is_empty());
    for file in &files {
        let rel = file.strip_prefix(&local_dir).expect("under the directory");
        let key = format!("{prefix}/{}", rel.display());
        s3_put(
            &moto_addr,
            &format!("/{bucket}/{key}"),
            &std::fs::read(file).expect("read"),
        );
    }

    let cache = env.path("cache").display().to_string();
    let with_s3 = |args: &[&str]| {
        let mut all = vec![
            "--s3-endpoint-url",
            moto.as_str(),
            "--cache",
            cache.as_str(),
        ];
        all.extend_from_slice(args);
        aws(&env, &served, &all)
    };
    // The first sync fetches every file, the second nothing.
    let first = with_s3(&["sync", "customers"]).ok().json();
    assert_eq!(first["objects_fetched"], files.len());
    let second = with_s3(&["sync", "customers"]).ok().json();
    assert_eq!(second["objects_fetched"], 0);
    assert_eq!(second["objects_skipped"], files.len());

    // The dataset built from the cache is the one built on the embedded store.
    let aws_csv = env.path("aws.csv");
    let built = with_s3(&[
        "dataset",
        "customers",
        "--out",
        &aws_csv.display().to_string(),
    ])
    .ok()
    .json();
    let mut local: Vec<String> = std::fs::read_to_string(&local_csv)
        .expect("local.csv")
        .lines()
        .map(str::to_owned)
        .collect();
    let mut remote: Vec<String> = std::fs::read_to_string(&aws_csv)
        .expect("aws.csv")
        .lines()
        .map(str::to_owned)
        .collect();
    local.sort();
    remote.sort();
    assert_eq!(built["rows"].as_u64(), Some(local.len() as u64 - 1));
    assert_eq!(remote, local);
    assert_eq!(built["reused"], false);
    kept_datasets_are_built_once_by_concurrent_processes(&with_s3);

    // Projected reads, into a cache of their own: the same rows as the
    // whole-object sync for a dataset of two features.
    let projected_cache = env.path("projected-cache").display().to_string();
    let narrow = |engine: &str, cache: &str, out: &std::path::Path| {
        let out = out.display().to_string();
        aws(
            &env,
            &served,
            &[
                "--s3-endpoint-url",
                moto.as_str(),
                "--cache",
                cache,
                "dataset",
                "customers",
                "--features",
                "city,age",
                "--engine",
                engine,
                "--no-reuse",
                "--out",
                &out,
            ],
        )
        .ok();
        let mut lines: Vec<String> = std::fs::read_to_string(&out)
            .expect("the dataset")
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let whole = narrow("cache", &cache, &env.path("narrow-cache.csv"));
    let projected = narrow(
        "projected",
        &projected_cache,
        &env.path("narrow-projected.csv"),
    );
    assert_eq!(whole.len(), local.len());
    assert_eq!(projected, whole);
    let copies: Vec<_> = {
        let mut all = Vec::new();
        files_under(
            &env.path("projected-cache").join(".fs-cache/projected"),
            &mut all,
        );
        all.into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect()
    };
    let parquet = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert!(parquet > 0);
    assert_eq!(
        copies.len(),
        parquet,
        "one projected copy per Parquet object"
    );

    // sync is for SageMaker's store only.
    env.run(&["sync", "customers"]).fails(1, &["--aws"]);
}

/// Four `dataset --aws` processes asking for one new dataset at once over
/// the same cache: one builds it, the others wait and read it back, all
/// with the same id, whose inputs name the S3 objects by key and ETag.
fn kept_datasets_are_built_once_by_concurrent_processes(with_s3: &(dyn Fn(&[&str]) -> Out + Sync)) {
    let args = ["dataset", "customers", "--features", "city", "--show", "0"];
    let outs: Vec<Value> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| with_s3(&args).ok().json()))
            .collect();
        runs.into_iter().map(|r| r.join().expect("a run")).collect()
    });
    let id = outs[0]["dataset_id"].as_str().expect("a dataset id");
    assert!(outs.iter().all(|o| o["dataset_id"] == id), "{outs:?}");
    assert!(
        outs.iter().all(|o| o["rows"] == outs[0]["rows"]),
        "{outs:?}"
    );
    let built = outs.iter().filter(|o| o["reused"] == false).count();
    assert_eq!(built, 1, "exactly one process builds: {outs:?}");
    let shown = with_s3(&["datasets", "show", id]).ok().json();
    let inputs = shown["input_files"].as_array().expect("inputs");
    let files: Vec<&Value> = inputs
        .iter()
        .filter(|i| i["role"] == "group:customers")
        .collect();
    assert!(!files.is_empty(), "{shown}");
    for file in files {
        assert!(
            file["location"]
                .as_str()
                .is_some_and(|l| l.starts_with("s3://")),
            "{file}"
        );
        assert!(
            file["version"]
                .as_str()
                .is_some_and(|v| v.starts_with("etag:")),
            "{file}"
        );
    }
}
