//! Integration tests of fs-offline.

mod artifact;
mod asof;
#[cfg(feature = "athena")]
mod athena;
#[cfg(feature = "s3")]
mod cache;
mod contract;
mod local;
mod native;
mod output;
mod passes;
#[cfg(feature = "s3")]
mod projected;
mod random;
mod reference;
mod scan;
mod support;
