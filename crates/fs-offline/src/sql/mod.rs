//! A [`DatasetSpec`] as SQL, for the embedded engine (DataFusion) or Athena
//! (Trino): one renderer implementing the semantics of [`crate::spec`] for
//! both dialects.
//!
//! # API
//!
//! ```text
//! pub fn render(
//!     spec: &DatasetSpec,
//!     dialect: Dialect,
//!     tables: &dyn Fn(&FeatureGroup) -> Result<TableRef>,
//! ) -> Result<String>
//!
//! pub fn render_with_entities(
//!     spec: &DatasetSpec,
//!     dialect: Dialect,
//!     tables: &dyn Fn(&FeatureGroup) -> Result<TableRef>,
//!     entities: &EntityTable,
//! ) -> Result<String>
//! ```
//!
//! - `tables` names the table holding each group's offline rows (the base
//!   group and every joined group). For Athena that is the group's Glue table,
//!   [`TableRef::athena`] (`"catalog"."database"."table"` from the group's
//!   `OfflineStoreConfig.DataCatalogConfig`); the local engine passes the
//!   names it registered.
//! - A dataset whose base is an entity table ([`crate::spec::Base::Entities`])
//!   is rendered with [`render_with_entities`]: the caller has put the rows
//!   in a table (for Athena, any table or view the query can read; locally,
//!   a registered one) and passes its name, its columns and how its time
//!   column is encoded as an [`EntityTable`]. [`render`] refuses such a spec.
//!
//! The result is one `WITH … SELECT …` statement with no trailing `;`.
//!
//! # How the semantics become SQL
//!
//! Event times are normalised to whole milliseconds since the epoch
//! (`BIGINT`) in a column `__fs_et`, so `…:00Z` and `…:00.000Z` are equal and
//! `max_age` is integer arithmetic:
//!
//! | event time | DataFusion | Athena |
//! |---|---|---|
//! | String (ISO-8601) | `CAST(to_timestamp_millis(c) AS BIGINT)` | `CAST(round(to_unixtime(from_iso8601_timestamp(c)) * 1000) AS BIGINT)` |
//! | Fractional seconds | `CAST(round(c * 1000) AS BIGINT)` | the same |
//! | timestamp (entity tables) | `CAST(to_timestamp_millis(c) AS BIGINT)` | `CAST(round(to_unixtime(c) * 1000) AS BIGINT)` |
//!
//! `as_of` compares `write_time` with a timestamp literal
//! (`from_iso8601_timestamp('…')` on Athena, a `TIMESTAMP '…'` with an
//! explicit UTC zone on DataFusion).
//!
//! Per group, in common table expressions:
//! 1. `g<k>_src`: the candidate rows (`as_of`; the event-time range for the base).
//! 2. duplicates: `row_number() OVER (PARTITION BY id, __fs_et ORDER BY
//!    api_invocation_time DESC, write_time DESC)` = 1.
//! 3. deletes: each record's latest delete marker (a window over the markers
//!    only), and a left join keeping rows strictly newer than it in
//!    (event time, `api_invocation_time`, `write_time`).
//! 4. recency: `row_number() OVER (PARTITION BY id ORDER BY __fs_et DESC,
//!    api_invocation_time DESC, write_time DESC, is_deleted DESC) <= n`.
//!
//! For `n = 1` (the latest record) steps 2–4 collapse into that one window:
//! the newest row overall is the answer unless it is a delete marker (on a
//! full tie a marker ranks first, so it hides the row it ties with), which
//! is what steps 2–4 give and costs one window instead of three steps.
//!
//! In the DataFusion dialect that window ranks only the key columns
//! (identifier, event time, `api_invocation_time`, `write_time`,
//! `is_deleted`) and a hash join on them fetches the winners' full rows, so
//! the wide rows are never sorted (a last window, over the winners only,
//! keeps one row should two rows tie on every key).
//!
//! A point-in-time join, in the Athena dialect, never pairs an entity row
//! with every earlier row of its record (that costs the square of a
//! record's history): the group's rows are numbered oldest first per record
//! (`__fs_ord`), put in one `UNION ALL` with the entity rows, and a running
//! `max(__fs_ord)` per key ordered by time (feature rows first at equal
//! times) gives each entity row the number of the newest feature row at or
//! before its time; an equi-join on (identifier, number) fetches that whole
//! row, with `>= t - max_age` and "not a delete marker" in its `ON`. Joins
//! chain, each on the previous one's result. `NULLS LAST` is explicit
//! everywhere because the two engines differ in their defaults. In the
//! DataFusion dialect (the fallback of the embedded engine, which runs
//! joins natively by default) the newest match is picked per distinct
//! (join key, time) pair, narrow, from the pairs' earlier rows, and the
//! pairs' features are hash-joined back onto the entity rows.
//!
//! # Quoting
//!
//! Every identifier is double-quoted with `"` doubled ([`quote_ident`]),
//! every string literal single-quoted with `'` doubled ([`quote_literal`]);
//! NUL characters are refused. Names starting with `__fs_` are reserved for
//! the renderer's own columns and refused in groups and entity tables.

