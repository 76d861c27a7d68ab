//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! A signature covers bytes, not JSON values, so the signer and every verifier (the server, the
//! audit, a third party in another language) must turn the same object into the same bytes. JCS
//! fixes those bytes: object members sorted by the UTF-16 code units of their names, no
//! whitespace, strings with the minimal escapes, and numbers written as ECMAScript writes IEEE 754
//! doubles (`4.50` → `4.5`, `1E30` → `1e+30`, `-0` → `0`).
//!
//! The work is done by `serde_json_canonicalizer`, checked here against the RFC's own examples.
//! The workspace's `serde_jcs` 0.1 is not used because it is not RFC 8785-correct: it sorts members
//! by the UTF-8 bytes of their escaped names (so `"\r"` sorts after `"1"`, and U+FB33 before
//! U+1F600), writes 64-bit integers digit for digit instead of as doubles, and panics on every
//! number when serde_json's `arbitrary_precision` feature is enabled anywhere in the build.

use serde_json::{Map, Value};

use crate::CryptoError;

/// The largest integer JSON numbers carry exactly (2^53 − 1, ECMAScript's
/// `Number.MAX_SAFE_INTEGER`, I-JSON's limit in RFC 7493).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Returns the RFC 8785 canonical form of a JSON value, as UTF-8 bytes.
///
/// Integers outside ±(2^53 − 1) are refused rather than rounded. JCS writes every number as a
/// double, so `9007199254740993` would become `9007199254740992`: a signature would then cover a
/// number other than the one the server reads, and two different amounts would share one
/// signature. Nesting is bounded by serde_json's parser (128 levels) for values that come from
/// text.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, CryptoError> {
    check_integers_are_exact(value)?;
    if is_plain(value) {
        // For values without fractional numbers and whose object keys are all ASCII, serde_json's
        // compact output IS the canonical form: its maps are ordered by key bytes (the workspace
        // never enables `preserve_order`), which for ASCII keys is RFC 8785's UTF-16 order; it
        // writes integers as bare digits, as ECMAScript does below 2^53 (checked above); and it
        // escapes strings exactly as RFC 8785 requires (`\"`, `\\`, `\b\f\n\r\t`, other
        // controls as lowercase `\u00xx`, nothing else). The general canonicaliser is several
        // times slower, and the audit hashes every event of the log with this function.
        return serde_json::to_vec(value).map_err(|error| CryptoError::Canonicalization(error.to_string()));
    }
    serde_json_canonicalizer::to_vec(value).map_err(|error| CryptoError::Canonicalization(error.to_string()))
}

/// The canonical form of `object` without the members named in `excluded` (a signed object
/// without its `signature`), with no copy of the object when the fast path of [`canonical_json`]
/// applies to the members that remain.
pub fn canonical_object_without(object: &Map<String, Value>, excluded: &[&str]) -> Result<Vec<u8>, CryptoError> {
    let kept = || object.iter().filter(|(name, _)| !excluded.contains(&name.as_str()));
    if kept().all(|(name, value)| name.is_ascii() && is_plain(value)) {
        kept().try_for_each(|(_, value)| check_integers_are_exact(value))?;
        // Serialised in the map's order, which is the canonical one for ASCII keys (see above).
        struct Kept<'a>(&'a Map<String, Value>, &'a [&'a str]);
        impl serde::Serialize for Kept<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                for (name, value) in self.0.iter().filter(|(name, _)| !self.1.contains(&name.as_str())) {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
        return serde_json::to_vec(&Kept(object, excluded))
            .map_err(|error| CryptoError::Canonicalization(error.to_string()));
    }
    let unsigned: Map<String, Value> = kept().map(|(name, value)| (name.clone(), value.clone())).collect();
    canonical_json(&Value::Object(unsigned))
}

