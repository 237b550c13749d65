//! The embedded engine: a [`DatasetSpec`] run by DataFusion over local
//! Parquet files, streaming its result.
//!
//! [`LocalEngine`] holds the [`OfflineTable`] of each group a dataset
//! reads. Running a spec registers them in a DataFusion session (the base
//! group with only the files whose partition overlaps the event-time
//! range), registers an entity table (in-memory batches, or a Parquet, CSV
//! or JSON Lines file), renders the spec with [`crate::sql`] in the
//! DataFusion dialect and streams the result.
//!
//! Latest-per-record datasets (a base group, one row per record, no joins)
//! take a native path instead of SQL unless
//! [`EngineOptions::native_latest`] is off: pass 1 reads only the key
//! columns and keeps each record's winning file and row in a hash table,
//! pass 2 reads only those rows with Parquet row selections. It gives the
//! SQL plan's rows, without sorting, in bounded memory.
//!
//! Memory: scans and joins stream; the window functions that pick the latest
//! rows sort, and sorts spill to disk when [`EngineOptions::memory_limit`]
//! is set. Hash-join build sides cannot spill, so a point-in-time join over
//! many rows runs as several passes, each over the keys of one hash bucket
//! (the same SQL on tables filtered to the bucket; see
//! [`EngineOptions::join_passes`]): about 1/n of the memory for n passes,
//! at the cost of reading the files n times.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use fs_schema::FeatureGroup;
use futures::{StreamExt, TryStreamExt};

use crate::asof;
use crate::engine::{BatchStream, DatasetEngine, EngineOptions, Pinned};
use crate::error::{Error, Result, query};
use crate::inputs::Input;
use crate::passes::{self, Pass};
use crate::scan::listing_table;
use crate::spec::{
    API_INVOCATION_TIME, Base, DatasetSpec, Entities, EntitySource, IS_DELETED, WRITE_TIME,
};
use crate::sql::{Dialect, EntityTable, TableRef, render, render_with_entities};
use crate::table::{OfflineTable, offline_read_schema};

/// Runs datasets over local offline tables (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct LocalEngine {
    tables: HashMap<String, OfflineTable>,
    options: EngineOptions,
}

mod over_registry;
pub use over_registry::RegistryEngine;

const BASE_TABLE: &str = "fs_base";
const ENTITY_TABLE: &str = "fs_entities";

impl LocalEngine {
    /// An engine with no tables and default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine with these options.
    pub fn with_options(options: EngineOptions) -> Self {
        Self {
            tables: HashMap::new(),
            options,
        }
    }

    /// Adds (or replaces) the offline table of its group.
    pub fn register(&mut self, table: OfflineTable) -> &mut Self {
        self.tables
            .insert(table.group().feature_group_name.clone(), table);
        self
    }

    /// Adds the offline table of its group, by value.
    pub fn with_table(mut self, table: OfflineTable) -> Self {
        self.register(table);
        self
    }

