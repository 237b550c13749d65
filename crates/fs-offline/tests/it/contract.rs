//! The `DatasetEngine` contract suite, unchanged, against each engine:
//! `LocalEngine` over registered directories, `RegistryEngine` over the
//! embedded store, and `CachedEngine` over SageMaker's API (fs-server,
//! through the real SDK) and moto's S3 (feature `athena`, which brings the
//! SDK wiring; run by `cargo xtask it`).

use std::sync::Arc;

use async_trait::async_trait;
use fs_offline::DatasetEngine;
use fs_offline::contract::{Fixture, OfflineFile};
use fs_schema::FeatureGroup;

/// Writes `files` under `dir`.
fn write_files(dir: &std::path::Path, files: &[OfflineFile]) {
    for (path, bytes) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

mod local_engine {
    use super::*;
    use fs_offline::local::LocalEngine;
    use fs_offline::table::OfflineTable;

    /// Each group's files in a directory of its own, registered as a table.
    pub(crate) struct Local {
        dir: tempfile::TempDir,
    }

    impl Local {
        pub(crate) fn new() -> Self {
            Local {
                dir: tempfile::tempdir().unwrap(),
            }
        }
    }

    #[async_trait]
    impl Fixture for Local {
        async fn engine(
            &self,
            groups: Vec<(FeatureGroup, Vec<OfflineFile>)>,
        ) -> Arc<dyn DatasetEngine> {
            let mut engine = LocalEngine::new();
            for (group, files) in groups {
                let dir = self.dir.path().join(&group.feature_group_name);
                write_files(&dir, &files);
                engine.register(OfflineTable::new(group, dir));
            }
            Arc::new(engine)
        }
    }

    fs_offline::dataset_contract_suite!(fixture = Local::new());
}

mod embedded_store {
    use super::*;
    use fs_offline::local::RegistryEngine;

    /// Groups created in an embedded store, their files in the offline
    /// directories it gives them.
    pub(crate) struct Embedded {
        _dir: tempfile::TempDir,
        store: Arc<fs_local::Store>,
    }

    impl Embedded {
        pub(crate) fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Arc::new(fs_local::Store::open(dir.path()).unwrap());
            Embedded { _dir: dir, store }
        }
    }

    #[async_trait]
    impl Fixture for Embedded {
        async fn engine(
            &self,
            groups: Vec<(FeatureGroup, Vec<OfflineFile>)>,
        ) -> Arc<dyn DatasetEngine> {
            for (group, files) in groups {
                let desc = self.store.create_feature_group(group).unwrap();
                write_files(&desc.offline_data_dir.expect("an offline store"), &files);
            }
            Arc::new(RegistryEngine::new(self.store.clone()))
        }
    }

    fs_offline::dataset_contract_suite!(fixture = Embedded::new());
}

#[cfg(feature = "athena")]
mod cached_engine {
    use super::*;
    use crate::cache::support;
    use fs_offline::sagemaker::SageMakerEngines;
    use fs_schema::aws::SageMakerRegistry;
    use fs_schema::registry::Registry;
    use std::time::Duration;

    /// Groups created through SageMaker's API (fs-server), their files
    /// uploaded to moto's S3 where the service says the offline store is;
    /// the engine syncs them into a cache and reads it.
    pub(crate) struct Cached {
        dir: tempfile::TempDir,
        server: fs_server::Server,
        registry: Arc<dyn Registry>,
        s3: aws_sdk_s3::Client,
        bucket: String,
        projected: bool,
    }

    impl Cached {
        /// Whole objects synced into the cache.
        pub(crate) async fn new() -> Self {
            Self::with(false).await
        }

        /// Only the column chunks each dataset reads (`--engine projected`).
        pub(crate) async fn projected() -> Self {
            Self::with(true).await
        }

        async fn with(projected: bool) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Arc::new(fs_local::Store::open(dir.path().join("server")).unwrap());
            let server = fs_server::Server::start(store, fs_server::ServerOptions::default())
                .await
                .unwrap();
            let config = fs_server::client_config(&server.endpoint_url(), 3);
            let registry = Arc::new(
                SageMakerRegistry::new(&config)
                    .with_waits(Duration::from_secs(5), Duration::from_millis(10)),
            );
            let s3 = support::client();
            let bucket = support::bucket(&s3, "contract").await;
            Cached {
                dir,
                server,
                registry,
                s3,
                bucket,
                projected,
            }
        }
    }

    #[async_trait]
    impl Fixture for Cached {
        async fn engine(
            &self,
            groups: Vec<(FeatureGroup, Vec<OfflineFile>)>,
        ) -> Arc<dyn DatasetEngine> {
            for (mut group, files) in groups {
                let offline = group
                    .offline_store_config
                    .as_mut()
                    .expect("an offline store");
                offline.s3_storage_config.s3_uri = format!("s3://{}/offline", self.bucket);
                let desc = self.registry.create_feature_group(group).await.unwrap();
                let location = desc.resolved_output_s3_uri().expect("a resolved URI");
                let prefix = location
                    .strip_prefix(&format!("s3://{}/", self.bucket))
                    .expect("the bucket the group names");
                for (path, bytes) in files {
                    let key = format!("{}/{path}", prefix.trim_end_matches('/'));
                    support::put(&self.s3, &self.bucket, &key, bytes).await;
                }
            }
            let config = fs_server::client_config(&self.server.endpoint_url(), 3);
            let (datasets, _) = SageMakerEngines::new(self.dir.path().join("cache"))
                .s3_endpoint_url(support::endpoint())
                .projected(self.projected)
                .build(&config, self.registry.clone());
            datasets
        }
    }

    fs_offline::dataset_contract_suite!(
        #[ignore = "needs moto's S3; run by cargo xtask it"]
        fixture = Cached::new().await
    );

    /// The same contract with projected reads.
    mod projected {
        use super::Cached;

        fs_offline::dataset_contract_suite!(
            #[ignore = "needs moto's S3; run by cargo xtask it"]
            fixture = Cached::projected().await
        );
    }
}
