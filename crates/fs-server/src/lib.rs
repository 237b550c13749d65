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
//! It binds to loopback unless told otherwise, limits request and header
//! sizes, times out slow requests, slow headers and idle connections,
//! validates names, answers errors in the shapes the SDKs parse, names the
//! caller's region (from its SigV4 signature) in ARNs and S3 URIs, and,
//! when started with fault injection, can inject latency (or a service
//! time within which its own work runs), throttling and
//! 5xx answers, failed or unprocessed BatchWriteRecord entries, and
//! failures after a write was committed ([`Faults`]).
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

// On docs.rs-style builds (`--cfg docsrs`, nightly rustdoc), each item
// gated by a feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod caller;
mod control;
mod error;
mod faults;
mod runtime;
mod serve;
mod wait;
mod writer;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post, put};
use serde::Deserialize;

pub use error::ApiError;
use faults::FaultState;
pub use faults::{Faults, FaultsError};

/// Settings of a server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Where to listen; port 0 picks a free port. Loopback by default.
    pub addr: SocketAddr,
    /// The largest request body accepted (16 MiB by default; a full
    /// BatchWriteRecord of 25 maximal records is under 9 MiB).
    pub max_body_bytes: usize,
    /// The largest request head (request line and headers) accepted; a
    /// larger one gets 431 (64 KiB by default).
    pub max_header_bytes: usize,
    /// How long a request may take, body included, before it is answered
    /// with 503 `ServiceUnavailable` (60 s by default). A write that times
    /// out may still be committed, as on the service.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's head once its first
    /// byte arrived, before the connection is closed (10 s by default).
    pub header_read_timeout: Duration,
    /// How long a connection may wait for its next request (keep-alive)
    /// before it is closed (60 s by default).
    pub idle_timeout: Duration,
    /// Whether faults can be injected at all: through [`Server::set_faults`]
    /// and `POST /_featurestore/faults`. Off by default.
    pub fault_injection: bool,
    /// Faults to inject from the start (needs `fault_injection`).
    pub faults: Faults,
    /// The region every ARN and resolved S3 URI names, whatever region
    /// the client signed for; by default the region of the request's SigV4
    /// credential scope, else the store's.
    pub region: Option<String>,
    /// The account every ARN and resolved S3 URI names; the store's by
    /// default (a SigV4 signature names no account).
    pub account: Option<String>,
    /// Role ARNs that SageMaker "cannot assume": CreateFeatureGroup with
    /// one of them as `RoleArn` fails with the service's ValidationException.
    pub untrusted_roles: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_body_bytes: 16 << 20,
            max_header_bytes: 64 << 10,
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            fault_injection: false,
            faults: Faults::none(),
            region: None,
            account: None,
            untrusted_roles: Vec::new(),
        }
    }
}

impl ServerOptions {
    /// These options listening on `addr`.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// These options with fault injection on (`true`) or off.
    pub fn fault_injection(mut self, on: bool) -> Self {
        self.fault_injection = on;
        self
    }

    /// These options injecting `faults` from the start (fault injection on).
    pub fn faults(mut self, faults: Faults) -> Self {
        self.fault_injection = true;
        self.faults = faults;
        self
    }

    /// These options with another request timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// These options with another header read timeout.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// These options with another idle (keep-alive) timeout.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// These options with another limit on a request's head.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// These options naming `region` in every ARN and S3 URI.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// These options naming `account` in every ARN and S3 URI.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// These options with `role_arn` one that SageMaker cannot assume.
    pub fn untrusted_role(mut self, role_arn: impl Into<String>) -> Self {
        self.untrusted_roles.push(role_arn.into());
        self
    }
}

pub(crate) struct AppState {
    pub(crate) store: Arc<fs_local::Store>,
    /// The thread writing PutRecords.
    pub(crate) writer: writer::Writer,
    pub(crate) faults: FaultState,
    /// Whether faults can be set.
    fault_injection: bool,
    /// How callers' regions and accounts are resolved.
    pub(crate) identity: caller::Identity,
    /// Role ARNs CreateFeatureGroup refuses.
    pub(crate) untrusted_roles: HashSet<String>,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    /// Per operation: requests answered and their time in the server.
    timings: Mutex<BTreeMap<&'static str, Timing>>,
}

impl AppState {
    /// The caller of a request with `headers`.
    pub(crate) fn caller(&self, headers: &axum::http::HeaderMap) -> caller::Caller {
        self.identity.caller(headers, self.store.options())
    }

