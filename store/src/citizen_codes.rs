//! Citizens' short codes, kept outside the log (`citizen_codes`): what a partner's desk types to
//! find a citizen. A registration writes its citizen's code with its events
//! ([`crate::AppendBatch::citizen_codes`]); a citizen registered before codes existed gets one
//! here, the first time it is needed. Either way a citizen keeps the first code written for it,
//! so the codes found are kept in memory: a citizen's profile is read from memory alone, as the
//! other read models are, once its code was found.

use sqlx::Row as _;

use crate::aggregate_snapshot::on_pool;
use crate::{EventLog, Store, StoreError};

/// The most codes [`EventLog::citizen_code`] keeps in memory (about 100 bytes each); the cache
/// starts again empty when full.
const CITIZEN_CODE_CACHE_LEN: usize = 100_000;

impl EventLog {
    /// The code of a citizen, if it has one.
    pub async fn citizen_code(&self, citizen_id: &str) -> Result<Option<String>, StoreError> {
        let cached =
            self.citizen_codes.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(citizen_id).cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let code = on_pool!(&self.store, |pool| sqlx::query("SELECT code FROM citizen_codes WHERE citizen_id = $1")
            .bind(citizen_id)
            .fetch_optional(pool)
            .await?
            .map(|row| row.try_get::<String, _>("code"))
            .transpose()?);
        if let Some(code) = &code {
            let mut cache = self.citizen_codes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.len() >= CITIZEN_CODE_CACHE_LEN {
                cache.clear();
            }
            cache.insert(citizen_id.to_owned(), code.clone());
        }
        Ok(code)
    }

    /// The citizen a code names, if any. `code` is in its canonical form.
    pub async fn citizen_with_code(&self, code: &str) -> Result<Option<String>, StoreError> {
        let citizen_id =
            on_pool!(&self.store, |pool| sqlx::query("SELECT citizen_id FROM citizen_codes WHERE code = $1")
                .bind(code)
                .fetch_optional(pool)
                .await?
                .map(|row| row.try_get::<String, _>("citizen_id"))
                .transpose()?);
        Ok(citizen_id)
    }

    /// Gives a citizen `code` unless it has one already, and returns the citizen's code: the one
    /// it had, or `code`. Two concurrent calls for one citizen both return the code the first
    /// wrote. A code another citizen has is [`StoreError::CitizenCodeTaken`], and nothing is
    /// written: draw another. On SQLite the write waits for the process's write turn, between
    /// two of the committer's groups.
    pub async fn assign_citizen_code(&self, citizen_id: &str, code: &str) -> Result<String, StoreError> {
        {
            let _turn = self.sqlite_write_turn().await;
            // `ON CONFLICT (citizen_id)` keeps a code already written; a taken code still fails.
            on_pool!(&self.store, |pool| sqlx::query(
                "INSERT INTO citizen_codes (citizen_id, code) VALUES ($1, $2) ON CONFLICT (citizen_id) DO NOTHING"
            )
            .bind(citizen_id)
            .bind(code)
            .execute(pool)
            .await
            .map(drop)
            .map_err(crate::citizen_code_error)?);
        }
        self.citizen_code(citizen_id).await?.ok_or_else(|| {
            StoreError::Serialization(format!("the code of citizen {citizen_id} was written and is not there"))
        })
    }
}
