//! Several `haiqiao` processes on 127.0.0.x: the mesh end to end.

use serde_json::json;

use crate::procs::cli;
use crate::procs::{Proc, init};

fn text_to_everyone(t: &str) -> serde_json::Value {
    json!({ "kind": "text", "text": t, "dest": "everyone" })
}

/// Starts nodes in a line, each knowing only its predecessor; waits for every link.
fn chain(base: &std::path::Path, roles: &[&str]) -> Vec<Proc> {
    let mut nodes: Vec<Proc> = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let mut p = init(base, &format!("n{i}"), role, &format!("127.0.0.{}", i + 2));
        let peers = nodes
            .last()
            .map(|prev| vec![prev.p2p.clone()])
            .unwrap_or_default();
        p.configure(&peers, "");
        p.start();
        nodes.push(p);
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        let want = if i == 0 || i == roles.len() - 1 { 1 } else { 2 };
        n.wait_peers(want.min(roles.len() - 1));
    }
    nodes
}

#[test]
fn a_distress_crosses_a_chain_of_five_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes = chain(dir.path(), &["vessel"; 5]);
    let id = nodes[0].submit(json!({
        "kind": "distress", "nature": "flooding", "lat": 30.12, "lon": 122.95, "persons": 9,
        "text": "机舱进水"
    }));
    let line = nodes[4].wait_line(|l| l.starts_with("delivered distress ") && l.contains(&id));
    assert!(line.contains(&id));
    let got = nodes[4].get(&format!("/api/v1/records/{id}"));
    assert_eq!(got["body"]["nature"], "flooding");
    assert_eq!(got["body"]["persons"], 9);
    assert_eq!(
        got["author"].as_str(),
        Some(nodes[0].id.as_str()),
        "signed by the first boat"
    );
    for n in &mut nodes {
        n.stop();
    }
}

#[test]
fn records_on_both_sides_of_a_partition_arrive_after_it_heals() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two islands: a–b and c–d.
    let mut a = init(dir.path(), "a", "vessel", "127.0.1.2");
    a.configure(&[], "");
    a.start();
    let mut b = init(dir.path(), "b", "vessel", "127.0.1.3");
    b.configure(&[a.p2p.clone()], "");
    b.start();
    let mut c = init(dir.path(), "c", "vessel", "127.0.1.4");
    c.configure(&[], "");
    c.start();
    let mut d = init(dir.path(), "d", "vessel", "127.0.1.5");
    d.configure(&[c.p2p.clone()], "");
    d.start();
    a.wait_peers(1);
    d.wait_peers(1);
    let left: Vec<String> = (0..3)
        .map(|i| a.submit(text_to_everyone(&format!("west {i}"))))
        .collect();
    let right: Vec<String> = (0..3)
        .map(|i| d.submit(text_to_everyone(&format!("east {i}"))))
        .collect();
    for id in &left {
        b.wait_line(|l| l.starts_with("delivered text ") && l.contains(id.as_str()));
    }
    for id in &right {
        c.wait_line(|l| l.starts_with("delivered text ") && l.contains(id.as_str()));
    }
    // Heal: b dials c.
    b.dial(&c.p2p);
    for id in &right {
        a.wait_line(|l| l.starts_with("delivered text ") && l.contains(id.as_str()));
    }
    for id in &left {
        d.wait_line(|l| l.starts_with("delivered text ") && l.contains(id.as_str()));
    }
    for n in [&mut a, &mut b, &mut c, &mut d] {
        n.stop();
    }
}

#[test]
fn a_relay_killed_and_restarted_still_delivers_and_the_receipt_frees_its_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut boat = init(dir.path(), "boat", "vessel", "127.0.2.2");
    boat.configure(&[], "");
    boat.start();
    let mut relay = init(dir.path(), "relay", "vessel", "127.0.2.3");
    relay.configure(&[boat.p2p.clone()], "");
    relay.start();
    relay.wait_peers(1);
    let id = boat.submit(json!({
        "kind": "dispute_report", "category": "gear_damage", "description": "拖网被割断",
        "parties": [{"name": "浙岱渔03316"}]
    }));
    // The relay takes custody (the record is durable there) ...
    relay.wait_line(|l| l.starts_with("carrying ") && l.contains(&id));
    let got = relay.get(&format!("/api/v1/records/{id}"));
    assert_eq!(got["kind"], "dispute_report");
    boat.stop();
    // ... is killed without warning, and comes back pointing at the shore.
    relay.kill9();
    let mut shore = init(dir.path(), "shore", "shore", "127.0.2.4");
    shore.configure(&[], "");
    shore.start();
    relay.configure(&[shore.p2p.clone()], "");
    relay.start();
    shore.wait_line(|l| l.starts_with("delivered dispute_report ") && l.contains(&id));
    // The shore's receipt reaches the relay and frees its copy.
    relay.wait_line(|l| l.starts_with("freed ") && l.contains(&id));
    let (status, after) = relay.call("GET", &format!("/api/v1/records/{id}"), None);
    assert_eq!(
        (status, after["code"].as_str()),
        (404, Some("not_found")),
        "the relay's copy was freed: {after}"
    );
    // Restarted alone, the relay still knows it saw shore a moment ago (its routing hands
    // shore-bound records by that age).
    relay.stop();
    shore.stop();
    relay.configure(&[], "");
    relay.start();
    let st = relay.get("/api/v1/status");
    let age = st["shore_age_min"].as_u64().expect("shore age");
    assert!(age <= 5, "shore age after a restart: {age} min");
    relay.stop();
}

