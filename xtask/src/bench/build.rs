//! Release builds of the bench binaries (and fs-server, the CLI), once per
//! run; the binaries are then run directly, not through `cargo bench`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{cargo_output, root};

/// A target to build: package, kind (`bench` or `bin`) and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Target {
    pub(crate) package: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) name: &'static str,
}

/// A bench target of `package`.
pub(crate) const fn bench(package: &'static str, name: &'static str) -> Target {
    Target {
        package,
        kind: "bench",
        name,
    }
}

/// A binary target of `package`.
pub(crate) const fn bin(package: &'static str, name: &'static str) -> Target {
    Target {
        package,
        kind: "bin",
        name,
    }
}

/// Built executables, or why a target is not available.
pub(crate) type Exes = BTreeMap<Target, Result<PathBuf, String>>;

/// The `required-features` of every workspace target, and which exist.
fn manifest_targets() -> Result<BTreeMap<(String, String, String), Vec<String>>> {
    let meta: Value = serde_json::from_str(&cargo_output(&[
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
    ])?)?;
    let mut out = BTreeMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        let package = p["name"].as_str().unwrap_or_default();
        for t in p["targets"].as_array().into_iter().flatten() {
            let name = t["name"].as_str().unwrap_or_default();
            let features: Vec<String> = t["required-features"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            for kind in t["kind"].as_array().into_iter().flatten() {
                out.insert(
                    (
                        package.to_owned(),
                        kind.as_str().unwrap_or_default().to_owned(),
                        name.to_owned(),
                    ),
                    features.clone(),
                );
            }
        }
    }
    Ok(out)
}

/// Builds `targets` in release with their required features (plus
/// `extra_features`, as `package/feature`) in one cargo invocation and
/// returns each executable, and the crates that did not compile. A target
/// missing from the manifests, or not built, is "not available" with the
/// reason.
fn build(targets: &[Target], extra_features: &[&str]) -> Result<(Exes, Vec<String>)> {
    let manifest = manifest_targets()?;
    let (invocation, mut exes) = Invocation::plan(targets, extra_features, &manifest);
    let Some(invocation) = invocation else {
        return Ok((exes, Vec::new()));
    };
    let outcome = run_cargo_build(&invocation.args)?;
    for t in targets {
        if exes.contains_key(t) {
            continue;
        }
        exes.insert(*t, outcome.executable(t, &invocation.packages));
    }
    Ok((exes, outcome.broken))
}

/// One `cargo build` of several targets: its arguments, and the packages
/// it selects (named when the build fails without saying which crate).
struct Invocation {
    args: Vec<String>,
    packages: Vec<&'static str>,
}

impl Invocation {
    /// The cargo invocation that builds the `targets` the manifests have,
    /// with their required features and `extra_features`; `None` when
    /// there are none. The targets missing from the manifests are returned
    /// as not available, with the reason.
    fn plan(
        targets: &[Target],
        extra_features: &[&str],
        manifest: &BTreeMap<(String, String, String), Vec<String>>,
    ) -> (Option<Self>, Exes) {
        let mut exes = Exes::new();
        let mut args: Vec<String> = vec![
            "build".into(),
            "--release".into(),
            "--message-format=json-render-diagnostics".into(),
        ];
        let mut features: Vec<String> = extra_features.iter().map(|f| (*f).to_owned()).collect();
        let mut packages: Vec<&str> = Vec::new();
        for t in targets {
            let key = (t.package.to_owned(), t.kind.to_owned(), t.name.to_owned());
            let Some(required) = manifest.get(&key) else {
                exes.insert(
                    *t,
                    Err(format!(
                        "{} has no {} target {:?} yet",
                        t.package, t.kind, t.name
                    )),
                );
                continue;
            };
            features.extend(required.iter().map(|f| format!("{}/{f}", t.package)));
            if !packages.contains(&t.package) {
                packages.push(t.package);
            }
            args.extend([format!("--{}", t.kind), t.name.to_owned()]);
        }
        if packages.is_empty() {
            return (None, exes);
        }
        for p in &packages {
            args.extend(["-p".into(), (*p).to_owned()]);
        }
        features.sort();
        features.dedup();
        if !features.is_empty() {
            args.extend(["--features".into(), features.join(",")]);
        }
        (Some(Self { args, packages }), exes)
    }
}

