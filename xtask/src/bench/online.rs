//! Online reads: in process (ours alone, against DESIGN.md's absolute
//! targets), and the Rust SDK client against boto3 on the same fs-server.

use std::process::Command;

use anyhow::Result;

use super::Ctx;
use super::build::{Target, bench, bin};
use super::measure::{Results, Side, alternate, median, python_script, run};
use super::table::{Q, Row, Target as Goal, Unit};

/// fs-online's in-process bench.
pub(crate) const ONLINE: Target = bench("fs-online", "online");
/// fs-online's SDK-to-server bench.
pub(crate) const SERVER: Target = bench("fs-online", "server");
/// The fs-server binary.
pub(crate) const FS_SERVER: Target = bin("fs-server", "fs-server");

/// The fewest samples a p99 is reported over (the benches print `_p99`
/// only then): below it, the rows show p90.
const P99_MIN_SAMPLES: usize = 1_000;

/// The tail percentile reported over `samples` calls: `p99`, or `p90`
/// below [`P99_MIN_SAMPLES`].
fn tail(samples: usize) -> &'static str {
    if samples >= P99_MIN_SAMPLES {
        "p99"
    } else {
        "p90"
    }
}

/// `1234` as `1,234`.
fn count(n: usize) -> String {
    super::table::thousands(n as f64)
}

