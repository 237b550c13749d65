//! Integration tests of fs-schema's public API: every validation rule with a
//! failing and a passing case, every Arrow type mapping, the strict cast and
//! its failures, records, schema evolution, the offline layout, and the
//! CreateFeatureGroup files under `tests/data/`.

mod cast;
mod evolution;
mod infer;
mod json;
mod layout;
mod records;
mod validation;

use fs_schema::{
    Error, FeatureDefinition, FeatureGroup, FeatureGroupBuilder, OnlineStoreConfig, StorageType,
};

/// A builder for group `g` with a String identifier `id`, a String event time
/// `ts` and `extra`, without any store.
pub(crate) fn builder(extra: impl IntoIterator<Item = FeatureDefinition>) -> FeatureGroupBuilder {
    FeatureGroup::builder("g", "id", "ts")
        .feature(FeatureDefinition::string("id"))
        .feature(FeatureDefinition::string("ts"))
        .features(extra)
}

/// Group `g` (String `id`, String `ts`, then `extra`) with a Standard online store.
pub(crate) fn online_group(extra: impl IntoIterator<Item = FeatureDefinition>) -> FeatureGroup {
    builder(extra)
        .online_store(OnlineStoreConfig::enabled())
        .build()
        .expect("valid online group")
}

/// Group `g` (String `id`, String `ts`, then `extra`) with an InMemory online store.
pub(crate) fn in_memory_group(extra: impl IntoIterator<Item = FeatureDefinition>) -> FeatureGroup {
    builder(extra)
        .online_store(OnlineStoreConfig::enabled().with_storage_type(StorageType::InMemory))
        .build()
        .expect("valid InMemory group")
}

/// Asserts that the error's message contains every needle.
#[track_caller]
pub(crate) fn assert_mentions(err: &Error, needles: &[&str]) {
    let msg = err.to_string();
    for needle in needles {
        assert!(
            msg.contains(needle),
            "message {msg:?} does not mention {needle:?} ({err:?})"
        );
    }
}
