//! Dataset builds on the embedded engine over local offline Parquet.
//!
//! ```text
//! cargo bench -p fs-offline --bench dataset [-- ROWS]     # ROWS: 1M (default), 10M, 250000, ...
//! FS_BENCH_ROWS=10M FS_BENCH_DATA_DIR=/data cargo bench -p fs-offline --bench dataset
//! ```
//!
//! Generates (or reuses) `ROWS` rows of a group `orders` with 20 features
//! (`id`, `ts` and 18 more: 9 Fractional, 6 Integral, 3 String; 5 versions
//! per record on average, 1% delete markers) and `ROWS / 5` rows of a group
//! `profiles` (5 Fractional features, 2 versions per record, 1% delete markers), in the Glue
//! layout over 48 hourly partitions, under `FS_BENCH_DATA_DIR` (default
//! `target/bench-data/offline-v2-<ROWS>`). Then it times, streaming each result
//! to a Parquet file (snappy):
//!
//! - `latest`: the latest record per identifier of `orders`;
//! - `pit_join`: every `orders` row with the `profiles` features as of its
//!   event time (point-in-time, left join);
//! - `asof_few`: a group `readings` of 10 identifiers with `ROWS / 100`
//!   versions each (10 Fractional features) joined point-in-time (left)
//!   onto an entity file of `ROWS / 5` rows;
//! - `asof_skew`: `ROWS` rows of `readings` over `ROWS / 10` identifiers,
//!   one of which holds half of them and half of the `ROWS / 5` entity rows
//!   (both under `target/bench-data/asof-v1-<ROWS>`, printed as `ASOF <name>
//!   <features dir> <entity file>`);
//! - `scan`: every row and column of the `orders` files as Arrow batches
//!   (fs-offline's `Scan`), rows per second.
//!
//! `FS_BENCH_ONLY=latest,pit_join,asof_few,asof_skew,scan` runs only those parts;
//! `FS_NATIVE_JOIN=0` runs point-in-time joins through SQL rather than the
//! native as-of join;
//! `FS_NATIVE_LATEST=0` builds the latest rows through SQL rather than the
//! native two-pass reader; `FS_JOIN_PASSES=4` splits the point-in-time join
//! into 4 key-hash passes; `FS_MEMORY_LIMIT_MB=512` runs the engine with that memory limit
//! ([`fs_offline::EngineOptions::memory_limit`]: sorts spill, hash-join
//! build sides cannot and fail beyond it).
//!
//! Output lines: `DATA_DIR <dir>`, `SQL <name> <the DataFusion SQL on one
//! line>` (tables `fs_base` = orders, `fs_j1` = profiles; for DuckDB replace
//! `CAST(to_timestamp_millis(c) AS BIGINT)` with `epoch_ms(CAST(c AS
//! TIMESTAMPTZ))` and the tables with `read_parquet('<dir>/<group>/data/**/*.parquet')`),
//! `OUTPUT <name> <file>`, and
//! `RESULT <name> <value> <unit>` (seconds, rows, rows per second, and the
//! process's peak resident memory during the run, reset before each).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{RecordBatch, StringArray};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use fs_offline::EngineOptions;
use fs_offline::local::LocalEngine;
use fs_offline::output::{ParquetOptions, write_parquet};
use fs_offline::spec::{DatasetSpec, Entities, EntitySource};
use fs_offline::table::OfflineTable;
use fs_offline::{DatasetBuilder, JoinSpec};
use fs_schema::{EventTime, FeatureDefinition, FeatureGroup};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

#[path = "support/generate.rs"]
mod generate;
#[path = "support/orders.rs"]
mod orders;
#[path = "support/scan.rs"]
mod scan;

use generate::{HOURS, Rng, START, generate, generate_skewed, pick_id};
use orders::orders_group;

