//! Mobility, radio links and base traffic: from a scenario and a seed, the contact plan (every
//! link's up and down times, class and rate) and what nodes write, both fixed before any router
//! runs, so every router and the oracle see the same world.
//!
//! - **Mobility.** Vessels leave their home port for a weighted-random fishing ground, fish
//!   there with a slow random walk that stays inside the ground, and steam home after a trip;
//!   they wait in port before the next. The second boat of a pair (对船) keeps a fixed offset
//!   of a few hundred metres from the first. Mediator boats patrol grounds the same way.
//!   Positions are on a flat local projection (km) around the stations' mean position.
//! - **Links.** Each boat carries each radio class with the class's share; shore stations
//!   carry the classes marked `shore`. Two nodes link with the fastest class both carry whose
//!   range (ship–ship or ship–shore) covers their distance; a link switches class when a faster
//!   one comes into range, and drops when out of range. A radio keeps at most
//!   `radio.vessel_links` / `radio.shore_links` links, nearest first. Shore stations are
//!   bridged by the internet for the whole run.
//! - **Traffic.** Positions at a fixed interval while at sea; pair alerts, reports, distress
//!   calls and disputes as Poisson processes (one Bernoulli draw per step).

use std::collections::{BTreeMap, HashMap};

use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::traffic::{Msg, NodeIdx, NodeKind, What};

/// Kilometres per degree of latitude.
const KM_PER_DEG_LAT: f64 = 110.57;
/// Kilometres per hour in a knot.
const KMH_PER_KN: f64 = 1.852;
/// The class index of the internet bridge between shore stations.
pub const INTERNET: u8 = u8::MAX;

/// A node of the world.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// What it is.
    pub kind: NodeKind,
    /// A name (station name, or V0001 / M01).
    pub name: String,
    /// Home port (station index) for boats; the station itself for shore stations.
    pub home: usize,
    /// The pair partner, if any.
    pub partner: Option<NodeIdx>,
    /// Radio classes carried, as a bit set over `scenario.links`.
    pub radios: u64,
    /// For a boat that starts the run at sea: how long it has been fishing, ms (a lower bound
    /// of the time since it left port). A real node has a shore history when the simulation
    /// starts; without one, every boat at sea would look as if it had never seen shore.
    pub at_sea_for_ms: Option<u64>,
}

/// A link between two nodes for an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The lower node index.
    pub a: NodeIdx,
    /// The higher node index.
    pub b: NodeIdx,
    /// Link class (index into `scenario.links`, or [`INTERNET`]).
    pub class: u8,
    /// Rate, bits per second, each direction.
    pub rate_bps: u32,
    /// Up, ms since the start.
    pub up_ms: u64,
    /// Down, ms since the start (the link carries nothing from then on).
    pub down_ms: u64,
}

/// A contact event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContactEvent {
    /// When, ms since the start.
    pub t: u64,
    /// Downs before ups at the same time.
    pub up: bool,
    /// The contact.
    pub contact: u32,
}

/// The world a run happens in.
#[derive(Clone, Debug)]
pub struct World {
    /// Every node: shore stations, then vessels, then mediator boats.
    pub nodes: Vec<NodeInfo>,
    /// Every contact, in order of up time (then nodes).
    pub contacts: Vec<Contact>,
    /// Contact events in time order (downs first at equal times).
    pub events: Vec<ContactEvent>,
    /// Base traffic, in creation order.
    pub msgs: Vec<Msg>,
    /// Simulated time, ms.
    pub duration_ms: u64,
    /// Hours each vessel spent at sea, summed (for the report).
    pub vessel_hours_at_sea: f64,
    /// When boats start and stop steaming home, in time order: (ms, node, ETA in minutes
    /// when it starts, none when it arrives). Empty unless `fleet.announce_homeward`.
    pub homeward: Vec<(u64, NodeIdx, Option<u32>)>,
}

impl World {
    /// Node `n`'s kind.
    pub fn kind(&self, n: NodeIdx) -> NodeKind {
        self.nodes[n as usize].kind
    }

