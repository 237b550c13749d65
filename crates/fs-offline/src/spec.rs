//! What a dataset is, independent of the engine that builds it.
//!
//! A [`DatasetSpec`] is made by a [`DatasetBuilder`] and run by an engine:
//! the embedded SQL engine over local Parquet files or Athena. Both follow
//! the same semantics (docs/semantics.md, "Offline datasets"):
//!
//! 1. **Candidate rows** of a group: rows with `write_time <= as_of` (when
//!    `as_of` is set) and, for the base group, an event time inside the
//!    range (both ends inclusive).
//! 2. **Duplicates**: rows with the same record identifier and event time
//!    collapse to the one with the newest `api_invocation_time`, then
//!    `write_time` — unless duplicated records are included.
//! 3. **Deletes**: a delete marker (`is_deleted = true`) hides every row of
//!    the same record whose (event time, `api_invocation_time`,
//!    `write_time`) is not newer than the marker's, and is itself dropped —
//!    unless deleted records are included, in which case nothing is hidden
//!    and markers are rows like any other.
//! 4. **Recency**: per record identifier, the rows that are left are ranked
//!    by (event time, `api_invocation_time`, `write_time`), newest first, and
//!    the first `n` kept (`n = 1` by default: the latest record). With
//!    duplicated records included and no explicit `n`, every row is kept.
//! 5. **Point-in-time joins**: for each row of the entity table (the base
//!    group's result, or a caller's table) with identifier `id` and time `t`,
//!    the joined group's row with the same identifier and the greatest event
//!    time `<= t` (and `>= t - max_age` when set), among that group's rows
//!    after steps 1–3 (`as_of` applies; the event-time range does not). If
//!    that row is a delete marker, there is no match. Inner joins drop entity
//!    rows without a match; left joins keep them with nulls.
//! 6. **Limit**: at most `limit` rows in all (which ones is unspecified).
//!
//! Event times compare as instants: ISO-8601 strings and fractional seconds
//! are normalised to milliseconds first, so `…:00Z` and `…:00.000Z` are equal.

use std::path::PathBuf;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use fs_schema::{EventTime, FeatureGroup};

use crate::error::{Error, Result};

/// The offline metadata column holding when the row reached the offline store.
pub const WRITE_TIME: &str = "write_time";
/// The offline metadata column holding when the write API was called.
pub const API_INVOCATION_TIME: &str = "api_invocation_time";
/// The offline metadata column marking delete markers.
pub const IS_DELETED: &str = "is_deleted";

/// A dataset to build: what [`DatasetBuilder::build`] returns, and what the
/// engines take. Fields are public for engines; build one with the builder.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    /// The rows the dataset starts from.
    pub base: Base,
    /// The base group's features in the output, in this order; `None` for
    /// all. The record identifier and event time are always included (first,
    /// in the group's order) when the base is a group.
    pub features: Option<Vec<String>>,
    /// Only rows written to the offline store at or before this instant
    /// (`write_time <= as_of`); applies to every group.
    pub as_of: Option<EventTime>,
    /// Only base rows with an event time at or after this instant.
    pub event_time_from: Option<EventTime>,
    /// Only base rows with an event time at or before this instant.
    pub event_time_to: Option<EventTime>,
    /// Keep rows that share a record identifier and event time.
    pub include_duplicated_records: bool,
    /// Keep delete markers as rows, and the rows they would hide.
    pub include_deleted_records: bool,
    /// Keep the `n` most recent rows per record identifier (default 1 unless
    /// duplicated records are included).
    pub recent_records_per_id: Option<u32>,
    /// Add the base group's `write_time`, `api_invocation_time` and
    /// `is_deleted` columns to the output.
    pub include_metadata: bool,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Groups joined onto the base, in order.
    pub joins: Vec<JoinSpec>,
}

/// Where a dataset's rows come from.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per dataset; boxing would only complicate matching
pub enum Base {
    /// A feature group's offline store.
    Group(FeatureGroup),
    /// A caller's entity table (identifier and time columns), onto which
    /// groups are joined point-in-time.
    Entities(Entities),
}

