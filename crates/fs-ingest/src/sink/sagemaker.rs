//! The sink of an ingest into SageMaker Feature Store (or a compatible
//! endpoint such as fs-server), by write API.

use std::sync::Arc;

use aws_sdk_sagemakerfeaturestoreruntime as runtime;
use fs_online::AwsOnlineStore;
use fs_schema::FeatureGroup;

use super::{BatchWriteSink, OnlineStoreSink, Sink, WriteApi};

/// The sink of an ingest into `group` on SageMaker, through the
/// configuration the caller built (region, credentials, `endpoint_url`):
/// PutRecord requests over `fs_online::AwsOnlineStore` (the SDK's retry
/// policy) or BatchWriteRecord requests with the SDK's retries off (the
/// sink retries entries itself, and counts them), `concurrency` requests
/// in flight.
pub fn sagemaker_sink(
    config: &aws_types::SdkConfig,
    group: &FeatureGroup,
    concurrency: usize,
    api: WriteApi,
) -> Arc<dyn Sink> {
    match api {
        WriteApi::PutRecord => {
            let online = AwsOnlineStore::new(config).with_group(group.clone());
            Arc::new(OnlineStoreSink::new(Arc::new(online)).with_concurrency(concurrency))
        }
        WriteApi::BatchWriteRecord => {
            let config = runtime::config::Builder::from(config)
                .retry_config(runtime::config::retry::RetryConfig::disabled())
                .build();
            Arc::new(
                BatchWriteSink::new(runtime::Client::from_conf(config))
                    .with_concurrency(concurrency),
            )
        }
    }
}
