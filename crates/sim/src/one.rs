//! A run in the formats of the ONE simulator (Keränen, Ott and Kärkkäinen, "The ONE Simulator
//! for DTN Protocol Evaluation", SIMUTools 2009), so that anyone can replay the same contacts
//! and messages with the ONE's own routers and compare (docs/one.md says how).
//!
//! - [`contact_plan`]: `<t> CONN <a> <b> up|down`, hosts by node index, time in seconds.
//! - [`contact_plan_with_links`]: the same with the ONE's optional interface field after
//!   `up|down`, carrying the link class's name (`wifi`, `vhf`, ..., `internet`).
//! - [`merged_plan`] and [`messages`]: the ONE has no anycast, so "any shore station" becomes
//!   one host: every shore station is renamed to the lowest shore index, contacts between
//!   shore stations are dropped, and overlapping contacts of a node with several stations are
//!   joined into one. Messages are `<t> C <id> <from> <to> <size>` (StandardEventsReader's
//!   create event), one per measured item of the base traffic: a message with several targets
//!   (a distress: shore and the nearby boats) is written once per target as `M<msg>.<k>`, and
//!   the "any mediator or shore" target goes to the merged shore host (a mediator boat is an
//!   ordinary host in the ONE). Sizes are the encoded sizes of the records the engine writes.
//! - [`messages_csv`]: the same messages with their class and time to live, which the ONE
//!   sets per host group (`Group.msgTtl`, minutes) rather than per message.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::scenario::Scenario;
use crate::traffic::{Item, NodeIdx, NodeKind, Target};
use crate::world::{INTERNET, World};

/// The name of a contact's link class.
fn class_name(sc: &Scenario, class: u8) -> &str {
    if class == INTERNET {
        "internet"
    } else {
        sc.links
            .get(usize::from(class))
            .map_or("unknown", |l| l.name.as_str())
    }
}

