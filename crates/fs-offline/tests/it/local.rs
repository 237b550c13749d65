//! The embedded engine against every rule of `fs_offline::spec`, on real
//! offline files (fs-local's, or written with chosen metadata).

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use fs_local::Store;
use fs_offline::local::LocalEngine;
use fs_offline::spec::{Entities, EntitySource};
use fs_offline::table::OfflineTable;
use fs_offline::{DatasetBuilder, DatasetSpec, JoinSpec};
use fs_schema::{DeletionMode, EventTime, FeatureDefinition, FeatureGroup, FeatureType, Record};
use tempfile::TempDir;

use crate::support::{Cell, Row, expect, group, id_a, ms, names, rows, runtime, write_rows};

/// Groups written by hand under one temporary directory.
pub(crate) struct Fixture {
    pub dir: TempDir,
    pub engine: LocalEngine,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        Self {
            dir: TempDir::new().unwrap(),
            engine: LocalEngine::new(),
        }
    }

    pub(crate) fn add(&mut self, group: &FeatureGroup, rows: &[Row]) {
        let dir = self.dir.path().join(&group.feature_group_name);
        write_rows(&dir, group, rows);
        self.engine.register(OfflineTable::new(group.clone(), dir));
    }

    pub(crate) fn run(&self, spec: &DatasetSpec) -> Vec<RecordBatch> {
        runtime()
            .block_on(self.engine.collect(spec))
            .unwrap_or_else(|e| panic!("{e}\nSQL:\n{}", self.sql(spec)))
    }

    pub(crate) fn sql(&self, spec: &DatasetSpec) -> String {
        runtime()
            .block_on(self.engine.sql(spec))
            .unwrap_or_default()
    }
}

fn iso(s: &str) -> EventTime {
    EventTime::parse_iso(s).unwrap()
}

const T0: &str = "2024-01-01T00:00:00Z";

fn t(min: i64) -> i64 {
    ms(T0) + min * 60_000
}