    /// Indices of the shore stations.
    pub fn shores(&self) -> impl Iterator<Item = NodeIdx> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == NodeKind::Shore)
            .map(|(i, _)| i as NodeIdx)
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Port { until: u64 },
    Out { tx: f64, ty: f64, ground: usize },
    Fishing { until: u64, ground: usize },
    Home,
}

#[derive(Clone, Debug)]
struct Agent {
    x: f64,
    y: f64,
    heading: f64,
    phase: Phase,
    rng: Rng,
    /// For the second boat of a pair: the leader and the offset from it.
    follows: Option<(usize, f64, f64)>,
    /// Next position record, ms.
    next_position: u64,
}

impl Agent {
    fn at_sea(&self) -> bool {
        !matches!(self.phase, Phase::Port { .. })
    }
}

struct Geo {
    lat0: f64,
    lon0: f64,
    km_per_deg_lon: f64,
}

impl Geo {
    fn xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            (lon - self.lon0) * self.km_per_deg_lon,
            (lat - self.lat0) * KM_PER_DEG_LAT,
        )
    }
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// A uniform grid of node positions for range queries.
struct Grid {
    cell: f64,
    cells: HashMap<(i32, i32), Vec<u32>>,
}

impl Grid {
    fn new(cell: f64) -> Grid {
        Grid {
            cell,
            cells: HashMap::new(),
        }
    }

    fn key(&self, p: (f64, f64)) -> (i32, i32) {
        (
            (p.0 / self.cell).floor() as i32,
            (p.1 / self.cell).floor() as i32,
        )
    }

    fn rebuild(&mut self, pos: &[(f64, f64)], from: usize) {
        for v in self.cells.values_mut() {
            v.clear();
        }
        for (i, p) in pos.iter().enumerate().skip(from) {
            let k = self.key(*p);
            self.cells.entry(k).or_default().push(i as u32);
        }
    }

