//! Sharding: N workers' shares are disjoint and together are the whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use fs_ingest::{IngestOptions, ShardMode, expand_inputs, shard};

use crate::support::{Env, customers, customers_batch, data_dir, write_csv, write_parquet};

/// Runs shards `0..count` one after the other into one store; returns the
/// reports.
async fn run_shards(
    env: &Env,
    group: &fs_schema::FeatureGroup,
    inputs: &[PathBuf],
    count: u32,
) -> Vec<fs_ingest::IngestReport> {
    let mut reports = Vec::new();
    for index in 0..count {
        let options = IngestOptions::default().shard(index, count).batch_size(16);
        reports.push(env.ingest(group, inputs, options).await.unwrap());
    }
    reports
}

#[tokio::test]
async fn with_enough_files_workers_split_them_disjointly_and_completely() {
    let env = Env::new();
    let group = env.group(customers("by-file"));
    let root = env.path("in");
    std::fs::create_dir_all(root.join("2024")).unwrap();
    for i in 0..7i64 {
        let path = root.join("2024").join(format!("part-{i}.parquet"));
        write_parquet(&path, &customers_batch(i * 100, 20));
    }
    let inputs = [root];
    let reports = run_shards(&env, &group, &inputs, 3).await;

    let mut seen: BTreeMap<PathBuf, u32> = BTreeMap::new();
    for (index, r) in reports.iter().enumerate() {
        assert_eq!(r.shard_mode, Some(ShardMode::ByFile));
        assert_eq!(r.rows_other_shards, 0);
        for f in &r.files {
            assert!(
                seen.insert(f.file.clone(), index as u32).is_none(),
                "{} read twice",
                f.file.display()
            );
        }
    }
    let all: BTreeSet<PathBuf> = expand_inputs(&inputs)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        all,
        "every file read once"
    );
    // The split is the documented hash of the relative path.
    for f in expand_inputs(&inputs).unwrap() {
        assert_eq!(
            seen[&f.path],
            shard::shard_of(f.relative.as_bytes(), 3),
            "{}",
            f.relative
        );
    }
    let total: u64 = reports.iter().map(|r| r.rows_written).sum();
    assert_eq!(total, 140);
    let offline = env.offline_counts("by-file", "customer_id");
    assert_eq!(offline.len(), 140);
    assert!(offline.values().all(|&c| c == 1));
}

#[tokio::test]
async fn with_few_files_workers_split_rows_by_record_identifier() {
    let env = Env::new();
    let group = env.group(customers("by-id"));
    let a = env.path("a.csv");
    write_csv(&a, &customers_batch(1000, 250));
    // Bad rows too: each is reported by exactly one worker.
    let inputs = [a, data_dir().join("customers-wrong-types.csv")];
    let reports = run_shards(&env, &group, &inputs, 4).await;

    let total_rows = 250 + 6;
    let mut failed = BTreeSet::new();
    for r in &reports {
        assert_eq!(r.shard_mode, Some(ShardMode::ByRecordIdentifier));
        assert_eq!(
            r.rows_read + r.rows_other_shards,
            total_rows,
            "each worker sees all rows"
        );
        assert!(r.rows_read > 0, "every worker gets a share");
        for f in &r.failures {
            assert!(
                failed.insert((f.file.clone(), f.row)),
                "failure reported twice: {f}"
            );
        }
    }
    assert_eq!(reports.iter().map(|r| r.rows_read).sum::<u64>(), total_rows);
    assert_eq!(failed.len(), 4);
    let offline = env.offline_counts("by-id", "customer_id");
    assert_eq!(offline.len(), 252);
    assert!(offline.values().all(|&c| c == 1), "disjoint");

    // Deterministic: the same worker gets the same rows again.
    let again = env
        .ingest(
            &group,
            &inputs,
            IngestOptions::default().shard(2, 4).batch_size(100),
        )
        .await
        .unwrap();
    assert_eq!(again.rows_read, reports[2].rows_read);
    assert_eq!(again.failures, reports[2].failures);
}
