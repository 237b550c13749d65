//! `cargo xtask ci`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::Value;

use crate::{NEXTEST_PROFILE, cargo, cargo_output, nextest_available};

/// A workspace package and its features, from `cargo metadata`.
struct Package {
    name: String,
    /// The directory of its `Cargo.toml`.
    dir: PathBuf,
    features: Vec<String>,
    has_default: bool,
}

fn workspace_packages() -> Result<Vec<Package>> {
    let meta: Value = serde_json::from_str(&cargo_output(&[
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
    ])?)?;
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        if !members.contains(&p["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let features = p["features"].as_object().cloned().unwrap_or_default();
        let has_default = features
            .get("default")
            .and_then(Value::as_array)
            .is_some_and(|d| !d.is_empty());
        out.push(Package {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            dir: Path::new(p["manifest_path"].as_str().unwrap_or_default())
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            features: features
                .keys()
                .filter(|k| *k != "default")
                .cloned()
                .collect(),
            has_default,
        });
    }
    Ok(out)
}

/// Crates whose default build must not compile an AWS SDK (inference code
/// that only reads online, and everything local, stays light).
const NO_AWS_BY_DEFAULT: &[&str] = &[
    "fs-schema",
    "fs-local",
    "fs-online",
    "fs-ingest",
    "featurestore",
    "featurestore-cli",
];

fn check_dependency_boundaries() -> Result<()> {
    for krate in NO_AWS_BY_DEFAULT {
        let tree = cargo_output(&["tree", "-p", krate, "-e", "normal", "--prefix", "none"])?;
        if let Some(line) = tree.lines().find(|l| l.starts_with("aws-sdk-")) {
            bail!(
                "{krate} with default features depends on {line}; gate it behind the `aws` feature"
            );
        }
    }
    // An AWS-only service ingests into SageMaker without the embedded store.
    let tree = cargo_output(&[
        "tree",
        "-p",
        "featurestore",
        "--no-default-features",
        "--features",
        "aws",
        "-e",
        "normal",
        "--prefix",
        "none",
    ])?;
    if let Some(line) = tree.lines().find(|l| l.starts_with("fs-local ")) {
        bail!(
            "featurestore with `aws` alone depends on {line}; keep the embedded store behind `local`"
        );
    }
    Ok(())
}

/// What marks code that only a build without some feature compiles.
const WITHOUT_A_FEATURE: &str = "cfg(not(feature";

/// The packages whose library, binaries or tests hold code compiled only
/// without some feature (`#[cfg(not(feature = "aws"))]`): the all-features
/// test run never compiles it, so their tests also run on the default
/// feature set.
fn packages_with_code_for_default_features(packages: &[Package]) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    for p in packages {
        if p.features.is_empty() {
            continue;
        }
        let mut found = false;
        for dir in ["src", "tests"] {
            found |= any_rust_file_contains(&p.dir.join(dir), WITHOUT_A_FEATURE)?;
        }
        if found {
            out.push(p.name.as_str());
        }
    }
    Ok(out)
}