    /// Nodes within `r` of `p`, as (distance, node), nearest first (then by index).
    fn within(&self, pos: &[(f64, f64)], p: (f64, f64), r: f64, out: &mut Vec<(f64, u32)>) {
        out.clear();
        let (cx, cy) = self.key(p);
        let n = (r / self.cell).ceil() as i32;
        for dx in -n..=n {
            for dy in -n..=n {
                if let Some(v) = self.cells.get(&(cx + dx, cy + dy)) {
                    for &j in v {
                        let d = dist(p, pos[j as usize]);
                        if d <= r {
                            out.push((d, j));
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }
}

/// An open link while the plan is built.
#[derive(Clone, Copy, Debug)]
struct Open {
    class: u8,
    up_ms: u64,
}

/// Builds the world for a scenario and seed.
pub fn build(sc: &Scenario, seed: u64) -> World {
    let lat0 = sc.stations.iter().map(|s| s.lat).sum::<f64>() / sc.stations.len() as f64;
    let lon0 = sc.stations.iter().map(|s| s.lon).sum::<f64>() / sc.stations.len() as f64;
    let geo = Geo {
        lat0,
        lon0,
        km_per_deg_lon: KM_PER_DEG_LAT * lat0.to_radians().cos(),
    };
    let station_xy: Vec<(f64, f64)> = sc.stations.iter().map(|s| geo.xy(s.lat, s.lon)).collect();
    let ground_xy: Vec<(f64, f64)> = sc.grounds.iter().map(|g| geo.xy(g.lat, g.lon)).collect();
    let home_w: Vec<f64> = sc.stations.iter().map(|s| s.home_weight.max(0.0)).collect();
    let ground_w: Vec<f64> = sc.grounds.iter().map(|g| g.weight.max(0.0)).collect();

    // Nodes.
    let mut nodes = Vec::new();
    let mut setup = Rng::stream(seed, 1);
    let shore_radios: u64 = sc
        .links
        .iter()
        .enumerate()
        .filter(|(_, l)| l.shore)
        .fold(0, |acc, (i, _)| acc | 1 << i);
    for (i, s) in sc.stations.iter().enumerate() {
        if s.shore {
            nodes.push(NodeInfo {
                kind: NodeKind::Shore,
                name: s.name.clone(),
                home: i,
                partner: None,
                radios: shore_radios,
                at_sea_for_ms: None,
            });
        }
    }
    let n_shore = nodes.len();
    let n_vessels = sc.fleet.vessels as usize;
    let n_pairs = ((n_vessels as f64 * sc.fleet.pair_share.clamp(0.0, 1.0)) / 2.0).floor() as usize;
    for v in 0..n_vessels + sc.fleet.mediators as usize {
        let mediator = v >= n_vessels;
        let mut radios = 0u64;
        for (i, l) in sc.links.iter().enumerate() {
            if setup.chance(l.vessel_share) {
                radios |= 1 << i;
            }
        }
        // The second boat of a pair shares the first's home port.
        let partner_of = (!mediator && v < 2 * n_pairs).then_some(v ^ 1);
        let home = match partner_of {
            Some(p) if p < v => nodes[n_shore + p].home,
            _ => setup.weighted(&home_w),
        };
        nodes.push(NodeInfo {
            kind: if mediator {
                NodeKind::Mediator
            } else {
                NodeKind::Vessel
            },
            name: if mediator {
                format!("M{:02}", v - n_vessels + 1)
            } else {
                format!("V{:05}", v + 1)
            },
            home,
            partner: partner_of.map(|p| (n_shore + p) as NodeIdx),
            radios,
            at_sea_for_ms: None,
        });
    }
    let n = nodes.len();

    // Agents.
    let step_ms = u64::from(sc.step_s) * 1000;
    let duration_ms = sc.duration_ms();
    let fish_ms =
        |r: &mut Rng| (r.range(sc.fleet.fishing_h[0], sc.fleet.fishing_h[1]) * 3.6e6) as u64;
    let port_ms = |r: &mut Rng| (r.range(sc.fleet.port_h[0], sc.fleet.port_h[1]) * 3.6e6) as u64;
    let point_in = |r: &mut Rng, g: usize| {
        let (cx, cy) = ground_xy[g];
        let rad = sc.grounds[g].radius_km * r.unit().sqrt();
        let a = r.range(0.0, std::f64::consts::TAU);
        (cx + rad * a.cos(), cy + rad * a.sin())
    };
    let pos_interval_ms = (sc.traffic.position_interval_min * 60_000.0) as u64;
    let mut agents: Vec<Agent> = Vec::with_capacity(n);
    let mut at_sea_for: Vec<Option<u64>> = vec![None; n];
    for (i, node) in nodes.iter().enumerate() {
        let mut rng = Rng::stream(seed, 1000 + i as u64);
        let home = station_xy[node.home];
        if node.kind == NodeKind::Shore {
            agents.push(Agent {
                x: home.0,
                y: home.1,
                heading: 0.0,
                phase: Phase::Port { until: u64::MAX },
                rng,
                follows: None,
                next_position: u64::MAX,
            });
            continue;
        }
        let next_position = if pos_interval_ms > 0 {
            (rng.unit() * pos_interval_ms as f64) as u64
        } else {
            u64::MAX
        };
        if let Some(p) = node.partner.filter(|p| (*p as usize) < i) {
            let a = rng.range(0.0, std::f64::consts::TAU);
            let d = rng.range(0.3, 0.8);
            let lead = &agents[p as usize];
            at_sea_for[i] = at_sea_for[p as usize];
            agents.push(Agent {
                x: lead.x + d * a.cos(),
                y: lead.y + d * a.sin(),
                heading: 0.0,
                phase: lead.phase,
                rng,
                follows: Some((p as usize, d * a.cos(), d * a.sin())),
                next_position,
            });
            continue;
        }
        let (phase, (x, y)) = if rng.chance(sc.fleet.start_at_sea) {
            let g = rng.weighted(&ground_w);
            // The same draws, in the same order, as before the history was kept.
            let u = rng.unit();
            let trip = fish_ms(&mut rng);
            let until = (u * trip as f64) as u64;
            at_sea_for[i] = Some(trip - until);
            (Phase::Fishing { until, ground: g }, point_in(&mut rng, g))
        } else {
            let until = (rng.unit() * port_ms(&mut rng) as f64) as u64;
            (Phase::Port { until }, home)
        };
        agents.push(Agent {
            x,
            y,
            heading: rng.range(0.0, std::f64::consts::TAU),
            phase,
            rng,
            follows: None,
            next_position,
        });
    }
    for (node, h) in nodes.iter_mut().zip(at_sea_for) {
        node.at_sea_for_ms = h;
    }
    // Boats in port lie at a fixed spot within 500 m of the station.
    let berth: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let mut r = Rng::stream(seed, 500_000 + i as u64);
            let a = r.range(0.0, std::f64::consts::TAU);
            let d = 0.5 * r.unit().sqrt();
            (d * a.cos(), d * a.sin())
        })
        .collect();

    // Link classes.
    let ship_ship_max = sc
        .links
        .iter()
        .filter_map(|l| l.ship_ship_km)
        .fold(0.0f64, f64::max);
    let ship_shore_max = sc
        .links
        .iter()
        .filter_map(|l| l.ship_shore_km)
        .fold(0.0f64, f64::max);
    let best_class = |a: usize, b: usize, d: f64| -> Option<u8> {
        let (ka, kb) = (nodes[a].kind, nodes[b].kind);
        if ka == NodeKind::Shore && kb == NodeKind::Shore {
            return None;
        }
        let shore = ka == NodeKind::Shore || kb == NodeKind::Shore;
        let both = nodes[a].radios & nodes[b].radios;
        let mut best: Option<(u32, u8)> = None;
        for (i, l) in sc.links.iter().enumerate() {
            if both & (1 << i) == 0 {
                continue;
            }
            let range = if shore {
                l.ship_shore_km
            } else {
                l.ship_ship_km
            };
            if range.is_some_and(|r| d <= r) && best.is_none_or(|(rate, _)| l.rate_bps > rate) {
                best = Some((l.rate_bps, i as u8));
            }
        }
        best.map(|(_, i)| i)
    };
    let cap = |a: usize| match nodes[a].kind {
        NodeKind::Shore => sc.radio.shore_links,
        _ => sc.radio.vessel_links,
    };

    let mut contacts: Vec<Contact> = Vec::new();
    let shores: Vec<usize> = (0..n_shore).collect();
    for (i, &a) in shores.iter().enumerate() {
        for &b in &shores[i + 1..] {
            contacts.push(Contact {
                a: a as NodeIdx,
                b: b as NodeIdx,
                class: INTERNET,
                rate_bps: sc.internet.rate_bps,
                up_ms: 0,
                down_ms: duration_ms,
            });
        }
    }
    let mut open: BTreeMap<(u32, u32), Open> = BTreeMap::new();
    let mut degree = vec![0usize; n];
    let mut grid = Grid::new(ship_ship_max.max(ship_shore_max / 3.0).max(1.0));
    let mut pos: Vec<(f64, f64)> = agents.iter().map(|a| (a.x, a.y)).collect();
    let mut cand = Vec::new();
    // A boat that found nothing new and is not moving waits this many steps to look again.
    let mut next_search = vec![0u64; n];
    let mut msgs: Vec<Msg> = Vec::new();
    let mut traffic_rng = Rng::stream(seed, 2);
    let mut at_sea_ms = 0u64;
    let steps = duration_ms.div_ceil(step_ms);
    let close = |contacts: &mut Vec<Contact>, (a, b): (u32, u32), o: Open, t: u64| {
        contacts.push(Contact {
            a,
            b,
            class: o.class,
            rate_bps: sc.links[o.class as usize].rate_bps,
            up_ms: o.up_ms,
            down_ms: t,
        })
    };

    let mut homeward: Vec<(u64, NodeIdx, Option<u32>)> = Vec::new();
    let mut was_homeward = vec![false; n];
    for step in 0..steps {
        let t = step * step_ms;
        let dt_h = step_ms as f64 / 3.6e6;
        // Move.
        for i in n_shore..n {
            if let Some((lead, ox, oy)) = agents[i].follows {
                let (lx, ly, phase) = (agents[lead].x, agents[lead].y, agents[lead].phase);
                let a = &mut agents[i];
                a.phase = phase;
                if let Phase::Port { .. } = phase {
                    let home = station_xy[nodes[i].home];
                    (a.x, a.y) = (home.0 + berth[i].0, home.1 + berth[i].1);
                } else {
                    (a.x, a.y) = (lx + ox, ly + oy);
                }
                continue;
            }
            let home = station_xy[nodes[i].home];
            let a = &mut agents[i];
            match a.phase {
                Phase::Port { until } => {
                    (a.x, a.y) = (home.0 + berth[i].0, home.1 + berth[i].1);
                    if t >= until {
                        let g = a.rng.weighted(&ground_w);
                        let (tx, ty) = point_in(&mut a.rng, g);
                        a.phase = Phase::Out { tx, ty, ground: g };
                    }
                }
                Phase::Out { tx, ty, ground } => {
                    let step_km = sc.fleet.transit_kn * KMH_PER_KN * dt_h;
                    let d = dist((a.x, a.y), (tx, ty));
                    if d <= step_km {
                        (a.x, a.y) = (tx, ty);
                        let until = t + fish_ms(&mut a.rng);
                        a.phase = Phase::Fishing { until, ground };
                    } else {
                        a.x += (tx - a.x) / d * step_km;
                        a.y += (ty - a.y) / d * step_km;
                    }
                }
                Phase::Fishing { until, ground } => {
                    let step_km = sc.fleet.fishing_kn * KMH_PER_KN * dt_h;
                    let (cx, cy) = ground_xy[ground];
                    if dist((a.x, a.y), (cx, cy)) > sc.grounds[ground].radius_km {
                        a.heading = (cy - a.y).atan2(cx - a.x);
                    } else {
                        a.heading += a.rng.range(-0.4, 0.4);
                    }
                    a.x += a.heading.cos() * step_km;
                    a.y += a.heading.sin() * step_km;
                    if t >= until {
                        a.phase = Phase::Home;
                    }
                }
                Phase::Home => {
                    let step_km = sc.fleet.transit_kn * KMH_PER_KN * dt_h;
                    let (tx, ty) = (home.0 + berth[i].0, home.1 + berth[i].1);
                    let d = dist((a.x, a.y), (tx, ty));
                    if d <= step_km {
                        (a.x, a.y) = (tx, ty);
                        let until = t + port_ms(&mut a.rng);
                        a.phase = Phase::Port { until };
                    } else {
                        a.x += (tx - a.x) / d * step_km;
                        a.y += (ty - a.y) / d * step_km;
                    }
                }
            }
        }
        for (p, a) in pos.iter_mut().zip(&agents) {
            *p = (a.x, a.y);
        }
        if sc.fleet.announce_homeward {
            for i in n_shore..n {
                let now = matches!(agents[i].phase, Phase::Home);
                if now != was_homeward[i] {
                    was_homeward[i] = now;
                    let eta = now.then(|| {
                        let home = station_xy[nodes[i].home];
                        let berth = (home.0 + berth[i].0, home.1 + berth[i].1);
                        let h = dist(pos[i], berth) / (sc.fleet.transit_kn * KMH_PER_KN);
                        (h * 60.0).ceil().max(1.0) as u32
                    });
                    homeward.push((t, i as NodeIdx, eta));
                }
            }
        }
        at_sea_ms += agents[n_shore..].iter().filter(|a| a.at_sea()).count() as u64 * step_ms;

        // Links: keep, switch or drop the open ones.
        let mut drop = Vec::new();
        for (&(a, b), o) in open.iter() {
            let d = dist(pos[a as usize], pos[b as usize]);
            let best = best_class(a as usize, b as usize, d);
            if best != Some(o.class) {
                let faster = best.is_some_and(|c| {
                    sc.links[c as usize].rate_bps > sc.links[o.class as usize].rate_bps
                });
                let in_range = {
                    let l = &sc.links[o.class as usize];
                    let shore = nodes[a as usize].kind == NodeKind::Shore
                        || nodes[b as usize].kind == NodeKind::Shore;
                    let r = if shore {
                        l.ship_shore_km
                    } else {
                        l.ship_ship_km
                    };
                    r.is_some_and(|r| d <= r)
                };
                if faster || !in_range {
                    drop.push((a, b));
                }
            }
        }
        for k in drop {
            if let Some(o) = open.remove(&k) {
                close(&mut contacts, k, o, t);
                degree[k.0 as usize] -= 1;
                degree[k.1 as usize] -= 1;
                next_search[k.0 as usize] = 0;
                next_search[k.1 as usize] = 0;
            }
        }
        // New links, nearest first; shore stations choose first.
        grid.rebuild(&pos, n_shore);
        for u in 0..n {
            if degree[u] >= cap(u) || step < next_search[u] {
                continue;
            }
            let r = if u < n_shore {
                ship_shore_max
            } else {
                ship_ship_max
            };
            grid.within(&pos, pos[u], r, &mut cand);
            let mut found = false;
            // Shore stations within reach of a boat, too.
            if u >= n_shore {
                for s in 0..n_shore {
                    let d = dist(pos[u], pos[s]);
                    if d <= ship_shore_max {
                        cand.push((d, s as u32));
                    }
                }
                cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            }
            for &(d, v) in cand.iter() {
                let v = v as usize;
                if degree[u] >= cap(u) {
                    break;
                }
                if v == u || degree[v] >= cap(v) {
                    continue;
                }
                let key = (u.min(v) as u32, u.max(v) as u32);
                if open.contains_key(&key) {
                    continue;
                }
                if let Some(class) = best_class(u, v, d) {
                    open.insert(key, Open { class, up_ms: t });
                    degree[u] += 1;
                    degree[v] += 1;
                    found = true;
                }
            }
            if !found && matches!(agents[u].phase, Phase::Port { .. }) {
                next_search[u] = step + 10;
            }
        }

        // Traffic written during this step.
        let t_end = (t + step_ms).min(duration_ms);
        let at_sea: Vec<usize> = (n_shore..n).filter(|&i| agents[i].at_sea()).collect();
        let within_step = |r: &mut Rng| t + (r.unit() * (t_end - t) as f64) as u64;
        let p_step = (t_end - t) as f64 / 86_400_000.0;
        for &i in &at_sea {
            let a = &mut agents[i];
            while a.next_position < t_end {
                if a.next_position >= t {
                    let measured = traffic_rng.chance(sc.traffic.position_measured);
                    msgs.push(Msg {
                        src: i as NodeIdx,
                        created_ms: a.next_position,
                        ttl_min: sc.traffic.position_ttl_min,
                        what: What::Position { measured },
                    });
                }
                a.next_position += pos_interval_ms.max(1);
            }
            if traffic_rng.chance(sc.traffic.reports_per_vessel_day * p_step)
                && nodes[i].kind == NodeKind::Vessel
            {
                msgs.push(Msg {
                    src: i as NodeIdx,
                    created_ms: within_step(&mut traffic_rng),
                    ttl_min: 3 * 24 * 60,
                    what: What::Report,
                });
            }
            if let Some(p) = nodes[i].partner.filter(|p| (*p as usize) > i)
                && traffic_rng.chance(sc.traffic.pair_alerts_per_pair_day * p_step)
            {
                let (src, partner) = if traffic_rng.chance(0.5) {
                    (i as NodeIdx, p)
                } else {
                    (p, i as NodeIdx)
                };
                msgs.push(Msg {
                    src,
                    created_ms: within_step(&mut traffic_rng),
                    ttl_min: 6 * 60,
                    what: What::PairAlert { partner },
                });
            }
        }
        // Positions of boats in port are not sent; keep their schedule moving.
        for a in agents[n_shore..].iter_mut().filter(|a| !a.at_sea()) {
            while a.next_position < t_end {
                a.next_position += pos_interval_ms.max(1);
            }
        }
        let fishing: Vec<usize> = at_sea
            .iter()
            .copied()
            .filter(|&i| nodes[i].kind == NodeKind::Vessel)
            .collect();
        if !fishing.is_empty() {
            for _ in 0..poisson_step(&mut traffic_rng, sc.traffic.distress_per_day * p_step) {
                let src = fishing[traffic_rng.index(fishing.len())];
                grid.within(&pos, pos[src], sc.traffic.nearby_km, &mut cand);
                let nearby: Vec<NodeIdx> = cand
                    .iter()
                    .map(|(_, j)| *j)
                    .filter(|&j| j as usize != src && nodes[j as usize].kind != NodeKind::Shore)
                    .take(sc.traffic.distress_nearby)
                    .collect();
                msgs.push(Msg {
                    src: src as NodeIdx,
                    created_ms: within_step(&mut traffic_rng),
                    ttl_min: 7 * 24 * 60,
                    what: What::Distress { nearby },
                });
            }
            for _ in 0..poisson_step(&mut traffic_rng, sc.traffic.disputes_per_day * p_step) {
                let src = fishing[traffic_rng.index(fishing.len())];
                grid.within(&pos, pos[src], 20.0, &mut cand);
                let partner = nodes[src].partner;
                let other = cand
                    .iter()
                    .map(|(_, j)| *j)
                    .find(|&j| {
                        j as usize != src
                            && Some(j) != partner
                            && nodes[j as usize].kind == NodeKind::Vessel
                    })
                    .unwrap_or_else(|| {
                        let mut o = fishing[traffic_rng.index(fishing.len())];
                        if o == src {
                            o = fishing[(traffic_rng.index(fishing.len()) + 1) % fishing.len()];
                        }
                        o as NodeIdx
                    });
                let area = match agents[src].phase {
                    Phase::Fishing { ground, .. } | Phase::Out { ground, .. } => ground as u32,
                    _ => 0,
                };
                msgs.push(Msg {
                    src: src as NodeIdx,
                    created_ms: within_step(&mut traffic_rng),
                    ttl_min: 30 * 24 * 60,
                    what: What::Dispute { other, area },
                });
            }
        }
    }
    for (k, o) in std::mem::take(&mut open) {
        close(&mut contacts, k, o, duration_ms);
    }
    contacts.retain(|c| c.down_ms > c.up_ms);
    let events = plan_events(&mut contacts);
    msgs.sort_by_key(|m| m.created_ms);
    World {
        nodes,
        contacts,
        events,
        msgs,
        duration_ms,
        vessel_hours_at_sea: at_sea_ms as f64 / 3.6e6,
        homeward,
    }
}

/// Events in one step of a Poisson process with mean `lambda` (small): Knuth's method.
fn poisson_step(r: &mut Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = r.unit();
    while p > l && k < 1000 {
        k += 1;
        p *= r.unit();
    }
    k
}

/// Puts contacts in plan order (up time, then endpoints) and returns their up and down events,
/// sorted: the one place the contact plan is turned into events.
pub(crate) fn plan_events(contacts: &mut [Contact]) -> Vec<ContactEvent> {
    contacts.sort_by_key(|c| (c.up_ms, c.a, c.b, c.down_ms));
    let mut events: Vec<ContactEvent> = contacts
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            [
                ContactEvent {
                    t: c.up_ms,
                    up: true,
                    contact: i as u32,
                },
                ContactEvent {
                    t: c.down_ms,
                    up: false,
                    contact: i as u32,
                },
            ]
        })
        .collect();
    events.sort();
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smoke() -> Scenario {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../simulations/smoke.toml"),
        )
        .unwrap();
        Scenario::from_toml(&text).unwrap()
    }

