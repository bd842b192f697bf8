//! The `haiqiao` binary.

fn main() -> anyhow::Result<()> {
    haiqiao_node::main_with(std::env::args_os())
}
