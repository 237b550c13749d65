//! Group commit: concurrent writers share durable transactions, and each
//! gets its own result.

use std::sync::Arc;

use fs_local::{RecordPut, Store};
use fs_schema::Record;

use crate::support::{group, offline_id_counts, record};

#[test]
fn concurrent_puts_share_transactions_and_a_bad_record_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    store.create_feature_group(group("g")).unwrap();
    let before = store.commit_stats();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut refused = Vec::new();
                for i in 0..25 {
                    let id = format!("{t}-{i}");
                    let r = if t == 3 && i % 5 == 0 {
                        record(&id, "2024-01-01T00:00:00Z", 0).with("n", "seven")
                    } else {
                        record(&id, "2024-01-01T00:00:00Z", i)
                    };
                    if let Err(e) = store.put_record("g", &r, None, None) {
                        assert!(e.is_validation(), "{e}");
                        refused.push(id);
                    }
                }
                refused
            })
        })
        .collect();
    let refused: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(refused, ["3-0", "3-5", "3-10", "3-15", "3-20"]);
    let stats = store.commit_stats();
    let writes = stats.writes - before.writes;
    assert_eq!(writes, 16 * 25 - 5, "refused records never reach the queue");
    assert!(
        stats.transactions - before.transactions < writes,
        "16 writers waiting on each other's fsync share transactions: {stats:?}"
    );
    for t in 0..16 {
        for i in 0..25 {
            let id = format!("{t}-{i}");
            let found = store.get_record("g", &id, None).unwrap().is_some();
            assert_eq!(found, !refused.contains(&id), "{id}");
        }
    }
    store.flush().unwrap();
    let counts = offline_id_counts(&store.offline_data_dir("g").unwrap().unwrap());
    assert_eq!(counts.len(), 16 * 25 - 5);
    assert!(counts.values().all(|&c| c == 1), "{counts:?}");
}

#[test]
fn puts_each_get_their_own_result_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_feature_group(group("g")).unwrap();
    let good = record("a", "2024-01-01T00:00:00Z", 1);
    let bad = Record::new().with("id", "b").with("ts", "never");
    let other = record("c", "2024-01-01T00:00:00Z", 3);
    let put = |group, record| RecordPut {
        group,
        record,
        target_stores: None,
        ttl: None,
    };
    let before = store.commit_stats();
    let results = store.put_records_each(&[
        put("g", &good),
        put("g", &bad),
        put("missing", &other),
        put("g", &other),
    ]);
    assert!(results[0].is_ok());
    assert!(
        results[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("never")
    );
    assert!(results[2].as_ref().unwrap_err().is_not_found());
    assert!(results[3].is_ok());
    let after = store.commit_stats();
    assert_eq!(
        (
            after.transactions - before.transactions,
            after.writes - before.writes
        ),
        (1, 2)
    );
    assert!(store.get_record("g", "a", None).unwrap().is_some());
    assert!(store.get_record("g", "c", None).unwrap().is_some());
    assert_eq!(store.outbox_len(), 2);
}
