//! Integration tests of fs-online: the `OnlineStore` contract suite, run
//! against every implementation.

#[cfg(feature = "aws-describe")]
mod aws;
mod contract;
mod local;
