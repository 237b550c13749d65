//! Reading an [`OfflineTable`]: column projection, an event-time range with
//! partition pruning, and a stream of Arrow batches with bounded memory.
//!
//! A [`Scan`] lists the Parquet files whose `year=/month=/day=/hour=`
//! partition overlaps the event-time range (directories outside it are
//! never opened), then reads them with DataFusion's Parquet scan, keeping
//! only rows whose event time is inside the range (both ends inclusive,
//! compared as instants: `…:00Z` equals `…:00.000Z`).
//!
//! Why DataFusion rather than a hand-written loop over the `parquet`
//! crate's reader: it *is* that reader (the async Arrow reader, row-group
//! and page pruning, projection to the needed column chunks), plus the
//! parts a scan needs anyway — files split into byte ranges read in
//! parallel on `parallelism` partitions, the conversion of each file's
//! schema to the table's (timestamp units, `INT96`, string types, missing
//! columns as nulls) and backpressure through bounded channels. A direct
//! loop would re-implement those for no gain in speed; the planning
//! overhead is a few milliseconds per scan.
//!
//! Memory is bounded by the number of partitions times a few batches of
//! `batch_size` rows (each file is read one row group at a time), whatever
//! the data size.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use fs_schema::{EventTime, FeatureType};

use crate::engine::{BatchStream, EngineOptions};
use crate::error::{Error, Result, query};
use crate::sql::{Dialect, TimeEncoding, quote_ident, time_ms};
use crate::table::{DataFile, OfflineTable};

/// A scan of an [`OfflineTable`] (see the [module docs](self)).
///
/// ```no_run
/// # async fn f(table: fs_offline::table::OfflineTable) -> fs_offline::Result<()> {
/// use futures::TryStreamExt;
/// use fs_schema::EventTime;
/// let mut stream = fs_offline::scan::Scan::new(table)
///     .columns(["customer_id", "amount"])
///     .event_time_range(Some(EventTime::parse_iso("2024-01-01T00:00:00Z")?), None)
///     .stream()
///     .await?;
/// while let Some(batch) = stream.try_next().await? {
///     println!("{} rows", batch.num_rows());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Scan {
    table: OfflineTable,
    columns: Option<Vec<String>>,
    from: Option<EventTime>,
    to: Option<EventTime>,
    options: EngineOptions,
}

impl Scan {
    /// A scan of every row and column of `table`.
    pub fn new(table: OfflineTable) -> Self {
        Self {
            table,
            columns: None,
            from: None,
            to: None,
            options: EngineOptions::default(),
        }
    }

    /// Only these columns (features or `write_time`, `api_invocation_time`,
    /// `is_deleted`), in this order.
    pub fn columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Only rows with event times in `[from, to]`; either end optional.
    pub fn event_time_range(mut self, from: Option<EventTime>, to: Option<EventTime>) -> Self {
        self.from = from;
        self.to = to;
        self
    }

