//! The local-mesh harness (`haiqiao_node::local`), pointed at the `haiqiao` binary built in
//! this package.

use std::path::Path;

pub(crate) use haiqiao_node::local::Proc;

/// Creates a node's folder with the binary under test.
pub(crate) fn init(base: &Path, name: &str, role: &str, ip: &str) -> Proc {
    Proc::init(
        Path::new(env!("CARGO_BIN_EXE_haiqiao-test-node")),
        base,
        name,
        role,
        ip,
    )
}
