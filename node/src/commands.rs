//! The CLI's workflow commands: pairs, distress, mediation, trust, the timeline and the
//! authority's tools. Each becomes one control-API request (see `api.rs`); the printing is
//! for people, `--json` prints the reply as it came.

use anyhow::{Context, anyhow, bail};
use haiqiao_proto::{
    Body, Destination, Envelope, PublicKey, Record, RevocationReason, Role, Timestamp,
};
use serde_json::{Value, json};

use crate::cli::{AuthorityCommand, CaseCommand, DistressCommand, Target};
use crate::client::{api, print_json_or};
use crate::json::{record_line, short};
use crate::workflows::AreaSpec;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn sent(target: &Target, v: &Value) -> anyhow::Result<()> {
    print_json_or(target.json, v, || {
        println!("sent {}", record_line(v));
        println!("id {}", s(&v["id"]));
    })
}

/// `haiqiao pair`.
pub(crate) fn pair(target: &Target, partner: Option<String>, leave: bool) -> anyhow::Result<()> {
    let a = api(target)?;
    let Some(partner) = partner else {
        let v = a.get("/api/v1/pairs")?;
        return print_json_or(target.json, &v, || {
            for p in v["pairs"].as_array().into_iter().flatten() {
                println!("pair {} + {}", short(s(&p["a"])), short(s(&p["b"])));
            }
            for p in v["partners"].as_array().into_iter().flatten() {
                println!(
                    "partner {} {} last heard {} {}",
                    short(s(&p["partner"])),
                    s(&p["name"]),
                    crate::dashboard::ago(p["last_heard"].as_u64(), crate::clock::now_ms() / 1000),
                    if p["alarm"] == true {
                        "ALARM: overdue"
                    } else {
                        "ok"
                    }
                );
            }
            for b in v["buddy_reports"].as_array().into_iter().flatten() {
                println!(
                    "buddy report from {}: partner {} {}",
                    short(s(&b["from"])),
                    short(s(&b["partner"])),
                    if b["overdue"] == true {
                        "OVERDUE"
                    } else {
                        "heard again"
                    }
                );
            }
        });
    };
    let v = a.post(
        "/api/v1/pairs",
        &json!({ "partner": partner, "leave": leave }),
    )?;
    sent(target, &v)
}

/// `haiqiao pair-alert`.
pub(crate) fn pair_alert(
    target: &Target,
    alert: String,
    partner: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    text: String,
) -> anyhow::Result<()> {
    let v = api(target)?.post(
        "/api/v1/pair-alert",
        &json!({ "alert": alert, "partner": partner, "lat": lat, "lon": lon, "text": text }),
    )?;
    sent(target, &v)
}

