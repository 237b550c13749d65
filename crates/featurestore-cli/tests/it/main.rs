//! Integration tests of the `featurestore` binary: each test runs the
//! built binary (`CARGO_BIN_EXE_featurestore`) on temporary directories.
//!
//! - `demo`: the demo runs to its end;
//! - `workflow`: the five steps one command at a time, outputs checked;
//! - `commands`: the other commands and options (formats, definitions,
//!   evolution, deletion, failures files, resume, shards);
//! - `delete`: `delete-record`, soft and hard, online and offline;
//! - `bad_inputs`: a corpus of bad inputs, each refused with one line on
//!   stderr, a non-zero exit code, and the store left as it was;
//! - `help`: every command's help has examples;
//! - `default_features` (without `aws`): `--aws` in a build without it;
//! - `aws` (feature `aws`): `--aws` against `featurestore serve`;
//! - `role_hint` (feature `aws`): a role SageMaker cannot assume, refused
//!   by fs-server, and the CLI's trust-policy hint.

mod bad_inputs;
mod commands;
mod datasets;
mod delete;
mod demo;
mod help;
mod support;
mod workflow;

#[cfg(feature = "aws")]
mod aws;
#[cfg(not(feature = "aws"))]
mod default_features;
#[cfg(feature = "aws")]
mod role_hint;
