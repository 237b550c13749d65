//! Datasets run on Amazon Athena (feature `athena`).
//!
//! A [`DatasetSpec`] is rendered as Athena (Trino) SQL by [`crate::sql`]
//! over each group's Glue table (`OfflineStoreConfig.DataCatalogConfig`, as
//! DescribeFeatureGroup returns it), started with StartQueryExecution, and
//! polled with GetQueryExecution under an exponential [`Backoff`] until it
//! ends; past the deadline the query is stopped (StopQueryExecution) and
//! [`AthenaError::Timeout`] returned. Results come back as Arrow batches of
//! the dataset's schema in one of two ways ([`Fetch`]):
//!
//! - **GetQueryResults** ([`Fetch::Results`]): pages of at most 1,000 rows
//!   of text, read one after the other (each page one batch). Nothing is
//!   left in S3 but Athena's own result file; one round trip per 1,000 rows.
//! - **UNLOAD** ([`Fetch::Unload`]): the query wrapped in
//!   `UNLOAD (…) TO '<unload location>/<unique prefix>/' WITH (format =
//!   'PARQUET')`; the Parquet files are then listed and read from S3 in
//!   parallel, typed, with no text parsing. Costs an S3 write and list, and
//!   leaves the files (delete the prefix, or give the location a lifecycle
//!   rule).
//! - [`Fetch::Auto`] picks GetQueryResults when the expected row count (the
//!   caller's hint, else the dataset's limit) is at most
//!   [`AthenaOptions::auto_unload_above_rows`] (20,000 by default, 20
//!   pages), and UNLOAD otherwise or when nothing is known.
//!
//! See docs/athena.md for the full picture and how it is tested.
//!
//! ```no_run
//! # async fn example(sdk: aws_types::SdkConfig, spec: fs_offline::DatasetSpec) -> Result<(), fs_offline::Error> {
//! use futures::TryStreamExt;
//! use fs_offline::athena::{AthenaEngine, AthenaOptions, Fetch};
//! let engine = AthenaEngine::from_sdk_config(
//!     &sdk,
//!     AthenaOptions::default()
//!         .workgroup("primary")
//!         .output_location("s3://my-athena-results/featurestore/"),
//! )?;
//! let dataset = engine.run(&spec, Fetch::Auto { expected_rows: None }).await?;
//! println!("query {} scanned {:?} bytes", dataset.finished().query_id, dataset.finished().data_scanned_bytes);
//! let batches: Vec<_> = dataset.try_collect().await?;
//! # Ok(()) }
//! ```

mod engine;
mod error;
mod pages;
mod poll;
mod results;
mod schema;
mod unload;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use aws_sdk_athena::types::{QueryExecutionContext, ResultConfiguration};
use fs_schema::FeatureGroup;
use fs_schema::aws_error::AwsError;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

pub use error::{AthenaError, AthenaResult, BadValue};
pub use poll::{Backoff, Finished, QueryState};
pub use schema::output_schema;
pub use unload::UnloadCompression;

use crate::spec::DatasetSpec;
use crate::sql::{Dialect, EntityTable, TableRef};

/// How an engine runs queries; build with [`AthenaOptions::default`] and
/// the setters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AthenaOptions {
    /// The workgroup (`None`: the account's `primary`).
    pub workgroup: Option<String>,
    /// Where Athena writes query results (`s3://…/`); `None` to use the
    /// workgroup's setting.
    pub output_location: Option<String>,
    /// Where UNLOAD writes its Parquet files (`s3://…/`); each query gets a
    /// fresh prefix under it. `None`: `<output_location>unload/`.
    pub unload_location: Option<String>,
    /// Replaces the catalog of every group's Glue table.
    pub catalog: Option<String>,
    /// Replaces the database of every group's Glue table.
    pub database: Option<String>,
    /// How often GetQueryExecution is called.
    pub backoff: Backoff,
    /// How long a query may run (from StartQueryExecution) before it is
    /// stopped; `None` for no limit. Default 30 minutes (Athena's default
    /// DML timeout).
    pub deadline: Option<Duration>,
    /// Rows per GetQueryResults page, 1 to 1,000 (default 1,000).
    pub page_size: u32,
    /// UNLOAD objects read at once (default 8).
    pub parallelism: usize,
    /// Rows per batch when reading UNLOAD's Parquet (default 8,192).
    pub batch_size: usize,
    /// [`Fetch::Auto`] uses UNLOAD above this many expected rows.
    pub auto_unload_above_rows: u64,
    /// The compression of UNLOAD's Parquet files.
    pub unload_compression: UnloadCompression,
}

