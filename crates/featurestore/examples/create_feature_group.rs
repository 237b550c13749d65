//! Step 2 of 5: create the `customers` feature group in the embedded store.
//!
//! ```text
//! cargo run -p featurestore --example create_feature_group [DIR]
//! ```
//!
//! The store lives in `DIR/store`. The definition has the same shape as a
//! CreateFeatureGroup request, so the JSON it prints works with
//! `aws sagemaker create-feature-group --cli-input-json`.

#![allow(clippy::print_stdout)] // an example shows its results

use std::path::PathBuf;

use featurestore::FeatureStore;
use featurestore::schema::{FeatureDefinition, FeatureGroup, OnlineStoreConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = example_dir();
    let store = FeatureStore::local(dir.join("store"))?;
    let group = FeatureGroup::builder("customers", "customer_id", "event_time")
        .feature(FeatureDefinition::integral("customer_id"))
        .feature(FeatureDefinition::string("event_time"))
        .feature(FeatureDefinition::integral("age"))
        .feature(FeatureDefinition::string("city"))
        .feature(FeatureDefinition::fractional("lifetime_value"))
        .online_store(OnlineStoreConfig::enabled())
        .offline_store_s3_uri("s3://example-bucket/feature-store")
        .description("Customer profiles from the featurestore examples")
        .build()?;
    println!("{}", group.to_json()?);
    if store.describe_feature_group("customers").await.is_ok() {
        println!(
            "feature group \"customers\" already exists in {}",
            dir.display()
        );
    } else {
        let info = store.create_feature_group(group).await?;
        println!(
            "created {} ({}), offline data in {:?}",
            info.arn,
            info.status,
            info.offline_location()
        );
    }
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
