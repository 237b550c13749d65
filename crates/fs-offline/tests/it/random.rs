//! Brute force: random offline data (seeded) and random datasets, the
//! engine's result compared with the plain-Rust reference of the semantics.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use fs_offline::spec::{Entities, EntitySource};
use fs_offline::{DatasetBuilder, JoinSpec};
use fs_schema::{EventTime, FeatureType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::local::Fixture;
use crate::reference::{RefSpec, base, point_in_time, prepared};
use crate::support::{Cell, Row, group, ms, rows};

pub(crate) const IDS: usize = 12;

pub(crate) fn base_ms() -> i64 {
    ms("2024-03-01T00:00:00Z")
}

/// Minutes after the start, in steps of 10 (several hours: several partitions).
pub(crate) fn at(minutes: i64) -> i64 {
    base_ms() + minutes * 60_000
}

/// Random rows with many ties: few event times, api and write times.
pub(crate) fn random_rows(rng: &mut StdRng, n: usize, first_a: i64) -> Vec<Row> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("r{}", rng.random_range(0..IDS));
        let et = at(rng.random_range(0..30) * 10);
        let api = at(1000 + rng.random_range(0..4));
        let wt = at(2000 + rng.random_range(0..4));
        let deleted = rng.random_bool(0.2);
        // Two puts tied on every key would make "the newest" ambiguous.
        if !seen.insert((id.clone(), et, api, wt, deleted)) {
            continue;
        }
        out.push(if deleted {
            Row::delete(&id, et, api, wt)
        } else {
            Row::put(&id, et, first_a + i as i64, api, wt)
        });
    }
    out
}

pub(crate) fn expected_row(r: &Row) -> Vec<Cell> {
    vec![
        Cell::Str(r.id.clone()),
        Cell::Str(EventTime::from_millis(r.et).unwrap().to_iso()),
        r.a.map_or(Cell::Null, Cell::Int),
        Cell::Millis(r.write_time),
        Cell::Millis(r.api),
        Cell::Bool(r.deleted),
    ]
}

pub(crate) fn random_spec(rng: &mut StdRng) -> RefSpec {
    let maybe = |rng: &mut StdRng, v: i64| rng.random_bool(0.3).then_some(v);
    let from = rng.random_range(0..30) * 10;
    let to = from + rng.random_range(0..30) * 10;
    RefSpec {
        as_of: {
            let v = at(2000 + rng.random_range(0..4));
            maybe(rng, v)
        },
        from: maybe(rng, at(from)),
        to: maybe(rng, at(to)),
        include_duplicated: rng.random_bool(0.3),
        include_deleted: rng.random_bool(0.3),
        n: [None, None, Some(1), Some(2), Some(3)][rng.random_range(0..5)],
    }
}

pub(crate) fn builder(g: fs_schema::FeatureGroup, s: &RefSpec) -> DatasetBuilder {
    let et = |v: Option<i64>| v.map(|m| EventTime::from_millis(m).unwrap());
    let mut b = DatasetBuilder::from_group(g).event_time_range(et(s.from), et(s.to));
    if let Some(a) = s.as_of {
        b = b.as_of(EventTime::from_millis(a).unwrap());
    }
    if s.include_duplicated {
        b = b.include_duplicated_records();
    }
    if s.include_deleted {
        b = b.include_deleted_records();
    }
    if let Some(n) = s.n {
        b = b.recent_records_per_id(n);
    }
    b
}

#[test]
fn random_base_datasets_match_the_reference() {
    for seed in [1u64, 2, 3] {
        let mut rng = StdRng::seed_from_u64(seed);
        let g = group("g", FeatureType::String);
        let data = random_rows(&mut rng, 300, 0);
        let mut f = Fixture::new();
        f.add(&g, &data);
        for case in 0..25 {
            let s = random_spec(&mut rng);
            let spec = builder(g.clone(), &s).include_metadata().build().unwrap();
            let got = rows(
                &f.run(&spec),
                &[
                    "id",
                    "ts",
                    "a",
                    "write_time",
                    "api_invocation_time",
                    "is_deleted",
                ],
            );
            let mut want: Vec<Vec<Cell>> = base(&data, &s).iter().map(expected_row).collect();
            want.sort();
            assert_eq!(
                got,
                want,
                "seed {seed} case {case}: {s:?}\nSQL:\n{}",
                f.sql(&spec)
            );
        }
    }
}

