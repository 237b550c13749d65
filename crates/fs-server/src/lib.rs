//! # fs-server
//!
//! A local Amazon SageMaker Feature Store: an HTTP server that speaks the
//! Feature Store runtime API (PutRecord, GetRecord, DeleteRecord,
//! BatchGetRecord, BatchWriteRecord, ListRecords) and the control-plane
//! subset (CreateFeatureGroup, DescribeFeatureGroup, ListFeatureGroups,
//! UpdateFeatureGroup with feature additions, DeleteFeatureGroup, ListTags)
//! over the embedded store, so that the real AWS SDKs (Rust, boto3, any)
//! work against it with an `endpoint_url`.
//!
//! It binds to loopback unless told otherwise, limits request sizes,
//! validates names, answers errors in the shapes the SDKs parse, and can
//! inject latency, throttling and 5xx answers, and failed or unprocessed
//! BatchWriteRecord entries ([`Faults`]).
//!
//! Every write is durable when answered. Concurrent PutRecord and
//! DeleteRecord requests share durable transactions (the embedded store's
//! group commit), and the entries of a BatchWriteRecord are written in one
//! transaction, each with its own answer.
//!
//! ```
//! use std::sync::Arc;
//! use fs_server::{Server, ServerOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(fs_local::Store::open(dir.path())?);
//! let server = Server::start(store, ServerOptions::default()).await?;
//! assert!(server.endpoint_url().starts_with("http://127.0.0.1:"));
//! // Point any SDK at server.endpoint_url() ...
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Binary: `cargo run -p fs-server -- --addr 127.0.0.1:0 --store DIR`.

mod control;
mod error;
mod faults;
mod runtime;
mod writer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post, put};
use serde::Deserialize;

pub use error::ApiError;
use faults::FaultState;
pub use faults::Faults;

/// Settings of a server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Where to listen; port 0 picks a free port. Loopback by default.
    pub addr: SocketAddr,
    /// The largest request body accepted (16 MiB by default; a full
    /// BatchWriteRecord of 25 maximal records is under 9 MiB).
    pub max_body_bytes: usize,
    /// Faults to inject from the start.
    pub faults: Faults,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_body_bytes: 16 << 20,
            faults: Faults::none(),
        }
    }
}

impl ServerOptions {
    /// These options listening on `addr`.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// These options injecting `faults`.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
}

pub(crate) struct AppState {
    pub(crate) store: Arc<fs_local::Store>,
    /// The thread writing PutRecords.
    pub(crate) writer: writer::Writer,
    pub(crate) faults: FaultState,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    /// Per operation: requests answered and their total time in the
    /// server (µs), injected latency included.
    timings: Mutex<BTreeMap<&'static str, (u64, u64)>>,
}

impl AppState {
    /// Counts a request of `operation` and applies the injected faults.
    pub(crate) async fn enter(&self, operation: &'static str) -> Result<(), ApiError> {
        *self
            .counts
            .lock()
            .expect("counts lock")
            .entry(operation)
            .or_default() += 1;
        self.faults.apply(operation).await
    }
}

/// A running server. Dropping it leaves the server running until the
/// runtime stops; call [`Server::shutdown`] to stop it.
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Starts serving `store` on a tokio task.
    pub async fn start(
        store: Arc<fs_local::Store>,
        options: ServerOptions,
    ) -> std::io::Result<Server> {
        let writer = writer::Writer::start(store.clone())?;
        let state = Arc::new(AppState {
            store,
            writer,
            faults: FaultState::default(),
            counts: Mutex::new(BTreeMap::new()),
            timings: Mutex::new(BTreeMap::new()),
        });
        state.faults.set(options.faults.clone());
        let listener = tokio::net::TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let app = router(state.clone(), options.max_body_bytes);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "fs-server stopped with an error");
            }
        });
        tracing::info!(%addr, "fs-server listening");
        Ok(Server {
            addr,
            state,
            stop: Some(stop),
            task,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for an SDK's `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.state.faults.set(faults);
    }

    /// How many requests of `operation` (e.g. `PutRecord`) were received,
    /// failed ones included.
    pub fn request_count(&self, operation: &str) -> u64 {
        self.state
            .counts
            .lock()
            .expect("counts lock")
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Stops accepting requests, lets running ones finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        // Every request has been answered; the writer thread has nothing
        // left to write and ends.
        self.state.writer.close();
    }
}

