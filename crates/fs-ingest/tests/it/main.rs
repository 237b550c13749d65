//! Integration tests of fs-ingest (one test binary). Every ingest run by
//! these tests checks the report's invariant: rows read == written + failed
//! (`support::run`). The sink contract suite is the library's
//! (`fs_ingest::contract`, feature `test-util`); `sinks.rs` and
//! `batch_write.rs` run it against every sink.

mod awkward_inputs;
mod aws;
mod bad_inputs;
#[cfg(feature = "aws")]
mod batch_write;
mod formats;
mod options;
#[cfg(feature = "aws")]
mod post_commit;
mod resume;
mod sharding;
mod sinks;
mod stream;
mod support;
