//! The AWS sink's runs for `ingest-aws`: one fs-server with the injected
//! service time, and per level ours (the `featurestore` CLI, PutRecord and at
//! 128 in flight `--batch-write`) alternated with the SageMaker SDK anchor
//! per `max_processes`; each CLI run also reads fs-server's
//! `/_featurestore/stats` for its mean time and work per request.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

use super::Ctx;
use super::ingest::{
    CLI, CPU_BOUND_LEVEL, GROUP, INGEST, LEVELS, Level, Ours, SERVICE_MS, batch_rows_for, rows_for,
    sdk_processes,
};
use super::measure::{Results, RunOnce, Side, alternate, alternate_all, python_script, run};
use super::online::{FS_SERVER, bench_run};

/// What every level's runs share.
struct Setup<'a> {
    ctx: &'a Ctx,
    python: PathBuf,
    /// fs-server's endpoint.
    url: String,
    ours: Ours,
}

/// `ingest-aws`: measures every side, then makes the rows
/// ([`super::ingest::aws_rows`]).
pub(crate) fn aws(ctx: &Ctx) -> Vec<super::table::Row> {
    super::ingest::aws_rows(ctx, aws_sides(ctx))
}

/// Every level's sides, and why ours fell back to fs-ingest's bench.
fn aws_sides(ctx: &Ctx) -> Result<(Vec<Level>, Option<String>)> {
    let python = ctx.python()?;
    let ours = match ctx.exe(CLI) {
        Ok(cli) => Ours::Cli(cli),
        Err(e) => {
            let runs = match ctx.ingest_runs.borrow().clone() {
                Some(runs) => runs,
                None => {
                    alternate(
                        "ingest (for the AWS sink)",
                        ctx.reps,
                        || bench_run(ctx, INGEST, &[]),
                        None,
                    )
                    .0?
                }
            };
            Ours::Bench(runs, format!("{e:#}"))
        }
    };
    let store = ctx.scratch.join("ingest-aws-store");
    let (_server, url) = crate::procs::spawn_fs_server(
        &ctx.exe(FS_SERVER)?,
        &store,
        &[
            "--faults",
            "--service-time-ms",
            &SERVICE_MS.to_string(),
            "--fault-ops",
            "PutRecord,BatchWriteRecord",
        ],
    )?;
    let setup = Setup {
        ctx,
        python,
        url,
        ours,
    };
    let mut create = python_script(&setup.python, "sdk_ingest.py", &setup.endpoint());
    create.args(["--group", GROUP, "--create"]);
    run("sdk_ingest.py --create", &mut create)?;
    let levels = LEVELS
        .iter()
        .map(|&c| measure_level(&setup, c))
        .collect::<Result<Vec<Level>>>()?;
    let why = match setup.ours {
        Ours::Cli(_) => None,
        Ours::Bench(_, why) => Some(why),
    };
    Ok((levels, why))
}

impl Setup<'_> {
    /// `--endpoint URL` for the python scripts.
    fn endpoint(&self) -> [String; 2] {
        ["--endpoint".to_owned(), self.url.clone()]
    }

    /// Writes `rows` rows of the input into `<scratch>/<name>.parquet`.
    fn input(&self, name: &str, rows: usize) -> Result<PathBuf> {
        let path = self.ctx.scratch.join(format!("{name}.parquet"));
        let args = [
            "--out".into(),
            path.display().to_string(),
            "--rows".into(),
            rows.to_string(),
        ];
        run(
            "ingest_data.py",
            &mut python_script(&self.python, "ingest_data.py", &args),
        )?;
        Ok(path)
    }

    /// One run of the SDK anchor over `input`: `processes` processes of
    /// `c / processes` threads.
    fn sdk(&self, input: &Path, c: usize, processes: usize) -> Result<Results> {
        let mut cmd = python_script(&self.python, "sdk_ingest.py", &self.endpoint());
        cmd.args(["--group", GROUP, "--input"])
            .arg(input)
            .args(["--workers", &(c / processes).max(1).to_string()])
            .args(["--processes", &processes.to_string()]);
        if self.ctx.sagemaker.is_err() {
            cmd.arg("--reproduce");
        }
        Ok(run("sdk_ingest.py", &mut cmd)?.results)
    }
}

