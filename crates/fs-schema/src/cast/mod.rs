//! Strict casting of Arrow batches to a feature group's types.
//!
//! Arrow's own cast turns failures into nulls by default. Here nothing is
//! silent: a value that does not fit its feature (an unsigned integer above
//! `i64::MAX`, a float with a fraction for an `Integral` feature, a
//! non-finite float, unparseable text, a timestamp outside years 0 to 9999,
//! an oversize value, a null identifier or event time) is a [`CastFailure`]
//! naming the row, the column, the value and the reason.
//!
//! [`cast_batch`] fails on the first bad batch; [`cast_batch_lenient`]
//! keeps the good rows and reports the bad ones, as ingestion needs.

mod collection;
mod scalar;

use collection::cast_collection;
use scalar::cast_scalar;
pub(crate) use scalar::parse_integral;

use std::collections::BTreeMap;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Serialize};

use crate::FeatureGroup;
use crate::error::{Error, Result};
use crate::schema::{arrow_field, arrow_schema, is_required};
use crate::types::FeatureDefinition;

/// How strict a cast is where the service leaves room.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CastOptions {
    /// Accept NaN and infinities in `Fractional` features (never in the
    /// event time). Off by default: most pipelines treat them as bugs.
    pub allow_non_finite: bool,
    /// Drop columns the group does not define instead of failing.
    pub ignore_unknown_columns: bool,
    /// Read empty text as null for non-`String` features (what CSV means by
    /// an empty cell). Off by default: `""` is not a number.
    pub empty_string_as_null: bool,
}

impl CastOptions {
    /// Options with NaN and infinities accepted in `Fractional` features.
    pub fn allow_non_finite(mut self, yes: bool) -> Self {
        self.allow_non_finite = yes;
        self
    }

    /// Options that drop columns the group does not define.
    pub fn ignore_unknown_columns(mut self, yes: bool) -> Self {
        self.ignore_unknown_columns = yes;
        self
    }

    /// Options that read empty text as null for non-`String` features.
    pub fn empty_string_as_null(mut self, yes: bool) -> Self {
        self.empty_string_as_null = yes;
        self
    }
}

/// One value that could not be cast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CastFailure {
    /// The row in the input batch (0-based).
    pub row: usize,
    /// The column (feature) name.
    pub column: String,
    /// The value as it was, shortened to 80 characters; `None` for null.
    pub value: Option<String>,
    /// Why it could not be cast.
    pub reason: String,
}

impl std::fmt::Display for CastFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(
                f,
                "row {}, column {:?}, value {v:?}: {}",
                self.row, self.column, self.reason
            ),
            None => write!(
                f,
                "row {}, column {:?}, value null: {}",
                self.row, self.column, self.reason
            ),
        }
    }
}

pub(crate) fn summarize(failures: &[CastFailure]) -> String {
    match failures {
        [] => "cast failed".into(),
        [one] => format!("cannot cast {one}"),
        [first, rest @ ..] => format!("cannot cast {first} (and {} more rows)", rest.len()),
    }
}

/// The result of [`cast_batch_lenient`].
#[derive(Debug, Clone)]
pub struct CastOutcome {
    /// The rows that cast cleanly, in input order, typed as the group.
    pub batch: RecordBatch,
    /// One failure per rejected row (its first bad column), in row order.
    pub failures: Vec<CastFailure>,
}

/// Casts `batch` to `group`'s schema ([`arrow_schema()`]), failing with
/// [`Error::Cast`] (listing every bad row) if any value does not fit.
///
/// Columns are matched by name; features missing from the batch become
/// nulls, except the record identifier and event time
/// ([`Error::MissingColumn`]). Columns the group lacks are an
/// [`Error::UnknownFeature`] unless [`CastOptions::ignore_unknown_columns`].
pub fn cast_batch(
    batch: &RecordBatch,
    group: &FeatureGroup,
    opts: &CastOptions,
) -> Result<RecordBatch> {
    let (columns, failures) = cast_columns(batch, group, opts)?;
    if !failures.is_empty() {
        return Err(Error::Cast {
            failures: failures.into_values().collect(),
        });
    }
    Ok(RecordBatch::try_new(arrow_schema(group), columns)?)
}

/// Like [`cast_batch`], but bad rows are reported and left out instead of
/// failing the batch. Problems with the batch as a whole (a missing
/// identifier column, an unknown column, an incompatible column type) are
/// still errors.
pub fn cast_batch_lenient(
    batch: &RecordBatch,
    group: &FeatureGroup,
    opts: &CastOptions,
) -> Result<CastOutcome> {
    let (mut columns, failures) = cast_columns(batch, group, opts)?;
    if !failures.is_empty() {
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|r| Some(!failures.contains_key(&r)))
            .collect();
        columns = columns
            .iter()
            .map(|c| arrow_select::filter::filter(c, &keep))
            .collect::<std::result::Result<_, _>>()?;
    }
    Ok(CastOutcome {
        batch: RecordBatch::try_new(arrow_schema(group), columns)?,
        failures: failures.into_values().collect(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Identifier,
    EventTime,
    Plain,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Identifier => "record identifier",
            Role::EventTime => "event time",
            Role::Plain => "feature",
        }
    }

    /// The name with its indefinite article, for messages.
    fn a_name(self) -> &'static str {
        match self {
            Role::Identifier => "a record identifier",
            Role::EventTime => "an event time",
            Role::Plain => "a feature",
        }
    }
}

