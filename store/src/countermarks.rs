//! Countermarks, kept outside the log (`countermarks`): which voucher an 8-character code stands
//! for while it lives (decision 26). Issuing a voucher writes here, never to the log; a
//! redemption by countermark reads here and records the whole voucher in its event.

use chrono::{DateTime, Utc};

use crate::aggregate_snapshot::on_pool;
use crate::{EventLog, Store, StoreError};

impl EventLog {
    /// Records that `countermark` stands for `voucher` until `keep_until`, and deletes the
    /// countermarks kept past `now`. Answers whether the countermark now stands for this voucher:
    /// `false` when another live voucher already has it (the caller issues another voucher). On
    /// SQLite the writes wait for the process's write turn, between two of the committer's groups.
    pub async fn put_countermark(
        &self,
        countermark: &str,
        voucher: &str,
        keep_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _turn = self.sqlite_write_turn().await;
        let stored: String = on_pool!(&self.store, |pool| {
            sqlx::query("DELETE FROM countermarks WHERE keep_until < $1").bind(now.timestamp()).execute(pool).await?;
            sqlx::query(
                "INSERT INTO countermarks (countermark, voucher, keep_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (countermark) DO NOTHING",
            )
            .bind(countermark)
            .bind(voucher)
            .bind(keep_until.timestamp())
            .execute(pool)
            .await?;
            sqlx::query_scalar("SELECT voucher FROM countermarks WHERE countermark = $1")
                .bind(countermark)
                .fetch_one(pool)
                .await?
        });
        Ok(stored == voucher)
    }

    /// The voucher a countermark stands for, if it is kept at `now`.
    pub async fn find_countermark(&self, countermark: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let voucher = on_pool!(&self.store, |pool| sqlx::query_scalar(
            "SELECT voucher FROM countermarks WHERE countermark = $1 AND keep_until >= $2"
        )
        .bind(countermark)
        .bind(now.timestamp())
        .fetch_optional(pool)
        .await?);
        Ok(voucher)
    }
}
