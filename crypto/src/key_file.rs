//! Partner tooling: key files and signing of JSON documents, for the `ygor keys generate` and
//! `ygor sign certification|redemption --key FILE` commands.
//!
//! This is the one part of the crate that touches the file system, because a partner's secret key
//! has to live somewhere between two runs of the CLI. A key file is a small JSON object
//! `{"public_key": "...", "secret_key": "..."}`: the public key is there so that a person can read
//! it off and register it, and it is checked against the secret on every read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CryptoError, PublicKey, SecretKey, SignedKind, sign_object};

/// The largest document [`sign_document`] accepts, in bytes (64 KiB), well above any real
/// certification or redemption.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The largest key file [`read_key_file`] reads, in bytes; a real one is about 130 bytes.
const MAX_KEY_FILE_BYTES: u64 = 4 * 1024;

/// The stored shape of a key file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileContent {
    public_key: String,
    secret_key: String,
}

/// Writes a new key file holding `key` and its public key.
///
/// The file is created with mode 0600 on Unix (readable by its owner only) in the same call that
/// creates it, so the secret is never readable by others, even briefly. An existing file is never
/// overwritten (the error kind is `AlreadyExists`): losing a registered key would lock a partner
/// out. If writing fails half-way, the partial file is removed.
pub fn write_key_file(path: &Path, key: &SecretKey) -> io::Result<()> {
    let content = KeyFileContent { public_key: key.public_key().to_string(), secret_key: key.to_text() };
    let mut text = serde_json::to_string_pretty(&content).map_err(io::Error::other)?;
    text.push('\n');

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
    if let Err(error) = written {
        drop(file);
        // The partial file holds at most part of a secret; removing it is best effort, and the
        // write error is the one worth reporting.
        let _ = fs::remove_file(path);
        return Err(error);
    }
    Ok(())
}

/// Reads a key file written by [`write_key_file`] and returns its secret key.
///
/// Fails with [`CryptoError::KeyFile`] naming the file and the problem: it cannot be read, is
/// larger than 4 KiB, is not the expected JSON, holds a malformed key, or its public key does not
/// match its secret key (a hand-edited or mixed-up file).
pub fn read_key_file(path: &Path) -> Result<SecretKey, CryptoError> {
    let shown = path.display();
    let file = File::open(path).map_err(|error| CryptoError::KeyFile(format!("cannot open {shown}: {error}")))?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|error| CryptoError::KeyFile(format!("cannot read {shown}: {error}")))?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(CryptoError::KeyFile(format!(
            "{shown} is larger than {MAX_KEY_FILE_BYTES} bytes: it is not a key file"
        )));
    }
    let content: KeyFileContent = serde_json::from_str(&text).map_err(|error| {
        CryptoError::KeyFile(format!(
            "{shown} is not a key file ({{\"public_key\": \"...\", \"secret_key\": \"...\"}}): {error}"
        ))
    })?;
    let secret =
        SecretKey::from_text(&content.secret_key).map_err(|error| CryptoError::KeyFile(format!("{shown}: {error}")))?;
    let public =
        PublicKey::parse(&content.public_key).map_err(|error| CryptoError::KeyFile(format!("{shown}: {error}")))?;
    if secret.public_key() != public {
        return Err(CryptoError::KeyFile(format!(
            "{shown}: the public key {public} does not belong to the secret key in the same file \
             (its public key is {}); the file was edited or mixed up",
            secret.public_key()
        )));
    }
    Ok(secret)
}

