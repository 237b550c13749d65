//! The documented service limits that validation enforces.
//!
//! Each constant names the SageMaker Feature Store quota or API constraint it
//! mirrors; `docs/semantics.md` cites the AWS source for each.

/// Maximum length of a feature group or feature name, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Maximum number of feature definitions in one feature group.
pub const MAX_FEATURES: usize = 2_500;
/// Maximum number of features one `UpdateFeatureGroup` call may add.
pub const MAX_FEATURE_ADDITIONS: usize = 100;
/// Maximum size of one record (all of its feature values), in bytes.
pub const MAX_RECORD_BYTES: usize = 350 * 1024;
/// Maximum size of a record identifier value, in bytes.
pub const MAX_RECORD_IDENTIFIER_BYTES: usize = 2 * 1024;
/// Maximum size of one feature value, in bytes.
pub const MAX_VALUE_BYTES: usize = 350 * 1024;
/// Maximum length of a feature group description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 128;
/// Maximum number of tags on a feature group.
pub const MAX_TAGS: usize = 50;
/// Maximum length of a tag key, in characters.
pub const MAX_TAG_KEY_LEN: usize = 128;
/// Maximum length of a tag value, in characters.
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// Smallest dimension of a `Vector` collection feature.
pub const MIN_VECTOR_DIMENSION: u32 = 1;
/// Largest dimension of a `Vector` collection feature.
pub const MAX_VECTOR_DIMENSION: u32 = 8_192;
/// Maximum record identifiers in one `BatchGetRecord` identifier entry.
pub const MAX_BATCH_GET_IDS_PER_ENTRY: usize = 100;
/// Maximum entries in one `BatchWriteRecord` call.
pub const MAX_BATCH_WRITE_ENTRIES: usize = 25;
/// Maximum records on one `ListRecords` page.
pub const MAX_LIST_RECORDS_PAGE: usize = 100;

/// Feature names the service reserves for the offline store's own columns.
pub const RESERVED_FEATURE_NAMES: [&str; 3] = ["is_deleted", "write_time", "api_invocation_time"];
