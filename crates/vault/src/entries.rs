//! The decrypted contents: entry names, their limits, and the plaintext encoding.
//!
//! The plaintext is a length-prefixed list, sorted by name with no duplicates, so every entry map
//! has exactly one encoding:
//!
//! ```text
//! u32be count, then count × ( u16be name_len, name, u32be value_len, value )
//! ```
//! It is built and parsed in [`Zeroizing`] buffers sized up front, so no reallocation leaves a
//! stray copy of a secret behind.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::VaultError;

/// The longest entry name.
///
/// # Security
/// Names are printed by `vault list` and used in config references; a short, plain-ASCII name
/// cannot hide terminal escapes or confusable characters.
pub const MAX_NAME_LEN: usize = 128;

/// The longest secret value (64 KiB: room for a PEM private key).
///
/// # Security
/// Bounds what one `vault set` can add, and the work of parsing each entry.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// The most entries a vault holds.
///
/// # Security
/// Bounds the size of the entry map built when unlocking.
pub const MAX_ENTRIES: usize = 4096;

/// The largest plaintext a vault encrypts (8 MiB).
///
/// # Security
/// Keeps every saved vault under [`crate::MAX_FILE_LEN`] once base64-encoded, so Rampart never
/// writes a file it would refuse to read.
pub const MAX_PAYLOAD_LEN: usize = 8 * 1024 * 1024;

/// Checks an entry name: 1 to [`MAX_NAME_LEN`] characters from `[A-Za-z0-9._-]`.
///
/// # Errors
/// [`VaultError::InvalidName`].
pub fn validate_name(name: &str) -> Result<(), VaultError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        // A bad name may be long or hold control characters: keep a short, escaped prefix.
        let shown: String = name.chars().take(MAX_NAME_LEN).collect();
        Err(VaultError::InvalidName(shown))
    }
}

pub(crate) type Entries = BTreeMap<String, SecretString>;

/// Encodes the entries; the returned buffer has `extra` spare capacity (for the GCM tag).
pub(crate) fn encode(entries: &Entries, extra: usize) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let len = 4 + entries
        .iter()
        .map(|(n, v)| 2 + n.len() + 4 + v.expose_secret().len())
        .sum::<usize>();
    if len > MAX_PAYLOAD_LEN {
        return Err(VaultError::Malformed(
            "the vault's contents exceed the size limit",
        ));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len + extra));
    out.extend_from_slice(&u32_len(entries.len()).to_be_bytes());
    for (name, value) in entries {
        let value = value.expose_secret().as_bytes();
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&u32_len(value.len()).to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// Decodes authenticated plaintext into entries, checking every limit and the canonical order.
pub(crate) fn decode(plain: &[u8]) -> Result<Entries, VaultError> {
    let mut rest = plain;
    let count = take_u32(&mut rest)? as usize;
    if count > MAX_ENTRIES {
        return Err(VaultError::CorruptPayload("too many entries"));
    }
    let mut entries = Entries::new();
    let mut last: Option<&str> = None;
    for _ in 0..count {
        let name_len = usize::from(take_u16(&mut rest)?);
        let name = std::str::from_utf8(take(&mut rest, name_len)?)
            .map_err(|_| VaultError::CorruptPayload("name is not UTF-8"))?;
        validate_name(name).map_err(|_| VaultError::CorruptPayload("invalid name"))?;
        if last.is_some_and(|l| l >= name) {
            return Err(VaultError::CorruptPayload("names not sorted and unique"));
        }
        last = Some(name);
        let value_len = take_u32(&mut rest)? as usize;
        if value_len > MAX_VALUE_LEN {
            return Err(VaultError::CorruptPayload("value too long"));
        }
        let value = std::str::from_utf8(take(&mut rest, value_len)?)
            .map_err(|_| VaultError::CorruptPayload("value is not UTF-8"))?;
        // `to_owned` allocates exactly `len` bytes: the box conversion does not copy again.
        entries.insert(name.to_owned(), SecretString::from(value.to_owned()));
    }
    if !rest.is_empty() {
        return Err(VaultError::CorruptPayload("trailing bytes"));
    }
    Ok(entries)
}

fn u32_len(n: usize) -> u32 {
    // Callers bound every length by MAX_PAYLOAD_LEN first.
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], VaultError> {
    if rest.len() < n {
        return Err(VaultError::CorruptPayload("truncated"));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_u16(rest: &mut &[u8]) -> Result<u16, VaultError> {
    let b = take(rest, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn take_u32(rest: &mut &[u8]) -> Result<u32, VaultError> {
    let b = take(rest, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_ascii() {
        for good in ["api_key", "openai.api-key", "A", &"x".repeat(MAX_NAME_LEN)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a b",
            "a/b",
            "é",
            "a\u{1b}[31m",
            "a:b",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trips_and_is_canonical() {
        let mut e = Entries::new();
        e.insert("b".into(), SecretString::from("two".to_owned()));
        e.insert("a".into(), SecretString::from(String::new()));
        let bytes = encode(&e, 0).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(back["b"].expose_secret(), "two");
        // Swapping the two entries' order is refused, as is any trailing byte or truncation.
        let mut swapped = Vec::new();
        swapped.extend_from_slice(&2u32.to_be_bytes());
        swapped.extend_from_slice(&[0, 1, b'b', 0, 0, 0, 3, b't', b'w', b'o']);
        swapped.extend_from_slice(&[0, 1, b'a', 0, 0, 0, 0]);
        assert!(decode(&swapped).is_err());
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