    /// The options.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    fn table_of(&self, group: &FeatureGroup) -> Result<&OfflineTable> {
        self.tables.get(&group.feature_group_name).ok_or_else(|| {
            Error::InvalidDataset(format!(
                "the local engine has no offline table for feature group `{}` (register one)",
                group.feature_group_name
            ))
        })
    }

    /// Runs `spec`, streaming the rows.
    ///
    /// The files of every group `spec` reads are listed once, together,
    /// before anything is read ([`OfflineTable::list_together`]): the rows
    /// are those of the flushes that had finished then, in every group.
    pub async fn execute(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        self.listed_for(spec)?.execute_listed(spec).await
    }

    /// An engine with the same options over the tables `spec` reads, each
    /// listed now (the tables it lacks stay missing, for
    /// [`Self::table_of`] to report).
    fn listed_for(&self, spec: &DatasetSpec) -> Result<LocalEngine> {
        let base = match &spec.base {
            Base::Group(group) => Some(group),
            Base::Entities(_) => None,
        };
        let mut read: Vec<&OfflineTable> = Vec::new();
        for group in base.into_iter().chain(spec.joins.iter().map(|j| &j.group)) {
            if let Some(t) = self.tables.get(&group.feature_group_name)
                && !read
                    .iter()
                    .any(|r| r.group().feature_group_name == group.feature_group_name)
            {
                read.push(t);
            }
        }
        let mut engine = LocalEngine::with_options(self.options.clone());
        for table in OfflineTable::list_together(&read)? {
            engine.register(table);
        }
        Ok(engine)
    }

    /// `spec` fixed to the files it reads now: the tables it reads, listed
    /// together as [`Self::execute`] lists them, and the [`Input`]s that
    /// identify them (each file's path, size and modification time, each
    /// group's definition, the entity table). Cost: the listing, and one
    /// `stat` per file.
    pub fn pin(&self, spec: &DatasetSpec) -> Result<Pinned> {
        let listed = self.listed_for(spec)?;
        let mut inputs = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let base = match &spec.base {
            Base::Group(group) => Some((group, spec.event_time_from, spec.event_time_to)),
            Base::Entities(e) => {
                inputs.push(match &e.source {
                    EntitySource::Batches { schema, batches } => Input::batches(schema, batches)?,
                    EntitySource::File(path) => Input::local_file("entities", path)?,
                });
                None
            }
        };
        let joined = spec.joins.iter().map(|j| (&j.group, None, None));
        for (group, from, to) in base.into_iter().chain(joined) {
            let name = group.feature_group_name.as_str();
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let table = listed.table_of(group)?;
            inputs.push(Input::definition(table.group()));
            let role = format!("group:{name}");
            for file in table.files(from, to)? {
                inputs.push(Input::local_file(role.clone(), &file.path)?);
            }
        }
        Ok(Pinned::new(inputs, Arc::new(listed)))
    }

    /// [`Self::execute`] over tables already listed.
    async fn execute_listed(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        if self.native_join(spec) {
            return self.execute_native_join(spec).await;
        }
        if let Some(of) = self.join_passes(spec).await? {
            return self.execute_in_passes(spec, of).await;
        }
        if self.options.native_latest && crate::latest::applies(spec) {
            spec.validate()?;
            if let Base::Group(group) = &spec.base {
                let table = self.table_of(group)?;
                return crate::latest::execute(table, spec, &self.options).await;
            }
        }
        self.execute_pass(spec, None).await
    }

    /// Runs `spec` over the rows of `pass` (all when `None`).
    async fn execute_pass(&self, spec: &DatasetSpec, pass: Option<Pass>) -> Result<BatchStream> {
        let (ctx, sql) = self.prepare_pass(spec, pass).await?;
        let mut context = describe(spec);
        if let Some(p) = pass {
            context.push_str(&format!(" (pass {} of {})", p.index + 1, p.of));
        }
        let df = ctx.sql(&sql).await.map_err(query(context.clone()))?;
        let stream = df.execute_stream().await.map_err(query(context.clone()))?;
        let limit = self.options.sql_memory_pool();
        Ok(BatchStream::from_datafusion(stream, context, limit))
    }

    /// How many passes [`Self::execute`] makes over the files for `spec`:
    /// more than one only for a point-in-time join split by key hash (see
    /// [`EngineOptions::join_passes`]).
    pub async fn passes(&self, spec: &DatasetSpec) -> Result<u32> {
        if self.native_join(spec) {
            return Ok(1);
        }
        Ok(self.join_passes(spec).await?.unwrap_or(1))
    }

    /// Whether `spec`'s joins run natively ([`EngineOptions::native_join`]).
    fn native_join(&self, spec: &DatasetSpec) -> bool {
        self.options.native_join && !spec.joins.is_empty()
    }

    /// Runs `spec` (with joins) through the native as-of join: the entity
    /// rows (the base group's dataset without its joins, or the entity
    /// table) streamed through one index per joined group.
    async fn execute_native_join(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        spec.validate()?;
        let entities = match &spec.base {
            Base::Group(group) => self.base_group_rows(spec, group).await?,
            Base::Entities(e) => self.entity_table_rows(spec, e).await?,
        };
        let tables = spec
            .joins
            .iter()
            .map(|j| self.table_of(&j.group).cloned())
            .collect::<Result<Vec<_>>>()?;
        let settings = asof::Settings {
            workers: self.options.target_partitions.max(1),
            batch_size: self.options.batch_size.max(1),
            memory_limit: self.options.memory_limit,
        };
        asof::join(spec, entities, tables, settings).await
    }

    /// The entity rows of a native join over a base group: the group's
    /// dataset without its joins, keeping every join's entity column, so
    /// the joins attach features to exactly the rows the dataset selects.
    async fn base_group_rows(
        &self,
        spec: &DatasetSpec,
        group: &FeatureGroup,
    ) -> Result<asof::EntityRows> {
        // The SQL path's checks (reserved and unknown names), with its errors.
        render(spec, Dialect::DataFusion, &|_| {
            Ok(TableRef::new(BASE_TABLE))
        })?;
        let mut output = spec.base_features();
        if spec.include_metadata {
            output.extend([WRITE_TIME, API_INVOCATION_TIME, IS_DELETED].map(String::from));
        }
        let mut base = spec.clone();
        base.joins.clear();
        base.limit = None;
        let needed = with_join_columns(spec, spec.base_features());
        if needed.len() > spec.base_features().len() || spec.features.is_some() {
            base.features = Some(needed);
        }
        Ok(asof::EntityRows {
            rows: Box::pin(self.execute(&base)).await?,
            time_column: group.event_time_feature_name.clone(),
            default_on: group.record_identifier_feature_name.clone(),
            output,
            // A base group's rows are built once: every candidate's
            // features are read.
            probe: None,
        })
    }

    /// The entity rows of a native join over an entity table, in their
    /// input order, and the same rows again for the probe pass, so that
    /// only the feature rows some entity row matches are held.
    async fn entity_table_rows(
        &self,
        spec: &DatasetSpec,
        e: &Entities,
    ) -> Result<asof::EntityRows> {
        // One partition: the file is read in order, so the entity
        // rows come out in their input order.
        let ordered = EngineOptions {
            target_partitions: 1,
            ..self.options.clone()
        };
        let ctx = ordered.session(false)?;
        let schema = register_entities(&ctx, &e.source).await?;
        let table = EntityTable::from_schema(TableRef::new(ENTITY_TABLE), &schema, &e.time_column)?;
        // The SQL path's checks (names, clashes), with its errors.
        render_with_entities(
            spec,
            Dialect::DataFusion,
            &|_| Ok(TableRef::new(BASE_TABLE)),
            &table,
        )?;
        // The time and join columns, for the probe pass.
        let probed = with_join_columns(spec, vec![e.time_column.clone(), e.id_column.clone()]);
        let (rows, probe) = entity_streams(&ctx, spec, &e.source, &probed).await?;
        Ok(asof::EntityRows {
            rows,
            time_column: e.time_column.clone(),
            default_on: e.id_column.clone(),
            output: table.columns,
            probe: Some(probe),
        })
    }

    /// How many key-hash passes a dataset with joins takes; `None` for one.
    async fn join_passes(&self, spec: &DatasetSpec) -> Result<Option<u32>> {
        if spec.joins.is_empty() {
            return Ok(None);
        }
        spec.validate()?;
        let (key_type, mut rows) = match &spec.base {
            Base::Group(group) => {
                let files = self
                    .table_of(group)?
                    .files(spec.event_time_from, spec.event_time_to)?;
                (Some(passes::key_type(group)), passes::rows_in(&files))
            }
            Base::Entities(e) => {
                let (schema, rows) = match &e.source {
                    EntitySource::Batches { schema, batches } => (
                        schema.clone(),
                        batches.iter().map(|b| b.num_rows() as u64).sum(),
                    ),
                    EntitySource::File(_) => {
                        let probe = self.options.session(false)?;
                        (register_entities(&probe, &e.source).await?, 0)
                    }
                };
                (passes::column_type(&schema, &e.id_column), rows)
            }
        };
        if !passes::splittable(spec, key_type.as_ref()) {
            return Ok(None);
        }
        let mut seen = Vec::new();
        for join in &spec.joins {
            if !seen.contains(&&join.group.feature_group_name) {
                seen.push(&join.group.feature_group_name);
                rows += passes::rows_in(&self.table_of(&join.group)?.files(None, None)?);
            }
        }
        let budget = self
            .options
            .memory_limit
            .unwrap_or(passes::DEFAULT_JOIN_BUDGET);
        let of = match self.options.join_passes {
            Some(n) => n.clamp(1, 1024),
            None => passes::pass_count(rows, budget),
        };
        tracing::debug!(rows, passes = of, "point-in-time join split by key hash");
        Ok((of > 1).then_some(of))
    }

    /// Runs `spec` once per key-hash bucket of `of`, one pass after another.
    async fn execute_in_passes(&self, spec: &DatasetSpec, of: u32) -> Result<BatchStream> {
        let first = self.execute_pass(spec, Some(Pass { index: 0, of })).await?;
        let schema = first.schema();
        let engine = self.clone();
        let owned = spec.clone();
        let rest = futures::stream::iter(1..of)
            .then(move |index| {
                let engine = engine.clone();
                let spec = owned.clone();
                async move { engine.execute_pass(&spec, Some(Pass { index, of })).await }
            })
            .try_flatten();
        let rows = first.chain(rest);
        Ok(match spec.limit {
            None => BatchStream::new(schema, rows),
            Some(limit) => BatchStream::new(schema, crate::scan::take_rows(rows, limit)),
        })
    }

    /// Runs `spec` and reads every row into memory.
    pub async fn collect(&self, spec: &DatasetSpec) -> Result<Vec<RecordBatch>> {
        self.execute(spec).await?.collect().await
    }

    /// The SQL `spec` runs as, over the tables this engine registers
    /// (`fs_base`, `fs_j<n>`, `fs_entities`).
    pub async fn sql(&self, spec: &DatasetSpec) -> Result<String> {
        Ok(self.prepare(spec).await?.1)
    }

    /// DataFusion's physical plan for `spec` (for tuning).
    pub async fn explain(&self, spec: &DatasetSpec) -> Result<String> {
        let (ctx, sql) = self.prepare(spec).await?;
        let df = ctx
            .sql(&format!("EXPLAIN {sql}"))
            .await
            .map_err(query("explaining"))?;
        let batches = df.collect().await.map_err(query("explaining"))?;
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .map_err(|e| Error::InvalidDataset(format!("formatting a plan: {e}")))?;
        Ok(text.to_string())
    }

    /// Registers the tables `spec` reads in a new session and renders it.
    async fn prepare(&self, spec: &DatasetSpec) -> Result<(SessionContext, String)> {
        self.prepare_pass(spec, None).await
    }

    /// [`Self::prepare`] with every table filtered to the keys of `pass`.
    async fn prepare_pass(
        &self,
        spec: &DatasetSpec,
        pass: Option<Pass>,
    ) -> Result<(SessionContext, String)> {
        spec.validate()?;
        let ranged = spec.event_time_from.is_some() || spec.event_time_to.is_some();
        let ctx = self.options.session(ranged)?;
        let base = spec.base_group();
        if let Some(group) = base {
            let table = self.table_of(group)?;
            let files = table.files(spec.event_time_from, spec.event_time_to)?;
            let mut provider = group_provider(&ctx, group, &files).await?;
            if let Some(pass) = pass {
                provider = passes::filtered(&ctx, provider, passes::base_key(spec), pass)?;
            }
            register(&ctx, BASE_TABLE, provider)?;
        }
        let mut join_tables: HashMap<&str, String> = HashMap::new();
        for join in &spec.joins {
            let name = join.group.feature_group_name.as_str();
            if join_tables.contains_key(name) {
                continue;
            }
            let table_name = format!("fs_j{}", join_tables.len() + 1);
            let files = self.table_of(&join.group)?.files(None, None)?;
            let mut provider = group_provider(&ctx, &join.group, &files).await?;
            if let Some(pass) = pass {
                let key = &join.group.record_identifier_feature_name;
                provider = passes::filtered(&ctx, provider, key, pass)?;
            }
            register(&ctx, &table_name, provider)?;
            join_tables.insert(name, table_name);
        }
        let tables = |g: &FeatureGroup| -> Result<TableRef> {
            if base.is_some_and(|b| std::ptr::eq(b, g)) {
                return Ok(TableRef::new(BASE_TABLE));
            }
            join_tables
                .get(g.feature_group_name.as_str())
                .map(TableRef::new)
                .ok_or_else(|| {
                    Error::InvalidDataset(format!(
                        "feature group `{}` is not part of the dataset",
                        g.feature_group_name
                    ))
                })
        };
        let sql = match &spec.base {
            Base::Group(_) => render(spec, Dialect::DataFusion, &tables)?,
            Base::Entities(e) => {
                let schema = register_entities(&ctx, &e.source).await?;
                if let Some(pass) = pass {
                    let provider = ctx
                        .deregister_table(TableReference::bare(ENTITY_TABLE))
                        .map_err(query("splitting the entity table"))?
                        .ok_or_else(|| {
                            Error::InvalidDataset("the entity table was not registered".into())
                        })?;
                    let provider = passes::filtered(&ctx, provider, &e.id_column, pass)?;
                    register(&ctx, ENTITY_TABLE, provider)?;
                }
                let entities =
                    EntityTable::from_schema(TableRef::new(ENTITY_TABLE), &schema, &e.time_column)?;
                render_with_entities(spec, Dialect::DataFusion, &tables, &entities)?
            }
        };
        tracing::debug!(%sql, "running a dataset on the embedded engine");
        Ok((ctx, sql))
    }
}

