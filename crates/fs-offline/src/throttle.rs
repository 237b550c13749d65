//! A throttled link in front of an S3 endpoint, for tests and benchmarks
//! (feature `test-util`).
//!
//! S3 emulators on loopback (moto, MiniStack) answer at memory speed, with
//! no per-connection limit and no latency, so nothing measured against
//! them says whether a download would reach a real link's limit. A
//! [`Throttle`] is a TCP proxy that gives the path what a real one has:
//!
//! - a **first-byte latency**: the first byte of each answer leaves no
//!   sooner than that long after its request's first byte arrived;
//! - a **per-connection bandwidth** cap, as one TCP stream to S3 has;
//! - a **link** cap shared by every connection, as the instance's
//!   network has.
//!
//! It counts the bytes each way and the connections, so a test can see
//! what a client downloaded. Requests are told apart by direction: bytes
//! from the client after an answer began start a new request, which is
//! how HTTP/1.1 clients (the AWS SDKs) use a connection.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use std::time::Duration;
//! use fs_offline::throttle::{Limits, Throttle};
//!
//! let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let limits = Limits::default()
//!     .first_byte_latency(Duration::from_millis(30))
//!     .per_connection(50_000_000)
//!     .link(400_000_000);
//! let throttle = Throttle::start(upstream.local_addr()?, limits).await?;
//! assert!(throttle.endpoint_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(throttle.bytes_down(), 0);
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Bytes moved per write: small enough that pacing is smooth, large
/// enough that a wait is longer than the timer's millisecond.
const CHUNK: usize = 64 << 10;

/// How far a pacer may run ahead of its rate after an idle spell.
const BURST: Duration = Duration::from_millis(5);

/// What a [`Throttle`] imposes. The default imposes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Bytes per second each connection carries toward the client.
    pub per_connection: Option<u64>,
    /// Bytes per second all connections together carry toward the client.
    pub link: Option<u64>,
    /// The wait before the first byte of each answer.
    pub first_byte_latency: Duration,
}

impl Limits {
    /// These limits with each connection capped at `bytes_per_sec`.
    pub fn per_connection(mut self, bytes_per_sec: u64) -> Self {
        self.per_connection = Some(bytes_per_sec.max(1));
        self
    }

    /// These limits with the whole link capped at `bytes_per_sec`.
    pub fn link(mut self, bytes_per_sec: u64) -> Self {
        self.link = Some(bytes_per_sec.max(1));
        self
    }

    /// These limits with `latency` before each answer's first byte.
    pub fn first_byte_latency(mut self, latency: Duration) -> Self {
        self.first_byte_latency = latency;
        self
    }