/// An entity table: rows of (identifier, time, anything else) onto which
/// feature groups are joined.
#[derive(Debug, Clone)]
pub struct Entities {
    /// The rows.
    pub source: EntitySource,
    /// The column matched against joined groups' record identifiers (unless
    /// a join names another).
    pub id_column: String,
    /// The column holding each row's time: an ISO-8601 string, fractional
    /// seconds since the epoch, or an Arrow timestamp.
    pub time_column: String,
}

/// The rows of an entity table.
#[derive(Debug, Clone)]
pub enum EntitySource {
    /// In memory.
    Batches {
        /// Their schema.
        schema: SchemaRef,
        /// The batches.
        batches: Vec<RecordBatch>,
    },
    /// A Parquet, CSV (with a header) or JSON Lines file, by extension.
    File(PathBuf),
}

/// How unmatched entity rows are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoinType {
    /// Drop entity rows without a matching feature row.
    #[default]
    Inner,
    /// Keep them, with nulls for the joined features.
    Left,
}

/// A feature group joined onto the base point-in-time.
#[derive(Debug, Clone)]
pub struct JoinSpec {
    /// The group joined.
    pub group: FeatureGroup,
    /// The base column matched against the group's record identifier;
    /// `None` for the base's identifier column.
    pub entity_column: Option<String>,
    /// The group's features in the output; `None` for all except its record
    /// identifier and event time.
    pub features: Option<Vec<String>>,
    /// Feature rows older than the entity time minus this are not matches.
    pub max_age: Option<Duration>,
    /// Inner or left.
    pub join_type: JoinType,
    /// Prepended to the joined features' output names (to avoid clashes).
    pub prefix: Option<String>,
}

impl JoinSpec {
    /// Joins `group`'s features (all but its identifier and event time) on
    /// the base identifier, point-in-time, inner.
    pub fn new(group: FeatureGroup) -> Self {
        Self {
            group,
            entity_column: None,
            features: None,
            max_age: None,
            join_type: JoinType::Inner,
            prefix: None,
        }
    }

    /// Matches this base column (instead of the base identifier) against the
    /// group's record identifier.
    pub fn on(mut self, entity_column: impl Into<String>) -> Self {
        self.entity_column = Some(entity_column.into());
        self
    }

    /// Only these features of the group.
    pub fn features<I, S>(mut self, features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.features = Some(features.into_iter().map(Into::into).collect());
        self
    }

    /// [`Self::max_age`] in whole milliseconds (saturating), as the engines
    /// compare it with event times.
    pub fn max_age_ms(&self) -> Option<i64> {
        self.max_age
            .map(|age| i64::try_from(age.as_millis()).unwrap_or(i64::MAX / 2))
    }

    /// Feature rows must be at most this old at the entity time.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Keeps entity rows without a match (nulls for this group's features).
    pub fn left(mut self) -> Self {
        self.join_type = JoinType::Left;
        self
    }

    /// Names the joined features `<prefix><feature>` in the output.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The group's features this join outputs, in order, with their output names.
    pub fn output_features(&self) -> Vec<(String, String)> {
        let names: Vec<String> = match &self.features {
            Some(list) => list.clone(),
            None => self
                .group
                .feature_definitions
                .iter()
                .map(|f| f.name.clone())
                .filter(|n| n != self.group.record_identifier_feature_name.as_str())
                .filter(|n| n != self.group.event_time_feature_name.as_str())
                .collect(),
        };
        let prefix = self.prefix.as_deref().unwrap_or("");
        names
            .into_iter()
            .map(|n| (format!("{prefix}{n}"), n))
            .collect()
    }
}

/// Builds a [`DatasetSpec`]; see the [module docs](self) for the semantics.
///
/// ```
/// use fs_offline::{DatasetBuilder, JoinSpec};
/// use fs_schema::{EventTime, FeatureDefinition, FeatureGroup, OfflineStoreConfig};
///
/// let group = |name: &str, id: &str, extra: &str| {
///     FeatureGroup::builder(name, id, "event_time")
///         .feature(FeatureDefinition::string(id))
///         .feature(FeatureDefinition::string("event_time"))
///         .feature(FeatureDefinition::fractional(extra))
///         .offline_store(OfflineStoreConfig::new("s3://bucket/prefix"))
///         .build()
/// };
/// let orders = group("orders", "customer_id", "amount")?;
/// let customers = group("customers", "customer_id", "lifetime_value")?;
/// let spec = DatasetBuilder::from_group(orders)
///     .as_of(EventTime::parse_iso("2024-06-01T00:00:00Z")?)
///     .include_duplicated_records()
///     .join(JoinSpec::new(customers))
///     .build()?;
/// assert_eq!(spec.output_columns()?, ["customer_id", "event_time", "amount", "lifetime_value"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct DatasetBuilder {
    spec: DatasetSpec,
}