/// Measures one level: ours (and at [`CPU_BOUND_LEVEL`] ours with
/// `--batch-write`) and the SDK per `max_processes`, all alternated.
fn measure_level(s: &Setup<'_>, c: usize) -> Result<Level> {
    let input = s.input(&format!("ingest-{c}"), rows_for(s.ctx, c))?;
    let processes = sdk_processes();
    let input_ref = &input;
    let mut sdk_runs: Vec<_> = processes
        .iter()
        .map(|&p| move || s.sdk(input_ref, c, p))
        .collect();
    let sdk_sides: Vec<&mut RunOnce<'_>> =
        sdk_runs.iter_mut().map(|f| f as &mut RunOnce<'_>).collect();
    let (put, batch, sdk) = match &s.ours {
        Ours::Cli(cli) => cli_level(s, c, cli, &input, sdk_sides)?,
        Ours::Bench(runs, why) => {
            let mut sides = sdk_sides;
            let sdk = alternate_all(
                &format!("ingest-aws, {c} in flight"),
                s.ctx.reps,
                &mut sides,
            );
            let batch = (c == CPU_BOUND_LEVEL).then(|| {
                Err(anyhow!(
                    "`--batch-write` needs the `featurestore` CLI: {why}"
                ))
            });
            (bench_level(runs, c), batch, sdk)
        }
    };
    Ok(Level {
        c,
        put,
        batch,
        sdk: processes.into_iter().zip(sdk).collect(),
    })
}

/// A level with the CLI as ours: its PutRecord runs, its `--batch-write`
/// runs (at [`CPU_BOUND_LEVEL`]) and the `sdk` sides, alternated.
fn cli_level(
    s: &Setup<'_>,
    c: usize,
    cli: &Path,
    input: &Path,
    sdk: Vec<&mut RunOnce<'_>>,
) -> Result<(Side, Option<Side>, Vec<Side>)> {
    let ctx = s.ctx;
    let put = CliIngest {
        cli,
        url: &s.url,
        input: input.to_path_buf(),
        concurrency: c,
        batch_write: false,
    };
    let batch = if c == CPU_BOUND_LEVEL {
        let input = s.input(&format!("ingest-{c}-batch"), batch_rows_for(ctx, c))?;
        Some(CliIngest {
            input,
            batch_write: true,
            ..put.clone()
        })
    } else {
        None
    };
    let mut put_run = || put.run(ctx);
    let mut batch_run = || match &batch {
        Some(b) => b.run(ctx),
        None => bail!("no --batch-write run at {c} in flight"),
    };
    let mut sides: Vec<&mut RunOnce<'_>> = vec![&mut put_run];
    if batch.is_some() {
        sides.push(&mut batch_run);
    }
    for f in sdk {
        sides.push(f);
    }
    let name = format!("ingest-aws, {c} in flight");
    let mut out = alternate_all(&name, ctx.reps, &mut sides).into_iter();
    let put = out.next().unwrap_or_else(|| Ok(Vec::new()));
    let batch = batch
        .is_some()
        .then(|| out.next().unwrap_or_else(|| Ok(Vec::new())));
    Ok((put, batch, out.collect()))
}

/// Ours at `c` in flight from fs-ingest's bench runs.
fn bench_level(runs: &[Results], c: usize) -> Side {
    runs.iter()
        .map(|r| {
            let v = r.get(&format!("aws_sink_c{c}"), "rows/s")?;
            let mut o = Results::default();
            o.insert("ours_ingest", v, "rows/s");
            Ok(o)
        })
        .collect()
}

/// One `featurestore --aws … ingest` configuration.
#[derive(Clone)]
struct CliIngest<'a> {
    cli: &'a Path,
    url: &'a str,
    input: PathBuf,
    concurrency: usize,
    /// `--batch-write`: BatchWriteRecord instead of one PutRecord per row.
    batch_write: bool,
}

impl CliIngest<'_> {
    /// The operation it sends.
    fn op(&self) -> &'static str {
        if self.batch_write {
            "BatchWriteRecord"
        } else {
            "PutRecord"
        }
    }

    /// One run: its report's rows/s (the writing pass; `--failures` makes
    /// it the only pass) and rows written, and fs-server's mean time per
    /// request during it (`server_latency`) and the part of it spent on
    /// the request's own work (`server_work`).
    fn run(&self, ctx: &Ctx) -> Result<Results> {
        let c = self.concurrency;
        let tag = format!("{c}{}", if self.batch_write { "-batch" } else { "" });
        let mut cmd = Command::new(self.cli);
        cmd.current_dir(&ctx.scratch)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["--aws", "--endpoint-url", self.url, "--region", "us-east-1"])
            .args(["--json", "ingest", GROUP])
            .arg(&self.input)
            .args(["--concurrency", &c.to_string(), "--failures"])
            .arg(ctx.scratch.join(format!("failures-{tag}.jsonl")))
            .arg("--checkpoint")
            .arg(ctx.scratch.join(format!("checkpoint-{tag}.json")));
        if self.batch_write {
            cmd.arg("--batch-write");
        }
        let before = crate::procs::fs_server_stats(self.url)?;
        let out = cmd.output().context("running featurestore ingest")?;
        let after = crate::procs::fs_server_stats(self.url)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "featurestore ingest failed with {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                stdout
            );
        }
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .with_context(|| format!("featurestore --json ingest printed {stdout:?}"))?;
        let mut r = Results::default();
        let rps = report["rows_per_sec"]
            .as_f64()
            .context("no rows_per_sec in the ingest report")?;
        r.insert("ours_ingest", rps, "rows/s");
        let written = report["rows_written"]
            .as_u64()
            .context("no rows_written in the ingest report")?;
        r.insert("rows_written", written as f64, "rows");
        if let Some(ms) = mean_ms(&before, &after, self.op(), "total_micros") {
            r.insert("server_latency", ms, "ms");
        }
        if let Some(ms) = mean_ms(&before, &after, self.op(), "work_micros") {
            r.insert("server_work", ms, "ms");
        }
        Ok(r)
    }
}

/// fs-server's mean time per `op` request between two
/// `/_featurestore/stats`: `micros` is `total_micros` (arrival to answer)
/// or `work_micros` (arrival to the answer being ready, before it waits
/// out the service time).
fn mean_ms(
    before: &serde_json::Map<String, serde_json::Value>,
    after: &serde_json::Map<String, serde_json::Value>,
    op: &str,
    micros: &str,
) -> Option<f64> {
    let delta = |what: &str| {
        let get = |m: &serde_json::Map<String, serde_json::Value>| {
            m.get(&format!("{op}.{what}"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        get(after).saturating_sub(get(before))
    };
    let answered = delta("answered");
    (answered > 0).then(|| delta(micros) as f64 / answered as f64 / 1e3)
}
