-- The event log of Ygor on SQLite, and the few tables that must be written in the same transaction
-- as its events (credentials, citizen details).
--
-- `events` keeps the columns that sqlite-es reads and writes (aggregate_type, aggregate_id,
-- sequence, event_type, event_version, payload, metadata), so that `SqliteEventRepository` loads
-- streams from it unchanged, and adds:
--   * `position`: the global order of the log, the rowid. AUTOINCREMENT so that a position is never
--     reused after the last event is deleted (the log is append-only, but a restored copy must not
--     hand out a position twice).
--   * `recorded_at`: when the event was appended, as RFC 3339 UTC text with microseconds
--     (`2026-11-22T10:00:00.000000Z`), which sorts like the instant it names. No default: every
--     write goes through `EventLog::append`.
-- payload and metadata are TEXT: sqlx binds `serde_json::Value` on SQLite as JSON text.
-- STRICT makes SQLite refuse a value of the wrong type instead of storing it anyway.
CREATE TABLE events
(
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence >= 1),
    event_type     TEXT    NOT NULL,
    event_version  TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    -- Loading a stream (sqlite-es: WHERE aggregate_type AND aggregate_id [AND sequence >] ORDER BY
    -- sequence) uses this index; a duplicate key is the optimistic-concurrency conflict.
    UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

-- As sqlite-es expects it; unused for now (the stock snapshot store applies events twice).
CREATE TABLE snapshots
(
    aggregate_type   TEXT    NOT NULL,
    aggregate_id     TEXT    NOT NULL,
    last_sequence    INTEGER NOT NULL CHECK (last_sequence >= 0),
    current_snapshot INTEGER NOT NULL CHECK (current_snapshot >= 0),
    payload          TEXT    NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
) STRICT;

-- API credentials: only a SHA-256 hash of each bearer token is stored.
CREATE TABLE credentials
(
    token_hash BLOB NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    role       TEXT NOT NULL CHECK (role IN ('admin', 'association', 'venue', 'citizen')),
    subject_id TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT, WITHOUT ROWID;
CREATE INDEX credentials_subject_idx ON credentials (role, subject_id);

-- Personal data, kept out of the append-only log so that it can be erased.
CREATE TABLE citizen_details
(
    citizen_id    TEXT NOT NULL PRIMARY KEY,
    neighbourhood TEXT,
    birth_year    INTEGER
) STRICT, WITHOUT ROWID;