/// Failures of one array: (index in that array, reason).
pub(super) type Fails = Vec<(usize, String)>;

fn cast_columns(
    batch: &RecordBatch,
    group: &FeatureGroup,
    opts: &CastOptions,
) -> Result<(Vec<ArrayRef>, BTreeMap<usize, CastFailure>)> {
    let schema = batch.schema();
    // The common case: the batch's columns are the group's features, in
    // order; then no column needs looking up by name.
    let in_order = schema.fields().len() == group.feature_definitions.len()
        && schema
            .fields()
            .iter()
            .zip(&group.feature_definitions)
            .all(|(f, d)| *f.name() == d.name);
    if !in_order
        && !opts.ignore_unknown_columns
        && let Some(f) = schema
            .fields()
            .iter()
            .find(|f| group.feature(f.name()).is_none())
    {
        return Err(Error::UnknownFeature {
            group: group.feature_group_name.clone(),
            feature: f.name().clone(),
        });
    }
    let mut failures: BTreeMap<usize, CastFailure> = BTreeMap::new();
    let mut columns = Vec::with_capacity(group.feature_definitions.len());
    for (i, def) in group.feature_definitions.iter().enumerate() {
        let role = if def.name == group.record_identifier_feature_name {
            Role::Identifier
        } else if def.name == group.event_time_feature_name {
            Role::EventTime
        } else {
            Role::Plain
        };
        let src = if in_order {
            Some(batch.column(i))
        } else {
            batch.column_by_name(&def.name)
        };
        let Some(src) = src else {
            if is_required(group, &def.name) {
                return Err(Error::MissingColumn {
                    column: def.name.clone(),
                    role: role.name(),
                });
            }
            columns.push(new_null_array(
                arrow_field(def, true).data_type(),
                batch.num_rows(),
            ));
            continue;
        };
        let (array, fails) = cast_column(src, def, role, opts)?;
        for (row, value, reason) in fails {
            failures.entry(row).or_insert_with(|| CastFailure {
                row,
                column: def.name.clone(),
                value,
                reason,
            });
        }
        columns.push(array);
    }
    Ok((columns, failures))
}

/// (row, rendered value, reason)
pub(super) type RowFails = Vec<(usize, Option<String>, String)>;

fn cast_column(
    src: &ArrayRef,
    def: &FeatureDefinition,
    role: Role,
    opts: &CastOptions,
) -> Result<(ArrayRef, RowFails)> {
    let incompatible = |reason| {
        let target = match def.collection {
            Some(c) => format!("{} of {}", c.type_name(), def.feature_type),
            None => def.feature_type.to_string(),
        };
        Error::IncompatibleColumn {
            column: def.name.clone(),
            data_type: src.data_type().clone(),
            target,
            reason,
        }
    };
    let (array, fails) = match def.collection {
        None => {
            let (array, mut fails) = cast_scalar(src, def.feature_type, role, opts)
                .ok_or_else(|| incompatible("no cast exists between these types"))?;
            if role != Role::Plain
                && let Some(nulls) = src.logical_nulls()
            {
                for i in (0..src.len()).filter(|&i| nulls.is_null(i)) {
                    fails.push((i, format!("is null; every record needs {}", role.a_name())));
                }
            }
            (array, render(src, fails))
        }
        Some(collection) => cast_collection(src, def, collection, opts).ok_or_else(|| {
            incompatible(
                "a collection feature needs a List, LargeList, ListView or FixedSizeList column",
            )
        })?,
    };
    Ok((array, fails))
}

pub(super) fn render(src: &dyn Array, fails: Fails) -> RowFails {
    if fails.is_empty() {
        return Vec::new();
    }
    let formatter = ArrayFormatter::try_new(src, &FormatOptions::default()).ok();
    let nulls = src.logical_nulls();
    fails
        .into_iter()
        .map(|(i, reason)| {
            let value = (!nulls.as_ref().is_some_and(|n| n.is_null(i))).then(|| {
                let s = formatter
                    .as_ref()
                    .map(|f| f.value(i).to_string())
                    .unwrap_or_else(|| "<unprintable>".into());
                shorten(s)
            });
            (i, value, reason)
        })
        .collect()
}

pub(crate) fn shorten(s: String) -> String {
    if s.chars().count() <= 80 {
        s
    } else {
        let head: String = s.chars().take(77).collect();
        format!("{head}...")
    }
}