impl DatasetBuilder {
    /// A dataset of `group`'s offline store.
    pub fn from_group(group: FeatureGroup) -> Self {
        Self::new(Base::Group(group))
    }

    /// A dataset of a caller's entity table, onto which groups are joined.
    pub fn from_entities(entities: Entities) -> Self {
        Self::new(Base::Entities(entities))
    }

    fn new(base: Base) -> Self {
        Self {
            spec: DatasetSpec {
                base,
                features: None,
                as_of: None,
                event_time_from: None,
                event_time_to: None,
                include_duplicated_records: false,
                include_deleted_records: false,
                recent_records_per_id: None,
                include_metadata: false,
                limit: None,
                joins: Vec::new(),
            },
        }
    }

    /// Only these base features (the identifier and event time are always
    /// included).
    pub fn features<I, S>(mut self, features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec.features = Some(features.into_iter().map(Into::into).collect());
        self
    }

    /// The data as it was at `as_of`: only rows written at or before it.
    pub fn as_of(mut self, as_of: EventTime) -> Self {
        self.spec.as_of = Some(as_of);
        self
    }

    /// Only base rows with event times in `[from, to]`; either end optional.
    pub fn event_time_range(mut self, from: Option<EventTime>, to: Option<EventTime>) -> Self {
        self.spec.event_time_from = from;
        self.spec.event_time_to = to;
        self
    }

    /// Keeps rows sharing a record identifier and event time, and (without
    /// [`recent_records_per_id`](Self::recent_records_per_id)) every row.
    pub fn include_duplicated_records(mut self) -> Self {
        self.spec.include_duplicated_records = true;
        self
    }

    /// Keeps delete markers and the rows they hide.
    pub fn include_deleted_records(mut self) -> Self {
        self.spec.include_deleted_records = true;
        self
    }

    /// Keeps the `n` most recent rows of each record.
    pub fn recent_records_per_id(mut self, n: u32) -> Self {
        self.spec.recent_records_per_id = Some(n);
        self
    }

    /// Adds `write_time`, `api_invocation_time` and `is_deleted` to the output.
    pub fn include_metadata(mut self) -> Self {
        self.spec.include_metadata = true;
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: u64) -> Self {
        self.spec.limit = Some(n);
        self
    }

    /// Joins a group onto the base point-in-time.
    pub fn join(mut self, join: JoinSpec) -> Self {
        self.spec.joins.push(join);
        self
    }

    /// Checks the description and returns it.
    pub fn build(self) -> Result<DatasetSpec> {
        self.spec.validate()?;
        Ok(self.spec)
    }
}