fn describe(spec: &DatasetSpec) -> String {
    match &spec.base {
        Base::Group(g) => format!(
            "building a dataset of feature group `{}`",
            g.feature_group_name
        ),
        Base::Entities(e) => match &e.source {
            EntitySource::File(p) => format!("building a dataset of entities in {}", p.display()),
            EntitySource::Batches { .. } => "building a dataset of in-memory entities".into(),
        },
    }
}

/// `columns` followed by each join's entity column not among them: the
/// columns a native join needs from its entity rows.
fn with_join_columns(spec: &DatasetSpec, mut columns: Vec<String>) -> Vec<String> {
    for join in &spec.joins {
        if let Some(c) = &join.entity_column
            && !columns.contains(c)
        {
            columns.push(c.clone());
        }
    }
    columns
}

/// The entity rows registered in `ctx`, twice: every column (the rows the
/// join outputs) and only `probed` (the probe pass's read of the same rows).
async fn entity_streams(
    ctx: &SessionContext,
    spec: &DatasetSpec,
    source: &EntitySource,
    probed: &[String],
) -> Result<(BatchStream, BatchStream)> {
    Ok(match source {
        EntitySource::Batches { schema, batches } => {
            let stream = |batches: Vec<RecordBatch>| {
                BatchStream::new(
                    schema.clone(),
                    futures::stream::iter(batches.into_iter().map(Ok)),
                )
            };
            (stream(batches.clone()), stream(batches.clone()))
        }
        EntitySource::File(_) => {
            let context = describe(spec);
            let df = ctx
                .table(TableReference::bare(ENTITY_TABLE))
                .await
                .map_err(query(context.clone()))?;
            let columns: Vec<&str> = probed.iter().map(String::as_str).collect();
            let narrow = df
                .clone()
                .select_columns(&columns)
                .map_err(query(context.clone()))?
                .execute_stream()
                .await
                .map_err(query(context.clone()))?;
            let stream = df.execute_stream().await.map_err(query(context.clone()))?;
            (
                BatchStream::from_datafusion(stream, context.clone(), None),
                BatchStream::from_datafusion(narrow, context, None),
            )
        }
    })
}

