//! BatchWriteRecord as the real SDK sends and parses it: one transaction
//! for the entries of a request, per-entry faults answered in `Errors` and
//! `UnprocessedEntries`; concurrent PutRecords sharing transactions.

use std::sync::Arc;

use aws_sdk_sagemakerfeaturestoreruntime::Client;
use aws_sdk_sagemakerfeaturestoreruntime::types::{
    BatchWriteRecordEntry, FeatureValue, TtlDuration, TtlDurationUnit,
};
use fs_server::Faults;

use crate::support::{env, group};

fn fv(name: &str, value: &str) -> FeatureValue {
    FeatureValue::builder()
        .feature_name(name)
        .value_as_string(value)
        .build()
}

fn entry(id: &str, n: &str) -> BatchWriteRecordEntry {
    BatchWriteRecordEntry::builder()
        .feature_group_name("g")
        .record(fv("id", id))
        .record(fv("ts", "9999-01-01T00:00:00Z"))
        .record(fv("n", n))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_transaction_and_ttls_apply_per_entry() {
    let env = env(1).await;
    env.store.create_feature_group(group("g")).unwrap();
    let client = Client::new(&env.config);
    let day = TtlDuration::builder()
        .unit(TtlDurationUnit::Days)
        .value(1)
        .build();
    let week = TtlDuration::builder()
        .unit(TtlDurationUnit::Weeks)
        .value(1)
        .build();
    let own_ttl = BatchWriteRecordEntry::builder()
        .feature_group_name("g")
        .record(fv("id", "w"))
        .record(fv("ts", "9999-01-01T00:00:00Z"))
        .ttl_duration(week)
        .build();
    let entries: Vec<_> = (0..24)
        .map(|i| entry(&i.to_string(), "1"))
        .chain([own_ttl])
        .collect();
    let before = env.store.commit_stats();
    let out = client
        .batch_write_record()
        .set_entries(Some(entries))
        .ttl_duration(day)
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty() && out.unprocessed_entries().is_empty());
    let after = env.store.commit_stats();
    assert_eq!(
        (
            after.transactions - before.transactions,
            after.writes - before.writes
        ),
        (1, 25)
    );
    let expiry = |id: &str| {
        env.store
            .get_record("g", id, None)
            .unwrap()
            .unwrap()
            .expires_at
            .unwrap()
            .to_iso()
    };
    assert_eq!(expiry("3"), "9999-01-02T00:00:00.000Z");
    assert_eq!(expiry("w"), "9999-01-08T00:00:00.000Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_six_entries_are_refused_whole_with_a_validation_error() {
    let env = env(1).await;
    env.store.create_feature_group(group("g")).unwrap();
    let client = Client::new(&env.config);
    let entries: Vec<_> = (0..26).map(|i| entry(&i.to_string(), "1")).collect();
    let err = client
        .batch_write_record()
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap_err();
    let service = err.as_service_error().unwrap();
    assert!(service.is_validation_error(), "{err:?}");
    assert!(
        format!("{service}").contains("1 to 25 entries"),
        "{service}"
    );
    assert!(env.store.get_record("g", "0", None).unwrap().is_none());
    assert_eq!(env.store.outbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_entry_faults_come_back_as_the_sdk_parses_them() {
    let env = env(1).await;
    env.store.create_feature_group(group("g")).unwrap();
    let client = Client::new(&env.config);
    env.server.set_faults(
        Faults::none()
            .entry_throttle_rate(0.2)
            .entry_error_rate(0.2)
            .unprocessed_rate(0.2)
            .seed(3),
    );
    let entries: Vec<_> = (0..25).map(|i| entry(&i.to_string(), "1")).collect();
    let out = client
        .batch_write_record()
        .set_entries(Some(entries.clone()))
        .send()
        .await
        .unwrap();
    let mut codes: Vec<&str> = out.errors().iter().filter_map(|e| e.error_code()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes, ["InternalFailure", "ThrottlingException"]);
    // Each failed or unprocessed entry comes back as sent, and is not written.
    let mut refused = 0;
    for e in out
        .errors()
        .iter()
        .map(|e| e.entry().unwrap())
        .chain(out.unprocessed_entries())
    {
        assert!(entries.contains(e));
        let id = e.record()[0].value_as_string().unwrap();
        assert!(
            env.store.get_record("g", id, None).unwrap().is_none(),
            "{id}"
        );
        refused += 1;
    }
    assert!(!out.unprocessed_entries().is_empty());
    assert!((1..25).contains(&refused), "{refused} of 25 refused");
    let written = (0..25)
        .filter(|i| {
            env.store
                .get_record("g", &i.to_string(), None)
                .unwrap()
                .is_some()
        })
        .count();
    assert_eq!(written + refused, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_put_records_share_transactions() {
    let env = env(1).await;
    env.store.create_feature_group(group("g")).unwrap();
    let client = Arc::new(Client::new(&env.config));
    let before = env.store.commit_stats();
    let puts: Vec<_> = (0..64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .put_record()
                    .feature_group_name("g")
                    .record(fv("id", &i.to_string()))
                    .record(fv("ts", "2024-01-01T00:00:00Z"))
                    .record(fv("n", if i == 9 { "nine" } else { "1" }))
                    .send()
                    .await
            })
        })
        .collect();
    let mut failed = Vec::new();
    for (i, p) in puts.into_iter().enumerate() {
        if let Err(e) = p.await.unwrap() {
            assert!(e.as_service_error().unwrap().is_validation_error(), "{e:?}");
            failed.push(i);
        }
    }
    assert_eq!(failed, [9], "the bad record fails alone");
    let after = env.store.commit_stats();
    let writes = after.writes - before.writes;
    assert_eq!(writes, 63);
    assert!(
        after.transactions - before.transactions < writes,
        "64 concurrent requests share transactions: {after:?}"
    );
    for i in (0..64).filter(|&i| i != 9) {
        assert!(
            env.store
                .get_record("g", &i.to_string(), None)
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_the_server_holds_the_store_no_longer() {
    let env = env(1).await;
    env.store.create_feature_group(group("g")).unwrap();
    let client = Client::new(&env.config);
    client
        .put_record()
        .feature_group_name("g")
        .record(fv("id", "a"))
        .record(fv("ts", "2024-01-01T00:00:00Z"))
        .send()
        .await
        .unwrap();
    let dir = env.store.dir().to_path_buf();
    // The temporary directory stays in `env` until the test ends.
    let crate::support::Env { store, server, .. } = env;
    server.shutdown().await;
    assert_eq!(
        Arc::strong_count(&store),
        1,
        "neither the server nor its writer thread keeps the store"
    );
    drop(store);
    let reopened = fs_local::Store::open(&dir).unwrap();
    assert!(reopened.get_record("g", "a", None).unwrap().is_some());
}
