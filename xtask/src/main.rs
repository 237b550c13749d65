//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask ci`: everything CI checks, in order: formatting, clippy
//!   (warnings denied) on every feature set, dependency boundaries, tests
//!   (nextest when installed, plus doctests), docs (warnings denied), and
//!   finally `it`.
//! - `cargo xtask it`: the integration tests that need emulators running as
//!   their own processes (fs-server, moto's S3), which it starts and stops.
//! - `cargo xtask bench [--quick] [--only NAME]`: every performance target
//!   measured against its anchor, in one table (also in docs/benchmarks.md).

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool: what it prints is its output"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod bench;
mod ci;
mod it;
mod procs;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("it") => it::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            usage();
            Ok(())
        }
        Some(other) => {
            usage();
            bail!("unknown xtask command {other:?}")
        }
    }
}

fn usage() {
    println!(
        "usage: cargo xtask <command>\n\n\
         commands:\n  \
         ci     format check, clippy (-D warnings) on every feature set, dependency\n         \
         boundaries, tests (nextest + doctests), docs (-D warnings), then `it`\n  \
         it     start fs-server and moto (S3), run the tests that need them, stop both\n  \
         bench  [--quick] [--only NAME[,NAME]] [--reps N] [--no-write]: each performance\n         \
         target against its anchor, one table (written into docs/benchmarks.md)"
    );
}

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the
/// workspace root if relative), else `target/` of the workspace. The
/// virtual environments, the bench data and scratch files live there too,
/// so that a separate target directory keeps them apart as well.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// The nextest profile (`.config/nextest.toml`) CI runs with: slow tests
/// are killed after a few minutes and fail the run.
pub(crate) const NEXTEST_PROFILE: &str = "ci";

/// Whether `cargo nextest` is installed.
pub(crate) fn nextest_available() -> bool {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `cargo <args>` in the workspace root with extra environment, failing on a non-zero exit.
pub(crate) fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    eprintln!(
        "<== cargo {} ({:.0?}, {})",
        args.join(" "),
        started.elapsed(),
        if status.success() { "ok" } else { "FAILED" }
    );
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}

/// Runs `cargo <args>` and returns its standard output.
pub(crate) fn cargo_output(args: &[&str]) -> Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(args)
        .current_dir(root())
        .output()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "cargo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}
