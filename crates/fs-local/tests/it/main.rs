//! Integration tests of the embedded store.

mod crash;
mod offline;
mod registry;
mod semantics;
mod support;
