//! What nodes write ([`Msg`]), what is measured of it ([`Item`]: a record reaching one of its
//! targets), and the records written in answer to deliveries ([`Reactor`]): acknowledgements
//! of a distress by shore and by nearby boats, a case accepted by the first mediator or shore
//! station that receives a dispute, the mediator's proposed agreement and the parties'
//! signatures.
//!
//! Answers depend on when a router delivered, so each router's run has its own answers; the
//! oracle judges every item from its own creation time.

use serde::Serialize;

/// A node's index: shore stations first, then vessels, then mediator boats.
pub type NodeIdx = u32;
/// A message's index in a run.
pub type MsgIdx = u32;

/// A class of measured delivery, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A distress call reaching any shore station.
    Distress,
    /// A distress call reaching one of the nearest boats at the time of the call.
    DistressNearby,
    /// A distress acknowledgement (shore) or response (nearby boat) reaching the caller.
    DistressAck,
    /// A pair alert reaching the partner boat.
    PairAlert,
    /// A report addressed to shore (any shore station) reaching it.
    ShoreBound,
    /// A dispute report or agreement signature reaching a mediator or shore station.
    Dispute,
    /// A mediator's case update reaching a party.
    Case,
    /// A position reaching shore (the fleet map).
    Position,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 8] = [
        Class::Distress,
        Class::DistressNearby,
        Class::DistressAck,
        Class::PairAlert,
        Class::ShoreBound,
        Class::Dispute,
        Class::Case,
        Class::Position,
    ];

    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Distress => "distress",
            Class::DistressNearby => "distress_nearby",
            Class::DistressAck => "distress_ack",
            Class::PairAlert => "pair_alert",
            Class::ShoreBound => "shore_bound",
            Class::Dispute => "dispute",
            Class::Case => "case",
            Class::Position => "position",
        }
    }

    /// Send order for the baselines: the same classes as the engine's priorities.
    pub fn priority(self) -> u8 {
        match self {
            Class::Distress | Class::DistressNearby | Class::DistressAck => 0,
            Class::PairAlert => 1,
            Class::Dispute | Class::Case => 3,
            Class::ShoreBound | Class::Position => 4,
        }
    }
}

/// Where an item counts as delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Any shore station.
    Shore,
    /// One node.
    Node(NodeIdx),
    /// Any mediator boat or shore station.
    Mediation,
}

/// What a message is.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A position fix, to everyone; `measured` says whether its reaching shore is an item.
    Position {
        /// Whether delivery to shore is measured.
        measured: bool,
    },
    /// A pair alert to the partner.
    PairAlert {
        /// The partner.
        partner: NodeIdx,
    },
    /// A distress call, to everyone.
    Distress {
        /// The nearest boats at the time of the call.
        nearby: Vec<NodeIdx>,
    },
    /// A report to shore.
    Report,
    /// A dispute report, to the mediators of an area.
    Dispute {
        /// The other party.
        other: NodeIdx,
        /// The area (the ground).
        area: u32,
    },
    /// A distress update answering a distress, to everyone.
    DistressAck {
        /// The distress.
        distress: MsgIdx,
        /// The distress's author.
        caller: NodeIdx,
        /// Whether from a shore station (acknowledged) or a boat (responding).
        shore: bool,
    },
    /// A case accepted (sent to the filer).
    CaseAccepted {
        /// The dispute.
        dispute: MsgIdx,
        /// The filer.
        to: NodeIdx,
    },
    /// A proposed agreement (sent to one party).
    Proposal {
        /// The dispute.
        dispute: MsgIdx,
        /// The party.
        to: NodeIdx,
    },
    /// A party's signature on the agreement, to the mediators of the area.
    Signature {
        /// The dispute.
        dispute: MsgIdx,
        /// The area.
        area: u32,
    },
    /// A repeat of an unacknowledged distress (the application's, `app`): counted as distress
    /// traffic; reaching a target counts as the call reaching it.
    DistressRepeat {
        /// The call it repeats.
        distress: MsgIdx,
    },
    /// A buddy-watch report to shore (the application's): a partner silent too long, or
    /// heard again.
    BuddyReport,
    /// A mediator's proposed agreement as the application writes it: one record for both
    /// parties.
    AgreementProposed {
        /// The dispute.
        dispute: MsgIdx,
        /// The reporter and the other party.
        parties: [NodeIdx; 2],
    },
}

/// Something a node writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Msg {
    /// The author.
    pub src: NodeIdx,
    /// Creation time, ms since the start of the run.
    pub created_ms: u64,
    /// Time to live, minutes.
    pub ttl_min: u32,
    /// What it is.
    pub what: What,
}

