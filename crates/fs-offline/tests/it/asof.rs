//! The native point-in-time join against the SQL plan and the plain-Rust
//! reference, on every shape of DESIGN.md's "Data shapes": few records with
//! long histories, many records with one to three versions, one record
//! holding half of both sides, ties on event time, deletes before, at and
//! after the entity time, `max_age` exactly at its bound, entity times
//! before any feature row, null features, and several groups joined on
//! different key columns.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use fs_offline::EngineOptions;
use fs_offline::local::LocalEngine;
use fs_offline::spec::{Entities, EntitySource};
use fs_offline::table::OfflineTable;
use fs_offline::{DatasetBuilder, DatasetSpec, JoinSpec};
use fs_schema::{EventTime, FeatureType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

use crate::reference::{RefSpec, point_in_time, prepared};
use crate::support::{Cell, Row, group, rows, runtime, write_rows};

const T0: i64 = 1_714_521_600_000; // 2024-05-01T00:00:00Z

/// The shape of a random feature group.
#[derive(Debug, Clone, Copy)]
struct Shape {
    ids: usize,
    rows: usize,
    /// Share of rows (and entity rows) on record `r0`.
    skew: f64,
    /// Distinct event times (fewer: more ties).
    times: i64,
}

/// Random rows of `shape`: ties on event time, api and write time, 10%
/// delete markers, 10% null features; never two rows tied on every key
/// (that would make "the newest" ambiguous).
fn feature_rows(rng: &mut StdRng, shape: Shape) -> Vec<Row> {
    let mut seen = std::collections::HashSet::new();
    (0..shape.rows)
        .filter_map(|i| {
            let id = pick_id(rng, shape);
            let et = T0 + rng.random_range(0..shape.times) * 60_000;
            let api = et + rng.random_range(0..3);
            let wt = api + rng.random_range(0..3);
            let deleted = rng.random_bool(0.1);
            if !seen.insert((id.clone(), et, api, wt, deleted)) {
                return None;
            }
            Some(if deleted {
                Row::delete(&id, et, api, wt)
            } else {
                let mut r = Row::put(&id, et, i as i64, api, wt);
                if rng.random_bool(0.1) {
                    r.a = None;
                }
                r
            })
        })
        .collect()
}

fn pick_id(rng: &mut StdRng, shape: Shape) -> String {
    if rng.random_bool(shape.skew) {
        "r0".into()
    } else {
        // Two more identifiers than the group has: entity rows without records.
        format!("r{}", rng.random_range(0..shape.ids + 2))
    }
}

/// `n` entity rows (`who`, `store`, `when`), some before every feature row.
fn entity_rows(rng: &mut StdRng, shape: Shape, n: usize) -> Vec<(String, String, i64)> {
    (0..n)
        .map(|_| {
            let who = pick_id(rng, shape);
            let store = format!("r{}", rng.random_range(0..4));
            let when = T0 + rng.random_range(-5..shape.times + 5) * 60_000 + rng.random_range(0..2);
            (who, store, when)
        })
        .collect()
}

fn entity_batch(ents: &[(String, String, i64)]) -> RecordBatch {
    let col = |f: &dyn Fn(&(String, String, i64)) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(ents.iter().map(f)))
    };
    RecordBatch::try_from_iter([
        ("who", col(&|e| e.0.clone())),
        ("store", col(&|e| e.1.clone())),
        (
            "when",
            col(&|e| EventTime::from_millis(e.2).unwrap().to_iso()),
        ),
    ])
    .unwrap()
}

/// The engine with `native_join` on or off over the groups in `dir`.
fn engine(tables: &[OfflineTable], native: bool) -> LocalEngine {
    let mut e = LocalEngine::with_options(EngineOptions {
        native_join: native,
        ..EngineOptions::default()
    });
    for t in tables {
        e.register(t.clone());
    }
    e
}

fn run(engine: &LocalEngine, spec: &DatasetSpec) -> Vec<RecordBatch> {
    runtime().block_on(engine.collect(spec)).unwrap()
}

