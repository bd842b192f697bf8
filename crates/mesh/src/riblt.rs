//! Rateless invertible Bloom lookup tables for set reconciliation.
//!
//! After Lei Yang, Yossi Gilad and Mohammad Alizadeh, "Practical Rateless Set Reconciliation"
//! (SIGCOMM 2024, arXiv:2402.02668), reference code github.com/yangl1996/riblt. One side
//! streams coded symbols of its set; the other subtracts the symbols of its own set and peels
//! the result, learning the symmetric difference after about 1.35–1.7 symbols per differing
//! element, whatever the size of the sets and without knowing the difference in advance.
//!
//! haiqiao's variant, chosen for thin links:
//! - elements are 56-bit short ids (the first 7 bytes of a record id, already uniform);
//! - a coded symbol is 11 bytes: the XOR of its elements and the XOR of their 32-bit
//!   checksums. There is no count field: the decoder tells which side an element is on by
//!   looking it up in its own set, and a symbol is pure when its checksum matches its key;
//! - element `e` maps to coded symbol `i` with probability 1/(1 + i/2), by the paper's mapping
//!   (index 0 always; then `last += ceil((last + 1.5) * (2^32 / sqrt(r + 1) - 1))` with
//!   `r` the next state of a multiplicative generator seeded with `e`).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// Bytes of one coded symbol on the wire.
pub const SYMBOL_LEN: usize = 11;
/// Bytes of an element on the wire.
const KEY_LEN: usize = 7;

/// A coded symbol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Symbol {
    /// XOR of the elements mapped here.
    pub key: u64,
    /// XOR of their checksums.
    pub check: u32,
}

impl Symbol {
    fn add(&mut self, e: u64) {
        self.key ^= e;
        self.check ^= checksum(e);
    }

    fn is_zero(&self) -> bool {
        self.key == 0 && self.check == 0
    }

    fn is_pure(&self) -> bool {
        self.key != 0 && checksum(self.key) == self.check
    }

    /// Big-endian wire form: key (7 bytes; elements are below 2^56) then check (4 bytes).
    pub fn to_bytes(&self) -> [u8; SYMBOL_LEN] {
        let mut b = [0u8; SYMBOL_LEN];
        b[..KEY_LEN].copy_from_slice(&self.key.to_be_bytes()[8 - KEY_LEN..]);
        b[KEY_LEN..].copy_from_slice(&self.check.to_be_bytes());
        b
    }

    /// Parses the wire form.
    pub fn from_bytes(b: &[u8; SYMBOL_LEN]) -> Symbol {
        let mut k = [0u8; 8];
        k[8 - KEY_LEN..].copy_from_slice(&b[..KEY_LEN]);
        let mut c = [0u8; 4];
        c.copy_from_slice(&b[KEY_LEN..]);
        Symbol {
            key: u64::from_be_bytes(k),
            check: u32::from_be_bytes(c),
        }
    }
}

/// 32-bit checksum of an element (splitmix64 finaliser, high half).
pub fn checksum(e: u64) -> u32 {
    let mut z = e.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 32) as u32
}

/// The sequence of symbol indices an element maps to.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    prng: u64,
    last: u64,
}

impl Mapping {
    fn new(e: u64) -> Mapping {
        // Seed with a mix of the element so that the generator state is never trivially small.
        Mapping {
            prng: u64::from(checksum(e)) << 32 | u64::from(checksum(!e)),
            last: 0,
        }
    }

    fn next_index(&mut self) -> u64 {
        let r = self.prng.wrapping_mul(0xda94_2042_e4dd_58b5);
        self.prng = r;
        let step = ((self.last as f64 + 1.5)
            * ((4_294_967_296.0) / ((r as f64) + 1.0).sqrt() - 1.0))
            .ceil();
        // Saturate: a huge step just means "never again".
        let step = if step.is_finite() && step < 1.8e19 {
            step as u64
        } else {
            u64::MAX
        };
        self.last = self.last.saturating_add(step.max(1));
        self.last
    }
}

/// Produces coded symbols of a fixed set, in index order.
#[derive(Debug, Clone)]
pub struct Encoder {
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>, // (next index, element, prng state)
    next: u64,
}

impl Encoder {
    /// An encoder over `elements` (zero is skipped: it is the XOR identity).
    pub fn new(elements: impl IntoIterator<Item = u64>) -> Encoder {
        let mut heap = BinaryHeap::new();
        for e in elements {
            if e != 0 {
                let m = Mapping::new(e);
                heap.push(Reverse((0, e, m.prng)));
            }
        }
        Encoder { heap, next: 0 }
    }

    /// Adds an element whose first index is at or after the next symbol to be produced.
    fn add_from(&mut self, e: u64, from: u64) {
        let mut m = Mapping::new(e);
        let mut idx = 0;
        while idx < from {
            idx = m.next_index();
        }
        self.heap.push(Reverse((idx, e, m.prng)));
    }

    /// Index of the next symbol.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Produces the next coded symbol.
    pub fn next_symbol(&mut self) -> Symbol {
        let i = self.next;
        let mut s = Symbol::default();
        while let Some(Reverse((idx, e, prng))) = self.heap.peek().copied() {
            if idx != i {
                break;
            }
            self.heap.pop();
            s.add(e);
            let mut m = Mapping { prng, last: idx };
            let n = m.next_index();
            if n != u64::MAX {
                self.heap.push(Reverse((n, e, m.prng)));
            }
        }
        self.next += 1;
        s
    }
}

/// Which side of the difference a decoded element is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Only the remote (streaming) side has it.
    Remote,
    /// Only this (decoding) side has it.
    Local,
}