/// One measured delivery: a message reaching one of its targets.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    /// The message.
    pub msg: MsgIdx,
    /// The class it is reported under.
    pub class: Class,
    /// Where it counts as delivered.
    pub target: Target,
}

impl Msg {
    /// A message `src` writes at `t` (ms since the start).
    pub fn now(src: NodeIdx, t: u64, ttl_min: u32, what: What) -> Msg {
        Msg {
            src,
            created_ms: t,
            ttl_min,
            what,
        }
    }

    /// The class the message's transmissions are counted under.
    pub fn class(&self) -> Class {
        match &self.what {
            What::Position { .. } => Class::Position,
            What::PairAlert { .. } => Class::PairAlert,
            What::Distress { .. } | What::DistressRepeat { .. } => Class::Distress,
            What::Report | What::BuddyReport => Class::ShoreBound,
            What::Dispute { .. } | What::Signature { .. } => Class::Dispute,
            What::DistressAck { .. } => Class::DistressAck,
            What::CaseAccepted { .. } | What::Proposal { .. } | What::AgreementProposed { .. } => {
                Class::Case
            }
        }
    }

    /// The measured items of message `idx`.
    pub fn items(&self, idx: MsgIdx, out: &mut Vec<Item>) {
        let mut push = |class, target| {
            out.push(Item {
                msg: idx,
                class,
                target,
            })
        };
        match &self.what {
            What::Position { measured } => {
                if *measured {
                    push(Class::Position, Target::Shore)
                }
            }
            What::PairAlert { partner } => push(Class::PairAlert, Target::Node(*partner)),
            What::Distress { nearby } => {
                push(Class::Distress, Target::Shore);
                for n in nearby {
                    push(Class::DistressNearby, Target::Node(*n));
                }
            }
            What::Report | What::BuddyReport => push(Class::ShoreBound, Target::Shore),
            What::DistressRepeat { .. } => {}
            What::AgreementProposed { parties, .. } => {
                for p in parties {
                    push(Class::Case, Target::Node(*p))
                }
            }
            What::Dispute { .. } | What::Signature { .. } => {
                push(Class::Dispute, Target::Mediation)
            }
            What::DistressAck { caller, .. } => push(Class::DistressAck, Target::Node(*caller)),
            What::CaseAccepted { to, .. } | What::Proposal { to, .. } => {
                push(Class::Case, Target::Node(*to))
            }
        }
    }

    /// The message's deadline, ms since the start: records carry whole seconds, and a record
    /// whose expiry second has come is refused everywhere.
    pub fn deadline_ms(&self, epoch_s: u64) -> u64 {
        let created_s = epoch_s + self.created_ms / 1000;
        (created_s + u64::from(self.ttl_min) * 60 - epoch_s) * 1000
    }
}

/// The kind of each node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A shore station.
    Shore,
    /// A fishing vessel.
    Vessel,
    /// A mediator boat.
    Mediator,
}

/// Whether `node` of kind `kind` is a target.
pub fn is_target(target: Target, node: NodeIdx, kind: NodeKind) -> bool {
    match target {
        Target::Shore => kind == NodeKind::Shore,
        Target::Node(n) => n == node,
        Target::Mediation => kind != NodeKind::Vessel,
    }
}

/// A mediation case's progress in one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Case {
    /// When the dispute reached a mediator or shore station (accepted), ms since the start.
    pub accepted_ms: Option<u64>,
    /// Signatures received so far.
    pub signatures: u8,
    /// When the last signature arrived (closed), ms since the start.
    pub closed_ms: Option<u64>,
}

/// Answers to deliveries, shared by every router.
#[derive(Debug)]
pub struct Reactor {
    mediation_ms: u64,
    shore_acked: Vec<bool>,
    /// Mediation cases by dispute message.
    pub cases: std::collections::BTreeMap<MsgIdx, Case>,
}

/// A distress update, case update or signature lives this long, minutes.
pub const ANSWER_TTL_MIN: u32 = 7 * 24 * 60;
/// Case records live this long, minutes.
pub const CASE_TTL_MIN: u32 = 30 * 24 * 60;

impl Reactor {
    /// A reactor for a run.
    pub fn new(mediation_h: f64) -> Reactor {
        Reactor {
            mediation_ms: (mediation_h * 3_600_000.0).round() as u64,
            shore_acked: Vec::new(),
            cases: Default::default(),
        }
    }