    #[test]
    fn boats_that_start_at_sea_have_been_fishing_a_while_and_pairs_share_it() {
        let sc = smoke();
        let w = build(&sc, 3);
        let most = (sc.fleet.fishing_h[1] * 3.6e6) as u64;
        let mut at_sea = 0;
        for (i, n) in w.nodes.iter().enumerate() {
            match n.kind {
                NodeKind::Shore => assert_eq!(n.at_sea_for_ms, None),
                _ => {
                    if let Some(ms) = n.at_sea_for_ms {
                        at_sea += 1;
                        assert!(ms <= most, "node {i}: {ms} ms at sea");
                    }
                    if let Some(p) = n.partner {
                        assert_eq!(
                            n.at_sea_for_ms, w.nodes[p as usize].at_sea_for_ms,
                            "a pair left port together"
                        );
                    }
                }
            }
        }
        // start_at_sea = 0.6 of 42 boats.
        assert!((10..40).contains(&at_sea), "{at_sea} boats start at sea");
    }

    #[test]
    fn boats_steaming_home_announce_an_eta_they_keep() {
        let mut sc = smoke();
        let w = build(&sc, 2);
        let step = u64::from(sc.step_s) * 1000;
        let mut open: HashMap<NodeIdx, (u64, u32)> = HashMap::new();
        let mut arrivals = 0;
        assert!(
            w.homeward.windows(2).all(|p| p[0].0 <= p[1].0),
            "time order"
        );
        for &(t, i, eta) in &w.homeward {
            assert_ne!(w.kind(i), NodeKind::Shore);
            match eta {
                Some(m) => assert!(open.insert(i, (t, m)).is_none(), "node {i} twice homeward"),
                None => {
                    let (t0, m) = open.remove(&i).expect("arrives after it set out");
                    // Straight home at transit speed: the ETA is the trip, to a step (and the
                    // second boat of a pair, up to 800 m off, arrives with its leader: 3 min).
                    let took = (t - t0) as f64 / 60_000.0;
                    let slack = step as f64 / 60_000.0 + 4.0;
                    assert!(
                        (took - f64::from(m)).abs() <= slack,
                        "node {i}: {took} vs {m}"
                    );
                    arrivals += 1;
                }
            }
        }
        assert!(arrivals >= 5, "only {arrivals} boats came home");
        sc.fleet.announce_homeward = false;
        assert!(build(&sc, 2).homeward.is_empty());
    }

