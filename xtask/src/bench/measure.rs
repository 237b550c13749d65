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
            eprintln!("{line}");
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

/// One side's run: a process (or several) measured once.
pub(crate) type RunOnce<'a> = dyn FnMut() -> Result<Results> + 'a;

/// Runs `a` and `b` `reps` times each, alternating (A B A B …), so that both
/// see the same drift in a noisy machine. A side that fails stops being
/// run; its error is kept.
pub(crate) fn alternate<'a>(
    name: &str,
    reps: usize,
    mut a: impl FnMut() -> Result<Results> + 'a,
    b: Option<&mut RunOnce<'a>>,
) -> (Side, Side) {
    let mut sides: Vec<&mut RunOnce<'a>> = vec![&mut a];
    let has_b = b.is_some();
    sides.extend(b);
    let mut out = alternate_all(name, reps, &mut sides).into_iter();
    let ra = out.next().unwrap_or_else(|| Ok(Vec::new()));
    let rb = match out.next() {
        Some(rb) if has_b => rb,
        _ => Ok(Vec::new()),
    };
    (ra, rb)
}

/// Runs every side `reps` times, in turn (A B C A B C …), so that all see
/// the same drift in a noisy machine; one [`Side`] per side, in order. A
/// side that fails stops being run; its error is kept.
pub(crate) fn alternate_all(name: &str, reps: usize, sides: &mut [&mut RunOnce<'_>]) -> Vec<Side> {
    let mut out: Vec<Side> = sides.iter().map(|_| Ok(Vec::new())).collect();
    for i in 0..reps {
        eprintln!("==> {name}: run {} of {reps}", i + 1);
        for (side, got) in sides.iter_mut().zip(out.iter_mut()) {
            if let Ok(v) = got {
                match side() {
                    Ok(r) => v.push(r),
                    Err(e) => *got = Err(e),
                }
            }
        }
    }
    out
}

/// The rows a side wrote (`name`, in rows): the fewest of its runs, so
/// that one short run shows; `None` when it did not run or did not say.
pub(crate) fn written(side: &Side, name: &str) -> Option<f64> {
    let runs = side.as_ref().ok()?;
    runs.iter()
        .map(|r| r.get(name, "rows").ok())
        .collect::<Option<Vec<f64>>>()?
        .into_iter()
        .reduce(f64::min)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_side_runs_in_turn_and_a_failed_side_stops() {
        let order = std::cell::RefCell::new(Vec::new());
        let mut a = || {
            order.borrow_mut().push('a');
            Ok(Results::default())
        };
        let mut b = || -> Result<Results> {
            order.borrow_mut().push('b');
            bail!("b fails")
        };
        let mut c = || {
            order.borrow_mut().push('c');
            Ok(Results::default())
        };
        let sides = alternate_all("t", 2, &mut [&mut a, &mut b, &mut c]);
        assert_eq!(order.into_inner(), ['a', 'b', 'c', 'a', 'c']);
        assert_eq!(sides[0].as_ref().map(Vec::len).ok(), Some(2));
        assert!(sides[1].is_err());
        assert_eq!(sides[2].as_ref().map(Vec::len).ok(), Some(2));
    }

    #[test]
    fn written_is_the_fewest_rows_of_the_runs() {
        let runs = [10.0, 9.0, 10.0].map(|v| {
            let mut r = Results::default();
            r.insert("rows_written", v, "rows");
            r
        });
        assert_eq!(written(&Ok(runs.to_vec()), "rows_written"), Some(9.0));
        assert_eq!(written(&Ok(runs.to_vec()), "other"), None);
    }
}
