//! The `Store` trait: what the engine needs from storage, and the contract every store keeps.
//!
//! Two implementations pass one conformance suite ([`conformance`], behind the `conformance`
//! feature): [`MemStore`] here (for the simulator and tests) and `haiqiao_store::SledStore`
//! (durable, for the daemon).
//!
//! # The contract
//!
//! - **Durability.** Once [`Store::insert`] or [`Store::insert_batch`] returns `Ok`, every record
//!   it reports as [`InsertOutcome::Stored`] survives a crash of the process or the machine
//!   (for a durable store). The engine acknowledges custody only after that.
//! - **Idempotence.** Inserting a record already held changes nothing and reports
//!   [`InsertOutcome::Duplicate`].
//! - **Nothing stored is lost to bad input.** Errors are typed; a failed insert leaves what was
//!   stored before untouched.
//! - **Bounded.** The store holds at most [`StoreLimits::max_bytes`] bytes of records and at most
//!   [`StoreLimits::max_author_bytes`] per author. To make room it evicts by priority: the
//!   lowest class first, oldest first within a class. A record is evicted only for an incoming
//!   record of a higher class, or of the same class and newer; a distress-class record is never
//!   evicted to make room for anything (it leaves by expiry or by [`Store::remove`]).
//! - **Kept records.** A record the engine answers for ([`Store::set_kept`]: it wrote it, or
//!   took custody of it and it has not reached its destination) is evicted only to make room
//!   for a record of a higher class: records not kept go first, and an incoming record that
//!   finds only kept records of its class or higher is refused ([`Refusal::StoreFull`],
//!   [`Refusal::AuthorQuota`]) rather than evicting an acknowledged record. Marks live in
//!   memory only: whoever opens a store marks again (the engine does in `Node::new`).
//! - **Positions supersede.** Per author the store keeps the newest [`StoreLimits::track_len`]
//!   positions (by creation time, then sequence number); an older one is dropped
//!   ([`InsertOutcome::Superseded`]) and the oldest of a full track is evicted by a newer one.
//! - **Size accounting** counts a record's encoded length.
//!
//! Where the contract says "oldest" or "newest", records are ordered by creation time, then
//! sequence number, then id, so every store answers the same. An insert decides in this order:
//! [`InsertOutcome::Duplicate`], [`Refusal::TooLarge`], [`InsertOutcome::Superseded`], then room
//! under the author quota ([`Refusal::AuthorQuota`]) and in the store ([`Refusal::StoreFull`]);
//! it is all or nothing (a refused record evicts nothing, a superseded one changes nothing).

mod index;
mod memory;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use index::{StoreIndex, UNPLACED};
pub use memory::{IndexedStore, MemStore, Records};

use haiqiao_proto::{
    Destination, Kind, Priority, PublicKey, Record, RecordError, RecordId, Timestamp,
};

/// Limits of a store. Plain data; the node's TOML nests it as `[store]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreLimits {
    /// Most bytes of records held (default 256 MiB).
    pub max_bytes: u64,
    /// Most bytes of records held per author (default 8 MiB).
    pub max_author_bytes: u64,
    /// Positions kept per vessel: the newest and a track behind it (default 64).
    pub track_len: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_bytes: 256 * 1024 * 1024,
            max_author_bytes: 8 * 1024 * 1024,
            track_len: 64,
        }
    }
}

/// What happened to one inserted record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored (durably, for a durable store); these records were evicted to make room.
    Stored {
        /// Records removed to make room, lowest class and oldest first.
        evicted: Vec<RecordId>,
    },
    /// Already held; nothing changed.
    Duplicate,
    /// A position older than every one in the author's full track: not kept.
    Superseded,
    /// Not stored: no room could be made under the eviction rules.
    Refused(Refusal),
}

impl InsertOutcome {
    /// Whether the store holds the record after the insert.
    pub fn is_held(&self) -> bool {
        matches!(
            self,
            InsertOutcome::Stored { .. } | InsertOutcome::Duplicate
        )
    }
}

/// Why a record was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The store is full of records of the same or higher class, or of kept records (not yet
    /// delivered) of any class but a lower one.
    StoreFull,
    /// The author's quota is full of its records of the same or higher class, or of its kept
    /// records.
    AuthorQuota,
    /// The record alone is larger than the author quota or the store.
    TooLarge,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::StoreFull => {
                "the store is full of records not yet delivered (or of higher priority); \
                 try again once some are delivered or expire"
            }
            Refusal::AuthorQuota => {
                "the author's share of the store is full of its records not yet delivered; \
                 write less often, or wait until some are delivered"
            }
            Refusal::TooLarge => "the record is larger than the store or the author's quota",
        })
    }
}

