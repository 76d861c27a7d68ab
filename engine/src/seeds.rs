//! Seeds derived from the territory's secret key: one per gold period and one per draw. Deriving
//! them (instead of drawing and storing them) means nothing secret is written anywhere but the
//! key file, a restart loses nothing, and each seed stays unpredictable to anyone without the key
//! until the territory reveals it. Their commitments `SHA-256(seed)` are what the log shows first.

use sha2::{Digest, Sha256};
use ygor_crypto::SecretKey;
use ygor_ledger::DrawId;

#[derive(Clone)]
pub struct Seeds {
    key: SecretKey,
}

impl Seeds {
    pub fn new(key: SecretKey) -> Self {
        Self { key }
    }

    fn derive(&self, purpose: &str, subject: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(purpose.as_bytes());
        hasher.update(b"\n");
        hasher.update(self.key.to_text().as_bytes());
        hasher.update(b"\n");
        hasher.update(subject.as_bytes());
        hasher.finalize().into()
    }

    /// The seed of gold period `period`.
    pub fn gold(&self, period: u64) -> [u8; 32] {
        self.derive("ygor/gold-seed/v1", &period.to_string())
    }

    /// The seed of a draw.
    pub fn draw(&self, draw_id: DrawId) -> [u8; 32] {
        self.derive("ygor/draw-seed/v1", &draw_id.to_string())
    }
}
