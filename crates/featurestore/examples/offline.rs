//! Step 5 of 5: build training data from the offline store.
//!
//! ```text
//! cargo run -p featurestore --features sql --example offline [DIR]
//! ```
//!
//! The latest row of each customer (deleted customers left out) as the
//! store was at a point in time, written to `DIR/training.parquet`; then a
//! point-in-time join: each label row gets the customer's features as they
//! were at the label's time, never later (no leakage from the future).

#![allow(clippy::print_stdout)] // an example shows its results

use std::path::PathBuf;

use featurestore::FeatureStore;
use featurestore::arrow::array::{Int64Array, RecordBatch, StringArray};
use featurestore::arrow::datatypes::{DataType, Field, Schema};
use featurestore::arrow::util::pretty::pretty_format_batches;
use featurestore::offline::output::{ParquetOptions, write_parquet};
use featurestore::offline::{DatasetBuilder, Entities, EntitySource, JoinSpec};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = example_dir();
    let store = FeatureStore::local(dir.join("store"))?;

    // The latest record of every customer, as a Parquet file.
    let spec = store.dataset_builder("customers").await?.build()?;
    let out = dir.join("training.parquet");
    let report =
        write_parquet(store.dataset(&spec).await?, &out, ParquetOptions::default()).await?;
    println!(
        "{} customers (latest record each) in {}",
        report.rows,
        out.display()
    );

    // Labels observed at given times, joined point-in-time.
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("label_time", DataType::Utf8, false),
        Field::new("churned", DataType::Int64, false),
    ]));
    let labels = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![3, 3, 4])),
            Arc::new(StringArray::from(vec![
                "2024-05-01T10:00:00Z",
                "2024-05-02T00:00:00Z",
                "2024-05-01T12:00:00Z",
            ])),
            Arc::new(Int64Array::from(vec![0, 1, 0])),
        ],
    )?;
    let customers = store.describe_feature_group("customers").await?.spec;
    let spec = DatasetBuilder::from_entities(Entities {
        source: EntitySource::Batches {
            schema,
            batches: vec![labels],
        },
        id_column: "customer_id".into(),
        time_column: "label_time".into(),
    })
    .join(JoinSpec::new(customers).features(["age", "lifetime_value"]))
    .build()?;
    let rows = store.dataset(&spec).await?.collect().await?;
    println!("{}", pretty_format_batches(&rows)?);
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
