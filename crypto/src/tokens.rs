//! SHA-256 helpers and bearer tokens.
//!
//! Admin, partner and citizen tokens are long random strings that the server shows once and then
//! keeps only as a SHA-256 hash, so a leaked database does not hand out working tokens.

use rand::Rng as _;
use sha2::{Digest as _, Sha256};

use crate::keys::encode_base64url;

/// The number of random bytes in a bearer token (256 bits).
pub const TOKEN_RANDOM_BYTES: usize = 32;

/// The SHA-256 digest of some bytes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The SHA-256 digest of some bytes, as 64 lowercase hexadecimal characters.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// Generates a bearer token: `prefix` followed by the base64url (no padding) text of 32 random
/// bytes, for example `ygor_cit_3q2-7wX…`.
///
/// The prefix names the role, so a token pasted in the wrong place (or found by a secret scanner)
/// says what it is; it adds no secrecy. The random part comes from `rand`'s thread-local
/// cryptographically secure generator, seeded by the operating system.
pub fn generate_token(prefix: &str) -> String {
    let mut random = [0u8; TOKEN_RANDOM_BYTES];
    rand::rng().fill_bytes(&mut random);
    format!("{prefix}{}", encode_base64url(&random))
}

/// The hash under which a bearer token is stored and looked up: SHA-256 of its UTF-8 text.
///
/// A plain, fast, unsalted hash is the right tool here, unlike for passwords. Slow salted hashes
/// such as argon2 exist because passwords are guessable: they make each guess of a leaked hash
/// expensive. A token carries 256 bits of randomness, so there is nothing to guess: reversing
/// SHA-256 over a 2^256 space is out of reach at any speed, and a salt would add nothing because
/// two tokens never share a value. Being deterministic, the hash can be a unique database key that
/// finds the token's owner in one indexed lookup, where a salted hash would have to be recomputed
/// against every stored token on every request, at argon2's deliberate cost. Comparing hashes
/// does not need constant time either: a timing leak would reveal bits of the hash, not of the
/// token.
pub fn hash_token(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_matches_the_fips_180_2_test_vector() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex::encode(sha256(b"abc")), sha256_hex(b"abc"));
    }

    #[test]
    fn generated_token_starts_with_its_prefix_and_carries_32_random_bytes() {
        let token = generate_token("ygor_cit_");
        let random = token.strip_prefix("ygor_cit_").expect("prefix kept");
        assert_eq!(random.len(), 43);
        assert!(random.chars().all(|character| character.is_ascii_alphanumeric() || "-_".contains(character)));
    }

    #[test]
    fn generated_tokens_never_repeat() {
        let tokens: std::collections::HashSet<String> = (0..1000).map(|_| generate_token("ygor_adm_")).collect();
        assert_eq!(tokens.len(), 1000);
    }

    #[test]
    fn token_hash_is_stable_and_depends_on_the_whole_token() {
        let token = generate_token("ygor_ptn_");
        assert_eq!(hash_token(&token), hash_token(&token));
        assert_eq!(hash_token(&token), sha256(token.as_bytes()));
        assert_ne!(hash_token(&token), hash_token(&format!("{token}x")));
        assert_ne!(hash_token("ygor_ptn_a"), hash_token("ygor_cit_a"));
    }
}
