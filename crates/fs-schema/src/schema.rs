//! The Arrow schema of a feature group.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::FeatureGroup;
use crate::types::{Collection, FeatureDefinition, FeatureType};

/// The Arrow type of one element of a feature's values.
pub(crate) fn scalar_data_type(t: FeatureType) -> DataType {
    match t {
        FeatureType::Integral => DataType::Int64,
        FeatureType::Fractional => DataType::Float64,
        FeatureType::String => DataType::Utf8,
    }
}

/// The Arrow field of a feature: `Int64`, `Float64` or `Utf8` for scalars,
/// `List` of those for `List` and `Set`, `FixedSizeList(Float64, dimension)`
/// for `Vector`.
pub fn arrow_field(def: &FeatureDefinition, nullable: bool) -> Field {
    let item = || Arc::new(Field::new("item", scalar_data_type(def.feature_type), true));
    let dt = match def.collection {
        None => scalar_data_type(def.feature_type),
        Some(Collection::List | Collection::Set) => DataType::List(item()),
        Some(Collection::Vector { dimension }) => DataType::FixedSizeList(
            item(),
            i32::try_from(dimension).expect("validated vector dimensions fit in i32"),
        ),
    };
    Field::new(&def.name, dt, nullable)
}

/// The Arrow schema of a group's records, in definition order. The record
/// identifier and event-time fields are not nullable; every other field is.
///
/// ```
/// use fs_schema::{arrow_schema, FeatureDefinition, FeatureGroup, OnlineStoreConfig};
/// use arrow_schema::DataType;
/// let group = FeatureGroup::builder("g", "id", "ts")
///     .features([FeatureDefinition::string("id"), FeatureDefinition::fractional("ts")])
///     .online_store(OnlineStoreConfig::enabled())
///     .build()?;
/// let schema = arrow_schema(&group);
/// assert_eq!(schema.field(1).data_type(), &DataType::Float64);
/// assert!(!schema.field(0).is_nullable());
/// # Ok::<(), fs_schema::Error>(())
/// ```
pub fn arrow_schema(group: &FeatureGroup) -> SchemaRef {
    let fields: Vec<Field> = group
        .feature_definitions
        .iter()
        .map(|d| arrow_field(d, !is_required(group, &d.name)))
        .collect();
    Arc::new(Schema::new(fields))
}

/// True for the record identifier and event-time features, which every
/// record must have.
pub(crate) fn is_required(group: &FeatureGroup, name: &str) -> bool {
    name == group.record_identifier_feature_name || name == group.event_time_feature_name
}