/// An `SdkConfig` for talking to a local server at `endpoint_url` with any
/// AWS SDK client: plain HTTP, region `us-east-1`, fixed dummy credentials
/// (the server does not check signatures), and the standard retry policy
/// with `max_attempts` attempts and short backoffs (2 to 20 ms), so that
/// tests under injected faults run fast.
///
/// ```
/// let config = fs_server::client_config("http://127.0.0.1:8600", 3);
/// assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:8600"));
/// ```
pub fn client_config(endpoint_url: &str, max_attempts: u32) -> aws_types::SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
    use aws_smithy_types::retry::RetryConfig;
    aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::from_keys(
            "AKIDLOCALFSSERVER",
            "fs-server-does-not-check-signatures",
            None,
        )))
        .endpoint_url(endpoint_url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(std::time::Duration::from_millis(2))
                .with_max_backoff(std::time::Duration::from_millis(20)),
        )
        .build()
}

#[derive(Deserialize)]
struct FaultsBody {
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    throttle_rate: f64,
    #[serde(default)]
    error_rate: f64,
    operations: Option<Vec<String>>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    entry_throttle_rate: f64,
    #[serde(default)]
    entry_error_rate: f64,
    #[serde(default)]
    unprocessed_rate: f64,
}

async fn set_faults(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<(), ApiError> {
    let b: FaultsBody = runtime::parse_body(&body)?;
    let mut faults = Faults::none()
        .latency(std::time::Duration::from_millis(b.latency_ms))
        .throttle_rate(b.throttle_rate)
        .error_rate(b.error_rate)
        .entry_throttle_rate(b.entry_throttle_rate)
        .entry_error_rate(b.entry_error_rate)
        .unprocessed_rate(b.unprocessed_rate)
        .seed(b.seed);
    if let Some(ops) = b.operations {
        faults = faults.only(ops);
    }
    state.faults.set(faults);
    Ok(())
}

/// Request counts per operation (`PutRecord`: 12), and for each operation
/// answered, how many answers and their total and mean time in the server
/// (`PutRecord.answered`, `PutRecord.total_micros`, `PutRecord.mean_micros`).
async fn stats(State(state): State<Arc<AppState>>) -> axum::Json<BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, u64> = state
        .counts
        .lock()
        .expect("counts lock")
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    for (op, (n, micros)) in state.timings.lock().expect("timings lock").iter() {
        out.insert(format!("{op}.answered"), *n);
        out.insert(format!("{op}.total_micros"), *micros);
        out.insert(format!("{op}.mean_micros"), micros / (*n).max(1));
    }
    axum::Json(out)
}

/// The runtime or control-plane operation a request calls, if any.
fn operation_of(
    method: &axum::http::Method,
    path: &str,
    target: Option<&str>,
) -> Option<&'static str> {
    use axum::http::Method;
    let op = match (method, path) {
        (_, "/BatchGetRecord") => "BatchGetRecord",
        (_, "/BatchWriteRecord") => "BatchWriteRecord",
        (_, p) if p.starts_with("/FeatureGroup/") && p.ends_with("/ListRecords") => "ListRecords",
        (&Method::PUT, p) if p.starts_with("/FeatureGroup/") => "PutRecord",
        (&Method::GET, p) if p.starts_with("/FeatureGroup/") => "GetRecord",
        (&Method::DELETE, p) if p.starts_with("/FeatureGroup/") => "DeleteRecord",
        (&Method::POST, "/") => {
            return target
                .and_then(|t| t.strip_prefix("SageMaker."))
                .and_then(control::operation_name);
        }
        _ => return None,
    };
    Some(op)
}

/// Times each request of an operation, for `/_featurestore/stats`.
async fn time_requests(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let op = operation_of(request.method(), request.uri().path(), target);
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    if let Some(op) = op {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut timings = state.timings.lock().expect("timings lock");
        let t = timings.entry(op).or_default();
        t.0 += 1;
        t.1 = t.1.saturating_add(micros);
    }
    response
}

/// The server's routes over `state`.
fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route(
            "/FeatureGroup/{name}",
            put(runtime::put_record)
                .get(runtime::get_record)
                .delete(runtime::delete_record),
        )
        .route(
            "/FeatureGroup/{name}/ListRecords",
            post(runtime::list_records),
        )
        .route("/BatchGetRecord", post(runtime::batch_get_record))
        .route("/BatchWriteRecord", post(runtime::batch_write_record))
        .route("/", post(control::dispatch))
        .route("/_featurestore/health", get(|| async { "ok" }))
        .route("/_featurestore/faults", post(set_faults))
        .route("/_featurestore/stats", get(stats))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_requests,
        ))
        .with_state(state)
}