    /// The most a client with `connections` connections can download per
    /// second: min(link, connections × per-connection), `None` when
    /// nothing caps it.
    pub fn bound(&self, connections: usize) -> Option<u64> {
        let per = self
            .per_connection
            .map(|p| p.saturating_mul(connections as u64));
        match (per, self.link) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Paces bytes at a rate: each chunk gets the next free slot of the
/// time the rate allows, with at most [`BURST`] of slack after idling.
#[derive(Debug)]
struct Pacer {
    bytes_per_sec: u64,
    next: Instant,
}

impl Pacer {
    fn new(bytes_per_sec: u64) -> Self {
        Pacer {
            bytes_per_sec,
            next: Instant::now(),
        }
    }

    /// Reserves the time `n` bytes take; returns when they may be sent.
    fn reserve(&mut self, n: usize, now: Instant) -> Instant {
        let start = self.next.max(now.checked_sub(BURST).unwrap_or(now));
        self.next = start + Duration::from_secs_f64(n as f64 / self.bytes_per_sec as f64);
        start
    }
}

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    limits: Limits,
    link: Option<Mutex<Pacer>>,
    bytes_down: AtomicU64,
    bytes_up: AtomicU64,
    connections: AtomicU64,
}

/// A running throttled proxy; it stops when dropped.
#[derive(Debug)]
pub struct Throttle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Throttle {
    /// Listens on a free loopback port and forwards every connection to
    /// `upstream` under `limits`.
    pub async fn start(upstream: SocketAddr, limits: Limits) -> std::io::Result<Throttle> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            limits,
            link: limits.link.map(|r| Mutex::new(Pacer::new(r))),
            bytes_down: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Ok(Throttle { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`, to give a client as its endpoint.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The limits it imposes.
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// Bytes carried toward clients (answers) so far.
    pub fn bytes_down(&self) -> u64 {
        self.shared.bytes_down.load(Ordering::Relaxed)
    }

    /// Bytes carried from clients (requests) so far.
    pub fn bytes_up(&self) -> u64 {
        self.shared.bytes_up.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Ok(upstream) = TcpStream::connect(shared.upstream).await {
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                connection(client, upstream, shared).await;
            }
        });
    }
}

/// One connection: requests go up as they come, answers come down late
/// by the first-byte latency and paced by both caps.
async fn connection(client: TcpStream, upstream: TcpStream, shared: Arc<Shared>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();
    // When the request being answered began; `None` once its answer began.
    let request_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let up = {
        let (shared, request_at) = (Arc::clone(&shared), Arc::clone(&request_at));
        async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                request_at
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(Instant::now);
                shared.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                if up_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = up_write.shutdown().await;
        }
    };
    let down = async move {
        let mut own = shared.limits.per_connection.map(Pacer::new);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match up_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let began = request_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(began) = began {
                tokio::time::sleep_until(began + shared.limits.first_byte_latency).await;
            }
            let now = Instant::now();
            let mut at = own.as_mut().map_or(now, |p| p.reserve(n, now));
            if let Some(link) = &shared.link {
                let slot = link
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .reserve(n, now);
                at = at.max(slot);
            }
            tokio::time::sleep_until(at).await;
            shared.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_smaller_of_the_link_and_the_connections() {
        let l = Limits::default().per_connection(50).link(400);
        assert_eq!(l.bound(1), Some(50));
        assert_eq!(l.bound(16), Some(400));
        assert_eq!(Limits::default().per_connection(50).bound(4), Some(200));
        assert_eq!(Limits::default().bound(4), None);
    }

    #[test]
    fn a_pacer_spaces_chunks_at_its_rate_with_a_small_burst() {
        let now = Instant::now();
        let mut p = Pacer::new(1_000_000);
        p.next = now;
        // 10 chunks of 100 kB at 1 MB/s: the last may leave 0.9 s in.
        let starts: Vec<Instant> = (0..10).map(|_| p.reserve(100_000, now)).collect();
        assert_eq!(starts[0], now);
        assert_eq!(starts[9] - now, Duration::from_millis(900));
        // After an idle second, it may start at once but bank no more than
        // the burst.
        let later = now + Duration::from_secs(5);
        assert_eq!(p.reserve(100_000, later), later - BURST);
    }

    #[tokio::test]
    async fn bytes_pass_through_late_and_paced() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = upstream.local_addr().unwrap();
        // An upstream that answers each 4-byte request with 200 kB at once.
        tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            let mut req = [0u8; 4];
            while s.read_exact(&mut req).await.is_ok() {
                s.write_all(&vec![7u8; 200_000]).await.unwrap();
            }
        });
        let limits = Limits::default()
            .first_byte_latency(Duration::from_millis(50))
            .per_connection(1_000_000);
        let throttle = Throttle::start(addr, limits).await.unwrap();
        let mut c = TcpStream::connect(throttle.addr).await.unwrap();
        for _ in 0..2 {
            let started = std::time::Instant::now();
            c.write_all(b"GET ").await.unwrap();
            let mut answer = vec![0u8; 200_000];
            c.read_exact(&mut answer).await.unwrap();
            // 50 ms before the first byte, then 200 kB at 1 MB/s: at least
            // the latency plus the 0.2 s less one burst.
            assert!(started.elapsed() >= Duration::from_millis(50 + 200 - 70));
            assert!(answer.iter().all(|&b| b == 7));
        }
        assert_eq!(throttle.bytes_down(), 400_000);
        assert_eq!(throttle.bytes_up(), 8);
        assert_eq!(throttle.connections(), 1);
    }
}