/// What one `cargo build` produced.
struct BuildOutcome {
    /// The executables built, by target kind and name.
    built: BTreeMap<(String, String), PathBuf>,
    /// Whether cargo succeeded.
    success: bool,
    /// The crates that did not compile.
    broken: Vec<String>,
}

impl BuildOutcome {
    /// The executable of `t`, or why there is none: a failed build names
    /// the crates that did not compile, else the `packages` it built.
    fn executable(&self, t: &Target, packages: &[&str]) -> Result<PathBuf, String> {
        self.built
            .get(&(t.kind.to_owned(), t.name.to_owned()))
            .cloned()
            .ok_or_else(|| {
                if self.success {
                    format!("cargo built no executable for {} {}", t.kind, t.name)
                } else if self.broken.is_empty() {
                    format!(
                        "the release build of {} failed (see the compiler output above)",
                        packages.join(", ")
                    )
                } else {
                    format!(
                        "the release build failed: {} did not compile",
                        self.broken.join(", ")
                    )
                }
            })
    }
}

/// Runs `cargo` with `args` (a `build` with JSON messages), passing its
/// diagnostics through, and collects what it built and what broke.
fn run_cargo_build(args: &[String]) -> Result<BuildOutcome> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    eprintln!("==> cargo {}", args.join(" "));
    let mut child = Command::new(&cargo)
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting cargo build")?;
    let stdout = child.stdout.take().context("cargo stdout")?;
    // Passed through, and read for "could not compile `crate`".
    let stderr = child.stderr.take().context("cargo stderr")?;
    let broken = std::thread::spawn(move || crates_not_compiled(stderr));
    let built = executables_built(stdout)?;
    let status = child.wait()?;
    let broken = broken.join().unwrap_or_default();
    eprintln!(
        "<== cargo build --release ({:.0?}, {})",
        started.elapsed(),
        if status.success() { "ok" } else { "FAILED" }
    );
    Ok(BuildOutcome {
        built,
        success: status.success(),
        broken,
    })
}

/// Passes cargo's stderr through and returns the crates it says did not
/// compile, so that the others can be built again without them.
fn crates_not_compiled(stderr: ChildStderr) -> Vec<String> {
    let mut broken = Vec::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        eprintln!("{line}");
        if let Some(rest) = line.strip_prefix("error: could not compile `")
            && let Some((name, _)) = rest.split_once('`')
        {
            broken.push(name.to_owned());
        }
    }
    broken
}

/// The executables in cargo's JSON messages on `stdout`, by target kind
/// and name.
fn executables_built(stdout: ChildStdout) -> Result<BTreeMap<(String, String), PathBuf>> {
    let mut built = BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(&line?) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let name = msg["target"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for kind in msg["target"]["kind"].as_array().into_iter().flatten() {
            built.insert(
                (kind.as_str().unwrap_or_default().to_owned(), name.clone()),
                PathBuf::from(exe),
            );
        }
    }
    Ok(built)
}

/// Builds `targets` in one invocation; when a selected package does not
/// compile (e.g. while someone is changing it), builds the others again
/// without it, so that it only takes its own targets away. `extra_features`
/// are `package/feature`.
pub(crate) fn build_all(targets: &[Target], extra_features: &[&str]) -> Result<Exes> {
    let mut exes = Exes::new();
    let mut remaining: Vec<Target> = targets.to_vec();
    loop {
        let features: Vec<&str> = extra_features
            .iter()
            .copied()
            .filter(|f| {
                remaining
                    .iter()
                    .any(|t| f.starts_with(&format!("{}/", t.package)))
            })
            .collect();
        let (built, broken) = build(&remaining, &features)?;
        let (dropped, kept): (Vec<Target>, Vec<Target>) = remaining
            .iter()
            .partition(|t| broken.iter().any(|b| b == t.package));
        let retry = !dropped.is_empty()
            && kept
                .iter()
                .any(|t| built.get(t).is_some_and(Result::is_err));
        exes.extend(built);
        if !retry {
            return Ok(exes);
        }
        remaining = kept;
    }
}

/// The executable of `t`, or why it is not available.
pub(crate) fn exe(exes: &Exes, t: Target) -> Result<PathBuf> {
    match exes.get(&t) {
        Some(Ok(p)) => Ok(p.clone()),
        Some(Err(why)) => bail!("{why}"),
        None => bail!("{} {} was not built", t.kind, t.name),
    }
}
