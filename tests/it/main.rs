//! Workspace-level integration tests against the emulators `cargo xtask it`
//! starts as separate processes (their endpoints come in environment
//! variables). They are `#[ignore]`d so that a plain `cargo test` does not
//! need the emulators; `cargo xtask it` runs exactly the ignored tests.

mod emulators;
