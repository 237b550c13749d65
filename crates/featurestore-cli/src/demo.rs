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
use featurestore::online::{DeleteOptions, OnlineStore, OnlineStoreExt};
use featurestore::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use featurestore::schema::EventTime;
use futures::TryStreamExt;
use serde_json::{Value, json};

use crate::backend::{Backend, Open, open_local};
use crate::cli::{CreateGroupArgs, DataFormat, DemoArgs, Global};
use crate::groups::build_spec;
use crate::ingest::{self, Plan};
use crate::output::{
    batch_json, batch_table, bytes, count, duration, interactive, millis, print_json, table,
};
use crate::synthetic::{self, ID, Row, Written};

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
    /// Keeps a finished step and, in text mode, prints it.
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

    /// The whole demo as one JSON document.
    fn to_json(&self, place: &Place, total: Duration) -> Value {
        json!({
            "dir": place.dir,
            "kept": place.temp.is_none(),
            "total_ms": millis(total),
            "steps": self.done.iter().enumerate().map(|(i, s)| json!({
                "step": i + 1,
                "name": s.name,
                "ms": millis(s.elapsed),
                "summary": s.summary,
                "details": s.details,
            })).collect::<Vec<_>>(),
        })
    }

    /// The table of steps, and where a kept store is.
    fn print_summary(&self, place: &Place, total: Duration) {
        let mut t = table(["step", "result", "time"]);
        for (i, s) in self.done.iter().enumerate() {
            t.add_row([
                format!("{} {}", i + 1, s.name),
                s.summary.clone(),
                duration(s.elapsed),
            ]);
        }
        t.add_row(["total".to_owned(), String::new(), duration(total)]);
        println!("\nsummary\n{t}");
        if place.temp.is_none() {
            println!(
                "the store is in {}: try `featurestore --store {} describe-feature-group {GROUP}`",
                place.store_dir.display(),
                place.store_dir.display()
            );
        }
    }
}

/// `demo`.
pub(crate) async fn command(global: &Global, args: &DemoArgs) -> Result<()> {
    if global.aws {
        bail!("the demo runs on an embedded store of its own; drop --aws");
    }
    let started = Instant::now();
    let place = Place::new(args.dir.as_ref())?;
    if !global.json {
        place.introduce();
    }
    place.refuse_an_earlier_demo()?;
    let mut steps = Steps {
        json: global.json,
        done: Vec::new(),
    };
    let written = create_dataset(&mut steps, &place.data, args.rows)?;
    let backend = create_group(&mut steps, &place).await?;
    ingest_dataset(&mut steps, &backend, &place.data, &written, global.json).await?;
    let known = read_online(&mut steps, &backend, args.rows).await?;
    read_offline(&mut steps, &backend, &known, &written).await?;
    backend.close()?;
    let total = started.elapsed();
    if global.json {
        print_json(&steps.to_json(&place, total))?;
    } else {
        steps.print_summary(&place, total);
    }
    drop(place);
    Ok(())
}

/// Where the demo keeps its files: `--dir`, or a temporary directory
/// removed when this is dropped.
struct Place {
    dir: PathBuf,
    temp: Option<tempfile::TempDir>,
    store_dir: PathBuf,
    data: PathBuf,
}