/// Receives a remote set's coded symbols and recovers the symmetric difference with the
/// local set.
#[derive(Debug)]
pub struct Decoder {
    local: Encoder,
    local_set: BTreeSet<u64>,
    decoded_enc: Encoder,
    cells: Vec<Symbol>,
    pending: Vec<usize>,
    nonzero: usize,
    decoded: Vec<(u64, Side)>,
    max_symbols: usize,
}

impl Decoder {
    /// A decoder against the local set; gives up (see [`Decoder::exhausted`]) after
    /// `max_symbols` symbols.
    pub fn new(local: impl IntoIterator<Item = u64>, max_symbols: usize) -> Decoder {
        let local_set: BTreeSet<u64> = local.into_iter().filter(|e| *e != 0).collect();
        Decoder {
            local: Encoder::new(local_set.iter().copied()),
            local_set,
            decoded_enc: Encoder::new([]),
            cells: Vec::new(),
            pending: Vec::new(),
            nonzero: 0,
            decoded: Vec::new(),
            max_symbols,
        }
    }

    /// Symbols received so far.
    pub fn received(&self) -> usize {
        self.cells.len()
    }

    /// Whether the limit of symbols has been reached without decoding.
    pub fn exhausted(&self) -> bool {
        !self.is_done() && self.cells.len() >= self.max_symbols
    }

    /// Whether every received symbol has been peeled to zero: the difference is fully known
    /// (with overwhelming probability once at least one symbol has been received).
    pub fn is_done(&self) -> bool {
        !self.cells.is_empty() && self.nonzero == 0
    }

    /// Adds the next remote symbol (symbols must arrive in index order) and peels.
    pub fn add_symbol(&mut self, remote: Symbol) {
        if self.cells.len() >= self.max_symbols {
            return;
        }
        let own = self.local.next_symbol();
        let dec = self.decoded_enc.next_symbol();
        let c = Symbol {
            key: remote.key ^ own.key ^ dec.key,
            check: remote.check ^ own.check ^ dec.check,
        };
        let i = self.cells.len();
        self.cells.push(c);
        if !c.is_zero() {
            self.nonzero += 1;
            if c.is_pure() {
                self.pending.push(i);
            }
        }
        self.peel();
    }

    fn peel(&mut self) {
        while let Some(i) = self.pending.pop() {
            let c = self.cells[i];
            if !c.is_pure() {
                continue;
            }
            let e = c.key;
            let side = if self.local_set.contains(&e) {
                Side::Local
            } else {
                Side::Remote
            };
            self.decoded.push((e, side));
            // Remove e from every received cell it maps to.
            let mut m = Mapping::new(e);
            let mut idx = 0u64;
            let n = self.cells.len() as u64;
            while idx < n {
                let cell = &mut self.cells[idx as usize];
                let was_zero = cell.is_zero();
                cell.add(e);
                match (was_zero, cell.is_zero()) {
                    (false, true) => self.nonzero -= 1,
                    (true, false) => self.nonzero += 1,
                    _ => {}
                }
                if cell.is_pure() {
                    self.pending.push(idx as usize);
                }
                idx = m.next_index();
            }
            // And from every cell still to come.
            self.decoded_enc.add_from(e, n);
        }
    }

    /// Elements decoded so far and their side, in decoding order; drains them.
    pub fn take_decoded(&mut self) -> Vec<(u64, Side)> {
        std::mem::take(&mut self.decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) >> 8
    }

    fn reconcile(common: usize, only_remote: usize, only_local: usize, seed: u64) -> usize {
        let mut s = seed;
        let shared: Vec<u64> = (0..common).map(|_| splitmix(&mut s)).collect();
        let r_only: Vec<u64> = (0..only_remote).map(|_| splitmix(&mut s)).collect();
        let l_only: Vec<u64> = (0..only_local).map(|_| splitmix(&mut s)).collect();
        let mut enc = Encoder::new(shared.iter().chain(&r_only).copied());
        let mut dec = Decoder::new(shared.iter().chain(&l_only).copied(), 100_000);
        let mut got = Vec::new();
        while !dec.is_done() {
            dec.add_symbol(enc.next_symbol());
            got.extend(dec.take_decoded());
            assert!(!dec.exhausted(), "seed {seed}: did not decode");
        }
        let mut remote: Vec<u64> = got
            .iter()
            .filter(|(_, s)| *s == Side::Remote)
            .map(|(e, _)| *e)
            .collect();
        let mut local: Vec<u64> = got
            .iter()
            .filter(|(_, s)| *s == Side::Local)
            .map(|(e, _)| *e)
            .collect();
        remote.sort_unstable();
        local.sort_unstable();
        let mut want_r = r_only.clone();
        want_r.sort_unstable();
        let mut want_l = l_only.clone();
        want_l.sort_unstable();
        assert_eq!(remote, want_r, "seed {seed}");
        assert_eq!(local, want_l, "seed {seed}");
        dec.received()
    }

    #[test]
    fn equal_sets_decode_after_one_symbol() {
        assert_eq!(reconcile(1000, 0, 0, 1), 1);
    }

    #[test]
    fn finds_the_difference_both_ways() {
        for seed in 0..20 {
            println!("seed {seed}");
            reconcile(2000, seed as usize % 7, (seed as usize * 3) % 11, seed);
        }
    }

    #[test]
    fn overhead_is_near_the_papers_for_large_differences() {
        let d = 2000;
        let m = reconcile(5000, d, 0, 42);
        let ratio = m as f64 / d as f64;
        assert!(ratio < 1.6, "{m} symbols for {d} differences ({ratio:.2})");
    }

    #[test]
    fn symbols_round_trip_through_bytes() {
        let s = Symbol {
            key: 0x0002_0304_0506_0708,
            check: 0x0a0b_0c0d,
        };
        assert_eq!(Symbol::from_bytes(&s.to_bytes()), s);
    }
}
