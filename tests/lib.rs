//! Workspace-level integration tests live in `it/` (run by `cargo xtask it`,
//! which starts the emulators they need); shared data lives in `data/`.
