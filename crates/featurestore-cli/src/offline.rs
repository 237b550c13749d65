//! The offline-store commands: `dataset` (training data built from the
//! offline store: latest rows, point-in-time joins, written to a file or
//! shown) and `sync` (with `--aws`, SageMaker's offline store copied from
//! S3 into the local cache that `dataset --aws` reads).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use featurestore::arrow::compute::concat_batches;
use featurestore::offline::output::{OutputFormat, ParquetOptions, write};
use featurestore::offline::{
    DatasetBuilder, DatasetSpec, EngineOptions, Entities, EntitySource, JoinSpec,
};
use featurestore::schema::EventTime;
use futures::TryStreamExt;
use serde_json::json;

use crate::backend::{Backend, Open};
use crate::cli::{DatasetArgs, Global, SyncArgs};
use crate::output::{batch_table, bytes, count, duration, print_json};

/// A time given on the command line.
fn time(flag: &str, value: &str) -> Result<EventTime> {
    EventTime::parse_iso(value).with_context(|| {
        format!("--{flag} {value:?} (expected ISO-8601 UTC such as 2024-05-01T00:00:00Z)")
    })
}

/// `90s`, `15m`, `2h`, `7d`.
fn parse_duration(value: &str) -> Result<Duration> {
    let (digits, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let n: u64 = digits.parse().map_err(|_| {
        anyhow::anyhow!("max-age={value:?}: expected a number and a unit (s, m, h, d), e.g. 7d")
    })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("max-age={value:?}: the unit must be s, m, h or d"),
    };
    Ok(Duration::from_secs(secs))
}

/// `GROUP[:on=COL][:features=a,b][:max-age=7d][:left][:prefix=P]`.
async fn join_spec(backend: &Backend, text: &str) -> Result<JoinSpec> {
    let mut parts = text.split(':');
    let name = parts.next().unwrap_or_default();
    if name.is_empty() {
        bail!("--join {text:?}: starts with the feature group's name");
    }
    let group = backend.describe(name).await?.spec;
    let mut join = JoinSpec::new(group);
    for part in parts {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        join = match (key, value) {
            ("on", col) if !col.is_empty() => join.on(col),
            ("features", list) if !list.is_empty() => join.features(list.split(',')),
            ("max-age", d) => join.max_age(parse_duration(d)?),
            ("left", "") => join.left(),
            ("prefix", p) if !p.is_empty() => join.prefix(p),
            _ => bail!(
                "--join {text:?}: unknown option {part:?} (options: on=COL, features=a,b, max-age=7d, left, prefix=P)"
            ),
        };
    }
    Ok(join)
}

/// `dataset`.
pub(crate) async fn dataset(global: &Global, args: &DatasetArgs) -> Result<()> {
    let options = EngineOptions {
        memory_limit: args.memory_limit,
        ..EngineOptions::default()
    };
    let backend = Backend::connect_with(global, Open::Existing, args.engine, options).await?;
    let spec = dataset_builder(&backend, args).await?.build()?;
    if args.sql {
        let sql = backend.store().dataset_sql(&spec).await?;
        if global.json {
            print_json(&json!({ "sql": sql }))?;
        } else {
            println!("{sql}");
        }
        return backend.close();
    }
    // A wrong --out is reported before anything is built.
    let format = args.out.as_deref().map(output_format).transpose()?;
    let started = Instant::now();
    let (stream, kept) = open_dataset(&backend, &spec, args.no_reuse).await?;
    match (&args.out, format) {
        (Some(out), Some(format)) => {
            write_dataset(global, backend, (stream, kept), (out, format), started).await
        }
        _ => show_dataset(global, backend, stream, kept, args.show, started).await,
    }
}

/// Which kept dataset a command read or built: its id, and whether it
/// was reused.
type Kept = Option<(String, bool)>;

/// The dataset's rows: from its kept artifact (read back, or built and
/// kept) unless `no_reuse`, or where datasets are not kept (Athena),
/// built afresh.
async fn open_dataset(
    backend: &Backend,
    spec: &DatasetSpec,
    no_reuse: bool,
) -> Result<(featurestore::offline::BatchStream, Kept)> {
    let store = backend.store();
    if no_reuse || store.dataset_artifacts().is_none() {
        return Ok((store.dataset_fresh(spec).await?, None));
    }
    let artifact = store.dataset_artifact(spec).await?;
    let kept = Some((artifact.id().to_owned(), artifact.reused()));
    Ok((artifact.stream()?, kept))
}

