//! Target stores, TTL, progress and option checks through a whole ingest.

use std::sync::{Arc, Mutex};

use fs_ingest::{Error, IngestOptions, Progress};
use fs_schema::{TargetStore, TtlDuration, TtlUnit};

use crate::support::{Env, customers, customers_batch, write_csv, write_parquet};

#[tokio::test]
async fn target_stores_choose_online_offline_or_both() {
    let env = Env::new();
    let input = env.path("in.parquet");
    write_parquet(&input, &customers_batch(1, 10));
    for (name, targets, online, offline) in [
        ("t-online", Some(vec![TargetStore::OnlineStore]), true, 0),
        (
            "t-offline",
            Some(vec![TargetStore::OfflineStore]),
            false,
            10,
        ),
        ("t-both", None, true, 10),
    ] {
        let group = env.group(customers(name));
        let mut options = IngestOptions::default();
        if let Some(t) = targets {
            options = options.target_stores(t);
        }
        let r = env
            .ingest(&group, std::slice::from_ref(&input), options)
            .await
            .unwrap();
        assert_eq!(r.rows_written, 10, "{name}");
        assert_eq!(env.online(name, "5").is_some(), online, "{name}");
        assert_eq!(
            env.offline_counts(name, "customer_id").len(),
            offline,
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_ttl_of_an_ingest_reaches_the_store() {
    let env = Env::new();
    let group = env.group(customers("ttl"));
    let input = env.path("in.csv");
    write_csv(&input, &customers_batch(1, 3));
    // 2024 event times with a 1-day TTL: already expired.
    let options = IngestOptions::default().ttl(TtlDuration::new(TtlUnit::Days, 1));
    env.ingest(&group, std::slice::from_ref(&input), options)
        .await
        .unwrap();
    assert!(env.online("ttl", "1").is_none());
    // A 100-year TTL: ExpiresAt = EventTime + TTL.
    let options = IngestOptions::default().ttl(TtlDuration::new(TtlUnit::Weeks, 5200));
    env.ingest(&group, &[input], options).await.unwrap();
    let got = env.store.get_record("ttl", "1", None).unwrap().unwrap();
    let expires = got.expires_at.unwrap().as_millis() - got.event_time.as_millis();
    assert_eq!(expires, 5200 * 7 * 24 * 3600 * 1000);
}

#[tokio::test]
async fn progress_is_reported_after_every_batch_and_at_the_end() {
    let env = Env::new();
    let group = env.group(customers("progress"));
    let input = env.path("in.csv");
    write_csv(&input, &customers_batch(1, 100));
    let calls: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let seen = calls.clone();
    let options = IngestOptions::default()
        .batch_size(10)
        .on_progress(move |p| seen.lock().unwrap().push(p.clone()));
    let r = env.ingest(&group, &[input], options).await.unwrap();
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 11, "10 batches and the end");
    assert!(
        calls
            .windows(2)
            .all(|w| w[0].rows_written <= w[1].rows_written)
    );
    assert!(calls.windows(2).all(|w| w[0].bytes_read <= w[1].bytes_read));
    assert_eq!(calls[0].rows_read, 10);
    let last = calls.last().unwrap();
    assert!(last.finished && !calls[0].finished);
    assert_eq!(
        (last.rows_written, last.files_done, last.files_total),
        (r.rows_written, 1, 1)
    );
    assert_eq!(
        last.bytes_read,
        std::fs::metadata(env.path("in.csv")).unwrap().len()
    );
    assert!(last.rows_per_sec > 0.0);
}

#[tokio::test]
async fn invalid_options_are_refused_before_anything_is_read() {
    let env = Env::new();
    let group = env.group(customers("opts"));
    let input = env.path("in.csv");
    write_csv(&input, &customers_batch(1, 1));
    for (options, what) in [
        (IngestOptions::default().batch_size(0), "batch_size"),
        (IngestOptions::default().shard(2, 2), "shard"),
        (IngestOptions::default().resume(true), "resume"),
        (IngestOptions::default().target_stores([]), "target_stores"),
        (
            IngestOptions::default().failures_file(env.path("f.txt")),
            "failures_file",
        ),
    ] {
        let err = env
            .ingest(&group, std::slice::from_ref(&input), options)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Options { .. }), "{what}: {err}");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
    assert!(env.online("opts", "1").is_none());
}

#[tokio::test]
async fn a_file_that_does_not_fit_the_group_is_reported_whole() {
    let env = Env::new();
    let group = env.group(customers("misfit"));
    let good = env.path("good.csv");
    write_csv(&good, &customers_batch(1, 2));
    let misfit = env.path("misfit.csv");
    std::fs::write(
        &misfit,
        "customer_id,event_time,shoe_size\n1,2024-01-01T00:00:00Z,44\n",
    )
    .unwrap();
    let no_id = env.path("no-id.csv");
    std::fs::write(&no_id, "event_time,age\n2024-01-01T00:00:00Z,44\n").unwrap();
    let r = env
        .ingest(
            &group,
            &[misfit.clone(), no_id, good],
            IngestOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!((r.rows_read, r.rows_written), (2, 2));
    let cols: Vec<_> = r.file_errors.iter().map(|e| e.column.as_deref()).collect();
    assert_eq!(cols, [Some("shoe_size"), Some("customer_id")]);
    // Ignoring unknown columns lets the misfit in.
    let options = IngestOptions::default()
        .cast(fs_schema::CastOptions::default().ignore_unknown_columns(true));
    let r = env.ingest(&group, &[misfit], options).await.unwrap();
    assert_eq!(r.rows_written, 1);
}
