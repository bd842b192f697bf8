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

pub(crate) fn cli(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_haiqiao-test-node"))
        .args(args)
        .output()
        .expect("run haiqiao");
    assert!(
        out.status.success(),
        "haiqiao {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