impl Place {
    /// `dir` (created if needed), or a new temporary directory.
    fn new(dir: Option<&PathBuf>) -> Result<Place> {
        let (dir, temp) = match dir {
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
        Ok(Place {
            store_dir: dir.join("store"),
            data: dir.join("customers.csv"),
            dir,
            temp,
        })
    }

    /// Says where the demo runs and whether its files stay.
    fn introduce(&self) {
        println!(
            "featurestore demo: the feature store workflow on an embedded store in {}",
            self.dir.display()
        );
        println!(
            "({})",
            if self.temp.is_some() {
                "a temporary directory, removed at the end; pass --dir DIR to keep it"
            } else {
                "kept after the demo"
            }
        );
    }

    /// Fails when `--dir` holds the group of an earlier demo.
    fn refuse_an_earlier_demo(&self) -> Result<()> {
        if self.store_dir.is_dir() {
            let store = open_local(&self.store_dir, Open::Existing)?;
            if store.describe_feature_group(GROUP).is_ok() {
                bail!(
                    "{} already holds the demo's feature group {GROUP:?}; remove {} or pass another --dir",
                    self.store_dir.display(),
                    self.dir.display()
                );
            }
        }
        Ok(())
    }
}

/// Step 1: the synthetic dataset, as CSV in `data`.
fn create_dataset(steps: &mut Steps, data: &Path, rows: u64) -> Result<Written> {
    let t = Instant::now();
    let written = synthetic::write(data, DataFormat::Csv, rows, SEED)?;
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
            format!("columns: {}", synthetic::COLUMNS.join(", ")),
        ],
        json!({"file": data, "rows": written.rows, "customers": written.customers, "bytes": written.bytes}),
    );
    Ok(written)
}

/// Step 2: the embedded store, and in it a feature group inferred from the
/// dataset.
async fn create_group(steps: &mut Steps, place: &Place) -> Result<Backend> {
    let t = Instant::now();
    let spec = build_spec(
        &CreateGroupArgs {
            name: GROUP.into(),
            definition: None,
            from_data: Some(place.data.clone()),
            record_id: Some(ID.into()),
            event_time: Some(synthetic::EVENT_TIME.into()),
            offline_s3_uri: None,
            role_arn: None,
            no_online: false,
            dry_run: false,
        },
        false,
    )?;
    let backend = Backend::from_local(open_local(&place.store_dir, Open::OrCreate)?);
    let info = backend.create(spec).await?;
    let features: Vec<String> = info
        .spec
        .feature_definitions
        .iter()
        .map(|d| format!("{} {}", d.name, d.feature_type))
        .collect();
    steps.finish(
        "create a feature group",
        t,
        format!(
            "{GROUP:?}: {} features, online and offline stores",
            features.len()
        ),
        &[
            format!(
                "inferred from {}",
                place.data.file_name().unwrap_or_default().to_string_lossy()
            ),
            format!("features: {}", features.join(", ")),
            format!(
                "record identifier {ID}, event time {}",
                synthetic::EVENT_TIME
            ),
        ],
        json!({"group": GROUP, "features": features, "arn": info.arn}),
    );
    Ok(backend)
}