fn entities_spec(batch: &RecordBatch) -> DatasetBuilder {
    DatasetBuilder::from_entities(Entities {
        source: EntitySource::Batches {
            schema: batch.schema(),
            batches: vec![batch.clone()],
        },
        id_column: "who".into(),
        time_column: "when".into(),
    })
}

/// What the reference says one join gives each entity row.
fn expected(
    feats: &[Row],
    s: &RefSpec,
    ents: &[(String, String, i64)],
    key: impl Fn(&(String, String, i64)) -> &str,
    max_age: Option<i64>,
    left: bool,
) -> Vec<Vec<Cell>> {
    let prepared = prepared(feats, s, false);
    let mut want = Vec::new();
    for e in ents {
        let m = point_in_time(&prepared, key(e), e.2, max_age);
        if m.is_none() && !left {
            continue;
        }
        want.push(vec![
            Cell::Str(e.0.clone()),
            Cell::Str(e.1.clone()),
            Cell::Str(EventTime::from_millis(e.2).unwrap().to_iso()),
            m.and_then(|m| m.a).map_or(Cell::Null, Cell::Int),
        ]);
    }
    want.sort();
    want
}

fn random_ref_spec(rng: &mut StdRng, times: i64) -> RefSpec {
    RefSpec {
        as_of: rng
            .random_bool(0.3)
            .then(|| T0 + rng.random_range(0..times) * 60_000),
        include_duplicated: rng.random_bool(0.3),
        include_deleted: rng.random_bool(0.3),
        ..RefSpec::default()
    }
}

fn with_flags(mut b: DatasetBuilder, s: &RefSpec) -> DatasetBuilder {
    if let Some(a) = s.as_of {
        b = b.as_of(EventTime::from_millis(a).unwrap());
    }
    if s.include_duplicated {
        b = b.include_duplicated_records();
    }
    if s.include_deleted {
        b = b.include_deleted_records();
    }
    b
}

/// Random specs over one shape: the native join equals the reference, and
/// (when `sql`) the SQL plan too.
fn check_shape(seed: u64, shape: Shape, entities: usize, cases: usize, sql: bool) {
    let mut rng = StdRng::seed_from_u64(seed);
    let feats_group = group("feats", FeatureType::String);
    let feats = feature_rows(&mut rng, shape);
    let dir = TempDir::new().unwrap();
    write_rows(dir.path(), &feats_group, &feats);
    let tables = [OfflineTable::new(feats_group.clone(), dir.path())];
    let (native, plan) = (engine(&tables, true), engine(&tables, false));
    for case in 0..cases {
        let s = random_ref_spec(&mut rng, shape.times);
        let ents = entity_rows(&mut rng, shape, entities);
        let batch = entity_batch(&ents);
        // max_age: none, random, or exactly the distance to a feature row.
        let max_age = match rng.random_range(0..3) {
            0 => None,
            1 => Some(rng.random_range(0..20) * 60_000),
            _ => Some(ents[0].2 - feats[0].et),
        }
        .filter(|a| *a >= 0);
        let left = rng.random_bool(0.5);
        let mut join = JoinSpec::new(feats_group.clone())
            .features(["a"])
            .prefix("j_");
        if let Some(a) = max_age {
            join = join.max_age(Duration::from_millis(a as u64));
        }
        if left {
            join = join.left();
        }
        let spec = with_flags(entities_spec(&batch), &s)
            .join(join)
            .build()
            .unwrap();
        let columns = ["who", "store", "when", "j_a"];
        let got = rows(&run(&native, &spec), &columns);
        let want = expected(&feats, &s, &ents, |e| &e.0, max_age, left);
        assert_eq!(
            got, want,
            "seed {seed} case {case} {shape:?}: {s:?} max_age {max_age:?} left {left}"
        );
        if sql {
            assert_eq!(got, rows(&run(&plan, &spec), &columns), "against SQL");
        }
    }
}

