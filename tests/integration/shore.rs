//! Shore stations bridged to the tools people use on land (docs/shore.md), tested against the
//! real thing: a mosquitto broker and a PostgreSQL server that each test starts itself on a
//! free loopback port (so that it can stop and start them), a webhook receiver in the test, and
//! `haiqiao` processes on loopback. Without mosquitto or PostgreSQL installed a test prints
//! `SKIP …`; under `.ci/run` (`HAIQIAO_SHORE_REQUIRED=1`) it fails instead.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use haiqiao_tests::services::{Mosquitto, MqttClient, Postgres};
use serde_json::{Value, json};

use crate::procs::cli;
use crate::procs::{self, Proc};

/// How long a test waits for what it expects before failing.
const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "dispatch-token-0123456789";

/// A vessel and a shore station linked on loopback, the station configured with `extra`.
fn station_and_vessel(base: &Path, extra: &str) -> (Proc, Proc) {
    let mut shore = procs::init(base, "shore", "shore", "127.0.0.1");
    shore.configure(&[], extra);
    shore.start();
    let mut vessel = procs::init(base, "vessel", "vessel", "127.0.0.1");
    vessel.configure(&[shore.p2p.clone()], "");
    vessel.start();
    vessel.wait_peers(1);
    shore.wait_peers(1);
    (shore, vessel)
}

fn text_to_shore(p: &Proc, n: usize) -> String {
    p.submit(json!({ "kind": "text", "dest": "shore", "text": format!("to shore {n}") }))
}

fn text_from_station(p: &Proc, n: usize) -> String {
    p.submit(json!({ "kind": "text", "dest": "everyone", "text": format!("from the station {n}") }))
}

fn position(p: &Proc, lat: f64) -> String {
    p.submit(json!({ "kind": "position", "lat": lat, "lon": 122.3 }))
}

/// The record ids of the JSON messages (not raw, not replies) received.
fn json_ids(msgs: &[(String, Vec<u8>)]) -> HashSet<String> {
    msgs.iter()
        .filter(|(t, _)| !t.contains("/raw/") && !t.contains("/reply/"))
        .filter_map(|(_, p)| serde_json::from_slice::<Value>(p).ok())
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect()
}

/// The record ids of the raw messages received (their bytes decoded).
fn raw_ids(msgs: &[(String, Vec<u8>)]) -> HashSet<String> {
    msgs.iter()
        .filter(|(t, _)| t.contains("/raw/"))
        .map(|(_, p)| {
            let bytes = hex::decode(p).expect("raw payloads are hex");
            haiqiao_proto::Unverified::decode(&bytes)
                .expect("raw payloads are records")
                .id()
                .to_string()
        })
        .collect()
}

fn has_all(got: &HashSet<String>, want: &[String]) -> bool {
    want.iter().all(|w| got.contains(w))
}