/// A median in µs as a quantity, or why there is none.
pub(crate) fn micros(side: &Side, name: &str) -> Result<Q, String> {
    match side {
        Ok(runs) => median(runs, name, "us")
            .map(|v| Q(v, Unit::Micros))
            .map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// `online-local`: the embedded store in process.
pub(crate) fn local(ctx: &Ctx) -> Vec<Row> {
    let (ours, _) = alternate(
        "online-local",
        ctx.reps,
        || bench_run(ctx, ONLINE, &[]),
        None,
    );
    // The bench's sizes (crates/fs-online/benches/online.rs).
    let (records, gets, batches) = if ctx.quick {
        (5_000, 20_000, 50)
    } else {
        (100_000, 200_000, 1_000)
    };
    let (get_tail, arrow_tail, batch_tail) = (tail(gets), tail(gets / 4), tail(batches));
    let sizes = format!(
        "{} records of 100 features (a third each Integral, Fractional, String) \
         in an embedded store; {} single gets of ids drawn uniformly with replacement; no \
         anchor (DESIGN.md's absolute target)",
        count(records),
        count(gets)
    );
    let batch_target = Goal::AtMost(Q(10_000.0, Unit::Micros));
    vec![
        Row::alone(
            "online: local get p50",
            micros(&ours, "get_100_features_record_p50"),
            Goal::None,
            sizes,
        ),
        Row::alone(
            format!("online: local get {get_tail}"),
            micros(&ours, &format!("get_100_features_record_{get_tail}")),
            Goal::AtMost(Q(20.0, Unit::Micros)),
            "as above",
        ),
        Row::alone(
            format!("online: local batch get of 1,000 ids {batch_tail}"),
            micros(&ours, &format!("batch_get_1000_record_{batch_tail}")),
            batch_target,
            format!(
                "same store; {} calls of 1,000 distinct ids of one group drawn uniformly \
                 without replacement, as `Record`s (`batch_get_records`){}",
                count(batches),
                tail_note(batches)
            ),
        ),
        Row::alone(
            format!("online: local batch get of 1,000 ids as Arrow {batch_tail}"),
            micros(&ours, &format!("batch_get_1000_arrow_{batch_tail}")),
            batch_target,
            "the same calls as one Arrow batch (`OnlineStoreExt::batch_get`, decoded from the \
             stored typed values)",
        ),
        Row::alone(
            format!("online: local get as Arrow {arrow_tail}"),
            micros(&ours, &format!("get_100_features_arrow_{arrow_tail}")),
            Goal::None,
            format!(
                "{} single gets as a one-row Arrow batch (`OnlineStoreExt::get`)",
                count(gets / 4)
            ),
        ),
    ]
}

/// What a p90 row says: that its target is DESIGN.md's p99 one.
fn tail_note(samples: usize) -> &'static str {
    if samples >= P99_MIN_SAMPLES {
        ""
    } else {
        "; p90, not p99: a p99 is reported over at least 1,000 samples (the full run's \
         size), and the target is DESIGN.md's p99 one"
    }
}

/// Runs a bench binary with the run's size argument and `extra`.
pub(crate) fn bench_run(ctx: &Ctx, t: Target, extra: &[String]) -> Result<Results> {
    let exe = ctx.exe(t)?;
    let mut cmd = Command::new(&exe);
    cmd.args(ctx.size_args()).args(extra);
    Ok(run(&format!("{} bench {}", t.package, t.name), &mut cmd)?.results)
}

/// `online-server`: the Rust SDK client (through `AwsOnlineStore`) and
/// boto3, against one fs-server process over the same records.
pub(crate) fn server(ctx: &Ctx) -> Vec<Row> {
    let (ours, anchor) = match server_sides(ctx) {
        Ok(sides) => sides,
        Err(e) => {
            let why = format!("{e:#}");
            (Err(anyhow::anyhow!("{why}")), Err(anyhow::anyhow!("{why}")))
        }
    };
    let (records, gets, batches) = server_sizes(ctx);
    let (get_tail, batch_tail) = (tail(gets), tail(batches));
    let sizes = format!(
        "fs-server (release) on loopback over {} records of 20 features; {} GetRecord \
         calls of ids drawn uniformly with replacement on both sides, retries off. Ours: \
         aws-sdk-sagemakerfeaturestoreruntime through AwsOnlineStore; anchor: boto3 \
         `get_record`",
        count(records),
        count(gets)
    );
    vec![
        Row::pair(
            "online: SDK → fs-server GetRecord p50",
            micros(&ours, "sdk_get_record_20_features_p50"),
            micros(&anchor, "boto3_get_record_20_features_p50"),
            Goal::None,
            sizes,
        ),
        Row::pair(
            format!("online: SDK → fs-server GetRecord {get_tail}"),
            micros(&ours, &format!("sdk_get_record_20_features_{get_tail}")),
            micros(&anchor, &format!("boto3_get_record_20_features_{get_tail}")),
            Goal::AtMost(Q(1_000.0, Unit::Micros)),
            "as above",
        ),
        Row::pair(
            "online: SDK → fs-server batch get of 1,000 ids p50",
            micros(&ours, "sdk_batch_get_1000_p50"),
            micros(&anchor, "boto3_batch_get_1000_p50"),
            Goal::None,
            format!(
                "{} batches of 1,000 distinct ids drawn uniformly without replacement on both \
                 sides. Ours: `batch_get_records`, which splits into BatchGetRecord calls of \
                 100 ids run concurrently; anchor: one boto3 `batch_get_record` call of ten \
                 100-id entries (the API's limits)",
                count(batches)
            ),
        ),
        Row::pair(
            format!("online: SDK → fs-server batch get of 1,000 ids {batch_tail}"),
            micros(&ours, &format!("sdk_batch_get_1000_{batch_tail}")),
            micros(&anchor, &format!("boto3_batch_get_1000_{batch_tail}")),
            Goal::AtMost(Q(10_000.0, Unit::Micros)),
            format!("as above{}", tail_note(batches)),
        ),
    ]
}

/// The server bench's sizes (crates/fs-online/benches/server.rs): records,
/// GetRecord calls and 1,000-id batches.
fn server_sizes(ctx: &Ctx) -> (usize, usize, usize) {
    if ctx.quick {
        (2_000, 2_000, 30)
    } else {
        (20_000, 20_000, 1_000)
    }
}

fn server_sides(ctx: &Ctx) -> Result<(Side, Side)> {
    let store = ctx.scratch.join("online-server-store");
    let populated = bench_run(
        ctx,
        SERVER,
        &["--populate".into(), store.display().to_string()],
    )?;
    let records = populated.get("populated", "records")?;
    let (_server, url) = crate::procs::spawn_fs_server(&ctx.exe(FS_SERVER)?, &store, &[])?;
    let (_, gets, batches) = server_sizes(ctx);
    let python = ctx.python();
    let mut boto3 = || -> Result<Results> {
        let python = python.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let args = [
            "--endpoint".to_owned(),
            url.clone(),
            "--records".into(),
            format!("{records:.0}"),
            "--gets".into(),
            gets.to_string(),
            "--batches".into(),
            batches.to_string(),
        ];
        Ok(run(
            "online_boto3.py",
            &mut python_script(python, "online_boto3.py", &args),
        )?
        .results)
    };
    let ours_args = ["--endpoint".to_owned(), url.clone()];
    Ok(alternate(
        "online-server",
        ctx.reps,
        || bench_run(ctx, SERVER, &ours_args),
        Some(&mut boto3),
    ))
}
