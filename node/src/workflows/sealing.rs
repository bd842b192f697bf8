//! Private records at the node: what it writes is sealed to the readers docs/protocol.md's
//! table ("Who may read what") names, and what it stores is opened where it is a reader.
//!
//! | written | readers |
//! | --- | --- |
//! | text or pair alert to a node | the author and that node |
//! | text or pair alert to a pair | both boats |
//! | dispute report | the author, the parties with a key, the certified mediators on duty for its category and place, the certified shore stations |
//! | case update, agreement signature | the author, the reporter, the parties with a key, the accepted mediator (until acceptance: the mediators the case was offered to, and an accepting mediator), the certified shore stations |
//! | anything else (positions, distress, certificates, revocations, receipts, pairings, buddy watch, duty; texts to everyone, shore or a group) | public |
//!
//! A reader whose key is revoked is left out; one whose key is not known here cannot be
//! sealed to. A text or pair alert whose addressee's key is unknown (or revoked) is refused
//! (`no_reader_key`): it is never sent in clear. A case record with no reader but its author
//! is refused the same way, except where no trust anchors are configured: without
//! certificates there are no certified mediators or shore stations to seal to, and the node
//! writes case records in clear as before (the open test mode, docs/protocol.md).

use haiqiao_mesh::{Node, Store};
use haiqiao_proto::seal::{self, MAX_RECIPIENTS};
use haiqiao_proto::{Body, Destination, KeyHint, Kind, PublicKey, Record, SealEntropy};

use super::Workflows;
use crate::error::ApiError;

/// Who may read a record about to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Readers {
    /// Written in clear.
    Public,
    /// Sealed to these keys (the author first).
    Sealed(Vec<PublicKey>),
}

impl Workflows {
    /// The readers of a record this node is about to write (the table above).
    pub(crate) fn readers<S: Store>(
        &self,
        now_ms: u64,
        node: &Node<S>,
        dest: &Destination,
        body: &Body,
    ) -> Result<Readers, ApiError> {
        let kind = body.kind();
        if !seal::sealable(kind) {
            return Ok(Readers::Public);
        }
        let me = node.public_key();
        let at = haiqiao_proto::Timestamp((now_ms / 1000) as u32);
        let mut out = vec![me];
        let add = |k: PublicKey, out: &mut Vec<PublicKey>| {
            if !out.contains(&k) && !self.fleet.is_revoked(&k, at) {
                out.push(k);
            }
        };
        let known = |h: &KeyHint| -> Vec<PublicKey> { node.keys_for(*h) };
        match kind {
            Kind::Text | Kind::PairAlert => {
                let named: Vec<KeyHint> = match dest {
                    Destination::Node(h) => vec![*h],
                    Destination::Pair(a, b) => vec![*a, *b],
                    // Broadcasts and groups (no member list exists) stay public.
                    _ => return Ok(Readers::Public),
                };
                for h in named.iter().filter(|h| **h != me.hint()) {
                    let keys = known(h);
                    let before = out.len();
                    for k in keys {
                        add(k, &mut out);
                    }
                    if out.len() == before {
                        return Err(ApiError::NoReaderKey(format!(
                            "no usable key for {h} is known here (never heard, or revoked): \
                             a {} to it is sealed to its key and is not sent in clear",
                            kind.name()
                        )));
                    }
                }
            }
            Kind::DisputeReport => {
                let Body::DisputeReport {
                    category,
                    parties,
                    fix,
                    ..
                } = body
                else {
                    return Ok(Readers::Public);
                };
                for p in parties.iter().filter_map(|p| p.key) {
                    for k in known(&p) {
                        add(k, &mut out);
                    }
                }
                let fix = fix.or_else(|| self.fleet.vessel(&me).and_then(|h| h.fix));
                for k in self.fleet.mediators_for(now_ms, *category, fix.as_ref()) {
                    add(k, &mut out);
                }
                for k in self.fleet.certified_shore(now_ms) {
                    add(k, &mut out);
                }
            }
            Kind::CaseUpdate | Kind::AgreementSignature => {
                let case = match body {
                    Body::CaseUpdate { case, .. } | Body::AgreementSignature { case, .. } => *case,
                    _ => return Ok(Readers::Public),
                };
                if let Some(v) = self.fleet.case(&case) {
                    add(v.reporter, &mut out);
                    for p in v.parties.iter().filter_map(|p| p.key) {
                        for k in known(&p) {
                            add(k, &mut out);
                        }
                    }
                    match v.mediator {
                        Some(m) => add(m, &mut out),
                        // Until acceptance, every mediator offered the case reads (they must
                        // see each other's acceptances).
                        None => {
                            for k in v.offered_to.iter().chain(&v.other_acceptances) {
                                add(*k, &mut out);
                            }
                        }
                    }
                }
                for k in self.fleet.certified_shore(now_ms) {
                    add(k, &mut out);
                }
            }
            _ => return Ok(Readers::Public),
        }
        if out.len() == 1 {
            if !self.fleet.enforces_trust() {
                return Ok(Readers::Public);
            }
            return Err(ApiError::NoReaderKey(format!(
                "no reader of this {} but its author is known here (no party key, certified \
                 mediator or shore station): it is not sent in clear",
                kind.name()
            )));
        }
        // More than 16 readers: the author, the parties and the mediator come first, then
        // shore stations; the rest are left out.
        out.truncate(MAX_RECIPIENTS);
        Ok(Readers::Sealed(out))
    }

    /// Writes a record: sealed to its readers where the table says so, in clear otherwise.
    pub(crate) fn write<S: Store>(
        &self,
        now_ms: u64,
        node: &mut Node<S>,
        dest: Destination,
        ttl_min: u32,
        body: Body,
    ) -> anyhow::Result<Record> {
        match self.readers(now_ms, node, &dest, &body)? {
            Readers::Public => Ok(node.submit(now_ms, dest, ttl_min, body)?),
            Readers::Sealed(readers) => {
                let mut e = [0u8; 48];
                getrandom::fill(&mut e).map_err(|e| anyhow::anyhow!("no entropy: {e}"))?;
                let entropy = SealEntropy::from_bytes(&e);
                Ok(node.submit_sealed(now_ms, dest, ttl_min, body, &readers, &entropy)?)
            }
        }
    }

    /// The record as this node reads it: opened where it is a reader of a sealed record, as it
    /// is otherwise (public, or sealed to others).
    pub(crate) fn view<S: Store>(node: &Node<S>, r: &Record) -> Record {
        if r.kind() == Kind::Sealed {
            if let Ok(o) = node.open(r) {
                return o;
            }
        }
        r.clone()
    }
}