fn entities(ids: &[&str], times: &[i64]) -> Entities {
    let batch = RecordBatch::try_from_iter([
        (
            "customer",
            Arc::new(StringArray::from_iter_values(ids.iter().copied())) as ArrayRef,
        ),
        (
            "at",
            Arc::new(StringArray::from_iter_values(
                times
                    .iter()
                    .map(|m| EventTime::from_millis(*m).unwrap().to_iso()),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    Entities {
        source: EntitySource::Batches {
            schema: batch.schema(),
            batches: vec![batch],
        },
        id_column: "customer".into(),
        time_column: "at".into(),
    }
}

#[test]
fn latest_per_record_from_an_fs_local_store_with_deletes_and_resurrection() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = group("orders", FeatureType::String);
    store.create_feature_group(g.clone()).unwrap();
    let put = |id: &str, ts: &str, a: i64| {
        let r = Record::new()
            .with("id", id)
            .with("ts", ts)
            .with("a", a.to_string());
        store.put_record("orders", &r, None, None).unwrap();
    };
    put("1", "2024-01-01T00:00:00Z", 1);
    put("1", "2024-01-02T00:00:00Z", 2);
    put("1", "2024-01-01T12:00:00Z", 3); // older event time: not the latest
    put("2", "2024-01-01T00:00:00Z", 10);
    store
        .delete_record(
            "orders",
            "2",
            "2024-01-03T00:00:00Z",
            DeletionMode::SoftDelete,
            None,
        )
        .unwrap();
    put("3", "2024-01-01T00:00:00Z", 20);
    store
        .delete_record(
            "orders",
            "3",
            "2024-01-02T00:00:00Z",
            DeletionMode::HardDelete,
            None,
        )
        .unwrap();
    put("3", "2024-01-05T00:00:00Z", 21); // a put after the delete resurrects
    put("3", "2024-01-01T06:00:00Z", 22); // older than the delete: stays hidden
    store.flush().unwrap();

    let table = OfflineTable::from_store_dir(dir.path(), g.clone()).unwrap();
    assert_eq!(
        Some(table.dir().to_path_buf()),
        store.offline_data_dir("orders").unwrap()
    );
    let engine = LocalEngine::new().with_table(table);
    let spec = DatasetBuilder::from_group(g.clone()).build().unwrap();
    let out = runtime().block_on(engine.collect(&spec)).unwrap();
    assert_eq!(id_a(&out), expect(&[("1", Some(2)), ("3", Some(21))]));
    assert_eq!(names(&out), ["id", "ts", "a", "b", "s"]);

    // With deleted records: nothing hidden, markers are rows (the latest of
    // record 2 is its marker).
    let spec = DatasetBuilder::from_group(g)
        .include_deleted_records()
        .include_metadata()
        .build()
        .unwrap();
    let out = runtime().block_on(engine.collect(&spec)).unwrap();
    let got = rows(&out, &["id", "a", "is_deleted"]);
    assert_eq!(
        got,
        vec![
            vec![Cell::Str("1".into()), Cell::Int(2), Cell::Bool(false)],
            vec![Cell::Str("2".into()), Cell::Null, Cell::Bool(true)],
            vec![Cell::Str("3".into()), Cell::Int(21), Cell::Bool(false)],
        ]
    );
}

#[test]
fn ties_on_event_time_go_to_the_newest_api_invocation_time_then_write_time() {
    let g = group("g", FeatureType::String);
    let mut f = Fixture::new();
    f.add(
        &g,
        &[
            // Record 1: same event time; the newer api_invocation_time wins
            // even though it was written earlier.
            Row::put("1", t(0), 1, 200, 1000),
            Row::put("1", t(0), 2, 100, 2000),
            // Record 2: same event time and api time; the newer write wins.
            Row::put("2", t(0), 3, 100, 1000),
            Row::put("2", t(0), 4, 100, 2000),
            // Record 3: a later event time wins over newer metadata.
            Row::put("3", t(1), 5, 1, 1),
            Row::put("3", t(0), 6, 900, 9000),
        ],
    );
    let out = f.run(&DatasetBuilder::from_group(g.clone()).build().unwrap());
    assert_eq!(
        id_a(&out),
        expect(&[("1", Some(1)), ("2", Some(4)), ("3", Some(5))])
    );
}

#[test]
fn a_delete_marker_hides_rows_not_newer_than_it_even_at_the_same_event_time() {
    let g = group("g", FeatureType::String);
    let mut f = Fixture::new();
    f.add(
        &g,
        &[
            // A put at the marker's event time but invoked later survives.
            Row::put("1", t(0), 1, 100, 100),
            Row::delete("1", t(1), 200, 200),
            Row::put("1", t(1), 2, 300, 300),
            // A put tied with the marker on every key is hidden.
            Row::put("2", t(1), 3, 200, 200),
            Row::delete("2", t(1), 200, 200),
            // An older marker does not hide newer rows; n=2 shows both
            // rows newer than it.
            Row::delete("3", t(0), 1, 1),
            Row::put("3", t(1), 4, 2, 2),
            Row::put("3", t(2), 5, 3, 3),
        ],
    );
    let out = f.run(&DatasetBuilder::from_group(g.clone()).build().unwrap());
    assert_eq!(id_a(&out), expect(&[("1", Some(2)), ("3", Some(5))]));
    // Duplicates collapse before deletes apply (spec steps 2 then 3): record
    // 1's marker loses to the later put at its own event time, so it hides
    // nothing and the older put is the second most recent row.
    let spec = DatasetBuilder::from_group(g)
        .recent_records_per_id(2)
        .build()
        .unwrap();
    let out = f.run(&spec);
    assert_eq!(
        id_a(&out),
        expect(&[
            ("1", Some(1)),
            ("1", Some(2)),
            ("3", Some(4)),
            ("3", Some(5))
        ])
    );
}

#[test]
fn duplicated_records_are_kept_on_request_and_recency_limits_them() {
    let g = group("g", FeatureType::String);
    let mut f = Fixture::new();
    f.add(
        &g,
        &[
            Row::put("1", t(0), 1, 1, 1),
            Row::put("1", t(0), 2, 2, 2),
            Row::put("1", t(1), 3, 3, 3),
            Row::put("2", t(0), 4, 1, 1),
        ],
    );
    let all = DatasetBuilder::from_group(g.clone())
        .include_duplicated_records()
        .build()
        .unwrap();
    assert_eq!(
        id_a(&f.run(&all)),
        expect(&[
            ("1", Some(1)),
            ("1", Some(2)),
            ("1", Some(3)),
            ("2", Some(4))
        ])
    );
    // n most recent without duplicates: the (1, t0) pair collapses first.
    let two = DatasetBuilder::from_group(g.clone())
        .recent_records_per_id(2)
        .build()
        .unwrap();
    assert_eq!(
        id_a(&f.run(&two)),
        expect(&[("1", Some(2)), ("1", Some(3)), ("2", Some(4))])
    );
    // n most recent with duplicates.
    let three = DatasetBuilder::from_group(g)
        .include_duplicated_records()
        .recent_records_per_id(3)
        .build()
        .unwrap();
    assert_eq!(
        id_a(&f.run(&three)),
        expect(&[
            ("1", Some(1)),
            ("1", Some(2)),
            ("1", Some(3)),
            ("2", Some(4))
        ])
    );
}

#[test]
fn as_of_sees_only_rows_written_by_then() {
    let g = group("g", FeatureType::String);
    let mut f = Fixture::new();
    let w = |m: i64| t(100 + m);
    f.add(
        &g,
        &[
            Row::put("1", t(0), 1, w(0), w(0)),
            Row::put("1", t(1), 2, w(10), w(10)),
            Row::delete("2", t(5), w(10), w(10)),
            Row::put("2", t(0), 3, w(0), w(0)),
        ],
    );
    let at = |m: i64| EventTime::from_millis(w(m)).unwrap();
    let spec = DatasetBuilder::from_group(g.clone())
        .as_of(at(5))
        .build()
        .unwrap();
    assert_eq!(
        id_a(&f.run(&spec)),
        expect(&[("1", Some(1)), ("2", Some(3))])
    );
    // Inclusive: a row written exactly at as_of counts.
    let spec = DatasetBuilder::from_group(g.clone())
        .as_of(at(10))
        .build()
        .unwrap();
    assert_eq!(id_a(&f.run(&spec)), expect(&[("1", Some(2))]));
}

#[test]
fn the_event_time_range_is_inclusive_and_compares_instants_of_both_iso_forms() {
    let g = group("g", FeatureType::String);
    let mut f = Fixture::new();
    f.add(
        &g,
        &[
            Row::put("lo", ms("2024-01-01T10:00:00Z"), 1, 1, 1).with_text("2024-01-01T10:00:00Z"),
            Row::put("hi", ms("2024-01-01T12:30:00Z"), 2, 1, 1)
                .with_text("2024-01-01T12:30:00.000Z"),
            Row::put("in", ms("2024-01-01T11:00:00.500Z"), 3, 1, 1),
            Row::put("before", ms("2024-01-01T09:59:59.999Z"), 4, 1, 1),
            Row::put("after", ms("2024-01-01T12:30:00.001Z"), 5, 1, 1),
        ],
    );
    let spec = DatasetBuilder::from_group(g)
        .event_time_range(
            Some(iso("2024-01-01T10:00:00.000Z")),
            Some(iso("2024-01-01T12:30:00Z")),
        )
        .build()
        .unwrap();
    assert_eq!(
        id_a(&f.run(&spec)),
        expect(&[("hi", Some(2)), ("in", Some(3)), ("lo", Some(1))])
    );
}

#[test]
fn the_event_time_range_applies_to_fractional_event_times() {
    let g = group("g", FeatureType::Fractional);
    let mut f = Fixture::new();
    f.add(
        &g,
        &[
            Row::put("lo", ms("2024-01-01T10:00:00Z"), 1, 1, 1),
            Row::put("hi", ms("2024-01-01T10:00:00.123Z"), 2, 1, 1),
            Row::put("after", ms("2024-01-01T10:00:00.124Z"), 3, 1, 1),
            Row::put("before", ms("2024-01-01T09:59:59.999Z"), 4, 1, 1),
        ],
    );
    let spec = DatasetBuilder::from_group(g)
        .event_time_range(
            Some(iso("2024-01-01T10:00:00Z")),
            Some(iso("2024-01-01T10:00:00.123Z")),
        )
        .build()
        .unwrap();
    let out = f.run(&spec);
    assert_eq!(id_a(&out), expect(&[("hi", Some(2)), ("lo", Some(1))]));
    assert_eq!(
        rows(&out, &["ts"]),
        vec![
            vec![Cell::Float("1704103200.0".into())],
            vec![Cell::Float("1704103200.123".into())]
        ]
    );
}

#[test]
fn limit_caps_the_rows_and_projection_picks_the_columns() {
    let g = group("g", FeatureType::String);
    let mut f = Fixture::new();
    let data: Vec<Row> = (0..50)
        .map(|i| Row::put(&format!("r{i}"), t(i), i, 1, 1))
        .collect();
    f.add(&g, &data);
    let spec = DatasetBuilder::from_group(g.clone())
        .limit(7)
        .build()
        .unwrap();
    assert_eq!(crate::support::total_rows(&f.run(&spec)), 7);
    let spec = DatasetBuilder::from_group(g)
        .features(["s", "a"])
        .include_metadata()
        .build()
        .unwrap();
    let out = f.run(&spec);
    assert_eq!(
        names(&out),
        [
            "id",
            "ts",
            "s",
            "a",
            "write_time",
            "api_invocation_time",
            "is_deleted"
        ]
    );
    assert_eq!(crate::support::total_rows(&out), 50);
}

fn two_groups() -> (Fixture, FeatureGroup, FeatureGroup) {
    let orders = group("orders", FeatureType::String);
    let profile = FeatureGroup::builder("profile", "customer_id", "ts")
        .features([
            FeatureDefinition::string("customer_id"),
            FeatureDefinition::string("ts"),
            FeatureDefinition::integral("score"),
        ])
        .offline_store_s3_uri("s3://b/p")
        .build()
        .unwrap();
    let mut f = Fixture::new();
    // Profile rows are written by hand with a custom schema: reuse write_rows
    // through a group of the same shape (`id` -> `customer_id`, `a` -> `score`).
    // c3's marker at t20 hides its older rows from every entity time (spec
    // step 3 comes before the join), not only from times after t20.
    let rows = [
        Row::put("c1", t(0), 10, 1, 1),
        Row::put("c1", t(10), 11, 2, 2),
        Row::put("c1", t(30), 13, 4, 4),
        Row::put("c2", t(5), 20, 1, 1),
        Row::put("c3", t(0), 30, 1, 1),
        Row::delete("c3", t(20), 2, 2),
        Row::put("c3", t(40), 33, 3, 3),
    ];
    let dir = f.dir.path().join("profile");
    let shaped = group("profile_shape", FeatureType::String);
    for path in write_rows(&dir, &shaped, &rows) {
        let batches = crate::support::read_all(&path);
        let renamed: Vec<RecordBatch> = batches
            .iter()
            .map(|b| {
                crate::support::rename(b, &[("id", "customer_id"), ("a", "score")], &["b", "s"])
            })
            .collect();
        std::fs::remove_file(&path).unwrap();
        crate::support::write_batch(&path, &renamed[0]);
    }
    f.engine.register(OfflineTable::new(profile.clone(), dir));
    f.add(
        &orders,
        &[
            Row::put("o1", t(1), 100, 1, 1),  // c1 at t1 -> score 10
            Row::put("o2", t(15), 200, 1, 1), // c1 at t15 -> score 11
            Row::put("o3", t(25), 300, 1, 1), // c1 at t25 -> deleted: no match
            Row::put("o4", t(35), 400, 1, 1), // c1 at t35 -> 13
            Row::put("o5", t(2), 500, 1, 1),  // c2 at t2 -> nothing yet
            Row::put("o6", t(50), 600, 1, 1), // c3 -> unknown
        ],
    );
    (f, orders, profile)
}

#[test]
fn point_in_time_joins_onto_entity_rows_with_inner_left_and_max_age() {
    let (f, _, profile) = two_groups();
    let ents = entities(
        &["c1", "c1", "c1", "c2", "c2", "c3", "c3", "c3", "c9"],
        &[t(1), t(15), t(35), t(2), t(5), t(10), t(25), t(45), t(50)],
    );
    let spec = DatasetBuilder::from_entities(ents.clone())
        .join(JoinSpec::new(profile.clone()))
        .build()
        .unwrap();
    let out = f.run(&spec);
    assert_eq!(names(&out), ["customer", "at", "score"]);
    let got = rows(&out, &["customer", "score"]);
    let s = |c: &str, v: i64| vec![Cell::Str(c.into()), Cell::Int(v)];
    // c2 at exactly its feature's event time (t5) matches; c2 at t2 has no
    // row yet; c3 before and just after its delete has none; c9 is unknown.
    assert_eq!(
        got,
        vec![
            s("c1", 10),
            s("c1", 11),
            s("c1", 13),
            s("c2", 20),
            s("c3", 33)
        ]
    );

    let left = DatasetBuilder::from_entities(ents.clone())
        .join(JoinSpec::new(profile.clone()).left())
        .build()
        .unwrap();
    let got = rows(&f.run(&left), &["customer", "at", "score"]);
    assert_eq!(got.len(), 9);
    let at = |c: &str, m: i64| {
        got.iter()
            .find(|r| {
                r[0] == Cell::Str(c.into())
                    && r[1] == Cell::Str(EventTime::from_millis(t(m)).unwrap().to_iso())
            })
            .unwrap()[2]
            .clone()
    };
    assert_eq!(
        at("c3", 25),
        Cell::Null,
        "a deleted record at t is no match"
    );
    assert_eq!(
        at("c3", 10),
        Cell::Null,
        "rows older than a delete are hidden"
    );
    assert_eq!(at("c2", 2), Cell::Null);
    assert_eq!(at("c9", 50), Cell::Null);
    assert_eq!(at("c1", 15), Cell::Int(11));

    // max_age: c1 at t15 sees the t10 row (5 minutes old) only with >= 5 minutes.
    let aged = |mins: u64| {
        DatasetBuilder::from_entities(entities(&["c1"], &[t(15)]))
            .join(JoinSpec::new(profile.clone()).max_age(Duration::from_secs(mins * 60)))
            .build()
            .unwrap()
    };
    assert_eq!(
        rows(&f.run(&aged(5)), &["score"]),
        vec![vec![Cell::Int(11)]]
    );
    assert!(rows(&f.run(&aged(4)), &["score"]).is_empty());
}

#[test]
fn point_in_time_joins_onto_a_base_group_on_another_column_with_deleted_records() {
    let (mut f, _, profile) = two_groups();
    // Visits name a customer tier in `s` ("s1", "s2"): join on that column.
    let visits = group("visits", FeatureType::String);
    f.add(
        &visits,
        &[
            Row::put("v1", t(1), 1, 1, 1),
            Row::put("v2", t(25), 2, 1, 1),
            Row::put("v3", t(0), 3, 1, 1),
        ],
    );
    let tiers = group("tiers", FeatureType::String);
    f.add(
        &tiers,
        &[
            Row::put("s1", t(0), 10, 1, 1),
            Row::put("s2", t(20), 20, 1, 1),
        ],
    );
    let spec = DatasetBuilder::from_group(visits)
        .features(["s"])
        .join(
            JoinSpec::new(tiers)
                .on("s")
                .features(["a"])
                .left()
                .prefix("tier_"),
        )
        .build()
        .unwrap();
    let out = f.run(&spec);
    assert_eq!(names(&out), ["id", "ts", "s", "tier_a"]);
    let v = |id: &str, x: Cell| vec![Cell::Str(id.into()), x];
    assert_eq!(
        rows(&out, &["id", "tier_a"]),
        vec![
            v("v1", Cell::Int(10)),
            v("v2", Cell::Int(20)),
            v("v3", Cell::Null)
        ]
    );

    // With deleted records included nothing is hidden: c3 at t10 sees its
    // t0 row, but at t25 its match is the marker, which is no match.
    let visits2 = group("visits2", FeatureType::String);
    f.add(
        &visits2,
        &[
            Row::put("c3", t(25), 0, 1, 1),
            Row::put("c3", t(10), 1, 1, 1),
            Row::put("c2", t(6), 0, 1, 1),
        ],
    );
    let spec = DatasetBuilder::from_group(visits2)
        .include_deleted_records()
        .recent_records_per_id(2)
        .join(JoinSpec::new(profile).features(["score"]).left())
        .build()
        .unwrap();
    let got = rows(&f.run(&spec), &["id", "a", "score"]);
    let w = |id: &str, a: i64, x: Cell| vec![Cell::Str(id.into()), Cell::Int(a), x];
    assert_eq!(
        got,
        vec![
            w("c2", 0, Cell::Int(20)),
            w("c3", 0, Cell::Null),
            w("c3", 1, Cell::Int(30))
        ]
    );
}

#[test]
fn several_joins_chain_and_each_keeps_its_own_match() {
    let (mut f, orders, profile) = two_groups();
    let tier = group("tier", FeatureType::Fractional);
    f.add(
        &tier,
        &[
            Row::put("c1", t(0), 7, 1, 1),
            Row::put("c2", t(0), 8, 1, 1),
            Row::put("c3", t(0), 9, 1, 1),
        ],
    );
    let ents = entities(&["c1", "c2", "c3", "c4"], &[t(15), t(6), t(25), t(25)]);
    let spec = DatasetBuilder::from_entities(ents)
        .join(JoinSpec::new(profile).left())
        .join(JoinSpec::new(tier).features(["a"]).prefix("tier_"))
        .build()
        .unwrap();
    let out = f.run(&spec);
    assert_eq!(names(&out), ["customer", "at", "score", "tier_a"]);
    let got = rows(&out, &["customer", "score", "tier_a"]);
    assert_eq!(
        got,
        vec![
            vec![Cell::Str("c1".into()), Cell::Int(11), Cell::Int(7)],
            vec![Cell::Str("c2".into()), Cell::Int(20), Cell::Int(8)],
            vec![Cell::Str("c3".into()), Cell::Null, Cell::Int(9)],
        ]
    );
    let _ = orders;
}

#[test]
fn entity_tables_can_be_csv_or_parquet_files_with_fractional_times() {
    let (f, _, profile) = two_groups();
    let csv = f.dir.path().join("entities.csv");
    std::fs::write(
        &csv,
        format!(
            "customer,at,label\nc1,{},x\nc2,{},y\n",
            t(15) as f64 / 1000.0,
            t(1) as f64 / 1000.0
        ),
    )
    .unwrap();
    let make = |path: std::path::PathBuf| {
        DatasetBuilder::from_entities(Entities {
            source: EntitySource::File(path),
            id_column: "customer".into(),
            time_column: "at".into(),
        })
        .join(JoinSpec::new(profile.clone()).left())
        .build()
        .unwrap()
    };
    let out = f.run(&make(csv));
    assert_eq!(names(&out), ["customer", "at", "label", "score"]);
    assert_eq!(
        rows(&out, &["customer", "label", "score"]),
        vec![
            vec![Cell::Str("c1".into()), Cell::Str("x".into()), Cell::Int(11)],
            vec![Cell::Str("c2".into()), Cell::Str("y".into()), Cell::Null],
        ]
    );
    let pq = f.dir.path().join("entities.parquet");
    let batch = RecordBatch::try_from_iter([
        (
            "customer",
            Arc::new(StringArray::from(vec!["c1"])) as ArrayRef,
        ),
        (
            "at",
            Arc::new(Float64Array::from(vec![t(35) as f64 / 1000.0])) as ArrayRef,
        ),
    ])
    .unwrap();
    crate::support::write_batch(&pq, &batch);
    assert_eq!(
        rows(&f.run(&make(pq)), &["score"]),
        vec![vec![Cell::Int(13)]]
    );
}

#[test]
fn features_added_later_read_as_nulls_from_older_files() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = group("evolving", FeatureType::String);
    store.create_feature_group(g.clone()).unwrap();
    let r = Record::new().with("id", "1").with("ts", T0).with("a", "1");
    store.put_record("evolving", &r, None, None).unwrap();
    store.flush().unwrap();
    let desc = store
        .add_features("evolving", &[FeatureDefinition::string("late")])
        .unwrap();
    let r = Record::new()
        .with("id", "2")
        .with("ts", T0)
        .with("late", "here");
    store.put_record("evolving", &r, None, None).unwrap();
    store.flush().unwrap();
    let table = OfflineTable::from_store_dir(dir.path(), desc.spec.clone()).unwrap();
    let engine = LocalEngine::new().with_table(table);
    let spec = DatasetBuilder::from_group(desc.spec.clone())
        .build()
        .unwrap();
    let out = runtime().block_on(engine.collect(&spec)).unwrap();
    assert_eq!(
        rows(&out, &["id", "late"]),
        vec![
            vec![Cell::Str("1".into()), Cell::Null],
            vec![Cell::Str("2".into()), Cell::Str("here".into())]
        ]
    );
}

#[test]
fn quotes_semicolons_and_comments_in_names_are_data_not_sql() {
    let evil_feature = "x\"; DROP TABLE t; --";
    let mut g = group("g", FeatureType::String);
    g.feature_definitions
        .push(FeatureDefinition::string(evil_feature));
    let mut f = Fixture::new();
    let dir = f.dir.path().join("g");
    write_rows(
        &dir,
        &group("g", FeatureType::String),
        &[Row::put("1", t(0), 1, 1, 1)],
    );
    // Add the evil column to the file.
    let path = crate::support::parquet_files(&dir).remove(0);
    let batch = crate::support::read_all(&path).remove(0);
    let col: ArrayRef = Arc::new(StringArray::from(vec!["it's /* fine */"]));
    let batch = crate::support::with_column(&batch, evil_feature, col);
    crate::support::write_batch(&path, &batch);
    f.engine.register(OfflineTable::new(g.clone(), dir));
    let ent_col = "who's \"there\"";
    let batch = RecordBatch::try_from_iter([
        (ent_col, Arc::new(StringArray::from(vec!["1"])) as ArrayRef),
        (
            "at",
            Arc::new(StringArray::from(vec!["2030-01-01T00:00:00Z"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let spec = DatasetBuilder::from_entities(Entities {
        source: EntitySource::Batches {
            schema: batch.schema(),
            batches: vec![batch],
        },
        id_column: ent_col.into(),
        time_column: "at".into(),
    })
    .join(JoinSpec::new(g).features([evil_feature]).prefix("p'; --"))
    .build()
    .unwrap();
    let out = f.run(&spec);
    let want = format!("p'; --{evil_feature}");
    assert_eq!(names(&out), [ent_col, "at", want.as_str()]);
    assert_eq!(
        rows(&out, &[want.as_str()]),
        vec![vec![Cell::Str("it's /* fine */".into())]]
    );
}

/// A table listed by `list_together` keeps its listing when listed again:
/// a dataset whose parts list on their own (the native join builds its
/// base group's rows as a dataset of their own) reads every group as of
/// one moment. Before, the second listing walked the directory again and
/// saw a flush the joined group's listing had not: the base group's rows
/// without their matches (seen once in about five runs of the flush race
/// below).
#[test]
fn a_listed_table_keeps_its_listing_when_listed_again() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = group("g", FeatureType::String);
    store.create_feature_group(g.clone()).unwrap();
    let put_and_flush = |round: i64| {
        let record = Record::new()
            .with("id", format!("r{round}"))
            .with(
                "ts",
                EventTime::from_millis(t(round * 60)).unwrap().to_iso(),
            )
            .with("a", round.to_string());
        store.put_records("g", &[record], None, None).unwrap();
        store.flush().unwrap();
    };
    put_and_flush(0);
    let table = OfflineTable::from_store_dir(dir.path(), g.clone()).unwrap();
    let listed = OfflineTable::list_together(&[&table]).unwrap();
    put_and_flush(1);
    let again = OfflineTable::list_together(&[&listed[0]]).unwrap();
    assert_eq!(listed[0].files(None, None).unwrap().len(), 1);
    assert_eq!(
        again[0].files(None, None).unwrap(),
        listed[0].files(None, None).unwrap(),
        "listing a listed table again saw a later flush"
    );
    let fresh = OfflineTable::list_together(&[&table]).unwrap();
    assert_eq!(fresh[0].files(None, None).unwrap().len(), 2);
}

/// Flushes in [`datasets_built_during_flushes_see_each_flush_whole_in_every_group`].
const ROUNDS: i64 = 12;
/// Records per flush and group: one per hour, so one file per group and hour.
const PER_ROUND: i64 = 96;

/// Flushes write one file per group and hour, renamed into place one by
/// one; a dataset built meanwhile must see each flush whole, in every group
/// it reads, or not at all (the publish lock). Each flush here adds one
/// round of 96 records, one per hour, to both groups; the dataset joins one
/// group onto the other, so a torn read shows as a round seen in part or a
/// row without its match. A dataset takes a while to build, so a second
/// reader lists both groups together in a tight loop: a flush's renames
/// take about a millisecond, and without the lock it sees them in part.
#[test]
fn datasets_built_during_flushes_see_each_flush_whole_in_every_group() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let left = group("left", FeatureType::String);
    let right = group("right", FeatureType::String);
    store.create_feature_group(left.clone()).unwrap();
    store.create_feature_group(right.clone()).unwrap();
    let spec = DatasetBuilder::from_group(left.clone())
        .features(["a"])
        .join(
            JoinSpec::new(right.clone())
                .features(["a"])
                .left()
                .prefix("r_"),
        )
        .build()
        .unwrap();
    let race = FlushRace {
        dir: dir.path(),
        left: &left,
        right: &right,
        spec: &spec,
        done: std::sync::atomic::AtomicBool::new(false),
    };
    let builds = std::thread::scope(|s| {
        s.spawn(|| race.flush_rounds(&store));
        let lister = s.spawn(|| race.list_until_done());
        let reader = s.spawn(|| race.build_until_done());
        (reader.join().unwrap(), lister.join().unwrap())
    });
    let (builds, listings) = builds;
    assert!(builds > 0, "no dataset was built during the flushes");
    assert!(listings > 0, "no listing was made during the flushes");
    let l = OfflineTable::from_store_dir(dir.path(), left).unwrap();
    let r = OfflineTable::from_store_dir(dir.path(), right).unwrap();
    let out = runtime()
        .block_on(
            LocalEngine::new()
                .with_table(l)
                .with_table(r)
                .collect(&spec),
        )
        .unwrap();
    assert_eq!(
        out.iter().map(|b| b.num_rows()).sum::<usize>() as i64,
        ROUNDS * PER_ROUND
    );
}

/// The flushes and the readers racing them: the store's directory, the two
/// groups, the dataset joining them, and whether the flushes are done.
struct FlushRace<'a> {
    dir: &'a std::path::Path,
    left: &'a FeatureGroup,
    right: &'a FeatureGroup,
    spec: &'a DatasetSpec,
    done: std::sync::atomic::AtomicBool,
}

impl FlushRace<'_> {
    /// Puts and flushes [`ROUNDS`] rounds of [`PER_ROUND`] records into
    /// both groups, then tells the readers to stop.
    fn flush_rounds(&self, store: &Store) {
        for round in 0..ROUNDS {
            let records: Vec<Record> = (0..PER_ROUND)
                .map(|i| {
                    Record::new()
                        .with("id", format!("{round}-{i}"))
                        .with("ts", EventTime::from_millis(t(i * 60)).unwrap().to_iso())
                        .with("a", round.to_string())
                })
                .collect();
            for g in ["left", "right"] {
                store.put_records(g, &records, None, None).unwrap();
            }
            store.flush().unwrap();
        }
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Lists both groups together until the flushes are done, checking
    /// that each listing holds whole flushes; returns how many it made.
    fn list_until_done(&self) -> usize {
        let mut listings = 0;
        while !self.done.load(std::sync::atomic::Ordering::SeqCst) {
            let (Ok(l), Ok(r)) = (
                OfflineTable::from_store_dir(self.dir, self.left.clone()),
                OfflineTable::from_store_dir(self.dir, self.right.clone()),
            ) else {
                continue;
            };
            let listed = OfflineTable::list_together(&[&l, &r]).unwrap();
            let (l, r) = (
                listed[0].files(None, None).unwrap().len(),
                listed[1].files(None, None).unwrap().len(),
            );
            assert!(
                l == r && l as i64 % PER_ROUND == 0,
                "listing {listings} saw part of a flush: {l} files of one group, {r} of the other"
            );
            listings += 1;
        }
        listings
    }

    /// Builds the dataset until the flushes are done, checking that each
    /// build sees every round it holds whole in both groups; returns how
    /// many it built.
    fn build_until_done(&self) -> usize {
        let rt = runtime();
        let mut builds = 0;
        while !self.done.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok(l) = OfflineTable::from_store_dir(self.dir, self.left.clone()) else {
                continue;
            };
            let r = OfflineTable::from_store_dir(self.dir, self.right.clone()).unwrap();
            let engine = LocalEngine::new().with_table(l).with_table(r);
            let out = rt.block_on(engine.collect(self.spec)).unwrap();
            let got = rows(&out, &["a", "r_a"]);
            let rounds = got.len() as i64 / PER_ROUND;
            assert_eq!(
                got.len() as i64,
                rounds * PER_ROUND,
                "build {builds} saw part of a flush"
            );
            for round in 0..rounds {
                let seen = got
                    .iter()
                    .filter(|r| r[0] == Cell::Int(round) && r[1] == Cell::Int(round))
                    .count();
                assert_eq!(
                    seen as i64, PER_ROUND,
                    "build {builds}: round {round} is not whole in both groups"
                );
            }
            builds += 1;
        }
        builds
    }
}
