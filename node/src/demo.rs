//! `haiqiao demo`: a local mesh on loopback, on embedded defaults, playing a scripted day.
//!
//! Five `haiqiao` nodes run as processes on 127.0.77.x: the paired boats 浙岱渔03315 and
//! 浙岱渔03316, 浙普渔05008 working out of their range, the mediation boat 瀛洲红帆 and the
//! Shenjiamen shore station. Links come and go through the nodes' control API (dial and hang
//! up), as boats meet and part. Each step is checked against what the nodes report; the
//! timeline is printed as it happens. With `--once` the demo exits 0 only if every step
//! happened as scripted; without it the nodes keep running for the CLI until Ctrl-C.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::local::Proc;

struct Timeline {
    start: Instant,
    steps: usize,
}

impl Timeline {
    fn say(&mut self, who: &str, what: &str) {
        self.steps += 1;
        println!(
            "[{:>6.2}s] {who:<14} {what}",
            self.start.elapsed().as_secs_f64()
        );
    }
}

fn delivered(p: &mut Proc, kind: &str, id: &str) {
    let needle = format!("delivered {kind} {id}");
    p.wait_line(|l| l == needle);
}

pub(crate) fn run(once: bool) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the haiqiao binary")?;
    let dir = tempfile::tempdir()?;
    play(&exe, dir.path(), once)
}

