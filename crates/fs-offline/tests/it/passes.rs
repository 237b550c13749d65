//! Point-in-time joins split into key-hash passes give the rows of one pass:
//! onto a base group, onto in-memory entities and onto an entity file, with
//! duplicates, deletes, max age, inner and left joins, and a limit.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use fs_offline::EngineOptions;
use fs_offline::local::LocalEngine;
use fs_offline::spec::{DatasetSpec, Entities, EntitySource};
use fs_offline::table::OfflineTable;
use fs_offline::{DatasetBuilder, JoinSpec};
use fs_schema::FeatureType;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

use crate::random::{builder, entity_batch, random_rows, random_spec};
use crate::support::{Cell, group, rows, runtime, total_rows, write_batch, write_rows};

fn engine(dir: &TempDir, groups: &[&fs_schema::FeatureGroup], passes: Option<u32>) -> LocalEngine {
    let mut engine = LocalEngine::with_options(EngineOptions {
        join_passes: passes,
        // The passes split the SQL plan; the native join needs none.
        native_join: false,
        ..EngineOptions::default()
    });
    for g in groups {
        engine.register(OfflineTable::new(
            (*g).clone(),
            dir.path().join(&g.feature_group_name),
        ));
    }
    engine
}

fn run(engine: &LocalEngine, spec: &DatasetSpec) -> Vec<RecordBatch> {
    runtime().block_on(engine.collect(spec)).unwrap()
}

/// The rows of `spec` with one pass and with `passes`, which must be equal.
fn one_and_split(
    dir: &TempDir,
    groups: &[&fs_schema::FeatureGroup],
    spec: &DatasetSpec,
    columns: &[&str],
    passes: u32,
) -> Vec<Vec<Cell>> {
    let one = engine(dir, groups, Some(1));
    let many = engine(dir, groups, Some(passes));
    assert_eq!(runtime().block_on(one.passes(spec)).unwrap(), 1);
    assert_eq!(runtime().block_on(many.passes(spec)).unwrap(), passes);
    let one = rows(&run(&one, spec), columns);
    let split = rows(&run(&many, spec), columns);
    assert_eq!(split, one, "{passes} passes: {spec:?}");
    one
}

#[test]
fn split_point_in_time_joins_give_the_rows_of_one_pass() {
    for seed in [21u64, 22] {
        let mut rng = StdRng::seed_from_u64(seed);
        let base = group("base", FeatureType::String);
        let feats = group("feats", FeatureType::Fractional);
        let dir = TempDir::new().unwrap();
        write_rows(
            &dir.path().join("base"),
            &base,
            &random_rows(&mut rng, 200, 0),
        );
        write_rows(
            &dir.path().join("feats"),
            &feats,
            &random_rows(&mut rng, 300, 10_000),
        );
        let groups = [&base, &feats];
        let (_, batch) = entity_batch(&mut rng, 60);
        let entity_file = dir.path().join("entities.parquet");
        write_batch(&entity_file, &batch);
        let mut nonempty = 0;
        for case in 0..4 {
            let s = random_spec(&mut rng);
            let mut join = JoinSpec::new(feats.clone()).features(["a"]).prefix("j_");
            if rng.random_bool(0.4) {
                join = join.max_age(Duration::from_millis(rng.random_range(0..12) * 600_000));
            }
            if rng.random_bool(0.5) {
                join = join.left();
            }
            let passes = 2 + case % 3;

            let spec = builder(base.clone(), &s)
                .join(join.clone())
                .build()
                .unwrap();
            let got = one_and_split(&dir, &groups, &spec, &["id", "ts", "a", "j_a"], passes);
            nonempty += usize::from(!got.is_empty());

            for source in [
                EntitySource::Batches {
                    schema: batch.schema(),
                    batches: vec![batch.clone()],
                },
                EntitySource::File(entity_file.clone()),
            ] {
                let mut b = DatasetBuilder::from_entities(Entities {
                    source,
                    id_column: "who".into(),
                    time_column: "when".into(),
                })
                .join(join.clone());
                if s.include_deleted {
                    b = b.include_deleted_records();
                }
                if s.include_duplicated {
                    b = b.include_duplicated_records();
                }
                let spec = b.build().unwrap();
                let got = one_and_split(&dir, &groups, &spec, &["who", "when", "j_a"], passes);
                nonempty += usize::from(!got.is_empty());
            }
        }
        assert!(nonempty > 4, "seed {seed}: too few non-empty cases");
    }
}

