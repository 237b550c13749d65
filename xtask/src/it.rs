//! `cargo xtask it`: start the emulators the integration tests need, run
//! the tests that need them, and stop every process started, also on
//! failure.
//!
//! - fs-server: the binary (`cargo build -p fs-server`), on a free loopback
//!   port over a temporary store; `FS_SERVER_ENDPOINT`.
//! - moto's S3: `python -m moto.server` from a virtual environment this
//!   command creates under `target/it-venv`; `FS_S3_ENDPOINT`.
//!
//! The tests that need them are `#[ignore]`d in plain runs; this command
//! runs exactly the ignored tests (`--run-ignored only`).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, root};

/// A child process killed (and reaped) when dropped.
struct Guard {
    name: &'static str,
    child: Child,
}

impl Drop for Guard {
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("<== stopped {}", self.name);
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(addr: SocketAddr, guard: &mut Guard, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = guard.child.try_wait()? {
            bail!(
                "{} exited with {status} before listening on {addr}",
                guard.name
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{} did not listen on {addr} within {timeout:?}", guard.name)
}

/// The virtual environment's python, with moto installed.
#[allow(clippy::print_stderr)]
fn moto_python(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target").join("it-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        eprintln!("==> creating {}", venv.display());
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("running python3 -m venv (is Python 3 installed?)")?;
        if !status.success() {
            bail!("python3 -m venv {} failed", venv.display());
        }
    }
    let has_moto = Command::new(&python)
        .args(["-c", "import moto.server, flask"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_moto {
        eprintln!("==> pip install moto[server] into {}", venv.display());
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "moto[server]>=5,<6",
            ])
            .status()
            .context("running pip")?;
        if !status.success() {
            bail!("pip install moto[server] failed");
        }
    }
    Ok(python)
}

#[allow(clippy::print_stderr)]
fn start_fs_server(root: &Path, store: &Path) -> Result<(Guard, String)> {
    cargo(&["build", "--quiet", "-p", "fs-server"], &[])?;
    let exe = root.join("target").join("debug").join("fs-server");
    let mut child = Command::new(&exe)
        .args(["--addr", "127.0.0.1:0", "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let stdout = child.stdout.take().context("fs-server stdout")?;
    let guard = Guard {
        name: "fs-server",
        child,
    };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .with_context(|| format!("fs-server printed no address: {line:?}"))?
        .to_owned();
    eprintln!("==> fs-server at {url}");
    Ok((guard, url))
}

#[allow(clippy::print_stderr)]
fn start_moto(python: &Path) -> Result<(Guard, String)> {
    let port = free_port()?;
    let child = Command::new(python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting moto.server")?;
    let mut guard = Guard {
        name: "moto",
        child,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for_port(addr, &mut guard, Duration::from_secs(60))?;
    let url = format!("http://{addr}");
    eprintln!("==> moto at {url}");
    Ok((guard, url))
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
    let (_server, server_url) = start_fs_server(&root, &store)?;
    let (_moto, moto_url) = start_moto(&python)?;
    let env = [
        ("FS_SERVER_ENDPOINT", server_url.as_str()),
        ("FS_S3_ENDPOINT", moto_url.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let result = if crate::ci::nextest_available() {
        cargo(
            &[
                "nextest",
                "run",
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