    #[test]
    fn the_same_seed_builds_the_same_world() {
        let sc = smoke();
        let (a, b, c) = (build(&sc, 5), build(&sc, 5), build(&sc, 6));
        assert_eq!(a.contacts, b.contacts);
        assert_eq!(a.msgs, b.msgs);
        assert_ne!(a.contacts, c.contacts);
    }

    #[test]
    fn links_respect_radio_caps_and_contacts_are_well_formed() {
        let sc = smoke();
        let w = build(&sc, 3);
        let mut degree = vec![0usize; w.nodes.len()];
        for e in &w.events {
            let c = w.contacts[e.contact as usize];
            assert!(c.up_ms < c.down_ms && c.down_ms <= w.duration_ms);
            if c.class == INTERNET {
                assert_eq!(w.kind(c.a), NodeKind::Shore);
                continue;
            }
            assert!(w.kind(c.a) != NodeKind::Shore || w.kind(c.b) != NodeKind::Shore);
            for n in [c.a, c.b] {
                if e.up {
                    degree[n as usize] += 1;
                } else {
                    degree[n as usize] -= 1;
                }
                let cap = match w.kind(n) {
                    NodeKind::Shore => sc.radio.shore_links,
                    _ => sc.radio.vessel_links,
                };
                assert!(degree[n as usize] <= cap, "node {n} over its cap");
            }
        }
        // Both ends carry the link's radio.
        for c in w.contacts.iter().filter(|c| c.class != INTERNET) {
            let bit = 1u64 << c.class;
            assert!(
                w.nodes[c.a as usize].radios & bit != 0 && w.nodes[c.b as usize].radios & bit != 0
            );
        }
    }

