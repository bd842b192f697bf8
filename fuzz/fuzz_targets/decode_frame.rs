//! Decodes arbitrary bytes as a sync frame. Decoding must never panic, and whatever decodes
//! must encode again to bytes that decode to the same frame (the wire form is canonical, so a
//! peer's frame and ours mean the same thing).
#![no_main]

use haiqiao_proto::wire::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = Frame::decode(data) else {
        return;
    };
    let again = f.encode();
    let g = Frame::decode(&again).expect("an encoded frame decodes");
    assert_eq!(format!("{f:?}"), format!("{g:?}"));
    assert_eq!(g.encode(), again, "encoding is deterministic");
});
