//! Integration tests of the embedded store.

mod batch;
mod crash;
mod group_commit;
mod offline;
mod registry;
mod semantics;
mod support;
