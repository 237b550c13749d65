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
//! is set (hash-join build sides — the joined groups' rows — are held in
//! memory).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig, SessionContext,
};
use fs_schema::FeatureGroup;

use crate::error::{Error, Result};
use crate::scan::{BatchStream, listing_table, query};
use crate::spec::{Base, DatasetSpec, EntitySource};
use crate::sql::{Dialect, EntityTable, TableRef, render, render_with_entities};
use crate::table::{OfflineTable, offline_read_schema};

/// How the embedded engine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Parallel partitions (default: the number of cores).
    pub target_partitions: usize,
    /// Rows per batch (default 8192).
    pub batch_size: usize,
    /// Bytes of memory for sorts and aggregations, beyond which they spill
    /// to disk; `None` for no limit (the default).
    pub memory_limit: Option<usize>,
    /// Where spill files go (default: the system's temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// Build latest-per-record datasets (a base group, one row per record,
    /// no joins) with the native two-pass reader rather than SQL (default
    /// `true`; see the [module docs](self)). Both give the same rows; the
    /// native path is faster and its memory is bounded (by half of
    /// `memory_limit` when that is set, else about 512 MB of identifier
    /// tables, past which it makes more passes).
    pub native_latest: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            target_partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            batch_size: 8192,
            memory_limit: None,
            spill_dir: None,
            native_latest: true,
        }
    }
}

impl EngineOptions {
    /// A DataFusion session with these options; `pushdown` evaluates filters
    /// while decoding Parquet (worth it when they are selective).
    pub(crate) fn session(&self, pushdown: bool) -> Result<SessionContext> {
        let mut config = SessionConfig::new()
            .with_target_partitions(self.target_partitions.max(1))
            .with_batch_size(self.batch_size.max(1));
        // Statistics would mean reading every footer while planning; nothing
        // here uses them.
        config.options_mut().execution.collect_statistics = false;
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pushdown_filters = pushdown;
        parquet.reorder_filters = pushdown;
        // Read strings as the tables declare them (Utf8) rather than as views
        // cast back afterwards.
        parquet.schema_force_view_types = false;
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = self.memory_limit {
            runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
        }
        if let Some(dir) = &self.spill_dir {
            runtime = runtime.with_temp_file_path(dir.clone());
        }
        let runtime = runtime
            .build_arc()
            .map_err(query("starting the embedded engine"))?;
        Ok(SessionContext::new_with_config_rt(config, runtime))
    }
}

/// Runs datasets over local offline tables (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct LocalEngine {
    tables: HashMap<String, OfflineTable>,
    options: EngineOptions,
}

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
    pub async fn execute(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        if self.options.native_latest && crate::latest::applies(spec) {
            spec.validate()?;
            if let Base::Group(group) = &spec.base {
                let table = self.table_of(group)?;
                return crate::latest::execute(table, spec, &self.options).await;
            }
        }
        let (ctx, sql) = self.prepare(spec).await?;
        let context = describe(spec);
        let df = ctx.sql(&sql).await.map_err(query(context.clone()))?;
        let stream = df.execute_stream().await.map_err(query(context.clone()))?;
        Ok(BatchStream::from_datafusion(stream, context))
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
        spec.validate()?;
        let ranged = spec.event_time_from.is_some() || spec.event_time_to.is_some();
        let ctx = self.options.session(ranged)?;
        let base = spec.base_group();
        if let Some(group) = base {
            let table = self.table_of(group)?;
            let files = table.files(spec.event_time_from, spec.event_time_to)?;
            let provider = group_provider(&ctx, group, &files).await?;
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
            let provider = group_provider(&ctx, &join.group, &files).await?;
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
