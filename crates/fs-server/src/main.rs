//! `fs-server`: a local SageMaker Feature Store over an embedded store.
//!
//! ```text
//! fs-server [--addr 127.0.0.1:PORT] [--store DIR] [--region R] [--account ID]
//!           [--faults [--latency-ms N] [--service-time-ms N]
//!            [--throttle-rate R] [--error-rate R]
//!            [--post-commit-error-rate R] [--post-commit-reset-rate R]
//!            [--post-commit-timeout-rate R] [--post-commit-delay-ms N]
//!            [--fault-ops Op1,Op2]]
//! ```
//! Port 0 picks a free port; the address is printed on the first line.
//! SIGTERM or Ctrl-C lets the requests in flight finish, then exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use fs_server::{Faults, Server, ServerOptions};

const EXAMPLES: &str = "examples:
  fs-server --addr 127.0.0.1:0 --store ./.featurestore
  fs-server --region ap-southeast-2 --account 123456789012
  fs-server --faults --latency-ms 10 --throttle-rate 0.2 --fault-ops PutRecord
  fs-server --faults --service-time-ms 10 --fault-ops PutRecord
  fs-server --faults --post-commit-reset-rate 0.2 --fault-ops PutRecord,BatchWriteRecord";

/// Serves the SageMaker Feature Store runtime API and the feature-group
/// control plane over an embedded store. Binds to loopback unless --addr
/// says otherwise.
#[derive(Debug, Parser)]
#[command(name = "fs-server", version, after_help = EXAMPLES)]
struct Args {
    /// Where to listen; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The store directory (created when missing).
    #[arg(long, default_value = fs_local::DEFAULT_DIR)]
    store: PathBuf,
    /// The region every ARN and resolved S3 URI names (default: the region
    /// the client signed for).
    #[arg(long)]
    region: Option<String>,
    /// The account id every ARN and resolved S3 URI names (default: the
    /// store's, 000000000000).
    #[arg(long)]
    account: Option<String>,
    /// A role ARN that SageMaker cannot assume: CreateFeatureGroup with it
    /// fails with the service's ValidationException. Repeatable.
    #[arg(long = "untrusted-role", value_name = "ARN")]
    untrusted_roles: Vec<String>,
    /// How long a request may take before it is answered with 503.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    request_timeout: Duration,
    /// How long a client may take to send a request's headers.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    header_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    idle_timeout: Duration,
    /// Turn fault injection on: the fault flags below and
    /// `POST /_featurestore/faults`. Off without it.
    #[arg(long)]
    faults: bool,
    /// Latency added to every affected request, at most 60,000 ms.
    #[arg(long, value_name = "MS", requires = "faults", value_parser = millis)]
    latency_ms: Option<Duration>,
    /// Answer every affected request no sooner than this after it arrived,
    /// the server's own work running within it (a service with this
    /// response time), at most 60,000 ms.
    #[arg(long, value_name = "MS", requires = "faults", value_parser = millis)]
    service_time_ms: Option<Duration>,
    /// Share of affected requests answered with 400 ThrottlingException.
    #[arg(long, value_name = "R", requires = "faults", value_parser = rate)]
    throttle_rate: Option<f64>,
    /// Share of affected requests answered with 503 ServiceUnavailable.
    #[arg(long, value_name = "R", requires = "faults", value_parser = rate)]
    error_rate: Option<f64>,
    /// Share of committed writes (PutRecord, DeleteRecord, BatchWriteRecord)
    /// answered with 500 InternalFailure.
    #[arg(long, value_name = "R", requires = "faults", value_parser = rate)]
    post_commit_error_rate: Option<f64>,
    /// Share of committed writes whose connection is closed without an answer.
    #[arg(long, value_name = "R", requires = "faults", value_parser = rate)]
    post_commit_reset_rate: Option<f64>,
    /// Share of committed writes held back (--post-commit-delay-ms), then
    /// closed without an answer.
    #[arg(long, value_name = "R", requires = "faults", value_parser = rate)]
    post_commit_timeout_rate: Option<f64>,
    /// How long --post-commit-timeout-rate holds an answer back (default
    /// 5,000, at most 60,000 ms).
    #[arg(long, value_name = "MS", requires = "faults", value_parser = millis)]
    post_commit_delay_ms: Option<Duration>,
    /// The operations the faults affect (default: all), e.g.
    /// PutRecord,GetRecord.
    #[arg(long, value_name = "OPS", requires = "faults", value_delimiter = ',')]
    fault_ops: Option<Vec<String>>,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a positive number of seconds"))
}

fn millis(s: &str) -> Result<Duration, String> {
    let ms: u64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let d = Duration::from_millis(ms);
    if d > Faults::MAX_LATENCY {
        return Err(format!(
            "{ms} ms is over the limit of {} ms",
            Faults::MAX_LATENCY.as_millis()
        ));
    }
    Ok(d)
}

fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("{s} is not a share from 0 to 1"))
    }
}

impl Args {
    /// The faults the flags ask for.
    fn faults(&self) -> Faults {
        let mut f = Faults::none()
            .latency(self.latency_ms.unwrap_or_default())
            .service_time(self.service_time_ms.unwrap_or_default())
            .throttle_rate(self.throttle_rate.unwrap_or(0.0))
            .error_rate(self.error_rate.unwrap_or(0.0))
            .post_commit_error_rate(self.post_commit_error_rate.unwrap_or(0.0))
            .post_commit_reset_rate(self.post_commit_reset_rate.unwrap_or(0.0))
            .post_commit_timeout(
                self.post_commit_timeout_rate.unwrap_or(0.0),
                self.post_commit_delay_ms
                    .unwrap_or(Faults::none().post_commit_delay),
            );
        if let Some(ops) = &self.fault_ops {
            f = f.only(ops.iter().map(|s| s.trim()).filter(|s| !s.is_empty()));
        }
        f
    }

    fn options(&self) -> ServerOptions {
        let mut o = ServerOptions::default()
            .addr(self.addr)
            .request_timeout(self.request_timeout)
            .header_read_timeout(self.header_timeout)
            .idle_timeout(self.idle_timeout)
            .fault_injection(self.faults);
        if self.faults {
            o = o.faults(self.faults());
        }
        if let Some(r) = &self.region {
            o = o.region(r);
        }
        if let Some(a) = &self.account {
            o = o.account(a);
        }
        for role in &self.untrusted_roles {
            o = o.untrusted_role(role);
        }
        o
    }
}

#[expect(clippy::print_stderr, reason = "the binary reports its failure")]
fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fs-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the address goes to stdout, warnings to stderr"
)]
fn run(args: &Args) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "fs_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let addr = args.addr;
    if !addr.ip().is_loopback() {
        eprintln!("fs-server: warning: listening on {addr}, which is not a loopback address");
    }
    let store_dir = args.store.display().to_string();
    let store = fs_local::Store::open(&args.store).map_err(|e| format!("{store_dir}: {e}"))?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let server = Server::start(Arc::new(store), args.options())
            .await
            .map_err(|e| format!("cannot serve on {addr}: {e}"))?;
        println!(
            "fs-server listening on {} (store {store_dir})",
            server.endpoint_url()
        );
        stopped()
            .await
            .map_err(|e| format!("waiting for a signal: {e}"))?;
        tracing::info!("fs-server stopping: finishing the requests in flight");
        server.shutdown().await;
        Ok(())
    })
}

/// Waits for Ctrl-C, or SIGTERM on Unix.
async fn stopped() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