fn main() {
    let rows = row_count();
    let dir = std::env::var_os("FS_BENCH_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join(format!("bench-data/offline-v2-{rows}")));
    let orders = orders_group();
    let profiles = profiles_group();
    let orders_dir = dir.join("orders/data");
    let profiles_dir = dir.join("profiles/data");
    ensure_generated(
        &dir,
        (&orders, &orders_dir),
        (&profiles, &profiles_dir),
        rows,
    );
    say(&format!("DATA_DIR {}", dir.display()));
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).expect("creating the output directory");

    let options = engine_options();
    // FS_BENCH_ONLY=latest,pit_join,asof_few,asof_skew,scan: run only these parts.
    let only = std::env::var("FS_BENCH_ONLY").ok();
    let runs = |part: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p.trim() == part))
    };
    let engine = LocalEngine::with_options(options)
        .with_table(OfflineTable::new(orders.clone(), &orders_dir))
        .with_table(OfflineTable::new(profiles.clone(), &profiles_dir));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let specs = group_specs(&orders, &profiles);
    if std::env::var_os("FS_BENCH_SHAPES").is_some() {
        let rendered = specs.each_ref().map(|(n, spec)| {
            let sql = runtime.block_on(engine.sql(spec)).expect("rendering");
            (n.to_string(), sql)
        });
        runtime.block_on(shapes(
            (&orders, &orders_dir),
            (&profiles, &profiles_dir),
            &out_dir,
            rendered,
        ));
        return;
    }
    for (name, spec) in specs {
        if !runs(name) {
            continue;
        }
        let out = out_dir.join(format!("{name}.parquet"));
        let sql = runtime.block_on(engine.sql(&spec)).expect("rendering");
        say(&format!("SQL {name} {}", sql.replace('\n', " ")));
        timed(
            &runtime,
            &engine,
            &spec,
            name,
            &out,
            rows,
            &count_label(rows),
        );
    }
    asof_shapes(&runtime, rows, engine.options(), &runs);
    if runs("scan") {
        scan::scan(&runtime, &orders_group(), &orders_dir, &count_label(rows));
    }
}

/// The rows of `orders` to generate: the first argument that is not a
/// flag (cargo bench passes `--bench`), else `FS_BENCH_ROWS`, else 1M.
fn row_count() -> usize {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("FS_BENCH_ROWS").ok())
        .map(|s| parse_count(&s))
        .unwrap_or(1_000_000)
}