/// Signs a JSON document given as text and returns it, pretty-printed, with its `signature`.
///
/// The text must be a JSON object of at most [`MAX_DOCUMENT_BYTES`]; otherwise the error is
/// [`CryptoError::TooLarge`], [`CryptoError::MalformedJson`] or [`CryptoError::NotAnObject`]. The
/// fields are not checked against the kind's schema: the server does that on arrival.
pub fn sign_document(kind: SignedKind, json_text: &str, key: &SecretKey) -> Result<String, CryptoError> {
    if json_text.len() > MAX_DOCUMENT_BYTES {
        return Err(CryptoError::TooLarge);
    }
    let value: Value =
        serde_json::from_str(json_text).map_err(|error| CryptoError::MalformedJson(error.to_string()))?;
    let Value::Object(object) = value else {
        return Err(CryptoError::NotAnObject);
    };
    let signed = sign_object(kind, object, key)?;
    serde_json::to_string_pretty(&Value::Object(signed))
        .map_err(|error| CryptoError::Canonicalization(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_object;
    use std::path::PathBuf;

    /// A fresh directory under the system's temporary directory, removed when dropped.
    struct TemporaryDirectory(PathBuf);

    impl TemporaryDirectory {
        fn new() -> Self {
            let path = std::env::temp_dir().join(format!("ygor-crypto-test-{}", uuid::Uuid::new_v4()));
            fs::create_dir(&path).expect("temporary directory is created");
            Self(path)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TemporaryDirectory {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn key_file_round_trips_the_secret_key() {
        // Given a key written to a new key file
        let directory = TemporaryDirectory::new();
        let path = directory.file("partner.key");
        let key = SecretKey::generate();
        write_key_file(&path, &key).expect("writes");
        // When the file is read back
        let read = read_key_file(&path);
        // Then it holds the same key
        assert_eq!(read, Ok(key));
    }

    #[test]
    fn key_file_is_json_with_both_keys_and_a_final_newline() {
        let directory = TemporaryDirectory::new();
        let path = directory.file("partner.key");
        let key = SecretKey::from_seed(&[5; 32]);
        write_key_file(&path, &key).expect("writes");
        let text = fs::read_to_string(&path).expect("readable");
        assert!(text.ends_with("}\n"));
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            value,
            serde_json::json!({
                "public_key": key.public_key().to_string(),
                "secret_key": key.to_text()
            })
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let directory = TemporaryDirectory::new();
        let path = directory.file("partner.key");
        write_key_file(&path, &SecretKey::generate()).expect("writes");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn existing_file_is_never_overwritten() {
        // Given a key file that already exists
        let directory = TemporaryDirectory::new();
        let path = directory.file("partner.key");
        let first = SecretKey::generate();
        write_key_file(&path, &first).expect("writes");
        // When another key is written to the same path
        let error = write_key_file(&path, &SecretKey::generate()).expect_err("refused");
        // Then it is refused and the first key is intact
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(read_key_file(&path), Ok(first));
    }

    #[test]
    fn key_file_whose_public_key_does_not_match_is_refused() {
        let directory = TemporaryDirectory::new();
        let path = directory.file("mixed.key");
        let text = serde_json::json!({
            "public_key": SecretKey::from_seed(&[1; 32]).public_key().to_string(),
            "secret_key": SecretKey::from_seed(&[2; 32]).to_text()
        })
        .to_string();
        fs::write(&path, text).expect("writes");
        match read_key_file(&path) {
            Err(CryptoError::KeyFile(message)) => {
                assert!(message.contains("does not belong"), "{message}")
            }
            other => panic!("expected a key file error, got {other:?}"),
        }
    }

    #[test]
    fn missing_or_garbled_key_file_is_refused_with_its_name() {
        let directory = TemporaryDirectory::new();
        let missing = directory.file("missing.key");
        let garbled = directory.file("garbled.key");
        fs::write(&garbled, "{\"secret_key\": 3}").expect("writes");
        let oversized = directory.file("oversized.key");
        fs::write(&oversized, " ".repeat(5000)).expect("writes");
        for path in [missing, garbled, oversized] {
            match read_key_file(&path) {
                Err(CryptoError::KeyFile(message)) => {
                    assert!(message.contains(&path.display().to_string()), "{message}")
                }
                other => panic!("expected a key file error, got {other:?}"),
            }
        }
    }

    #[test]
    fn signed_document_carries_a_signature_that_verifies() {
        // Given a redemption written by hand
        let key = SecretKey::generate();
        let text = r#"{"redemption_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                       "venue_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                       "voucher": "v1.abc.def", "amount": 12}"#;
        // When it is signed as a redemption
        let signed = sign_document(SignedKind::Redemption, text, &key).expect("signs");
        // Then the output is pretty JSON whose signature verifies as a redemption only
        assert!(signed.contains("\n  \"signature\": "));
        let object: serde_json::Map<String, Value> = serde_json::from_str(&signed).expect("JSON object");
        assert!(verify_object(SignedKind::Redemption, &object, &key.public_key()).is_ok());
        assert_eq!(
            verify_object(SignedKind::Certification, &object, &key.public_key()),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn document_that_is_not_an_object_is_refused() {
        let key = SecretKey::generate();
        for text in ["[1, 2]", "\"text\"", "12", "null"] {
            assert_eq!(sign_document(SignedKind::Certification, text, &key), Err(CryptoError::NotAnObject), "{text}");
        }
        assert!(matches!(
            sign_document(SignedKind::Certification, "{not json", &key),
            Err(CryptoError::MalformedJson(_))
        ));
    }

    #[test]
    fn document_over_64_kib_is_refused() {
        let key = SecretKey::generate();
        let padding = "x".repeat(MAX_DOCUMENT_BYTES);
        let text = format!("{{\"note\": \"{padding}\"}}");
        assert_eq!(sign_document(SignedKind::Certification, &text, &key), Err(CryptoError::TooLarge));
    }
}