#[test]
fn random_point_in_time_joins_match_the_reference() {
    for seed in [7u64, 8, 9] {
        let mut rng = StdRng::seed_from_u64(seed);
        let g = group("base", FeatureType::String);
        let feats = group("feats", FeatureType::Fractional);
        let base_rows = random_rows(&mut rng, 150, 0);
        let feat_rows = random_rows(&mut rng, 300, 10_000);
        let mut f = Fixture::new();
        f.add(&g, &base_rows);
        f.add(&feats, &feat_rows);
        for case in 0..20 {
            let s = random_spec(&mut rng);
            let max_age = rng
                .random_bool(0.4)
                .then(|| rng.random_range(0..12) * 10 * 60_000);
            let left = rng.random_bool(0.5);
            let mut join = JoinSpec::new(feats.clone()).features(["a"]).prefix("j_");
            if let Some(age) = max_age {
                join = join.max_age(Duration::from_millis(age as u64));
            }
            if left {
                join = join.left();
            }
            let feat_spec = RefSpec {
                from: None,
                to: None,
                ..s.clone()
            };
            let prepared_feats = prepared(&feat_rows, &feat_spec, false);

            // Onto the base group's rows.
            let spec = builder(g.clone(), &s).join(join.clone()).build().unwrap();
            let got = rows(&f.run(&spec), &["id", "ts", "a", "j_a"]);
            let mut want = Vec::new();
            for r in base(&base_rows, &s) {
                let m = point_in_time(&prepared_feats, &r.id, r.et, max_age);
                if m.is_none() && !left {
                    continue;
                }
                let mut row = expected_row(&r)[..3].to_vec();
                row.push(m.and_then(|m| m.a).map_or(Cell::Null, Cell::Int));
                want.push(row);
            }
            want.sort();
            assert_eq!(
                got,
                want,
                "seed {seed} case {case} (base): {s:?} max_age {max_age:?} left {left}\nSQL:\n{}",
                f.sql(&spec)
            );

            // Onto an entity table (with duplicate entity rows).
            let (ents, batch) = entity_batch(&mut rng, 40);
            let mut b = DatasetBuilder::from_entities(Entities {
                source: EntitySource::Batches {
                    schema: batch.schema(),
                    batches: vec![batch],
                },
                id_column: "who".into(),
                time_column: "when".into(),
            })
            .join(join);
            if let Some(a) = s.as_of {
                b = b.as_of(EventTime::from_millis(a).unwrap());
            }
            if s.include_deleted {
                b = b.include_deleted_records();
            }
            if s.include_duplicated {
                b = b.include_duplicated_records();
            }
            let spec = b.build().unwrap();
            let got = rows(&f.run(&spec), &["who", "when", "j_a"]);
            let mut want = Vec::new();
            for (id, t) in &ents {
                let m = point_in_time(&prepared_feats, id, *t, max_age);
                if m.is_none() && !left {
                    continue;
                }
                want.push(vec![
                    Cell::Str(id.clone()),
                    Cell::Str(EventTime::from_millis(*t).unwrap().to_iso()),
                    m.and_then(|m| m.a).map_or(Cell::Null, Cell::Int),
                ]);
            }
            want.sort();
            assert_eq!(
                got,
                want,
                "seed {seed} case {case} (entities): {s:?} max_age {max_age:?} left {left}\nSQL:\n{}",
                f.sql(&spec)
            );
        }
    }
}

/// `n` random entity rows (`who`, `when`; some identifiers unknown to the
/// groups, some times before any row) and the same as a batch.
pub(crate) fn entity_batch(rng: &mut StdRng, n: usize) -> (Vec<(String, i64)>, RecordBatch) {
    let ents: Vec<(String, i64)> = (0..n)
        .map(|_| {
            (
                format!("r{}", rng.random_range(0..IDS + 2)),
                at(rng.random_range(0..35) * 10 - 20),
            )
        })
        .collect();
    let batch = RecordBatch::try_from_iter([
        (
            "who",
            Arc::new(StringArray::from_iter_values(
                ents.iter().map(|e| e.0.clone()),
            )) as ArrayRef,
        ),
        (
            "when",
            Arc::new(StringArray::from_iter_values(
                ents.iter()
                    .map(|e| EventTime::from_millis(e.1).unwrap().to_iso()),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    (ents, batch)
}
