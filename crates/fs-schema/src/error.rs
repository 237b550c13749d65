//! The error type of fs-schema.

use crate::cast::CastFailure;
use crate::name::NameKind;

/// The result type of fs-schema.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in fs-schema. Every variant names what was
/// wrong and where (feature, column, row, value).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A feature group or feature name breaks the naming rules.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// What the name names.
        kind: NameKind,
        /// The offending name.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A feature uses a name the offline store reserves.
    #[error(
        "feature name {name:?} is reserved (is_deleted, write_time and api_invocation_time are added by the offline store)"
    )]
    ReservedName {
        /// The offending name.
        name: String,
    },
    /// Two features share a name (names are compared ignoring ASCII case).
    #[error("duplicate feature name {name:?} (clashes with {other:?})")]
    DuplicateFeature {
        /// The second occurrence.
        name: String,
        /// The first occurrence.
        other: String,
    },
    /// More features than the service allows.
    #[error("{count} features given; a feature group holds at most {max}")]
    TooManyFeatures {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A feature definition breaks a rule of its type.
    #[error("invalid definition of feature {feature:?}: {reason}")]
    InvalidDefinition {
        /// The feature.
        feature: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The record identifier or event-time feature is not among the definitions.
    #[error("the {role} feature {feature:?} is not among the feature definitions")]
    MissingFeature {
        /// "record identifier" or "event time".
        role: &'static str,
        /// The name that was not found.
        feature: String,
    },
    /// The record identifier or event-time feature has a type it may not have.
    #[error("the {role} feature {feature:?} is invalid: {reason}")]
    InvalidFeatureRole {
        /// "record identifier" or "event time".
        role: &'static str,
        /// The feature.
        feature: String,
        /// Why.
        reason: String,
    },
    /// A store, TTL, tag, description or role setting is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The setting, named as in the CreateFeatureGroup request.
        field: String,
        /// Why.
        reason: String,
    },
    /// A feature group JSON document could not be parsed.
    #[error("invalid feature group JSON: {source}")]
    Json {
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// An event time could not be parsed or is out of range.
    #[error("invalid event time {value:?}: {reason}")]
    InvalidEventTime {
        /// The value as given.
        value: String,
        /// Why.
        reason: String,
    },
    /// A feature value is invalid for its feature's type or too large.
    #[error("invalid value for feature {feature:?}: {reason}")]
    InvalidValue {
        /// The feature.
        feature: String,
        /// Why (includes the value, shortened if long).
        reason: String,
    },
    /// A record is larger than the service allows.
    #[error("record {record_id:?} is {size} bytes; a record may be at most {max} bytes")]
    RecordTooLarge {
        /// The record's identifier value.
        record_id: String,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A record names a feature the group does not have.
    #[error("feature {feature:?} is not defined in feature group {group:?}")]
    UnknownFeature {
        /// The group.
        group: String,
        /// The unknown feature.
        feature: String,
    },
    /// An Arrow column has a type with no Feature Store equivalent.
    #[error(
        "column {column:?} has Arrow type {data_type}, which has no Feature Store type: {hint}"
    )]
    UnsupportedArrowType {
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: arrow_schema::DataType,
        /// What to do about it.
        hint: &'static str,
    },
    /// A column needed by the group is not in the batch.
    #[error("the batch has no column {column:?}, the group's {role} feature")]
    MissingColumn {
        /// The missing column.
        column: String,
        /// "record identifier" or "event time".
        role: &'static str,
    },
    /// A column's Arrow type cannot be cast to its feature's type at all.
    #[error(
        "column {column:?} has Arrow type {data_type}, which cannot hold a {target} feature: {reason}"
    )]
    IncompatibleColumn {
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: arrow_schema::DataType,
        /// The feature's type (e.g. `Integral` or `List of String`).
        target: String,
        /// Why, and what to do.
        reason: &'static str,
    },
    /// Casting a batch to a group's schema failed; every failure names its
    /// column, row and value.
    #[error("{}", crate::cast::summarize(.failures))]
    Cast {
        /// The failures found (at most one per row), in row order.
        failures: Vec<CastFailure>,
    },
    /// A proposed schema change is not allowed.
    #[error("feature {feature:?} cannot be changed: {reason}")]
    Evolution {
        /// The feature.
        feature: String,
        /// Why the change is refused.
        reason: String,
    },
    /// An error from Arrow itself.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A control-plane call to SageMaker failed.
    #[cfg(feature = "aws-errors")]
    #[error(transparent)]
    Aws(#[from] crate::aws_error::AwsError),
}

impl Error {
    /// True when retrying the same call may succeed (throttling, transient
    /// service or network errors). Only control-plane errors can be.
    pub fn is_retryable(&self) -> bool {
        match self {
            #[cfg(feature = "aws-errors")]
            Error::Aws(e) => e.is_retryable(),
            _ => false,
        }
    }
}