mod render;

use arrow_schema::{DataType, Schema};
use fs_schema::FeatureGroup;

use crate::error::{Error, Result};
use crate::spec::DatasetSpec;

/// The SQL dialect to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Apache DataFusion, the embedded engine ([`crate::local`]).
    DataFusion,
    /// Amazon Athena's engine (Trino).
    Athena,
}

/// A table name, one or more parts (`"catalog"."database"."table"`), each
/// quoted when rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    parts: Vec<String>,
}

impl TableRef {
    /// A one-part table name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            parts: vec![name.into()],
        }
    }

    /// A qualified name from its parts, outermost first.
    pub fn qualified<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            parts: parts.into_iter().map(Into::into).collect(),
        }
    }

    /// The Glue table of `group`'s offline store, as Athena names it:
    /// `"catalog"."database"."table"` from its `DataCatalogConfig`.
    pub fn athena(group: &FeatureGroup) -> Result<Self> {
        let catalog = group
            .offline_store_config
            .as_ref()
            .and_then(|o| o.data_catalog_config.as_ref())
            .ok_or_else(|| {
                Error::InvalidDataset(format!(
                    "feature group `{}` has no DataCatalogConfig (describe it with \
                     DescribeFeatureGroup to learn its Glue table)",
                    group.feature_group_name
                ))
            })?;
        Ok(Self::qualified([
            catalog.catalog.as_str(),
            catalog.database.as_str(),
            catalog.table_name.as_str(),
        ]))
    }

    /// The parts of the name.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The name as SQL: each part quoted, joined with `.`.
    pub fn to_sql(&self) -> Result<String> {
        if self.parts.is_empty() {
            return Err(Error::InvalidDataset("an empty table name".into()));
        }
        let quoted: Result<Vec<String>> = self.parts.iter().map(|p| quote_ident(p)).collect();
        Ok(quoted?.join("."))
    }
}

/// How an entity table's time column holds its instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeEncoding {
    /// ISO-8601 strings (`yyyy-MM-ddTHH:mm:ss[.SSS]Z`).
    Iso8601,
    /// Seconds since the epoch as a floating-point or integer number.
    FractionalSeconds,
    /// A SQL timestamp (an Arrow `Timestamp` of any unit).
    Timestamp,
}

impl TimeEncoding {
    /// The encoding of a column of this Arrow type, if it can hold times.
    pub fn of_arrow(data_type: &DataType) -> Option<Self> {
        match data_type {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Self::Iso8601),
            DataType::Float64
            | DataType::Float32
            | DataType::Int64
            | DataType::Int32
            | DataType::Decimal128(..) => Some(Self::FractionalSeconds),
            DataType::Timestamp(..) => Some(Self::Timestamp),
            _ => None,
        }
    }
}

