//! NMEA 0183 sentence framing (IEC 61162-1): `$` or `!`, talker and type, comma-separated
//! fields, `*hh` and CR LF, at most 82 characters. The checksum is the XOR of every byte
//! between the start character and the `*`, as two upper-case hex digits.
//!
//! Written by hand: what we emit is a few lines of framing, and the `nmea` crate (which parses
//! what we read) has no writer.

use thiserror::Error;

/// The longest sentence allowed, start character to LF included.
pub const MAX_SENTENCE: usize = 82;

/// Why a line is not a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SentenceError {
    /// It does not start with `$` or `!`.
    #[error("not a sentence: no $ or ! at the start")]
    NoStart,
    /// It has no `*hh` checksum.
    #[error("no checksum")]
    NoChecksum,
    /// The checksum does not match.
    #[error("bad checksum: sent {sent:02X}, computed {computed:02X}")]
    BadChecksum {
        /// What the sentence says.
        sent: u8,
        /// What its bytes give.
        computed: u8,
    },
    /// Longer than [`MAX_SENTENCE`].
    #[error("sentence of {0} bytes, longer than 82")]
    TooLong(usize),
    /// Not printable ASCII.
    #[error("sentence is not printable ASCII")]
    NotAscii,
}

/// XOR of the bytes.
pub fn checksum(body: &[u8]) -> u8 {
    body.iter().fold(0, |c, b| c ^ b)
}

/// Frames `body` (talker, type and fields, without start or checksum) as a sentence starting
/// with `start` (`'$'` or `'!'`), ending in CR LF.
pub fn frame(start: char, body: &str) -> String {
    format!("{start}{body}*{:02X}\r\n", checksum(body.as_bytes()))
}

/// A checked sentence: its body (between the start character and the `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sentence<'a> {
    /// `$` or `!`.
    pub start: char,
    /// Talker (2 characters, e.g. GP, GN, BD) and type, then the fields.
    pub body: &'a str,
}

impl<'a> Sentence<'a> {
    /// Checks the framing and checksum of one line (CR LF or surrounding blanks allowed).
    pub fn parse(line: &'a str) -> Result<Sentence<'a>, SentenceError> {
        let line = line.trim();
        if line.len() > MAX_SENTENCE {
            return Err(SentenceError::TooLong(line.len()));
        }
        if !line.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(SentenceError::NotAscii);
        }
        let start = match line.as_bytes().first() {
            Some(b'$') => '$',
            Some(b'!') => '!',
            _ => return Err(SentenceError::NoStart),
        };
        let (body, sum) = line[1..]
            .rsplit_once('*')
            .ok_or(SentenceError::NoChecksum)?;
        let sent = u8::from_str_radix(sum, 16).map_err(|_| SentenceError::NoChecksum)?;
        if sum.len() != 2 {
            return Err(SentenceError::NoChecksum);
        }
        let computed = checksum(body.as_bytes());
        if sent != computed {
            return Err(SentenceError::BadChecksum { sent, computed });
        }
        Ok(Sentence { start, body })
    }

    /// The talker id (2 characters), if the body has one.
    pub fn talker(&self) -> &'a str {
        self.body.get(..2).unwrap_or("")
    }

    /// The sentence type (3 characters after the talker), e.g. `RMC`.
    pub fn kind(&self) -> &'a str {
        self.body.get(2..5).unwrap_or("")
    }

    /// The fields after the address field.
    pub fn fields(&self) -> impl Iterator<Item = &'a str> {
        self.body.split(',').skip(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_known_sentence_checks_out() {
        // gpsd's test logs: a GP RMC.
        let s = "$GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,A*43";
        let p = Sentence::parse(s).unwrap();
        assert_eq!(p.talker(), "GP");
        assert_eq!(p.kind(), "RMC");
        assert_eq!(frame('$', p.body).trim_end(), s);
    }

    #[test]
    fn a_bad_checksum_is_told() {
        let s = "$GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,A*44";
        assert_eq!(
            Sentence::parse(s),
            Err(SentenceError::BadChecksum {
                sent: 0x44,
                computed: 0x43
            })
        );
        assert_eq!(Sentence::parse("GPRMC,1*00"), Err(SentenceError::NoStart));
        assert_eq!(Sentence::parse("$GPRMC,1"), Err(SentenceError::NoChecksum));
    }

    proptest! {
        #[test]
        fn framing_round_trips(body in "[A-Z]{5}(,[A-Z0-9.]{0,8}){0,6}") {
            let line = frame('$', &body);
            prop_assert!(line.ends_with("\r\n"));
            let p = Sentence::parse(&line).unwrap();
            prop_assert_eq!(p.body, body.as_str());
        }

        #[test]
        fn one_flipped_byte_is_caught(body in "[A-Z]{5}(,[A-Z0-9.]{1,8}){1,6}", at in 0usize..60, bit in 0u8..6) {
            let line = frame('$', &body);
            let mut bytes = line.into_bytes();
            let i = 1 + at % body.len();
            let flipped = bytes[i] ^ (1 << bit);
            prop_assume!((0x21..0x7f).contains(&flipped) && flipped != b'*' && flipped != b'$' && flipped != b'!');
            bytes[i] = flipped;
            let s = String::from_utf8(bytes).unwrap();
            prop_assert!(Sentence::parse(&s).is_err());
        }
    }
}
