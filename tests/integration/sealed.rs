//! Sealed records across real processes: a relay carries a sealed text it cannot read, and the
//! addressee reads it (docs/protocol.md, "Sealed records").

use serde_json::json;

use crate::procs::init;

#[test]
fn a_relay_carries_a_sealed_text_it_cannot_read_and_the_addressee_reads_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // boat_a — relay — boat_b, each knowing only its predecessor.
    let mut a = init(dir.path(), "boat_a", "vessel", "127.0.5.2");
    a.configure(&[], "");
    a.start();
    let mut relay = init(dir.path(), "relay", "vessel", "127.0.5.3");
    relay.configure(&[a.p2p.clone()], "");
    relay.start();
    let mut b = init(dir.path(), "boat_b", "vessel", "127.0.5.4");
    b.configure(&[relay.p2p.clone()], "");
    b.start();
    a.wait_peers(1);
    b.wait_peers(1);

    // A text to a node never heard is refused, never sent in clear.
    let stranger = "0123456789abcdef"; // a hint no node here has
    let (status, v) = a.call(
        "POST",
        "/api/v1/records",
        Some(&json!({ "kind": "text", "text": "你好", "dest": { "node": stranger } })),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("no_reader_key")),
        "{v}"
    );

    // boat_a hears boat_b (its position crosses the relay), so it knows b's key.
    let pos = b.submit(json!({ "kind": "position", "lat": 30.1, "lon": 122.9 }));
    a.wait_line(|l| l.starts_with("delivered position ") && l.contains(&pos));

    let secret = "今晚回沈家门 back to Shenjiamen tonight";
    let written = a.post(
        "/api/v1/records",
        &json!({ "kind": "text", "text": secret, "dest": { "node": b.id } }),
    );
    let id = written["id"].as_str().expect("id").to_owned();
    assert_eq!(
        written["privacy"], "opened",
        "the author reads its own: {written}"
    );
    assert_eq!(written["body"]["text"], secret);

    // The addressee reads it.
    b.wait_line(|l| l.starts_with("delivered text ") && l.contains(&id));
    let got = b.get(&format!("/api/v1/records/{id}"));
    assert_eq!(got["kind"], "text", "{got}");
    assert_eq!(got["privacy"], "opened");
    assert_eq!(got["body"]["text"], secret);
    assert_eq!(got["author"].as_str(), Some(a.id.as_str()));

    // The relay holds and carries it, verified but unreadable: kind sealed, no plaintext in
    // its JSON or its output.
    let held = relay.get(&format!("/api/v1/records/{id}"));
    assert_eq!(held["kind"], "sealed", "{held}");
    assert_eq!(held["privacy"], "sealed");
    assert_eq!(held["body"]["inner_kind"], "text");
    assert_eq!(held["body"]["readers"], 2);
    assert_eq!(
        held["author"].as_str(),
        Some(a.id.as_str()),
        "the relay verified the author"
    );
    assert!(!held.to_string().contains("Shenjiamen"), "{held}");
    assert!(
        !relay.seen.iter().any(|l| l.contains("Shenjiamen")),
        "the relay never printed the text"
    );
    for n in [&mut a, &mut relay, &mut b] {
        n.stop();
    }
}