#[test]
fn the_demo_plays_its_day_and_exits_zero() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_haiqiao-test-node"))
        .args(["demo", "--once"])
        .output()
        .expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("every step happened as scripted"), "{text}");
    for step in [
        "MAYDAY flooding",
        "BUDDY WATCH ALARM",
        "both alarms cleared",
        "closed the case",
        "refused (not a party to the case)",
        "refused (not a certified mediator)",
        "refused (only the vessel in distress may cancel it)",
        "freed its carried copy",
        "homeward to Shenjiamen, ashore in",
    ] {
        assert!(text.contains(step), "the demo shows {step:?}:\n{text}");
    }
}

#[test]
fn the_authority_certifies_and_revokes_and_a_revoked_key_keeps_only_its_distress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("bureau.key");
    let key_s = key.to_str().expect("utf-8 path");
    let out = cli(&["authority", "keygen", "--out", key_s]);
    let anchor = out
        .lines()
        .find_map(|l| l.strip_prefix("trust anchor "))
        .expect("keygen prints the anchor")
        .trim()
        .to_owned();
    let mut boat = init(dir.path(), "boat", "vessel", "127.0.3.2");
    let mut shore = init(dir.path(), "shore", "shore", "127.0.3.3");
    for p in [&boat, &shore] {
        p.configure(&[], "");
        p.set("fleet", "trust_anchors", &format!("[\"{anchor}\"]"));
    }
    shore.start();
    boat.configure(&[shore.p2p.clone()], "");
    boat.set("fleet", "trust_anchors", &format!("[\"{anchor}\"]"));
    boat.start();
    boat.wait_peers(1);
    shore.wait_peers(1);

    // Certificates issued on the offline key, handed to the shore station, reach the boat.
    for (id, role, name) in [
        (&shore.id, "shore", "沈家门岸站"),
        (&boat.id, "vessel", "浙岱渔03315"),
    ] {
        cli(&[
            "authority",
            "certify",
            "--api",
            &shore.api,
            "--key",
            key_s,
            "--subject",
            id,
            "--role",
            role,
            "--name",
            name,
        ]);
    }
    boat.saw("certified", "沈家门岸站");
    let t: serde_json::Value =
        serde_json::from_str(&cli(&["trust", "--api", &boat.api, "--json", &shore.id]))
            .expect("json");
    assert_eq!(t["roles"], json!(["shore"]), "{t}");
    assert_eq!(t["trusted"], true);

    // The boat's key is revoked (say, stolen): shore refuses what it writes, except distress.
    cli(&[
        "authority",
        "revoke",
        "--api",
        &shore.api,
        "--key",
        key_s,
        "--subject",
        &boat.id,
        "--reason",
        "compromised",
    ]);
    let short = boat.id[..8].to_owned();
    boat.saw("revoked", &short);
    let text = boat.submit(text_to_everyone("cheap diesel at Shenjiamen"));
    shore.wait_line(|l| l.starts_with(&format!("refused {text} from revoked key")));
    let sos = boat.submit(json!({"kind": "distress", "nature": "fire", "persons": 5}));
    shore.wait_line(|l| l == format!("delivered distress {sos}"));
    let st = shore.get("/api/v1/status");
    assert!(st["stats"]["refused_revoked"].as_u64() >= Some(1), "{st}");
    let (status, got) = shore.call("GET", &format!("/api/v1/records/{text}"), None);
    assert_eq!(status, 404, "the refused text is not held: {got}");
    boat.stop();
    shore.stop();
}