/// Whether `value` has only integer numbers and ASCII object keys (see [`canonical_json`]).
fn is_plain(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_i64() || number.is_u64(),
        Value::Array(items) => items.iter().all(is_plain),
        Value::Object(members) => members.iter().all(|(key, value)| key.is_ascii() && is_plain(value)),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

/// Walks the value and refuses integers that a double cannot represent exactly.
fn check_integers_are_exact(value: &Value) -> Result<(), CryptoError> {
    match value {
        Value::Number(number) => {
            let magnitude = match (number.as_u64(), number.as_i64()) {
                (Some(unsigned), _) => Some(unsigned),
                (None, Some(signed)) => Some(signed.unsigned_abs()),
                (None, None) => None,
            };
            match magnitude {
                Some(magnitude) if magnitude > MAX_SAFE_INTEGER => Err(CryptoError::Canonicalization(format!(
                    "the integer {number} is outside ±{MAX_SAFE_INTEGER} and cannot be represented exactly in JSON (RFC 7493, RFC 8785)"
                ))),
                _ => Ok(()),
            }
        }
        Value::Array(items) => items.iter().try_for_each(check_integers_are_exact),
        Value::Object(members) => members.values().try_for_each(check_integers_are_exact),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical_text(value: &Value) -> String {
        String::from_utf8(canonical_json(value).expect("canonicalises")).expect("UTF-8")
    }

    fn canonical_from_text(text: &str) -> String {
        canonical_text(&serde_json::from_str(text).expect("valid JSON"))
    }

    fn canonical_double(bits: u64) -> String {
        canonical_text(&json!(f64::from_bits(bits)))
    }

    #[test]
    fn rfc_8785_main_example_is_reproduced_byte_for_byte() {
        // Given the example of RFC 8785 section 3.2.2
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        // When it is canonicalised
        let output = canonical_from_text(input);
        // Then the bytes are those of the RFC
        assert_eq!(
            output,
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
    }

    #[test]
    fn rfc_8785_sorting_example_orders_members_by_utf16_code_units() {
        // Given the example of RFC 8785 section 3.2.3, whose names need UTF-16 order: U+FB33 sorts
        // after the surrogate pair of U+1F600 in UTF-16 but before it in UTF-8
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        // When it is canonicalised
        let output = canonical_from_text(input);
        // Then the members come in the RFC's order
        assert_eq!(
            output,
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
    }

    #[test]
    fn nested_objects_are_sorted_at_every_level() {
        let value = json!({"b": {"z": 1, "a": [ {"y": 2, "x": 3} ]}, "a": null});
        assert_eq!(canonical_text(&value), r#"{"a":null,"b":{"a":[{"x":3,"y":2}],"z":1}}"#);
    }

    #[test]
    fn numbers_are_written_as_ecmascript_writes_doubles() {
        // Given numbers written in several ways in the source text
        let cases = [
            ("1e30", "1e+30"),
            ("1E30", "1e+30"),
            ("4.50", "4.5"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("0.0", "0"),
            ("333333333.33333329", "333333333.3333333"),
            ("2e-3", "0.002"),
            ("1e-7", "1e-7"),
            ("100", "100"),
            ("1e2", "100"),
            ("-12", "-12"),
            ("1e21", "1e+21"),
        ];
        for (input, expected) in cases {
            // When the number is canonicalised
            let output = canonical_from_text(input);
            // Then it is written the one way ECMAScript does
            assert_eq!(output, expected, "for input {input}");
        }
    }

    #[test]
    fn rfc_8785_appendix_b_number_vectors_are_reproduced() {
        // Given the IEEE 754 bit patterns of RFC 8785 appendix B
        let cases: [(u64, &str); 24] = [
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in cases {
            // When each double is canonicalised, then it is written as the RFC says
            assert_eq!(canonical_double(bits), expected, "for bits {bits:#018x}");
        }
    }

    #[test]
    fn strings_use_only_the_minimal_escapes() {
        // Given a string with control characters, quotes, a backslash, a solidus, DEL, a line
        // separator and non-ASCII letters
        let value = json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\"\\/\u{7f}\u{2028}é😀");
        // When it is canonicalised
        let output = canonical_text(&value);
        // Then only the JCS escapes appear (short forms where JSON has them, lowercase \u00xx
        // otherwise) and everything else is raw UTF-8
        assert_eq!(output, "\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\\"\\\\/\u{7f}\u{2028}é😀\"");
    }

    #[test]
    fn integers_beyond_the_exact_double_range_are_refused() {
        // Given integers one past ±(2^53 - 1)
        for number in [json!(MAX_SAFE_INTEGER + 1), json!(-(MAX_SAFE_INTEGER as i64) - 1)] {
            // When they are canonicalised inside an object
            let result = canonical_json(&json!({"amount": number}));
            // Then they are refused instead of being rounded silently
            assert!(matches!(result, Err(CryptoError::Canonicalization(_))), "{number} should be refused");
        }
    }

    #[test]
    fn integers_at_the_edge_of_the_exact_double_range_are_kept() {
        let value = json!([MAX_SAFE_INTEGER, -(MAX_SAFE_INTEGER as i64)]);
        assert_eq!(canonical_text(&value), "[9007199254740991,-9007199254740991]");
    }

    #[test]
    fn whitespace_and_member_order_of_the_input_do_not_matter() {
        let left = canonical_from_text(r#"{ "a" : 1 , "b" : [ true , "x" ] }"#);
        let right = canonical_from_text(r#"{"b":[true,"x"],"a":1.0}"#);
        assert_eq!(left, right);
    }
}

#[cfg(test)]
mod fast_path_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_fast_path_writes_exactly_what_the_general_canonicaliser_writes() {
        let samples = [
            json!({"b": 1, "a": [true, null, -7, 9007199254740991u64], "c": {"z": "x", "y": ""}}),
            json!({"text": "é\u{2028}😀 \u{0}\u{1f}\u{7f} \"quoted\" back\\slash /\n\t\r\u{8}\u{c}", "n": 0}),
            json!({"nested": [{"k2": 2, "k10": 10, "K": 3, "_": 4, "-": 5}], "empty": {}, "list": []}),
        ];
        for sample in samples {
            assert!(is_plain(&sample));
            let fast = serde_json::to_vec(&sample).unwrap();
            let general = serde_json_canonicalizer::to_vec(&sample).unwrap();
            assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(general).unwrap());
        }
    }

    #[test]
    fn fractions_and_non_ascii_keys_take_the_general_path() {
        assert!(!is_plain(&json!({"p": 0.5})));
        assert!(!is_plain(&json!({"clé": 1})));
    }
}
