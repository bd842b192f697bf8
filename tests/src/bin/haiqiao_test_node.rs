//! The `haiqiao` command, built inside the tests package so that the integration tests can
//! run it as a separate process (`CARGO_BIN_EXE_haiqiao-test-node`).

fn main() -> std::process::ExitCode {
    haiqiao_node::main_with(std::env::args_os())
}