#[test]
fn many_records_with_one_to_three_versions() {
    let shape = Shape {
        ids: 400,
        rows: 800,
        skew: 0.0,
        times: 40,
    };
    check_shape(21, shape, 300, 6, true);
}

#[test]
fn few_records_with_long_histories_equal_the_sql_plan() {
    let shape = Shape {
        ids: 3,
        rows: 1_500,
        skew: 0.0,
        times: 600,
    };
    check_shape(22, shape, 200, 4, true);
}

#[test]
fn few_records_with_ten_thousand_versions_each() {
    for ids in [1, 5] {
        let shape = Shape {
            ids,
            rows: ids * 10_000,
            skew: 0.0,
            times: 12_000,
        };
        check_shape(23 + ids as u64, shape, 1_000, 2, false);
    }
}

#[test]
fn one_record_holding_half_of_both_sides() {
    let shape = Shape {
        ids: 50,
        rows: 2_000,
        skew: 0.5,
        times: 200,
    };
    check_shape(24, shape, 400, 4, true);
}

#[test]
fn ties_on_event_time_and_deletes_everywhere() {
    let shape = Shape {
        ids: 6,
        rows: 600,
        skew: 0.0,
        times: 8,
    };
    check_shape(25, shape, 200, 8, true);
}

/// Deletes before, at and after the entity time, and `max_age` exactly at
/// its bound, one by one.
#[test]
fn deletes_and_max_age_edges() {
    let g = group("feats", FeatureType::String);
    let m = |min: i64| T0 + min * 60_000;
    let feats = vec![
        Row::put("a", m(0), 1, m(0), m(0)),
        Row::put("b", m(0), 2, m(0), m(0)),
        Row::delete("b", m(10), m(10), m(10)),
        Row::put("c", m(0), 3, m(0), m(0)),
        Row::delete("c", m(20), m(20), m(20)),
        Row::put("c", m(30), 4, m(30), m(30)),
    ];
    let dir = TempDir::new().unwrap();
    write_rows(dir.path(), &g, &feats);
    let tables = [OfflineTable::new(g.clone(), dir.path())];
    let ents = vec![
        ("a".to_string(), "-".to_string(), m(10)), // exactly max_age after: match
        ("a".to_string(), "-".to_string(), m(10) + 1), // 1 ms past the bound: none
        ("a".to_string(), "-".to_string(), m(0) - 1), // before every row: none
        ("b".to_string(), "-".to_string(), m(5)),  // deleted later: history hidden
        ("b".to_string(), "-".to_string(), m(10)), // at the delete: none
        ("c".to_string(), "-".to_string(), m(25)), // after a delete, before a put
        ("c".to_string(), "-".to_string(), m(30)), // at the put after the delete
    ];
    let batch = entity_batch(&ents);
    let join = JoinSpec::new(g.clone())
        .features(["a"])
        .prefix("j_")
        .max_age(Duration::from_secs(600))
        .left();
    let spec = entities_spec(&batch).join(join).build().unwrap();
    let columns = ["who", "when", "j_a"];
    let native = rows(&run(&engine(&tables, true), &spec), &columns);
    let plan = rows(&run(&engine(&tables, false), &spec), &columns);
    assert_eq!(native, plan);
    let a: Vec<Cell> = native.iter().map(|r| r[2].clone()).collect();
    let want: Vec<Cell> = {
        let mut v: Vec<(String, i64, Cell)> = vec![
            ("a".into(), m(10), Cell::Int(1)),
            ("a".into(), m(10) + 1, Cell::Null),
            ("a".into(), m(0) - 1, Cell::Null),
            ("b".into(), m(5), Cell::Null),
            ("b".into(), m(10), Cell::Null),
            ("c".into(), m(25), Cell::Null),
            ("c".into(), m(30), Cell::Int(4)),
        ];
        v.sort_by_key(|(id, t, _)| (id.clone(), EventTime::from_millis(*t).unwrap().to_iso()));
        v.into_iter().map(|(_, _, c)| c).collect()
    };
    assert_eq!(a, want);
}