impl DatasetSpec {
    /// The names of the groups the dataset reads: the base group (if the
    /// base is a group), then each joined group, each name once.
    pub fn group_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        let all = self
            .base_group()
            .into_iter()
            .chain(self.joins.iter().map(|j| &j.group));
        for group in all {
            let name = group.feature_group_name.as_str();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The base group, if the base is a group.
    pub fn base_group(&self) -> Option<&FeatureGroup> {
        match &self.base {
            Base::Group(g) => Some(g),
            Base::Entities(_) => None,
        }
    }

    /// The base group's features in the output, in order (identifier and
    /// event time first). Empty when the base is an entity table.
    pub fn base_features(&self) -> Vec<String> {
        let Some(group) = self.base_group() else {
            return Vec::new();
        };
        let id = group.record_identifier_feature_name.as_str();
        let et = group.event_time_feature_name.as_str();
        let mut out = vec![id.to_string(), et.to_string()];
        match &self.features {
            Some(list) => out.extend(list.iter().filter(|n| *n != id && *n != et).cloned()),
            None => out.extend(
                group
                    .feature_definitions
                    .iter()
                    .map(|f| f.name.clone())
                    .filter(|n| n != id && n != et),
            ),
        }
        out
    }

    /// The columns of the group named `name` that building this dataset
    /// reads, sorted: what it outputs of the group, the group's record
    /// identifier and event time, and the three metadata columns
    /// (deduplication and deletes need them). Empty of features when the
    /// dataset does not read the group. Projected reads fetch only these.
    pub fn columns_read(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = [WRITE_TIME, API_INVOCATION_TIME, IS_DELETED]
            .map(String::from)
            .to_vec();
        if self
            .base_group()
            .is_some_and(|g| g.feature_group_name == name)
        {
            out.extend(self.base_features());
        }
        for join in self
            .joins
            .iter()
            .filter(|j| j.group.feature_group_name == name)
        {
            out.push(join.group.record_identifier_feature_name.clone());
            out.push(join.group.event_time_feature_name.clone());
            out.extend(join.output_features().into_iter().map(|(_, f)| f));
        }
        out.sort();
        out.dedup();
        out
    }

    /// The output columns that come from groups, in order: the base group's
    /// features, its metadata columns if asked for, then each join's. An
    /// entity table's own columns (which come first) are not listed, since
    /// they are only known once it is read.
    pub fn output_columns(&self) -> Result<Vec<String>> {
        let mut out = self.base_features();
        if self.include_metadata && self.base_group().is_some() {
            out.extend([WRITE_TIME, API_INVOCATION_TIME, IS_DELETED].map(String::from));
        }
        for join in &self.joins {
            for (name, feature) in join.output_features() {
                if out.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
                    return Err(Error::InvalidDataset(format!(
                        "column `{name}` of feature group `{}` clashes with a column already in the dataset; \
                         choose the features to join or give the join a prefix",
                        join.group.feature_group_name
                    )));
                }
                let _ = feature;
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Checks that every named feature exists, ranges are not empty, and
    /// output columns do not clash.
    pub fn validate(&self) -> Result<()> {
        if let Some(group) = self.base_group()
            && let Some(list) = &self.features
        {
            check_features(group, list)?;
        }
        if let Base::Entities(e) = &self.base {
            if e.id_column.is_empty() || e.time_column.is_empty() {
                return Err(Error::InvalidDataset(
                    "an entity table needs an identifier column and a time column".into(),
                ));
            }
            if self.joins.is_empty() {
                return Err(Error::InvalidDataset(
                    "a dataset of an entity table needs at least one joined feature group".into(),
                ));
            }
            if self.features.is_some()
                || self.event_time_from.is_some()
                || self.event_time_to.is_some()
                || self.recent_records_per_id.is_some()
                || self.include_metadata
            {
                return Err(Error::InvalidDataset(
                    "features, event_time_range, recent_records_per_id and include_metadata apply to a base feature group, not to an entity table".into(),
                ));
            }
        }
        if let (Some(from), Some(to)) = (self.event_time_from, self.event_time_to)
            && from > to
        {
            return Err(Error::InvalidDataset(format!(
                "the event-time range is empty: from {from} is after to {to}"
            )));
        }
        if self.recent_records_per_id == Some(0) {
            return Err(Error::InvalidDataset(
                "recent_records_per_id must be at least 1".into(),
            ));
        }
        for join in &self.joins {
            if let Some(list) = &join.features {
                check_features(&join.group, list)?;
            }
            if let (Some(col), Base::Group(g)) = (&join.entity_column, &self.base)
                && g.feature(col).is_none()
            {
                return Err(Error::InvalidDataset(format!(
                    "the join of `{}` is on `{col}`, which is not a feature of the base group `{}`",
                    join.group.feature_group_name, g.feature_group_name
                )));
            }
        }
        self.output_columns()?;
        Ok(())
    }
}

fn check_features(group: &FeatureGroup, names: &[String]) -> Result<()> {
    for name in names {
        if group.feature(name).is_none() {
            return Err(Error::InvalidDataset(format!(
                "feature group `{}` has no feature `{name}`",
                group.feature_group_name
            )));
        }
    }
    Ok(())
}
