//! `serve` (fs-server over the store) and `flush` (outbox to Parquet).

use std::path::Path;

use anyhow::{Context, Result};
use fs_server::{Server, ServerOptions};
use serde_json::json;

use crate::backend::{Backend, Open};
use crate::cli::{Global, ServeArgs};
use crate::output::{count, print_json};

/// `serve`: runs until Ctrl-C or SIGTERM, then flushes and releases the store.
pub(crate) async fn serve(global: &Global, args: &ServeArgs) -> Result<()> {
    let backend = Backend::connect(global, Open::OrCreate).await?;
    let store = backend.local("serve")?.clone();
    let server = Server::start(store, ServerOptions::default().addr(args.addr))
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let url = server.endpoint_url();
    if global.json {
        println!(
            "{}",
            json!({ "endpoint_url": url, "store": global.store.display().to_string() })
        );
    } else {
        println!(
            "featurestore serving {} at {url} (Ctrl-C to stop)",
            global.store.display()
        );
        if !args.addr.ip().is_loopback() {
            eprintln!(
                "warning: listening on {}, which is not a loopback address",
                args.addr
            );
        }
    }
    stopped().await?;
    server.shutdown().await;
    backend.close()
}

/// Waits for Ctrl-C, or SIGTERM on Unix.
async fn stopped() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok(())
    }
}

/// `flush`.
pub(crate) async fn flush(global: &Global) -> Result<()> {
    let backend = Backend::connect(global, Open::Existing).await?;
    let store = backend.local("flush")?;
    let report = store.flush()?;
    let dir = store.dir().to_path_buf();
    let rel = |p: &Path| p.strip_prefix(&dir).unwrap_or(p).display().to_string();
    if global.json {
        print_json(&json!({
            "rows": report.rows,
            "files": report.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        }))?;
    } else if report.rows == 0 {
        println!("nothing to flush: the offline outbox is empty");
    } else {
        println!(
            "flushed {} rows into {} Parquet files under {}:",
            count(report.rows),
            count(report.files.len() as u64),
            dir.display()
        );
        for f in &report.files {
            println!("  {}", rel(f));
        }
    }
    backend.close()
}
