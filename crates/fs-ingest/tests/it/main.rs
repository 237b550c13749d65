//! Integration tests of fs-ingest (one test binary). Every ingest run by
//! these tests checks the report's invariant: rows read == written + failed
//! (`support::run`).

mod awkward_inputs;
mod aws;
mod bad_inputs;
#[cfg(feature = "aws")]
mod batch_write;
mod contract;
mod formats;
mod options;
#[cfg(feature = "aws")]
mod post_commit;
mod resume;
mod sharding;
mod sinks;
mod stream;
mod support;
