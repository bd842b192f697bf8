//! Seeded draws: haiqiao-proto's SplitMix64 (the workspace's one generator), so that the crate
//! needs no random-number crate and every draw is reproducible from the seed the caller gives.

use haiqiao_proto::RecordId;
pub(crate) use haiqiao_proto::rng::SplitMix64;

/// The first 8 bytes of a record id as a number, to mix into a seed.
pub(crate) fn fold_id(id: &RecordId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_id_reads_the_first_eight_bytes_big_endian() {
        let mut id = RecordId([0xff; 16]);
        id.0[..8].copy_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(fold_id(&id), 0x0102);
    }
}