/// An entity table the caller has made readable by the engine: its name,
/// its columns (all of which are output, in order) and how its time column
/// is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTable {
    /// Where the rows are.
    pub table: TableRef,
    /// Its columns, in order.
    pub columns: Vec<String>,
    /// How the spec's time column is encoded.
    pub time_encoding: TimeEncoding,
}

impl EntityTable {
    /// Describes `table` from its Arrow schema; `time_column` must be in it
    /// with a type [`TimeEncoding::of_arrow`] knows.
    pub fn from_schema(table: TableRef, schema: &Schema, time_column: &str) -> Result<Self> {
        let field = schema.field_with_name(time_column).map_err(|_| {
            Error::InvalidDataset(format!(
                "the entity table has no time column `{time_column}` (its columns: {})",
                column_list(schema)
            ))
        })?;
        let time_encoding = TimeEncoding::of_arrow(field.data_type()).ok_or_else(|| {
            Error::InvalidDataset(format!(
                "the entity table's time column `{time_column}` is {}, not an ISO-8601 string, \
                 seconds since the epoch or a timestamp",
                field.data_type()
            ))
        })?;
        Ok(Self {
            table,
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            time_encoding,
        })
    }
}

fn column_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders a dataset of a base group (see the [module docs](self)); a spec
/// whose base is an entity table needs [`render_with_entities`].
pub fn render(
    spec: &DatasetSpec,
    dialect: Dialect,
    tables: &dyn Fn(&FeatureGroup) -> Result<TableRef>,
) -> Result<String> {
    render::Renderer::new(spec, dialect, tables, None)?.render()
}

/// Renders a dataset; `entities` names the entity table when the base is
/// one (and is ignored when the base is a group).
pub fn render_with_entities(
    spec: &DatasetSpec,
    dialect: Dialect,
    tables: &dyn Fn(&FeatureGroup) -> Result<TableRef>,
    entities: &EntityTable,
) -> Result<String> {
    render::Renderer::new(spec, dialect, tables, Some(entities))?.render()
}

/// An instant column (already quoted) as milliseconds since the epoch
/// (`BIGINT`), per the table in the [module docs](self).
pub(crate) fn time_ms(dialect: Dialect, column: &str, encoding: TimeEncoding) -> String {
    match (dialect, encoding) {
        (_, TimeEncoding::FractionalSeconds) => format!("CAST(round({column} * 1000) AS BIGINT)"),
        (Dialect::DataFusion, TimeEncoding::Iso8601 | TimeEncoding::Timestamp) => {
            format!("CAST(to_timestamp_millis({column}) AS BIGINT)")
        }
        (Dialect::Athena, TimeEncoding::Iso8601) => {
            format!("CAST(round(to_unixtime(from_iso8601_timestamp({column})) * 1000) AS BIGINT)")
        }
        (Dialect::Athena, TimeEncoding::Timestamp) => {
            format!("CAST(round(to_unixtime({column}) * 1000) AS BIGINT)")
        }
    }
}

/// Quotes an identifier: `"` around it, any `"` inside doubled.
///
/// ```
/// assert_eq!(fs_offline::sql::quote_ident(r#"a"b"#)?, r#""a""b""#);
/// # Ok::<(), fs_offline::Error>(())
/// ```
pub fn quote_ident(name: &str) -> Result<String> {
    if name.is_empty() || name.contains('\0') {
        return Err(Error::InvalidDataset(format!(
            "{name:?} cannot be an SQL identifier (empty or containing NUL)"
        )));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// Quotes a string literal: `'` around it, any `'` inside doubled.
///
/// ```
/// assert_eq!(fs_offline::sql::quote_literal("it's")?, "'it''s'");
/// # Ok::<(), fs_offline::Error>(())
/// ```
pub fn quote_literal(value: &str) -> Result<String> {
    if value.contains('\0') {
        return Err(Error::InvalidDataset(format!(
            "{value:?} cannot be an SQL string literal (it contains NUL)"
        )));
    }
    Ok(format!("'{}'", value.replace('\'', "''")))
}

#[cfg(test)]
mod tests;