    /// At most this many rows per batch (default 8192).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.options.batch_size = rows.max(1);
        self
    }

    /// Read with this many parallel partitions (default: the number of cores).
    pub fn parallelism(mut self, partitions: usize) -> Self {
        self.options.target_partitions = partitions.max(1);
        self
    }

    /// The files the scan reads: those whose partition overlaps the range.
    pub fn files(&self) -> Result<Vec<DataFile>> {
        self.table.files(self.from, self.to)
    }

    /// The schema of the batches.
    pub fn schema(&self) -> Result<SchemaRef> {
        let full = self.table.schema();
        match &self.columns {
            None => Ok(full),
            Some(cols) => {
                let fields = cols
                    .iter()
                    .map(|c| {
                        full.field_with_name(c).cloned().map_err(|_| {
                            Error::InvalidDataset(format!(
                                "feature group `{}` has no column `{c}` to scan",
                                self.table.group().feature_group_name
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Arc::new(Schema::new(fields)))
            }
        }
    }

    /// Starts the scan.
    pub async fn stream(&self) -> Result<BatchStream> {
        let schema = self.schema()?;
        if self.from.zip(self.to).is_some_and(|(f, t)| f > t) {
            return Err(Error::InvalidDataset(format!(
                "the event-time range is empty: from {} is after to {}",
                self.from.unwrap_or(EventTime::MIN),
                self.to.unwrap_or(EventTime::MAX)
            )));
        }
        let files = self.files()?;
        if files.is_empty() {
            return Ok(BatchStream::empty(schema));
        }
        let group = self.table.group();
        let ctx = self
            .options
            .session(self.from.is_some() || self.to.is_some())?;
        let provider = listing_table(&ctx, self.table.schema(), &files).await?;
        let name = "fs_scan";
        ctx.register_table(datafusion::common::TableReference::bare(name), provider)
            .map_err(query(format!(
                "registering the files of `{}`",
                group.feature_group_name
            )))?;
        let cols: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect::<Result<_>>()?;
        let mut sql = format!("SELECT {} FROM \"{name}\"", cols.join(", "));
        let encoding = match group.event_time().feature_type {
            FeatureType::String => TimeEncoding::Iso8601,
            _ => TimeEncoding::FractionalSeconds,
        };
        let et = time_ms(
            Dialect::DataFusion,
            &quote_ident(&group.event_time_feature_name)?,
            encoding,
        );
        let mut filters = Vec::new();
        if let Some(from) = self.from {
            filters.push(format!("{et} >= {}", from.as_millis()));
        }
        if let Some(to) = self.to {
            filters.push(format!("{et} <= {}", to.as_millis()));
        }
        if !filters.is_empty() {
            sql.push_str(&format!(" WHERE {}", filters.join(" AND ")));
        }
        let context = format!(
            "scanning feature group `{}` in {}",
            group.feature_group_name,
            self.table.dir().display()
        );
        let df = ctx.sql(&sql).await.map_err(query(context.clone()))?;
        let stream = df.execute_stream().await.map_err(query(context.clone()))?;
        let limit = self.options.sql_memory_pool();
        Ok(BatchStream::from_datafusion(stream, context, limit))
    }
}

/// A DataFusion table over exactly `files`, read as `schema`.
pub(crate) async fn listing_table(
    ctx: &SessionContext,
    schema: SchemaRef,
    files: &[DataFile],
) -> Result<Arc<dyn TableProvider>> {
    let mut urls = Vec::with_capacity(files.len());
    for f in files {
        let s = f.path.to_str().ok_or_else(|| {
            Error::InvalidDataset(format!("{} is not a UTF-8 path", f.path.display()))
        })?;
        if s.contains(['*', '?', '[']) {
            return Err(Error::InvalidDataset(format!(
                "{s} contains a glob character (*, ? or [), which DataFusion would expand"
            )));
        }
        let absolute = std::path::absolute(&f.path).map_err(|source| Error::LocalIo {
            what: "resolving",
            path: f.path.clone(),
            source,
        })?;
        urls.push(
            ListingTableUrl::parse(absolute.to_string_lossy())
                .map_err(query(format!("reading {s}")))?,
        );
    }
    let state = ctx.state();
    let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config).map_err(query("opening offline files"))?;
    Ok(Arc::new(table))
}

/// At most `limit` rows of `rows`; the rest is never read.
pub(crate) fn take_rows(
    rows: impl futures::Stream<Item = Result<RecordBatch>> + Send,
    limit: u64,
) -> impl futures::Stream<Item = Result<RecordBatch>> + Send {
    futures::StreamExt::scan(rows, limit, |left, item| {
        let out = match item {
            _ if *left == 0 => None,
            Ok(batch) => {
                let n = (batch.num_rows() as u64).min(*left);
                *left -= n;
                Some(Ok(batch.slice(0, n as usize)))
            }
            Err(e) => Some(Err(e)),
        };
        std::future::ready(out)
    })
}
