//! The S3 cache (`fs_offline::cache`) against moto's S3: incremental,
//! range-limited, killed and resumed, concurrent, corrupted, and under a
//! size budget. The pure parts (manifest journal, eviction order, partition
//! selection, key mapping, checksums) have unit tests in the module.

#[path = "cache_support.rs"]
pub(crate) mod support;

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use fs_offline::cache::{Cache, CacheError, CacheOptions, ProblemKind, SyncOptions};
use fs_schema::EventTime;
use support::*;

const MOTO: &str = "needs moto's S3; run by cargo xtask it";

fn cache(dir: &std::path::Path) -> Cache {
    Cache::open(dir, CacheOptions::default()).unwrap()
}

#[test]
fn open_for_read_of_an_unsynced_prefix_names_it_and_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let err = cache.open_for_read("s3://bucket/store/data").unwrap_err();
    assert!(matches!(err, CacheError::NotSynced { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("s3://bucket/store/data/"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    let err = cache.local_path("s3://bucket/a/../b").unwrap_err();
    assert!(matches!(err, CacheError::InvalidUri { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn first_sync_fetches_everything_and_the_second_nothing() {
    let _ = MOTO;
    let client = client();
    let bucket = bucket(&client, "first").await;
    for i in 0..12u64 {
        let key = glue_key(
            "g/data/",
            2024,
            3,
            10,
            (i % 4) as u32,
            &format!("f{i}.parquet"),
        );
        put(&client, &bucket, &key, data(i, 1000 + i as usize * 997)).await;
    }
    put(&client, &bucket, "g/data/empty.parquet", Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let uri = format!("s3://{bucket}/g/data");

    let first = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!(
        (
            first.objects_listed,
            first.objects_fetched,
            first.objects_skipped
        ),
        (13, 13, 0)
    );
    assert_eq!(first.bytes_fetched, first.bytes_listed);
    assert_eq!(first.local_path, dir.path().join(&bucket).join("g/data"));
    assert_mirror(&cache, &client, &bucket, "g/data/").await;

    let second = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!(
        (
            second.objects_listed,
            second.objects_fetched,
            second.objects_skipped
        ),
        (13, 0, 13)
    );
    assert_eq!(second.bytes_fetched, 0);
    assert!(second.deleted_remote.is_empty());

    let reader = cache.open_for_read(&uri).unwrap();
    assert_eq!(reader.files().len(), 13);
    assert_eq!(reader.total_bytes(), first.bytes_listed);
    for f in reader.files() {
        assert_eq!(
            std::fs::metadata(&f.path).unwrap().len(),
            f.size,
            "{}",
            f.key
        );
        // The SDK uploads with a CRC32 checksum, which moto returns.
        assert_eq!(
            f.checksum.as_ref().map(|c| c.algorithm.as_str()),
            Some("crc32"),
            "{}",
            f.key
        );
    }
    // A sub-prefix of a synced prefix opens too.
    let hour = cache
        .open_for_read(&format!("{uri}/year=2024/month=03/day=10/hour=01"))
        .unwrap();
    assert_eq!(hour.files().len(), 3);
    assert_eq!(hour.synced_prefix(), format!("{uri}/"));
    assert!(temp_files(&cache).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn changed_and_new_objects_are_fetched_and_deleted_ones_removed() {
    let client = client();
    let bucket = bucket(&client, "changed").await;
    for i in 0..6u64 {
        put(&client, &bucket, &format!("p/f{i}.parquet"), data(i, 5000)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let uri = format!("s3://{bucket}/p/");
    cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();

    // A reader holding the old version open keeps reading it.
    let mut old = std::fs::File::open(cache.local_path(&uri).unwrap().join("f0.parquet")).unwrap();
    // Same size, other bytes: only the ETag tells.
    put(&client, &bucket, "p/f0.parquet", data(100, 5000)).await;
    put(&client, &bucket, "p/new.parquet", data(101, 777)).await;
    delete(&client, &bucket, "p/f5.parquet").await;

    let report = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!(report.objects_listed, 6);
    assert_eq!(report.objects_fetched, 2);
    assert_eq!(report.objects_skipped, 4);
    assert_eq!(report.deleted_remote, ["p/f5.parquet"]);
    assert_mirror(&cache, &client, &bucket, "p/").await;
    let mut bytes = Vec::new();
    old.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, data(0, 5000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn a_range_limited_sync_fetches_only_the_overlapping_partitions() {
    let client = client();
    let bucket = bucket(&client, "range").await;
    let base = "acct/sagemaker/us-east-1/offline-store/g-1/data/";
    let hours = [
        (2023, 12, 31, 23),
        (2024, 3, 9, 23),
        (2024, 3, 10, 5),
        (2024, 3, 10, 6),
        (2024, 3, 11, 0),
        (2024, 3, 11, 12),
        (2024, 4, 1, 0),
    ];
    for (i, (y, m, d, h)) in hours.iter().enumerate() {
        let key = glue_key(base, *y, *m, *d, *h, "x.parquet");
        put(&client, &bucket, &key, data(i as u64, 300)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let uri = format!("s3://{bucket}/{base}");
    let range = SyncOptions::new().event_time_range(
        Some(EventTime::parse_iso("2024-03-10T05:30:00Z").unwrap()),
        Some(EventTime::parse_iso("2024-03-11T00:00:00Z").unwrap()),
    );
    let report = cache.sync(&client, &uri, &range).await.unwrap();
    assert_eq!((report.objects_listed, report.objects_fetched), (3, 3));
    let reader = cache.open_for_read(&uri).unwrap();
    let keys: Vec<&str> = reader
        .files()
        .iter()
        .map(|f| &f.key[base.len()..])
        .collect();
    assert_eq!(
        keys,
        [
            "year=2024/month=03/day=10/hour=05/x.parquet",
            "year=2024/month=03/day=10/hour=06/x.parquet",
            "year=2024/month=03/day=11/hour=00/x.parquet",
        ]
    );
    assert!(reader.sync_info().event_time_from_ms.is_some());
    drop(reader);

    // A deletion outside the range is not seen by a range-limited sync...
    let outside = glue_key(base, 2024, 4, 1, 0, "x.parquet");
    let inside = glue_key(base, 2024, 3, 10, 6, "x.parquet");
    let full = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!((full.objects_fetched, full.objects_skipped), (4, 3));
    delete(&client, &bucket, &outside).await;
    delete(&client, &bucket, &inside).await;
    let report = cache.sync(&client, &uri, &range).await.unwrap();
    assert_eq!(report.deleted_remote, [inside]);
    // ...a full one is.
    let report = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!(report.deleted_remote, [outside]);
    assert_mirror(&cache, &client, &bucket, base).await;
}

/// Runs a slow sync in a child process and kills it with SIGKILL after some
/// files have landed; a second sync completes the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn a_sync_killed_midway_is_completed_by_the_next() {
    let client = client();
    if let Ok(spec) = std::env::var("FS_CACHE_TEST_CHILD_SYNC") {
        // The child: sync slowly until killed.
        let (dir, uri) = spec.split_once('|').unwrap();
        let options = SyncOptions::new()
            .concurrency(2)
            .on_progress(|_| std::thread::sleep(Duration::from_millis(40)));
        cache(std::path::Path::new(dir))
            .sync(&client, uri, &options)
            .await
            .unwrap();
        return;
    }
    let bucket = bucket(&client, "killed").await;
    const N: u64 = 60;
    for i in 0..N {
        put(
            &client,
            &bucket,
            &format!("d/part-{i:03}.parquet"),
            data(i, 200_000),
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://{bucket}/d");
    let local = cache(dir.path()).local_path(&uri).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "cache::a_sync_killed_midway_is_completed_by_the_next",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(
            "FS_CACHE_TEST_CHILD_SYNC",
            format!("{}|{uri}", dir.path().display()),
        )
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let landed = loop {
        let n = files_under(&local)
            .iter()
            .filter(|p| !p.to_string_lossy().ends_with(".fs-partial"))
            .count();
        if n >= 10 {
            break n;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child sync ended before it was killed"
        );
        assert!(Instant::now() < deadline, "no files landed in time");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let after_kill = files_under(&local)
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".fs-partial"))
        .count();
    assert!(
        landed >= 10 && after_kill < N as usize,
        "killed mid-way: {after_kill} of {N} files"
    );

    // Readers see no partial file and no completed prefix yet.
    let cache = cache(dir.path());
    assert!(matches!(
        cache.open_for_read(&uri),
        Err(CacheError::NotSynced { .. })
    ));
    let report = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!(report.objects_listed, N);
    assert_eq!(report.objects_fetched + report.objects_skipped, N);
    assert!(
        report.objects_skipped > 0,
        "the journal kept what the killed sync fetched: {report:?}"
    );
    assert!(report.objects_fetched > 0, "{report:?}");
    assert!(temp_files(&cache).is_empty(), "{:?}", temp_files(&cache));
    assert_mirror(&cache, &client, &bucket, "d/").await;
    let again = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!(again.objects_fetched, 0);
}

#[test]
#[ignore = "needs moto's S3; run by cargo xtask it"]
fn concurrent_syncs_fetch_each_object_once_and_all_read_whole_files() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = client();
    const N: u64 = 24;
    let bucket = rt.block_on(async {
        let bucket = bucket(&client, "concurrent").await;
        for i in 0..N {
            put(
                &client,
                &bucket,
                &format!("c/f{i}.parquet"),
                data(i, 100_000),
            )
            .await;
        }
        bucket
    });
    drop(rt);
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://{bucket}/c");
    const READERS: usize = 4;
    let barrier = Arc::new(Barrier::new(READERS));
    let handles: Vec<_> = (0..READERS)
        .map(|_| {
            let (barrier, dir, uri) = (barrier.clone(), dir.path().to_path_buf(), uri.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Runtime::new().unwrap();
                // Each thread opens the directory itself, as a separate
                // process would: its own lock file descriptions.
                let cache = Cache::open(&dir, CacheOptions::default()).unwrap();
                let client = support::client();
                barrier.wait();
                let (report, reader) = rt
                    .block_on(cache.sync_and_open(
                        &client,
                        &uri,
                        &SyncOptions::new().concurrency(4),
                    ))
                    .unwrap();
                assert_eq!(reader.files().len(), N as usize);
                for f in reader.files() {
                    let i: u64 = f.key["c/f".len()..f.key.len() - ".parquet".len()]
                        .parse()
                        .unwrap();
                    assert!(
                        std::fs::read(&f.path).unwrap() == data(i, 100_000),
                        "{}",
                        f.key
                    );
                }
                report
            })
        })
        .collect();
    let reports: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        reports.iter().map(|r| r.objects_fetched).sum::<u64>(),
        N,
        "{reports:#?}"
    );
    assert_eq!(reports.iter().filter(|r| r.objects_fetched == N).count(), 1);
    assert!(reports.iter().all(|r| r.objects_listed == N));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn corrupt_and_missing_files_are_detected_and_fetched_again() {
    let client = client();
    let bucket = bucket(&client, "corrupt").await;
    for i in 0..6u64 {
        put(&client, &bucket, &format!("v/f{i}.parquet"), data(i, 4096)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let uri = format!("s3://{bucket}/v");
    cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    let local = cache.local_path(&uri).unwrap();
    assert!(cache.verify().unwrap().problems.is_empty());

    // Bit rot: a flipped byte with the modification time put back, which
    // only a checksum finds.
    let flipped = local.join("f0.parquet");
    let mtime = std::fs::metadata(&flipped).unwrap().modified().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&flipped)
        .unwrap();
    f.seek(SeekFrom::Start(100)).unwrap();
    let mut b = [0u8; 1];
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(100)).unwrap();
    f.write_all(&[b[0] ^ 0x40]).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    // A truncated file.
    std::fs::OpenOptions::new()
        .write(true)
        .open(local.join("f1.parquet"))
        .unwrap()
        .set_len(10)
        .unwrap();

    let report = cache.verify().unwrap();
    assert_eq!(report.objects_checked, 6);
    let problems: Vec<_> = report
        .problems
        .iter()
        .map(|p| (p.path.clone(), p.kind.clone()))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(matches!(&problems[0], (p, ProblemKind::Checksum { .. }) if *p == flipped));
    assert!(matches!(
        &problems[1],
        (
            _,
            ProblemKind::Size {
                expected: 4096,
                actual: 10
            }
        )
    ));
    assert!(report.problems[0].uri.ends_with("/v/f0.parquet"));
    let report = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!((report.objects_fetched, report.objects_skipped), (2, 4));
    assert_mirror(&cache, &client, &bucket, "v/").await;

    // Without verify: the next sync finds missing, truncated and modified
    // (new modification time) files itself.
    std::fs::remove_file(local.join("f2.parquet")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(local.join("f3.parquet"))
        .unwrap()
        .set_len(4000)
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(local.join("f4.parquet"))
        .unwrap();
    f.write_all(b"garbage!").unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    // Only touched, not changed: re-hashed and kept.
    let f = std::fs::File::options()
        .write(true)
        .open(local.join("f5.parquet"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    let report = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!(
        (
            report.objects_fetched,
            report.objects_repaired,
            report.objects_skipped
        ),
        (3, 3, 3)
    );
    assert_mirror(&cache, &client, &bucket, "v/").await;
    assert!(cache.verify().unwrap().problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn the_budget_evicts_the_least_recently_used_prefix_not_one_in_use() {
    let client = client();
    let bucket = bucket(&client, "budget").await;
    for p in ["a", "b", "c"] {
        for i in 0..3u64 {
            put(
                &client,
                &bucket,
                &format!("{p}/f{i}.parquet"),
                data(i, 100_000),
            )
            .await;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), CacheOptions::default().size_budget(700_000)).unwrap();
    let uri = |p: &str| format!("s3://{bucket}/{p}/");
    let sync = |p: &'static str| {
        let (cache, client, uri) = (cache.clone(), client.clone(), uri(p));
        async move { cache.sync(&client, &uri, &SyncOptions::new()).await }
    };
    sync("a").await.unwrap();
    sync("b").await.unwrap();
    drop(cache.open_for_read(&uri("a")).unwrap()); // a is now more recent than b
    let report = sync("c").await.unwrap();
    assert_eq!(report.evicted.prefixes, [uri("b")]);
    assert_eq!(report.evicted.bytes, 300_000);
    assert!(!cache.local_path(&uri("b")).unwrap().exists());
    assert!(matches!(
        cache.open_for_read(&uri("b")),
        Err(CacheError::NotSynced { .. })
    ));
    assert_eq!(cache.held_bytes().unwrap(), 600_000);

    // a is the least recently used, but a reader holds it: c goes instead.
    let reader = cache.open_for_read(&uri("a")).unwrap();
    std::thread::sleep(Duration::from_millis(2));
    drop(cache.open_for_read(&uri("c")).unwrap());
    let report = sync("b").await.unwrap();
    assert_eq!(report.evicted.busy, [uri("a")]);
    assert_eq!(report.evicted.prefixes, [uri("c")]);
    for f in reader.files() {
        assert_eq!(std::fs::metadata(&f.path).unwrap().len(), 100_000);
    }
    drop(reader);
    assert_mirror(&cache, &client, &bucket, "a/").await;
    assert_mirror(&cache, &client, &bucket, "b/").await;

    // A prefix larger than the budget is refused before any download.
    let small = Cache::open(
        dir.path().join("small"),
        CacheOptions::default().size_budget(250_000),
    )
    .unwrap();
    let err = small
        .sync(&client, &uri("a"), &SyncOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::OverBudget {
                needed: 300_000,
                budget: 250_000,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn downloads_are_checked_with_the_object_checksum_or_its_etag() {
    let client = client();
    let bucket = bucket(&client, "checksums").await;
    let uploads = [
        ("k/sha256.bin", Some(ChecksumAlgorithm::Sha256)),
        ("k/crc32c.bin", Some(ChecksumAlgorithm::Crc32C)),
        ("k/plain.bin", None),
    ];
    let plain = without_checksums(&client);
    for (i, (key, algorithm)) in uploads.iter().enumerate() {
        let c = if algorithm.is_some() { &client } else { &plain };
        c.put_object()
            .bucket(&bucket)
            .key(*key)
            .set_checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(data(i as u64, 3000)))
            .send()
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let uri = format!("s3://{bucket}/k");
    let (_, reader) = cache
        .sync_and_open(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    let algorithms: BTreeSet<(String, String)> = reader
        .files()
        .iter()
        .map(|f| {
            (
                f.key.clone(),
                f.checksum
                    .as_ref()
                    .map(|c| c.algorithm.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("k/crc32c.bin", "crc32c"),
        ("k/plain.bin", "etag-md5"),
        ("k/sha256.bin", "sha256"),
    ]
    .into_iter()
    .map(|(k, a)| (k.to_owned(), a.to_owned()))
    .collect();
    assert_eq!(algorithms, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn errors_name_the_key_and_the_cause() {
    let client = client();
    let bucket = bucket(&client, "errors").await;
    put(&client, &bucket, "e/ok.parquet", data(1, 10)).await;
    put(&client, &bucket, "e/bad//name.parquet", data(2, 10)).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let err = cache
        .sync(&client, &format!("s3://{bucket}/e"), &SyncOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::UnsafeKey { .. }), "{err:?}");
    assert!(err.to_string().contains("e/bad//name.parquet"), "{err}");

    let err = cache
        .sync(
            &client,
            "s3://no-such-bucket-fs-cache/x",
            &SyncOptions::new(),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("s3://no-such-bucket-fs-cache/x/") && msg.contains("NoSuchBucket"),
        "{msg}"
    );
    assert!(
        !msg.contains("fs-server-does-not-check-signatures"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn a_key_that_is_both_a_file_and_a_prefix_is_refused_before_anything_is_written() {
    let client = client();
    let bucket = bucket(&client, "file-and-prefix").await;
    put(&client, &bucket, "k/ok.parquet", data(1, 100)).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let uri = format!("s3://{bucket}/k/");
    cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    let local = cache.local_path(&uri).unwrap();

    // `k/a` is an object and also the "directory" of `k/a/b.parquet`.
    put(&client, &bucket, "k/a", data(2, 100)).await;
    put(&client, &bucket, "k/a/b.parquet", data(3, 100)).await;
    put(&client, &bucket, "k/later.parquet", data(4, 100)).await;
    let err = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::UnsafeKey { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("s3://{bucket}/k/a:")) && msg.contains("k/a/b.parquet"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
    // Nothing of the new listing was written, and what was held is intact.
    assert!(!local.join("a").exists());
    assert!(!local.join("later.parquet").exists());
    assert_eq!(
        std::fs::read(local.join("ok.parquet")).unwrap(),
        data(1, 100)
    );

    // Once one of the two is gone, the sync goes through.
    delete(&client, &bucket, "k/a").await;
    let report = cache
        .sync(&client, &uri, &SyncOptions::new())
        .await
        .unwrap();
    assert_eq!(report.objects_fetched, 2);
    assert_mirror(&cache, &client, &bucket, "k/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn large_objects_are_fetched_in_ranged_parts_and_checked_whole() {
    let client = client();
    let bucket = bucket(&client, "parts").await;
    const PART: u64 = 64 << 10;
    let plain = without_checksums(&client);
    // Several parts with a CRC32C, several parts with only an MD5 ETag,
    // exactly one part (one whole GET), one byte over a part, and small.
    let uploads = [
        ("p/crc32c.bin", 300_001, Some(ChecksumAlgorithm::Crc32C)),
        ("p/plain.bin", 200_000, None),
        (
            "p/exact.bin",
            PART as usize,
            Some(ChecksumAlgorithm::Crc32C),
        ),
        (
            "p/over.bin",
            PART as usize + 1,
            Some(ChecksumAlgorithm::Crc32C),
        ),
        ("p/small.bin", 1_000, Some(ChecksumAlgorithm::Crc32C)),
    ];
    for (i, (key, len, algorithm)) in uploads.iter().enumerate() {
        let c = if algorithm.is_some() { &client } else { &plain };
        c.put_object()
            .bucket(&bucket)
            .key(*key)
            .set_checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(data(100 + i as u64, *len)))
            .send()
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let uri = format!("s3://{bucket}/p");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let options = {
        let seen = Arc::clone(&seen);
        SyncOptions::new()
            .concurrency(3)
            .part_size(PART)
            .on_progress(move |p| seen.lock().unwrap().push(p.clone()))
    };
    let (report, reader) = cache.sync_and_open(&client, &uri, &options).await.unwrap();
    let total: u64 = uploads.iter().map(|u| u.1 as u64).sum();
    assert_eq!((report.objects_fetched, report.bytes_fetched), (5, total));
    assert_mirror(&cache, &client, &bucket, "p/").await;
    assert!(temp_files(&cache).is_empty(), "{:?}", temp_files(&cache));
    // The parted downloads were checked against the whole object's
    // checksum (from HeadObject: ranged answers carry none).
    let algorithms: BTreeSet<(String, String)> = reader
        .files()
        .iter()
        .map(|f| {
            let a = f.checksum.as_ref().map(|c| c.algorithm.clone());
            (f.key.clone(), a.unwrap_or_default())
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("p/crc32c.bin", "crc32c"),
        ("p/exact.bin", "crc32c"),
        ("p/over.bin", "crc32c"),
        ("p/plain.bin", "etag-md5"),
        ("p/small.bin", "crc32c"),
    ]
    .into_iter()
    .map(|(k, a)| (k.to_owned(), a.to_owned()))
    .collect();
    assert_eq!(algorithms, expected);
    // Progress: once per object, bytes growing to the total, a rate, and
    // no time left at the end.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0].bytes_done < w[1].bytes_done));
    assert!(seen.windows(2).all(|w| w[0].elapsed <= w[1].elapsed));
    let last = seen.last().unwrap();
    assert_eq!((last.bytes_done, last.bytes_total), (total, total));
    assert!(last.bytes_per_sec() > 0.0);
    assert_eq!(last.eta(), Some(Duration::ZERO));
    assert!(seen.iter().all(|p| p.eta().is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3; run by cargo xtask it"]
async fn a_sync_through_a_throttled_link_fetches_each_byte_once() {
    use fs_offline::throttle::{Limits, Throttle};
    let direct = client();
    let bucket = bucket(&direct, "throttled").await;
    let mut total = 0u64;
    for i in 0..6u64 {
        let len = 50_000 + i as usize * 40_000;
        total += len as u64;
        let key = glue_key("t/data/", 2024, 5, 1, i as u32, &format!("f{i}.parquet"));
        put(&direct, &bucket, &key, data(200 + i, len)).await;
    }
    let moto: std::net::SocketAddr = endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let limits = Limits::default()
        .first_byte_latency(Duration::from_millis(20))
        .per_connection(4_000_000)
        .link(10_000_000);
    let throttle = Throttle::start(moto, limits).await.unwrap();
    let client = client_at(&throttle.endpoint_url());
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let uri = format!("s3://{bucket}/t/data");
    // Parts of 64 KiB: the larger objects come in several ranged GETs.
    let options = SyncOptions::new().concurrency(4).part_size(64 << 10);
    let report = cache.sync(&client, &uri, &options).await.unwrap();
    assert_eq!((report.objects_fetched, report.bytes_fetched), (6, total));
    assert_mirror(&cache, &direct, &bucket, "t/data/").await;
    // Every byte came down once: the objects, plus the listings and the
    // answers' headers (well under 2 KiB an answer).
    let down = throttle.bytes_down();
    assert!(down >= total, "{down} < {total}");
    assert!(down < total + 64 * 2048, "{down} bytes for {total}");
    // A second sync fetches nothing: only a listing comes down.
    let before = throttle.bytes_down();
    let again = cache.sync(&client, &uri, &options).await.unwrap();
    assert_eq!(again.objects_fetched, 0);
    assert!(throttle.bytes_down() - before < 16 << 10);
}
