//! What the web pages keep beside the log (decision 30): browser sessions, one-time login links,
//! and the lookup of citizens by email. A session or a link is a random secret held by the
//! browser or the email; only its SHA-256 is stored. Expired rows are deleted as new ones are
//! written, so neither table grows with time.

use chrono::{DateTime, Utc};

use crate::aggregate_snapshot::on_pool;
use crate::{Credential, EventLog, Store, StoreError};

/// Most citizens one email may reach with login links (a family sharing an address).
pub const CITIZENS_PER_EMAIL_MAX: i64 = 8;

impl EventLog {
    /// Opens a session for `credential` until `expires_at`.
    pub async fn open_web_session(
        &self,
        session_hash: &[u8; 32],
        credential: &Credential,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _turn = self.sqlite_write_turn().await;
        on_pool!(&self.store, |pool| {
            sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1").bind(now.timestamp()).execute(pool).await?;
            sqlx::query(
                "INSERT INTO web_sessions (session_hash, role, subject_id, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&session_hash[..])
            .bind(&credential.role)
            .bind(&credential.subject_id)
            .bind(expires_at.timestamp())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The credential a live session acts for.
    pub async fn find_web_session(
        &self,
        session_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<Credential>, StoreError> {
        let row: Option<(String, String)> = on_pool!(&self.store, |pool| sqlx::query_as(
            "SELECT role, subject_id FROM web_sessions WHERE session_hash = $1 AND expires_at >= $2"
        )
        .bind(&session_hash[..])
        .bind(now.timestamp())
        .fetch_optional(pool)
        .await?);
        Ok(row.map(|(role, subject_id)| Credential { role, subject_id }))
    }

    /// Ends a session (logout). Ending an unknown session is not an error.
    pub async fn close_web_session(&self, session_hash: &[u8; 32]) -> Result<(), StoreError> {
        let _turn = self.sqlite_write_turn().await;
        on_pool!(&self.store, |pool| {
            sqlx::query("DELETE FROM web_sessions WHERE session_hash = $1")
                .bind(&session_hash[..])
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Stores a one-time login link for a citizen, valid until `expires_at`.
    pub async fn put_login_link(
        &self,
        link_hash: &[u8; 32],
        citizen_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _turn = self.sqlite_write_turn().await;
        on_pool!(&self.store, |pool| {
            sqlx::query("DELETE FROM login_links WHERE expires_at < $1").bind(now.timestamp()).execute(pool).await?;
            sqlx::query("INSERT INTO login_links (link_hash, citizen_id, expires_at) VALUES ($1, $2, $3)")
                .bind(&link_hash[..])
                .bind(citizen_id)
                .bind(expires_at.timestamp())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Uses a login link: answers the citizen it was made for and deletes it, so that it works
    /// once. An unknown, used or expired link answers `None`.
    pub async fn use_login_link(&self, link_hash: &[u8; 32], now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let _turn = self.sqlite_write_turn().await;
        let citizen: Option<String> = on_pool!(&self.store, |pool| sqlx::query_scalar(
            "DELETE FROM login_links WHERE link_hash = $1 AND expires_at >= $2 RETURNING citizen_id"
        )
        .bind(&link_hash[..])
        .bind(now.timestamp())
        .fetch_optional(pool)
        .await?);
        Ok(citizen)
    }

    /// The citizens registered with this email (compared without case), at most
    /// [`CITIZENS_PER_EMAIL_MAX`].
    pub async fn citizens_by_email(&self, email: &str) -> Result<Vec<String>, StoreError> {
        let ids = on_pool!(&self.store, |pool| sqlx::query_scalar(
            "SELECT citizen_id FROM citizen_details WHERE lower(email) = lower($1) ORDER BY citizen_id LIMIT $2"
        )
        .bind(email)
        .bind(CITIZENS_PER_EMAIL_MAX)
        .fetch_all(pool)
        .await?);
        Ok(ids)
    }

    /// On SQLite, the process's write turn, between two of the committer's groups; nothing on
    /// PostgreSQL, whose writers do not wait on each other here.
    pub(crate) async fn sqlite_write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.store {
            Store::Sqlite(sqlite) => Some(sqlite.write_turn().await),
            Store::Postgres(_) => None,
        }
    }
}
