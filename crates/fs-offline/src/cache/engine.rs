//! [`CachedEngine`]: datasets of SageMaker's offline store through the
//! local cache.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use fs_schema::EventTime;
use fs_schema::registry::Registry;

use super::{Cache, CacheOptions, CachedPrefix, ProjectedPrefix, SyncOptions, SyncReport};
use crate::engine::{BatchStream, DatasetEngine, EngineOptions, Pinned};
use crate::error::{Error, Result};
use crate::inputs::Input;
use crate::local::LocalEngine;
use crate::spec::DatasetSpec;
use crate::table::OfflineTable;

/// The cached engine: each run syncs the S3 offline data of every group
/// the dataset reads into the [`Cache`] (only new or changed objects are
/// fetched), then runs the embedded engine over the cached copies, which
/// no eviction removes while the result streams.
///
/// The base group is synced only for the dataset's event-time range (its
/// partitions outside it are never fetched); joined groups are synced
/// whole, since a point-in-time join needs their history up to the range's
/// end. Groups are found, with their current definitions and resolved S3
/// locations, through the [`Registry`] (SageMaker's DescribeFeatureGroup).
///
/// With [`CachedEngine::projected`], it fetches only the column chunks
/// the dataset reads instead ([`Cache::sync_projected`]): the columns of
/// each group that the spec outputs, its record identifier and event time,
/// and the three metadata columns deduplication and deletes need.
///
/// The cache directory is opened (and created) on first use, so that a
/// handle that never builds a dataset leaves no directory behind.
#[derive(Debug)]
pub struct CachedEngine {
    registry: Arc<dyn Registry>,
    dir: PathBuf,
    cache_options: CacheOptions,
    cache: tokio::sync::OnceCell<Cache>,
    s3: aws_sdk_s3::Client,
    options: EngineOptions,
    projected: bool,
}

/// What an engine run holds while its result streams.
#[derive(Debug)]
pub enum CacheHold {
    /// A synced prefix, held against eviction.
    Synced(CachedPrefix),
    /// Projected copies.
    Projected(ProjectedPrefix),
}

impl CacheHold {
    /// The local directory the run reads.
    pub fn path(&self) -> &std::path::Path {
        match self {
            CacheHold::Synced(p) => p.path(),
            CacheHold::Projected(p) => p.path(),
        }
    }

    /// Each local file with its object: `(path, s3 URI, object size, ETag)`.
    fn objects(&self) -> Vec<(PathBuf, String, u64, String)> {
        let uri = match self {
            CacheHold::Synced(p) => p.uri(),
            CacheHold::Projected(p) => p.uri(),
        };
        let bucket = super::S3Prefix::parse(uri)
            .map(|p| p.bucket().to_owned())
            .unwrap_or_default();
        match self {
            CacheHold::Synced(p) => p
                .files()
                .iter()
                .map(|f| {
                    (
                        f.path.clone(),
                        format!("s3://{bucket}/{}", f.key),
                        f.size,
                        f.etag.clone(),
                    )
                })
                .collect(),
            CacheHold::Projected(p) => p
                .files()
                .iter()
                .map(|f| {
                    (
                        f.path.clone(),
                        format!("s3://{bucket}/{}", f.key),
                        f.object_size,
                        f.etag.clone(),
                    )
                })
                .collect(),
        }
    }
}

impl CachedEngine {
    /// The engine syncing into the cache directory `dir` with `s3`,
    /// describing groups with `registry`.
    pub fn new(
        registry: Arc<dyn Registry>,
        dir: impl Into<PathBuf>,
        cache_options: CacheOptions,
        s3: aws_sdk_s3::Client,
    ) -> Self {
        CachedEngine {
            registry,
            dir: dir.into(),
            cache_options,
            cache: tokio::sync::OnceCell::new(),
            s3,
            options: EngineOptions::default(),
            projected: false,
        }
    }

    /// With `true`, reads only the column chunks each dataset needs,
    /// straight from S3, keeping them in the cache ([`Cache::sync_projected`]),
    /// instead of syncing whole objects. Worth it when a job reads a few
    /// columns of wide groups, above all on a fresh machine; whole syncs
    /// check every object's checksum, projected reads cannot.
    pub fn projected(mut self, projected: bool) -> Self {
        self.projected = projected;
        self
    }

