//! The `haiqiao` binary: parse, load config, build, run, shut down.

mod bench;
mod cli;
mod config;
mod demo;
mod keys;

use anyhow::Context;
use clap::Parser;
use cli::{BenchCommand, Cli, Command};
use haiqiao_proto::Role;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Init { role, name, dir } => init(&role, &name, &dir),
        Command::Id { config } => {
            let cfg = config::NodeConfig::load(&config)?;
            let key = keys::load(&cfg.node.key_file)?;
            println!("{}  {}  {}", key.public(), cfg.node.role, cfg.node.name);
            Ok(())
        }
        Command::Demo { once } => demo::run(once),
        Command::Bench { what } => match what {
            BenchCommand::Record { json } => {
                let v = bench::record_sizes()?;
                print_json_or(json, &v, || {
                    for (k, n) in v["sizes"].as_object().into_iter().flatten() {
                        println!("{k:>20}  {n:>5} bytes");
                    }
                })
            }
            BenchCommand::Ingest {
                json,
                records,
                batch,
                single_records,
                reps,
            } => {
                let v = bench::ingest(bench::IngestOpts {
                    records,
                    batch,
                    single_records,
                    reps,
                })?;
                print_json_or(json, &v, || {
                    for (k, n) in v.as_object().into_iter().flatten() {
                        println!("{k:>24}  {n}");
                    }
                })
            }
            BenchCommand::Sync { json, n, d, reps } => {
                let v = bench::sync(&bench::SyncOpts { n, ds: d, reps })?;
                print_json_or(json, &v, || {
                    println!("in sync: {}", v["in_sync"]);
                    for m in v["missing"].as_array().into_iter().flatten() {
                        println!("missing: {m}");
                    }
                })
            }
        },
    }
}

fn print_json_or(json: bool, v: &serde_json::Value, human: impl FnOnce()) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(v)?);
    } else {
        human();
    }
    Ok(())
}

fn init(role: &str, name: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let role = match Role::from_name(role) {
        Some(r @ (Role::Vessel | Role::Mediator | Role::Shore)) => r,
        _ => anyhow::bail!("unknown role {role:?}: expected vessel, mediator or shore"),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cfg_path = dir.join("haiqiao.toml");
    anyhow::ensure!(!cfg_path.exists(), "{} exists already", cfg_path.display());
    let key = keys::create(&dir.join("node.key"))?;
    std::fs::write(&cfg_path, config::template(role, name))?;
    // Check what we wrote loads.
    config::NodeConfig::load(&cfg_path)?;
    println!(
        "created {} for {} {}",
        cfg_path.display(),
        role.name(),
        name
    );
    println!("node id {}", key.public());
    Ok(())
}
