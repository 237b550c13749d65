//! Processes the xtask starts and stops (fs-server, moto's S3) and the
//! Python virtual environments they or the benchmark anchors run from;
//! shared by `xtask it` and `xtask bench`.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A child process killed (and reaped) when dropped.
pub(crate) struct Guard {
    pub(crate) name: &'static str,
    pub(crate) child: Child,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("<== stopped {}", self.name);
    }
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts connections on `addr`, failing early when
/// the guarded process exits.
pub(crate) fn wait_for_port(addr: SocketAddr, guard: &mut Guard, timeout: Duration) -> Result<()> {
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

/// The file in a virtual environment that holds the text of the
/// requirements it was filled from.
const STAMP: &str = "xtask-requirements.txt";

/// The python of the virtual environment at `venv` (the xtask's are in
/// [`crate::target_dir`]), filled with `pip install -r` of `requirements`
/// (files of `root/xtask/`, every version pinned).
///
/// The environment is re-created from scratch when it is missing, when the
/// requirements' text differs from what it was filled from (a version
/// changed), or when `python -c check` fails in it (it was damaged). The
/// text is stored in the environment only once pip has succeeded, so a
/// failed install is retried next time.
pub(crate) fn venv_python(
    root: &Path,
    venv: &Path,
    check: &str,
    requirements: &[&str],
) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let files: Vec<PathBuf> = requirements
        .iter()
        .map(|r| root.join("xtask").join(r))
        .collect();
    let mut wanted = String::new();
    for f in &files {
        wanted.push_str(&format!("# {}\n", f.display()));
        wanted.push_str(
            &std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        );
    }
    let stamp = venv.join(STAMP);
    let filled_from = std::fs::read_to_string(&stamp).ok();
    if python.exists() && filled_from.as_deref() == Some(wanted.as_str()) && runs(&python, check) {
        return Ok(python);
    }
    if venv.exists() {
        eprintln!(
            "==> re-creating {} ({})",
            venv.display(),
            if filled_from.as_deref() == Some(wanted.as_str()) {
                "its packages do not import"
            } else {
                "its requirements changed"
            }
        );
        std::fs::remove_dir_all(venv).with_context(|| format!("removing {}", venv.display()))?;
    } else {
        eprintln!("==> creating {}", venv.display());
    }
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .context("running python3 -m venv (is Python 3 installed?)")?;
    if !status.success() {
        bail!("python3 -m venv {} failed", venv.display());
    }
    let listed = requirements.join(" ");
    eprintln!("==> pip install -r {listed} into {}", venv.display());
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    for f in &files {
        pip.arg("-r").arg(f);
    }
    let status = pip.status().context("running pip")?;
    if !status.success() {
        bail!("pip install -r {listed} into {} failed", venv.display());
    }
    if !runs(&python, check) {
        bail!(
            "{} -c {check:?} fails after pip install -r {listed}",
            python.display()
        );
    }
    std::fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(python)
}

/// Whether `python -c code` succeeds.
fn runs(python: &Path, code: &str) -> bool {
    Command::new(python)
        .args(["-c", code])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `it-venv` python (in [`crate::target_dir`]), with moto's server installed (and MiniStack,
/// DuckDB and sqlglot for the fs-offline Athena tests), as pinned in
/// `xtask/requirements-it.txt`.
pub(crate) fn moto_python(root: &Path) -> Result<PathBuf> {
    venv_python(
        root,
        &crate::target_dir().join("it-venv"),
        "import moto.server, flask, ministack, duckdb, sqlglot",
        &["requirements-it.txt"],
    )
}

/// Starts the fs-server binary `exe` over `store` on a free loopback port,
/// with `extra` arguments (e.g. `--faults --latency-ms 10`); returns its guard and
/// endpoint URL.
pub(crate) fn spawn_fs_server(exe: &Path, store: &Path, extra: &[&str]) -> Result<(Guard, String)> {
    let mut child = Command::new(exe)
        .args(["--addr", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(extra)
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

/// Starts moto's S3 server from `python` on a free loopback port; returns
/// its guard and endpoint URL.
pub(crate) fn start_moto(python: &Path) -> Result<(Guard, String)> {
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

/// fs-server's `/_featurestore/stats` at `url` (`http://127.0.0.1:PORT`):
/// request counts and times per operation.
pub(crate) fn fs_server_stats(url: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    use std::io::{Read, Write};
    let addr = url.strip_prefix("http://").unwrap_or(url);
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    write!(
        s,
        "GET /_featurestore/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .with_context(|| format!("fs-server's stats answer {text:?}"))?;
    match serde_json::from_str(body)? {
        serde_json::Value::Object(m) => Ok(m),
        other => bail!("fs-server's stats are not an object: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "creates Python virtual environments (needs python3); run by cargo xtask it"]
    fn a_venv_is_reused_until_its_requirements_change() {
        let root = std::env::temp_dir().join(format!("xtask-venv-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("xtask")).unwrap();
        let requirements = root.join("xtask").join("requirements-test.txt");
        let dir = root.join("target").join("v");
        let marker = dir.join("marker");
        let venv = |text: &str| {
            std::fs::write(&requirements, text).unwrap();
            venv_python(&root, &dir, "import sys", &["requirements-test.txt"]).unwrap()
        };
        // No packages, so pip needs no network.
        let python = venv("# nothing, version 1\n");
        assert!(runs(&python, "import sys"));
        std::fs::write(&marker, "").unwrap();
        venv("# nothing, version 1\n");
        assert!(marker.exists(), "the same requirements re-created the venv");
        venv("# nothing, version 2\n");
        let recreated = !marker.exists();
        let _ = std::fs::remove_dir_all(&root);
        assert!(recreated, "changed requirements kept the old venv");
    }
}
