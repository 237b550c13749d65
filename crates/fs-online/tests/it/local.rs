//! The contract suite against [`LocalOnlineStore`] over a temporary embedded store.

use std::sync::Arc;

use async_trait::async_trait;
use fs_online::{LocalOnlineStore, OnlineStore};
use fs_schema::FeatureGroup;

use crate::contract::{self, Fixture};

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

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                contract::$name(&Local::new()).await;
            }
        )*
    };
}

contract_tests!(
    put_then_get_returns_the_record,
    get_returns_typed_arrow_batches,
    missing_records_are_none,
    feature_selection_returns_only_those_features,
    unknown_features_are_validation_errors,
    invalid_records_are_refused_and_not_written,
    unknown_groups_are_not_found,
    the_latest_event_time_wins_online,
    an_equal_event_time_overwrites,
    soft_delete_hides_the_record_and_blocks_older_puts,
    a_soft_delete_older_than_the_record_leaves_it,
    hard_delete_removes_the_record_entirely,
    a_hard_delete_not_newer_than_the_record_is_refused,
    expired_records_are_not_returned,
    offline_only_writes_leave_the_online_store_alone,
    writing_to_a_store_the_group_lacks_is_refused,
    batch_get_spans_groups_keeps_request_order_and_reports_per_identifier,
    typed_batch_get_returns_rows_in_request_order,
    put_batch_writes_every_row,
    list_records_pages_through_every_identifier,
);
