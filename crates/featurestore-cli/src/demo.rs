//! `demo`: the whole workflow on an embedded store, step by step, timed.
//!
//! 1. create a dataset (`create-dataset`);
//! 2. create a feature group inferred from it (`create-feature-group --from-data`);
//! 3. ingest it (`ingest`);
//! 4. read known records online (`get`), checked against the dataset's
//!    latest row of each;
//! 5. flush and read the offline Parquet files back with the `parquet`
//!    crate: files, rows, and distinct record identifiers (history kept).
//!
//! Every step checks its result, so the demo doubles as a smoke test: it
//! fails (exit 1) when a number does not add up.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use featurestore::arrow::array::{Array, BooleanArray, Int64Array};
use featurestore::local::IS_DELETED;
use featurestore::online::{DeleteOptions, OnlineStoreExt};
use featurestore::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use featurestore::schema::EventTime;
use futures::TryStreamExt;
use serde_json::{Value, json};

use crate::backend::{Backend, Open, open_local};
use crate::cli::{CreateGroupArgs, DataFormat, DemoArgs, Global};
use crate::dataset::{self, ID, Row};
use crate::groups::build_spec;
use crate::ingest::{self, Plan};
use crate::output::{
    batch_json, batch_table, bytes, count, duration, interactive, millis, print_json, table,
};

const GROUP: &str = "customers";
const SEED: u64 = 42;

/// One finished step.
struct Step {
    name: &'static str,
    summary: String,
    elapsed: Duration,
    details: Value,
}

/// Prints steps as they finish (text mode) and keeps them for the summary.
struct Steps {
    json: bool,
    done: Vec<Step>,
}

impl Steps {
    fn finish(
        &mut self,
        name: &'static str,
        started: Instant,
        summary: String,
        body: &[String],
        details: Value,
    ) {
        let step = Step {
            name,
            summary,
            elapsed: started.elapsed(),
            details,
        };
        if !self.json {
            let n = self.done.len() + 1;
            println!("\n[{n}/5] {name} ({})", duration(step.elapsed));
            println!("      {}", step.summary);
            for line in body {
                for l in line.lines() {
                    println!("      {l}");
                }
            }
        }
        self.done.push(step);
    }
}

