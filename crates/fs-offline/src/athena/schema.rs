//! The Arrow schema of a dataset's rows, which types Athena's results.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use fs_schema::{FeatureGroup, arrow_field};

use crate::spec::{API_INVOCATION_TIME, Base, DatasetSpec, IS_DELETED, WRITE_TIME};
use crate::{Error, Result};

/// The schema of `spec`'s rows, in [`DatasetSpec::output_columns`] order:
/// features typed as their groups define them (`Int64`, `Float64`, `Utf8`;
/// the base identifier and event time not nullable, everything else
/// nullable), `write_time` and `api_invocation_time` as UTC millisecond
/// timestamps, `is_deleted` as `Boolean`. For an entity-table base the
/// entity columns come first, typed by `entity_schema`; without it the
/// schema is unknown (`None`) and results are typed from what Athena returns.
pub fn output_schema(
    spec: &DatasetSpec,
    entity_schema: Option<&Schema>,
) -> Result<Option<SchemaRef>> {
    let mut fields: Vec<Field> = Vec::new();
    match &spec.base {
        Base::Group(group) => {
            for name in spec.base_features() {
                let required = name == group.record_identifier_feature_name
                    || name == group.event_time_feature_name;
                fields.push(feature_field(group, &name, &name, !required)?);
            }
            if spec.include_metadata {
                let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
                fields.push(Field::new(WRITE_TIME, ts.clone(), true));
                fields.push(Field::new(API_INVOCATION_TIME, ts, true));
                fields.push(Field::new(IS_DELETED, DataType::Boolean, true));
            }
        }
        Base::Entities(_) => match entity_schema {
            Some(schema) => fields.extend(schema.fields().iter().map(|f| f.as_ref().clone())),
            None => return Ok(None),
        },
    }
    for join in &spec.joins {
        for (out, feature) in join.output_features() {
            fields.push(feature_field(&join.group, &feature, &out, true)?);
        }
    }
    Ok(Some(Arc::new(Schema::new(fields))))
}

fn feature_field(group: &FeatureGroup, feature: &str, out: &str, nullable: bool) -> Result<Field> {
    let def = group.feature(feature).ok_or_else(|| {
        Error::InvalidDataset(format!(
            "feature group `{}` has no feature `{feature}`",
            group.feature_group_name
        ))
    })?;
    Ok(arrow_field(def, nullable).with_name(out))
}