fn print_distress(v: &Value) {
    for d in v["distress"].as_array().into_iter().flatten() {
        println!(
            "MAYDAY {} {} ({}) POB {} — {} {} alert(s), incident {}",
            s(&d["nature"]),
            d["name"].as_str().unwrap_or(short(s(&d["author"]))),
            s(&d["dsc_code"]),
            d["persons"],
            s(&d["state"]),
            d["alerts"],
            s(&d["incident"])
        );
        if let Some(f) = d["fix"].as_object() {
            println!("  at {:.5}N {:.5}E", f["lat"], f["lon"]);
        }
        for a in d["acknowledged_by"].as_array().into_iter().flatten() {
            println!(
                "  acknowledged by {}{}",
                a["name"].as_str().unwrap_or(short(s(&a["key"]))),
                if a["shore"] == true { " (shore)" } else { "" }
            );
        }
        for r in d["responders"].as_array().into_iter().flatten() {
            println!(
                "  {} {}",
                r["name"].as_str().unwrap_or(short(s(&r["key"]))),
                if r["on_scene"] == true {
                    "on scene".to_owned()
                } else {
                    format!("coming, ETA {} min", r["eta_min"])
                }
            );
        }
        for n in d["nearest"].as_array().into_iter().flatten() {
            println!(
                "  nearest: {} {:.1} km",
                n["name"].as_str().unwrap_or(short(s(&n["key"]))),
                n["distance_km"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
}

/// `haiqiao distress ...`.
pub(crate) fn distress(target: &Target, what: DistressCommand) -> anyhow::Result<()> {
    let a = api(target)?;
    let answer = |id: &str, status: &str, eta: Option<u16>, text: &str| {
        a.post(
            &format!("/api/v1/distress/{id}"),
            &json!({ "status": status, "eta_min": eta, "text": text }),
        )
    };
    let v = match what {
        DistressCommand::List { all } => {
            let v = a.get(&format!("/api/v1/distress?all={all}"))?;
            return print_json_or(target.json, &v, || print_distress(&v));
        }
        DistressCommand::Raise(d) => a.post(
            "/api/v1/distress",
            &json!({ "nature": d.nature, "persons": d.persons, "lat": d.lat, "lon": d.lon,
                     "text": d.text }),
        )?,
        DistressCommand::Ack { id, text } => answer(&id, "acknowledged", None, &text)?,
        DistressCommand::Respond { id, eta, text } => answer(&id, "responding", Some(eta), &text)?,
        DistressCommand::OnScene { id, text } => answer(&id, "on_scene", None, &text)?,
        DistressCommand::Resolve { id, text } => answer(&id, "resolved", None, &text)?,
        DistressCommand::Cancel { id, text } => answer(&id, "cancelled", None, &text)?,
    };
    sent(target, &v)
}

/// Parses `NUMBER:SOUTH,WEST,NORTH,EAST`.
pub(crate) fn area_spec(a: &str) -> anyhow::Result<AreaSpec> {
    let (n, b) = a
        .split_once(':')
        .ok_or_else(|| anyhow!("area {a:?}: NUMBER:SOUTH,WEST,NORTH,EAST"))?;
    let v = b
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("area {a:?}: degrees"))?;
    let [south, west, north, east] = v[..] else {
        bail!("area {a:?}: four edges, SOUTH,WEST,NORTH,EAST");
    };
    if south >= north || west >= east {
        bail!("area {a:?}: south must be below north and west below east");
    }
    Ok(AreaSpec {
        area: n
            .trim()
            .parse()
            .with_context(|| format!("area {a:?}: number"))?,
        south,
        west,
        north,
        east,
    })
}

/// `haiqiao duty`.
pub(crate) fn duty(
    target: &Target,
    area: Vec<String>,
    category: Vec<String>,
    hours: u32,
    daily: Option<String>,
    off: bool,
) -> anyhow::Result<()> {
    let a = api(target)?;
    if area.is_empty() && !off {
        let v = a.get("/api/v1/duties")?;
        return print_json_or(target.json, &v, || {
            for d in v["duties"].as_array().into_iter().flatten() {
                println!(
                    "{} {} {} areas {} categories {}",
                    d["name"].as_str().unwrap_or(short(s(&d["mediator"]))),
                    if d["on_duty"] == true {
                        "on duty"
                    } else {
                        "off duty"
                    },
                    if d["certified"] == true {
                        "certified"
                    } else {
                        "UNCERTIFIED"
                    },
                    d["areas"],
                    d["categories"]
                );
            }
        });
    }
    let areas = area
        .iter()
        .map(|x| area_spec(x))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let daily = daily
        .map(|d| -> anyhow::Result<(u16, u16)> {
            let (a, b) = d.split_once('-').context("--daily START-END in minutes")?;
            Ok((a.trim().parse()?, b.trim().parse()?))
        })
        .transpose()?;
    let v = a.post(
        "/api/v1/duty",
        &json!({ "areas": areas, "categories": category, "hours": hours, "daily": daily }),
    )?;
    sent(target, &v)
}

fn print_case(c: &Value) {
    println!(
        "case {} {} — {} — filed by {}",
        s(&c["case"]),
        s(&c["category"]),
        s(&c["stage"]),
        c["reporter_name"]
            .as_str()
            .unwrap_or(short(s(&c["reporter"])))
    );
    println!("  {}", s(&c["description"]));
    if let Some(m) = c["mediator"].as_str() {
        println!(
            "  mediator {}",
            c["mediator_name"].as_str().unwrap_or(short(m))
        );
    }
    for p in c["progress"].as_array().into_iter().flatten() {
        println!("  {} {}", s(&p["status"]), s(&p["text"]));
    }
    if let Some(ag) = c["agreement"].as_object() {
        println!(
            "  agreement: {} (signatures missing: {})",
            ag["text"].as_str().unwrap_or(""),
            ag["missing"]
        );
    }
}

/// `haiqiao case ...`.
pub(crate) fn case(target: &Target, what: CaseCommand) -> anyhow::Result<()> {
    let a = api(target)?;
    let step = |id: &str, step: &str, text: &str, to: Option<&str>| {
        a.post(
            &format!("/api/v1/cases/{id}"),
            &json!({ "step": step, "text": text, "to": to }),
        )
    };
    let v = match what {
        CaseCommand::List => {
            let v = a.get("/api/v1/cases")?;
            return print_json_or(target.json, &v, || {
                for c in v["cases"].as_array().into_iter().flatten() {
                    print_case(c);
                }
            });
        }
        CaseCommand::Show { id } => {
            let v = a.get(&format!("/api/v1/cases/{id}"))?;
            return print_json_or(target.json, &v, || print_case(&v));
        }
        CaseCommand::Stats => {
            let v = a.get("/api/v1/cases/stats")?;
            return print_json_or(target.json, &v, || {
                println!(
                    "cases {}: open {}, accepted {}, closed {}, escalated {}",
                    v["total"], v["open"], v["accepted"], v["closed"], v["escalated"]
                );
                println!(
                    "time to accept median {} s, to close median {} s, handled {}",
                    v["median_time_to_accept_s"], v["median_time_to_close_s"], v["handled_rate"]
                );
            });
        }
        CaseCommand::File(d) => a.post(
            "/api/v1/cases",
            &json!({ "category": d.category, "parties": d.parties(), "lat": d.lat,
                         "lon": d.lon, "description": d.description, "evidence": d.evidence }),
        )?,
        CaseCommand::Accept { id } => step(&id, "accept", "", None)?,
        CaseCommand::Progress { id, text } => step(&id, "progress", &text, None)?,
        CaseCommand::Propose { id, text } => step(&id, "propose", &text, None)?,
        CaseCommand::Sign { id } => step(&id, "sign", "", None)?,
        CaseCommand::Escalate { id, to, text } => step(&id, "escalate", &text, Some(&to))?,
        CaseCommand::Close { id, text } => step(&id, "close", &text, None)?,
    };
    sent(target, &v)
}

/// `haiqiao trust`.
pub(crate) fn trust(target: &Target, key: &str) -> anyhow::Result<()> {
    let v = api(target)?.get(&format!("/api/v1/trust/{key}"))?;
    print_json_or(target.json, &v, || {
        println!(
            "{} {} roles {} {}{}",
            s(&v["key"]),
            v["name"].as_str().unwrap_or("(no certified name)"),
            v["roles"],
            if v["revoked"] == true {
                "REVOKED"
            } else if v["trusted"] == true {
                "trusted"
            } else {
                "uncertified"
            },
            if v["anchor"] == true {
                " (trust anchor)"
            } else {
                ""
            }
        );
    })
}

/// `haiqiao timeline`.
pub(crate) fn timeline(target: &Target, after: u64, limit: usize) -> anyhow::Result<()> {
    let v = api(target)?.get(&format!("/api/v1/timeline?after={after}&limit={limit}"))?;
    print_json_or(target.json, &v, || {
        for e in v["entries"].as_array().into_iter().flatten() {
            let at = e["at_ms"].as_u64().map(|ms| ms / 1000);
            println!(
                "#{:<5} {:<12} {:<22} {}",
                e["index"],
                crate::dashboard::ago(at, crate::clock::now_ms() / 1000),
                s(&e["what"]),
                s(&e["text"])
            );
        }
    })
}

/// `haiqiao voyage`.
pub(crate) fn voyage(
    target: &Target,
    says: Option<String>,
    eta_min: Option<u32>,
    port: Option<String>,
) -> anyhow::Result<()> {
    let a = api(target)?;
    let v = match says {
        None => a.get("/api/v1/voyage")?,
        Some(says) => a.post(
            "/api/v1/voyage",
            &json!({ "says": says.replace('-', "_"), "eta_min": eta_min, "port": port }),
        )?,
    };
    print_json_or(target.json, &v, || {
        if v["homeward"] == true {
            println!(
                "homeward{}, ashore in {} min (from the {})",
                v["port"]
                    .as_str()
                    .map(|p| format!(" to {p}"))
                    .unwrap_or_default(),
                v["eta_min"],
                if v["skipper_says"] == true {
                    "skipper's word"
                } else {
                    "position reports"
                }
            );
        } else if v["skipper_says"] == true {
            println!("not homeward (the skipper's word)");
        } else {
            println!("not homeward (from the position reports)");
        }
    })
}

/// Signs `body` on the authority's key; seq is the time in ms, so that an offline key used
/// from one place never repeats a number.
pub(crate) fn authority_record(key: &haiqiao_proto::Keypair, body: Body) -> anyhow::Result<Record> {
    let now_ms = crate::clock::now_ms();
    let env = Envelope {
        author: key.public().hint(),
        seq: now_ms,
        created: Timestamp((now_ms / 1000) as u32),
        ttl_min: haiqiao_proto::MAX_TTL_MIN,
        dest: Destination::Everyone,
        body,
    };
    Ok(Record::sign(key, env)?)
}

/// The node id an authority's record is about.
fn subject_key(s: &str) -> anyhow::Result<PublicKey> {
    s.trim()
        .parse()
        .map_err(|_| anyhow!("--subject is a node id (64 hex digits)"))
}

/// `haiqiao authority ...`.
pub(crate) fn authority(what: AuthorityCommand) -> anyhow::Result<()> {
    let (target, key, body) = match what {
        AuthorityCommand::Keygen { out } => {
            let k = crate::keys::create(&out)?;
            println!("authority key written to {}", out.display());
            println!("trust anchor {}", k.public());
            println!(
                "add it to each node's config: [fleet] trust_anchors = [\"{}\"]",
                k.public()
            );
            return Ok(());
        }
        AuthorityCommand::Certify {
            on,
            role,
            name,
            registration,
            mmsi,
            days,
        } => {
            let subject = subject_key(&on.subject)?;
            let most = haiqiao_proto::MAX_TTL_MIN / (24 * 60);
            if days == 0 || days > most {
                bail!(
                    "--days {days}: a certificate lives as long as its record, 1 to {most} days; \
                     renew it before it lapses"
                );
            }
            let now = (crate::clock::now_ms() / 1000) as u32;
            let body = Body::Certificate {
                subject,
                name,
                registration,
                mmsi,
                role: cert_role(&role)?,
                // A day back, so that clocks at sea a little behind still accept it.
                valid_from: Timestamp(now.saturating_sub(86_400)),
                valid_until: Timestamp(now.saturating_add(days.saturating_mul(86_400))),
            };
            (on.target, on.key, body)
        }
        AuthorityCommand::Revoke { on, reason } => {
            let subject = subject_key(&on.subject)?;
            let body = Body::Revocation {
                subject,
                reason: revocation_reason(&reason)?,
            };
            (on.target, on.key, body)
        }
    };
    let key = crate::keys::load(&key)?;
    let r = authority_record(&key, body)?;
    let v = api(&target)?.post(
        "/api/v1/records/import",
        &json!({ "author": key.public().to_string(), "record": hex::encode(r.bytes()) }),
    )?;
    sent(&target, &v)
}

/// A revocation reason from its name.
pub(crate) fn revocation_reason(s: &str) -> anyhow::Result<RevocationReason> {
    Ok(match s {
        "unspecified" => RevocationReason::Unspecified,
        "compromised" => RevocationReason::Compromised,
        "retired" => RevocationReason::Retired,
        "superseded" => RevocationReason::Superseded,
        s => bail!("unknown reason {s:?}: compromised, retired, superseded, unspecified"),
    })
}

/// A role from its name, for certificates.
pub(crate) fn cert_role(s: &str) -> anyhow::Result<Role> {
    match Role::from_name(s) {
        Some(r) => Ok(r),
        None => bail!("unknown role {s:?}: vessel, mediator, shore, authority"),
    }
}
