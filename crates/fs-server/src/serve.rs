//! The HTTP/1.1 connections: hyper's server connection with its header
//! size limit and header read timeout, an idle timeout between requests,
//! hyper-util's graceful shutdown, and connections dropped on purpose.
//!
//! `axum::serve` offers none of these settings, so connections are served
//! here with `hyper::server::conn::http1` (what `axum::serve` runs inside).
//!
//! - Headers over the limit get hyper's own 431 (`max_header_size`).
//! - hyper has one timer per request head (`header_read_timeout`), started
//!   when it waits for the next request, so it bounds the idle time between
//!   requests and the header read together. [`PhasedTimer`] splits it in
//!   two: the idle timeout runs until the first byte of the next request
//!   arrives, the header timeout from then on. (When the start of the next
//!   request came in the same read as the end of the previous one, the
//!   header phase starts with the next bytes read; a client that stalls
//!   right there is closed after the idle timeout instead.)
//! - A handler asks for its connection to be closed without an answer (an
//!   injected fault after a commit) with [`drop_connection`]; the service
//!   then fails, and hyper closes the connection without writing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The connection settings of a server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_header_bytes: usize,
}

/// Marks a response that must not be sent: its connection is closed.
#[derive(Debug, Clone, Copy)]
struct DropConnection;

/// The error that makes hyper close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("the connection is closed without an answer (an injected fault)")]
struct Dropped;

/// A response that closes its connection without being sent.
pub(crate) fn drop_connection() -> Response {
    let mut response = ().into_response();
    response.extensions_mut().insert(DropConnection);
    response
}

/// Serves `app` on `listener` until `stop` resolves, then stops accepting,
/// lets the requests in flight finish and waits for their connections.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .max_header_size(limits.max_header_bytes)
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "fs-server cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let reads = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(CountingIo {
            inner: stream,
            reads: reads.clone(),
        });
        let mut connection_builder = builder.clone();
        connection_builder.timer(PhasedTimer {
            reads,
            idle: limits.idle_timeout,
            headers: limits.header_read_timeout,
        });
        let app = app.clone();
        let service = hyper::service::service_fn(move |request| {
            let app = app.clone();
            async move {
                let response = tower::ServiceExt::oneshot(app, request)
                    .await
                    .unwrap_or_else(|never| match never {});
                if response.extensions().get::<DropConnection>().is_some() {
                    Err(Dropped)
                } else {
                    Ok(response)
                }
            }
        });
        let connection = graceful.watch(connection_builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A TCP stream counting the bytes read from it, for [`PhasedTimer`].
struct CountingIo {
    inner: tokio::net::TcpStream,
    reads: Arc<AtomicU64>,
}

impl AsyncRead for CountingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.reads.fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's timer for one connection. An HTTP/1 server connection asks its
/// timer only for the header read timeout, one sleep per request head;
/// that sleep lasts the idle timeout while no byte arrives, and the header
/// timeout from the first byte on (the deadline hyper asks for is the
/// header timeout from the start, so it is not used).
struct PhasedTimer {
    reads: Arc<AtomicU64>,
    idle: Duration,
    headers: Duration,
}

impl hyper::rt::Timer for PhasedTimer {
    fn sleep(&self, _: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(PhasedSleep {
            reads: self.reads.clone(),
            reads_at_start: self.reads.load(Ordering::Relaxed),
            headers: Some(self.headers),
            sleep: Box::pin(tokio::time::sleep(self.idle)),
        })
    }

    fn sleep_until(&self, _: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep(self.idle)
    }
}

/// The sleep of [`PhasedTimer`]: idle until bytes arrive, then the header
/// timeout (`headers` is taken when that phase starts).
struct PhasedSleep {
    reads: Arc<AtomicU64>,
    reads_at_start: u64,
    headers: Option<Duration>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for PhasedSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this whenever the connection wakes while the head
        // is incomplete, so new bytes are seen as they arrive.
        if self.reads.load(Ordering::Relaxed) != self.reads_at_start
            && let Some(headers) = self.headers.take()
        {
            let deadline = tokio::time::Instant::now() + headers;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for PhasedSleep {}
