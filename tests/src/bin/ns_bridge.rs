//! ns-bridge: carries the fault harness's control-API calls into a network namespace.
//!
//! Usage: `ns-bridge <unix socket path> <tcp address>`, run inside the namespace (`ip netns
//! exec`). It accepts connections on the unix socket (a path in the file system, so the test
//! in the root namespace can reach it) and joins each to a new TCP connection to the address,
//! which is the node's control API on the namespace's own loopback. Nothing else leaves the
//! namespace. It runs until killed.

use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;
use std::thread;

use haiqiao_tests::pump;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(target)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: ns-bridge <unix socket path> <tcp address>");
        return ExitCode::from(2);
    };
    let _ = std::fs::remove_file(path);
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ns-bridge: bind {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    for conn in listener.incoming() {
        let Ok(unix) = conn else { continue };
        let target = target.clone();
        thread::spawn(move || join(unix, &target));
    }
    ExitCode::SUCCESS
}

/// Copies bytes both ways until either side closes. A refused connection (the node is down)
/// just closes the unix side: the caller sees the API as unreachable.
fn join(unix: UnixStream, target: &str) {
    let Ok(tcp) = TcpStream::connect(target) else {
        return;
    };
    let (Ok(unix2), Ok(tcp2)) = (unix.try_clone(), tcp.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || pump(unix2, tcp2));
    pump(tcp, unix);
    let _ = up.join();
}