fn play(exe: &Path, base: &Path, once: bool) -> anyhow::Result<()> {
    let mut t = Timeline {
        start: Instant::now(),
        steps: 0,
    };
    println!(
        "haiqiao demo: a local mesh of five nodes on 127.0.77.x (data in {})",
        base.display()
    );
    let specs = [
        ("浙岱渔03315", "vessel", "127.0.77.2"),
        ("浙岱渔03316", "vessel", "127.0.77.3"),
        ("浙普渔05008", "vessel", "127.0.77.4"),
        ("瀛洲红帆", "mediator", "127.0.77.5"),
        ("沈家门岸站", "shore", "127.0.77.6"),
    ];
    let mut n: Vec<Proc> = specs
        .iter()
        .map(|(name, role, ip)| Proc::init(exe, base, name, role, ip))
        .collect();
    // The pair knows each other.
    let (a_id, b_id) = (n[0].id.clone(), n[1].id.clone());
    n[0].configure(&[], "");
    n[1].configure(&[], "");
    for p in n.iter().skip(2) {
        p.configure(&[], "");
    }
    set_partner(&n[0], &b_id)?;
    set_partner(&n[1], &a_id)?;
    for p in n.iter_mut() {
        p.start();
        t.say(&p.name, &format!("started, node id {}", &p.id[..8]));
    }
    let [a, b, c, m, s] = &mut n[..] else {
        anyhow::bail!("five nodes")
    };

    // Morning: the pair fishes together; the mediation boat is within reach of 03316 and of
    // shore; 05008 is out of everyone's range.
    b.dial(&a.p2p);
    b.wait_peers(1);
    t.say("links", "03315 ⇄ 03316 (boat WiFi)");
    m.dial(&b.p2p);
    m.wait_peers(1);
    m.dial(&s.p2p);
    m.wait_peers(2);
    t.say("links", "03316 ⇄ 瀛洲红帆 ⇄ shore");

    let pos = a.submit(json!({"kind": "position", "lat": 30.2412, "lon": 122.9108, "sog_kn": 3.2, "cog_deg": 85.0, "nav_status": "fishing"}));
    delivered(b, "position", &pos);
    delivered(s, "position", &pos);
    t.say(
        "03315",
        "position 30.2412N 122.9108E, fishing: seen by 03316 and shore",
    );

    let alert = a.submit(json!({"kind": "pair_alert", "alert": "gear_fouled", "text": "网缠住了，请减速 net fouled, slow down"}));
    delivered(b, "pair_alert", &alert);
    t.say("03316", "pair alert from 03315: gear fouled");

    // A dispute: 03316's net was cut by 05008.
    let dispute = b.submit(json!({"kind": "dispute_report", "category": "gear_damage",
        "parties": [{"name": "浙普渔05008"}, {"name": "浙岱渔03315", "key": a.id}],
        "lat": 30.25, "lon": 122.93, "description": "拖网被割断约200米 trawl net cut, about 200 m"}));
    delivered(s, "dispute_report", &dispute);
    t.say("shore", "dispute report (gear damage) received from 03316");
    m.wait_line(|l| l.starts_with("freed ") && l.contains(&dispute));
    t.say(
        "瀛洲红帆",
        "shore receipt freed its carried copy of the dispute",
    );
    let upd = |status: &str, text: &str| json!({"kind": "case_update", "case": dispute, "status": status, "text": text, "dest": "everyone"});
    let acc = m.submit(upd("accepted", "海上老娘舅 accepted the case"));
    delivered(b, "case_update", &acc);
    delivered(a, "case_update", &acc);
    t.say("瀛洲红帆", "accepts the case; both parties are told");
    let terms = "05008 pays 3000 yuan for 200 m of net by 12-15";
    let prop = m.submit(upd("agreement_proposed", terms));
    delivered(b, "case_update", &prop);
    let sig_b =
        b.submit(json!({"kind": "agreement_signature", "case": dispute, "agreement_text": terms}));
    let sig_a =
        a.submit(json!({"kind": "agreement_signature", "case": dispute, "agreement_text": terms}));
    delivered(s, "agreement_signature", &sig_b);
    delivered(s, "agreement_signature", &sig_a);
    t.say("shore", "agreement co-signed by 03316 and 03315");
    let closed = m.submit(upd("closed", "settled at sea"));
    delivered(s, "case_update", &closed);
    t.say("瀛洲红帆", "case closed");

    // Afternoon: 05008 comes within VHF range of shore and has an emergency.
    c.dial(&s.p2p);
    c.wait_peers(1);
    t.say("links", "浙普渔05008 ⇄ shore (VHF data)");
    let mayday = c.submit(json!({"kind": "distress", "nature": "flooding", "lat": 30.31, "lon": 122.98, "persons": 9, "text": "机舱进水 engine room flooding"}));
    delivered(s, "distress", &mayday);
    delivered(b, "distress", &mayday);
    t.say(
        "浙普渔05008",
        "MAYDAY flooding, 9 POB: reached shore and, through it, 03316 (ashore also call 12395)",
    );
    let ack = s.submit(json!({"kind": "distress_update", "distress": mayday, "status": "acknowledged", "text": "Shenjiamen shore acknowledges"}));
    delivered(c, "distress_update", &ack);
    t.say("shore", "acknowledges the distress");
    let resp = b.submit(json!({"kind": "distress_update", "distress": mayday, "status": "responding", "eta_min": 25, "text": "浙岱渔03316 coming"}));
    delivered(c, "distress_update", &resp);
    t.say("03316", "responding, ETA 25 min");
    let scene =
        b.submit(json!({"kind": "distress_update", "distress": mayday, "status": "on_scene"}));
    delivered(c, "distress_update", &scene);
    let done = c.submit(json!({"kind": "distress_update", "distress": mayday, "status": "resolved", "text": "pumps holding, under tow"}));
    delivered(s, "distress_update", &done);
    t.say("浙普渔05008", "on scene, then resolved");

    // Evening: the pair separates.
    a.disconnect(&b.id);
    b.wait_line(|l| l.starts_with("peer down "));
    t.say("links", "03315 and 03316 part");
    let inbox: Value = s.get("/api/v1/inbox?limit=1000");
    let n_in = inbox["records"].as_array().map_or(0, Vec::len);
    ensure!(n_in >= 10, "shore inbox holds {n_in} records");
    t.say("shore", &format!("inbox holds {n_in} records"));

    println!("every step happened as scripted ({} steps)", t.steps);
    if once {
        for p in [a, b, c, m, s] {
            p.stop();
        }
        return Ok(());
    }
    println!("the nodes keep running; try, in another terminal:");
    println!("  haiqiao inbox --api {}      # the shore station", s.api);
    println!("  haiqiao status --api {}     # 浙岱渔03316", b.api);
    println!("Ctrl-C to stop.");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async { tokio::signal::ctrl_c().await })?;
    for p in [a, b, c, m, s] {
        p.stop();
    }
    Ok(())
}

fn set_partner(p: &Proc, partner: &str) -> anyhow::Result<()> {
    let path = p.dir.join("haiqiao.toml");
    let text = std::fs::read_to_string(&path)?;
    let text = text.replacen(
        "# partner = \"0123456789abcdef\"",
        &format!("partner = \"{partner}\""),
        1,
    );
    std::fs::write(&path, text)?;
    Ok(())
}