/// The kept dataset as JSON fields.
fn kept_json(kept: &Kept) -> serde_json::Value {
    match kept {
        Some((id, reused)) => json!({ "dataset_id": id, "reused": reused }),
        None => json!({ "dataset_id": null, "reused": false }),
    }
}

/// The kept dataset as a line of text.
fn kept_line(kept: &Kept) -> String {
    match kept {
        Some((id, true)) => format!("dataset {id} (read back: nothing rebuilt)"),
        Some((id, false)) => format!("dataset {id} (built and kept)"),
        None => "dataset not kept (--no-reuse, or built on Athena)".to_owned(),
    }
}

/// Adds the kept dataset's fields to a JSON object.
fn with_kept(mut v: serde_json::Value, kept: &Kept) -> serde_json::Value {
    if let (serde_json::Value::Object(map), serde_json::Value::Object(extra)) =
        (&mut v, kept_json(kept))
    {
        map.extend(extra);
    }
    v
}

/// The dataset the flags describe: a base group or an entity table, the
/// filters, and the joins.
async fn dataset_builder(backend: &Backend, args: &DatasetArgs) -> Result<DatasetBuilder> {
    let mut builder = match (&args.group, &args.entities) {
        (Some(group), None) => DatasetBuilder::from_group(backend.describe(group).await?.spec),
        (None, Some(file)) => {
            if !file.is_file() {
                bail!("{}: no such file", file.display());
            }
            DatasetBuilder::from_entities(Entities {
                source: EntitySource::File(file.clone()),
                id_column: args.entity_id.clone().unwrap_or_default(),
                time_column: args.entity_time.clone().unwrap_or_default(),
            })
        }
        _ => bail!("give either a base feature group or --entities FILE"),
    };
    if let Some(features) = &args.features {
        builder = builder.features(features.iter().cloned());
    }
    if let Some(t) = &args.as_of {
        builder = builder.as_of(time("as-of", t)?);
    }
    if args.from.is_some() || args.to.is_some() {
        let from = args.from.as_deref().map(|t| time("from", t)).transpose()?;
        let to = args.to.as_deref().map(|t| time("to", t)).transpose()?;
        builder = builder.event_time_range(from, to);
    }
    if args.include_deleted {
        builder = builder.include_deleted_records();
    }
    if args.include_duplicates {
        builder = builder.include_duplicated_records();
    }
    if let Some(n) = args.recent {
        builder = builder.recent_records_per_id(n);
    }
    if args.metadata {
        builder = builder.include_metadata();
    }
    if let Some(n) = args.limit {
        builder = builder.limit(n);
    }
    for text in &args.join {
        builder = builder.join(join_spec(backend, text).await?);
    }
    Ok(builder)
}

/// `dataset --out FILE`: the whole dataset written to FILE, streamed.
async fn write_dataset(
    global: &Global,
    backend: Backend,
    (stream, kept): (featurestore::offline::BatchStream, Kept),
    (out, format): (&Path, OutputFormat),
    started: Instant,
) -> Result<()> {
    let report = write(stream, out, format).await?;
    let elapsed = started.elapsed();
    backend.close()?;
    if global.json {
        print_json(&with_kept(
            json!({
                "out": out, "rows": report.rows, "bytes": report.bytes,
                "seconds": elapsed.as_secs_f64(),
            }),
            &kept,
        ))?;
    } else {
        println!(
            "wrote {} rows ({}) to {} in {}",
            count(report.rows),
            bytes(report.bytes),
            out.display(),
            duration(elapsed)
        );
        println!("{}", kept_line(&kept));
    }
    Ok(())
}

/// The format `--out FILE` asks for, by its extension.
fn output_format(out: &Path) -> Result<OutputFormat> {
    Ok(match out.extension().and_then(|e| e.to_str()) {
        Some("parquet") => OutputFormat::Parquet(ParquetOptions::default()),
        Some("csv") => OutputFormat::Csv,
        Some("arrow" | "feather") => OutputFormat::ArrowIpc,
        _ => bail!(
            "{}: the output file must end in .parquet, .csv or .arrow",
            out.display()
        ),
    })
}