fn secs(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// The contact plan, as the ONE's connection events.
pub fn contact_plan(w: &World) -> String {
    events(w, None)
}

/// The contact plan with each event's link class as the interface field.
pub fn contact_plan_with_links(w: &World, sc: &Scenario) -> String {
    events(w, Some(sc))
}

fn events(w: &World, sc: Option<&Scenario>) -> String {
    let mut s = String::new();
    for e in &w.events {
        let c = &w.contacts[e.contact as usize];
        let _ = write!(
            s,
            "{} CONN {} {} {}",
            secs(e.t),
            c.a,
            c.b,
            if e.up { "up" } else { "down" }
        );
        if let Some(sc) = sc {
            let _ = write!(s, " {}", class_name(sc, c.class));
        }
        s.push('\n');
    }
    s
}

/// The host that stands for every shore station in the merged plan: the lowest shore index.
pub fn merged_shore(w: &World) -> Option<NodeIdx> {
    w.shores().next()
}

fn merge(w: &World, n: NodeIdx) -> NodeIdx {
    match (w.kind(n), merged_shore(w)) {
        (NodeKind::Shore, Some(s)) => s,
        _ => n,
    }
}

/// The contact plan with every shore station merged into one host (see the module docs).
pub fn merged_plan(w: &World) -> String {
    // Per pair, the union of its contacts' intervals.
    let mut by_pair: BTreeMap<(NodeIdx, NodeIdx), Vec<(u64, u64)>> = BTreeMap::new();
    for c in &w.contacts {
        let (a, b) = (merge(w, c.a), merge(w, c.b));
        if a == b || c.down_ms <= c.up_ms {
            continue;
        }
        by_pair
            .entry((a.min(b), a.max(b)))
            .or_default()
            .push((c.up_ms, c.down_ms));
    }
    let mut evs: Vec<(u64, bool, NodeIdx, NodeIdx)> = Vec::new();
    for ((a, b), mut iv) in by_pair {
        iv.sort_unstable();
        let mut cur: Option<(u64, u64)> = None;
        for (up, down) in iv {
            cur = match cur {
                Some((u, d)) if up <= d => Some((u, d.max(down))),
                Some((u, d)) => {
                    evs.push((u, true, a, b));
                    evs.push((d, false, a, b));
                    Some((up, down))
                }
                None => Some((up, down)),
            };
        }
        if let Some((u, d)) = cur {
            evs.push((u, true, a, b));
            evs.push((d, false, a, b));
        }
    }
    // Time order; downs before ups at equal times, as the world's own events.
    evs.sort_unstable_by_key(|&(t, up, a, b)| (t, up, a, b));
    let mut s = String::new();
    for (t, up, a, b) in evs {
        let _ = writeln!(
            s,
            "{} CONN {a} {b} {}",
            secs(t),
            if up { "up" } else { "down" }
        );
    }
    s
}

/// One exported message: (id, created ms, from, to, size, class name, ttl minutes).
type OneMsg = (String, u64, NodeIdx, NodeIdx, u32, &'static str, u32);

fn one_messages(w: &World, sizes: &[u32; crate::engine::VARIANTS]) -> Vec<OneMsg> {
    let shore = merged_shore(w);
    let mut out = Vec::new();
    for (m, msg) in w.msgs.iter().enumerate() {
        let mut items: Vec<Item> = Vec::new();
        msg.items(m as u32, &mut items);
        let size = sizes[crate::engine::variant(&msg.what)];
        for (k, it) in items.iter().enumerate() {
            let to = match it.target {
                Target::Node(n) => merge(w, n),
                Target::Shore | Target::Mediation => match shore {
                    Some(s) => s,
                    None => continue,
                },
            };
            let from = merge(w, msg.src);
            if from == to {
                continue;
            }
            let id = if items.len() == 1 {
                format!("M{m}")
            } else {
                format!("M{m}.{k}")
            };
            out.push((
                id,
                msg.created_ms,
                from,
                to,
                size,
                it.class.name(),
                msg.ttl_min,
            ));
        }
    }
    out.sort_by_key(|m| m.1);
    out
}

/// The base traffic as the ONE's message-creation events, against [`merged_plan`].
pub fn messages(w: &World, sizes: &[u32; crate::engine::VARIANTS]) -> String {
    let mut s = String::new();
    for (id, t, from, to, size, _, _) in one_messages(w, sizes) {
        let _ = writeln!(s, "{} C {id} {from} {to} {size}", secs(t));
    }
    s
}

/// The exported messages with their class and time to live.
pub fn messages_csv(w: &World, sizes: &[u32; crate::engine::VARIANTS]) -> String {
    let mut s = String::from("id,created_s,from,to,size,class,ttl_min\n");
    for (id, t, from, to, size, class, ttl) in one_messages(w, sizes) {
        let _ = writeln!(s, "{id},{},{from},{to},{size},{class},{ttl}", secs(t));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::tests::world;
    use crate::traffic::{Msg, What};

    const V: NodeKind = NodeKind::Vessel;
    const S: NodeKind = NodeKind::Shore;

    #[test]
    fn shore_stations_merge_into_one_host_and_messages_name_it() {
        // Shores 0 and 1, vessels 2 and 3. Vessel 2 meets shore 0 from 10 to 20 s and shore
        // 1 from 15 to 30 s (one merged contact, 10 to 30 s); the shores' own link is dropped.
        let mut w = world(
            &[S, S, V, V],
            &[
                (2, 0, 10, 20),
                (2, 1, 15, 30),
                (0, 1, 0, 100),
                (2, 3, 40, 50),
            ],
            100,
        );
        assert_eq!(
            merged_plan(&w),
            "10 CONN 0 2 up\n30 CONN 0 2 down\n40 CONN 2 3 up\n50 CONN 2 3 down\n"
        );
        w.msgs.push(Msg {
            src: 3,
            created_ms: 1500,
            ttl_min: 60,
            what: What::Distress { nearby: vec![2] },
        });
        w.msgs.push(Msg {
            src: 2,
            created_ms: 2000,
            ttl_min: 720,
            what: What::Report,
        });
        let sizes = [100; crate::engine::VARIANTS];
        assert_eq!(
            messages(&w, &sizes),
            "1.5 C M0.0 3 0 100\n1.5 C M0.1 3 2 100\n2 C M1 2 0 100\n"
        );
        assert!(messages_csv(&w, &sizes).contains("M1,2,2,0,100,shore_bound,720\n"));
        // The plain plan keeps every contact; the link class follows up|down.
        assert!(contact_plan(&w).starts_with("0 CONN 0 1 up\n"));
    }
}
