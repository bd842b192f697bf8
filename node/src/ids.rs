//! Record ids as people type them: the 32 hex digits, or the short id every screen shows
//! (its first 8 digits) — any prefix of at least [`MIN_PREFIX`](crate::error::MIN_PREFIX) digits that names exactly
//! one record held here.

use haiqiao_proto::RecordId;

use crate::error::{ApiError, MAX_CANDIDATES, MIN_PREFIX};

/// Hex digits of a full record id.
const FULL: usize = 32;

/// Resolves `s` against the ids held (`ids` is called only for a short id).
pub(crate) fn resolve<I>(
    s: &str,
    ids: impl FnOnce() -> Result<I, ApiError>,
) -> Result<RecordId, ApiError>
where
    I: IntoIterator<Item = RecordId>,
{
    let t = s.trim().to_ascii_lowercase();
    if t.len() < MIN_PREFIX || t.len() > FULL || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::InvalidId(s.to_owned()));
    }
    if t.len() == FULL {
        return t.parse().map_err(|_| ApiError::InvalidId(s.to_owned()));
    }
    let mut found: Vec<RecordId> = Vec::new();
    for id in ids()? {
        if id.to_string().starts_with(&t) && !found.contains(&id) {
            found.push(id);
            if found.len() > MAX_CANDIDATES {
                break;
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::NotFound(format!(
            "no record with an id starting {t} is held here"
        ))),
        many => Err(ApiError::AmbiguousId {
            prefix: t,
            candidates: many
                .iter()
                .take(MAX_CANDIDATES)
                .map(ToString::to_string)
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(a: u8, b: u8, c: u8, d: u8) -> RecordId {
        let mut x = [7u8; 16];
        x[..4].copy_from_slice(&[a, b, c, d]);
        RecordId(x)
    }

    fn held() -> Result<Vec<RecordId>, ApiError> {
        Ok(vec![
            id(0xab, 0xcd, 0xef, 0x01),
            id(0xab, 0xcd, 0xef, 0x02),
            id(0x12, 0x34, 0x56, 0x78),
        ])
    }

    #[test]
    fn short_ids_resolve_when_they_name_one_record() {
        assert_eq!(resolve("12345678", held), Ok(id(0x12, 0x34, 0x56, 0x78)));
        assert_eq!(resolve("123456", held), Ok(id(0x12, 0x34, 0x56, 0x78)));
        assert_eq!(resolve(" ABCDEF02 ", held), Ok(id(0xab, 0xcd, 0xef, 0x02)));
        let full = id(9, 9, 9, 9);
        assert_eq!(
            resolve(&full.to_string(), || -> Result<Vec<RecordId>, ApiError> {
                Err(ApiError::Internal("not called".into()))
            }),
            Ok(full),
            "a full id needs no lookup"
        );
    }

    #[test]
    fn ambiguous_unknown_and_malformed_ids_are_refused_clearly() {
        let amb = resolve("abcdef", held).unwrap_err();
        assert_eq!(amb.code(), "ambiguous_id");
        let msg = amb.message();
        assert!(
            msg.contains(&id(0xab, 0xcd, 0xef, 0x01).to_string())
                && msg.contains(&id(0xab, 0xcd, 0xef, 0x02).to_string()),
            "the candidates are listed: {msg}"
        );
        assert_eq!(resolve("abcdee", held).unwrap_err().code(), "not_found");
        assert_eq!(
            resolve("abcde", held).unwrap_err().code(),
            "invalid_id",
            "too short"
        );
        assert_eq!(resolve("abcdzz07", held).unwrap_err().code(), "invalid_id");
        assert_eq!(
            resolve(&"a".repeat(33), held).unwrap_err().code(),
            "invalid_id"
        );
    }
}
