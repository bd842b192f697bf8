//! What the application writes: its own records (plain or sealed) and records signed
//! elsewhere that it imports. Each is stored, indexed, handed on and sent at once, and the
//! caller gets the record or why it was refused.

use haiqiao_proto::{
    Body, Destination, Envelope, Kind, PublicKey, Record, RecordError, RecordId, Timestamp,
    Unverified,
};

use super::Node;
use super::ingest::Source;
use crate::events::MeshError;
use crate::index::Meta;
use crate::routing;
use crate::store::{InsertOutcome, Refusal, Store, StoreError, Summary};

impl<S: Store> Node<S> {
    /// Writes, signs and stores a record of this node's; it is then carried by the mesh.
    pub fn submit(
        &mut self,
        now_ms: u64,
        dest: Destination,
        ttl_min: u32,
        body: Body,
    ) -> Result<Record, MeshError> {
        let env = self.own_envelope(now_ms, dest, ttl_min, body);
        let record = Record::sign(&self.key, env)?;
        self.submit_signed(now_ms, record)
    }

    /// The envelope of this node's next record.
    fn own_envelope(&self, now_ms: u64, dest: Destination, ttl_min: u32, body: Body) -> Envelope {
        Envelope {
            author: self.hint,
            seq: self.next_seq,
            created: Timestamp((now_ms / 1000) as u32),
            ttl_min,
            dest,
            body,
        }
    }

    /// Writes a record sealed to `readers` (haiqiao_proto::seal): like [`Node::submit`], with
    /// the body encrypted to the readers' keys with the caller's fresh `entropy`. Relays carry
    /// it by its readable metadata. The caller checks the readers (1 to 16) and the kind
    /// (sealable); a failure of those checks is returned as an invalid `sealed` field.
    pub fn submit_sealed(
        &mut self,
        now_ms: u64,
        dest: Destination,
        ttl_min: u32,
        body: Body,
        readers: &[PublicKey],
        entropy: &haiqiao_proto::SealEntropy,
    ) -> Result<Record, MeshError> {
        let env = self.own_envelope(now_ms, dest, ttl_min, body);
        let record =
            haiqiao_proto::seal::seal(&self.key, &env, readers, entropy).map_err(|e| match e {
                haiqiao_proto::SealError::Record(r) => MeshError::Record(r),
                _ => MeshError::Record(RecordError::InvalidField {
                    field: "sealed",
                    reason: "not sealable to these readers",
                }),
            })?;
        self.submit_signed(now_ms, record)
    }

    /// Opens a sealed record with this node's key: the record as its author wrote it before
    /// sealing (a view: its bytes and id stay those of the sealed record, as stored and
    /// carried). Fails with `not_recipient` where this node is not a reader.
    pub fn open(&self, r: &Record) -> Result<Record, haiqiao_proto::SealError> {
        haiqiao_proto::seal::open_record(r, &self.key)
    }

    pub(super) fn submit_signed(
        &mut self,
        now_ms: u64,
        record: Record,
    ) -> Result<Record, MeshError> {
        let dest = record.envelope().dest;
        let copies = routing::initial_copies(&self.cfg, &dest);
        let meta = Meta::new(&Summary::of(&record), copies);
        let kept = routing::custodial(&meta, self.me.as_bytes());
        let outcome = self
            .store
            .insert_batch_kept(std::slice::from_ref(&record), &[kept])?
            .pop()
            .unwrap_or(InsertOutcome::Refused(Refusal::StoreFull));
        match outcome {
            InsertOutcome::Stored { evicted } => {
                self.next_seq += 1;
                self.stats.submitted += 1;
                self.stored(now_ms, &record, meta, evicted)?;
                Ok(record)
            }
            InsertOutcome::Duplicate | InsertOutcome::Superseded => {
                self.next_seq += 1;
                Ok(record)
            }
            InsertOutcome::Refused(r) => Err(MeshError::Refused(r)),
        }
    }

    /// Takes in a record signed elsewhere by `author` (an authority's certificate issued on
    /// an offline key, say) as if it had been written here: verified, stored and carried.
    /// Returns the record, or why it was refused.
    ///
    /// A method beside [`Node::submit`], not an [`crate::Input`]: like a write, its caller
    /// (the control API, a mediator ashore) answers with the record or the refusal at once
    /// (HTTP 201, 429, 507), which an input's outputs could only tell it later and out of
    /// band — as quinn-proto's stream writes are calls, not events.
    pub fn import(
        &mut self,
        now_ms: u64,
        author: PublicKey,
        bytes: &[u8],
    ) -> Result<Record, MeshError> {
        let r = Unverified::decode(bytes)?.verify_with_key(&author, now_ms / 1000)?;
        if self.admission.refuses(&r.author()) && r.kind() != Kind::Distress {
            return Err(MeshError::Revoked);
        }
        self.ring.insert(author);
        match self.store.insert(&r)? {
            InsertOutcome::Stored { evicted } => {
                let copies = routing::initial_copies(&self.cfg, &r.envelope().dest);
                self.stored(now_ms, &r, Meta::new(&Summary::of(&r), copies), evicted)?;
                Ok(r)
            }
            InsertOutcome::Duplicate | InsertOutcome::Superseded => Ok(r),
            InsertOutcome::Refused(why) => Err(MeshError::Refused(why)),
        }
    }

    /// A record the application wrote or imported is stored: the records it evicted are
    /// forgotten, it is indexed, handed on and sent.
    fn stored(
        &mut self,
        now_ms: u64,
        r: &Record,
        meta: Meta,
        evicted: Vec<RecordId>,
    ) -> Result<(), StoreError> {
        for e in evicted {
            self.index_drop(&e);
        }
        self.index_add(r.id(), meta, || r.envelope().author);
        self.after_store(now_ms, r, Source::Local)?;
        self.pump_all(now_ms);
        Ok(())
    }
}