/// Generates `rows` rows of `orders` and a fifth as many of `profiles`
/// under `dir`, unless a complete copy is already there: the data is
/// reused across runs of the same size.
fn ensure_generated(
    dir: &Path,
    (orders, orders_dir): (&FeatureGroup, &Path),
    (profiles, profiles_dir): (&FeatureGroup, &Path),
    rows: usize,
) {
    if !dir.join(".complete").exists() {
        let t = Instant::now();
        let _ = std::fs::remove_dir_all(dir);
        generate(orders_dir, orders, rows, rows / 5, 0.01, 1);
        generate(profiles_dir, profiles, rows / 5, rows / 10, 0.01, 2);
        std::fs::write(dir.join(".complete"), b"").expect("marking the data complete");
        say(&format!(
            "GENERATED {rows} rows in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    }
}

/// The engine's options as the environment sets them, so one binary can
/// compare the native and SQL paths, memory limits and join passes.
fn engine_options() -> EngineOptions {
    // FS_MEMORY_LIMIT_MB: the engine's memory limit (sorts spill beyond it).
    let mut options = EngineOptions::default();
    if let Some(mb) = std::env::var("FS_MEMORY_LIMIT_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        options.memory_limit = Some(mb << 20);
    }
    // FS_NATIVE_LATEST=0: the latest build through SQL rather than the
    // native two-pass reader.
    if std::env::var("FS_NATIVE_LATEST").is_ok_and(|v| v == "0") {
        options.native_latest = false;
    }
    // FS_NATIVE_JOIN=0: point-in-time joins through SQL rather than the
    // native as-of join.
    if std::env::var("FS_NATIVE_JOIN").is_ok_and(|v| v == "0") {
        options.native_join = false;
    }
    // FS_JOIN_PASSES=n: split the point-in-time join into n key-hash passes.
    if let Some(n) = std::env::var("FS_JOIN_PASSES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        options.join_passes = Some(n);
    }
    options
}

/// The datasets over the generated groups, by name: `latest` (the latest
/// record per identifier of `orders`) and `pit_join` (every `orders` row
/// with `profiles` as of its event time).
fn group_specs(orders: &FeatureGroup, profiles: &FeatureGroup) -> [(&'static str, DatasetSpec); 2] {
    let latest = DatasetBuilder::from_group(orders.clone())
        .build()
        .expect("spec");
    let pit = DatasetBuilder::from_group(orders.clone())
        .include_duplicated_records()
        .join(JoinSpec::new(profiles.clone()).left().prefix("p_"))
        .build()
        .expect("spec");
    [("latest", latest), ("pit_join", pit)]
}

#[expect(
    clippy::print_stdout,
    reason = "a bench binary reports its `RESULT` lines on standard output"
)]
fn say(line: &str) {
    println!("{line}");
}

fn parse_count(s: &str) -> usize {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('M' | 'm') => (&s[..s.len() - 1], 1_000_000.0),
        Some('K' | 'k') => (&s[..s.len() - 1], 1_000.0),
        _ => (s, 1.0),
    };
    (num.parse::<f64>()
        .unwrap_or_else(|_| panic!("not a row count: {s}"))
        * mul) as usize
}

fn count_label(n: usize) -> String {
    if n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n.is_multiple_of(1_000) {
        format!("{}K", n / 1_000)
    } else {
        n.to_string()
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn profiles_group() -> FeatureGroup {
    let mut features = vec![
        FeatureDefinition::string("id"),
        FeatureDefinition::string("ts"),
    ];
    features.extend((0..5).map(|i| FeatureDefinition::fractional(format!("q{i}"))));
    FeatureGroup::builder("profiles", "id", "ts")
        .features(features)
        .offline_store_s3_uri("s3://bench/offline")
        .build()
        .expect("the profiles group")
}

/// The feature group of the as-of shapes: 10 Fractional readings.
fn readings_group() -> FeatureGroup {
    let mut features = vec![
        FeatureDefinition::string("id"),
        FeatureDefinition::string("ts"),
    ];
    features.extend((0..10).map(|i| FeatureDefinition::fractional(format!("r{i}"))));
    FeatureGroup::builder("readings", "id", "ts")
        .features(features)
        .offline_store_s3_uri("s3://bench/offline")
        .build()
        .expect("the readings group")
}

/// An entity table of `rows` rows (`id`, `t` an ISO-8601 string) over the
/// generated hours, identifiers as [`pick_id`] draws them, one Parquet file.
fn generate_entities(path: &Path, rows: usize, ids: usize, skew: f64, seed: u64) {
    let start = EventTime::parse_iso(START).expect("start").as_millis();
    let mut rng = Rng(0x51_7cc1_b727_220a ^ seed);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("creating a directory");
    let file = std::fs::File::create(path).expect("creating the entity file");
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("id", arrow_schema::DataType::Utf8, false),
        arrow_schema::Field::new("t", arrow_schema::DataType::Utf8, false),
    ]));
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).expect("a writer");
    let mut left = rows;
    while left > 0 {
        let n = left.min(65_536);
        left -= n;
        let ids: Vec<String> = (0..n)
            .map(|_| format!("c{:09}", pick_id(&mut rng, ids, skew)))
            .collect();
        let times: Vec<String> = (0..n)
            .map(|_| {
                let t = start + rng.below(HOURS as u64 * 3_600_000) as i64;
                EventTime::from_millis(t).expect("in range").to_iso()
            })
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(StringArray::from(times)),
            ],
        )
        .expect("a batch");
        w.write(&batch).expect("writing");
    }
    w.close().expect("closing");
}

/// The as-of shapes (`asof_few`: 10 identifiers with long histories;
/// `asof_skew`: one identifier holding half of both sides), generated once
/// under `dir`, each joined point-in-time (left) onto its entity file.
fn asof_shapes(
    runtime: &tokio::runtime::Runtime,
    rows: usize,
    options: &EngineOptions,
    runs: &dyn Fn(&str) -> bool,
) {
    let dir = target_dir().join(format!("bench-data/asof-v1-{rows}"));
    let group = readings_group();
    // (name, feature rows, identifiers, skew, entity rows)
    let shapes = [
        ("asof_few", rows / 10, 10, 0.0, rows / 5),
        ("asof_skew", rows, rows / 10, 0.5, rows / 5),
    ];
    for (name, feature_rows, ids, skew, entity_rows) in shapes {
        if !runs(name) {
            continue;
        }
        let data = dir.join(name);
        let features = data.join("readings/data");
        let entities = data.join("entities.parquet");
        if !data.join(".complete").exists() {
            let t = Instant::now();
            let _ = std::fs::remove_dir_all(&data);
            generate_skewed(&features, &group, feature_rows, ids, skew, 0.01, 3);
            generate_entities(&entities, entity_rows, ids, skew, 4);
            std::fs::write(data.join(".complete"), b"").expect("marking the data complete");
            say(&format!(
                "GENERATED {name} {feature_rows} rows in {:.1} s",
                t.elapsed().as_secs_f64()
            ));
        }
        say(&format!(
            "ASOF {name} {} {}",
            features.display(),
            entities.display()
        ));
        let engine = LocalEngine::with_options(options.clone())
            .with_table(OfflineTable::new(group.clone(), &features));
        let spec = DatasetBuilder::from_entities(Entities {
            source: EntitySource::File(entities.clone()),
            id_column: "id".into(),
            time_column: "t".into(),
        })
        .join(JoinSpec::new(group.clone()).left().prefix("j_"))
        .build()
        .expect("spec");
        let out = data.join("out.parquet");
        timed(
            runtime,
            &engine,
            &spec,
            name,
            &out,
            entity_rows,
            &count_label(rows),
        );
    }
}

