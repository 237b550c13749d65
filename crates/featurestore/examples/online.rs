//! Step 4 of 5: read features online, as typed Arrow batches.
//!
//! ```text
//! cargo run -p featurestore --example online [DIR]
//! ```
//!
//! One record, then a batch of records in request order (identifiers that
//! do not exist come back in `missing`).

#![allow(clippy::print_stdout)] // an example shows its results

use std::path::PathBuf;

use featurestore::FeatureStore;
use featurestore::arrow::util::pretty::pretty_format_batches;
use featurestore::online::OnlineStoreExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = example_dir();
    let store = FeatureStore::local(dir.join("store"))?;
    let online = store.online();

    match online.get("customers", "3", None).await? {
        Some(one) => println!("customer 3:\n{}", pretty_format_batches(&[one])?),
        None => println!("customer 3 is not in the online store (run the ingest example first)"),
    }

    let ids: Vec<String> = ["1", "2", "3", "999999"].map(String::from).to_vec();
    let features = vec!["customer_id".to_owned(), "lifetime_value".to_owned()];
    let batch = online.batch_get("customers", &ids, Some(&features)).await?;
    println!(
        "{}",
        pretty_format_batches(std::slice::from_ref(&batch.batch))?
    );
    println!("missing: {:?}", batch.missing);
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
