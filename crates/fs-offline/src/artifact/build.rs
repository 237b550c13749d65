//! Building an artifact: one builder per id, atomic publication.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use super::read::Artifact;
use super::{
    ArtifactCompression, ArtifactInfo, ArtifactStore, BUILD_PREFIX, DATA, GcReport, INFO,
    fsync_dir, io, millis, unique,
};
use crate::engine::{BatchStream, Pinned};
use crate::error::{Error, Result};
use crate::output::{OutputFormat, write};
use crate::spec::DatasetSpec;

/// Runs blocking file-system work on tokio's blocking pool; a panic in it
/// is resumed in the caller.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl ArtifactStore {
    /// The artifact `id` of `spec` pinned as `pinned`: read from the store
    /// if it holds it, else built (by this call, or by another process
    /// building the same id, which this call waits for) and kept.
    pub(super) async fn get_or_build(
        &self,
        id: &str,
        spec: &DatasetSpec,
        pinned: Pinned,
    ) -> Result<Artifact> {
        if let Some(found) = self.get(id)? {
            return Ok(found);
        }
        let store = self.clone();
        let owned = id.to_owned();
        let lock = blocking(move || store.lock_blocking(&owned)).await?;
        // Another process may have built it while this one waited.
        if let Some(found) = self.get(id)? {
            return Ok(found);
        }
        let started = Instant::now();
        let staging = self.dir.join(format!("{BUILD_PREFIX}{id}-{}", unique()));
        let built = self.build_in(&staging, id, spec, pinned, started).await;
        let published = built.and_then(|info| {
            self.publish(&staging, id)?;
            Ok(info)
        });
        if let Err(e) = published {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        drop(lock);
        let artifact = Artifact::open(&self.dir.join(id), true)?.ok_or_else(|| {
            Error::InvalidDataset(format!("the dataset artifact {id} vanished once built"))
        })?;
        let mut report = GcReport::default();
        self.evict(Some(id), &mut report)?;
        Ok(artifact)
    }

    /// Writes the rows and `info.json` into `staging`, each fsynced.
    async fn build_in(
        &self,
        staging: &Path,
        id: &str,
        spec: &DatasetSpec,
        pinned: Pinned,
        started: Instant,
    ) -> Result<ArtifactInfo> {
        fs::create_dir(staging).map_err(io("creating directory", staging))?;
        let inputs = pinned.inputs().to_vec();
        let stream: BatchStream = pinned.execute(spec).await?;
        let columns = stream
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let compression = self.options().compression;
        let format = match compression {
            ArtifactCompression::None => OutputFormat::ArrowIpc,
            ArtifactCompression::Lz4 => OutputFormat::ArrowIpcLz4,
        };
        let report = write(stream, staging.join(DATA), format).await?;
        let info = ArtifactInfo {
            id: id.to_owned(),
            created_at_ms: millis(SystemTime::now()),
            build_seconds: started.elapsed().as_secs_f64(),
            rows: report.rows,
            batches: report.batches,
            bytes: report.bytes,
            columns,
            spec: crate::inputs::normalized_spec(spec),
            inputs,
            compression,
            last_used_ms: 0,
        };
        let text = serde_json::to_vec_pretty(&info).map_err(|e| Error::Output {
            path: staging.join(INFO),
            source: Box::new(e),
        })?;
        write_synced(&staging.join(INFO), &text)?;
        tracing::info!(
            id,
            rows = info.rows,
            bytes = info.bytes,
            seconds = info.build_seconds,
            "built a dataset artifact"
        );
        Ok(info)
    }

    /// Renames the staging directory to the artifact's name, durably. A
    /// damaged directory of the same name (a file of it removed by hand,
    /// which is why this id was built again) is removed first; the caller
    /// holds the id's lock.
    fn publish(&self, staging: &Path, id: &str) -> Result<()> {
        fsync_dir(staging)?;
        let target: PathBuf = self.dir.join(id);
        if target.exists() {
            tracing::warn!(id, dir = %target.display(), "replacing a damaged dataset artifact");
            self.remove_locked(id)?;
        }
        fs::rename(staging, &target).map_err(io("publishing", &target))?;
        fsync_dir(&self.dir)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = File::create(path).map_err(io("creating", path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io("writing", path))
}
