//! The seam every dataset backend implements: [`DatasetEngine`] runs a
//! [`DatasetSpec`] into a [`BatchStream`], and renders its SQL.
//!
//! | engine | where it runs | feature |
//! |---|---|---|
//! | [`LocalEngine`](crate::local::LocalEngine) | DataFusion and the native joins over registered offline tables | (always) |
//! | [`RegistryEngine`](crate::local::RegistryEngine) | the same, over the offline directories a [`Registry`](fs_schema::registry::Registry) describes (the embedded store) | (always) |
//! | `athena::AthenaEngine` | Amazon Athena over SageMaker's Glue tables | `athena` |
//! | `cache::CachedEngine` | the S3 cache, synced first, then the embedded engine | `s3` |
//!
//! [`EngineOptions`] says how the embedded engine runs (in the embedded and
//! cached engines).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::{Stream, TryStreamExt};

use crate::error::{Result, query};
use crate::inputs::Input;
use crate::spec::DatasetSpec;

/// Runs datasets: the seam between the dataset API and where the work
/// happens. Object safe; hold it as `Arc<dyn DatasetEngine>`.
///
/// | engine | where it runs | feature |
/// |---|---|---|
/// | [`LocalEngine`](crate::local::LocalEngine) | DataFusion and the native joins over registered offline tables | (always) |
/// | [`RegistryEngine`](crate::local::RegistryEngine) | the same, over the offline directories a [`Registry`](fs_schema::registry::Registry) describes (the embedded store) | (always) |
/// | `athena::AthenaEngine` | Amazon Athena over SageMaker's Glue tables | `athena` |
/// | `cache::CachedEngine` | the S3 cache, synced first, then the embedded engine | `s3` |
#[async_trait::async_trait]
pub trait DatasetEngine: Send + Sync + std::fmt::Debug {
    /// Runs `spec`, streaming its rows.
    async fn execute(&self, spec: &DatasetSpec) -> Result<BatchStream>;

    /// The SQL `spec` runs as, in this engine's dialect (for reading and
    /// tuning; native paths give the same rows as this SQL).
    async fn sql(&self, spec: &DatasetSpec) -> Result<String>;

    /// `spec` fixed to the exact inputs it reads now (their identities, for
    /// the [dataset id](crate::inputs::dataset_id)), ready to run over
    /// those and nothing newer; `None` when this engine cannot name its
    /// inputs (Athena reads Glue tables it does not list), so its datasets
    /// are not kept as [artifacts](crate::artifact). The default is `None`.
    async fn pin(&self, spec: &DatasetSpec) -> Result<Option<Pinned>> {
        let _ = spec;
        Ok(None)
    }
}

/// A dataset fixed to its inputs: what [`DatasetEngine::pin`] returns.
/// Running it reads exactly the files its [`inputs`](Self::inputs) name
/// (the engine listed them once), while anything it holds (the cache's
/// holds on its files) stays alive until the stream is dropped.
pub struct Pinned {
    inputs: Vec<Input>,
    run: Arc<dyn DatasetEngine>,
    guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinned")
            .field("inputs", &self.inputs)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

impl Pinned {
    /// A dataset whose inputs are `inputs`, run by `run` (an engine that
    /// lists nothing new: it reads exactly those).
    pub fn new(inputs: Vec<Input>, run: Arc<dyn DatasetEngine>) -> Self {
        Pinned {
            inputs,
            run,
            guard: None,
        }
    }

    /// Keeps `guard` alive until the dataset's stream is dropped.
    pub fn holding(mut self, guard: impl Send + Sync + 'static) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// The inputs, in the engine's order.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// The inputs, to rename (the cache names its files by S3 object).
    #[cfg(feature = "s3")]
    pub(crate) fn inputs_mut(&mut self) -> &mut Vec<Input> {
        &mut self.inputs
    }

    /// The [dataset id](crate::inputs::dataset_id) of `spec` over these inputs.
    pub fn dataset_id(&self, spec: &DatasetSpec) -> String {
        crate::inputs::dataset_id(spec, &self.inputs)
    }

    /// Runs `spec` over the pinned inputs.
    pub async fn execute(self, spec: &DatasetSpec) -> Result<BatchStream> {
        let stream = self.run.execute(spec).await?;
        Ok(match self.guard {
            Some(guard) => stream.holding(guard),
            None => stream,
        })
    }
}

/// A stream of record batches with a known schema; what scans and
/// dataset builds return. Dropping it stops the work behind it.
pub struct BatchStream {
    schema: SchemaRef,
    inner: Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>,
}

impl std::fmt::Debug for BatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl BatchStream {
    /// A stream of `inner`'s batches, all of `schema`.
    pub fn new(
        schema: SchemaRef,
        inner: impl Stream<Item = Result<RecordBatch>> + Send + 'static,
    ) -> Self {
        Self {
            schema,
            inner: Box::pin(inner),
        }
    }

