//! JSON bodies read strictly. A body that repeats a key in one object is refused: two readers of
//! it — the server and the partner who signed it, or the audit — could take different values for
//! the same key, so such a body has no one meaning.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

/// Checks that no object of the JSON document `bytes` repeats a key; says which one does.
pub fn check_unique_keys(bytes: &[u8]) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    UniqueKeys.deserialize(&mut deserializer).map_err(|error| error.to_string())?;
    deserializer.end().map_err(|error| error.to_string())
}

/// Walks any JSON value, refusing an object with a repeated key.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(A::Error::custom(format!("the key `{key}` appears twice in one object")));
            }
            map.next_value_seed(UniqueKeys)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueKeys)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_unique_keys;

    #[test]
    fn a_repeated_key_is_refused_at_any_depth() {
        assert!(check_unique_keys(br#"{"a": 1, "b": [1, {"c": 2}], "d": null}"#).is_ok());
        let error = check_unique_keys(br#"{"amount": 1, "amount": 2}"#).expect_err("repeated");
        assert!(error.contains("`amount` appears twice"), "{error}");
        assert!(check_unique_keys(br#"{"a": [{"x": 1, "x": 1}]}"#).is_err());
        // The same key spelled with an escape is the same key.
        assert!(check_unique_keys(br#"{"a": 1, "\u0061": 2}"#).is_err());
        // The same key in two objects is fine.
        assert!(check_unique_keys(br#"[{"a": 1}, {"a": 2}]"#).is_ok());
    }

    #[test]
    fn what_is_not_json_is_refused_too() {
        assert!(check_unique_keys(b"{\"a\": ").is_err());
        assert!(check_unique_keys(b"{} {}").is_err());
    }
}
