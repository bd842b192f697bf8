//! haiqiao-node: the `haiqiao` command — CLI, configuration and wiring of store, engine,
//! network and control API. The binary's `main` only calls [`main_with`]; the library form
//! lets the integration tests build the same binary.

mod api;
mod bench;
mod bench_all;
mod bench_chain;
mod bench_flood;
mod bench_seal;
mod bench_store;
mod cli;
mod client;
mod clock;
mod command;
mod commands;
mod config;
mod daemon;
mod dashboard;
mod demo;
mod error;
mod feed;
mod ids;
mod json;
mod keys;
pub mod local;
mod logs;
mod marine;
mod shore;
mod specs;
mod workflows;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::{BenchCommand, Cli, Command, SendCommand, SimCommand, Target};
use client::{api, print_json_or};
use haiqiao_proto::Role;
use serde_json::json;

/// Parses the arguments and runs the command. A refused argument prints clap's usage and
/// exits 2; any other error prints one line, `error: <what> : <why>` (the `Display` chain,
/// never a backtrace, whatever `RUST_BACKTRACE` says), and exits 1. `haiqiao demo` exits 130
/// when interrupted during its scripted day.
pub fn main_with(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = Cli::parse_from(args);
    match command(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn command(command: Command) -> anyhow::Result<ExitCode> {
    let done = match command {
        Command::Demo { once } => return demo::run(once),
        Command::Init { role, name, dir } => init(&role, &name, &dir),
        Command::Id { config } => id(&config),
        Command::Run { config } => run(&config),
        Command::Send {
            target,
            to,
            ttl_min,
            what,
        } => send(&target, to, ttl_min, what),
        Command::Inbox {
            target,
            after,
            kind,
            limit,
        } => {
            let mut q = format!("/api/v1/inbox?after={after}&limit={limit}");
            if let Some(k) = kind {
                q.push_str(&format!("&kind={k}"));
            }
            let v = api(&target)?.get(&q)?;
            print_json_or(target.json, &v, || {
                for r in v["records"].as_array().into_iter().flatten() {
                    println!("#{:<5} {}", r["index"], json::record_line(r));
                }
            })
        }
        Command::Peers { target } => {
            let v = api(&target)?.get("/api/v1/peers")?;
            print_json_or(target.json, &v, || {
                for p in v["peers"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {}",
                        p["id"].as_str().unwrap_or(""),
                        if p["idle"] == true {
                            "in sync"
                        } else {
                            "syncing"
                        }
                    );
                }
            })
        }
        Command::Status { target } => {
            let v = api(&target)?.get("/api/v1/status")?;
            print_json_or(target.json, &v, || {
                println!(
                    "{} {} {}",
                    v["role"].as_str().unwrap_or(""),
                    v["name"].as_str().unwrap_or(""),
                    v["id"].as_str().unwrap_or("")
                );
                println!(
                    "peers {}  records held {}  store {} bytes",
                    v["peers"], v["held"], v["store"]["bytes"]
                );
                let f = &v["fleet"];
                println!(
                    "open distress {}  buddy alarms {}  cases {}  trust {}",
                    f["open_distress"],
                    f["buddy_alarms"].as_array().map_or(0, Vec::len),
                    f["cases"],
                    if f["trust_enforced"] == true {
                        "enforced"
                    } else {
                        "off (no trust anchor)"
                    }
                );
                println!("counters {}", v["stats"]);
            })
        }
        Command::Pair {
            target,
            partner,
            leave,
        } => commands::pair(&target, partner, leave),
        Command::PairAlert {
            target,
            alert,
            partner,
            lat,
            lon,
            text,
        } => commands::pair_alert(&target, alert, partner, lat, lon, text),
        Command::Distress { target, what } => commands::distress(&target, what),
        Command::Duty {
            target,
            area,
            category,
            hours,
            daily,
            off,
        } => commands::duty(&target, area, category, hours, daily, off),
        Command::Case { target, what } => commands::case(&target, what),
        Command::Trust { target, key } => commands::trust(&target, &key),
        Command::Timeline {
            target,
            after,
            limit,
        } => commands::timeline(&target, after, limit),
        Command::Voyage {
            target,
            says,
            eta_min,
            port,
        } => commands::voyage(&target, says, eta_min, port),
        Command::Authority { what } => commands::authority(what),
        Command::Bench { what } => bench_cmd(what),
        Command::Sim {
            what:
                SimCommand::Run {
                    scenario,
                    seed,
                    out,
                    json,
                },
        } => sim_run(&scenario, seed, out.as_deref(), json),
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// `haiqiao id`: the node id, the libp2p peer id, and the multiaddrs other nodes put in their
/// `[net] static_peers`.
fn id(config: &std::path::Path) -> anyhow::Result<()> {
    let cfg = config::NodeConfig::load(config)?;
    let key = keys::load(&cfg.node.key_file)?;
    let peer = haiqiao_net::peer_id(&key.public())?;
    println!("node id  {}", key.public());
    println!("peer id  {peer}");
    println!("role     {} {}", cfg.node.role, cfg.node.name);
    for a in config::dial_addrs(&cfg.net.listen) {
        println!("address  {a}/p2p/{peer}");
    }
    if cfg
        .net
        .listen
        .iter()
        .any(|l| l.starts_with("/ip4/0.0.0.0/") || l.starts_with("/ip6/::/"))
    {
        println!(
            "(the node listens on every interface: from another machine, put that machine's \
             address in place of 127.0.0.1)"
        );
    }
    Ok(())
}

fn dest_spec(s: &str) -> anyhow::Result<json::DestSpec> {
    use json::DestSpec;
    let (k, v) = s.split_once(':').unwrap_or((s, ""));
    Ok(match k {
        "everyone" => DestSpec::Everyone,
        "shore" => DestSpec::Shore,
        "node" => DestSpec::Node(v.to_owned()),
        "pair" => {
            let (a, b) = v.split_once(',').context("pair:<id>,<id>")?;
            DestSpec::Pair(a.to_owned(), b.to_owned())
        }
        "mediators" => DestSpec::Mediators(v.parse().context("mediators:<area number>")?),
        "group" => DestSpec::Group(v.parse().context("group:<number>")?),
        _ => anyhow::bail!(
            "unknown destination {s:?}: everyone, shore, node:<id>, pair:<id>,<id>, mediators:<n>, group:<n>"
        ),
    })
}

fn send(
    target: &Target,
    to: Option<String>,
    ttl_min: Option<u32>,
    what: SendCommand,
) -> anyhow::Result<()> {
    use json::BodySpec;
    let body = match what {
        SendCommand::Position {
            lat,
            lon,
            sog,
            cog,
            heading,
            nav_status,
        } => BodySpec::Position {
            lat,
            lon,
            sog_kn: sog,
            cog_deg: cog,
            heading_deg: heading,
            nav_status,
        },
        SendCommand::PairAlert {
            alert,
            lat,
            lon,
            text,
        } => BodySpec::PairAlert {
            alert,
            lat,
            lon,
            text,
        },
        SendCommand::Distress(d) => BodySpec::Distress {
            nature: d.nature,
            lat: d.lat,
            lon: d.lon,
            persons: d.persons,
            text: d.text,
        },
        SendCommand::DistressUpdate {
            distress,
            status,
            eta,
            text,
        } => BodySpec::DistressUpdate {
            distress,
            status,
            eta_min: eta,
            text,
        },
        SendCommand::Dispute(d) => BodySpec::DisputeReport {
            parties: d.parties(),
            category: d.category,
            lat: d.lat,
            lon: d.lon,
            description: d.description,
            evidence: d.evidence,
        },
        SendCommand::CaseUpdate { case, status, text } => {
            BodySpec::CaseUpdate { case, status, text }
        }
        SendCommand::Agreement { case, text } => BodySpec::AgreementSignature {
            case,
            agreement_text: text,
        },
        SendCommand::Text { text, safety } => BodySpec::Text { text, safety },
    };
    let req = json::SubmitRequest {
        dest: to.as_deref().map(dest_spec).transpose()?,
        ttl_min,
        body,
    };
    let v = api(target)?.post("/api/v1/records", &serde_json::to_value(&req)?)?;
    print_json_or(target.json, &v, || {
        println!("sent {}", json::record_line(&v));
        println!("id {}", v["id"].as_str().unwrap_or(""));
    })
}

fn run(config: &std::path::Path) -> anyhow::Result<()> {
    let cfg = config::NodeConfig::load(config)?;
    let key = keys::load(&cfg.node.key_file)?;
    let spec = daemon::DaemonSpec {
        role: cfg.role()?,
        name: cfg.node.name.clone(),
        partner: cfg
            .node
            .partner
            .as_deref()
            .map(json::parse_hint)
            .transpose()?,
        groups: cfg.node.groups.clone(),
        data_dir: cfg.node.data_dir.clone(),
        store: cfg.store.clone(),
        mesh: cfg.mesh.clone(),
        fleet: cfg.fleet.clone(),
        net: cfg.net.clone(),
        api: cfg.api.clone(),
        marine: marine::MarineSpec {
            gps: cfg.gps.clone(),
            plotter: cfg.plotter.clone(),
            signalk: cfg.signalk.clone(),
        },
        shore: cfg.shore_spec(),
        mediators: shore::ashore::Ashore::load(&cfg.mediator, &cfg.node.data_dir)?,
        key,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(daemon::run(spec))
}

fn bench_cmd(what: BenchCommand) -> anyhow::Result<()> {
    match what {
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
        BenchCommand::Marine { json, samples } => {
            let v = marine::bench::run(samples)?;
            print_json_or(json, &v, || println!("{v:#}"))
        }
        BenchCommand::Chain {
            json,
            samples,
            relay_records,
            reps,
            transports,
        } => {
            let v = bench_chain::chain(&bench_chain::ChainOpts {
                samples,
                relay_records,
                reps,
                transports,
            })?;
            print_json_or(json, &v, || println!("{v:#}"))
        }
        BenchCommand::Flood {
            json,
            nodes,
            records,
            distress,
        } => {
            let v = bench_flood::flood(bench_flood::FloodOpts {
                nodes,
                records,
                distress,
            })?;
            print_json_or(json, &v, || println!("{v:#}"))
        }
        BenchCommand::Fleet {
            json,
            vessels,
            positions,
            cases,
            reps,
        } => {
            let v = bench::fleet(bench::FleetOpts {
                vessels,
                positions,
                cases,
                reps,
            })?;
            print_json_or(json, &v, || {
                for (k, n) in v.as_object().into_iter().flatten() {
                    println!("{k:>24}  {n}");
                }
            })
        }
        BenchCommand::Seal { json, ops, reps } => {
            let v = bench_seal::seal(bench_seal::SealOpts { ops, reps })?;
            print_json_or(json, &v, || println!("{v:#}"))
        }
        BenchCommand::Views {
            json,
            records,
            reps,
            store,
        } => {
            let v = bench::views(&bench::ViewsOpts {
                records,
                reps,
                store,
            })?;
            print_json_or(json, &v, || println!("{v:#}"))
        }
        BenchCommand::Store {
            json,
            records,
            reps,
            store,
        } => {
            let v = bench_store::store(&bench_store::StoreOpts {
                records,
                reps,
                store,
            })?;
            print_json_or(json, &v, || println!("{v:#}"))
        }
        BenchCommand::Shore {
            json,
            records,
            reps,
            mqtt,
            archive,
            catchup,
        } => {
            let v = shore::bench::run(&shore::bench::ShoreBenchOpts {
                records,
                reps,
                mqtt,
                archive,
                catchup,
            })?;
            print_json_or(json, &v, || println!("{v:#}"))
        }
        BenchCommand::All { json, only } => {
            let v = bench_all::all(&only)?;
            print_json_or(json, &v, || {
                for (k, n) in v["headline"].as_object().into_iter().flatten() {
                    println!("{k:>34}  {n}");
                }
            })
        }
        BenchCommand::Compare { old, new } => {
            print!("{}", bench_all::compare_files(&old, &new)?);
            Ok(())
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
    }
}

fn sim_run(
    scenario: &std::path::Path,
    seed: Option<u64>,
    out: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(1)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {wide_bar} {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = haiqiao_sim::run_scenario(scenario, seed, out, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("running {}", scenario.display()))?;
    bar.finish_and_clear();
    let v = serde_json::to_value(&report)?;
    print_json_or(json, &v, || {
        for (router, classes) in v["routers"].as_object().into_iter().flatten() {
            for (class, m) in classes.as_object().into_iter().flatten() {
                println!(
                    "{router:>15} {class:>12}  delivery {:>6}  vs oracle {:>6}  latency/oracle {:>6}  overhead {:>8}",
                    m["delivery_ratio"],
                    m["delivery_vs_oracle"],
                    m["latency_median_vs_oracle"],
                    m["overhead_ratio"]
                );
            }
        }
    })
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
    config::NodeConfig::load(&cfg_path)?;
    println!(
        "created {} for {} {}",
        cfg_path.display(),
        role.name(),
        name
    );
    println!("node id {}", key.public());
    let _ = json!(null);
    Ok(())
}
