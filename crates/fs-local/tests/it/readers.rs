//! Readers during writes: while several writers put the same records with
//! increasing event times (and background flushes run), a reader never
//! sees a record's event time go backwards, nor a record vanish, nor a
//! record whose values belong to another put than its event time.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fs_local::{Store, StoreOptions};
use fs_schema::EventTime;
use fs_schema::runtime::{BatchGetRequest, OnlineRecord};

use crate::support::{group, offline_id_counts, record};

const WRITERS: usize = 4;
const PUTS_PER_WRITER: usize = 300;
const IDS: usize = 8;
/// The readers stop at the latest this long after the start, writers done or not.
const DEADLINE: Duration = Duration::from_secs(30);

/// The event time (ms) of writer `w`'s put number `i`: every writer's
/// times increase, at a different pace each (writer `w` steps by `w + 1`
/// seconds), so that writers keep overtaking each other and a put is as
/// often older than the stored record as newer.
fn event_time_ms(w: usize, i: usize) -> i64 {
    let base = EventTime::parse_iso("2024-01-01T00:00:00Z")
        .unwrap()
        .as_millis();
    // Distinct across writers: the writer is in the last three digits.
    base + (i * (w + 1)) as i64 * 1000 + w as i64
}

/// The record's event time, checked against its `n` feature (which each
/// put sets to its event time): a torn record fails here.
fn checked_time(id: &str, r: &OnlineRecord) -> i64 {
    let t = r.event_time.as_millis();
    let n = r.record.get_str("n").unwrap_or_default();
    assert_eq!(
        n,
        t.to_string(),
        "record {id}: n does not match its event time"
    );
    t
}

/// What a reader remembers: the latest event time it saw per id.
#[derive(Default)]
struct Seen(HashMap<String, i64>);

impl Seen {
    fn saw(&mut self, who: &str, id: &str, record: Option<&OnlineRecord>) {
        match (self.0.get(id).copied(), record) {
            (None, None) => {}
            (Some(before), None) => panic!("{who}: record {id} (at {before}) vanished"),
            (before, Some(r)) => {
                let t = checked_time(id, r);
                if let Some(before) = before {
                    assert!(
                        t >= before,
                        "{who}: record {id} went back in event time from {before} to {t}"
                    );
                }
                self.0.insert(id.to_owned(), t);
            }
        }
    }
}

#[test]
fn readers_never_see_an_event_time_go_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default().flush_threshold_rows(100);
    let store = Arc::new(Store::open_with(dir.path(), options).unwrap());
    store.create_feature_group(group("g")).unwrap();
    let ids: Vec<String> = (0..IDS).map(|k| format!("id{k}")).collect();
    let writing = Arc::new(AtomicUsize::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, ids, writing) = (store.clone(), ids.clone(), writing.clone());
            std::thread::spawn(move || {
                for i in 0..PUTS_PER_WRITER {
                    let t = event_time_ms(w, i);
                    let ts = EventTime::from_millis(t).unwrap().to_iso();
                    let id = &ids[(i + w) % IDS];
                    store
                        .put_record("g", &record(id, &ts, t), None, None)
                        .unwrap();
                }
                writing.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    let start = Instant::now();
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (store, ids, writing) = (store.clone(), ids.clone(), writing.clone());
            std::thread::spawn(move || {
                let who = format!("reader {r}");
                let mut seen = Seen::default();
                let mut reads = 0u64;
                // Until the writers are done, and once more after.
                let mut last = false;
                while !last && start.elapsed() < DEADLINE {
                    last = writing.load(Ordering::SeqCst) == 0;
                    if r % 2 == 0 {
                        for id in &ids {
                            let got = store.get_record("g", id, None).unwrap();
                            seen.saw(&who, id, got.as_ref());
                        }
                    } else {
                        let got = store
                            .batch_get(&[BatchGetRequest {
                                group: "g".into(),
                                record_ids: ids.clone(),
                                features: None,
                            }])
                            .unwrap();
                        assert!(got.errors.is_empty(), "{:?}", got.errors);
                        let by_id: HashMap<&str, &OnlineRecord> = got
                            .records
                            .iter()
                            .map(|r| (r.record_id.as_str(), &r.record))
                            .collect();
                        for id in &ids {
                            seen.saw(&who, id, by_id.get(id.as_str()).copied());
                        }
                    }
                    reads += 1;
                }
                (reads, seen.0)
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let seen: Vec<(u64, HashMap<String, i64>)> =
        readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(
        start.elapsed() < DEADLINE,
        "the writers took over {DEADLINE:?}"
    );

    // Each id ends at the greatest event time any writer put for it, and
    // every reader's last read saw exactly that.
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for w in 0..WRITERS {
        for i in 0..PUTS_PER_WRITER {
            let t = latest
                .entry(ids[(i + w) % IDS].as_str())
                .or_insert(i64::MIN);
            *t = (*t).max(event_time_ms(w, i));
        }
    }
    for id in &ids {
        let got = store.get_record("g", id, None).unwrap().unwrap();
        assert_eq!(checked_time(id, &got), latest[id.as_str()], "{id}");
    }
    for (r, (reads, last)) in seen.iter().enumerate() {
        assert!(*reads > 1, "reader {r} read only {reads} times");
        for id in &ids {
            assert_eq!(last.get(id), latest.get(id.as_str()), "reader {r}, {id}");
        }
    }
    // Older puts lost online still reached the offline store, once each.
    store.flush().unwrap();
    let counts = offline_id_counts(&store.offline_data_dir("g").unwrap().unwrap());
    let total: usize = counts.values().sum();
    assert_eq!(total, WRITERS * PUTS_PER_WRITER);
}