impl Default for AthenaOptions {
    fn default() -> Self {
        Self {
            workgroup: None,
            output_location: None,
            unload_location: None,
            catalog: None,
            database: None,
            backoff: poll::DEFAULT_BACKOFF,
            deadline: Some(Duration::from_secs(30 * 60)),
            page_size: 1000,
            parallelism: 8,
            batch_size: 8192,
            auto_unload_above_rows: 20_000,
            unload_compression: UnloadCompression::default(),
        }
    }
}

impl AthenaOptions {
    /// Runs queries in this workgroup.
    pub fn workgroup(mut self, workgroup: impl Into<String>) -> Self {
        self.workgroup = Some(workgroup.into());
        self
    }
    /// Athena's result location (`s3://bucket/prefix/`).
    pub fn output_location(mut self, uri: impl Into<String>) -> Self {
        self.output_location = Some(with_slash(uri.into()));
        self
    }
    /// UNLOAD's location (`s3://bucket/prefix/`).
    pub fn unload_location(mut self, uri: impl Into<String>) -> Self {
        self.unload_location = Some(with_slash(uri.into()));
        self
    }
    /// Reads every group's table from this catalog instead of its own.
    pub fn catalog(mut self, catalog: impl Into<String>) -> Self {
        self.catalog = Some(catalog.into());
        self
    }
    /// Reads every group's table from this database instead of its own.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }
    /// Polls with this backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
    /// Stops queries running longer than this (`None`: never).
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }
    /// Rows per GetQueryResults page (1 to 1,000).
    pub fn page_size(mut self, rows: u32) -> Self {
        self.page_size = rows;
        self
    }
    /// UNLOAD objects read at once.
    pub fn parallelism(mut self, objects: usize) -> Self {
        self.parallelism = objects;
        self
    }
    /// Rows per batch read from UNLOAD's Parquet.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }
    /// [`Fetch::Auto`]'s threshold.
    pub fn auto_unload_above_rows(mut self, rows: u64) -> Self {
        self.auto_unload_above_rows = rows;
        self
    }
    /// UNLOAD's Parquet compression.
    pub fn unload_compression(mut self, compression: UnloadCompression) -> Self {
        self.unload_compression = compression;
        self
    }

    fn validate(&self) -> AthenaResult<()> {
        self.backoff
            .validate()
            .map_err(|e| AthenaError::Config(format!("the poll backoff: {}", e.reason)))?;
        if !(1..=1000).contains(&self.page_size) {
            return Err(AthenaError::Config(format!(
                "page_size must be 1 to 1000 (GetQueryResults' MaxResults), not {}",
                self.page_size
            )));
        }
        for (what, uri) in [
            ("output_location", &self.output_location),
            ("unload_location", &self.unload_location),
        ] {
            if let Some(uri) = uri {
                unload::split_s3_uri(uri)
                    .map_err(|e| AthenaError::Config(format!("{what}: {e}")))?;
            }
        }
        if self.parallelism == 0 || self.batch_size == 0 {
            return Err(AthenaError::Config(
                "parallelism and batch_size must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

fn with_slash(mut uri: String) -> String {
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// How a query's results come back; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// GetQueryResults pages.
    Results,
    /// UNLOAD to Parquet, read back from S3 in parallel.
    Unload,
    /// GetQueryResults for at most [`AthenaOptions::auto_unload_above_rows`]
    /// expected rows, UNLOAD otherwise.
    Auto {
        /// The caller's estimate of the row count (else the dataset's limit).
        expected_rows: Option<u64>,
    },
}

/// Runs datasets and SQL on Athena; cheap to clone.
#[derive(Debug, Clone)]
pub struct AthenaEngine {
    athena: aws_sdk_athena::Client,
    s3: aws_sdk_s3::Client,
    options: Arc<AthenaOptions>,
}

impl AthenaEngine {
    /// An engine over these clients (the S3 client reads UNLOAD's output).
    pub fn new(
        athena: aws_sdk_athena::Client,
        s3: aws_sdk_s3::Client,
        options: AthenaOptions,
    ) -> AthenaResult<Self> {
        options.validate()?;
        Ok(Self {
            athena,
            s3,
            options: Arc::new(options),
        })
    }

    /// An engine with clients made from `config`.
    pub fn from_sdk_config(
        config: &aws_types::SdkConfig,
        options: AthenaOptions,
    ) -> AthenaResult<Self> {
        Self::new(
            aws_sdk_athena::Client::new(config),
            aws_sdk_s3::Client::new(config),
            options,
        )
    }

    /// The engine's options.
    pub fn options(&self) -> &AthenaOptions {
        &self.options
    }

    /// The Glue table of `group` as the engine's queries name it: the
    /// group's `DataCatalogConfig`, with the catalog and database replaced
    /// when the options say so.
    pub fn table_ref(&self, group: &FeatureGroup) -> crate::Result<TableRef> {
        let own = TableRef::athena(group)?;
        let parts = own.parts();
        let catalog = self.options.catalog.as_deref().unwrap_or(&parts[0]);
        let database = self.options.database.as_deref().unwrap_or(&parts[1]);
        Ok(TableRef::qualified([catalog, database, parts[2].as_str()]))
    }

    /// The dataset as the SELECT statement the engine runs.
    pub fn render(&self, spec: &DatasetSpec) -> crate::Result<String> {
        crate::sql::render(spec, Dialect::Athena, &|g| self.table_ref(g))
    }

    /// A dataset whose base is an entity table that Athena can read
    /// (`entities` names it), as the SELECT statement the engine runs.
    pub fn render_with_entities(
        &self,
        spec: &DatasetSpec,
        entities: &EntityTable,
    ) -> crate::Result<String> {
        crate::sql::render_with_entities(spec, Dialect::Athena, &|g| self.table_ref(g), entities)
    }

    /// Runs a dataset of a base group: rendered, started, waited for, and
    /// its rows fetched as `fetch` says, typed by [`output_schema`]. A
    /// dataset that cannot be rendered fails with its own error
    /// ([`crate::Error::InvalidDataset`], ...); Athena's failures come as
    /// [`crate::Error::Athena`].
    pub async fn run(&self, spec: &DatasetSpec, fetch: Fetch) -> crate::Result<AthenaDataset> {
        let sql = self.render(spec)?;
        let schema = output_schema(spec, None)?;
        Ok(self.run_sql(&sql, self.choose(fetch, spec), schema).await?)
    }

    /// Runs a dataset whose base is an entity table already readable by
    /// Athena; `entity_schema`, when given, types the entity columns
    /// (otherwise every column is typed from Athena's result).
    pub async fn run_with_entities(
        &self,
        spec: &DatasetSpec,
        entities: &EntityTable,
        entity_schema: Option<&arrow_schema::Schema>,
        fetch: Fetch,
    ) -> crate::Result<AthenaDataset> {
        let sql = self.render_with_entities(spec, entities)?;
        let schema = output_schema(spec, entity_schema)?;
        Ok(self.run_sql(&sql, self.choose(fetch, spec), schema).await?)
    }

    /// Runs a SELECT statement; `schema` types the result (by position),
    /// `None` types it from Athena's column types (GetQueryResults) or the
    /// Parquet files (UNLOAD).
    pub async fn run_sql(
        &self,
        select: &str,
        fetch: Fetch,
        schema: Option<SchemaRef>,
    ) -> AthenaResult<AthenaDataset> {
        let query = match self.choose_rows(fetch, None) {
            Fetch::Unload => self.start_unload(select).await?,
            _ => self.start(select).await?,
        };
        query.finish(schema).await
    }

    fn choose(&self, fetch: Fetch, spec: &DatasetSpec) -> Fetch {
        self.choose_rows(fetch, spec.limit)
    }

    fn choose_rows(&self, fetch: Fetch, limit: Option<u64>) -> Fetch {
        match fetch {
            Fetch::Auto { expected_rows } => match expected_rows.or(limit) {
                Some(n) if n <= self.options.auto_unload_above_rows => Fetch::Results,
                _ => Fetch::Unload,
            },
            other => other,
        }
    }

    /// Starts `sql` as it is (StartQueryExecution).
    pub async fn start(&self, sql: &str) -> AthenaResult<Query> {
        self.start_inner(sql.to_owned(), None).await
    }

    /// Starts `select` wrapped in UNLOAD to a fresh prefix under the unload
    /// location ([`Query::unload_location`]).
    pub async fn start_unload(&self, select: &str) -> AthenaResult<Query> {
        let base = match (&self.options.unload_location, &self.options.output_location) {
            (Some(u), _) => u.clone(),
            (None, Some(o)) => format!("{o}unload/"),
            (None, None) => {
                return Err(AthenaError::Config(
                    "UNLOAD needs an unload_location or an output_location (s3://…/)".into(),
                ));
            }
        };
        let location = unload::unique_prefix(&base);
        let sql = unload::statement(select, &location, self.options.unload_compression);
        self.start_inner(sql, Some(location)).await
    }

    async fn start_inner(&self, sql: String, unload: Option<String>) -> AthenaResult<Query> {
        let o = &self.options;
        let mut request = self.athena.start_query_execution().query_string(&sql);
        if let Some(w) = &o.workgroup {
            request = request.work_group(w);
        }
        if let Some(l) = &o.output_location {
            request = request
                .result_configuration(ResultConfiguration::builder().output_location(l).build());
        }
        if o.catalog.is_some() || o.database.is_some() {
            request = request.query_execution_context(
                QueryExecutionContext::builder()
                    .set_catalog(o.catalog.clone())
                    .set_database(o.database.clone())
                    .build(),
            );
        }
        let started = Instant::now();
        let out = request.send().await.map_err(|e| AthenaError::Api {
            query_id: None,
            source: Box::new(AwsError::from_sdk("StartQueryExecution", e)),
        })?;
        let id = out
            .query_execution_id()
            .ok_or_else(|| AthenaError::Config("StartQueryExecution returned no query id".into()))?
            .to_owned();
        tracing::info!(query_id = %id, unload = unload.is_some(), "athena query started");
        Ok(Query {
            engine: self.clone(),
            id,
            sql,
            started,
            unload,
        })
    }
}

/// A started query execution.
#[derive(Debug)]
pub struct Query {
    engine: AthenaEngine,
    id: String,
    sql: String,
    started: Instant,
    unload: Option<String>,
}

impl Query {
    /// The query execution id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The statement sent.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Where UNLOAD writes its files (`s3://…/<unique prefix>/`), for an
    /// UNLOAD query.
    pub fn unload_location(&self) -> Option<&str> {
        self.unload.as_deref()
    }

    /// Polls until the query ends; stops it at the engine's deadline.
    pub async fn wait(&self) -> AthenaResult<Finished> {
        let o = &self.engine.options;
        poll::wait(
            &self.engine.athena,
            &self.id,
            &o.backoff,
            o.deadline,
            self.started,
        )
        .await
    }

    /// Asks Athena to stop the query (StopQueryExecution).
    pub async fn stop(&self) -> AthenaResult<()> {
        poll::stop(&self.engine.athena, &self.id).await
    }

    /// Waits, then reads the rows: UNLOAD's Parquet for an UNLOAD query,
    /// GetQueryResults pages otherwise.
    pub async fn finish(self, schema: Option<SchemaRef>) -> AthenaResult<AthenaDataset> {
        let finished = self.wait().await?;
        let (schema, stream) = match &self.unload {
            Some(location) => {
                let (bucket, prefix) =
                    unload::split_s3_uri(location).map_err(AthenaError::Config)?;
                let keys = unload::list(&self.engine.s3, &self.id, &bucket, &prefix).await?;
                tracing::debug!(query_id = %self.id, objects = keys.len(), %location, "reading UNLOAD output");
                let o = &self.engine.options;
                unload::read(
                    self.engine.s3.clone(),
                    self.id.clone(),
                    bucket,
                    keys,
                    schema,
                    o.parallelism,
                    o.batch_size,
                )
                .await?
            }
            None => pages::stream(self.engine.clone(), &finished, schema).await?,
        };
        Ok(AthenaDataset {
            finished,
            schema,
            stream,
        })
    }
}

/// The rows of a finished query: a stream of batches of [`schema`](Self::schema).
pub struct AthenaDataset {
    finished: Finished,
    schema: SchemaRef,
    stream: BoxStream<'static, AthenaResult<RecordBatch>>,
}

impl std::fmt::Debug for AthenaDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AthenaDataset")
            .field("finished", &self.finished)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl AthenaDataset {
    /// The finished query (id, polls, bytes scanned, ...).
    pub fn finished(&self) -> &Finished {
        &self.finished
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The batches as a stream.
    pub fn into_stream(self) -> BoxStream<'static, AthenaResult<RecordBatch>> {
        self.stream
    }
}

impl Stream for AthenaDataset {
    type Item = AthenaResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }
}
