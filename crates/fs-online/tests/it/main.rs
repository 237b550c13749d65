//! Integration tests of fs-online: the `OnlineStore` contract suite, run
//! against every implementation.

mod contract;
mod local;
