//! The Node interop peers of `tests/interop/node` (`client.js`, `server.js`, built on
//! lwm2m-node-lib), located and checked to be installed (`scripts/test` installs them).
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/interop/node`, checked to hold installed dependencies.
pub fn node_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/node");
    let dir = dir.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let probe = Command::new("node").arg("--version").output();
    assert!(
        probe.as_ref().is_ok_and(|out| out.status.success()),
        "`node` is needed for the lwm2m-node-lib interop tests ({probe:?}); scripts/test installs it"
    );
    assert!(
        dir.join("node_modules/lwm2m-node-lib/package.json").is_file(),
        "lwm2m-node-lib is not installed in {}: run scripts/test or `npm ci --prefix tests/interop/node`",
        dir.display()
    );
    dir
}

/// `node <script>` run from `tests/interop/node`.
pub fn node(script: &str) -> Command {
    let dir = node_dir();
    let mut command = Command::new("node");
    command.current_dir(&dir).arg(dir.join(script));
    command
}