    /// Replaces the injected faults, if fault injection is on and the
    /// server can inject them.
    fn set_faults(&self, faults: Faults) -> Result<(), FaultsError> {
        if !self.fault_injection {
            return Err(FaultsError::Disabled);
        }
        faults.validate()?;
        self.faults.set(faults);
        Ok(())
    }

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
    /// Starts serving `store` on a tokio task. Fails when the address
    /// cannot be bound, or when `options.faults` cannot be injected (a
    /// wait over [`Faults::MAX_LATENCY`], or faults without
    /// `fault_injection`).
    pub async fn start(
        store: Arc<fs_local::Store>,
        options: ServerOptions,
    ) -> std::io::Result<Server> {
        let invalid = |e: FaultsError| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        if !options.fault_injection && options.faults != Faults::none() {
            return Err(invalid(FaultsError::Disabled));
        }
        options.faults.validate().map_err(invalid)?;
        let writer = writer::Writer::start(store.clone())?;
        let state = Arc::new(AppState {
            store,
            writer,
            faults: FaultState::default(),
            fault_injection: options.fault_injection,
            identity: caller::Identity {
                region: options.region.clone(),
                account: options.account.clone(),
            },
            untrusted_roles: options.untrusted_roles.iter().cloned().collect(),
            counts: Mutex::new(BTreeMap::new()),
            timings: Mutex::new(BTreeMap::new()),
        });
        state.faults.set(options.faults.clone());
        let listener = tokio::net::TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let app = router(state.clone(), &options);
        let limits = serve::ConnectionLimits {
            header_read_timeout: options.header_read_timeout,
            idle_timeout: options.idle_timeout,
            max_header_bytes: options.max_header_bytes,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve::serve(listener, app, limits, async {
            let _ = stopped.await;
        }));
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
    ///
    /// # Panics
    ///
    /// When the server was started without fault injection
    /// ([`ServerOptions::fault_injection`]) or cannot inject `faults`
    /// (see [`Server::try_set_faults`]).
    pub fn set_faults(&self, faults: Faults) {
        if let Err(e) = self.try_set_faults(faults) {
            panic!("fs-server: cannot set faults: {e}");
        }
    }

    /// Replaces the injected faults; fails when the server was started
    /// without fault injection, or a wait is over [`Faults::MAX_LATENCY`].
    pub fn try_set_faults(&self, faults: Faults) -> Result<(), FaultsError> {
        self.state.set_faults(faults)
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

    /// Stops accepting requests, lets the requests in flight finish, closes
    /// every connection, and waits.
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
    service_time_ms: u64,
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
    #[serde(default)]
    post_commit_error_rate: f64,
    #[serde(default)]
    post_commit_reset_rate: f64,
    #[serde(default)]
    post_commit_timeout_rate: f64,
    post_commit_delay_ms: Option<u64>,
}

/// `POST /_featurestore/faults`: replaces the injected faults; 403 when
/// the server runs without fault injection, 400 for faults it cannot
/// inject.
async fn set_faults(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<(), ApiError> {
    if !state.fault_injection {
        return Err(ApiError::forbidden(FaultsError::Disabled.to_string()));
    }
    let b: FaultsBody = runtime::parse_body(&body)?;
    let delay = b
        .post_commit_delay_ms
        .map_or(Faults::none().post_commit_delay, Duration::from_millis);
    let mut faults = Faults::none()
        .latency(std::time::Duration::from_millis(b.latency_ms))
        .service_time(std::time::Duration::from_millis(b.service_time_ms))
        .throttle_rate(b.throttle_rate)
        .error_rate(b.error_rate)
        .entry_throttle_rate(b.entry_throttle_rate)
        .entry_error_rate(b.entry_error_rate)
        .unprocessed_rate(b.unprocessed_rate)
        .post_commit_error_rate(b.post_commit_error_rate)
        .post_commit_reset_rate(b.post_commit_reset_rate)
        .post_commit_timeout(b.post_commit_timeout_rate, delay)
        .seed(b.seed);
    if let Some(ops) = b.operations {
        faults = faults.only(ops);
    }
    state
        .set_faults(faults)
        .map_err(|e| ApiError::validation(e.to_string()))
}

/// Request counts per operation (`PutRecord`: 12), and for each operation
/// answered, how many answers and their total and mean time in the server
/// (`PutRecord.answered`, `PutRecord.total_micros`, `PutRecord.mean_micros`),
/// and the part of it the server worked, before an injected service time
/// held the answer back (`PutRecord.work_micros`, `PutRecord.mean_work_micros`).
async fn stats(State(state): State<Arc<AppState>>) -> axum::Json<BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, u64> = state
        .counts
        .lock()
        .expect("counts lock")
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    for (op, t) in state.timings.lock().expect("timings lock").iter() {
        let n = t.answered.max(1);
        out.insert(format!("{op}.answered"), t.answered);
        out.insert(format!("{op}.total_micros"), t.total_micros);
        out.insert(format!("{op}.mean_micros"), t.total_micros / n);
        out.insert(format!("{op}.work_micros"), t.work_micros);
        out.insert(format!("{op}.mean_work_micros"), t.work_micros / n);
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

/// The requests of one operation answered, and their time in the server.
#[derive(Debug, Default, Clone, Copy)]
struct Timing {
    answered: u64,
    /// From the request's arrival to its answer, injected waits included.
    total_micros: u64,
    /// From the request's arrival to its answer being ready: the total
    /// less the wait for an injected service time.
    work_micros: u64,
}

/// Times each request of an operation, for `/_featurestore/stats`, and
/// holds its answer back until the injected service time has passed.
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
        let worked = started.elapsed();
        if let Some(rest) = state
            .faults
            .service_time(op)
            .and_then(|t| t.checked_sub(worked))
        {
            wait::sleep(rest).await;
        }
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let total = micros(started.elapsed());
        let mut timings = state.timings.lock().expect("timings lock");
        let t = timings.entry(op).or_default();
        t.answered += 1;
        t.total_micros = t.total_micros.saturating_add(total);
        t.work_micros = t.work_micros.saturating_add(micros(worked));
    }
    response
}

/// The answer to a request that took longer than the request timeout.
fn timed_out(timeout: Duration, error: &tower::BoxError) -> ApiError {
    if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::unavailable(format!(
            "the request took longer than the server's request timeout of {} ms",
            timeout.as_millis()
        ))
    } else {
        ApiError::internal(format!("the request failed: {error}"))
    }
}

/// The server's routes over `state`.
fn router(state: Arc<AppState>, options: &ServerOptions) -> Router {
    let timeout = options.request_timeout;
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
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    move |e: tower::BoxError| async move { timed_out(timeout, &e) },
                ))
                .timeout(timeout),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_requests,
        ))
        .with_state(state)
}