/// Runs `spec` into `out` and prints its `RESULT` lines as `dataset_<name>_<label>_…`.
fn timed(
    runtime: &tokio::runtime::Runtime,
    engine: &LocalEngine,
    spec: &DatasetSpec,
    name: &str,
    out: &Path,
    input_rows: usize,
    label: &str,
) {
    reset_peak_rss();
    let t = Instant::now();
    let report = runtime
        .block_on(async {
            let stream = engine.execute(spec).await?;
            write_parquet(stream, out, ParquetOptions::default()).await
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let secs = t.elapsed().as_secs_f64();
    let label = format!("dataset_{name}_{label}");
    say(&format!("OUTPUT {name} {}", out.display()));
    say(&format!("RESULT {label}_seconds {secs:.3} s"));
    say(&format!("RESULT {label}_rows_out {} rows", report.rows));
    say(&format!(
        "RESULT {label}_input_rows_per_second {:.0} rows/s",
        input_rows as f64 / secs
    ));
    if let Some(mb) = peak_rss_mb() {
        say(&format!("RESULT {label}_peak_rss {mb:.0} MB"));
    }
}

/// Resets the kernel's peak-RSS counter of this process (Linux).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", b"5");
}

/// The peak resident set size since the last reset, in MB (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Times SQL shapes over the data (`FS_BENCH_SHAPES=1`): the built-in
/// ones, or `FS_SHAPES_FILE` (lines `name<TAB>sql`, `{F}` for the 18
/// features), one of them with `FS_SHAPE=name`. Tables: `orders` and
/// `fs_base` (the orders group), `fs_j1` (profiles); `latest` and
/// `pit_join` are the engine's rendered SQL. `FS_SET="k=v;k=v"` sets
/// session options (`SET k = v`), `FS_EXPLAIN=1` prints plans.
async fn shapes(
    (orders, dir): (&FeatureGroup, &Path),
    (profiles, profiles_dir): (&FeatureGroup, &Path),
    out: &Path,
    rendered: [(String, String); 2],
) {
    let ctx = shapes_session().await;
    for (name, group, d) in [
        ("orders", orders, dir),
        ("fs_base", orders, dir),
        ("fs_j1", profiles, profiles_dir),
    ] {
        let schema = fs_offline::table::offline_read_schema(group);
        ctx.register_parquet(
            name,
            d.to_str().unwrap(),
            ParquetReadOptions::default().schema(&schema),
        )
        .await
        .unwrap();
    }
    let only = std::env::var("FS_SHAPE").ok();
    let mut list = shape_list();
    list.extend(rendered);
    for (name, sql) in list {
        if only.as_deref().is_some_and(|o| o != name.as_str()) {
            continue;
        }
        run_shape(&ctx, &name, &sql, out).await;
    }
}

/// A DataFusion session for the shapes, configured from the environment
/// (`FS_VIEWS`, `FS_PARTS`, `FS_SET`) to try settings without a rebuild.
async fn shapes_session() -> SessionContext {
    let mut config = SessionConfig::new();
    config.options_mut().execution.collect_statistics = false;
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = std::env::var_os("FS_VIEWS").is_some();
    if let Ok(p) = std::env::var("FS_PARTS") {
        config = config.with_target_partitions(p.parse().unwrap());
    }
    let ctx = SessionContext::new_with_config(config);
    if let Ok(sets) = std::env::var("FS_SET") {
        for set in sets.split(';').filter(|s| !s.trim().is_empty()) {
            let (k, v) = set.split_once('=').expect("FS_SET: k=v;k=v");
            ctx.sql(&format!("SET {} = {}", k.trim(), v.trim()))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
        }
    }
    ctx
}

/// The shapes to time, by name: the built-in ways of writing the latest
/// rows in SQL, or those of `FS_SHAPES_FILE` when it is set.
fn shape_list() -> Vec<(String, String)> {
    let feats: Vec<String> = (0..18).map(|i| format!("f{i}")).collect();
    let f = feats.join(", ");
    let list = builtin_shapes(&feats);
    match std::env::var("FS_SHAPES_FILE") {
        Ok(file) => std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (n, q) = l.split_once('\t').unwrap();
                (n.to_string(), q.replace("{F}", &f))
            })
            .collect(),
        Err(_) => list,
    }
}