#[test]
fn mqtt_bridge_loses_nothing_across_a_broker_restart_and_takes_acld_commands() {
    let tmp = tempfile::tempdir().expect("tmp");
    let Some(mut broker) = Mosquitto::start(&tmp.path().join("mosquitto")) else {
        return;
    };
    let sub = MqttClient::start(broker.port, "test-subscriber", "haiqiao/#", false);
    let (mut shore, vessel) = station_and_vessel(
        tmp.path(),
        &format!(
            "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nreconnect_min_ms = 50\nreconnect_max_ms = 400\n\
             [[mqtt.integrators]]\nname = \"dispatch\"\ntoken = \"{TOKEN}\"\nallow = [\"text\"]\n",
            broker.port
        ),
    );
    shore.wait_line(|l| l.starts_with("mqtt: connected"));

    // Before the restart: records delivered from the vessel, positions among them.
    let mut want: Vec<String> = (0..10).map(|n| text_to_shore(&vessel, n)).collect();
    let lats = [29.90, 29.91, 29.92];
    for lat in lats {
        want.push(position(&vessel, lat));
    }
    assert!(
        sub.wait(WAIT, |m| has_all(&json_ids(m), &want)),
        "before the restart every record reached the subscriber"
    );

    // The broker goes away; the station keeps writing (its own records and the vessel's).
    broker.stop();
    let mark = shore.mark();
    shore.wait_until(|seen| {
        seen[mark..]
            .iter()
            .any(|l| l.starts_with("mqtt: ") && l.contains("reconnecting"))
    });
    for n in 0..10 {
        want.push(text_from_station(&shore, n));
        want.push(text_to_shore(&vessel, 100 + n));
    }
    broker.restart();
    assert!(
        sub.wait(WAIT, |m| {
            has_all(&json_ids(m), &want) && has_all(&raw_ids(m), &want)
        }),
        "after the restart every record reached the subscriber, as JSON and raw; missing {:?}",
        want.iter()
            .filter(|w| !json_ids(&sub.messages()).contains(*w))
            .collect::<Vec<_>>()
    );
    // The JSON is the API's view of the record.
    let first = &want[0];
    let api = shore.get(&format!("/api/v1/records/{first}"));
    let msgs = sub.messages();
    let (topic, payload) = msgs
        .iter()
        .find(|(t, p)| {
            !t.contains("/raw/")
                && serde_json::from_slice::<Value>(p).is_ok_and(|v| v["id"] == *first)
        })
        .expect("the first text");
    assert_eq!(topic, &format!("haiqiao/shore/text/{}", vessel.id));
    let v: Value = serde_json::from_slice(payload).expect("json");
    assert_eq!(v["body"], api["body"]);
    assert_eq!(v["station"], "shore");

    // The newest position of the vessel is retained: a newcomer gets it at once.
    let newcomer = MqttClient::start(
        broker.port,
        "test-newcomer",
        "haiqiao/shore/position/#",
        true,
    );
    assert!(
        newcomer.wait(WAIT, |m| !m.is_empty()),
        "a retained position"
    );
    let v: Value = serde_json::from_slice(&newcomer.messages()[0].1).expect("json");
    assert_eq!(
        v["body"]["lat"].as_f64(),
        Some(lats[2]),
        "the newest position is retained"
    );

    // Commands: an allowed integrator's text is signed by the station; the rest refused.
    let replies = MqttClient::start(
        broker.port,
        "test-integrator",
        "haiqiao/shore/reply/#",
        true,
    );
    replies.publish(
        "haiqiao/shore/command/dispatch",
        &json!({ "token": TOKEN, "op": "text", "dest": "everyone", "text": "from land" })
            .to_string(),
    );
    assert!(replies.wait(WAIT, |m| !m.is_empty()), "a reply");
    let r: Value = serde_json::from_slice(&replies.messages()[0].1).expect("json");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        r["record"]["author"],
        shore.id.as_str(),
        "signed by the station"
    );
    let id = r["record"]["id"].as_str().expect("id").to_owned();
    assert!(
        sub.wait(WAIT, |m| json_ids(m).contains(&id)),
        "the command's text is published too"
    );
    for (topic, cmd, code) in [
        (
            "dispatch",
            json!({ "token": "not-the-token-0123456789", "op": "text", "text": "x" }),
            "refused",
        ),
        (
            "dispatch",
            json!({ "token": TOKEN, "op": "ack_distress", "distress": id }),
            "refused",
        ),
        (
            "stranger",
            json!({ "token": TOKEN, "op": "text", "text": "x" }),
            "refused",
        ),
        (
            "dispatch",
            json!({ "token": TOKEN, "op": "revoke" }),
            "bad_request",
        ),
    ] {
        let before = replies.messages().len();
        replies.publish(&format!("haiqiao/shore/command/{topic}"), &cmd.to_string());
        assert!(replies.wait(WAIT, |m| m.len() > before), "a reply to {cmd}");
        let r: Value = serde_json::from_slice(&replies.messages()[before].1).expect("json");
        assert_eq!(
            (r["ok"].as_bool(), r["code"].as_str()),
            (Some(false), Some(code)),
            "{cmd}: {r}"
        );
    }
    shore.wait_line(|l| l.starts_with("mqtt: refused command from \"stranger\""));
}

