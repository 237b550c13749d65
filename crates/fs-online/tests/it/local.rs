//! The contract suite against [`LocalOnlineStore`] over a temporary embedded store.

use std::sync::Arc;

use async_trait::async_trait;
use fs_online::{LocalOnlineStore, OnlineStore};
use fs_schema::FeatureGroup;

use fs_online::contract::Fixture;

struct Local {
    _dir: tempfile::TempDir,
    store: Arc<fs_local::Store>,
}

impl Local {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(fs_local::Store::open(dir.path()).unwrap());
        Self { _dir: dir, store }
    }
}

#[async_trait]
impl Fixture for Local {
    fn store(&self) -> Arc<dyn OnlineStore> {
        Arc::new(LocalOnlineStore::new(self.store.clone()))
    }

    async fn create_group(&self, spec: FeatureGroup) {
        self.store.create_feature_group(spec).unwrap();
    }
}

fs_online::contract_suite!(fixture = Local::new());
