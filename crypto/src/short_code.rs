//! Short codes a person reads aloud and types by hand: a citizen's code at a desk, a voucher's
//! countermark at a till. Eight characters of Crockford's base32 (digits and capital letters
//! without I, L, O and U) carry 40 bits.
//!
//! Reading is forgiving the way Crockford's alphabet intends: lower case is accepted, `I` and `L`
//! read as `1`, `O` as `0`, and spaces and hyphens (`7K3F-Q9RD`) are ignored, so a code typed
//! from a card or heard on the phone still matches.

use rand::Rng as _;

use crate::tokens::sha256;

/// How many characters a short code has.
pub const SHORT_CODE_LENGTH: usize = 8;

/// The longest text [`read_short_code`] looks at, in bytes: room for separators, not for abuse.
pub const SHORT_CODE_INPUT_MAX: usize = 32;

/// Crockford's base32 alphabet: the value of a digit is its index.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The code of 40 bits, most significant first.
pub fn encode_short_code(bits: [u8; 5]) -> String {
    let value = bits.iter().fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
    (0..SHORT_CODE_LENGTH).rev().map(|digit| char::from(ALPHABET[((value >> (digit * 5)) & 31) as usize])).collect()
}

/// A fresh random code (a citizen's code): 40 bits from the operating system's generator.
pub fn random_short_code() -> String {
    let mut bits = [0u8; 5];
    rand::rng().fill_bytes(&mut bits);
    encode_short_code(bits)
}

/// The code derived from `context` and `data`: the first 40 bits of `SHA-256(context ‖ "\n" ‖
/// data)`. Anyone holding `data` recomputes it (a voucher's countermark, re-checked by the audit).
pub fn derived_short_code(context: &str, data: &[u8]) -> String {
    let mut message = Vec::with_capacity(context.len() + 1 + data.len());
    message.extend_from_slice(context.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(data);
    let digest = sha256(&message);
    encode_short_code(digest[..5].try_into().expect("a SHA-256 digest has 32 bytes"))
}

/// Reads a code as a person typed it: its canonical form (8 capital characters of the alphabet),
/// or `None` when it is not one (too long, a character outside the alphabet, `U`, or not 8
/// characters once separators are dropped).
pub fn read_short_code(text: &str) -> Option<String> {
    if text.len() > SHORT_CODE_INPUT_MAX {
        return None;
    }
    let mut code = String::with_capacity(SHORT_CODE_LENGTH);
    for character in text.chars() {
        let canonical = match character.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'I' | 'L' => '1',
            'O' => '0',
            other if other.is_ascii() && ALPHABET.contains(&(other as u8)) => other,
            _ => return None,
        };
        code.push(canonical);
    }
    (code.len() == SHORT_CODE_LENGTH).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_bits_make_eight_characters_of_the_alphabet() {
        assert_eq!(encode_short_code([0; 5]), "00000000");
        assert_eq!(encode_short_code([0xff; 5]), "ZZZZZZZZ");
        assert_eq!(encode_short_code([0, 0, 0, 0, 33]), "00000011");
        for _ in 0..200 {
            let code = random_short_code();
            assert_eq!(code.len(), SHORT_CODE_LENGTH);
            assert!(code.chars().all(|character| !"ILOU".contains(character)), "{code}");
            assert_eq!(read_short_code(&code).as_deref(), Some(code.as_str()));
        }
    }

    #[test]
    fn a_code_typed_by_hand_reads_as_its_canonical_form() {
        assert_eq!(read_short_code("7k3f-q9rd").as_deref(), Some("7K3FQ9RD"));
        assert_eq!(read_short_code(" 7K3F Q9RD ").as_deref(), Some("7K3FQ9RD"));
        assert_eq!(read_short_code("OIL00000").as_deref(), Some("01100000"));
    }

    #[test]
    fn a_text_that_is_not_a_code_is_refused() {
        for text in ["", "7K3FQ9R", "7K3FQ9RDX", "7K3FQ9RU", "7K3FQ9R!", "7K3FQ9RÉ", &"0".repeat(40)] {
            assert_eq!(read_short_code(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_derived_code_depends_on_its_context_and_data() {
        let code = derived_short_code("ygor/countermark/v1", b"v1.abc");
        assert_eq!(code, derived_short_code("ygor/countermark/v1", b"v1.abc"));
        assert_ne!(code, derived_short_code("ygor/countermark/v1", b"v1.abd"));
        assert_ne!(code, derived_short_code("ygor/other/v1", b"v1.abc"));
        assert_eq!(read_short_code(&code).as_deref(), Some(code.as_str()));
    }
}
