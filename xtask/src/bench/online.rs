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
    let (records, gets) = if ctx.quick {
        ("5,000", "20,000")
    } else {
        ("100,000", "200,000")
    };
    let sizes = format!(
        "{records} records of 100 features (a third each Integral, Fractional, String) \
         in an embedded store; {gets} single gets of random ids; no anchor (DESIGN.md's \
         absolute target)"
    );
    vec![
        Row::alone(
            "online: local get p50",
            micros(&ours, "get_100_features_record_p50"),
            Goal::None,
            sizes.clone(),
        ),
        Row::alone(
            "online: local get p99",
            micros(&ours, "get_100_features_record_p99"),
            Goal::AtMost(Q(20.0, Unit::Micros)),
            "as above",
        ),
        Row::alone(
            "online: local batch get of 1,000 ids p99",
            micros(&ours, "batch_get_1000_record_p99"),
            Goal::AtMost(Q(10_000.0, Unit::Micros)),
            "same store; 1,000 random ids of one group per call, as `Record`s \
             (`batch_get_records`)",
        ),
        Row::alone(
            "online: local batch get of 1,000 ids as Arrow p99",
            micros(&ours, "batch_get_1000_arrow_p99"),
            Goal::AtMost(Q(10_000.0, Unit::Micros)),
            "the same calls as one Arrow batch (`OnlineStoreExt::batch_get`, decoded from the \
             stored typed values)",
        ),
        Row::alone(
            "online: local get as Arrow p99",
            micros(&ours, "get_100_features_arrow_p99"),
            Goal::None,
            "single gets as a one-row Arrow batch (`OnlineStoreExt::get`)",
        ),
    ]
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
    let (records, gets, batches) = if ctx.quick {
        ("2,000", "2,000", "30")
    } else {
        ("20,000", "20,000", "200")
    };
    let sizes = format!(
        "fs-server (release) on loopback over {records} records of 20 features; {gets} \
         GetRecord calls of random ids, retries off. Ours: aws-sdk-sagemakerfeaturestoreruntime \
         through AwsOnlineStore; anchor: boto3 `get_record`"
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
            "online: SDK → fs-server GetRecord p99",
            micros(&ours, "sdk_get_record_20_features_p99"),
            micros(&anchor, "boto3_get_record_20_features_p99"),
            Goal::AtMost(Q(1_000.0, Unit::Micros)),
            "as above",
        ),
        Row::pair(
            "online: SDK → fs-server batch get of 1,000 ids p50",
            micros(&ours, "sdk_batch_get_1000_p50"),
            micros(&anchor, "boto3_batch_get_1000_p50"),
            Goal::None,
            format!(
                "{batches} batches of 1,000 random ids. Ours: `batch_get_records`, which \
                 splits into BatchGetRecord calls of 100 ids run concurrently; anchor: one \
                 boto3 `batch_get_record` call of ten 100-id entries (the API's limits)"
            ),
        ),
        Row::pair(
            "online: SDK → fs-server batch get of 1,000 ids p99",
            micros(&ours, "sdk_batch_get_1000_p99"),
            micros(&anchor, "boto3_batch_get_1000_p99"),
            Goal::AtMost(Q(10_000.0, Unit::Micros)),
            "as above",
        ),
    ]
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
    let (gets, batches) = if ctx.quick {
        (2_000, 30)
    } else {
        (20_000, 200)
    };
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