/// Whether a `.rs` file under `dir` (recursively) contains `needle`.
fn any_rust_file_contains(dir: &Path, needle: &str) -> Result<bool> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(false);
    };
    for e in entries {
        let path = e?.path();
        if path.is_dir() {
            if any_rust_file_contains(&path, needle)? {
                return Ok(true);
            }
        } else if path.extension().is_some_and(|x| x == "rs")
            && std::fs::read_to_string(&path)?.contains(needle)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The tests run on the default feature set: those in a `default_features`
/// module (compiled only without some feature).
const DEFAULT_FEATURES_FILTER: &str = "test(/(^|::)default_features::/)";

/// Clippy over the libraries and binaries of `packages`, in one build, with
/// `features` (cargo's feature flags); nothing when `packages` is empty.
fn clippy_libraries(packages: &[&Package], features: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let mut args = vec!["clippy"];
    for p in packages {
        args.extend(["-p", p.name.as_str()]);
    }
    args.extend(features);
    args.extend(["--lib", "--bins", "--", "-D", "warnings"]);
    cargo(&args, &[])
}

/// Runs every check CI runs; `--no-fmt` etc. are not offered on purpose.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("cargo xtask ci takes no arguments (got {a:?})");
    }
    cargo(&["fmt", "--all", "--", "--check"], &[])?;

    // One clippy over everything with all features; then the libraries and
    // binaries of every package with features on their default set, and of
    // those with a default on none. Each other feature set is a build of its
    // own (arrow, parquet, tokio and what depends on them, with other
    // features), so the packages share one build per set: cargo unifies
    // features across the packages it is given, which is the same set each
    // gets alone as long as no package's default turns on another's
    // optional feature. Tests and benches build with all features only.
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    let packages = workspace_packages()?;
    let with_features: Vec<&Package> = packages
        .iter()
        .filter(|p| !p.features.is_empty() || p.has_default)
        .collect();
    clippy_libraries(&with_features, &[])?;
    let with_default: Vec<&Package> = packages.iter().filter(|p| p.has_default).collect();
    clippy_libraries(&with_default, &["--no-default-features"])?;
    check_dependency_boundaries()?;

    let nextest = nextest_available();
    if nextest {
        cargo(
            &[
                "nextest",
                "run",
                "--profile",
                NEXTEST_PROFILE,
                "--workspace",
                "--all-features",
                "--no-fail-fast",
            ],
            &[],
        )?;
    } else {
        cargo(
            &["test", "--workspace", "--all-features", "--no-fail-fast"],
            &[],
        )?;
    }
    // The tests that only a build without some feature compiles, of the
    // packages that have such code, on their default feature set: the
    // all-features run never compiles them. They live in a module named
    // `default_features` (see docs/testing.md); the rest of each suite ran
    // above, on the same code.
    let defaults = packages_with_code_for_default_features(&packages)?;
    if !defaults.is_empty() {
        let mut args: Vec<&str> = if nextest {
            vec!["nextest", "run", "--profile", NEXTEST_PROFILE]
        } else {
            vec!["test"]
        };
        for p in &defaults {
            args.extend(["-p", p]);
        }
        args.push("--no-fail-fast");
        if nextest {
            args.extend(["--no-tests", "warn", "-E", DEFAULT_FEATURES_FILTER]);
        } else {
            args.extend(["--", "default_features::"]);
        }
        cargo(&args, &[])?;
    }
    cargo(&["test", "--workspace", "--all-features", "--doc"], &[])?;
    // `--examples` makes cargo resolve features with the dev-dependencies,
    // as clippy's `--all-targets` did, so the docs reuse its builds of the
    // dependencies instead of building them again with other features.
    cargo(
        &[
            "doc",
            "--workspace",
            "--all-features",
            "--no-deps",
            "--lib",
            "--examples",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    crate::it::run(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, dir: &Path, features: &[&str], code: &str) -> Package {
        let src = dir.join(name).join("src").join("nested");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("lib.rs"), code).unwrap();
        Package {
            name: name.into(),
            dir: dir.join(name),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            has_default: false,
        }
    }

    #[test]
    fn packages_with_code_only_a_build_without_a_feature_compiles_are_found() {
        let dir = std::env::temp_dir().join(format!("xtask-ci-test-{}", std::process::id()));
        let gated = "#[cfg(not(feature = \"aws\"))]\nfn f() {}\n";
        let packages = [
            package("gated", &dir, &["aws"], gated),
            package(
                "plain",
                &dir,
                &["aws"],
                "#[cfg(feature = \"aws\")]\nfn f() {}\n",
            ),
            package("featureless", &dir, &[], gated),
        ];
        let found = packages_with_code_for_default_features(&packages).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(found, ["gated"]);
    }
}
