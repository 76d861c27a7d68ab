//! The one text form of a 32-byte value (hash, seed, commitment): 64 lowercase hex characters.

use crate::AuditError;

/// Decodes 64 lowercase hexadecimal characters into 32 bytes.
///
/// Uppercase is refused on purpose: Ygor writes every hash in lowercase, so each value has one
/// text and an auditor can compare texts as well as bytes. `field` names the value in the error.
pub fn decode_hex_32(text: &str, field: &'static str) -> Result<[u8; 32], AuditError> {
    let well_formed = text.len() == 64 && text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return Err(AuditError::MalformedHex { field });
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| AuditError::MalformedHex { field })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_hex_of_32_bytes_decodes() {
        let text = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(hex::encode(decode_hex_32(text, "root_hash").expect("decodes")), text);
    }

    #[test]
    fn uppercase_wrong_length_or_non_hex_is_refused() {
        let lower = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for text in [lower.to_uppercase(), lower[..62].to_owned(), format!("{lower}00"), lower.replace('e', "g")] {
            assert_eq!(decode_hex_32(&text, "seed"), Err(AuditError::MalformedHex { field: "seed" }), "{text}");
        }
    }
}