    /// A stream with no batches.
    pub fn empty(schema: SchemaRef) -> Self {
        Self::new(schema, futures::stream::empty())
    }

    /// DataFusion's stream, with its errors attributed to `context` (and
    /// running out of the memory pool of `limit` bytes reported as
    /// [`Error::OutOfMemory`]).
    pub(crate) fn from_datafusion(
        stream: SendableRecordBatchStream,
        context: String,
        limit: Option<usize>,
    ) -> Self {
        let schema = stream.schema();
        Self::new(
            schema,
            stream.map_err(move |e| crate::error::from_datafusion(e, context.clone(), limit)),
        )
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// This stream, keeping `guard` alive until the stream is dropped (for
    /// example the cache's hold on the files it reads).
    pub fn holding(self, guard: impl Send + Unpin + 'static) -> Self {
        let schema = self.schema.clone();
        Self::new(
            schema,
            Holding {
                inner: self,
                _guard: guard,
            },
        )
    }

    /// Reads every batch into memory.
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        self.try_collect().await
    }
}

impl Stream for BatchStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// A stream and something kept alive with it.
struct Holding<G> {
    inner: BatchStream,
    _guard: G,
}

impl<G: Unpin> Stream for Holding<G> {
    type Item = Result<RecordBatch>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `BatchStream` is `Unpin` (its inner stream is boxed).
        Pin::new(&mut self.get_mut().inner).poll_next(cx)
    }
}

/// How the embedded engine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Parallel partitions (default: the number of cores).
    pub target_partitions: usize,
    /// Rows per batch (default 8192).
    pub batch_size: usize,
    /// Bytes of memory the SQL plans' sorts, aggregations and hash joins
    /// may hold: beyond it sorts and aggregations spill to disk
    /// ([`Self::spill_dir`]) and a hash join's build side, which cannot
    /// spill, fails with [`Error::OutOfMemory`](crate::Error::OutOfMemory)
    /// naming this option, rather than the process being killed. `None`
    /// (the default): half of the memory this process may use (its
    /// cgroup's limit, else the machine's memory; see
    /// [`Self::sql_memory_pool`]). Setting it also bounds the native paths
    /// (see [`Self::native_latest`] and [`Self::native_join`]).
    pub memory_limit: Option<usize>,
    /// Where spill files go (default: the system's temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// Build latest-per-record datasets (a base group, one row per record,
    /// no joins) with the native two-pass reader rather than SQL (default
    /// `true`; see the [`local`](crate::local) module). Both give the same rows; the
    /// native path is faster and its memory is bounded (by half of
    /// `memory_limit` when that is set, else about 512 MB of identifier
    /// tables, past which it makes more passes).
    pub native_latest: bool,
    /// Passes a point-in-time join is split into, by hash of the join key
    /// (each pass holds about that share of the join's memory; see
    /// [`EngineOptions::memory_limit`]). `None` (the default) chooses from
    /// the rows the dataset reads: one pass per about 3M rows, or per
    /// `memory_limit / 128` rows when that is set. Joins that match on
    /// another column than the base's key, or on keys of different types,
    /// run in one pass.
    pub join_passes: Option<u32>,
    /// Run point-in-time joins with the native as-of join rather than SQL
    /// (default `true`): the same rows, in the entity rows' order, at a
    /// cost of O((n + m) log(n + m)) for n entity rows and m feature rows
    /// whatever the shape of the data (see `docs/offline.md`). The SQL plan
    /// pairs each entity row with every earlier row of its record. With
    /// [`Self::memory_limit`] set, a join whose index of a joined group
    /// would not fit fails before building it, naming the limit.
    pub native_join: bool,
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
            join_passes: None,
            native_join: true,
        }
    }
}

impl EngineOptions {
    /// The memory pool of the SQL plans in bytes: [`Self::memory_limit`]
    /// when set, else half of the memory this process may use (the
    /// cgroup's limit when set, else the machine's `MemTotal`), at least
    /// 256 MiB; `None` only where neither can be read (not Linux), and the
    /// plans then have no pool.
    pub fn sql_memory_pool(&self) -> Option<usize> {
        self.memory_limit.or_else(crate::memory::default_pool)
    }

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
        if let Some(limit) = self.sql_memory_pool() {
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