fn register(ctx: &SessionContext, name: &str, provider: Arc<dyn TableProvider>) -> Result<()> {
    ctx.register_table(TableReference::bare(name), provider)
        .map_err(query(format!("registering table {name}")))?;
    Ok(())
}

/// A group's files as a table (an empty one when there are none).
async fn group_provider(
    ctx: &SessionContext,
    group: &FeatureGroup,
    files: &[crate::table::DataFile],
) -> Result<Arc<dyn TableProvider>> {
    let schema = offline_read_schema(group);
    if files.is_empty() {
        let empty = MemTable::try_new(schema, vec![vec![]]).map_err(query(format!(
            "registering feature group `{}`",
            group.feature_group_name
        )))?;
        return Ok(Arc::new(empty));
    }
    listing_table(ctx, schema, files).await
}

/// Registers the entity rows as [`ENTITY_TABLE`] and returns their schema.
async fn register_entities(
    ctx: &SessionContext,
    source: &EntitySource,
) -> Result<arrow_schema::SchemaRef> {
    match source {
        EntitySource::Batches { schema, batches } => {
            let table = MemTable::try_new(schema.clone(), vec![batches.clone()])
                .map_err(query("registering the entity batches"))?;
            register(ctx, ENTITY_TABLE, Arc::new(table))?;
            Ok(schema.clone())
        }
        EntitySource::File(path) => {
            let s = path.to_str().ok_or_else(|| {
                Error::InvalidDataset(format!("{} is not a UTF-8 path", path.display()))
            })?;
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let ext_dot = format!(".{ext}");
            let context = format!("reading the entity file {s}");
            match ext.as_str() {
                "parquet" => ctx
                    .register_parquet(
                        ENTITY_TABLE,
                        s,
                        ParquetReadOptions::default().file_extension(&ext_dot),
                    )
                    .await
                    .map_err(query(context))?,
                "csv" => ctx
                    .register_csv(
                        ENTITY_TABLE,
                        s,
                        CsvReadOptions::new()
                            .has_header(true)
                            .file_extension(&ext_dot),
                    )
                    .await
                    .map_err(query(context))?,
                "json" | "jsonl" | "ndjson" => ctx
                    .register_json(
                        ENTITY_TABLE,
                        s,
                        JsonReadOptions::default().file_extension(&ext_dot),
                    )
                    .await
                    .map_err(query(context))?,
                _ => {
                    return Err(Error::InvalidDataset(format!(
                        "the entity file {s} is not .parquet, .csv, .json, .jsonl or .ndjson"
                    )));
                }
            }
            let provider = ctx
                .table_provider(TableReference::bare(ENTITY_TABLE))
                .await
                .map_err(query(format!("reading the entity file {s}")))?;
            Ok(provider.schema())
        }
    }
}

#[async_trait::async_trait]
impl DatasetEngine for LocalEngine {
    async fn execute(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        LocalEngine::execute(self, spec).await
    }

    async fn sql(&self, spec: &DatasetSpec) -> Result<String> {
        LocalEngine::sql(self, spec).await
    }

    async fn pin(&self, spec: &DatasetSpec) -> Result<Option<Pinned>> {
        LocalEngine::pin(self, spec).map(Some)
    }
}