    /// Runs the embedded engine with `options`.
    pub fn with_options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    /// The cache it syncs into, opened (and created) on first use.
    pub async fn cache(&self) -> Result<&Cache> {
        Ok(self
            .cache
            .get_or_try_init(|| async { Cache::open(&self.dir, self.cache_options.clone()) })
            .await
            .map_err(Box::new)?)
    }

    /// Brings the cache's copy of the group `name`'s offline data up to
    /// date (see [`Cache::sync`]).
    pub async fn sync(&self, name: &str, options: &SyncOptions) -> Result<SyncReport> {
        let (_, uri) = self.offline_uri(name).await?;
        Ok(self
            .cache()
            .await?
            .sync(&self.s3, &uri, options)
            .await
            .map_err(Box::new)?)
    }

    /// The group `name` as defined now, and the S3 prefix of its offline data.
    async fn offline_uri(&self, name: &str) -> Result<(fs_schema::FeatureGroup, String)> {
        let desc = self.registry.describe_feature_group(name).await?;
        let uri = desc
            .resolved_output_s3_uri()
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::InvalidDataset(format!(
                    "feature group `{name}` has no offline store, so it has no datasets"
                ))
            })?;
        Ok((desc.spec, uri))
    }

    /// Syncs every group `spec` reads and returns the embedded engine over
    /// the cached copies, with the holds that keep eviction away.
    pub async fn engine_for(&self, spec: &DatasetSpec) -> Result<(LocalEngine, Vec<CacheHold>)> {
        let cache = self.cache().await?;
        let base = spec.base_group().map(|g| g.feature_group_name.as_str());
        let mut engine = LocalEngine::with_options(self.options.clone());
        let mut holds = Vec::new();
        for name in spec.group_names() {
            let (group, uri) = self.offline_uri(name).await?;
            let range: (Option<EventTime>, Option<EventTime>) = if base == Some(name) {
                (spec.event_time_from, spec.event_time_to)
            } else {
                (None, None)
            };
            let options = SyncOptions::new().event_time_range(range.0, range.1);
            let hold = if self.projected {
                let columns = spec.columns_read(name);
                let (_, projected) = cache
                    .sync_projected(&self.s3, &uri, &columns, &options)
                    .await
                    .map_err(Box::new)?;
                CacheHold::Projected(projected)
            } else {
                let (_, opened) = cache
                    .sync_and_open(&self.s3, &uri, &options)
                    .await
                    .map_err(Box::new)?;
                CacheHold::Synced(opened)
            };
            engine.register(OfflineTable::new(group, hold.path()));
            holds.push(hold);
        }
        Ok((engine, holds))
    }
}

#[async_trait::async_trait]
impl DatasetEngine for CachedEngine {
    async fn execute(&self, spec: &DatasetSpec) -> Result<BatchStream> {
        let (engine, holds) = self.engine_for(spec).await?;
        Ok(engine.execute(spec).await?.holding(holds))
    }

    async fn sql(&self, spec: &DatasetSpec) -> Result<String> {
        let (engine, _holds) = self.engine_for(spec).await?;
        engine.sql(spec).await
    }

    /// Syncs, then pins the embedded engine's files, each named by its S3
    /// object (`s3://bucket/key`, size and ETag) rather than by its local
    /// copy: a copy fetched again after an eviction is the same input.
    async fn pin(&self, spec: &DatasetSpec) -> Result<Option<Pinned>> {
        let (engine, holds) = self.engine_for(spec).await?;
        let mut pinned = engine.pin(spec)?;
        // Keyed as the inputs name files: by canonical path.
        let objects: HashMap<String, (String, u64, String)> = holds
            .iter()
            .flat_map(CacheHold::objects)
            .map(|(path, uri, size, etag)| {
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                (path.display().to_string(), (uri, size, etag))
            })
            .collect();
        for input in pinned.inputs_mut() {
            if let Some((uri, size, etag)) = objects.get(&input.location) {
                *input = Input::new(
                    input.role.clone(),
                    uri.clone(),
                    *size,
                    format!("etag:{etag}"),
                );
            }
        }
        Ok(Some(pinned.holding(holds)))
    }
}
