//! Inference of feature definitions from an Arrow schema.
//!
//! The mapping, documented in `docs/type-mapping.md`:
//!
//! | Arrow type | feature type |
//! |---|---|
//! | `Int8`..`Int64`, `UInt8`..`UInt64` | `Integral` |
//! | `Boolean` | `Integral` (0 or 1) |
//! | `Float16`, `Float32`, `Float64` | `Fractional` |
//! | `Decimal*` with scale 0 and precision at most 18 | `Integral` |
//! | other `Decimal*` | `Fractional` |
//! | `Utf8`, `LargeUtf8`, `Utf8View`, `Dictionary(_, string)` | `String` |
//! | `Dictionary(_, T)` | as `T` |
//! | `Date32`, `Date64` | `String` (`yyyy-MM-dd`) |
//! | `Timestamp(_, _)` | `String` (ISO-8601, UTC) |
//! | `Null` (a column with no values) | `String` |
//! | `List`, `LargeList`, `ListView`, `LargeListView` of `T` | `List` collection of `T` |
//! | `FixedSizeList(Float*, n)` | `Vector` of dimension `n` |
//! | `FixedSizeList` of another `T` | `List` collection of `T` |
//!
//! Nullability never changes the type: a nullable `Int64` column is
//! `Integral`. Binary, time-of-day, duration, interval, struct, map and union
//! columns have no Feature Store type and are refused with a hint.

use arrow_schema::{DataType, Field, Schema};

use crate::error::{Error, Result};
use crate::types::{Collection, FeatureDefinition, FeatureType};
use crate::{FeatureGroup, FeatureGroupBuilder};

/// The feature type of a scalar Arrow type, or `None` when it has none.
pub(crate) fn scalar_feature_type(dt: &DataType) -> Option<FeatureType> {
    use DataType::*;
    Some(match dt {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Boolean => {
            FeatureType::Integral
        }
        Float16 | Float32 | Float64 => FeatureType::Fractional,
        Decimal32(p, 0) | Decimal64(p, 0) | Decimal128(p, 0) | Decimal256(p, 0) if *p <= 18 => {
            FeatureType::Integral
        }
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => FeatureType::Fractional,
        Utf8 | LargeUtf8 | Utf8View | Date32 | Date64 | Timestamp(..) | Null => FeatureType::String,
        Dictionary(_, value) => return scalar_feature_type(value),
        _ => return None,
    })
}

fn unsupported(field: &Field) -> Error {
    let hint = match field.data_type() {
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "encode binary data as text (e.g. base64) first",
        DataType::Time32(_) | DataType::Time64(_) => {
            "cast times of day to Utf8 or to an integer count first"
        }
        DataType::Duration(_) | DataType::Interval(_) => "cast it to an integer count first",
        DataType::Struct(_) | DataType::Map(..) | DataType::Union(..) => {
            "flatten it into one column per feature first"
        }
        _ => "cast it to an integer, float or string type first",
    };
    Error::UnsupportedArrowType {
        column: field.name().clone(),
        data_type: field.data_type().clone(),
        hint,
    }
}

/// Infers the feature definition of one Arrow field (see the module docs for
/// the mapping). The field's name must be a valid feature name.
pub fn infer_definition(field: &Field) -> Result<FeatureDefinition> {
    use DataType::*;
    let (element, collection) = match field.data_type() {
        List(item) | LargeList(item) | ListView(item) | LargeListView(item) => {
            (item.data_type(), Some(Collection::List))
        }
        FixedSizeList(item, n)
            if matches!(item.data_type(), Float16 | Float32 | Float64) && *n > 0 =>
        {
            let dimension = u32::try_from(*n).map_err(|_| unsupported(field))?;
            (item.data_type(), Some(Collection::Vector { dimension }))
        }
        FixedSizeList(item, _) => (item.data_type(), Some(Collection::List)),
        other => (other, None),
    };
    let feature_type = scalar_feature_type(element).ok_or_else(|| unsupported(field))?;
    let def = FeatureDefinition {
        name: field.name().clone(),
        feature_type,
        collection,
    };
    def.validate()?;
    Ok(def)
}

/// Infers one definition per field, in schema order.
pub fn infer_definitions(schema: &Schema) -> Result<Vec<FeatureDefinition>> {
    schema
        .fields()
        .iter()
        .map(|f| infer_definition(f))
        .collect()
}

/// Starts a [`FeatureGroup`] builder from a schema: every field becomes a
/// feature. The event-time feature becomes `String` (ISO-8601) for string,
/// date and timestamp columns and `Fractional` (seconds since the epoch) for
/// numeric ones. Add the store configuration and call `build()`.
pub fn infer_group(
    name: &str,
    record_identifier: &str,
    event_time: &str,
    schema: &Schema,
) -> Result<FeatureGroupBuilder> {
    let mut defs = infer_definitions(schema)?;
    for (def, field) in defs.iter_mut().zip(schema.fields()) {
        if def.name == event_time && def.collection.is_none() {
            def.feature_type = match field.data_type() {
                dt if is_numeric(dt) => FeatureType::Fractional,
                _ => FeatureType::String,
            };
        }
    }
    Ok(FeatureGroup::builder(name, record_identifier, event_time).features(defs))
}

fn is_numeric(dt: &DataType) -> bool {
    match dt {
        DataType::Dictionary(_, v) => is_numeric(v),
        dt => dt.is_numeric(),
    }
}
