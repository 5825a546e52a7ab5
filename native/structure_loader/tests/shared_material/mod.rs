//! Where the shared test material lives: `shared/` beside the repository (as CI lays it
//! out), or wherever the environment says.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `shared/CORPUS`: real pg_dump files (`STRUCTURE_LOADER_CORPUS` overrides).
pub fn corpus_dir() -> PathBuf {
    shared_dir("STRUCTURE_LOADER_CORPUS", "corpus")
}

/// `shared/psql-golden`: what psql 15.18 sent for small cases and three dumps
/// (`STRUCTURE_LOADER_PSQL_GOLDEN` overrides).
pub fn psql_golden_dir() -> PathBuf {
    shared_dir("STRUCTURE_LOADER_PSQL_GOLDEN", "psql-golden")
}

fn shared_dir(env_var: &str, name: &str) -> PathBuf {
    let dir = std::env::var_os(env_var).map_or_else(
        || workspace_root().join("../shared").join(name),
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "test material missing: {} is not a directory (set {env_var} to where it is)",
        dir.display()
    );
    dir
}
