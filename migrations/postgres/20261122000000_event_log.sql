-- The event log of Ygor on PostgreSQL, and the few tables that must be written in the same
-- transaction as its events (credentials, citizen details).
--
-- `events` keeps the columns and the primary key that postgres-es reads and writes
-- (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata), so that
-- `PostgresEventRepository` loads streams from it unchanged, and adds:
--   * `position`: the global order of the log. An identity with CACHE 1, because the gap-safe reader
--     (`EventLog::safe_position`) reads the sequence's `last_value` as "the highest position drawn
--     so far"; a cache would let a session hold unused values below it and hand them out later.
--   * `recorded_at`: when the event was appended. Deliberately without a default: every write must go
--     through `EventLog::append`, which assigns the transaction id before drawing a position. A write
--     through the stock repository's `persist` would break gap safety, so it fails here instead.
--   * `transaction_id`: the writing transaction, kept for audits.
-- payload and metadata are jsonb: sqlx binds `serde_json::Value` as jsonb, and reads json or jsonb.
CREATE TABLE events
(
    position       bigint GENERATED ALWAYS AS IDENTITY (START WITH 1 INCREMENT BY 1 CACHE 1 NO CYCLE),
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence >= 1),
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    -- Loading a stream (postgres-es: WHERE aggregate_type AND aggregate_id [AND sequence >] ORDER BY
    -- sequence) uses this index; a duplicate key is the optimistic-concurrency conflict.
    CONSTRAINT events_pkey PRIMARY KEY (aggregate_type, aggregate_id, sequence),
    -- Projection runners read by position.
    CONSTRAINT events_position_key UNIQUE (position)
);

-- As postgres-es expects it; unused for now (the stock snapshot store applies events twice).
CREATE TABLE snapshots
(
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- API credentials: only a SHA-256 hash of each bearer token is stored.
CREATE TABLE credentials
(
    token_hash bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    role       text        NOT NULL CHECK (role IN ('admin', 'association', 'venue', 'citizen')),
    subject_id text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_pkey PRIMARY KEY (token_hash)
);
CREATE INDEX credentials_subject_idx ON credentials (role, subject_id);

-- Personal data, kept out of the append-only log so that it can be erased.
CREATE TABLE citizen_details
(
    citizen_id    text NOT NULL,
    neighbourhood text,
    birth_year    integer,
    CONSTRAINT citizen_details_pkey PRIMARY KEY (citizen_id)
);