    /// Item `item` of `msgs[item.msg]` reached `node` at `t`: the messages written in answer.
    pub fn on_delivered(&mut self, msgs: &[Msg], item: &Item, node: NodeIdx, t: u64) -> Vec<Msg> {
        let m = &msgs[item.msg as usize];
        let mut out = Vec::new();
        match (&m.what, item.class) {
            (What::Distress { .. }, Class::Distress) => {
                let i = item.msg as usize;
                if self.shore_acked.len() <= i {
                    self.shore_acked.resize(i + 1, false);
                }
                if !self.shore_acked[i] {
                    self.shore_acked[i] = true;
                    out.push(Msg {
                        src: node,
                        created_ms: t,
                        ttl_min: ANSWER_TTL_MIN,
                        what: What::DistressAck {
                            distress: item.msg,
                            caller: m.src,
                            shore: true,
                        },
                    });
                }
            }
            (What::Distress { .. }, Class::DistressNearby) => out.push(Msg {
                src: node,
                created_ms: t,
                ttl_min: ANSWER_TTL_MIN,
                what: What::DistressAck {
                    distress: item.msg,
                    caller: m.src,
                    shore: false,
                },
            }),
            (What::Dispute { other, .. }, _) => {
                let case = self.cases.entry(item.msg).or_default();
                if case.accepted_ms.is_none() {
                    case.accepted_ms = Some(t);
                    out.push(Msg {
                        src: node,
                        created_ms: t,
                        ttl_min: CASE_TTL_MIN,
                        what: What::CaseAccepted {
                            dispute: item.msg,
                            to: m.src,
                        },
                    });
                    for to in [m.src, *other] {
                        out.push(Msg {
                            src: node,
                            created_ms: t + self.mediation_ms,
                            ttl_min: CASE_TTL_MIN,
                            what: What::Proposal {
                                dispute: item.msg,
                                to,
                            },
                        });
                    }
                }
            }
            (What::Proposal { dispute, to }, _) => {
                if let What::Dispute { area, .. } = msgs[*dispute as usize].what {
                    out.push(Msg {
                        src: *to,
                        created_ms: t,
                        ttl_min: CASE_TTL_MIN,
                        what: What::Signature {
                            dispute: *dispute,
                            area,
                        },
                    });
                }
            }
            (What::Signature { dispute, .. }, _) => {
                let case = self.cases.entry(*dispute).or_default();
                case.signatures += 1;
                if case.signatures == 2 {
                    case.closed_ms = Some(t);
                }
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(what: What) -> Msg {
        Msg {
            src: 5,
            created_ms: 1000,
            ttl_min: 60,
            what,
        }
    }

    #[test]
    fn distress_is_acknowledged_once_by_shore_and_by_each_nearby_boat() {
        let msgs = vec![msg(What::Distress { nearby: vec![6, 7] })];
        let mut items = Vec::new();
        msgs[0].items(0, &mut items);
        assert_eq!(items.len(), 3);
        let mut r = Reactor::new(1.0);
        assert_eq!(r.on_delivered(&msgs, &items[0], 0, 2000).len(), 1);
        assert_eq!(r.on_delivered(&msgs, &items[0], 1, 2500).len(), 0);
        let a = r.on_delivered(&msgs, &items[1], 6, 3000);
        assert_eq!(a.len(), 1);
        assert!(matches!(
            a[0].what,
            What::DistressAck {
                caller: 5,
                shore: false,
                ..
            }
        ));
        assert_eq!(a[0].src, 6);
    }

    #[test]
    fn a_dispute_runs_from_acceptance_to_two_signatures() {
        let mut msgs = vec![msg(What::Dispute { other: 9, area: 2 })];
        let mut r = Reactor::new(2.0);
        let item = Item {
            msg: 0,
            class: Class::Dispute,
            target: Target::Mediation,
        };
        let answers = r.on_delivered(&msgs, &item, 3, 10_000);
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[2].created_ms, 10_000 + 7_200_000);
        assert!(r.on_delivered(&msgs, &item, 4, 11_000).is_empty());
        msgs.extend(answers);
        let mut sigs = Vec::new();
        for p in [2usize, 3] {
            let it = Item {
                msg: p as u32,
                class: Class::Case,
                target: Target::Node(0),
            };
            sigs.extend(r.on_delivered(&msgs, &it, 0, 20_000));
        }
        assert_eq!(sigs.len(), 2);
        let base = msgs.len();
        msgs.extend(sigs);
        for s in base..msgs.len() {
            let it = Item {
                msg: s as u32,
                class: Class::Dispute,
                target: Target::Mediation,
            };
            r.on_delivered(&msgs, &it, 3, 30_000 + s as u64);
        }
        let case = r.cases[&0];
        assert_eq!(case.accepted_ms, Some(10_000));
        assert_eq!(case.closed_ms, Some(30_000 + base as u64 + 1));
    }

    #[test]
    fn deadline_counts_whole_seconds() {
        let m = Msg {
            src: 0,
            created_ms: 1_999,
            ttl_min: 1,
            what: What::Report,
        };
        assert_eq!(m.deadline_ms(1_000), 61_000);
    }
}