#[test]
fn joins_on_another_column_or_key_type_run_in_one_pass() {
    let base = group("base", FeatureType::String);
    let feats = group("feats", FeatureType::String);
    let dir = TempDir::new().unwrap();
    let split = engine(&dir, &[&base, &feats], Some(4));
    let on_s = DatasetBuilder::from_group(base.clone())
        .join(JoinSpec::new(feats.clone()).on("s").prefix("j_"))
        .build()
        .unwrap();
    assert_eq!(runtime().block_on(split.passes(&on_s)).unwrap(), 1);
    let numbers = RecordBatch::try_from_iter([
        (
            "who",
            Arc::new(arrow_array::Int64Array::from(vec![1])) as ArrayRef,
        ),
        (
            "when",
            Arc::new(StringArray::from(vec!["2024-01-01T00:00:00Z"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let spec = DatasetBuilder::from_entities(Entities {
        source: EntitySource::Batches {
            schema: numbers.schema(),
            batches: vec![numbers],
        },
        id_column: "who".into(),
        time_column: "when".into(),
    })
    .join(JoinSpec::new(feats))
    .build()
    .unwrap();
    assert_eq!(runtime().block_on(split.passes(&spec)).unwrap(), 1);
}

#[test]
fn a_limit_counts_rows_over_every_pass() {
    let mut rng = StdRng::seed_from_u64(3);
    let base = group("base", FeatureType::String);
    let feats = group("feats", FeatureType::String);
    let dir = TempDir::new().unwrap();
    write_rows(
        &dir.path().join("base"),
        &base,
        &random_rows(&mut rng, 300, 0),
    );
    write_rows(
        &dir.path().join("feats"),
        &feats,
        &random_rows(&mut rng, 300, 0),
    );
    let all = DatasetBuilder::from_group(base.clone())
        .include_duplicated_records()
        .include_deleted_records()
        .join(JoinSpec::new(feats.clone()).left().prefix("j_"))
        .build()
        .unwrap();
    let n = total_rows(&run(&engine(&dir, &[&base, &feats], Some(1)), &all));
    assert!(n > 100, "{n} rows");
    let mut limited = all.clone();
    limited.limit = Some(n as u64 - 7);
    let split = engine(&dir, &[&base, &feats], Some(4));
    assert_eq!(runtime().block_on(split.passes(&limited)).unwrap(), 4);
    assert_eq!(total_rows(&run(&split, &limited)), n - 7);
    assert_eq!(total_rows(&run(&split, &all)), n);
}

/// The SQL plan under a memory limit too small for its join's build side
/// fails with `Error::OutOfMemory`, whose one-line message names the
/// limit and the option that raises it; the same plan runs under the
/// default pool (half of the machine's or cgroup's memory).
#[test]
fn the_sql_plan_over_its_memory_limit_fails_naming_the_limit_and_the_option() {
    let dir = TempDir::new().unwrap();
    let orders = group("orders", FeatureType::String);
    let profiles = group("profiles", FeatureType::String);
    let mut rng = StdRng::seed_from_u64(9);
    for g in [&orders, &profiles] {
        let rows = random_rows(&mut rng, 20_000, 0);
        write_rows(&dir.path().join(&g.feature_group_name), g, &rows);
    }
    let spec = DatasetBuilder::from_group(orders.clone())
        .join(JoinSpec::new(profiles.clone()).prefix("p_"))
        .build()
        .unwrap();
    let tight = LocalEngine::with_options(EngineOptions {
        memory_limit: Some(64 << 10),
        join_passes: Some(1),
        native_join: false,
        ..EngineOptions::default()
    })
    .with_table(OfflineTable::new(orders.clone(), dir.path().join("orders")))
    .with_table(OfflineTable::new(
        profiles.clone(),
        dir.path().join("profiles"),
    ));
    let err = runtime().block_on(tight.collect(&spec)).unwrap_err();
    assert!(
        matches!(
            err,
            fs_offline::Error::OutOfMemory {
                limit: Some(65_536),
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("of 64 KiB"), "{message}");
    assert!(message.contains("EngineOptions::memory_limit"), "{message}");
    assert!(message.contains("--memory-limit"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    let roomy = engine(&dir, &[&orders, &profiles], Some(1));
    assert!(
        EngineOptions::default()
            .sql_memory_pool()
            .is_some_and(|p| p >= 256 << 20)
    );
    assert!(total_rows(&run(&roomy, &spec)) > 0);
}
