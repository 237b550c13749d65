//! Running one side of a pair: a process printing `RESULT name value unit`
//! lines, its results, repeated runs alternating two sides, and medians.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The numbers one run printed, by name: value and unit.
#[derive(Debug, Clone, Default)]
pub(crate) struct Results(pub(crate) BTreeMap<String, (f64, String)>);

impl Results {
    /// Parses every `RESULT name value unit …` line of `stdout`.
    pub(crate) fn parse(stdout: &str) -> Self {
        let mut out = BTreeMap::new();
        for line in stdout.lines() {
            let mut w = line.split_whitespace();
            if w.next() != Some("RESULT") {
                continue;
            }
            let (Some(name), Some(value), unit) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            if let Ok(v) = value.parse::<f64>() {
                out.insert(name.to_owned(), (v, unit.unwrap_or("").to_owned()));
            }
        }
        Self(out)
    }

    /// One number, with its unit checked.
    pub(crate) fn get(&self, name: &str, unit: &str) -> Result<f64> {
        match self.0.get(name) {
            Some((v, u)) if u == unit => Ok(*v),
            Some((_, u)) => bail!("result {name} is in {u:?}, expected {unit:?}"),
            None => bail!(
                "no result {name} (printed: {})",
                self.0.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Adds `name = value unit` (for numbers measured by the xtask itself).
    pub(crate) fn insert(&mut self, name: &str, value: f64, unit: &str) {
        self.0.insert(name.to_owned(), (value, unit.to_owned()));
    }
}

/// What a finished process left: its results, output and peak RSS.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) results: Results,
    /// Everything it printed on standard output.
    pub(crate) stdout: String,
    /// Peak resident set size in bytes (`VmHWM`, sampled while it ran).
    pub(crate) peak_rss: Option<u64>,
}

/// Runs `cmd` to the end, capturing standard output (standard error passes
/// through, its last lines kept for the error), sampling its peak RSS;
/// fails on a non-zero exit.
pub(crate) fn run(what: &str, cmd: &mut Command) -> Result<Run> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().context("child stdout")?;
    let stderr = child.stderr.take().context("child stderr")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut last: Vec<String> = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{line}");
            }
            if !line.trim().is_empty() {
                last.push(line);
                if last.len() > 3 {
                    last.remove(0);
                }
            }
        }
        last
    });
    let mut peak = None;
    let status = loop {
        if let Some(hwm) = vm_hwm(pid) {
            peak = Some(peak.unwrap_or(0).max(hwm));
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap_or_default();
    let last = err_reader.join().unwrap_or_default();
    if !status.success() {
        bail!("{what} failed ({status}): {}", last.join(" / "));
    }
    Ok(Run {
        results: Results::parse(&out),
        stdout: out,
        peak_rss: peak,
    })
}

/// A process's peak resident set size so far, from `/proc/PID/status`.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A side's runs, or why it could not run.
pub(crate) type Side = Result<Vec<Results>>;

/// Runs `a` and `b` `reps` times each, alternating (A B A B …), so that both
/// see the same drift in a noisy machine. A side that fails stops being
/// run; its error is kept.
#[allow(clippy::print_stderr)]
pub(crate) fn alternate(
    name: &str,
    reps: usize,
    mut a: impl FnMut() -> Result<Results>,
    mut b: Option<&mut dyn FnMut() -> Result<Results>>,
) -> (Side, Side) {
    let (mut ra, mut rb): (Side, Side) = (Ok(Vec::new()), Ok(Vec::new()));
    for i in 0..reps {
        eprintln!("==> {name}: run {} of {reps}", i + 1);
        if let Ok(v) = &mut ra {
            match a() {
                Ok(r) => v.push(r),
                Err(e) => ra = Err(e),
            }
        }
        if let (Some(b), Ok(v)) = (b.as_mut(), &mut rb) {
            match b() {
                Ok(r) => v.push(r),
                Err(e) => rb = Err(e),
            }
        }
    }
    (ra, rb)
}

/// The median of `name` over `runs` (all in `unit`).
pub(crate) fn median(runs: &[Results], name: &str, unit: &str) -> Result<f64> {
    let v = runs
        .iter()
        .map(|r| r.get(name, unit))
        .collect::<Result<Vec<f64>>>()?;
    median_of(v).with_context(|| format!("no runs of {name}"))
}

/// The median of `v` (the mean of the middle two for an even count).
pub(crate) fn median_of(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A python script of `xtask/bench/`, run by `python` with `args`.
pub(crate) fn python_script(python: &Path, script: &str, args: &[String]) -> Command {
    let mut cmd = Command::new(python);
    cmd.arg(crate::root().join("xtask").join("bench").join(script))
        .args(args)
        .env("PYTHONUNBUFFERED", "1");
    cmd
}