/// `dataset` without `--out`: the first `show` rows shown, every row counted.
async fn show_dataset(
    global: &Global,
    backend: Backend,
    mut stream: featurestore::offline::BatchStream,
    kept: Kept,
    show: usize,
    started: Instant,
) -> Result<()> {
    let schema = stream.schema();
    let mut shown = Vec::new();
    let mut taken = 0usize;
    let mut rows = 0u64;
    while let Some(batch) = stream.try_next().await? {
        rows += batch.num_rows() as u64;
        if taken < show {
            let take = batch.num_rows().min(show - taken);
            taken += take;
            shown.push(batch.slice(0, take));
        }
    }
    let elapsed = started.elapsed();
    backend.close()?;
    let head = concat_batches(&schema, &shown)?;
    if global.json {
        print_json(&with_kept(
            json!({
                "rows": rows,
                "columns": schema.fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>(),
                "head": crate::output::batch_json(&head),
                "seconds": elapsed.as_secs_f64(),
            }),
            &kept,
        ))?;
    } else {
        if head.num_rows() > 0 {
            println!("{}", batch_table(&head)?);
        }
        let more = if rows > head.num_rows() as u64 {
            format!(
                " (first {} shown; --out FILE writes them all)",
                head.num_rows()
            )
        } else {
            String::new()
        };
        println!("{} rows in {}{more}", count(rows), duration(elapsed));
        println!("{}", kept_line(&kept));
    }
    Ok(())
}

/// `sync`.
#[cfg_attr(not(feature = "aws"), allow(unused_variables))]
pub(crate) async fn sync(global: &Global, args: &SyncArgs) -> Result<()> {
    if !global.aws {
        bail!(
            "sync copies SageMaker's offline store from S3 into --cache; it needs --aws \
             (the embedded store's offline files are local already)"
        );
    }
    #[cfg(not(feature = "aws"))]
    bail!(
        "--aws needs the AWS support, which this build leaves out; \
         build with `cargo build -p featurestore-cli --features aws`"
    );
    #[cfg(feature = "aws")]
    {
        use featurestore::offline::cache::SyncOptions;
        let from = args.from.as_deref().map(|t| time("from", t)).transpose()?;
        let to = args.to.as_deref().map(|t| time("to", t)).transpose()?;
        let backend = Backend::connect(global, Open::Existing).await?;
        let bar = crate::output::interactive(global.json).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
                    .expect("a valid template"),
            );
            bar
        });
        let mut options = SyncOptions::new()
            .event_time_range(from, to)
            .concurrency(args.concurrency.max(1))
            .max_concurrency(args.max_concurrency.max(1))
            .part_size(args.part_size as u64);
        if let Some(bar) = bar.clone() {
            options = options.on_progress(move |p| {
                bar.set_length(p.bytes_total);
                bar.set_position(p.bytes_done);
                let left = p.eta().map_or_else(|| "?".to_owned(), duration);
                bar.set_message(format!(
                    "{}/{} objects, {}/s, {left} left",
                    p.objects_done,
                    p.objects_total,
                    bytes(p.bytes_per_sec() as u64)
                ));
            });
        }
        let report = backend.store().sync(&args.group, &options).await?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        backend.close()?;
        if global.json {
            print_json(&json!({
                "group": args.group,
                "uri": report.uri,
                "local_path": report.local_path,
                "objects_listed": report.objects_listed,
                "objects_fetched": report.objects_fetched,
                "objects_skipped": report.objects_skipped,
                "objects_repaired": report.objects_repaired,
                "bytes_fetched": report.bytes_fetched,
                "connections": report.connections,
                "deleted_remote": report.deleted_remote,
                "seconds": report.duration.as_secs_f64(),
            }))?;
        } else {
            println!(
                "{}: fetched {} of {} objects ({}{}), {} already held, in {}; local copy in {}",
                args.group,
                count(report.objects_fetched),
                count(report.objects_listed),
                bytes(report.bytes_fetched),
                if report.objects_fetched > 0 {
                    format!(", {} connections", report.connections)
                } else {
                    String::new()
                },
                count(report.objects_skipped),
                duration(report.duration),
                report.local_path.display()
            );
        }
        Ok(())
    }
}
