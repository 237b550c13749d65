//! Step 3 of 5: ingest `customers.csv` into the `customers` feature group.
//!
//! ```text
//! cargo run -p featurestore --example ingest [DIR]
//! ```
//!
//! Every row ends either written or in the failures file
//! (`DIR/failures.csv`) with its file, row, column and reason.

#![allow(clippy::print_stdout)] // an example shows its results

use std::path::PathBuf;

use featurestore::FeatureStore;
use featurestore::ingest::IngestOptions;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = example_dir();
    let store = FeatureStore::local(dir.join("store"))?;
    let options = IngestOptions::default().failures_file(dir.join("failures.csv"));
    let report = store
        .ingest("customers", &[dir.join("customers.csv")], options, 8)
        .await?;
    println!(
        "read {} rows: {} written, {} failed",
        report.rows_read, report.rows_written, report.rows_failed
    );
    for failure in report.failures.iter().take(5) {
        println!("  row {}: {}", failure.row, failure.reason);
    }
    // Closing flushes the offline outbox to Parquet files.
    store.close()?;
    Ok(())
}

/// The example directory: the first argument, or `target/featurestore-example`.
fn example_dir() -> PathBuf {
    std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/featurestore-example"))
}
