//! Integration tests of the embedded store.

mod batch;
mod crash;
mod group_commit;
mod offline;
mod readers;
mod registry;
mod semantics;
mod support;