/// Waits until every id in `ids` is in the archive's `records` table.
fn wait_archived(shore: &mut Proc, pg: &Postgres, ids: &[String]) {
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!("SELECT count(*) FROM records WHERE id IN ({list})");
    loop {
        let mark = shore.mark();
        if pg.query(&sql) == ids.len().to_string() {
            return;
        }
        shore.wait_until(|seen| {
            seen[mark..]
                .iter()
                .any(|l| l.starts_with("archive: caught up"))
        });
    }
}

#[test]
fn archive_loses_nothing_across_a_database_outage_and_is_idempotent() {
    let tmp = tempfile::tempdir().expect("tmp");
    let Some(mut pg) = Postgres::start(&tmp.path().join("pg")) else {
        return;
    };
    let (mut shore, vessel) = station_and_vessel(
        tmp.path(),
        &format!(
            "[archive]\nurl = \"{}\"\nreconnect_min_ms = 50\nreconnect_max_ms = 400\n",
            pg.url()
        ),
    );
    let mut want: Vec<String> = (0..10).map(|n| text_to_shore(&vessel, n)).collect();
    for lat in [29.90, 29.91, 29.92] {
        want.push(position(&vessel, lat));
    }
    let distress = vessel.post(
        "/api/v1/distress",
        &json!({ "nature": "flooding", "persons": 6, "lat": 29.93, "lon": 122.31 }),
    );
    let distress = distress["id"]
        .as_str()
        .or(distress["record"]["id"].as_str())
        .expect("distress id")
        .to_owned();
    want.push(distress.clone());
    wait_archived(&mut shore, &pg, &want);
    assert_eq!(pg.query("SELECT max(version) FROM haiqiao_schema"), "1");

    // The database goes away; records keep coming.
    pg.stop();
    let mark = shore.mark();
    for n in 0..10 {
        want.push(text_to_shore(&vessel, 100 + n));
        want.push(text_from_station(&shore, n));
    }
    shore.wait_until(|seen| {
        seen[mark..]
            .iter()
            .any(|l| l.starts_with("archive: ") && l.contains("reconnecting"))
    });
    pg.restart();
    wait_archived(&mut shore, &pg, &want);

    // The tables a monitoring centre queries.
    let vid = &vessel.id;
    assert_eq!(
        pg.query(&format!(
            "SELECT count(*) FROM positions WHERE author = '{vid}'"
        )),
        "3"
    );
    assert_eq!(
        pg.query(&format!(
            "SELECT nature || ' ' || persons FROM distress WHERE record_id = '{distress}'"
        )),
        "flooding 6"
    );
    let total = pg.query("SELECT count(*) FROM records");

    // Idempotent by record id: the station forgets its backlog and writes everything again
    // (as a second station holding the same records would): nothing doubles, nothing fails.
    shore.stop();
    std::fs::remove_dir_all(shore.dir.join("data/shore")).expect("remove the backlog");
    shore.start();
    shore.wait_line(|l| l.starts_with("shore backlog: ") && l.contains("held records added"));
    shore.wait_line(|l| l.starts_with("archive: caught up"));
    assert_eq!(pg.query("SELECT count(*) FROM records"), total);
    assert!(
        !shore
            .seen
            .iter()
            .any(|l| l.starts_with("archive: ") && l.contains("reconnecting")),
        "rewriting what is there is no error"
    );
}

/// What the webhook receiver saw: (headers, body) per request, and how many to refuse first.
type Hooks = Arc<(
    Mutex<(Vec<(HashMap<String, String>, String)>, usize)>,
    Condvar,
)>;

