//! Integration tests of fs-online: the `OnlineStore` contract suite, run
//! against every implementation.

mod arrow_reads;
#[cfg(feature = "aws-describe")]
mod aws;
mod local;
