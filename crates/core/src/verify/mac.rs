//! HMAC helpers shared by every scheme: signing, constant-time checking, lenient decoding.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// The digest behind an HMAC (Scalr and GitHub have a SHA-1 variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
}

impl Digest {
    /// MAC length in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha256 => 32,
        }
    }
}

/// HMAC over the concatenation of `parts` (no copy of the body is made).
pub(crate) fn sign(digest: Digest, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match digest {
        Digest::Sha1 => {
            let mut m = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
            parts.iter().for_each(|p| m.update(p));
            m.finalize().into_bytes().to_vec()
        }
        Digest::Sha256 => {
            let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            parts.iter().for_each(|p| m.update(p));
            m.finalize().into_bytes().to_vec()
        }
    }
}

/// Whether `tag` is the HMAC of `parts`, compared in constant time (`verify_slice`).
pub(crate) fn check(digest: Digest, key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    match digest {
        Digest::Sha1 => {
            let mut m = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
            parts.iter().for_each(|p| m.update(p));
            m.verify_slice(tag).is_ok()
        }
        Digest::Sha256 => {
            let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            parts.iter().for_each(|p| m.update(p));
            m.verify_slice(tag).is_ok()
        }
    }
}

/// Standard base64, padded (what every scheme emits).
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard base64 with or without padding.
pub(crate) fn unb64(s: &str) -> Option<Vec<u8>> {
    STANDARD_PAD_INDIFFERENT.decode(s.as_bytes()).ok()
}

/// Hex (either case) into bytes.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

/// A short, printable excerpt of untrusted header text for a reason sentence.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = s.chars().take(MAX).flat_map(char::escape_debug).collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// At most this many signatures are read from one header.
pub(crate) const MAX_SIGNATURES: usize = 16;

/// Parse a space-separated list of `<version>,<base64>` entries (Port, Standard Webhooks)
/// and return the decoded `v1` MACs (32 bytes each). Unknown versions are skipped; entries
/// that are broken are skipped too as long as one good `v1` entry remains.
pub(crate) fn v1_list(name: &str, value: &str) -> Result<Vec<Vec<u8>>, String> {
    let entries: Vec<&str> = value.split_whitespace().collect();
    if entries.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if entries.len() > MAX_SIGNATURES {
        return Err(format!(
            "{name} lists {} signatures; at most {MAX_SIGNATURES} are accepted",
            entries.len()
        ));
    }
    let mut macs = Vec::new();
    let mut first_error = None;
    let mut others = Vec::new();
    for e in entries {
        let Some((version, sig)) = e.split_once(',') else {
            first_error.get_or_insert_with(|| {
                format!(
                    "{name} entry {} has no comma: expected v1,<base64>",
                    excerpt(e)
                )
            });
            continue;
        };
        if version != "v1" {
            others.push(excerpt(version));
            continue;
        }
        match unb64(sig) {
            None => {
                first_error.get_or_insert_with(|| {
                    format!("{name} signature {} is not valid base64", excerpt(sig))
                });
            }
            Some(b) if b.len() != Digest::Sha256.len() => {
                first_error.get_or_insert_with(|| {
                    format!(
                        "{name} signature decodes to {} bytes; an HMAC-SHA256 is 32",
                        b.len()
                    )
                });
            }
            Some(b) => macs.push(b),
        }
    }
    if !macs.is_empty() {
        return Ok(macs);
    }
    Err(first_error.unwrap_or_else(|| {
        format!(
            "{name} has no v1 signature (found versions {}; only v1 is supported)",
            others.join(", ")
        )
    }))
}