    #[test]
    fn pairs_fish_together_and_traffic_is_written() {
        let sc = smoke();
        let w = build(&sc, 1);
        for (i, n) in w.nodes.iter().enumerate() {
            if let Some(p) = n.partner {
                assert_eq!(w.nodes[p as usize].partner, Some(i as NodeIdx));
                assert_eq!(w.nodes[p as usize].home, n.home);
            }
        }
        // Partners spend most of the run on the fast short-range link to each other.
        let wifi = sc.links.iter().position(|l| l.name == "wifi").unwrap() as u8;
        let pair_wifi_ms: u64 = w
            .contacts
            .iter()
            .filter(|c| c.class == wifi && w.nodes[c.a as usize].partner == Some(c.b))
            .map(|c| c.down_ms - c.up_ms)
            .sum();
        let pairs = w.nodes.iter().filter(|n| n.partner.is_some()).count() as u64 / 2;
        assert!(pair_wifi_ms > pairs * w.duration_ms / 2, "{pair_wifi_ms}");
        for kind in ["position", "distress", "report", "dispute", "pair"] {
            assert!(
                w.msgs
                    .iter()
                    .any(|m| format!("{:?}", m.what).to_lowercase().starts_with(kind)),
                "no {kind}"
            );
        }
        assert!(
            w.msgs
                .windows(2)
                .all(|p| p[0].created_ms <= p[1].created_ms)
        );
    }
}