/// `demo`.
pub(crate) async fn command(global: &Global, args: &DemoArgs) -> Result<()> {
    if global.aws {
        bail!("the demo runs on an embedded store of its own; drop --aws");
    }
    let started = Instant::now();
    let (dir, temp) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| d.display().to_string())?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("featurestore-demo-")
                .tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let store_dir = dir.join("store");
    let data = dir.join("customers.csv");
    if !global.json {
        println!(
            "featurestore demo: the feature store workflow on an embedded store in {}",
            dir.display()
        );
        println!(
            "({})",
            if temp.is_some() {
                "a temporary directory, removed at the end; pass --dir DIR to keep it"
            } else {
                "kept after the demo"
            }
        );
    }
    if store_dir.is_dir() {
        let store = open_local(&store_dir, Open::Existing)?;
        if store.describe_feature_group(GROUP).is_ok() {
            bail!(
                "{} already holds the demo's feature group {GROUP:?}; remove {} or pass another --dir",
                store_dir.display(),
                dir.display()
            );
        }
    }
    let mut steps = Steps {
        json: global.json,
        done: Vec::new(),
    };

    // 1. A dataset.
    let t = Instant::now();
    let written = dataset::write(&data, DataFormat::Csv, args.rows, SEED)?;
    steps.finish(
        "create a dataset",
        t,
        format!(
            "{} rows, {} customers, {} of CSV",
            count(written.rows),
            count(written.customers),
            bytes(written.bytes)
        ),
        &[
            format!(
                "{} rows of {} customers ({} rows are newer versions of an earlier customer) -> {}",
                count(written.rows),
                count(written.customers),
                count(written.rows - written.customers),
                data.display(),
            ),
            format!("columns: {}", dataset::COLUMNS.join(", ")),
        ],
        json!({"file": data, "rows": written.rows, "customers": written.customers, "bytes": written.bytes}),
    );

    // 2. A feature group inferred from it.
    let t2 = Instant::now();
    let spec = build_spec(
        &CreateGroupArgs {
            name: GROUP.into(),
            definition: None,
            from_data: Some(data.clone()),
            record_id: Some(ID.into()),
            event_time: Some(dataset::EVENT_TIME.into()),
            offline_s3_uri: None,
            role_arn: None,
            no_online: false,
            dry_run: false,
        },
        false,
    )?;
    let backend = Backend::from_local(open_local(&store_dir, Open::OrCreate)?);
    let info = backend.create(spec).await?;
    let features: Vec<String> = info
        .spec
        .feature_definitions
        .iter()
        .map(|d| format!("{} {}", d.name, d.feature_type))
        .collect();
    steps.finish(
        "create a feature group",
        t2,
        format!(
            "{GROUP:?}: {} features, online and offline stores",
            features.len()
        ),
        &[
            format!(
                "inferred from {}",
                data.file_name().unwrap_or_default().to_string_lossy()
            ),
            format!("features: {}", features.join(", ")),
            format!("record identifier {ID}, event time {}", dataset::EVENT_TIME),
        ],
        json!({"group": GROUP, "features": features, "arn": info.arn}),
    );

    // 3. Ingest.
    let t3 = Instant::now();
    let done = ingest::run(
        &backend,
        &Plan {
            group: GROUP.into(),
            inputs: vec![data.clone()],
            concurrency: 1,
            failures: None,
            resume: false,
            checkpoint: None,
            shard: None,
            batch_size: featurestore::ingest::DEFAULT_BATCH_SIZE,
            progress: interactive(global.json),
            write_api: featurestore::WriteApi::PutRecord,
            target_stores: None,
            ttl: None,
        },
    )
    .await?;
    let r = &done.report;
    ensure!(
        r.rows_written == written.rows && r.rows_failed == 0,
        "ingest wrote {} of {} rows",
        r.rows_written,
        written.rows
    );
    steps.finish(
        "ingest",
        t3,
        format!(
            "{} rows read, {} written, {} failed, {} rows/s",
            count(r.rows_read),
            count(r.rows_written),
            count(r.rows_failed),
            count(r.rows_per_sec().round() as u64)
        ),
        &[format!(
            "checked every row first ({}), then wrote them ({}) into the online store (latest per customer) and the offline outbox",
            done.checked_in.map(duration).unwrap_or_default(),
            duration(r.elapsed)
        )],
        done.to_json(),
    );

    // 4. Online reads of known records.
    let t4 = Instant::now();
    let known = known_records(args.rows)?;
    let ids: Vec<String> = known
        .iter()
        .map(|(row, _)| row.customer_id.to_string())
        .collect();
    let online = backend.online();
    let mut gets = Vec::with_capacity(ids.len());
    for id in &ids {
        let t = Instant::now();
        let got = online.get(GROUP, id, None).await?;
        gets.push(t.elapsed());
        ensure!(got.is_some(), "customer {id} is not in the online store");
    }
    let tb = Instant::now();
    let batch = online.batch_get(GROUP, &ids, None).await?;
    let batch_time = tb.elapsed();
    ensure!(
        batch.missing.is_empty() && batch.errors.is_empty(),
        "batch get missed {:?}",
        batch.missing
    );
    let got = batch_json(&batch.batch);
    for ((row, _), online_row) in known.iter().zip(&got) {
        let expected = expected_json(row);
        ensure!(
            &expected == online_row,
            "customer {}: online {online_row} but the dataset's latest row is {expected}",
            row.customer_id
        );
    }
    gets.sort();
    let versions: Vec<String> = known
        .iter()
        .map(|(row, n)| format!("{} has {n}", row.customer_id))
        .collect();
    steps.finish(
        "read online",
        t4,
        format!(
            "{} records as expected; get {}, batch get {}",
            ids.len(),
            duration(gets[gets.len() / 2]),
            duration(batch_time)
        ),
        &[
            format!(
                "customers {}: each is the latest of its versions in the dataset",
                ids.join(", ")
            ),
            batch_table(&batch.batch)?.to_string(),
            format!(
                "get: median {} of {} single reads; batch get of all {}: {}",
                duration(gets[gets.len() / 2]),
                gets.len(),
                ids.len(),
                duration(batch_time)
            ),
            format!("versions in the dataset: {}", versions.join(", ")),
        ],
        json!({
            "ids": ids,
            "records": got,
            "get_ms": gets.iter().copied().map(millis).collect::<Vec<_>>(),
            "batch_get_ms": millis(batch_time),
        }),
    );

    // 5. Offline: delete one customer, flush, build the training dataset.
    let t5 = Instant::now();
    let (gone, _) = known
        .last()
        .context("the demo reads at least one customer")?;
    let gone_id = gone.customer_id.to_string();
    let delete_at = EventTime::parse_iso(&gone.event_time)?.as_millis() + 1_000;
    online
        .delete_record(
            GROUP,
            &gone_id,
            &EventTime::from_millis(delete_at)?.to_iso(),
            &DeleteOptions::default(),
        )
        .await?;
    let store = backend.local("demo")?.clone();
    let flushed = store.flush()?;
    let offline_dir = store
        .offline_data_dir(GROUP)?
        .context("the demo's group has an offline store")?;
    let scan = scan_offline(&offline_dir)?;
    ensure!(
        scan.rows == written.rows + 1 && scan.distinct_ids == written.customers,
        "the offline store holds {} rows of {} customers; the dataset has {} of {} (and one delete)",
        scan.rows,
        scan.distinct_ids,
        written.rows,
        written.customers
    );
    let spec = backend.store().dataset_builder(GROUP).await?.build()?;
    let td = Instant::now();
    let mut stream = backend.store().dataset(&spec).await?;
    let mut latest_rows = 0u64;
    let mut found: Vec<Value> = Vec::new();
    while let Some(batch) = stream.try_next().await? {
        latest_rows += batch.num_rows() as u64;
        found.extend(batch_json(&batch).into_iter().filter(|row| {
            ids.iter()
                .any(|id| row[ID] == id.parse::<i64>().unwrap_or(-1))
        }));
    }
    let dataset_time = td.elapsed();
    ensure!(
        latest_rows == written.customers - 1,
        "the training dataset has {latest_rows} rows; expected one per customer except the deleted one ({})",
        written.customers - 1
    );
    ensure!(
        !found.iter().any(|row| row[ID] == gone.customer_id),
        "deleted customer {gone_id} is in the training dataset"
    );
    for (row, _) in &known[..known.len() - 1] {
        let expected = expected_json(row);
        let got = found
            .iter()
            .find(|r| r[ID] == expected[ID])
            .with_context(|| {
                format!(
                    "customer {} is not in the training dataset",
                    row.customer_id
                )
            })?;
        ensure!(
            &expected == got,
            "customer {}: the training dataset has {got} but the latest row is {expected}",
            row.customer_id
        );
    }
    steps.finish(
        "read offline",
        t5,
        format!(
            "training dataset of {} customers (latest each, 1 deleted) from {} rows in {}",
            count(latest_rows),
            count(scan.rows),
            duration(dataset_time)
        ),
        &[
            format!(
                "deleted customer {gone_id}, then flushed {} rows: {} Parquet files in {} hourly partitions hold {} rows of {} customers (every version and the delete are kept)",
                count(flushed.rows),
                count(scan.files as u64),
                count(scan.partitions as u64),
                count(scan.rows),
                count(scan.distinct_ids),
            ),
            format!(
                "the dataset builder (embedded SQL engine over those files) keeps each customer's latest row and drops deleted customers: {} rows in {}",
                count(latest_rows),
                duration(dataset_time)
            ),
            format!(
                "customers {}: as read online; {gone_id}: absent",
                ids[..ids.len() - 1].join(", ")
            ),
            format!("files under {}", offline_dir.display()),
        ],
        json!({
            "dir": offline_dir,
            "files": scan.files,
            "partitions": scan.partitions,
            "rows": scan.rows,
            "distinct_record_ids": scan.distinct_ids,
            "deleted_rows": scan.deleted,
            "deleted_record_id": gone_id,
            "dataset_rows": latest_rows,
            "dataset_ms": millis(dataset_time),
        }),
    );
    backend.close()?;

    let total = started.elapsed();
    if global.json {
        print_json(&json!({
            "dir": dir,
            "kept": temp.is_none(),
            "total_ms": millis(total),
            "steps": steps.done.iter().enumerate().map(|(i, s)| json!({
                "step": i + 1,
                "name": s.name,
                "ms": millis(s.elapsed),
                "summary": s.summary,
                "details": s.details,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        let mut t = table(["step", "result", "time"]);
        for (i, s) in steps.done.iter().enumerate() {
            t.add_row([
                format!("{} {}", i + 1, s.name),
                s.summary.clone(),
                duration(s.elapsed),
            ]);
        }
        t.add_row(["total".to_owned(), String::new(), duration(total)]);
        println!("\nsummary\n{t}");
        if temp.is_none() {
            println!(
                "the store is in {}: try `featurestore --store {} describe-feature-group {GROUP}`",
                store_dir.display(),
                store_dir.display()
            );
        }
    }
    drop(temp);
    Ok(())
}

/// A few customers to read back, with the dataset's latest row of each and
/// its number of versions: the first three, the one with most versions, and
/// the last one.
fn known_records(rows: u64) -> Result<Vec<(Row, u32)>> {
    let mut versions: Vec<u32> = Vec::new();
    for row in dataset::rows(rows, SEED) {
        let i = usize::try_from(row.customer_id)? - 1;
        if i >= versions.len() {
            versions.resize(i + 1, 0);
        }
        versions[i] += 1;
    }
    let most = versions
        .iter()
        .enumerate()
        .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
        .map(|(i, _)| i as i64 + 1)
        .unwrap_or(1);
    let last = versions.len() as i64;
    let mut wanted: Vec<i64> = vec![1, 2, 3, most, last];
    wanted.retain(|id| (1..=last).contains(id));
    let mut seen = HashSet::new();
    wanted.retain(|id| seen.insert(*id));
    let mut latest: Vec<Option<Row>> = vec![None; wanted.len()];
    for row in dataset::rows(rows, SEED) {
        if let Some(k) = wanted.iter().position(|id| *id == row.customer_id) {
            latest[k] = Some(row);
        }
    }
    Ok(wanted
        .iter()
        .zip(latest)
        .filter_map(|(id, row)| row.map(|r| (r, versions[*id as usize - 1])))
        .collect())
}

/// The row as the online store returns it in JSON (nulls left out).
fn expected_json(row: &Row) -> Value {
    let mut v = json!({
        ID: row.customer_id,
        dataset::EVENT_TIME: row.event_time,
        "city": row.city,
        "is_premium": row.is_premium,
        "sessions_30d": row.sessions_30d,
    });
    if let Some(a) = row.age {
        v["age"] = json!(a);
    }
    if let Some(l) = row.lifetime_value {
        v["lifetime_value"] = json!(l);
    }
    if let Some(c) = row.signup_channel {
        v["signup_channel"] = json!(c);
    }
    v
}

/// What the offline files hold.
struct Scan {
    files: usize,
    partitions: usize,
    rows: u64,
    distinct_ids: u64,
    deleted: u64,
}

/// Reads every Parquet file under `dir` with the `parquet` crate.
fn scan_offline(dir: &Path) -> Result<Scan> {
    let mut files = Vec::new();
    collect_parquet(dir, &mut files)?;
    files.sort();
    let partitions: HashSet<&Path> = files.iter().filter_map(|f| f.parent()).collect();
    let mut ids = HashSet::new();
    let (mut rows, mut deleted) = (0u64, 0u64);
    for path in &files {
        let file = File::open(path).with_context(|| path.display().to_string())?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| path.display().to_string())?
            .build()?;
        for batch in reader {
            let batch = batch.with_context(|| path.display().to_string())?;
            rows += batch.num_rows() as u64;
            let id = batch
                .column_by_name(ID)
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                .with_context(|| format!("{}: no Int64 column {ID}", path.display()))?;
            ids.extend(id.iter().flatten());
            if let Some(d) = batch
                .column_by_name(IS_DELETED)
                .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
            {
                deleted += d.true_count() as u64;
            }
        }
    }
    Ok(Scan {
        files: files.len(),
        partitions: partitions.len(),
        rows,
        distinct_ids: ids.len() as u64,
        deleted,
    })
}

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            collect_parquet(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}
