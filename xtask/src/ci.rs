//! `cargo xtask ci`.

use std::process::Command;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::{cargo, cargo_output};

/// A workspace package and its features, from `cargo metadata`.
struct Package {
    name: String,
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
    Ok(())
}

pub(crate) fn nextest_available() -> bool {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs every check CI runs; `--no-fmt` etc. are not offered on purpose.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("cargo xtask ci takes no arguments (got {a:?})");
    }
    cargo(&["fmt", "--all", "--", "--check"], &[])?;

    // One clippy over everything with all features, then each package's
    // other feature sets on their own (they reuse the dependency builds).
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
    for p in workspace_packages()? {
        if p.features.is_empty() && !p.has_default {
            continue;
        }
        cargo(
            &[
                "clippy",
                "-p",
                &p.name,
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )?;
        if p.has_default {
            cargo(
                &[
                    "clippy",
                    "-p",
                    &p.name,
                    "--all-targets",
                    "--no-default-features",
                    "--",
                    "-D",
                    "warnings",
                ],
                &[],
            )?;
        }
    }
    check_dependency_boundaries()?;

    if nextest_available() {
        cargo(
            &[
                "nextest",
                "run",
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
    cargo(&["test", "--workspace", "--all-features", "--doc"], &[])?;
    cargo(
        &["doc", "--workspace", "--all-features", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    crate::it::run(&[])
}
