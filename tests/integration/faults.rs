//! Fault scenarios.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use crate::netlab::Lab;

#[test]
fn fault_smoke() {
    let Some(mut lab) = Lab::new("smoke") else {
        return;
    };
    let a = lab.node("a", "vessel");
    let b = lab.node("b", "vessel");
    let l = lab.link(b, a);
    lab.start(a, "");
    lab.start(b, "");
    lab.p(a).wait_peers(1);
    let id = lab
        .p(a)
        .submit(serde_json::json!({"kind":"text","text":"hi","dest":"everyone"}));
    lab.p(b).wait_line(|x| x.contains(&id));
    eprintln!("{:?}", lab.bytes(l));
}