/// An HTTP receiver on loopback (axum) that answers 503 to the first `refuse` requests.
fn receiver(refuse: usize) -> (u16, Hooks, tokio::runtime::Runtime) {
    let hooks: Hooks = Arc::new((Mutex::new((Vec::new(), refuse)), Condvar::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let h = Arc::clone(&hooks);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let h = Arc::clone(&h);
            async move {
                let (m, cv) = &*h;
                let mut g = m.lock().expect("lock");
                let hs = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                g.0.push((hs, body));
                cv.notify_all();
                if g.1 > 0 {
                    g.1 -= 1;
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    (port, hooks, rt)
}

fn hmac_hex(secret: &str, msg: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn webhooks_are_signed_retried_and_only_for_chosen_events() {
    let tmp = tempfile::tempdir().expect("tmp");
    let secret = "webhook-secret-0123456789";
    let (port, hooks, _rt) = receiver(2);
    let (mut shore, vessel) = station_and_vessel(
        tmp.path(),
        &format!(
            "[[webhook]]\nname = \"platform\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\
             secret = \"{secret}\"\nevents = [\"distress_raised\", \"distress_resolved\"]\n\
             retry_min_ms = 50\nretry_max_ms = 200\n"
        ),
    );
    // A text is no event; the distress is, and is retried past two 503s.
    text_to_shore(&vessel, 1);
    let d = vessel.post(
        "/api/v1/distress",
        &json!({ "nature": "fire", "persons": 3, "lat": 29.9, "lon": 122.3 }),
    );
    let id = d["id"]
        .as_str()
        .or(d["record"]["id"].as_str())
        .expect("id")
        .to_owned();
    let (m, cv) = &*hooks;
    let g = cv
        .wait_timeout_while(m.lock().expect("lock"), WAIT, |g| g.0.len() < 3)
        .expect("lock")
        .0;
    let hits = g.0.clone();
    drop(g);
    assert_eq!(hits.len(), 3, "two refused, the third taken: {hits:?}");
    for (h, body) in &hits {
        assert_eq!(h["x-haiqiao-event"], "distress_raised");
        assert_eq!(
            h["x-haiqiao-delivery"], id,
            "the same delivery id on each retry"
        );
        let expect = format!(
            "sha256={}",
            hmac_hex(secret, &format!("{}.{body}", h["x-haiqiao-timestamp"]))
        );
        assert_eq!(
            h["x-haiqiao-signature"], expect,
            "signed with the shared secret"
        );
        let v: Value = serde_json::from_slice(body.as_bytes()).expect("json");
        assert_eq!(v["record"]["id"], id.as_str());
        assert_eq!(v["record"]["body"]["nature"], "fire");
    }
    shore.wait_line(|l| {
        l.starts_with("webhook platform: distress_raised") && l.contains("attempt 2 failed")
    });

    // Resolved: the next event.
    vessel.post(
        &format!("/api/v1/distress/{id}"),
        &json!({ "status": "cancelled" }),
    );
    let g = cv
        .wait_timeout_while(m.lock().expect("lock"), WAIT, |g| g.0.len() < 4)
        .expect("lock")
        .0;
    assert_eq!(g.0[3].0["x-haiqiao-event"], "distress_resolved");
    assert_eq!(g.0.len(), 4, "the text sent no webhook");
}

/// A shore station federated with others, on a fixed loopback port (so that it can restart
/// where its peers redial it).
fn federated_station(base: &Path, name: &str, static_peers: &[String]) -> (Proc, u16) {
    let p = procs::init(base, name, "shore", "127.0.0.1");
    p.configure(static_peers, "");
    let port = haiqiao_tests::services::free_port();
    p.set("net", "listen", &format!("[\"/ip4/127.0.0.1/tcp/{port}\"]"));
    p.set("net", "redial_min_ms", "100");
    p.set("net", "redial_max_ms", "400");
    p.set("mesh", "shore_federation", "true");
    (p, port)
}

#[test]
fn federated_stations_act_as_one_destination_and_catch_up_after_an_outage() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut daishan, port) = federated_station(tmp.path(), "daishan", &[]);
    daishan.start();
    // Shenjiamen names Daishan as `haiqiao id` prints it: the node id in hex.
    let (mut shenjiamen, _) = federated_station(
        tmp.path(),
        "shenjiamen",
        &[format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", daishan.id)],
    );
    shenjiamen.start();
    shenjiamen.wait_peers(1);
    daishan.wait_peers(1);
    let mut vessel = procs::init(tmp.path(), "vessel", "vessel", "127.0.0.1");
    vessel.configure(&[shenjiamen.p2p.clone()], "");
    vessel.start();
    vessel.wait_peers(1);

    // A text for shore reaching Shenjiamen reaches Daishan too; shore's receipt frees the
    // vessel's copy.
    let t = text_to_shore(&vessel, 1);
    let line = format!("delivered text {t}");
    shenjiamen.wait_line(|l| l == line);
    daishan.wait_line(|l| l == line);
    vessel.wait_line(|l| l == format!("freed {t} (receipted by shore)"));

    // A case filed at sea is counted by either station.
    vessel.post(
        "/api/v1/cases",
        &json!({ "category": "gear_damage", "parties": [{ "name": "浙岱渔03315" }], "description": "nets cut" }),
    );
    daishan.wait_line(|l| l.starts_with("delivered dispute_report "));
    assert_eq!(daishan.get("/api/v1/cases/stats")["total"], 1);

    // Daishan goes away; what reaches Shenjiamen meanwhile reaches Daishan when it is back
    // (Shenjiamen redials it by itself; the normal sync catches up).
    daishan.stop();
    shenjiamen.wait_line(|l| l.starts_with("peer down "));
    let later: Vec<String> = (2..7).map(|n| text_to_shore(&vessel, n)).collect();
    for t in &later {
        let line = format!("delivered text {t}");
        shenjiamen.wait_line(|l| l == line);
    }
    daishan.start();
    for t in &later {
        let line = format!("delivered text {t}");
        daishan.wait_line(|l| l == line);
    }
}

/// POSTs a mediator-ashore step with a bearer token: (status, answer).
fn ashore_step(shore: &Proc, name: &str, case: &str, token: &str, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!(
            "http://{}/api/v1/ashore/{name}/cases/{case}",
            shore.api
        ))
        .header("authorization", format!("Bearer {token}"))
        .send_json(body)
        .expect("post");
    let status = r.status().as_u16();
    (status, r.body_mut().read_json().expect("json"))
}

#[test]
fn a_certified_mediator_ashore_signs_steps_with_their_own_key_held_at_the_station() {
    use sha2::Digest;
    let tmp = tempfile::tempdir().expect("tmp");
    let bureau = tmp.path().join("bureau.key");
    let bureau_s = bureau.to_str().expect("utf-8");
    let anchor = cli(&["authority", "keygen", "--out", bureau_s])
        .lines()
        .find_map(|l| l.strip_prefix("trust anchor ").map(|a| a.trim().to_owned()))
        .expect("the anchor");
    // The mediator's key, made as for their own node; the station holds it.
    let mediator = procs::init(tmp.path(), "wang", "mediator", "127.0.0.1");
    let token = "desk-token-of-mediator-wang";
    let token_sha = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    let mut shore = procs::init(tmp.path(), "shore", "shore", "127.0.0.1");
    shore.configure(
        &[],
        &format!(
            "[[mediator]]\nname = \"wang\"\nkey_file = \"{}\"\ntoken_sha256 = \"{token_sha}\"\n",
            mediator.dir.join("node.key").display()
        ),
    );
    shore.set("fleet", "trust_anchors", &format!("[\"{anchor}\"]"));
    shore.start();
    let mut vessel = procs::init(tmp.path(), "vessel", "vessel", "127.0.0.1");
    vessel.configure(&[shore.p2p.clone()], "");
    vessel.set("fleet", "trust_anchors", &format!("[\"{anchor}\"]"));
    vessel.start();
    vessel.wait_peers(1);
    for (id, role, name) in [
        (&shore.id, "shore", "沈家门岸站"),
        (&mediator.id, "mediator", "王调解员"),
    ] {
        cli(&[
            "authority",
            "certify",
            "--api",
            &shore.api,
            "--key",
            bureau_s,
            "--subject",
            id,
            "--role",
            role,
            "--name",
            name,
        ]);
    }
    vessel.saw("certified", "王调解员");

    let filed = vessel.post(
        "/api/v1/cases",
        &json!({ "category": "gear_damage", "parties": [{ "name": "浙岱渔03315" }], "description": "nets cut" }),
    );
    let case = filed["id"]
        .as_str()
        .or(filed["record"]["id"].as_str())
        .expect("case id")
        .to_owned();
    shore.wait_line(|l| l == format!("delivered dispute_report {case}"));

    // The wrong token: refused, nothing signed.
    let (status, v) = ashore_step(
        &shore,
        "wang",
        &case,
        "not-the-token",
        &json!({ "step": "accept" }),
    );
    assert_eq!((status, v["code"].as_str()), (422, Some("refused")), "{v}");
    let (status, _) = ashore_step(&shore, "li", &case, token, &json!({ "step": "accept" }));
    assert_eq!(status, 404, "no such mediator held here");

    // Accept, then propose: signed with the mediator's key, seen at sea as the mediator's.
    let (status, accepted) =
        ashore_step(&shore, "wang", &case, token, &json!({ "step": "accept" }));
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(
        accepted["author"],
        mediator.id.as_str(),
        "signed with the mediator's own key"
    );
    let (status, proposed) = ashore_step(
        &shore,
        "wang",
        &case,
        token,
        &json!({ "step": "propose", "text": "赔偿网具 5000 元 compensation 5000 yuan" }),
    );
    assert_eq!(status, 200, "{proposed}");
    let pid = proposed["id"].as_str().expect("id").to_owned();
    vessel.wait_line(|l| l == format!("delivered case_update {pid}"));
    let c = vessel.get(&format!("/api/v1/cases/{case}"));
    assert_eq!(c["mediator"], mediator.id.as_str(), "{c}");
    assert_eq!(c["stage"], "agreement_proposed", "{c}");
}

#[test]
fn a_receipt_from_another_certified_station_frees_copies_at_sea() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bureau = tmp.path().join("bureau.key");
    let bureau_s = bureau.to_str().expect("utf-8");
    let anchor = cli(&["authority", "keygen", "--out", bureau_s])
        .lines()
        .find_map(|l| l.strip_prefix("trust anchor ").map(|a| a.trim().to_owned()))
        .expect("the anchor");
    let anchors = format!("[\"{anchor}\"]");
    // Daishan is certified; Shenjiamen, where the vessel calls, is not: its own receipts free
    // nothing, so what frees the vessel's copy is Daishan's, carried back through Shenjiamen.
    let (mut daishan, port) = federated_station(tmp.path(), "daishan", &[]);
    daishan.set("fleet", "trust_anchors", &anchors);
    daishan.start();
    let (mut shenjiamen, _) = federated_station(
        tmp.path(),
        "shenjiamen",
        &[format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", daishan.id)],
    );
    shenjiamen.set("fleet", "trust_anchors", &anchors);
    shenjiamen.start();
    shenjiamen.wait_peers(1);
    let mut vessel = procs::init(tmp.path(), "vessel", "vessel", "127.0.0.1");
    vessel.configure(&[shenjiamen.p2p.clone()], "");
    vessel.set("fleet", "trust_anchors", &anchors);
    vessel.start();
    vessel.wait_peers(1);
    cli(&[
        "authority",
        "certify",
        "--api",
        &daishan.api,
        "--key",
        bureau_s,
        "--subject",
        &daishan.id,
        "--role",
        "shore",
        "--name",
        "岱山岸站",
    ]);
    vessel.saw("certified", "岱山岸站");
    shenjiamen.saw("certified", "岱山岸站");

    let t = text_to_shore(&vessel, 1);
    daishan.wait_line(|l| l == format!("delivered text {t}"));
    vessel.wait_line(|l| l == format!("freed {t} (receipted by shore)"));
    let st = vessel.get("/api/v1/status");
    assert!(
        st["stats"]["receipts_not_counted"].as_u64() >= Some(1),
        "Shenjiamen's own receipt did not count: {st}"
    );
}