/// Two groups joined onto one entity table, on different columns, one
/// inner and one left, with prefixes and chosen features; and the entity
/// rows come out in their input order.
#[test]
fn several_groups_on_different_key_columns_keep_the_entity_order() {
    let mut rng = StdRng::seed_from_u64(31);
    let shape = Shape {
        ids: 8,
        rows: 400,
        skew: 0.2,
        times: 50,
    };
    let g1 = group("people", FeatureType::String);
    let g2 = group("stores", FeatureType::Fractional);
    let (f1, f2) = (feature_rows(&mut rng, shape), feature_rows(&mut rng, shape));
    let dir = TempDir::new().unwrap();
    write_rows(&dir.path().join("p"), &g1, &f1);
    write_rows(&dir.path().join("s"), &g2, &f2);
    let tables = [
        OfflineTable::new(g1.clone(), dir.path().join("p")),
        OfflineTable::new(g2.clone(), dir.path().join("s")),
    ];
    let ents = entity_rows(&mut rng, shape, 300);
    let batch = entity_batch(&ents);
    let spec = entities_spec(&batch)
        .join(
            JoinSpec::new(g1.clone())
                .features(["a", "s"])
                .prefix("p_")
                .left(),
        )
        .join(
            JoinSpec::new(g2.clone())
                .on("store")
                .features(["a", "b"])
                .prefix("s_")
                .max_age(Duration::from_secs(1800)),
        )
        .build()
        .unwrap();
    let columns = ["who", "store", "when", "p_a", "p_s", "s_a", "s_b"];
    let native = run(&engine(&tables, true), &spec);
    assert_eq!(
        rows(&native, &columns),
        rows(&run(&engine(&tables, false), &spec), &columns)
    );
    // Input order: the entity rows that survive the inner join, in order.
    let s = RefSpec::default();
    let p2 = prepared(&f2, &s, false);
    let kept: Vec<String> = ents
        .iter()
        .filter(|e| point_in_time(&p2, &e.1, e.2, Some(1_800_000)).is_some())
        .map(|e| {
            format!(
                "{}|{}|{}",
                e.0,
                e.1,
                EventTime::from_millis(e.2).unwrap().to_iso()
            )
        })
        .collect();
    let got: Vec<String> = native
        .iter()
        .flat_map(|b| {
            let col = |n: &str| b.column_by_name(n).unwrap().clone();
            let (w, st, t) = (col("who"), col("store"), col("when"));
            let s = |a: &ArrayRef, i: usize| {
                a.as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .value(i)
                    .to_string()
            };
            (0..b.num_rows())
                .map(|i| format!("{}|{}|{}", s(&w, i), s(&st, i), s(&t, i)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!kept.is_empty());
    assert_eq!(got, kept);
}

/// A base group's rows (the latest per record, and every row) joined
/// natively equal the SQL plan.
#[test]
fn base_group_joins_equal_the_sql_plan() {
    let mut rng = StdRng::seed_from_u64(41);
    let shape = Shape {
        ids: 30,
        rows: 600,
        skew: 0.3,
        times: 60,
    };
    let base = group("base", FeatureType::String);
    let feats = group("feats", FeatureType::Fractional);
    let dir = TempDir::new().unwrap();
    write_rows(&dir.path().join("b"), &base, &feature_rows(&mut rng, shape));
    write_rows(
        &dir.path().join("f"),
        &feats,
        &feature_rows(&mut rng, shape),
    );
    let tables = [
        OfflineTable::new(base.clone(), dir.path().join("b")),
        OfflineTable::new(feats.clone(), dir.path().join("f")),
    ];
    for dup in [false, true] {
        let mut b = DatasetBuilder::from_group(base.clone())
            .features(["a"])
            .include_metadata();
        if dup {
            b = b.include_duplicated_records();
        }
        let spec = b
            .join(
                JoinSpec::new(feats.clone())
                    .features(["b", "s"])
                    .prefix("f_")
                    .left(),
            )
            .build()
            .unwrap();
        let columns = ["id", "ts", "a", "write_time", "f_b", "f_s"];
        let native = run(&engine(&tables, true), &spec);
        assert_eq!(
            rows(&native, &columns),
            rows(&run(&engine(&tables, false), &spec), &columns),
            "include_duplicated_records {dup}"
        );
        let names: Vec<String> = native[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "id",
                "ts",
                "a",
                "write_time",
                "api_invocation_time",
                "is_deleted",
                "f_b",
                "f_s"
            ]
        );
    }
}

/// An entity time that is not a time: an error naming the row and column.
#[test]
fn a_bad_entity_time_names_its_row_and_column() {
    let g = group("feats", FeatureType::String);
    let dir = TempDir::new().unwrap();
    write_rows(dir.path(), &g, &[Row::put("a", T0, 1, T0, T0)]);
    let tables = [OfflineTable::new(g.clone(), dir.path())];
    let batch = RecordBatch::try_from_iter([
        (
            "who",
            Arc::new(StringArray::from(vec!["a", "a"])) as ArrayRef,
        ),
        (
            "when",
            Arc::new(StringArray::from(vec!["2024-05-01T00:00:00Z", "yesterday"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let spec = entities_spec(&batch)
        .join(JoinSpec::new(g))
        .build()
        .unwrap();
    let err = runtime()
        .block_on(engine(&tables, true).collect(&spec))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("entity row 2") && err.contains("`when`") && err.contains("yesterday"),
        "{err}"
    );
}

/// An entity file large enough for DataFusion to split its scan still comes
/// out in its input order (CSV, 400,000 rows, about 12 MB).
#[test]
fn an_entity_file_keeps_its_row_order() {
    let g = group("feats", FeatureType::String);
    let dir = TempDir::new().unwrap();
    let feats: Vec<Row> = (0..50)
        .map(|i| Row::put(&format!("r{i}"), T0, i, T0, T0))
        .collect();
    write_rows(&dir.path().join("g"), &g, &feats);
    let tables = [OfflineTable::new(g.clone(), dir.path().join("g"))];
    let csv = dir.path().join("entities.csv");
    let mut text = String::from("who,when,seq\n");
    let n = 400_000;
    for i in 0..n {
        let t = EventTime::from_millis(T0 + 1000 + (i * 7919 % 100_000) as i64).unwrap();
        text.push_str(&format!("r{},{},{i:08}\n", i % 53, t.to_iso()));
    }
    std::fs::write(&csv, text).unwrap();
    let spec = DatasetBuilder::from_entities(Entities {
        source: EntitySource::File(csv),
        id_column: "who".into(),
        time_column: "when".into(),
    })
    .join(JoinSpec::new(g).features(["a"]).left())
    .build()
    .unwrap();
    let out = run(&engine(&tables, true), &spec);
    let seq: Vec<i64> = out
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name("seq").unwrap();
            let c = c
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .unwrap();
            c.values().to_vec()
        })
        .collect();
    assert_eq!(seq.len(), n);
    assert!(
        seq.windows(2).all(|w| w[0] < w[1]),
        "entity rows out of order"
    );
}

/// Wide rows in many small files, as an embedded store writes them when it
/// is flushed often: 300 Fractional features (every seventh value missing),
/// 500 records of 25 identifiers put 20 at a time, a flush after each put,
/// over 24 hours of event times (so each flush writes a file per hour it
/// touches). The native join equals the SQL plan in every feature of every
/// entity row, and keeps each match's features in their places.
#[test]
fn wide_rows_in_many_small_files_equal_the_sql_plan() {
    const FEATURES: usize = 300;
    let dir = TempDir::new().unwrap();
    let store = fs_local::Store::open(dir.path()).unwrap();
    let mut builder = fs_schema::FeatureGroup::builder("wide", "id", "ts")
        .feature(fs_schema::FeatureDefinition::string("id"))
        .feature(fs_schema::FeatureDefinition::string("ts"));
    for f in 0..FEATURES {
        builder = builder.feature(fs_schema::FeatureDefinition::fractional(format!("f{f}")));
    }
    let wide = builder
        .offline_store_s3_uri("s3://bucket/p")
        .build()
        .unwrap();
    store.create_feature_group(wide.clone()).unwrap();
    let mut rng = StdRng::seed_from_u64(17);
    let iso = |ms: i64| EventTime::from_millis(ms).unwrap().to_iso();
    // Each (identifier, event time) once: two rows of one put tied on it
    // would tie on every key, and "the newest" would be ambiguous.
    let mut seen = std::collections::HashSet::new();
    for put in 0..25 {
        let records: Vec<fs_schema::Record> = (0..20)
            .map(|i| {
                let n = put * 20 + i;
                let (id, et) = loop {
                    let key = (rng.random_range(0..25), rng.random_range(0..24 * 60));
                    if seen.insert(key) {
                        break key;
                    }
                };
                let mut r = fs_schema::Record::new()
                    .with("id", format!("r{id}"))
                    .with("ts", iso(T0 + et * 60_000));
                for f in (0..FEATURES).filter(|f| !(n + f).is_multiple_of(7)) {
                    r = r.with(format!("f{f}"), format!("{}.5", n * 1000 + f));
                }
                r
            })
            .collect();
        store.put_records("wide", &records, None, None).unwrap();
        store.flush().unwrap();
    }
    let table = OfflineTable::from_store_dir(dir.path(), wide.clone()).unwrap();
    let files = table.files(None, None).unwrap().len();
    assert!(files > 200, "many small files: {files}");

    // Entity rows over the same day and two identifiers without records.
    let ents: Vec<(String, String, i64)> = (0..1_000)
        .map(|i| {
            (
                format!("r{}", rng.random_range(0..27)),
                format!("s{i}"),
                T0 + rng.random_range(0..26 * 60) * 60_000,
            )
        })
        .collect();
    let spec = entities_spec(&entity_batch(&ents))
        .join(JoinSpec::new(wide).left().prefix("w_"))
        .build()
        .unwrap();
    let tables = [table];
    let got = run(&engine(&tables, true), &spec);
    let want = run(&engine(&tables, false), &spec);
    let features: Vec<String> = (0..FEATURES).map(|f| format!("w_f{f}")).collect();
    let mut columns = vec!["who", "store", "when"];
    columns.extend(features.iter().map(String::as_str));
    let got = rows(&got, &columns);
    assert_eq!(got.len(), ents.len(), "a left join keeps every entity row");
    assert_eq!(got, rows(&want, &columns), "against SQL");
    // Each match is one whole record: its features are `n * 1000 + f`
    // (`.5`) for one `n`, or missing where `(n + f) % 7 == 0`.
    let mut matched = 0;
    for row in &got {
        let values: Vec<Option<f64>> = row[3..]
            .iter()
            .map(|c| match c {
                Cell::Float(v) => Some(v.parse().unwrap()),
                Cell::Null => None,
                other => panic!("{other:?}"),
            })
            .collect();
        let Some((f, v)) = values
            .iter()
            .enumerate()
            .find_map(|(f, v)| v.map(|v| (f, v)))
        else {
            continue;
        };
        matched += 1;
        let n = (v - 0.5) as usize / 1000;
        assert_eq!(n * 1000 + f, (v - 0.5) as usize, "{row:?}");
        for (f, v) in values.iter().enumerate() {
            let want = (!(n + f).is_multiple_of(7)).then(|| (n * 1000 + f) as f64 + 0.5);
            assert_eq!(*v, want, "feature f{f} of {row:?}");
        }
    }
    assert!(
        matched > ents.len() / 2,
        "most entity rows match: {matched}"
    );
}
