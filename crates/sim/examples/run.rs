//! Runs a scenario and prints the report: `cargo run --release -p haiqiao-sim --example run --
//! simulations/smoke.toml [seed] [out-dir]`. (`haiqiao sim run` is the supported command.)

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "simulations/smoke.toml".into());
    let seed = args.next().and_then(|s| s.parse().ok());
    let out = args.next().map(std::path::PathBuf::from);
    let start = std::time::Instant::now();
    let mut last = 0;
    let r = haiqiao_sim::run_scenario(
        std::path::Path::new(&path),
        seed,
        out.as_deref(),
        &mut |d, t| {
            let pct = d * 100 / t.max(1);
            if pct >= last + 5 {
                last = pct;
                eprintln!("{pct}% {:.1}s", start.elapsed().as_secs_f64());
            }
        },
    );
    match r {
        Ok(r) => println!("{}", r.to_json()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