impl Refusal {
    /// A stable lowercase code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::StoreFull => "store_full",
            Refusal::AuthorQuota => "author_quota",
            Refusal::TooLarge => "too_large",
        }
    }
}

/// A compact description of a stored record, enough to plan sync and forwarding without
/// reading the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Record id.
    pub id: RecordId,
    /// Author's full key.
    pub author: PublicKey,
    /// Author's sequence number.
    pub seq: u64,
    /// Kind.
    pub kind: Kind,
    /// Priority class.
    pub priority: Priority,
    /// Creation time.
    pub created: Timestamp,
    /// Expiry, seconds since the epoch.
    pub expiry: u64,
    /// Destination.
    pub dest: Destination,
    /// Encoded length in bytes.
    pub len: u32,
}

impl Summary {
    /// Summarises a record.
    pub fn of(r: &Record) -> Summary {
        let e = r.envelope();
        Summary {
            id: r.id(),
            author: r.author(),
            seq: e.seq,
            kind: r.kind(),
            priority: r.priority(),
            created: e.created,
            expiry: r.expiry(),
            dest: e.dest,
            len: r.len() as u32,
        }
    }
}

/// How full a store is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Records held.
    pub records: u64,
    /// Bytes of records held.
    pub bytes: u64,
}

/// Storage failures (not refusals, which are [`InsertOutcome::Refused`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying storage failed.
    #[error("storage i/o: {0}")]
    Io(String),
    /// Stored data could not be read back.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// A stored record no longer decodes.
    #[error("stored record does not decode: {0}")]
    Record(#[from] RecordError),
    /// The store was written by a newer haiqiao.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found on disk.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
}

/// Storage of verified records. See the module docs for the contract.
pub trait Store {
    /// Inserts one verified record. See [`InsertOutcome`]; durable once `Ok` is returned.
    fn insert(&mut self, record: &Record) -> Result<InsertOutcome, StoreError>;

    /// Inserts many records with one durable commit; outcomes are in input order. Equivalent
    /// to inserting them one by one in order.
    fn insert_batch(&mut self, records: &[Record]) -> Result<Vec<InsertOutcome>, StoreError>;

    /// Inserts many records as [`Store::insert_batch`] does, marking each one stored kept if
    /// `kept[i]` says so (before the next is inserted: a record of the batch is never evicted
    /// for a later one of its class).
    fn insert_batch_kept(
        &mut self,
        records: &[Record],
        kept: &[bool],
    ) -> Result<Vec<InsertOutcome>, StoreError>;

    /// Marks a held record kept (evicted only to make room for a higher class) or not;
    /// returns whether it is held. In memory only (see the contract).
    fn set_kept(&mut self, id: &RecordId, kept: bool) -> bool;

    /// Whether a held record is kept.
    fn is_kept(&self, id: &RecordId) -> bool;

    /// The record with this id.
    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError>;

    /// Whether the record is held.
    fn contains(&self, id: &RecordId) -> Result<bool, StoreError>;

    /// Removes a record (a shore receipt freed it, or it was resolved). Returns whether it was
    /// held. Durable once returned.
    fn remove(&mut self, id: &RecordId) -> Result<bool, StoreError>;

    /// The record an author wrote with this sequence number (if an author reused a number,
    /// the one with the lowest id).
    fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Result<Option<Record>, StoreError>;

    /// Records of a kind created in `[from, to]`, oldest first, at most `limit`.
    fn by_kind(
        &self,
        kind: Kind,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError>;

    /// Records for a destination, oldest first, at most `limit`.
    fn by_destination(&self, dest: &Destination, limit: usize) -> Result<Vec<Record>, StoreError>;

    /// The newest position of each vessel, in order of the vessels' keys.
    fn latest_positions(&self) -> Result<Vec<Record>, StoreError>;

    /// A vessel's kept positions, newest first.
    fn track(&self, author: &PublicKey) -> Result<Vec<Record>, StoreError>;

    /// Removes every record whose expiry is at or before `now`; returns their ids, soonest
    /// expiry first (then by id). Durable once returned.
    fn sweep_expired(&mut self, now: u64) -> Result<Vec<RecordId>, StoreError>;

    /// A summary of every record held, in id order.
    fn summaries(&self) -> Result<Vec<Summary>, StoreError>;

    /// How full the store is.
    fn usage(&self) -> Usage;

    /// How much of the store one author's records take (what [`StoreLimits::max_author_bytes`]
    /// bounds).
    fn author_usage(&self, author: &PublicKey) -> Usage;

    /// The limits the store enforces.
    fn limits(&self) -> &StoreLimits;
}
