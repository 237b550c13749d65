//! The `orders` group of the dataset bench, which the cache bench reads
//! back from S3 and the artifact bench keeps as a dataset artifact (the
//! same files, so the same definition).

use fs_schema::{FeatureDefinition, FeatureGroup};

/// `orders`: `id`, `ts` and 18 features (9 Fractional, 6 Integral, 3 String).
pub(crate) fn orders_group() -> FeatureGroup {
    let mut features = vec![
        FeatureDefinition::string("id"),
        FeatureDefinition::string("ts"),
    ];
    for i in 0..18 {
        features.push(match i {
            0..9 => FeatureDefinition::fractional(format!("f{i}")),
            9..15 => FeatureDefinition::integral(format!("f{i}")),
            _ => FeatureDefinition::string(format!("f{i}")),
        });
    }
    FeatureGroup::builder("orders", "id", "ts")
        .features(features)
        .offline_store_s3_uri("s3://bench/offline")
        .build()
        .expect("the orders group")
}
