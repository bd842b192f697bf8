//! The `haiqiao` binary.

fn main() -> std::process::ExitCode {
    haiqiao_node::main_with(std::env::args_os())
}
