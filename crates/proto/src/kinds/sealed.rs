//! Kind 14, `sealed`: a record of a sealable kind encrypted to its readers ([`crate::seal`],
//! docs/protocol.md §13). Relays see its inner kind, priority and size, not what it says.

use serde_json::{Value as J, json};

use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::seal::{self, SEAL_HINT_LEN, STANZA_LEN, SealEntropy, Sealed, Stanza, WRAPPED_LEN};
use crate::types::*;
use crate::{Envelope, Keypair, RecordError};

/// A sealed record is never sealed again.
pub(super) const SEALED_AS: &[Priority] = &[];

/// The class the author declared, checked against the inner kind when decoded and against
/// the plaintext when opened.
pub(super) fn priority(b: &Body) -> Priority {
    match b {
        Body::Sealed(s) => s.priority,
        _ => Priority::Routine,
    }
}

fn check_shape(
    inner: Kind,
    priority: Priority,
    stanzas: usize,
    ct_len: usize,
) -> Result<(), RecordError> {
    if !seal::sealable(inner) {
        return Err(field_err("sealed.kind", "not a sealable kind"));
    }
    if !seal::priority_allowed(inner, priority) {
        return Err(field_err(
            "sealed.priority",
            "not a priority of the inner kind",
        ));
    }
    if stanzas == 0 || stanzas > seal::MAX_RECIPIENTS {
        return Err(field_err("sealed.stanzas", "must hold 1 to 16 stanzas"));
    }
    if ct_len <= seal::TAG_LEN {
        return Err(field_err("sealed.ciphertext", "shorter than a tag"));
    }
    Ok(())
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::Sealed(s) = b else {
        return Err(other_kind());
    };
    check_shape(s.inner, s.priority, s.stanzas.len(), s.ciphertext.len())?;
    let mut stanzas = Vec::with_capacity(s.stanzas.len() * STANZA_LEN);
    for st in &s.stanzas {
        stanzas.extend_from_slice(&st.hint);
        stanzas.extend_from_slice(&st.wrapped);
    }
    Ok(Item::Array(vec![
        uint(s.inner as u64),
        uint(u64::from(s.priority.code())),
        Item::Bytes(s.ephemeral.to_vec()),
        Item::Bytes(stanzas),
        Item::Bytes(s.ciphertext.clone()),
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "sealed", 5)?.into_iter();
    let inner_n = as_uint(&next(&mut a)?, "sealed.kind", u64::MAX)?;
    let inner = Kind::from_u64(inner_n).ok_or(field_err("sealed.kind", "unknown kind"))?;
    let priority = as_code(&next(&mut a)?, "sealed.priority", Priority::from_code)?;
    let ephemeral = as_bytes::<32>(next(&mut a)?, "sealed.ephemeral")?;
    let raw = match next(&mut a)? {
        In::Bytes(b) => b,
        _ => return Err(field_err("sealed.stanzas", "expected a byte string")),
    };
    if raw.len() % STANZA_LEN != 0 {
        return Err(field_err("sealed.stanzas", "truncated stanza"));
    }
    let ciphertext = match next(&mut a)? {
        In::Bytes(b) => b.to_vec(),
        _ => return Err(field_err("sealed.ciphertext", "expected a byte string")),
    };
    check_shape(inner, priority, raw.len() / STANZA_LEN, ciphertext.len())?;
    let stanzas = raw
        .chunks_exact(STANZA_LEN)
        .map(|c| {
            let mut hint = [0u8; SEAL_HINT_LEN];
            hint.copy_from_slice(&c[..SEAL_HINT_LEN]);
            let mut wrapped = [0u8; WRAPPED_LEN];
            wrapped.copy_from_slice(&c[SEAL_HINT_LEN..]);
            Stanza { hint, wrapped }
        })
        .collect();
    Ok(Body::Sealed(Sealed {
        inner,
        priority,
        ephemeral,
        stanzas,
        ciphertext,
    }))
}

/// For people, what anyone may see of a sealed record (a relay, or a node that is not a
/// reader). Sealed records have their own vectors (examples/gen_sealed_vectors.rs): the wire
/// view points there.
pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::Sealed(s) = b else { return J::Null };
    if form == Form::Wire {
        return json!({ "see": "tests/vectors/sealed.json" });
    }
    json!({
        "inner_kind": s.inner.name(),
        "readers": s.stanzas.len(),
        "ciphertext_len": s.ciphertext.len() })
}

/// A text to `partner` sealed to two fixed sample keys (seeds 0x51.. and 0x52..), with fixed
/// entropy: real ciphertext of the size a sealed text to one boat has.
pub(super) fn sample(s: &Sample) -> Envelope {
    let plain = super::sample(Kind::Text, s);
    let readers = [
        Keypair::from_seed(&[0x51; 32]).public(),
        Keypair::from_seed(&[0x52; 32]).public(),
    ];
    let entropy = SealEntropy::from_bytes(&[0x5e; 48]);
    seal::seal_envelope(&plain, &readers, &entropy).unwrap_or(plain)
}
