//! `cargo xtask it`: start the emulators the integration tests need, run
//! the tests that need them, and stop every process started, also on
//! failure.
//!
//! - fs-server: the binary (`cargo build -p fs-server`), on a free loopback
//!   port over a temporary store; `FS_SERVER_ENDPOINT`.
//! - moto's S3: `python -m moto.server` from a virtual environment this
//!   command creates under `target/it-venv`; `FS_S3_ENDPOINT`.
//! - `FS_IT_PYTHON`: that environment's python, which also has MiniStack
//!   (Athena on DuckDB), DuckDB and sqlglot for the fs-offline Athena tests.
//!
//! The tests that need them are `#[ignore]`d in plain runs; this command
//! runs exactly the ignored tests (`--run-ignored only`).

use std::path::Path;

use anyhow::{Result, bail};

use crate::procs::{Guard, moto_python, spawn_fs_server, start_moto};
use crate::{cargo, root};

fn start_fs_server(store: &Path) -> Result<(Guard, String)> {
    cargo(&["build", "--quiet", "-p", "fs-server"], &[])?;
    let exe = crate::target_dir().join("debug").join("fs-server");
    spawn_fs_server(&exe, store, &[])
}

/// Runs `cargo xtask it`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("cargo xtask it takes no arguments (got {a:?})");
    }
    let root = root();
    let python = moto_python(&root)?;
    let store = std::env::temp_dir().join(format!("fs-it-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    // Guards drop in reverse order: both processes stop whatever happens below.
    let (_server, server_url) = start_fs_server(&store)?;
    let (_moto, moto_url) = start_moto(&python)?;
    let python_path = python.to_string_lossy().into_owned();
    let env = [
        ("FS_SERVER_ENDPOINT", server_url.as_str()),
        ("FS_S3_ENDPOINT", moto_url.as_str()),
        ("FS_IT_PYTHON", python_path.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let result = if crate::nextest_available() {
        cargo(
            &[
                "nextest",
                "run",
                "--profile",
                crate::NEXTEST_PROFILE,
                "--workspace",
                "--all-features",
                "--run-ignored",
                "only",
                "--no-fail-fast",
            ],
            &env,
        )
    } else {
        cargo(
            &[
                "test",
                "--workspace",
                "--all-features",
                "--no-fail-fast",
                "--",
                "--ignored",
            ],
            &env,
        )
    };
    let _ = std::fs::remove_dir_all(&store);
    result
}