/// Step 3: the dataset ingested, every row written.
async fn ingest_dataset(
    steps: &mut Steps,
    backend: &Backend,
    data: &Path,
    written: &Written,
    json_output: bool,
) -> Result<()> {
    let t = Instant::now();
    let done = ingest::run(
        backend,
        &Plan {
            group: GROUP.into(),
            inputs: vec![data.to_path_buf()],
            concurrency: 1,
            failures: None,
            resume: false,
            checkpoint: None,
            shard: None,
            batch_size: featurestore::ingest::DEFAULT_BATCH_SIZE,
            progress: interactive(json_output),
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
        t,
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
    Ok(())
}

/// Step 4: a few known customers read online, one at a time and in one
/// batch, each checked against the dataset's latest row; returns them.
async fn read_online(steps: &mut Steps, backend: &Backend, rows: u64) -> Result<Vec<(Row, u32)>> {
    let t = Instant::now();
    let known = known_records(rows)?;
    let ids = ids_of(&known);
    let online = backend.online();
    let mut gets = time_each_get(online.as_ref(), &ids).await?;
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
        t,
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
    Ok(known)
}

/// The record identifiers of `known`.
fn ids_of(known: &[(Row, u32)]) -> Vec<String> {
    known
        .iter()
        .map(|(row, _)| row.customer_id.to_string())
        .collect()
}

/// Reads each of `ids` on its own; the time of each read, in order.
async fn time_each_get(online: &dyn OnlineStore, ids: &[String]) -> Result<Vec<Duration>> {
    let mut gets = Vec::with_capacity(ids.len());
    for id in ids {
        let t = Instant::now();
        let got = online.get(GROUP, id, None).await?;
        gets.push(t.elapsed());
        ensure!(got.is_some(), "customer {id} is not in the online store");
    }
    Ok(gets)
}

/// Step 5: the last known customer deleted, the outbox flushed, the offline
/// files counted, and the training dataset built and checked.
async fn read_offline(
    steps: &mut Steps,
    backend: &Backend,
    known: &[(Row, u32)],
    written: &Written,
) -> Result<()> {
    let t = Instant::now();
    let ids = ids_of(known);
    let (gone, _) = known
        .last()
        .context("the demo reads at least one customer")?;
    let gone_id = delete_customer(backend, gone).await?;
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
    let training = build_training_dataset(backend, &ids).await?;
    check_training_dataset(&training, known, written)?;
    steps.finish(
        "read offline",
        t,
        format!(
            "training dataset of {} customers (latest each, 1 deleted) from {} rows in {}",
            count(training.rows),
            count(scan.rows),
            duration(training.elapsed)
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
                count(training.rows),
                duration(training.elapsed)
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
            "dataset_rows": training.rows,
            "dataset_ms": millis(training.elapsed),
        }),
    );
    Ok(())
}

/// Deletes the customer of `row` (soft, a second after its latest event
/// time); returns its identifier.
async fn delete_customer(backend: &Backend, row: &Row) -> Result<String> {
    let id = row.customer_id.to_string();
    let delete_at = EventTime::parse_iso(&row.event_time)?.as_millis() + 1_000;
    backend
        .online()
        .delete_record(
            GROUP,
            &id,
            &EventTime::from_millis(delete_at)?.to_iso(),
            &DeleteOptions::default(),
        )
        .await?;
    Ok(id)
}

/// The training dataset as the demo checks it.
struct Training {
    /// Its rows.
    rows: u64,
    /// Its rows of the customers the demo reads, as JSON.
    found: Vec<Value>,
    /// How long building and reading it took.
    elapsed: Duration,
}

/// Builds the group's training dataset (latest row per customer, deleted
/// customers left out) and keeps the rows of `ids`.
async fn build_training_dataset(backend: &Backend, ids: &[String]) -> Result<Training> {
    let spec = backend.store().dataset_builder(GROUP).await?.build()?;
    let started = Instant::now();
    let mut stream = backend.store().dataset(&spec).await?;
    let mut rows = 0u64;
    let mut found: Vec<Value> = Vec::new();
    while let Some(batch) = stream.try_next().await? {
        rows += batch.num_rows() as u64;
        found.extend(batch_json(&batch).into_iter().filter(|row| {
            ids.iter()
                .any(|id| row[ID] == id.parse::<i64>().unwrap_or(-1))
        }));
    }
    Ok(Training {
        rows,
        found,
        elapsed: started.elapsed(),
    })
}

/// Checks the training dataset: one row per customer but the deleted one
/// (the last of `known`), and each other known customer's latest row.
fn check_training_dataset(
    training: &Training,
    known: &[(Row, u32)],
    written: &Written,
) -> Result<()> {
    let (gone, _) = known
        .last()
        .context("the demo reads at least one customer")?;
    ensure!(
        training.rows == written.customers - 1,
        "the training dataset has {} rows; expected one per customer except the deleted one ({})",
        training.rows,
        written.customers - 1
    );
    ensure!(
        !training.found.iter().any(|row| row[ID] == gone.customer_id),
        "deleted customer {} is in the training dataset",
        gone.customer_id
    );
    for (row, _) in &known[..known.len() - 1] {
        let expected = expected_json(row);
        let got = training
            .found
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
    Ok(())
}

/// A few customers to read back, with the dataset's latest row of each and
/// its number of versions: the first three, the one with most versions, and
/// the last one.
fn known_records(rows: u64) -> Result<Vec<(Row, u32)>> {
    let mut versions: Vec<u32> = Vec::new();
    for row in synthetic::rows(rows, SEED) {
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
    for row in synthetic::rows(rows, SEED) {
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
        synthetic::EVENT_TIME: row.event_time,
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