/// The built-in shapes over the `orders` features `feats`: the latest row
/// per `id` by a window (`window`), by joining the window's keys back
/// (`keys`, and `keys_guard` keeping one row per key), and by
/// `first_value` aggregates (`first_value`).
fn builtin_shapes(feats: &[String]) -> Vec<(String, String)> {
    let f = feats.join(", ");
    let of = feats
        .iter()
        .map(|x| format!("o.{x}"))
        .collect::<Vec<_>>()
        .join(", ");
    let et = "CAST(to_timestamp_millis(ts) AS BIGINT)";
    let ord = format!(
        "{et} DESC NULLS LAST, api_invocation_time DESC NULLS LAST, write_time DESC NULLS LAST, is_deleted DESC NULLS LAST"
    );
    let window = format!(
        "SELECT id, ts, {f} FROM (SELECT id, ts, {f}, is_deleted, row_number() OVER (PARTITION BY id ORDER BY {ord}) AS rn FROM orders) t WHERE rn = 1 AND NOT coalesce(is_deleted, false)"
    );
    let keys = format!(
        "WITH k AS (SELECT id, ts, api_invocation_time AS api, write_time AS wt FROM (SELECT id, ts, api_invocation_time, write_time, is_deleted, row_number() OVER (PARTITION BY id ORDER BY {ord}) AS rn FROM orders) t WHERE rn = 1 AND NOT coalesce(is_deleted, false)) \
         SELECT o.id, o.ts, {of} FROM orders o JOIN k ON o.id = k.id AND o.ts = k.ts AND o.api_invocation_time = k.api AND o.write_time = k.wt"
    );
    let keys_guard = format!(
        "WITH k AS (SELECT id, ts, api_invocation_time AS api, write_time AS wt FROM (SELECT id, ts, api_invocation_time, write_time, is_deleted, row_number() OVER (PARTITION BY id ORDER BY {ord}) AS rn FROM orders) t WHERE rn = 1 AND NOT coalesce(is_deleted, false)), \
         j AS (SELECT o.id, o.ts, {of} FROM orders o JOIN k ON o.id = k.id AND o.ts = k.ts AND o.api_invocation_time = k.api AND o.write_time = k.wt) \
         SELECT id, ts, {f} FROM (SELECT *, row_number() OVER (PARTITION BY id) AS rn2 FROM j) x WHERE rn2 = 1"
    );
    let fv = feats
        .iter()
        .chain(["ts".to_string(), "is_deleted".to_string()].iter())
        .map(|x| format!("first_value({x} ORDER BY {ord}) AS {x}"))
        .collect::<Vec<_>>()
        .join(", ");
    let first = format!(
        "SELECT id, ts, {f} FROM (SELECT id, {fv} FROM orders GROUP BY id) t WHERE NOT coalesce(is_deleted, false)"
    );
    vec![
        ("window".to_string(), window),
        ("keys".to_string(), keys),
        ("keys_guard".to_string(), keys_guard),
        ("first_value".to_string(), first),
    ]
}

/// Runs one shape into `out/shape_<name>.parquet` (its plan first with
/// `FS_EXPLAIN`) and prints its `SHAPE` line: the time and rows written.
async fn run_shape(ctx: &SessionContext, name: &str, sql: &str, out: &Path) {
    let t = Instant::now();
    let df = ctx.sql(sql).await.unwrap();
    if std::env::var_os("FS_EXPLAIN").is_some() {
        let plan = ctx
            .sql(&format!("EXPLAIN {sql}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        say(
            &datafusion::arrow::util::pretty::pretty_format_batches(&plan)
                .unwrap()
                .to_string(),
        );
    }
    let stream = df.execute_stream().await.unwrap();
    let schema = stream.schema();
    let stream = fs_offline::BatchStream::new(
        schema,
        futures::TryStreamExt::map_err(stream, |e| {
            fs_offline::Error::InvalidDataset(e.to_string())
        }),
    );
    let r = write_parquet(
        stream,
        out.join(format!("shape_{name}.parquet")),
        ParquetOptions::default(),
    )
    .await
    .unwrap();
    say(&format!(
        "SHAPE {name} {:.3} s rows {}",
        t.elapsed().as_secs_f64(),
        r.rows
    ));
}
