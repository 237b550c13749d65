//! `fs-server`: a local SageMaker Feature Store over an embedded store.
//!
//! ```text
//! fs-server [--addr 127.0.0.1:PORT] [--store DIR] [--latency-ms N]
//!           [--throttle-rate R] [--error-rate R] [--fault-ops Op1,Op2]
//! ```
//! Port 0 picks a free port; the address is printed on the first line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fs_server::{Faults, Server, ServerOptions};

const USAGE: &str = "usage: fs-server [--addr 127.0.0.1:PORT] [--store DIR] [--latency-ms N] \
[--throttle-rate R] [--error-rate R] [--fault-ops PutRecord,GetRecord]

Serves the SageMaker Feature Store runtime API and the feature-group control
plane over an embedded store. Binds to loopback unless --addr says otherwise.

examples:
  fs-server --addr 127.0.0.1:0 --store ./.featurestore
  fs-server --addr 127.0.0.1:8600 --latency-ms 10 --throttle-rate 0.2 --fault-ops PutRecord";

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fs-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn run() -> Result<(), String> {
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut store_dir = fs_local::DEFAULT_DIR.to_owned();
    let mut faults = Faults::none();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--addr" => {
                let v = value("--addr")?;
                addr = v.parse().map_err(|e| format!("--addr {v:?}: {e}"))?;
            }
            "--store" => store_dir = value("--store")?,
            "--latency-ms" => {
                let v = value("--latency-ms")?;
                let ms: u64 = v.parse().map_err(|e| format!("--latency-ms {v:?}: {e}"))?;
                faults = faults.latency(Duration::from_millis(ms));
            }
            "--throttle-rate" => {
                let v = value("--throttle-rate")?;
                faults = faults.throttle_rate(
                    v.parse()
                        .map_err(|e| format!("--throttle-rate {v:?}: {e}"))?,
                );
            }
            "--error-rate" => {
                let v = value("--error-rate")?;
                faults =
                    faults.error_rate(v.parse().map_err(|e| format!("--error-rate {v:?}: {e}"))?);
            }
            "--fault-ops" => {
                let v = value("--fault-ops")?;
                faults = faults.only(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "fs_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if !addr.ip().is_loopback() {
        eprintln!("fs-server: warning: listening on {addr}, which is not a loopback address");
    }
    let store = fs_local::Store::open(&store_dir).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let server = Server::start(
            Arc::new(store),
            ServerOptions::default().addr(addr).faults(faults),
        )
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        println!(
            "fs-server listening on {} (store {store_dir})",
            server.endpoint_url()
        );
        tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
        server.shutdown().await;
        Ok(())
    })
}
